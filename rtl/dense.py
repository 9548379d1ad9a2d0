"""The dense stream engine: weight ROM, MAC array, bias, requantizer; no line buffer."""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .mac import MacBuild, MatVecPipeline
from .streams import beat_shape, pixel_signature

__all__ = ["DenseEngine"]


class DenseEngine(wiring.Component):
    """A dense layer (docs/NETDESC.md#dense) as a stream engine.

    Parameters: the input's ``in_shape`` (``[C, H, W]`` or ``[N]``) and ``in_type``;
    ``weights`` ``[out_features, C*H*W]`` (signed ``weight_bits``), ``bias`` or None; the
    accumulator range ``acc_range``; the output stage ``shift``, ``relu``, ``out_type``;
    ``schedule``, the MAC grid (:meth:`~rtl.mac.MacSchedule.choose` for ``out_features``
    outputs of ``C`` operands, one beat's channels); ``mac``: how its MAC array is built
    (:class:`~rtl.mac.MacBuild`).

    Input: a ``[C, H, W]`` feature map arrives as ``H*W`` beats of ``C`` channels (raster
    order; netdesc flattens in C, H, W order, so beat ``b`` channel ``c`` meets weight column
    ``c*H*W + b``); an ``[N]`` vector arrives as one beat of ``N``. Output: one beat of
    ``out_features`` elements per input tensor.
    Ports: ``i: In(pixel_signature(in_type, C or N))``,
    ``o: Out(pixel_signature(out_type, out_features))``.

    Each input beat is an operand vector of a :class:`~rtl.mac.MatVecPipeline` (submodules
    ``mac``, ``weights``, ``requantize``); accumulators persist over the ``H*W`` beats.

    Timing (:meth:`timing_model`, the pipeline's): a beat is taken every ``schedule.cycles``
    cycles at most, into an operand register, so the engine absorbs one beat ahead of its
    computation; :attr:`cycles_per_output` = ``H*W * schedule.cycles``.
    """

    def __init__(self, *, in_shape, in_type, weights, weight_bits, bias, acc_range, shift, relu,
                 out_type, schedule, mac=MacBuild()):
        self.beats, channels = beat_shape(in_shape)
        self.in_type = in_type
        self.in_channels = channels
        self.out_features = weights.shape[0]
        if (schedule.outputs, schedule.operands) != (self.out_features, channels):
            raise ValueError(f"the MAC schedule covers {schedule.outputs} outputs x "
                             f"{schedule.operands} operands, not {self.out_features} x "
                             f"{channels}")
        self.schedule = schedule
        matrices = weights.reshape(self.out_features, channels, self.beats).transpose(2, 0, 1)
        self.pipeline = MatVecPipeline(operand_type=in_type, matrices=matrices,
                                       weight_bits=weight_bits, bias=bias,
                                       schedule=schedule, acc_range=acc_range,
                                       shift=shift, out_type=out_type, relu=relu,
                                       mac=mac)
        self.cycles_per_output = self.beats * self.schedule.cycles
        super().__init__({
            "i": In(pixel_signature(in_type, channels)),
            "o": Out(pixel_signature(out_type, self.out_features)),
        })

    def timing_model(self, model, inputs, outputs):
        model.add(self.pipeline.timing_model(inputs[0], outputs[0]))

    def elaborate(self, platform):
        m = Module()
        self.pipeline.elaborate_into(m, self.i, self.o)
        return m
