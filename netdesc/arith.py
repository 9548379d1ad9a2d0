"""The integer arithmetic of docs/NETDESC.md: tensor types, round-half-up shifts, saturation.

Every function works on numpy integer arrays (int64 or, for values beyond 62 bits, object
arrays of Python ints) and on plain Python ints alike.
"""

from dataclasses import dataclass

import numpy as np

MAX_SHIFT = 62


@dataclass(frozen=True)
class TensorType:
    """The value range of a tensor: ``bits`` wide, two's complement when ``signed``."""

    bits: int
    signed: bool

    @property
    def min(self):
        return -(1 << (self.bits - 1)) if self.signed else 0

    @property
    def max(self):
        return (1 << (self.bits - 1)) - 1 if self.signed else (1 << self.bits) - 1

    def __str__(self):
        return f"{'s' if self.signed else 'u'}{self.bits}"


def rounding_constant(s):
    """What a round-half-up shift by ``s`` adds before shifting: ``2^(s-1)``, 0 for ``s`` = 0."""
    return (1 << s) >> 1


def round_shift(v, s):
    """Arithmetic right shift by ``s`` rounding half up: ``floor((v + 2^(s-1)) / 2^s)``."""
    return (v + rounding_constant(s)) >> s


def saturate(v, ttype, relu=False):
    """Clamp ``v`` to ``ttype``'s range; with ``relu`` the lower bound is first raised to 0."""
    lo = max(ttype.min, 0) if relu else ttype.min
    if isinstance(v, np.ndarray):
        return np.clip(v, lo, ttype.max)
    return min(max(v, lo), ttype.max)


def requantize(acc, shift, ttype, relu=False):
    """The output stage every arithmetic op shares: round-half-up shift, then saturate."""
    return saturate(round_shift(acc, shift), ttype, relu)


def signed_bits_for(lo, hi):
    """Smallest two's-complement width holding every integer in ``[lo, hi]``."""
    bits = 1
    while not (-(1 << (bits - 1)) <= lo and hi <= (1 << (bits - 1)) - 1):
        bits += 1
    return bits
