"""Pooling stream engines: max pooling over k x k windows, global average pooling."""

from amaranth.hdl import Array, Cat, Module, Mux, Signal, Value, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from netdesc.arith import signed_bits_for

from .line_buffer import LineBuffer, LineBufferModel, WindowScan
from .requantize import Requantizer
from .streams import beat_shape, pixel_signature
from .timing_model import Block, Register

__all__ = ["MaxPoolEngine", "GlobalAvgPoolEngine", "avg_pool_cycles"]


class MaxPoolEngine(wiring.Component):
    """A maxpool2d layer (docs/NETDESC.md#maxpool2d; kernel k, stride s, padding p) as a
    stream engine, on ``in_shape`` ``[C, H, W]`` of ``ttype`` (the output's type too).

    Ports: ``i: In(pixel_signature(ttype, C))``, ``o: Out(pixel_signature(ttype, C))``, pixels
    in raster order, tensors back to back. A :class:`~rtl.line_buffer.LineBuffer` (submodule
    ``line_buffer``, walking the image as :attr:`scan` says) supplies windows padded with the
    type's minimum, which gives the spec's −∞ padding since every window holds a real element.
    A comparator tree per channel reduces each window into the output register in one cycle.

    Timing (:meth:`timing_model`: the line buffer's walk, then the output register): input
    flows while the previous window is being reduced; a completed window waits in the line
    buffer only while the output register is blocked. :attr:`cycles_per_output` = 1 (the line
    buffer's steps between windows, stride gaps and padding columns among them, usually
    bound it instead).
    """

    cycles_per_output = 1

    def __init__(self, *, in_shape, ttype, kernel, stride, padding):
        channels, height, width = in_shape
        self.type = ttype
        self.channels = channels
        self.kernel = kernel
        # The walk the line buffer will take; the component is built in elaborate.
        self.scan = WindowScan(height, width, kernel, stride, padding)
        super().__init__({
            "i": In(pixel_signature(ttype, channels)),
            "o": Out(pixel_signature(ttype, channels)),
        })

    def timing_model(self, model, inputs, outputs):
        windows = model.stream(f"{outputs[0].name}.windows")
        model.add(LineBufferModel(self.scan, inputs[0], windows), Register([windows], outputs[0]))

    def elaborate(self, platform):
        m = Module()
        scan = self.scan
        m.submodules.line_buffer = lb = LineBuffer(self.type, self.channels, scan.height,
                                                   scan.width, scan.kernel, scan.stride,
                                                   scan.padding, pad_value=self.type.min)
        wiring.connect(m, wiring.flipped(self.i), lb.i)
        k = self.kernel
        m.d.comb += lb.o.ready.eq(~self.o.valid | self.o.ready)
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(lb.o.valid & lb.o.ready):
            m.d.sync += self.o.valid.eq(1)
            for ch in range(self.channels):
                values = [lb.o.payload[u][v][ch] for u in range(k) for v in range(k)]
                while len(values) > 1:  # a balanced tree of comparators
                    pairs = [Mux(a > b, a, b) for a, b in zip(values[0::2], values[1::2])]
                    values = pairs + values[len(pairs) * 2:]
                m.d.sync += self.o.payload[ch].eq(values[0])
        return m


def avg_pool_cycles(in_shape, lanes=None):
    """Cycles per tensor of a :class:`GlobalAvgPoolEngine` on ``in_shape`` ``[C, H, W]`` in
    groups of ``lanes`` channels (default: all): its input beats, then one cycle per channel to
    scale the sums."""
    return beat_shape(in_shape, lanes)[0] + in_shape[0]


class GlobalAvgPoolEngine(wiring.Component):
    """A global_avg_pool layer (docs/NETDESC.md#global_avg_pool):
    ``y[c] = sat(round_shift(multiplier * Σ x[c], shift))`` on ``in_shape`` ``[C, H, W]`` of
    ``in_type``, with the accumulator range ``acc_range`` and the output stage ``shift``,
    ``relu``, ``out_type``.

    Ports: ``i: In(pixel_signature(in_type, in_lanes))``, ``H*W*C/in_lanes`` beats per tensor
    in raster order (:mod:`rtl.streams`; ``in_lanes`` default: C, one pixel per beat);
    ``o: Out(pixel_signature(out_type, C))``, one beat per tensor (the ``[C]`` output).
    Per-channel running sums (exactly as wide as the input range times H*W needs) take one beat
    per cycle, ``in_lanes`` adders wide: the sums rotate by a group per beat, so that the
    adders always meet the beat's channels; after the last beat one channel per cycle is scaled (one multiplier) into a
    register, and input waits meanwhile; the cycle after, it is requantized (submodule
    ``requantize``, one lane) into its lane of the output register. The register keeps the
    channel multiplexer and the multiplier off the requantizer's path; the last channel's
    requantization overlaps the next tensor's first beat. ``registered`` (a build for a fast
    clock, :class:`rtl.mac.MacBuild`): the requantized lane passes a register of its own, so
    that the requantizer's adder and saturation and the output register, placed by its
    consumer, are on separate paths: one more cycle from a channel's scaling to its lane. No
    channel is scaled while a tensor's last lane is on its way to the output register.

    Timing (:meth:`timing_model`, :class:`SumModel`): :attr:`cycles_per_output` =
    H*W*C/in_lanes + C; the output beat is valid C + 1 (registered: C + 2) cycles after the
    last input beat, once the previous one has been taken.
    """

    def __init__(self, *, in_shape, in_type, multiplier, acc_range, shift, relu, out_type,
                 in_lanes=None, registered=False):
        channels, height, width = in_shape
        self.registered = registered
        self.in_type = in_type
        self.channels = channels
        self.beats, self.in_lanes = beat_shape(in_shape, in_lanes)
        self.cycles_per_output = avg_pool_cycles(in_shape, in_lanes)
        self.multiplier, self.shift, self.relu, self.out_type = multiplier, shift, relu, out_type
        t = in_type
        pixels = height * width
        self.sum_width = signed_bits_for(pixels * t.min, pixels * t.max)
        self.acc_width = signed_bits_for(*acc_range)
        super().__init__({
            "i": In(pixel_signature(in_type, self.in_lanes)),
            "o": Out(pixel_signature(out_type, channels)),
        })

    def timing_model(self, model, inputs, outputs):
        model.add(SumModel(inputs[0], outputs[0], self.beats, self.channels,
                           1 + self.registered))

    def elaborate(self, platform):
        m = Module()
        m.submodules.requantize = rq = Requantizer(self.acc_width, self.shift, self.out_type,
                                                   self.relu)
        sums = Signal(data.ArrayLayout(signed(self.sum_width), self.channels))
        beat = Signal(range(self.beats))
        last = beat == self.beats - 1
        busy = Signal()  # scaling the finished sums, channel by channel
        ch = Signal(range(self.channels))
        m.d.comb += self.i.ready.eq(~busy)
        lanes = self.in_lanes
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += beat.eq(Mux(last, 0, beat + 1))
            with m.If(last):
                m.d.sync += busy.eq(1)
            # The group at the front takes the beat and moves to the back: after a pixel's
            # C / lanes beats every sum is back in its place.
            for c in range(self.channels):
                if c < self.channels - lanes:
                    m.d.sync += sums[c].eq(sums[c + lanes])
                else:
                    j = c - (self.channels - lanes)
                    m.d.sync += sums[c].eq(sums[j] + self.i.payload[j])
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        scaled = Signal(signed(self.acc_width))
        scaled_ch = Signal(range(self.channels))
        scaled_valid = Signal()
        m.d.sync += scaled_valid.eq(0)
        # The requantized lane on its way to the output register: (lane, channel, valid) per
        # stage.
        stages = [(rq.o[0], scaled_ch, scaled_valid)]
        if self.registered:
            held = (Signal.like(rq.o[0], name="quantized"), Signal.like(scaled_ch),
                    Signal(name="quantized_valid"))
            m.d.sync += [r.eq(v) for r, v in zip(held, stages[0])]
            stages.append(held)
        last_on_its_way = Cat(valid & (c == self.channels - 1) for _, c, valid in stages).any()
        # Scale a channel while the output register is free, or its beat is taken at this
        # edge, and no last lane is on its way: it then stays free until this tensor's last
        # lane fills it.
        with m.If(busy & (~self.o.valid | self.o.ready) & ~last_on_its_way):
            m.d.sync += [scaled.eq(Array(sums)[ch] * self.multiplier), scaled_ch.eq(ch),
                         scaled_valid.eq(1)]
            with m.If(ch == self.channels - 1):
                m.d.sync += [ch.eq(0), busy.eq(0), Value.cast(sums).eq(0)]
            with m.Else():
                m.d.sync += ch.eq(ch + 1)
        m.d.comb += rq.i[0].eq(scaled)
        lane, lane_ch, lane_valid = stages[-1]
        with m.If(lane_valid):
            for c in range(self.channels):
                with m.If(lane_ch == c):
                    m.d.sync += self.o.payload[c].eq(lane)
            with m.If(lane_ch == self.channels - 1):
                m.d.sync += self.o.valid.eq(1)
        return m


class SumModel(Block):
    """The timing of a :class:`GlobalAvgPoolEngine`: takes ``beats`` beats (of any width), then
    scales its ``channels`` sums one per cycle while the output register is free or being
    emptied and no last lane is on its way (input waits); ``stages`` cycles after the last,
    its requantized lane fills the output register."""

    def __init__(self, i, o, beats, channels, stages=1):
        self.i, self.o, self.beats, self.channels = i, o, beats, channels
        self.count = 0
        self.busy = False
        self.ch = 0
        self.lasts = [False] * stages  # per stage: it holds the last channel's lane
        self.full = False

    def forward(self):
        self.o.valid = self.full

    def backward(self):
        self.i.ready = not self.busy

    def _scaling(self):
        return self.busy and (not self.full or self.o.ready) and not any(self.lasts)

    def update(self):
        full = (self.full and not self.o.ready) or self.lasts[-1]
        scaling = self._scaling()
        self.lasts = [False] + self.lasts[:-1]
        if scaling:
            if self.ch == self.channels - 1:
                self.busy, self.ch, self.lasts[0] = False, 0, True
            else:
                self.ch += 1
        elif self.i.fire:
            self.count = (self.count + 1) % self.beats
            self.busy = self.count == 0
        self.full = full

    def countdown(self):
        # Scaling moves no beat until its last channel fills the output register.
        if any(self.lasts):
            return 1
        return max(1, self.channels - 1 - self.ch) if self._scaling() else None

    def advance(self, n):
        if n == 1:
            self.update()
        elif self._scaling():
            self.ch += n
