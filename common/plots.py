"""Plots in report folders: one pyplot set-up and one PNG writer for every report."""

from .io import atomic_path


def pyplot():
    """matplotlib's pyplot on the file-only backend (no display on build machines)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    return plt


def save_png(fig, path, dpi=110):
    """Write ``fig`` to ``path`` whole (or not at all) and close it."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)
    pyplot().close(fig)
