"""argparse types for every number and path the ``tailor`` commands take, so a bad value is
refused when the command line is parsed: before any work, in one line (``tailor CMD: error:
argument --lr: ...``), with the accepted range."""

import argparse
import math

from .errors import TailorError
from .io import check_output_dir, check_output_file

MAX_SEED = (1 << 32) - 1  # numpy's and torch's seeding both take it


def integer(lo, hi=None):
    """An integer in ``lo..hi`` (``hi`` None: no upper bound)."""
    rng = f"in {lo}..{hi}" if hi is not None else f">= {lo}"

    def parse(text):
        try:
            v = int(text)
        except ValueError:
            v = None
        if v is None or v < lo or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"must be an integer {rng} (got {text!r})")
        return v
    parse.__name__ = "integer"
    return parse


def number(lo=None, hi=None, above=None):
    """A finite number in ``lo..hi``, or greater than ``above``."""
    rng = f"> {above:g}" if above is not None else \
        f"in {lo:g}..{hi:g}" if hi is not None else f">= {lo:g}" if lo is not None else ""

    def parse(text):
        try:
            v = float(text)
        except ValueError:
            v = math.nan
        if not math.isfinite(v) or (above is not None and v <= above) \
                or (lo is not None and v < lo) or (hi is not None and v > hi):
            raise argparse.ArgumentTypeError(f"must be a finite number {rng} (got {text!r})")
        return v
    parse.__name__ = "number"
    return parse


positive = integer(1)
non_negative = integer(0)
seed = integer(0, MAX_SEED)
positive_number = number(above=0)


def image_shape(text):
    """``C,H,W``: an image's channels, height and width, each 1..4096."""
    parts = text.split(",")
    if len(parts) != 3 or not all(p.strip().isdigit() and 1 <= int(p) <= 4096 for p in parts):
        raise argparse.ArgumentTypeError(f"must be C,H,W, three integers in 1..4096 (got {text!r})")
    return tuple(int(p) for p in parts)


image_shape.__name__ = "image shape"


def _path_type(check):
    def parse(text):
        try:
            check(text)
        except TailorError as e:
            raise argparse.ArgumentTypeError(str(e)) from None
        return text
    return parse


output_file = _path_type(check_output_file)
output_file.__name__ = "output file"
output_dir = _path_type(check_output_dir)
output_dir.__name__ = "output folder"
