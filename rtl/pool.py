"""Pooling stream engines: max pooling over k x k windows, global average pooling."""

from amaranth.hdl import Module, Mux, Signal, Value, signed
from amaranth.lib import data, wiring
from amaranth.lib.wiring import In, Out

from netdesc import accumulator_range
from netdesc.arith import signed_bits_for

from .conv import check_op
from .line_buffer import LineBuffer, WindowScan, window_timing
from .requantize import Requantizer
from .streams import offered_edges, pixel_signature

__all__ = ["MaxPoolEngine", "GlobalAvgPoolEngine"]


class MaxPoolEngine(wiring.Component):
    """One maxpool2d layer (kernel k, stride s, no padding) as a stream engine.

    Ports: ``i: In(pixel_signature(type, C))``, ``o: Out(pixel_signature(type, C))`` (the
    output type equals the input's), pixels in raster order, tensors back to back.
    A :class:`~rtl.line_buffer.LineBuffer` (submodule ``line_buffer``; the attribute
    :attr:`line_buffer` is its :class:`~rtl.line_buffer.WindowScan`, for timing models)
    supplies windows; a comparator tree per channel reduces each into the output register in
    one cycle.

    Timing (output never blocked; :meth:`timing` exact): :attr:`cycles_per_output` = 1 (the
    line buffer's steps between windows, at most one per cycle, usually bound it instead);
    :meth:`input_beats_needed` ``(j)``: beats up to the one completing window ``j``;
    :attr:`latency` = 2 edges from that beat's acceptance to the output's earliest transfer;
    :attr:`max_input_rate` = 1. Slack: input flows while the previous window is being reduced;
    a completed window waits in the line buffer only while the output register is blocked.
    """

    max_input_rate = 1
    cycles_per_output = 1
    latency = 2

    def __init__(self, net, layer):
        check_op(net, layer, "maxpool2d", "MaxPoolEngine")
        self.net, self.layer = net, layer
        self.type = net.type_of(layer.inputs[0])
        channels, height, width = net.shape_of(layer.inputs[0])
        self.channels = channels
        # The walk the line buffer will take, for timing; the component is built in elaborate.
        self.line_buffer = WindowScan(height, width, layer.kernel, layer.stride, 0)
        super().__init__({
            "i": In(pixel_signature(self.type, channels)),
            "o": Out(pixel_signature(self.type, channels)),
        })

    def input_beats_needed(self, j):
        """Input beats (from the start of the tensor) accepted before output beat ``j``."""
        lb = self.line_buffer
        r, c = divmod(j, lb.out_width)
        last_row = r * lb.stride + lb.kernel - 1
        last_col = c * lb.stride + lb.kernel - 1
        return last_row * lb.width + last_col + 1

    def timing(self, tensors=1, gaps=None):
        """Exact edges ``(accepted, produced)``, as :meth:`rtl.conv.ConvEngine.timing`."""
        accepted, taken = window_timing(self.line_buffer, tensors, gaps, 1)
        return accepted, [x + 1 for x in taken]

    def elaborate(self, platform):
        m = Module()
        scan = self.line_buffer
        m.submodules.line_buffer = lb = LineBuffer(self.type, self.channels, scan.height,
                                                   scan.width, scan.kernel, scan.stride)
        wiring.connect(m, wiring.flipped(self.i), lb.i)
        k = self.layer.kernel
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


class GlobalAvgPoolEngine(wiring.Component):
    """One global_avg_pool layer: ``y[c] = sat(round_shift(multiplier * Σ x[c], shift))``.

    Ports: ``i: In(pixel_signature(in_type, C))``, H*W beats per tensor in raster order;
    ``o: Out(pixel_signature(layer.type, C))``, one beat per tensor (the ``[C]`` output).
    Per-channel running sums (exactly as wide as the input range times H*W needs) take one beat
    per cycle; the last beat's sum is scaled and requantized (submodule ``requantize``) into the
    output register.

    Timing (output never blocked; :meth:`timing` exact): :attr:`cycles_per_output` = H*W;
    :meth:`input_beats_needed` ``(0)`` = H*W; :attr:`latency` = 1 edge from the last beat's
    acceptance to the output's earliest transfer; :attr:`max_input_rate` = 1; input stops only
    while the output beat is blocked.
    """

    max_input_rate = 1
    latency = 1

    def __init__(self, net, layer):
        check_op(net, layer, "global_avg_pool", "GlobalAvgPoolEngine")
        self.net, self.layer = net, layer
        self.in_type = net.type_of(layer.inputs[0])
        channels, height, width = net.shape_of(layer.inputs[0])
        self.channels = channels
        self.beats = height * width
        self.cycles_per_output = self.beats
        t = self.in_type
        self.sum_width = signed_bits_for(self.beats * t.min, self.beats * t.max)
        self.acc_width = signed_bits_for(*accumulator_range(net, layer))
        super().__init__({
            "i": In(pixel_signature(self.in_type, channels)),
            "o": Out(pixel_signature(layer.type, channels)),
        })

    def input_beats_needed(self, j):
        """Input beats of the tensor accepted before output beat ``j`` (only ``j == 0``)."""
        if j != 0:
            raise IndexError(f"global_avg_pool has one output beat per tensor, not beat {j}")
        return self.beats

    def timing(self, tensors=1, gaps=None):
        """Exact edges ``(accepted, produced)``, as :meth:`rtl.conv.ConvEngine.timing`."""
        total = tensors * self.beats
        offer = offered_edges(gaps)
        accepted = []
        for n in range(total):
            accepted.append(offer(n, accepted[-1] if accepted else None))
        produced = [accepted[(t + 1) * self.beats - 1] + self.latency for t in range(tensors)]
        return accepted, produced

    def elaborate(self, platform):
        m = Module()
        layer = self.layer
        m.submodules.requantize = rq = Requantizer(self.acc_width, layer.shift, layer.type,
                                                   layer.relu, lanes=self.channels)
        sums = Signal(data.ArrayLayout(signed(self.sum_width), self.channels))
        beat = Signal(range(self.beats))
        last = beat == self.beats - 1
        m.d.comb += self.i.ready.eq(~self.o.valid | self.o.ready)
        for ch in range(self.channels):
            total = sums[ch] + self.i.payload[ch]
            m.d.comb += rq.i[ch].eq(total * layer.multiplier)
            with m.If(self.i.valid & self.i.ready):
                m.d.sync += sums[ch].eq(Mux(last, 0, total))
        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += beat.eq(Mux(last, 0, beat + 1))
            with m.If(last):
                m.d.sync += [Value.cast(self.o.payload).eq(Value.cast(rq.o)), self.o.valid.eq(1)]
        return m
