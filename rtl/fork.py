"""Broadcast of one stream to several consumers: the fork of a skip connection.

A tensor read by more than one layer is produced once and copied to every reader by a
:class:`Fork`.
"""

from amaranth.hdl import Const, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from .timing_model import Block


class Fork(wiring.Component):
    """Copies every beat of ``i`` to each of the ``outputs`` streams ``o[0]`` .. ``o[n-1]``.

    Eager: each output takes the current beat as soon as its consumer is ready, independently of
    the others; ``i`` is acknowledged (``i.ready``) in the cycle in which the last output that
    had not yet taken the beat takes it. A slow consumer therefore delays the others only by the
    beats it has not taken yet, never by a cycle of lock-step.

    Timing: no latency (``o[k].valid`` and ``o[k].payload`` follow ``i`` combinationally; only
    one "taken" bit per output is registered) and one beat per cycle when every consumer is ready.
    ``i.ready`` depends combinationally on the ``o[k].ready``; ``o[k].valid`` never depends on
    any ready.
    """

    def __init__(self, payload_shape, outputs):
        if not isinstance(outputs, int) or outputs < 2:
            raise ValueError(f"a fork needs at least 2 outputs, not {outputs!r}")
        self.outputs = outputs
        sig = stream.Signature(payload_shape)
        super().__init__({"i": In(sig), "o": Out(sig).array(outputs)})

    def elaborate(self, platform):
        m = Module()
        taken = Signal(self.outputs)  # bit k: o[k] already took the beat now on i
        done_now = [taken[k] | self.o[k].ready for k in range(self.outputs)]
        ready = Const(1)
        for d in done_now:
            ready = ready & d
        m.d.comb += self.i.ready.eq(ready)
        for k, o in enumerate(self.o):
            m.d.comb += [o.valid.eq(self.i.valid & ~taken[k]), o.payload.eq(self.i.payload)]
            with m.If(self.i.valid & self.i.ready):
                m.d.sync += taken[k].eq(0)
            with m.Elif(o.valid & o.ready):
                m.d.sync += taken[k].eq(1)
        return m


class ForkModel(Block):
    """The timing of a :class:`Fork`: eager broadcast, one "taken" bit per output."""

    def __init__(self, i, outs):
        self.i, self.outs = i, outs
        self.taken = [False] * len(outs)

    def forward(self):
        for o, t in zip(self.outs, self.taken):
            o.valid = self.i.valid and not t

    def backward(self):
        self.i.ready = all(t or o.ready for o, t in zip(self.outs, self.taken))

    def update(self):
        if self.i.fire:
            self.taken = [False] * len(self.outs)
        else:
            self.taken = [t or o.fire for o, t in zip(self.outs, self.taken)]
