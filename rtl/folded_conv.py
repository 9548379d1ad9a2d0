"""The folded conv2d stream engine: a window memory in block RAM, one operand read per cycle."""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from .conv import window_pipeline
from .mac import MacBuild
from .streams import pixel_signature
from .window_memory import RowRing, WindowFetch, WindowMemory, WindowMemoryModel

__all__ = ["FoldedConvEngine"]


class FoldedConvEngine(wiring.Component):
    """A conv2d layer (docs/NETDESC.md#conv2d) as a stream engine whose area follows its MAC
    parallelism: the parameters and ports of :class:`~rtl.conv.ConvEngine`, for a ``schedule``
    with ``lanes_in`` = 1 (``lanes_out`` output channels per cycle, one operand). Its streams
    may carry channel groups (:mod:`rtl.streams`): ``in_lanes`` channels per input beat
    (default: all), and with ``grouped_output`` one output group (``lanes_out`` channels) per
    output beat rather than whole pixels.

    Organisation: a :class:`~rtl.window_memory.WindowMemory` (submodule ``window_memory``, its
    element memory ``window_memory.ring``) stores the input rows a window still needs; the
    :class:`~rtl.mac.MatVecPipeline` (submodules ``mac``, ``weights``, ``requantize``) reads
    each window's ``C * k * k`` operands from it, once per output group, instead of copying the
    window into registers: no register grows with ``C * k * k``.

    Timing (:meth:`timing_model`: the window memory, then the pipeline): a window occupies the
    MAC array ``schedule.cycles`` cycles (:attr:`cycles_per_output`); a pixel some window reads
    takes ``C`` cycles to write, the beats of others one each (:attr:`write_cycles` per tensor),
    overlapping the computation. ``ValueError`` for a schedule with ``lanes_in`` > 1, or lanes
    that do not divide the channels.
    """

    def __init__(self, *, in_shape, in_type, weights, weight_bits, bias, stride, padding,
                 acc_range, shift, relu, out_type, schedule, mac=MacBuild(), in_lanes=None,
                 grouped_output=False):
        in_channels, height, width = in_shape
        self.in_type = in_type
        self.in_channels = in_channels
        self.in_lanes = in_lanes or in_channels
        if in_channels % self.in_lanes:
            raise ValueError(f"input groups of {self.in_lanes} do not divide {in_channels} "
                             f"channels")
        self.out_channels, _, kernel, _ = weights.shape
        self.pipeline = window_pipeline(
            in_type=in_type, weights=weights, weight_bits=weight_bits, bias=bias,
            acc_range=acc_range, shift=shift, relu=relu, out_type=out_type, schedule=schedule,
            mac=mac, grouped=grouped_output)
        self.out_lanes = schedule.lanes_out if grouped_output else self.out_channels
        if schedule.lanes_in != 1:
            raise ValueError(f"a folded conv reads one operand per cycle; this schedule "
                             f"takes {schedule.lanes_in}")
        self.schedule = schedule
        self.ring = RowRing(in_channels, height, width, kernel, stride, padding)
        self.cycles_per_output = schedule.cycles
        self.write_cycles = self.ring.write_cycles(self.in_lanes)
        super().__init__({
            "i": In(pixel_signature(in_type, self.in_lanes)),
            "o": Out(pixel_signature(out_type, self.out_lanes)),
        })

    def timing_model(self, model, inputs, outputs):
        windows = model.stream(f"{outputs[0].name}.windows")
        model.add(WindowMemoryModel(self.ring, inputs[0], windows, self.in_lanes),
                  self.pipeline.timing_model(windows, outputs[0]))

    def elaborate(self, platform):
        m = Module()
        # A registered MAC array (ECP5, Xilinx) is the sign of a build for Fmax over area.
        m.submodules.window_memory = memory = WindowMemory(
            self.in_type, self.ring, self.in_lanes, registered=self.pipeline.mac.registered)
        wiring.connect(m, wiring.flipped(self.i), memory.i)
        self.pipeline.elaborate_into(m, memory.o, self.o, fetch=WindowFetch(memory))
        return m
