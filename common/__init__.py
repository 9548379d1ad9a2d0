"""What every package of tailor shares: errors, checked file input and output, argparse types,
text tables and plots. The bottom layer: it imports no other package of the project."""
