"""The join of a skip connection: elementwise ``add`` of two pixel streams (NETDESC.md)."""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from netdesc.arith import signed_bits_for

from .requantize import Requantizer
from .streams import pixel_layout, pixel_signature
from .timing_model import Register


class AddEngine(wiring.Component):
    """An add layer (docs/NETDESC.md#add):
    ``o = sat(round_shift((a << la) + (b << lb), shift))`` per element (+ relu), on two
    streams of ``channels`` elements of ``in_types`` per beat (a pixel's channels, or the same
    group of them on both: :mod:`rtl.streams`), with ``shifts_in`` ``(la, lb)``, the
    accumulator range ``acc_range`` and the output stage ``shift``, ``relu``, ``out_type``.

    Ports: ``a``, ``b`` (In) carry the beats of the two inputs, ``o`` (Out) the result, all
    :func:`~rtl.streams.pixel_signature` streams in raster order.

    Contract: a join. A pair of beats is taken (``a.ready`` and ``b.ready`` high together) only
    when both are valid and the output register is empty or being emptied; the sum is computed
    at the full width of ``acc_range`` and requantized combinationally
    (:class:`~rtl.requantize.Requantizer`), then registered. Latency 1 (a pair accepted at edge
    ``t`` can leave at edge ``t + 1``), one pixel per cycle; it absorbs nothing ahead (one
    output register). ``o.valid`` never depends on ``o.ready``. Timing model:
    :class:`~rtl.timing_model.Register`.
    """

    cycles_per_output = 1

    def __init__(self, *, channels, in_types, shifts_in, acc_range, shift, relu, out_type):
        self.channels = channels
        self.types = tuple(in_types)
        self.shifts_in = tuple(shifts_in)
        self.shift, self.relu, self.out_type = shift, relu, out_type
        self.acc_width = signed_bits_for(*acc_range)
        super().__init__({
            "a": In(pixel_signature(self.types[0], channels)),
            "b": In(pixel_signature(self.types[1], channels)),
            "o": Out(pixel_signature(out_type, channels)),
        })

    def timing_model(self, model, inputs, outputs):
        model.add(Register(inputs, outputs[0]))

    def elaborate(self, platform):
        m = Module()
        m.submodules.requantize = rq = Requantizer(self.acc_width, self.shift, self.out_type,
                                                   relu=self.relu, lanes=self.channels)
        la, lb = self.shifts_in
        for n in range(self.channels):
            total = (_widen(self.a.payload[n], self.types[0]) << la) + \
                (_widen(self.b.payload[n], self.types[1]) << lb)
            m.d.comb += rq.i[n].eq(total)

        out = Signal(pixel_layout(self.out_type, self.channels))
        valid = Signal()
        space = ~valid | self.o.ready
        take = self.a.valid & self.b.valid & space
        m.d.comb += [
            self.a.ready.eq(self.b.valid & space),
            self.b.ready.eq(self.a.valid & space),
            self.o.valid.eq(valid),
            self.o.payload.eq(out),
        ]
        with m.If(take):
            m.d.sync += [out.eq(rq.o), valid.eq(1)]
        with m.Elif(self.o.ready):
            m.d.sync += valid.eq(0)
        return m


def _widen(element, ttype):
    """An element as a value of its own signedness (so unsigned inputs stay non-negative)."""
    return element.as_signed() if ttype.signed else element.as_unsigned()
