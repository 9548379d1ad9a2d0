"""Co-search (DANCE): design spaces, cost data from real synthesis, the learned cost evaluator and
the gradient search over skips, widths, bit widths and parallelism."""
