"""Line buffer: a stream of pixels in, a stream of k x k windows (padded with a constant) out.

Padded positions read as the buffer's pad value: 0 for a convolution, the type's minimum for
max pooling. The buffer walks the *padded* image in raster order, one step per cycle at most. A
step at a real pixel position accepts one input beat; a step at a right or bottom padding
position accepts nothing and shifts in the pad value. Top and left padding cost no steps: rows
above the image are masked to the pad value as a column enters the window, and the window is
set to it at the start of every row.
Each step shifts one new column (k pixels) into the window register; the k-1 upper pixels of
that column come from a block RAM of k-1 rows (one write port, one synchronous read port, so
Yosys maps it to BRAM), the lowest is the new pixel.

A step that completes the window of an output position leaves that window in the register
(``o.valid``); the next step waits until the window has been taken (it may happen in the same
cycle as the transfer), so the buffer runs one window ahead of its consumer and, between two
windows, absorbs every input beat up to the one completing the next window.
"""

from amaranth.hdl import Module, Mux, Signal, Value
from amaranth.lib import data, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .position_flags import PositionFlags
from .streams import pixel_layout, pixel_signature
from .timing_model import Block

__all__ = ["WindowScan", "LineBuffer", "LineBufferModel", "window_layout", "conv_output_size"]


def window_layout(ttype, channels, kernel):
    """A k x k window of pixels, indexed ``[u][v][i]``: kernel row, kernel column, channel."""
    return data.ArrayLayout(data.ArrayLayout(pixel_layout(ttype, channels), kernel), kernel)


def conv_output_size(size, kernel, stride, padding):
    """Output rows (or columns) of a sliding window: ``floor((size + 2p - k) / s) + 1``."""
    return (size + 2 * padding - kernel) // stride + 1


class WindowScan:
    """The walk of a :class:`LineBuffer` over a ``height`` x ``width`` image (plain Python, for
    timing models): which padded positions it steps through, which consume an input beat and
    which complete an output window.

    Step positions (padded coordinates) run over rows ``padding .. last_row`` and columns
    ``padding .. last_col`` in raster order; :attr:`steps_per_tensor` counts them. Raises
    ``ValueError`` for a geometry no conv2d / maxpool2d layer can have.
    """

    def __init__(self, height, width, kernel, stride=1, padding=0):
        if kernel < 1:
            raise ValueError(f"kernel must be at least 1, not {kernel}")
        if stride not in (1, 2):
            raise ValueError(f"stride must be 1 or 2, not {stride}")
        if not 0 <= padding <= kernel - 1:
            raise ValueError(f"padding must be in 0..{kernel - 1} for kernel {kernel}, not {padding}")
        if height + 2 * padding < kernel or width + 2 * padding < kernel:
            raise ValueError(f"a {height}x{width} image with padding {padding} is smaller than "
                             f"kernel {kernel}")
        self.height, self.width = height, width
        self.kernel, self.stride, self.padding = kernel, stride, padding
        self.out_height = conv_output_size(height, kernel, stride, padding)
        self.out_width = conv_output_size(width, kernel, stride, padding)
        k, s, p = kernel, stride, padding
        # The last padded row / column an output window reaches; real rows and columns beyond
        # it are still stepped over (their beats must be consumed).
        self.last_out_row = (self.out_height - 1) * s + k - 1
        self.last_out_col = (self.out_width - 1) * s + k - 1
        self.last_row = max(height + p - 1, self.last_out_row)
        self.last_col = max(width + p - 1, self.last_out_col)
        self.row_steps = self.last_col - p + 1
        self.steps_per_tensor = (self.last_row - p + 1) * self.row_steps

    def step_positions(self):
        """The padded ``(row, col)`` of every step of one tensor, in order."""
        p = self.padding
        return [(r, c) for r in range(p, self.last_row + 1) for c in range(p, self.last_col + 1)]

    def is_real(self, r, c):
        """Whether the step at padded ``(r, c)`` consumes an input beat."""
        return self._real_along(r, self.height) and self._real_along(c, self.width)

    def is_output(self, r, c):
        """Whether the step at padded ``(r, c)`` completes an output window."""
        return (self._output_along(r, self.last_out_row) and
                self._output_along(c, self.last_out_col))

    def _real_along(self, n, size):
        """Whether padded row (column) ``n`` of an image ``size`` rows high (columns wide) is
        one of the image's."""
        return n < size + self.padding

    def _output_along(self, n, last):
        """Whether padded row (column) ``n`` ends a window's rows (columns), up to ``last``."""
        k, s = self.kernel, self.stride
        return k - 1 <= n <= last and (n - k + 1) % s == 0


class LineBuffer(WindowScan, wiring.Component):
    """k x k windows of a ``[channels, height, width]`` image streamed in raster order, walking
    the image as its :class:`WindowScan` says; every channel of a padded position reads as
    ``pad_value`` (of ``ttype``).

    Ports: ``i: In(pixel_signature(ttype, channels))`` (one pixel per beat, raster order);
    ``o: Out(stream.Signature(window_layout(ttype, channels, kernel)))``, one window per output
    position in raster order, ``window[u][v]`` being padded input pixel ``(r*s + u, c*s + v)``.

    Throughput: one step per cycle; ``i.ready`` is high at real-pixel steps while the window
    register is free or being taken. Latency: a window is valid in the cycle after the step that
    completes it. Tensors follow each other without gaps or reset.
    """

    def __init__(self, ttype, channels, height, width, kernel, stride=1, padding=0,
                 pad_value=0):
        WindowScan.__init__(self, height, width, kernel, stride, padding)
        self.ttype = ttype
        self.channels = channels
        self.pad_value = pad_value
        wiring.Component.__init__(self, {
            "i": In(pixel_signature(ttype, channels)),
            "o": Out(stream.Signature(window_layout(ttype, channels, kernel))),
        })

    def elaborate(self, platform):
        m = Module()
        k, p = self.kernel, self.padding
        pix = pixel_layout(self.ttype, self.channels)
        pad = Value.cast(pix.const([self.pad_value] * self.channels))

        row = Signal(range(self.last_row + 1), init=p)
        col = Signal(range(self.last_col + 1), init=p)
        # What the position is (real, completing a window, first or last of its row or image,
        # above the image for a kernel row), in registers loaded with the next position's at
        # each step: no comparator lies between the counters and the step's fan-out.
        row_is = PositionFlags(row, self.last_row,
                               real=lambda r: self._real_along(r, self.height),
                               output=lambda r: self._output_along(r, self.last_out_row),
                               last=lambda r: r == self.last_row,
                               **{f"above_{u}": (lambda r, u=u: r < p + k - 1 - u)
                                  for u in range(k - 1)})
        col_is = PositionFlags(col, self.last_col,
                               real=lambda c: self._real_along(c, self.width),
                               output=lambda c: self._output_along(c, self.last_out_col),
                               first=lambda c: c == p, last=lambda c: c == self.last_col,
                               before_last=lambda c: c == self.last_col - 1)
        real = row_is.real & col_is.real

        free = ~self.o.valid | self.o.ready
        step = Signal()
        m.d.comb += [
            step.eq(free & (~real | self.i.valid)),
            self.i.ready.eq(free & real),
        ]

        next_col = Mux(col_is.last, p, col + 1)
        with m.If(step):
            m.d.sync += [self.o.valid.eq(row_is.output & col_is.output), col.eq(next_col)]
            col_is.load(m, next_col)
            with m.If(col_is.last):
                next_row = Mux(row_is.last, p, row + 1)
                m.d.sync += row.eq(next_row)
                row_is.load(m, next_row)
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        # The new column entering the window: pixels of padded rows row-k+1 .. row.
        pixel = Signal(pix)
        m.d.comb += pixel.eq(Mux(real, Value.cast(self.i.payload), pad))
        column = [Signal(pix, name=f"column_{u}") for u in range(k)]
        m.d.comb += column[k - 1].eq(pixel)
        if k > 1:
            strip_layout = data.ArrayLayout(pix, k - 1)
            m.submodules.rows = rows = Memory(shape=strip_layout, depth=self.row_steps, init=[])
            wr = rows.write_port()
            # With a single column the read of the next step's strip hits the address being
            # written; only then must the read see the new data.
            rd = rows.read_port(transparent_for=(wr,) if self.row_steps == 1 else ())
            # This step's column in the memory (col - p) and the next step's, in registers: no
            # carry chain between the column counter and the read port (ResNet-8-shaped's stem
            # at 3 MACs closed at 95.1 MHz on col + 1 - p into a LUT-RAM's read address).
            address = Signal(range(self.row_steps))
            next_address = Signal(range(self.row_steps), init=1 % self.row_steps)
            with m.If(step):
                m.d.sync += [address.eq(next_address),
                             next_address.eq(Mux(col_is.before_last, 0, next_address + 1))]
            m.d.comb += [
                rd.addr.eq(Mux(step, next_address, address)),
                rd.en.eq(1),
                wr.addr.eq(address),
                wr.en.eq(step),
            ]
            for u in range(k - 1):
                # Padded row row-k+1+u lies in the top padding (or above the image) when it is
                # below p; its memory word is stale data from the previous tensor.
                above = getattr(row_is, f"above_{u}")
                m.d.comb += column[u].eq(Mux(above, pad, Value.cast(rd.data[u])))
            for u in range(k - 1):
                m.d.comb += wr.data[u].eq(column[u + 1])

        window = self.o.payload
        with m.If(step):
            for u in range(k):
                for v in range(k - 1):
                    # A row's first step sets the columns left of it to the pad value: left padding.
                    m.d.sync += window[u][v].eq(Mux(col_is.first, pad,
                                                    Value.cast(window[u][v + 1])))
                m.d.sync += window[u][k - 1].eq(column[u])
        return m

class LineBufferModel(Block):
    """The timing of a :class:`LineBuffer`: one step per cycle over its step positions (a real
    position takes an input beat), holding a completed window until it is taken. ``scan`` is
    its :class:`WindowScan`."""

    def __init__(self, scan, i, o):
        self.i, self.o = i, o
        self.steps = [(scan.is_real(r, c), scan.is_output(r, c)) for r, c in scan.step_positions()]
        self.pos = 0
        self.full = False

    def _free(self):
        return not self.full or self.o.ready

    def forward(self):
        self.o.valid = self.full

    def backward(self):
        self.i.ready = self._free() and self.steps[self.pos][0]

    def update(self):
        real, output = self.steps[self.pos]
        if self._free() and (not real or self.i.valid):
            self.full = output
            self.pos = (self.pos + 1) % len(self.steps)
        elif self.o.ready:
            self.full = False

    def countdown(self):
        # A padding step changes state without any beat moving.
        return 1 if self._free() and not self.steps[self.pos][0] else None

    def advance(self, n):
        # Without beats moving only a padding step changes anything, and then n == 1.
        if self.countdown():
            self.update()
