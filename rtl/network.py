"""The whole-network accelerator: engines, forks, skip and rate FIFOs wired from a netdesc."""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from netdesc.graph import ancestors

from .add import AddEngine
from .fifo_depth import analyse, topology
from .fork import Fork
from .hwconfig import HwConfig
from .skip_fifo import SkipFifo
from .streams import pixel_layout, pixel_signature


def build_engine(net, layer, parallelism=None):
    """The stream engine computing ``layer``: conv2d / dense with ``parallelism`` MACs per
    cycle (default: :meth:`HwConfig.default`), maxpool2d, global_avg_pool, add."""
    if layer.op in ("conv2d", "dense"):
        if parallelism is None:
            parallelism = HwConfig.default(net).parallelism[layer.name]
        if layer.op == "conv2d":
            from .conv import ConvEngine
            return ConvEngine(net, layer, parallelism=parallelism)
        from .dense import DenseEngine
        return DenseEngine(net, layer, parallelism=parallelism)
    if layer.op == "maxpool2d":
        from .pool import MaxPoolEngine
        return MaxPoolEngine(net, layer)
    if layer.op == "global_avg_pool":
        from .pool import GlobalAvgPoolEngine
        return GlobalAvgPoolEngine(net, layer)
    return AddEngine(net, layer)


def input_ports(layer, engine):
    """The engine's input streams, in the order of ``layer.inputs``."""
    return (engine.a, engine.b) if layer.op == "add" else (engine.i,)


def engine_ports(net, layer, engine):
    """``([StreamPort per input], StreamPort of the output)`` of an engine, for simulation."""
    from .sim import StreamPort
    ins = [StreamPort(p, net.shape_of(src), net.type_of(src), f"{layer.name}.{name}")
           for p, src, name in zip(input_ports(layer, engine), layer.inputs,
                                   ("a", "b") if layer.op == "add" else ("i",))]
    return ins, StreamPort(engine.o, layer.shape, layer.type, f"{layer.name}.o")


def _channels(shape):
    return shape[0]


class NetworkTop(wiring.Component):
    """The accelerator of a whole netdesc, generated for any valid one.

    Ports: ``i`` (In), the input tensor's pixels in raster order, all channels per beat
    (:func:`~rtl.streams.pixel_signature` of the netdesc input); ``o`` (Out), the output
    tensor: pixels in raster order for a ``[C, H, W]`` output, one beat of ``N`` elements for a
    ``[N]`` output. Tensors follow one another without reset or gaps.

    Structure: one engine per layer the output depends on, named by the layer; a
    :class:`~rtl.fork.Fork` named ``fork_<tensor>`` for every tensor with several readers; a
    :class:`~rtl.skip_fifo.SkipFifo` named ``fifo_<add layer>`` on every skip connection's
    bypass branch right after the fork, and rate FIFOs ``rate_<layer>_<port>`` where two
    engines need decoupling (:class:`rtl.fifo_depth.FifoDepth` says where), as deep as the
    hardware config says or, by default, as :func:`rtl.fifo_depth.analyse` computes
    (``self.fifo_report``, a list of :class:`~rtl.fifo_depth.FifoDepth`).

    Throughput: with the default FIFO depths, that of the network with unbounded FIFOs, which
    is bounded by its slowest engine (``bench/bench_network.py`` measures how close).
    ``hw.memory_style`` selects the FIFOs' storage (:data:`rtl.skip_fifo.STYLES`).
    """

    def __init__(self, net, hw=None):
        self.net = net
        self.hw = (hw or HwConfig()).resolved(net)
        needed = ancestors(net, net.output)
        self.layers = [l for l in net.layers if l.name in needed]
        self.engines = {l.name: build_engine(net, l, self.hw.parallelism.get(l.name))
                        for l in self.layers}
        self.readers = readers = topology(net, list(self.engines))
        self.fifo_report = analyse(net, self.engines, self.hw)
        self.fifos = {}  # submodule name -> SkipFifo
        for r in self.fifo_report:
            layout = pixel_layout(net.type_of(r.tensor), _channels(net.shape_of(r.tensor)))
            self.fifos[r.name] = SkipFifo(layout, r.depth, self.hw.memory_style)
        self.forks = {name: Fork(pixel_layout(net.type_of(name), _channels(net.shape_of(name))),
                                 len(rs))
                      for name, rs in readers.items() if len(rs) > 1}
        out = net.output_layer
        super().__init__({
            "i": In(pixel_signature(net.input.type, _channels(net.input.shape))),
            "o": Out(pixel_signature(out.type, _channels(out.shape))),
        })

    def monitored_streams(self):
        """``{name: stream}`` of every internal stream, for the simulation's stall report."""
        streams = {}
        for l in self.layers:
            engine = self.engines[l.name]
            for name, port in zip(("a", "b") if l.op == "add" else ("i",), input_ports(l, engine)):
                streams[f"{l.name}.{name}"] = port
            streams[f"{l.name}.o"] = engine.o
        for name, fork in self.forks.items():
            for k, o in enumerate(fork.o):
                streams[f"fork_{name}.o[{k}]"] = o
        for name, fifo in self.fifos.items():
            streams[f"{name}.i"] = fifo.i
            streams[f"{name}.o"] = fifo.o
        return streams

    def elaborate(self, platform):
        m = Module()
        for name, engine in self.engines.items():
            m.submodules[name] = engine
        for name, fork in self.forks.items():
            m.submodules[f"fork_{name}"] = fork
        for name, fifo in self.fifos.items():
            m.submodules[name] = fifo

        fifo_at = {(r.reader, r.reader_input): self.fifos[r.name] for r in self.fifo_report}
        # Where each reader's stream comes from: the tensor's producer or its fork's k-th output.
        sources = {self.net.input.name: wiring.flipped(self.i)}
        sources.update({name: e.o for name, e in self.engines.items()})
        for name, rs in self.readers.items():
            src = sources[name]
            if name in self.forks:
                wiring.connect(m, src, self.forks[name].i)
                outs = list(self.forks[name].o)
            else:
                outs = [src] if rs else []
            for (reader, k), stream in zip(rs, outs):
                layer = self.net.layer(reader)
                dst = input_ports(layer, self.engines[reader])[k]
                if (reader, k) in fifo_at:
                    fifo = fifo_at[(reader, k)]
                    wiring.connect(m, stream, fifo.i)
                    stream = fifo.o
                wiring.connect(m, stream, dst)
        wiring.connect(m, self.engines[self.net.output].o, wiring.flipped(self.o))
        return m
