"""The hardware plan of a netdesc: what :class:`rtl.network.NetworkTop` builds, described once.

Nodes are the engines (one per layer the output depends on, named by the layer), the forks
(``fork_<tensor>``, one per tensor with several readers) and the FIFOs (``fifo_<add>`` on a
skip connection's bypass branch, ``rate_<reader>_<port>`` between two engines; see
:mod:`rtl.fifo_depth`); edges are the streams between their ports. Every stream of a tensor
carries the same channel groups (:func:`stream_lanes`). Everything that needs the
network's wiring reads it here: the top's elaboration, the timing model of the whole network
(:func:`network_model`, from each engine's own ``timing_model`` and the fork's and FIFO's
model blocks), the simulation's stall monitor (:meth:`Plan.streams`), the FIFO keys of the
hardware config and the synthesis report's unit rows (:meth:`Plan.unit_order`).

The plan is built in passes, as FINN transforms its graph: :func:`engine_plan` places engines
and forks; :func:`fifo_sites` lists where FIFOs can go; :func:`rtl.fifo_depth.size_fifos`
sizes them on the timing model; :meth:`Plan.with_fifos` splices those of depth > 0 in.
"""

from dataclasses import dataclass, field, replace

from netdesc.graph import ancestors, skips
from netdesc.ops import op_of

from .engines import build_engine, output_group, reads_groups
from .fork import ForkModel
from .hwconfig import rate_fifo_key
from .skip_fifo import FifoModel, output_registers
from .streams import beat_shape, pixel_layout
from .timing_model import Model, Sink, Source

TOP = None  # the node of the top's own ports: its input ``i`` and output ``o``
# The least rate FIFO into an add on a build for a fast clock (:func:`fifo_sites`): two beats,
# so that it takes one while it gives one away.
ADD_INPUT_DEPTH = 2


@dataclass(frozen=True)
class Edge:
    """A stream from port ``src`` to port ``dst`` (each ``(node, port)``) carrying ``tensor``."""

    tensor: str
    src: tuple
    dst: tuple

    @property
    def name(self):
        """The stream's name: its source port, ``<node>.<port>`` (``i`` for the top's input)."""
        node, port = self.src
        return port if node is TOP else f"{node}.{port}"


@dataclass(frozen=True)
class Fifo:
    """One FIFO of the plan: a skip FIFO or a rate FIFO (see :mod:`rtl.fifo_depth`).

    It sits on the edge into input ``reader_input`` (port ``port``) of layer ``reader`` and
    carries ``tensor``. A skip FIFO (``kind == "skip"``, ``add`` its skip's add layer) sits on
    the bypass branch right after the fork: the add itself for an identity skip, else the first
    bypass layer (e.g. the 1x1 projection), so that nothing on the bypass branch can stop the
    fork. A rate FIFO (``kind == "rate"``, ``add`` None) sits between two engines whose
    patterns of input demand and output supply differ.

    ``name``: the node (``fifo_<add>`` / ``rate_<reader>_<port>``); ``key``: its key in the
    hardware config (the add's name in ``fifo_depths``, ``<reader>.<port>`` in
    ``rate_fifo_depths``); ``depth``: beats it holds (the hardware config's, else
    ``analysed_depth``); ``analysed_depth``: the minimum for full throughput (``None`` when the
    config fixed the depth); ``beat_bits``: bits of one beat; ``bits = depth * beat_bits``;
    ``feature_map_depth``: the beats of one ``tensor`` (``H * W`` pixels, in its channel
    groups) and ``feature_map_bits`` their bits
    (what buffering a whole tensor would cost); ``max_occupancy``: beats held at most when
    unbounded (a FIFO one deeper never refuses a beat; ``None`` when the config fixed every
    depth, and no analysis ran); ``min_depth``: the least depth the analysis gives it (see
    :func:`fifo_sites`).
    """

    kind: str
    name: str
    key: str
    add: str
    tensor: str
    reader: str
    reader_input: int
    port: str
    depth: int = 0
    analysed_depth: int = None
    beat_bits: int = 0
    feature_map_depth: int = 0
    max_occupancy: int = 0
    min_depth: int = 0

    @property
    def bits(self):
        return self.depth * self.beat_bits

    @property
    def feature_map_bits(self):
        return self.feature_map_depth * self.beat_bits

    @property
    def owner(self):
        """The layer a synthesis report lists this FIFO with: its add, or its reader."""
        return self.add if self.kind == "skip" else self.reader


@dataclass
class Plan:
    """Engines (``{layer: engine}``, topological), forks (``{node: (tensor, outputs)}``),
    FIFOs (``{node: Fifo}``), the streams between them (``edges``, in wiring order) and the
    channels per beat of each tensor's streams (``lanes``, :func:`stream_lanes`)."""

    net: object
    hw: object
    engines: dict
    forks: dict
    edges: list
    lanes: dict
    fifos: dict = field(default_factory=dict)

    @property
    def fifo_report(self):
        """The FIFOs as built: skip FIFOs in the order of their adds, then rate FIFOs."""
        return list(self.fifos.values())

    def payload(self, tensor):
        """The beat layout of the streams carrying ``tensor``."""
        return pixel_layout(self.net.type_of(tensor), self.lanes[tensor])

    def with_fifos(self, fifos):
        """This plan with ``fifos`` (:class:`Fifo` of depth > 0) spliced into their edges."""
        at = {(f.reader, f.port): f for f in fifos}
        edges = []
        for e in self.edges:
            f = at.get(e.dst)
            if f is None:
                edges.append(e)
            else:
                edges += [Edge(e.tensor, e.src, (f.name, "i")),
                          Edge(e.tensor, (f.name, "o"), e.dst)]
        return replace(self, edges=edges, fifos={f.name: f for f in fifos})

    def streams(self):
        """``{name: (node, port)}`` of every stream an engine, fork or FIFO drives or reads
        (the forks' inputs are their producers' outputs): what the stall monitor watches."""
        ports = {}
        for name in self.engines:
            for port in op_of(self.net.layer(name)).ports + ("o",):
                ports[f"{name}.{port}"] = (name, port)
        for name, (_, outputs) in self.forks.items():
            for k in range(outputs):
                ports[f"{name}.o[{k}]"] = (name, f"o[{k}]")
        for name in self.fifos:
            ports[f"{name}.i"] = (name, "i")
            ports[f"{name}.o"] = (name, "o")
        return ports

    def unit_order(self, units):
        """``units`` (node names) in the netdesc's layer order, each node beside its layer:
        FIFOs before it, the engine, then the fork of its output; unknown names last."""
        index = {self.net.input.name: 0}
        index.update({layer.name: i + 1 for i, layer in enumerate(self.net.layers)})
        place = {name: (index[name], 1) for name in self.engines}
        place.update({name: (index[tensor], 2) for name, (tensor, _) in self.forks.items()})
        place.update({name: (index[f.owner], 0) for name, f in self.fifos.items()})
        return sorted(units, key=lambda u: (*place.get(u, (len(index), 0)), u))


def fork_name(tensor):
    return f"fork_{tensor}"


def stream_lanes(net, hw, layers):
    """``{tensor: channels per beat}`` of the streams of ``layers`` (the plan's, resolved
    ``hw``): a tensor travels in the channel groups its producer sends
    (:func:`rtl.engines.output_group`: a folded conv's output groups, an add's input groups)
    when every engine reading it takes them at full speed (:func:`rtl.engines.reads_groups`)
    and an add reads the same groups on both inputs; else, like the accelerator's own ports,
    in whole pixels. A stream in groups carries none of the pixel-wide registers and channel
    selects at either end, and an add on groups adds a group per cycle.

    Found by elimination: every tensor starts in its producer's groups, and a tensor some
    reader cannot take that way goes to whole pixels (which may take the groups from what its
    own readers produce), until nothing changes."""
    readers = {}
    for layer in layers:
        for src in layer.inputs:
            readers.setdefault(src, []).append(layer)
    whole = {net.output}
    while True:
        lanes = {net.input.name: net.input.shape[0]}
        for layer in layers:
            in_lanes = lanes[layer.inputs[0]]
            if in_lanes == net.shape_of(layer.inputs[0])[0]:
                in_lanes = None
            group = (None if layer.name in whole else
                     output_group(net, layer, hw.parallelism.get(layer.name), in_lanes))
            lanes[layer.name] = group or layer.shape[0]
        refused = {t for t, n in lanes.items() if n < net.shape_of(t)[0] and t not in whole and
                   not all(reads_groups(net, r, hw.parallelism.get(r.name), n)
                           for r in readers.get(t, ()))}
        for layer in layers:  # an add sends the groups it reads, on both inputs alike
            if layer.op == "add" and (len({lanes[t] for t in layer.inputs}) > 1 or
                                      lanes[layer.name] == layer.shape[0]):
                refused.update(t for t in layer.inputs if lanes[t] < net.shape_of(t)[0])
        if not refused:
            return lanes
        whole |= refused


def engine_plan(net, hw):
    """The plan without FIFOs: an engine per layer the output depends on (MAC parallelism from
    the resolved ``hw``), its streams in channel groups where both ends can
    (:func:`stream_lanes`), a fork per tensor read by several of them, the streams between."""
    needed = ancestors(net, net.output)
    layers = [layer for layer in net.layers if layer.name in needed]
    lanes = stream_lanes(net, hw, layers)

    def grouped(tensor):
        return None if lanes[tensor] == net.shape_of(tensor)[0] else lanes[tensor]
    engines = {layer.name: build_engine(net, layer, hw.parallelism.get(layer.name),
                                        hw.mac_build(layer.name), grouped(layer.inputs[0]),
                                        grouped(layer.name))
               for layer in layers}
    readers = {net.input.name: []}
    readers.update({layer.name: [] for layer in layers})
    for layer in layers:
        for k, src in enumerate(layer.inputs):
            readers[src].append((layer.name, op_of(layer).ports[k]))
    forks, edges = {}, []
    for tensor, ports in readers.items():
        src = (TOP, "i") if tensor == net.input.name else (tensor, "o")
        if len(ports) > 1:
            forks[fork_name(tensor)] = (tensor, len(ports))
            edges.append(Edge(tensor, src, (fork_name(tensor), "i")))
            outs = [(fork_name(tensor), f"o[{k}]") for k in range(len(ports))]
        else:
            outs = [src]
        edges += [Edge(tensor, s, dst) for s, dst in zip(outs, ports)]
    edges.append(Edge(net.output, (net.output, "o"), (TOP, "o")))
    return Plan(net, hw, engines, forks, edges, lanes)


def fifo_sites(plan):
    """Every place a FIFO can go, depth 0: a skip FIFO per skip connection of the plan, right
    after its fork on the bypass branch, then a rate FIFO on every other edge between two
    engines (the input's producer is outside; it can wait at no cost).

    On a build for a fast clock (``registered_macs``) a rate FIFO into an add is at least
    :data:`ADD_INPUT_DEPTH` deep: an add passes its consumers' ready (a fork's: every reader's)
    on to its producers, and a FIFO's ready comes from its level register alone. Without it,
    the folded ResNet-8's critical path on the ECP5 ran from a skip FIFO's level through the
    fork and the add into a conv's stall enable and on to its block RAM's read enable (before
    the MAC pipelines stopped stalling as a whole)."""
    net = plan.net
    sites = []
    for s in skips(net):
        if s.add not in plan.engines:
            continue
        if s.bypass:
            reader = next(n for n in s.bypass if s.fork in net.layer(n).inputs)
            k = net.layer(reader).inputs.index(s.fork)
        else:
            reader, k = s.add, s.bypass_input
        sites.append(_site(plan, "skip", f"fifo_{s.add}", s.add, s.add, reader, k))
    taken = {(f.reader, f.port) for f in sites}
    for e in plan.edges:  # in wiring order: by tensor, then by reader
        reader, port = e.dst
        if reader in plan.engines and e.tensor != net.input.name and e.dst not in taken:
            k = op_of(net.layer(reader)).ports.index(port)
            site = _site(plan, "rate", f"rate_{reader}_{port}", rate_fifo_key(reader, port),
                         None, reader, k)
            if plan.hw.registered_macs and net.layer(reader).op == "add":
                site = replace(site, min_depth=ADD_INPUT_DEPTH)
            sites.append(site)
    return sites


def _site(plan, kind, name, key, add, reader, k):
    net = plan.net
    tensor = net.layer(reader).inputs[k]
    lanes = plan.lanes[tensor]
    return Fifo(kind, name, key, add, tensor, reader, k, op_of(net.layer(reader)).ports[k],
                beat_bits=net.type_of(tensor).bits * lanes,
                feature_map_depth=beat_shape(net.shape_of(tensor), lanes)[0])


def network_model(plan, tensors):
    """The timing model of the plan's network fed ``tensors`` input tensors back to back at
    full rate: ``(model, source, sink, {FIFO node: its model block})``, every block added in
    topological order."""
    net = plan.net
    model = Model()
    streams = {e: model.stream(e.name) for e in plan.edges}
    into = {}
    out_of = {}
    for e in plan.edges:
        into.setdefault(e.dst[0], {})[e.dst[1]] = streams[e]
        out_of.setdefault(e.src[0], {})[e.src[1]] = streams[e]
    source = Source(out_of[TOP]["i"], beat_shape(net.input.shape)[0] * tensors)
    model.add(source)
    fifo_blocks = {}

    def fork_of(tensor):
        name = fork_name(tensor)
        if name in plan.forks:
            outs = out_of[name]
            model.add(ForkModel(into[name]["i"], [outs[f"o[{k}]"] for k in range(len(outs))]))

    fork_of(net.input.name)
    fifos_into = {}
    for f in plan.fifos.values():
        fifos_into.setdefault(f.reader, []).append(f)
    for name, engine in plan.engines.items():
        for f in fifos_into.get(name, ()):
            fifo_blocks[f.name] = FifoModel(
                into[f.name]["i"], out_of[f.name]["o"], f.depth,
                output_registers(plan.hw.memory_style, f.depth, plan.hw.registered_fifos))
            model.add(fifo_blocks[f.name])
        ports = op_of(net.layer(name)).ports
        engine.timing_model(model, [into[name][p] for p in ports], [out_of[name]["o"]])
        fork_of(name)
    sink = Sink(into[TOP]["o"])
    model.add(sink)
    return model, source, sink, fifo_blocks


@dataclass(frozen=True)
class Timing:
    """A network's cycles by the timing model: ``steady`` between the last output beats of two
    back-to-back inferences (cycles per inference), ``latency`` from an inference's first input
    beat to its last output beat, both beats' cycles included (as :func:`rtl.sim.simulate`
    counts one inference)."""

    steady: int
    latency: int


def timing(plan, inferences=3):
    """The :class:`Timing` of ``inferences`` (at least 2) back-to-back inferences through the
    plan."""
    ends = predict(plan, inferences)
    return Timing(ends[-1] - ends[-2], ends[0] + 1)


def predict(plan, inferences):
    """Edges (from the first input beat) at which the last output beat of each of
    ``inferences`` back-to-back inferences leaves the plan's network, by the timing model:
    what :func:`rtl.sim.simulate` measures, without simulating."""
    return last_beats(plan, inferences)[0]


def last_beats(plan, inferences):
    """``(edges of each inference's last output beat from the first input beat, {FIFO node:
    its model block})``. (A folded conv takes its first beat only once it has written every
    channel.)"""
    model, source, sink, fifos = network_model(plan, inferences)
    out_beats = beat_shape(plan.net.output_layer.shape)[0]
    model.run(sink, out_beats * inferences)
    start = source.stamps[0]
    return [sink.stamps[(t + 1) * out_beats - 1] - start for t in range(inferences)], fifos
