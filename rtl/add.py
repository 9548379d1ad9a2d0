"""The join of a skip connection: elementwise ``add`` of two pixel streams (NETDESC.md)."""

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from .requantize import Requantizer, rounded_accumulator
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
    when both are valid and the first register is empty or being emptied; the sum, plus the
    requantizer's rounding constant, is computed at the full width of ``acc_range`` (shifted by
    that constant) and requantized combinationally (:class:`~rtl.requantize.Requantizer`,
    ``rounded``) into the output register. ``registered`` (for a fast clock) puts a register of
    the sums before the requantizer, so that neither the skip FIFO's head nor an adder lies on
    the requantizer's path. Latency 1 (2 if ``registered``: a pair
    accepted at edge ``t`` can leave at edge ``t + 1``, ``t + 2``), one pixel per cycle; it
    absorbs nothing ahead (each register takes a beat when the next is empty or being emptied).
    ``o.valid`` never depends on ``o.ready``. Timing model: one
    :class:`~rtl.timing_model.Register` per register.
    """

    cycles_per_output = 1

    def __init__(self, *, channels, in_types, shifts_in, acc_range, shift, relu, out_type,
                 registered=False):
        self.channels = channels
        self.registered = registered
        self.types = tuple(in_types)
        self.shifts_in = tuple(shifts_in)
        self.shift, self.relu, self.out_type = shift, relu, out_type
        self.rounding, self.acc_width = rounded_accumulator(acc_range, shift)
        super().__init__({
            "a": In(pixel_signature(self.types[0], channels)),
            "b": In(pixel_signature(self.types[1], channels)),
            "o": Out(pixel_signature(out_type, channels)),
        })

    def timing_model(self, model, inputs, outputs):
        if self.registered:
            sums = model.stream(f"{outputs[0].name}.sums")
            model.add(Register(inputs, sums), Register([sums], outputs[0]))
        else:
            model.add(Register(inputs, outputs[0]))

    def elaborate(self, platform):
        m = Module()
        m.submodules.requantize = rq = Requantizer(self.acc_width, self.shift, self.out_type,
                                                   relu=self.relu, lanes=self.channels,
                                                   rounded=True)
        la, lb = self.shifts_in
        sums = Signal(data.ArrayLayout(signed(self.acc_width), self.channels))
        for n in range(self.channels):
            m.d.comb += sums[n].eq((_widen(self.a.payload[n], self.types[0]) << la) +
                                   (_widen(self.b.payload[n], self.types[1]) << lb) +
                                   self.rounding)

        out = Signal(pixel_layout(self.out_type, self.channels))
        valid = Signal()
        space = ~valid | self.o.ready
        both = self.a.valid & self.b.valid
        if self.registered:
            held, held_valid = Signal.like(sums), Signal()
            sums_space = ~held_valid | space
            with m.If(both & sums_space):
                m.d.sync += [held.eq(sums), held_valid.eq(1)]
            with m.Elif(space):
                m.d.sync += held_valid.eq(0)
            m.d.comb += rq.i.eq(held)
            to_requantize = held_valid
        else:
            sums_space = space
            m.d.comb += rq.i.eq(sums)
            to_requantize = both
        with m.If(to_requantize & space):
            m.d.sync += [out.eq(rq.o), valid.eq(1)]
        with m.Elif(self.o.ready):
            m.d.sync += valid.eq(0)
        m.d.comb += [
            self.a.ready.eq(self.b.valid & sums_space),
            self.b.ready.eq(self.a.valid & sums_space),
            self.o.valid.eq(valid),
            self.o.payload.eq(out),
        ]
        return m


def _widen(element, ttype):
    """An element as a value of its own signedness (so unsigned inputs stay non-negative)."""
    return element.as_signed() if ttype.signed else element.as_unsigned()
