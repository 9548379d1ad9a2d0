"""The output stage every arithmetic engine shares: round-half-up shift, saturate, optional ReLU.

Bit-exact with :func:`netdesc.requantize` (NETDESC.md "Integer arithmetic").
"""

from amaranth.hdl import Const, Module, Mux, Value, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from netdesc.arith import MAX_SHIFT, rounding_constant, signed_bits_for

__all__ = ["Requantizer", "rounded_accumulator"]


def rounded_accumulator(acc_range, shift):
    """``(rounding, width)`` of the sums a ``rounded`` :class:`Requantizer` takes for
    accumulators in ``acc_range`` and ``shift``: the rounding constant they carry, and the
    signed width of the range shifted by it."""
    rounding = rounding_constant(shift)
    return rounding, signed_bits_for(acc_range[0] + rounding, acc_range[1] + rounding)


class Requantizer(wiring.Component):
    """``lanes`` parallel requantizers: ``o[n] = sat(round_shift(i[n], shift), ttype, relu)``.

    Purely combinational (latency 0, one result per lane per cycle). ``i`` carries signed
    accumulators ``acc_width`` bits wide; ``o`` the output type's elements. ``rounded``: ``i``
    already holds the accumulator plus the rounding constant ``2**(shift - 1)`` (a MAC
    pipeline starts its sums from the bias plus it), so only the shift and the saturation
    remain, and no adder lies between the accumulator register and the output register.

    Ports: ``i: In(ArrayLayout(signed(acc_width), lanes))``, ``o: Out(ArrayLayout(ttype, lanes))``.
    """

    def __init__(self, acc_width, shift, ttype, relu=False, lanes=1, rounded=False):
        if acc_width < 1:
            raise ValueError(f"acc_width must be at least 1, not {acc_width}")
        if not 0 <= shift <= MAX_SHIFT:
            raise ValueError(f"shift must be in 0..{MAX_SHIFT}, not {shift}")
        if lanes < 1:
            raise ValueError(f"lanes must be at least 1, not {lanes}")
        self.acc_width = acc_width
        self.shift = shift
        self.ttype = ttype
        self.relu = relu
        self.lanes = lanes
        self.rounded = rounded
        out_shape = signed(ttype.bits) if ttype.signed else unsigned(ttype.bits)
        super().__init__({
            "i": In(data.ArrayLayout(signed(acc_width), lanes)),
            "o": Out(data.ArrayLayout(out_shape, lanes)),
        })

    def elaborate(self, platform):
        m = Module()
        lo = max(self.ttype.min, 0) if self.relu else self.ttype.min
        hi = self.ttype.max
        for n in range(self.lanes):
            acc = self.i[n]
            if self.shift == 0:
                shifted = acc
            elif self.rounded:
                shifted = acc >> self.shift
            else:
                # One extra bit so adding the rounding constant cannot wrap.
                shifted = (acc.as_signed() + rounding_constant(self.shift)) >> self.shift
            below, above = self._out_of_range(Value.cast(shifted).as_signed())
            m.d.comb += self.o[n].eq(Mux(below, lo, Mux(above, hi, shifted)))
        return m

    def _out_of_range(self, v):
        """Whether the signed ``v`` lies below or above the output range, as tests of its high
        bits (no comparator's carry chain: docs/DECISIONS.md): the range is [-2**(b-1) or 0,
        2**k - 1] for b bits, k = b - 1 when signed. On the accumulator beside the adder they
        would be full comparators, hence after the shift."""
        bits = self.ttype.bits
        width, sign = len(v), v[-1]
        k = bits - self.ttype.signed
        above = ~sign & v[k:width - 1].any() if k < width - 1 else Const(0)
        if self.relu or not self.ttype.signed:
            return sign, above
        # Negative and not merely the sign extended over bits b-1 and up.
        below = sign & ~v[bits - 1:].all() if bits - 1 < width else Const(0)
        return below, above
