"""The join of a skip connection: elementwise ``add`` of two pixel streams (NETDESC.md)."""

from amaranth.hdl import Module, Signal
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

import netdesc
from netdesc.arith import signed_bits_for

from .requantize import Requantizer
from .streams import pixel_layout, pixel_signature


class AddEngine(wiring.Component):
    """``o = sat(round_shift((a << la) + (b << lb), shift))`` per element (+ relu), for the
    ``add`` layer ``layer`` of ``net``.

    Ports: ``a``, ``b`` (In) carry the pixels of ``layer.inputs[0]`` and ``[1]``, ``o`` (Out) the
    result, all :func:`~rtl.streams.pixel_signature` streams in raster order.

    Contract: a join. A pair of beats is taken (``a.ready`` and ``b.ready`` high together) only
    when both are valid and the output register is empty or being emptied; the sum is computed
    at the full width of ``netdesc.accumulator_range`` and requantized combinationally
    (:class:`~rtl.requantize.Requantizer`), then registered. Latency 1 (a pair accepted at edge
    ``t`` can leave at edge ``t + 1``), one pixel per cycle; it absorbs nothing ahead (one
    output register). ``o.valid`` never depends on ``o.ready``.

    Timing attributes, in the engines' common terms (:mod:`rtl.fifo_depth`):
    ``cycles_per_output = 1``, ``input_beats_needed(j) = j + 1`` on each input, ``latency = 1``,
    ``max_input_rate = 1``.
    """

    cycles_per_output = 1
    latency = 1
    max_input_rate = 1

    def __init__(self, net, layer):
        if layer.op != "add":
            raise ValueError(f"layer '{layer.name}' is a {layer.op}, not an add")
        self.layer = layer
        self.channels = layer.shape[0]
        self.types = tuple(net.type_of(n) for n in layer.inputs)
        lo, hi = netdesc.accumulator_range(net, layer)
        self.acc_width = signed_bits_for(lo, hi)
        super().__init__({
            "a": In(pixel_signature(self.types[0], self.channels)),
            "b": In(pixel_signature(self.types[1], self.channels)),
            "o": Out(pixel_signature(layer.type, self.channels)),
        })

    @staticmethod
    def input_beats_needed(j):
        return j + 1

    def elaborate(self, platform):
        m = Module()
        layer = self.layer
        m.submodules.requantize = rq = Requantizer(self.acc_width, layer.shift, layer.type,
                                                   relu=layer.relu, lanes=self.channels)
        la, lb = layer.shifts_in
        for n in range(self.channels):
            total = (_widen(self.a.payload[n], self.types[0]) << la) + \
                (_widen(self.b.payload[n], self.types[1]) << lb)
            m.d.comb += rq.i[n].eq(total)

        out = Signal(pixel_layout(layer.type, self.channels))
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
