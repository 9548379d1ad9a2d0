"""The cycle model of stream hardware: blocks joined by valid/ready streams, counters as state.

Every engine owns its part of the model (``timing_model(model, inputs, outputs)`` adds its
blocks between its input and output streams); the fork's and the FIFO's blocks
(:class:`rtl.fork.ForkModel`, :class:`rtl.skip_fifo.FifoModel`) sit beside their RTL, and the
plan adds them for its fork and FIFO nodes. The model then runs cycle by cycle: valids are computed front to back, readies back to
front, a beat moves on every stream with both high, then each block updates its counters.
Cycles in which nothing moves are skipped in one go up to the next internal event. Its edges
equal the RTL simulation's (``sim_tests/``: per engine with a slow producer, per network).

:func:`edges` runs one component alone; :mod:`rtl.plan` runs a whole network.
"""

__all__ = ["Stream", "Block", "Register", "Source", "Sink", "Model", "Deadlock", "edges"]

# Only internal countdowns can run this long without a beat moving.
IDLE_LIMIT = 1 << 30


class Deadlock(Exception):
    """The model made no progress: some FIFO is too small for the main branch's fill."""


class Stream:
    """One valid/ready stream of the model: this cycle's flags and the beats moved so far."""

    __slots__ = ("count", "name", "ready", "valid")

    def __init__(self, name):
        self.name = name
        self.valid = self.ready = False
        self.count = 0

    @property
    def fire(self):
        return self.valid and self.ready


class Block:
    """A block of the model. Per cycle: ``forward`` sets its output valids (from its state and
    input valids), ``backward`` its input readies, ``update`` its state after the transfers.
    ``countdown``: cycles until its state changes with no beat moving (``None``: never);
    ``advance(n)``: let ``n`` such cycles pass."""

    def forward(self):
        pass

    def backward(self):
        pass

    def update(self):
        pass

    def countdown(self):
        return None

    def advance(self, n):
        pass


class Register(Block):
    """One output register taking a beat whenever it is empty or being emptied: the add's
    join (two inputs) and the max pool's comparator stage (one input)."""

    def __init__(self, ins, o):
        self.ins, self.o = ins, o
        self.full = False

    def forward(self):
        self.o.valid = self.full

    def backward(self):
        space = not self.full or self.o.ready
        for k, i in enumerate(self.ins):  # a join: each input waits for the others
            i.ready = space and all(j.valid for n, j in enumerate(self.ins) if n != k)

    def update(self):
        if self.ins[0].fire:
            self.full = True
        elif self.o.fire:
            self.full = False


class _Testbench(Block):
    """One side of a stream driven as the testbenches of :func:`rtl.sim.run_streams` drive
    it: beat ``n`` is moved at the earliest ``gaps[n]`` cycles after the previous one (``gaps``
    None: at once). ``stamps``: the edge of every beat moved."""

    def __init__(self, stream, gaps):
        self.stream, self.gaps = stream, gaps
        self.wait = gaps[0] if gaps else 0
        self.stamps = []
        self.now = 0

    def update(self):
        if self.stream.fire:
            self.stamps.append(self.now)
            n = self.stream.count + 1
            self.wait = self.gaps[n] if self.gaps and n < len(self.gaps) else 0
        elif self.wait:
            self.wait -= 1

    def countdown(self):
        return self.wait or None

    def advance(self, n):
        # n never exceeds a countdown, so a waiting side reaches 0 at the latest.
        self.wait = max(0, self.wait - n)


class Source(_Testbench):
    """A producer of ``beats`` beats: beat ``n`` is offered ``gaps[n]`` cycles after the
    previous one was taken."""

    def __init__(self, o, beats, gaps=None):
        super().__init__(o, gaps if beats else None)
        self.o, self.beats = o, beats

    def forward(self):
        self.o.valid = self.o.count < self.beats and self.wait == 0


class Sink(_Testbench):
    """A consumer: ready for beat ``n`` ``gaps[n]`` cycles after the previous one was taken
    (``gaps`` None: always ready)."""

    def __init__(self, i, gaps=None):
        super().__init__(i, gaps)
        self.i = i

    def backward(self):
        self.i.ready = self.wait == 0


class Model:
    """Blocks and streams, run until a sink has taken a number of beats."""

    def __init__(self):
        self.blocks = []
        self.streams = []
        self.now = 0  # the next edge; a later run() goes on from here

    def stream(self, name):
        s = Stream(name)
        self.streams.append(s)
        return s

    def add(self, *blocks):
        self.blocks.extend(blocks)

    def run(self, until, beats, idle_limit=IDLE_LIMIT):
        """Run until ``until`` (a :class:`Source` or :class:`Sink`) has moved ``beats`` beats.
        Raises :class:`Deadlock` after ``idle_limit`` cycles without a beat moving."""
        now = self.now

        def overriding(method):  # blocks that do something in this phase
            base = getattr(Block, method)
            return [b for b in self.blocks if getattr(type(b), method) is not base]
        forward = [b.forward for b in overriding("forward")]
        backward = [b.backward for b in reversed(overriding("backward"))]
        update = [b.update for b in overriding("update")]
        timed = overriding("countdown")
        clocked = [b for b in self.blocks if hasattr(b, "now")]
        idle = 0
        while len(until.stamps) < beats:
            for f in forward:
                f()
            for b in backward:
                b()
            fired = [s for s in self.streams if s.valid and s.ready]
            if not fired:
                waits = [c for c in (b.countdown() for b in timed) if c is not None]
                if not waits:
                    raise Deadlock(self.blocked())
                n = min(waits)
                idle += n
                if idle > idle_limit:
                    raise Deadlock(self.blocked())
                for b in timed:
                    b.advance(n)
                now += n
                continue
            idle = 0
            for b in clocked:
                b.now = now
            for u in update:
                u()
            for s in fired:
                s.count += 1
            now += 1
        self.now = now

    def blocked(self):
        return ", ".join(s.name for s in self.streams if s.valid and not s.ready) or "none"


def edges(component, in_beats, out_beats, tensors=1, gaps=None, out_gaps=None):
    """Edges ``(accepted, produced)`` of every input beat's acceptance and every output beat's
    transfer when ``component`` (one input, one output: ``in_beats`` / ``out_beats`` beats per
    tensor) processes ``tensors`` tensors back to back from a producer idle ``gaps[t][n]``
    cycles before beat ``n`` of tensor ``t``, into a consumer idle ``out_gaps[t][n]`` cycles
    before taking beat ``n`` (None: always ready)."""
    model = Model()
    i, o = model.stream("i"), model.stream("o")

    def flat(gaps):
        return None if gaps is None else [g for tensor in gaps for g in tensor]
    source, sink = Source(i, in_beats * tensors, flat(gaps)), Sink(o, flat(out_gaps))
    model.add(source)
    component.timing_model(model, [i], [o])
    model.add(sink)
    model.run(sink, out_beats * tensors)
    # Beats no window reads (the end of an image a stride skips) are taken after the last output.
    model.run(source, in_beats * tensors)
    return source.stamps, sink.stamps
