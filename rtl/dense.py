"""The dense stream engine: weight ROM, MAC array, bias, requantizer; no line buffer."""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from netdesc import accumulator_range

from .conv import check_op, where
from .mac import PIPELINE_LATENCY, MacSchedule, MatVecPipeline
from .streams import offered_edges, pixel_signature

__all__ = ["DenseEngine"]


class DenseEngine(wiring.Component):
    """One dense layer of ``net`` as a stream engine.

    Input: a ``[C, H, W]`` feature map arrives as ``H*W`` beats of ``C`` channels (raster
    order; netdesc flattens in C, H, W order, so beat ``b`` channel ``c`` meets weight column
    ``c*H*W + b``); an ``[N]`` vector arrives as one beat of ``N``. Output: one beat of
    ``out_features`` elements per input tensor.
    Ports: ``i: In(pixel_signature(in_type, C or N))``,
    ``o: Out(pixel_signature(layer.type, out_features))``.

    Each input beat is an operand vector of a :class:`~rtl.mac.MatVecPipeline` (submodules
    ``mac``, ``weights``, ``requantize``); accumulators persist over the ``H*W`` beats.
    ``parallelism`` MACs per cycle as :attr:`schedule` organises them, at most
    ``out_features * C``.

    Timing (output never blocked; :meth:`timing` is exact, tested against simulation):
    a beat is taken every ``schedule.cycles`` cycles at most, into an operand register, so the
    engine absorbs one beat ahead of its computation; :attr:`cycles_per_output` =
    ``H*W * schedule.cycles``; :meth:`input_beats_needed` ``(0)`` = ``H*W``; :attr:`latency`
    = ``schedule.cycles + 3`` edges from the last beat's acceptance to the output's earliest
    transfer when idle; :attr:`max_input_rate` = 1.
    """

    max_input_rate = 1

    def __init__(self, net, layer, *, parallelism=1):
        check_op(net, layer, "dense", "DenseEngine")
        self.net, self.layer = net, layer
        self.in_type = net.type_of(layer.inputs[0])
        in_shape = net.shape_of(layer.inputs[0])
        channels, self.beats = (in_shape[0], in_shape[1] * in_shape[2]) if len(in_shape) == 3 \
            else (in_shape[0], 1)
        self.in_channels = channels
        self.out_features = layer.shape[0]
        self.schedule = MacSchedule.choose(self.out_features, channels, parallelism,
                                           where(net, layer))
        self.parallelism = parallelism
        matrices = layer.weights.reshape(self.out_features, channels, self.beats).transpose(2, 0, 1)
        self.pipeline = MatVecPipeline(layer=layer, operand_type=self.in_type, matrices=matrices,
                                       schedule=self.schedule,
                                       acc_range=accumulator_range(net, layer))
        self.cycles_per_output = self.beats * self.schedule.cycles
        self.latency = self.schedule.cycles + PIPELINE_LATENCY
        super().__init__({
            "i": In(pixel_signature(self.in_type, channels)),
            "o": Out(pixel_signature(layer.type, self.out_features)),
        })

    def input_beats_needed(self, j):
        """Input beats of the tensor accepted before output beat ``j`` (only ``j == 0``)."""
        if j != 0:
            raise IndexError(f"a dense layer has one output beat per tensor, not beat {j}")
        return self.beats

    def timing(self, tensors=1, gaps=None):
        """Exact edges ``(accepted, produced)``, as :meth:`rtl.conv.ConvEngine.timing`."""
        total = tensors * self.beats
        offer = offered_edges(gaps)
        accepted = []
        for n in range(total):
            edge = offer(n, accepted[-1] if accepted else None)
            if accepted:
                edge = max(edge, accepted[-1] + self.schedule.cycles)
            accepted.append(edge)
        produced = [accepted[(t + 1) * self.beats - 1] + self.latency for t in range(tensors)]
        return accepted, produced

    def elaborate(self, platform):
        m = Module()
        self.pipeline.elaborate_into(m, self.i, self.o)
        return m
