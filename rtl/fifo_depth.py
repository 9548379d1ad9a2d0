"""FIFO depths: the smallest buffers that keep the network at full throughput.

Two kinds of FIFO sit between the engines of :class:`rtl.network.NetworkTop`:

* a **skip FIFO** on the bypass branch of every skip connection. The fork feeds the main
  branch (convolutions whose line buffers must fill rows before their first output) and the
  bypass; the bypass beats wait in the FIFO until the add pairs them with the main branch's
  result. Too small a FIFO stops the fork, which starves the main branch: the network slows
  down or, below the main branch's fill (about ``span * (k - 1) / 2`` rows), deadlocks.
* a **rate FIFO** between two engines whose patterns differ: a line buffer takes input only up
  to the window after the one it holds, so a stride-2 conv needs a whole odd row of input in a
  burst while its producer makes one pixel per MAC pass, and a producer must stall while the
  consumer computes. Without a buffer between them neither overlaps the other and the pair
  runs at the sum, not the maximum, of their times. Most edges need none (depth 0: no FIFO).

How depths are computed: a timing model of the whole network, cycle by cycle but with only
counters as state, built from the engines' timing attributes (``cycles_per_output`` / their MAC
``schedule``, ``input_beats_needed`` through the line buffer's :class:`WindowScan` walk, and the
pipeline latency; see :func:`engine_model`) and from the exact handshake behaviour of the fork,
FIFO and add. It streams ``INFERENCES`` tensors back to back (like :func:`rtl.sim.simulate`),
and its cycle counts equal the RTL simulation's (``sim_tests/test_fifo_depth.py``):

1. with every FIFO unbounded: the steady-state cycles per inference ``P`` (between the last two
   outputs) is the full throughput, and each FIFO's maximum occupancy ``M`` is recorded;
2. every FIFO starts at ``M + 1`` (it never refuses a beat, so the schedule is that of step 1);
3. one FIFO after the other (skip FIFOs first), a search (galloping down from ``M + 1``, then
   bisecting) finds the smallest depth that keeps the steady state at ``P`` with the others at
   their current depths (rate FIFOs may reach 0, skip FIFOs 1).

Throughput is monotone in every depth, so each result is the minimum given the others, and
``depth - 1`` runs slower or deadlocks. For comparison each report also gives the
whole-feature-map depth (``H * W`` beats), what flows that buffer an entire tensor per skip
(hls4ml-style) would use.
"""

from dataclasses import dataclass

from netdesc import skips

from .streams import beat_shape


INFERENCES = 3  # tensors streamed by the model: the steady state is the last interval
UNBOUNDED = 1 << 40


@dataclass(frozen=True)
class FifoDepth:
    """One FIFO of the network top: a skip FIFO or a rate FIFO (see the module docstring).

    It sits on the edge into input ``reader_input`` of layer ``reader`` and carries the tensor
    ``tensor``. A skip FIFO (``kind == "skip"``, ``add`` its skip's add layer) sits on the
    bypass branch right after the fork: the add itself for an identity skip, else the first
    bypass layer (e.g. the 1x1 projection), so that nothing on the bypass branch can stop the
    fork. A rate FIFO (``kind == "rate"``, ``add`` None) sits between two engines whose
    patterns of input demand and output supply differ.

    ``name``: the submodule name (``fifo_<add>`` / ``rate_<reader>_<port>``); ``key``: its key
    in the hardware config (the add's name in ``fifo_depths``, ``<reader>.<port>`` in
    ``rate_fifo_depths``); ``depth``: beats it holds (the hardware config's, else
    ``analysed_depth``); ``analysed_depth``: the minimum for full throughput (``None`` when the
    config fixed the depth); ``beat_bits``: bits of one beat; ``bits = depth * beat_bits``;
    ``feature_map_depth``: ``H * W`` beats of ``tensor`` and ``feature_map_bits`` their bits
    (what buffering a whole tensor would cost); ``max_occupancy``: beats held at most when
    unbounded (a FIFO one deeper never refuses a beat).
    """

    kind: str
    name: str
    key: str
    add: str
    tensor: str
    reader: str
    reader_input: int
    depth: int
    analysed_depth: int
    beat_bits: int
    feature_map_depth: int
    max_occupancy: int

    @property
    def bits(self):
        return self.depth * self.beat_bits

    @property
    def feature_map_bits(self):
        return self.feature_map_depth * self.beat_bits


def port_name(net, reader, k):
    """The engine port of input ``k`` of layer ``reader``: ``a`` / ``b`` for an add, else ``i``."""
    return "ab"[k] if net.layer(reader).op == "add" else "i"


def fifo_edges(net, found):
    """``{add: (reader, input index)}``: where each skip's FIFO goes (see :class:`FifoDepth`)."""
    edges = {}
    for s in found:
        if not s.bypass:
            edges[s.add] = (s.add, s.bypass_input)
            continue
        first = next(net.layer(n) for n in s.bypass if s.fork in net.layer(n).inputs)
        edges[s.add] = (first.name, first.inputs.index(s.fork))
    return edges


class Deadlock(Exception):
    """The timing model made no progress: some FIFO is too small for the main branch's fill."""


# ---------------------------------------------------------------------------------------------
# The timing model. Every cycle: valids are computed front to back, readies back to front, a
# beat moves on every stream with both high, then each block updates its counters. Cycles in
# which nothing moves are skipped in one go up to the next internal event.

class _Stream:
    """One valid/ready stream of the model: this cycle's flags and the beats moved so far."""

    __slots__ = ("valid", "ready", "count", "name")

    def __init__(self, name):
        self.name = name
        self.valid = self.ready = False
        self.count = 0

    @property
    def fire(self):
        return self.valid and self.ready


class _Block:
    """A block of the timing model. Per cycle: ``forward`` sets its output valids (from its
    state and input valids), ``backward`` its input readies, ``update`` its state after the
    transfers. ``countdown``: cycles until its state changes with no beat moving (``None``:
    never); ``advance(n)``: let ``n`` such cycles pass."""

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


class _Source(_Block):
    """The testbench feeding the network input: a beat offered every cycle until ``beats``."""

    def __init__(self, o, beats):
        self.o, self.beats = o, beats

    def forward(self):
        self.o.valid = self.o.count < self.beats


class _Sink(_Block):
    """The testbench reading the output: always ready; records the edge of every beat."""

    def __init__(self, i):
        self.i = i
        self.stamps = []
        self.now = 0

    def backward(self):
        self.i.ready = True

    def update(self):
        if self.i.fire:
            self.stamps.append(self.now)


class _ForkModel(_Block):
    """:class:`rtl.fork.Fork`: eager broadcast, one "taken" bit per output."""

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


class _FifoModel(_Block):
    """:class:`rtl.skip_fifo.SkipFifo`: ready below ``depth`` beats, latency 1."""

    def __init__(self, i, o, depth):
        self.i, self.o, self.depth = i, o, depth
        self.level = 0
        self.max_level = 0

    def forward(self):
        self.o.valid = self.level > 0

    def backward(self):
        self.i.ready = self.level < self.depth

    def update(self):
        self.level += int(self.i.fire) - int(self.o.fire)
        self.max_level = max(self.max_level, self.level)


class _RegisterModel(_Block):
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


class _SumModel(_Block):
    """:class:`rtl.pool.GlobalAvgPoolEngine`: takes ``beats`` beats while its output register
    is empty or being emptied; the last one fills the register."""

    def __init__(self, i, o, beats):
        self.i, self.o, self.beats = i, o, beats
        self.count = 0
        self.full = False

    def forward(self):
        self.o.valid = self.full

    def backward(self):
        self.i.ready = not self.full or self.o.ready

    def update(self):
        if self.i.fire:
            self.count = (self.count + 1) % self.beats
            self.full = self.count == 0 or (self.full and not self.o.ready)
        elif self.o.fire:
            self.full = False


class _LineBufferModel(_Block):
    """:class:`rtl.line_buffer.LineBuffer`: one step per cycle over its step positions (a real
    position takes an input beat), holding a completed window until it is taken. ``scan`` is
    the engine's :class:`~rtl.line_buffer.WindowScan`."""

    def __init__(self, scan, i, o):
        self.i, self.o = i, o
        self.steps = [(scan.is_real(r, c), scan.is_output(r, c)) for r, c in scan.step_positions()]
        self.pos = 0
        self.full = False

    def _free(self):
        return not self.full or self.o.ready

    def forward(self):
        self.o.valid = self.full

    def backward(self):
        self.i.ready = self._free() and self.steps[self.pos][0]

    def update(self):
        real, output = self.steps[self.pos]
        if self._free() and (not real or self.i.valid):
            self.full = output
            self.pos = (self.pos + 1) % len(self.steps)
        elif self.o.ready:
            self.full = False

    def countdown(self):
        # A padding step changes state without any beat moving.
        return 1 if self._free() and not self.steps[self.pos][0] else None

    def advance(self, n):
        # Without beats moving only a padding step changes anything, and then n == 1.
        if self.countdown():
            self.update()


class _PipelineModel(_Block):
    """:class:`rtl.mac.MatVecPipeline`: operand vectors take ``cycles`` cycles each in the MAC
    array; the output beat of every ``beats``-th vector follows after ``PIPELINE_LATENCY``
    stages (issued, done, output register); everything pauses while the output waits."""

    def __init__(self, i, o, cycles, beats):
        self.i, self.o, self.cycles, self.beats = i, o, cycles, beats
        self.busy = False
        self.word = 0      # word (cycle) of the current vector being issued
        self.beat = 0      # vector index within the output beat
        self.issued_final = False
        self.done_final = False
        self.full = False  # output register

    def _run(self):
        return not self.full or self.o.ready

    def forward(self):
        self.o.valid = self.full

    def backward(self):
        self.i.ready = self._run() and (not self.busy or self.word == self.cycles - 1)

    def update(self):
        run = self._run()
        if not run:
            return
        self.full = self.done_final or (self.full and not self.o.ready)
        self.done_final = self.issued_final
        if self.busy:
            last = self.word == self.cycles - 1
            self.issued_final = last and self.beat == self.beats - 1
            if last:
                self.word = 0
                self.beat = (self.beat + 1) % self.beats
                self.busy = self.i.valid
            else:
                self.word += 1
        else:
            self.issued_final = False
            self.busy = self.i.valid

    def countdown(self):
        if not self._run():
            return None
        if self.issued_final or self.done_final or (self.full and self.o.ready):
            return 1
        if self.busy:  # the word counter runs on; the last word ends the vector
            return max(1, self.cycles - 1 - self.word)
        return None

    def advance(self, n):
        # Called with nothing moving and n <= countdown() (if any): the word counter runs on.
        if not self._run():
            return
        if n == 1 or not self.busy:
            self.update()
        else:
            self.word += n


def engine_model(layer, engine, inputs, o, stream):
    """The timing-model blocks of ``engine`` (computing ``layer``) between its input streams and
    ``o``: a list, front to back. ``stream(name)`` makes an internal stream."""
    if layer.op == "add":
        return [_RegisterModel(inputs, o)]
    i, = inputs
    if layer.op == "dense":
        return [_PipelineModel(i, o, engine.schedule.cycles, engine.beats)]
    if layer.op == "global_avg_pool":
        return [_SumModel(i, o, engine.beats)]
    windows = stream(f"{layer.name}.line_buffer.o")
    front = _LineBufferModel(engine.line_buffer, i, windows)
    if layer.op == "conv2d":
        return [front, _PipelineModel(windows, o, engine.schedule.cycles, 1)]
    return [front, _RegisterModel([windows], o)]  # maxpool2d


class _NetworkModel:
    """The timing model of :class:`rtl.network.NetworkTop` with FIFOs ``{key: (reader, input
    index)}`` of ``depths[key]`` beats, fed ``tensors`` back to back at full rate."""

    def __init__(self, net, engines, readers, edges, depths, tensors):
        self.blocks = []
        self.streams = []
        beats = beat_shape(net.input.shape)[0]
        src = self._stream("i")
        self.blocks.append(_Source(src, beats * tensors))
        produced = {net.input.name: src}
        # Input streams of each (layer, input index), filled when the producer is placed.
        ports = {}
        self.fifos = {}
        order = [net.input.name] + [name for name in engines]
        for name in order:
            if name != net.input.name:
                layer = net.layer(name)
                out = self._stream(f"{name}.o")
                ins = [ports[(name, k)] for k in range(len(layer.inputs))]
                for key, (reader, k) in edges.items():
                    if reader == name:
                        fifo_out = self._stream(f"fifo[{key}].o")
                        fifo = _FifoModel(ins[k], fifo_out, depths[key])
                        self.blocks.append(fifo)
                        self.fifos[key] = fifo
                        ins[k] = fifo_out
                self.blocks.extend(engine_model(layer, engines[name], ins, out, self._stream))
                produced[name] = out
            rs = readers[name]
            if len(rs) > 1:
                outs = [self._stream(f"fork_{name}.o[{k}]") for k in range(len(rs))]
                self.blocks.append(_ForkModel(produced[name], outs))
            else:
                outs = [produced[name]]
            for r, s in zip(rs, outs):
                ports[r] = s
        self.sink = _Sink(produced[net.output])
        self.blocks.append(self.sink)
        self.out_beats = beat_shape(net.output_layer.shape)[0]
        self.tensors = tensors

    def _stream(self, name):
        s = _Stream(name)
        self.streams.append(s)
        return s

    def run(self, idle_limit):
        """Simulate until every output beat is out; returns the edges of the last output beat
        of each tensor. Raises :class:`Deadlock` after ``idle_limit`` cycles without a beat."""
        now = 0
        total = self.out_beats * self.tensors

        def overriding(method):
            return [b for b in self.blocks if getattr(type(b), method) is not getattr(_Block, method)]
        forward = [b.forward for b in overriding("forward")]
        backward = [b.backward for b in reversed(overriding("backward"))]
        update = [b.update for b in overriding("update")]
        timed = overriding("countdown")
        idle = 0
        while len(self.sink.stamps) < total:
            for f in forward:
                f()
            for b in backward:
                b()
            fired = [s for s in self.streams if s.valid and s.ready]
            if not fired:
                waits = [c for c in (b.countdown() for b in timed) if c is not None]
                if not waits:
                    raise Deadlock(self._blocked())
                n = min(waits)
                idle += n
                if idle > idle_limit:
                    raise Deadlock(self._blocked())
                for b in timed:
                    b.advance(n)
                now += n
                continue
            idle = 0
            self.sink.now = now
            for u in update:
                u()
            for s in fired:
                s.count += 1
            now += 1
        return [self.sink.stamps[(t + 1) * self.out_beats - 1] for t in range(self.tensors)]

    def _blocked(self):
        return ", ".join(s.name for s in self.streams if s.valid and not s.ready) or "none"


def topology(net, layer_names):
    """``{tensor: [(reader, input index), ...]}`` over the layers ``layer_names`` (the input
    and those layers), as :class:`rtl.network.NetworkTop` wires them."""
    readers = {net.input.name: []}
    readers.update({name: [] for name in layer_names})
    for name in layer_names:
        for k, src in enumerate(net.layer(name).inputs):
            readers[src].append((name, k))
    return readers


def _period(ends):
    return ends[-1] - ends[-2]


def predict(top, inferences):
    """Edges (from the first input beat) at which the last output beat of each of
    ``inferences`` back-to-back inferences leaves the built :class:`rtl.network.NetworkTop`
    ``top``, by the timing model: what :func:`rtl.sim.simulate` measures, without simulating."""
    edges = {r.key: (r.reader, r.reader_input) for r in top.fifo_report}
    depths = {r.key: r.depth for r in top.fifo_report}
    return _NetworkModel(top.net, top.engines, top.readers, edges, depths, inferences).run(
        _IDLE_LIMIT)


def analyse(net, engines, hw=None, inferences=INFERENCES):
    """The :class:`FifoDepth` of every skip FIFO and every rate FIFO (of depth > 0) the network
    of ``engines`` (``{layer name: engine}`` in topological order, as
    :class:`rtl.network.NetworkTop` builds them) needs, by the method of the module docstring.
    Depths fixed by ``hw`` (``fifo_depths``, ``rate_fifo_depths``) are used as given and not
    searched. Skip FIFOs first, in the order of their adds, then rate FIFOs in topological
    order."""
    readers = topology(net, list(engines))
    found = [s for s in skips(net) if s.add in engines]
    edges = {}  # FIFO key -> (reader, input index)
    kinds, adds = {}, {}
    for add, edge in fifo_edges(net, found).items():
        edges[add], kinds[add], adds[add] = edge, "skip", add
    skip_edges = set(edges.values())
    for tensor, rs in readers.items():
        if tensor == net.input.name:
            continue  # the input's producer is outside; it can wait at no cost
        for reader, k in rs:
            if (reader, k) not in skip_edges:
                key = f"{reader}.{port_name(net, reader, k)}"
                edges[key], kinds[key], adds[key] = (reader, k), "rate", None
    fixed = {}
    if hw is not None:
        fixed.update({k: v for k, v in hw.fifo_depths.items() if k in edges})
        fixed.update({k: v for k, v in hw.rate_fifo_depths.items() if k in edges})

    def run(depths):
        placed = {k: edges[k] for k, d in depths.items() if d > 0}
        m = _NetworkModel(net, engines, readers, placed, depths, inferences)
        return _period(m.run(_IDLE_LIMIT)), m

    # The reference schedule ignores fixed depths: those may be too small (then every other
    # FIFO simply ends at its never-full depth).
    target, free = run({k: UNBOUNDED for k in edges})
    occupancy = {k: free.fifos[k].max_level if k in free.fifos else 0 for k in edges}
    # One more than the most ever held always works: the FIFO then never refuses a beat.
    depths = {k: fixed.get(k, occupancy[k] + 1) for k in edges}

    def full_rate(key, depth):
        try:
            return run(dict(depths, **{key: depth}))[0] == target
        except Deadlock:
            return False

    from tqdm import tqdm
    for key in tqdm([k for k in edges if k not in fixed], desc="sizing FIFOs", unit="FIFO",
                    leave=False, disable=None if len(edges) > 4 else True):
        lo, hi = (1 if kinds[key] == "skip" else 0), depths[key]
        if kinds[key] == "rate" and full_rate(key, 0):
            hi = 0  # most edges need no FIFO at all: one run settles them
        # The minimum is usually just below the never-full depth: gallop down from there.
        step = 1
        while lo < hi:
            trial = max(lo, hi - step)
            if not full_rate(key, trial):
                lo = trial + 1
                break
            hi, step = trial, step * 2
        while lo < hi:
            mid = (lo + hi) // 2
            if full_rate(key, mid):
                hi = mid
            else:
                lo = mid + 1
        depths[key] = lo

    result = []
    for key, (reader, k) in edges.items():
        if depths[key] == 0:
            continue
        tensor = net.layer(reader).inputs[k]
        shape, ttype = net.shape_of(tensor), net.type_of(tensor)
        port = port_name(net, reader, k)
        result.append(FifoDepth(
            kind=kinds[key], key=key, add=adds[key], tensor=tensor, reader=reader, reader_input=k,
            name=f"fifo_{key}" if kinds[key] == "skip" else f"rate_{reader}_{port}",
            depth=depths[key], analysed_depth=None if key in fixed else depths[key],
            beat_bits=ttype.bits * shape[0], feature_map_depth=beat_shape(shape)[0],
            max_occupancy=occupancy[key]))
    return result


_IDLE_LIMIT = 1 << 30  # only internal countdowns can run this long without a beat moving
