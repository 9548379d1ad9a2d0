"""The conv2d stream engine: line buffer, weight ROM, MAC array, bias, requantizer."""

from functools import cached_property

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from netdesc import accumulator_range
from common.errors import TailorError

from .line_buffer import LineBuffer, WindowScan, window_timing
from .mac import PIPELINE_LATENCY, MacSchedule, MatVecPipeline
from .streams import pixel_signature

__all__ = ["ConvEngine"]


def where(net, layer):
    """The start of an engine's error messages: file and layer."""
    return f"{net.source}: layer '{layer.name}'"


def check_op(net, layer, op, engine):
    if layer.op != op:
        raise TailorError(f"{where(net, layer)}: {engine} implements {op}, not {layer.op}")


class ConvEngine(wiring.Component):
    """One conv2d layer of ``net`` as a stream engine.

    Ports: ``i: In(pixel_signature(in_type, in_channels))``, the input feature map one pixel
    per beat in raster order; ``o: Out(pixel_signature(layer.type, out_channels))``, the output
    feature map likewise. Tensors follow each other back to back, without reset.

    Organisation: a :class:`~rtl.line_buffer.LineBuffer` (submodule ``line_buffer``; the
    attribute :attr:`line_buffer` is its :class:`~rtl.line_buffer.WindowScan`, for timing
    models) hands k x k windows to a :class:`~rtl.mac.MatVecPipeline` (submodules ``mac``,
    ``weights``, ``requantize``) with ``parallelism`` MACs per cycle: a grid of
    ``schedule.lanes_out`` output channels x ``schedule.lanes_in`` window operands (of
    ``in_channels * k * k``), the fastest grid :meth:`~rtl.mac.MacSchedule.choose` finds. The
    pipeline copies each window into an operand register (``in_channels * k * k`` elements) so
    the line buffer can move on.

    Timing (output never blocked; :meth:`timing` is the exact model, tested against simulation):

    - :attr:`cycles_per_output`: a window occupies the MAC array ``schedule.cycles`` cycles, so
      output beats are at least that far apart; exactly that in steady state unless the line
      buffer needs more steps (stride 2, padding columns) between two windows than that.
    - :meth:`input_beats_needed` ``(j)``: input beats accepted before output ``j`` can exist.
    - :attr:`latency`: edges from the acceptance of the input beat that completes a window to
      the earliest transfer of its output beat, when the engine is idle: ``cycles + 4``
      (into the operand register, ``cycles`` MAC cycles, accumulate, requantize). Outputs
      whose window ends in right or bottom padding add one edge per padding step after that
      beat (:meth:`output_latency`).
    - :attr:`max_input_rate`: 1 beat per cycle.
    - Slack: the line buffer takes input while the MAC array computes, up to the beat that
      completes the next window; that window then waits in the window register until the array
      takes it (in the last cycle of the current window), and input stops meanwhile.
    """

    max_input_rate = 1

    def __init__(self, net, layer, *, parallelism=1):
        check_op(net, layer, "conv2d", "ConvEngine")
        self.net, self.layer = net, layer
        self.in_type = net.type_of(layer.inputs[0])
        in_channels, height, width = net.shape_of(layer.inputs[0])
        self.in_channels = in_channels
        self.out_channels = layer.shape[0]
        k = layer.kernel
        operands = in_channels * k * k
        self.schedule = MacSchedule.choose(self.out_channels, operands, parallelism,
                                           where(net, layer))
        # The walk the line buffer will take, for timing; the component is built in elaborate.
        self.line_buffer = WindowScan(height, width, layer.kernel, layer.stride, layer.padding)
        self.parallelism = parallelism
        # Operand order of a window: (u * k + v) * in_channels + i, as window_layout packs it.
        matrix = layer.weights.transpose(0, 2, 3, 1).reshape(self.out_channels, operands)
        self.pipeline = MatVecPipeline(layer=layer, operand_type=self.in_type,
                                       matrices=matrix[None], schedule=self.schedule,
                                       acc_range=accumulator_range(net, layer))
        self.cycles_per_output = self.schedule.cycles
        self.latency = 1 + self.schedule.cycles + PIPELINE_LATENCY
        super().__init__({
            "i": In(pixel_signature(self.in_type, in_channels)),
            "o": Out(pixel_signature(layer.type, self.out_channels)),
        })

    @cached_property
    def _window_steps(self):
        """Per output beat: (real steps up to its window, padding steps after the last one)."""
        lb = self.line_buffer
        result, real, pads = [], 0, 0
        for r, c in lb.step_positions():
            if lb.is_real(r, c):
                real, pads = real + 1, 0
            else:
                pads += 1
            if lb.is_output(r, c):
                result.append((real, pads))
        return result

    def input_beats_needed(self, j):
        """Input beats (from the start of the tensor) accepted before output beat ``j``."""
        return self._window_steps[j][0]

    def output_latency(self, j):
        """:attr:`latency` plus the padding steps between output ``j``'s last input beat and
        its window."""
        return self.latency + self._window_steps[j][1]

    def timing(self, tensors=1, gaps=None):
        """Exact edges ``(accepted, produced)`` of every input beat's acceptance and every output
        beat's earliest transfer, for ``tensors`` tensors back to back, the output never blocked
        and the producer idle ``gaps[t][n]`` cycles before beat ``n`` of tensor ``t``."""
        accepted, taken = window_timing(self.line_buffer, tensors, gaps, self.schedule.cycles)
        return accepted, [x + self.schedule.cycles + PIPELINE_LATENCY for x in taken]

    def elaborate(self, platform):
        m = Module()
        scan = self.line_buffer
        m.submodules.line_buffer = lb = LineBuffer(self.in_type, self.in_channels, scan.height,
                                                   scan.width, scan.kernel, scan.stride,
                                                   scan.padding)
        wiring.connect(m, wiring.flipped(self.i), lb.i)
        self.pipeline.elaborate_into(m, lb.o, self.o)
        return m
