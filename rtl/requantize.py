"""The output stage every arithmetic engine shares: round-half-up shift, saturate, optional ReLU.

Bit-exact with :func:`netdesc.requantize` (NETDESC.md "Integer arithmetic").
"""

from amaranth.hdl import Module, Mux, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from netdesc.arith import MAX_SHIFT, rounding_constant

__all__ = ["Requantizer"]


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
            # Bounds compared after the shift, where lo and hi are tests of the high bits: on
            # the accumulator beside the adder they would be full comparators (docs/DECISIONS.md).
            m.d.comb += self.o[n].eq(Mux(shifted < lo, lo, Mux(shifted > hi, hi, shifted)))
        return m
