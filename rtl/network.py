"""The whole-network accelerator: the hardware plan of a netdesc, elaborated."""

from dataclasses import replace

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .fifo_depth import pinned, size_fifos
from .fork import Fork
from .hwconfig import HwConfig
from .plan import TOP, engine_plan, fifo_sites
from .skip_fifo import SkipFifo
from .streams import pixel_signature


def build_plan(net, hw=None):
    """The plan of ``net``'s accelerator under ``hw`` (default: :meth:`HwConfig.default`):
    engines and forks placed, FIFOs sized (:func:`rtl.fifo_depth.size_fifos`) and spliced in.
    Its ``hw`` is the config resolved, every FIFO depth pinned (:func:`rtl.fifo_depth.pinned`)."""
    plan = engine_plan(net, (hw or HwConfig()).resolved(net))
    sites = fifo_sites(plan)
    fifos = size_fifos(plan, sites)
    return replace(plan.with_fifos(fifos), hw=pinned(plan.hw, sites, fifos))


class NetworkTop(wiring.Component):
    """The accelerator of a whole netdesc, generated for any valid one.

    Ports: ``i`` (In), the input tensor's pixels in raster order, all channels per beat
    (:func:`~rtl.streams.pixel_signature` of the netdesc input); ``o`` (Out), the output
    tensor: pixels in raster order for a ``[C, H, W]`` output, one beat of ``N`` elements for a
    ``[N]`` output. Tensors follow one another without reset or gaps.

    Structure: the nodes of its :class:`~rtl.plan.Plan` (``self.plan``) as submodules named
    like them: one engine per layer the output depends on, a :class:`~rtl.fork.Fork` per tensor
    with several readers, a :class:`~rtl.skip_fifo.SkipFifo` per skip FIFO and rate FIFO, as
    deep as the hardware config says or, by default, as :mod:`rtl.fifo_depth` computes
    (``self.fifo_report``, a list of :class:`~rtl.plan.Fifo`). ``self.hw``: the config it
    was built with, resolved, its FIFO depths pinned: the same accelerator again, sized once.

    Throughput: with the default FIFO depths, that of the network with unbounded FIFOs, which
    is bounded by its slowest engine (``bench/bench_network.py`` measures how close).
    ``hw.memory_style`` selects the FIFOs' storage (:data:`rtl.skip_fifo.STYLES`).
    """

    def __init__(self, net, hw=None):
        self.net = net
        self.plan = build_plan(net, hw)
        self.hw = self.plan.hw
        self.engines = self.plan.engines
        self.fifo_report = self.plan.fifo_report
        self.forks = {name: Fork(self.plan.payload(tensor), outputs)
                      for name, (tensor, outputs) in self.plan.forks.items()}
        self.fifos = {f.name: SkipFifo(self.plan.payload(f.tensor), f.depth, self.hw.memory_style,
                                       self.hw.registered_fifos)
                      for f in self.fifo_report}
        out = net.output_layer
        super().__init__({
            "i": In(pixel_signature(net.input.type, net.input.shape[0])),
            "o": Out(pixel_signature(out.type, out.shape[0])),
        })

    @property
    def quiet_cycles(self):
        """The longest time no stream moves a beat without a stall: an engine may compute
        this long between two beats."""
        return max(e.cycles_per_output for e in self.engines.values())

    def port(self, node, port):
        """The stream interface of ``port`` of plan node ``node`` (as the node sees it)."""
        if node is TOP:
            return wiring.flipped(getattr(self, port))
        component = self.engines.get(node) or self.forks.get(node) or self.fifos[node]
        if port.startswith("o["):
            return component.o[int(port[2:-1])]
        return getattr(component, port)

    def monitored_streams(self):
        """``{name: stream}`` of every internal stream, for the simulation's stall report."""
        return {name: self.port(*where) for name, where in self.plan.streams().items()}

    def elaborate(self, platform):
        m = Module()
        for name, engine in self.engines.items():
            m.submodules[name] = engine
        for name, fork in self.forks.items():
            m.submodules[name] = fork
        for name, fifo in self.fifos.items():
            m.submodules[name] = fifo
        for edge in self.plan.edges:
            wiring.connect(m, self.port(*edge.src), self.port(*edge.dst))
        return m
