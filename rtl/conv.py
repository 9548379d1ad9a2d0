"""The conv2d stream engine: line buffer, weight ROM, MAC array, bias, requantizer."""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .line_buffer import LineBuffer, LineBufferModel, WindowScan
from .mac import MacBuild, MatVecPipeline
from .streams import pixel_signature

__all__ = ["ConvEngine", "window_pipeline"]


def window_pipeline(*, in_type, weights, weight_bits, bias, acc_range, shift, relu, out_type,
                    schedule, mac, grouped=False):
    """The :class:`~rtl.mac.MatVecPipeline` of a conv engine: ``weights`` ``[O, C, k, k]`` in
    the operand order of a window, ``(u * k + v) * C + i`` (as the line buffer's window and
    the window memory's reads have it). ``ValueError`` if ``schedule`` does not cover
    ``O`` x ``C * k * k``."""
    out_channels, in_channels, kernel, _ = weights.shape
    operands = in_channels * kernel * kernel
    if (schedule.outputs, schedule.operands) != (out_channels, operands):
        raise ValueError(f"the MAC schedule covers {schedule.outputs} outputs x "
                         f"{schedule.operands} operands, not {out_channels} x {operands}")
    matrix = weights.transpose(0, 2, 3, 1).reshape(out_channels, operands)
    return MatVecPipeline(operand_type=in_type, matrices=matrix[None], weight_bits=weight_bits,
                          bias=bias, schedule=schedule, acc_range=acc_range, shift=shift,
                          out_type=out_type, relu=relu, mac=mac, grouped=grouped)


class ConvEngine(wiring.Component):
    """A conv2d layer (docs/NETDESC.md#conv2d) as a stream engine.

    Parameters: the input's ``in_shape`` ``[C, H, W]`` and ``in_type``; ``weights``
    ``[O, C, k, k]`` (signed ``weight_bits``), ``bias`` ``[O]`` or None; ``stride``,
    ``padding``; the accumulator range ``acc_range`` (:func:`netdesc.accumulator_range`); the
    output stage ``shift``, ``relu``, ``out_type``; ``schedule``, the MAC grid
    (:meth:`~rtl.mac.MacSchedule.choose` for ``O`` outputs of ``C * k * k`` operands);
    ``mac``: how its MAC array is built (:class:`~rtl.mac.MacBuild`).
    ``ValueError`` for a geometry the engine cannot build.

    Ports: ``i: In(pixel_signature(in_type, C))``, the input feature map one pixel per beat in
    raster order; ``o: Out(pixel_signature(out_type, O))``, the output feature map likewise.
    Tensors follow each other back to back, without reset.

    Organisation: a :class:`~rtl.line_buffer.LineBuffer` (submodule ``line_buffer``, walking
    the image as :attr:`scan` says) hands k x k windows to a :class:`~rtl.mac.MatVecPipeline`
    (submodules ``mac``, ``weights``, ``requantize``) with a grid of ``schedule.lanes_out``
    output channels x ``schedule.lanes_in`` window operands (of ``C * k * k``). The pipeline
    copies each window into an operand register (``C * k * k`` elements) so the line buffer
    can move on.

    Timing (:meth:`timing_model`: the line buffer's walk, then the pipeline): a window occupies
    the MAC array ``schedule.cycles`` cycles (:attr:`cycles_per_output`), so output beats are at
    least that far apart; exactly that in steady state unless the line buffer needs more steps
    (stride 2, padding columns) between two windows. The line buffer takes input while the MAC
    array computes, up to the beat that completes the next window; that window then waits in
    the window register until the array takes it, and input stops meanwhile.
    """

    def __init__(self, *, in_shape, in_type, weights, weight_bits, bias, stride, padding,
                 acc_range, shift, relu, out_type, schedule, mac=MacBuild()):
        in_channels, height, width = in_shape
        self.in_type = in_type
        self.in_channels = in_channels
        self.out_channels, _, kernel, _ = weights.shape
        self.schedule = schedule
        # The walk the line buffer will take; the component is built in elaborate.
        self.scan = WindowScan(height, width, kernel, stride, padding)
        self.pipeline = window_pipeline(
            in_type=in_type, weights=weights, weight_bits=weight_bits, bias=bias,
            acc_range=acc_range, shift=shift, relu=relu, out_type=out_type, schedule=schedule,
            mac=mac)
        self.cycles_per_output = self.schedule.cycles
        super().__init__({
            "i": In(pixel_signature(in_type, in_channels)),
            "o": Out(pixel_signature(out_type, self.out_channels)),
        })

    def timing_model(self, model, inputs, outputs):
        windows = model.stream(f"{outputs[0].name}.windows")
        model.add(LineBufferModel(self.scan, inputs[0], windows),
                  self.pipeline.timing_model(windows, outputs[0]))

    def elaborate(self, platform):
        m = Module()
        scan = self.scan
        m.submodules.line_buffer = lb = LineBuffer(self.in_type, self.in_channels, scan.height,
                                                   scan.width, scan.kernel, scan.stride,
                                                   scan.padding)
        wiring.connect(m, wiring.flipped(self.i), lb.i)
        self.pipeline.elaborate_into(m, lb.o, self.o)
        return m
