"""Window memory: a ring of input rows in block RAM, read one operand per cycle.

The folded conv engine's alternative to a :class:`~rtl.line_buffer.LineBuffer`: no window is
ever held in registers. Input pixels, whole or in channel groups (:mod:`rtl.streams`), are
written into a memory of single elements, channel by channel (one element per cycle, ``C``
cycles per pixel); a window is handed to the MAC pipeline
as a small descriptor (its output row, column and the ring slot of its first row) once every
input pixel it covers has been written, and the pipeline then reads its ``k * k * C`` operands
from the memory, one per cycle, in the order ``(u, v, i)`` of the weight ROM.

Memory layout: ``rows`` ring slots of ``W * C`` elements each; input row ``R`` of the stream
(counted over all tensors) lies in slot ``R mod rows``, pixel ``x`` channel ``i`` at
``slot * W * C + x * C + i``. ``k`` slots hold the rows of the window being read, ``s`` more
let the writer fill the next output row's new rows meanwhile (``rows`` = ``k + s``; more when a
tensor ends in rows no window reads, so that the next tensor's first rows fit beside them).

Flow control counts rows relative to windows (all tensors form one row sequence, so tensors
follow each other without reset): a row is written only when its slot no longer holds a row of
the window being read, and a window is handed out when the writer has passed its last real
pixel. Pixels no window reads (rows and columns a stride skips) are accepted a beat per cycle
and not written.
"""

from amaranth.hdl import Array, Const, Module, Mux, Signal, Value, signed
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .line_buffer import WindowScan
from .mac import delayed
from .position_flags import flag_bits
from .registered_ram import registered_ram
from .streams import pixel_signature
from .timing_model import Block

__all__ = ["RowRing", "WindowMemory", "WindowMemoryModel", "WindowFetch"]


class RowRing(WindowScan):
    """The geometry of a :class:`WindowMemory` over a ``[channels, height, width]`` image and a
    ``kernel`` x ``kernel`` window (``stride``, ``padding``): ring slots, which pixels are
    read, and per output row / column the range of real kernel rows / columns."""

    def __init__(self, channels, height, width, kernel, stride=1, padding=0):
        super().__init__(height, width, kernel, stride, padding)
        self.channels = channels
        k, s, p = kernel, stride, padding
        # Kernel rows u in [lo, hi) of output row r fall on real input rows.
        self.row_lo = [max(0, p - r * s) for r in range(self.out_height)]
        self.row_hi = [min(k, height + p - r * s) for r in range(self.out_height)]
        self.col_lo = [max(0, p - c * s) for c in range(self.out_width)]
        self.col_hi = [min(k, width + p - c * s) for c in range(self.out_width)]
        self.row_used = [any(r * s - p <= y < r * s - p + k for r in range(self.out_height))
                         for y in range(height)]
        self.col_used = [any(c * s - p <= x < c * s - p + k for c in range(self.out_width))
                         for x in range(width)]
        # Rows from one window's first row to the next one's: s within a tensor; from the last
        # output row to the next tensor's first (its top padding may reach back into this one).
        self.next_tensor_step = height - (self.out_height - 1) * s
        # The slots of a window still being read and of every row up to the last one the next
        # window reads: k + s within a tensor, more where a tensor ends in rows no window reads.
        self.rows = max(k + s, self.next_tensor_step + self.needed_row(0) + 1)
        self.row_elements = width * channels
        self.depth = self.rows * self.row_elements

    def window_step(self, r):
        """Rows from the first row of output row ``r``'s windows to the next output row's."""
        return self.next_tensor_step if r == self.out_height - 1 else self.stride

    def needed_row(self, r):
        """Last input row a window of output row ``r`` reads, relative to its first row."""
        return self.row_hi[r] - 1

    def needed_col(self, c):
        """Last input column a window of output column ``c`` reads (absolute)."""
        return c * self.stride - self.padding + self.col_hi[c] - 1

    def write_cycles(self, lanes=None):
        """Cycles the writer needs per tensor of ``lanes`` channels per beat (default: all):
        ``C`` per pixel read, one per beat of a pixel skipped."""
        used = sum(self.row_used) * sum(self.col_used)
        beats = self.channels // (lanes or self.channels)
        return used * self.channels + (self.height * self.width - used) * beats


def descriptor_layout(ring):
    """A window descriptor: its output row and column, the ring slot of its first input row."""
    return data.StructLayout({"row": range(ring.out_height), "col": range(ring.out_width),
                              "slot": range(ring.rows)})


def _lead_range(ring):
    # Rows the writer can be ahead of (or behind) a window's first row.
    span = ring.height + ring.rows + ring.kernel + ring.stride + ring.padding
    return signed(max(span, 1).bit_length() + 1)


def _ring_add(slot, n, size):
    """``(slot + n) mod size`` for a ``slot`` below ``size`` and a constant ``n``."""
    n %= size
    return Mux(slot >= size - n, slot - (size - n), slot + n) if n else slot


class WindowMemory(wiring.Component):
    """The writer and window hand-out of the module docstring over a :class:`RowRing`.

    Ports: ``i: In(pixel_signature(ttype, lanes))``, pixels in raster order in groups of
    ``lanes`` channels (default: all ``C``); ``o``: a stream of
    window descriptors (``row``, ``col`` of the output position, ``slot`` of its first input
    row, which may lie in the top padding), in raster order; the memory's read port
    ``read_addr`` (``In``) and ``read_data`` (``Out``, the element at the address of the
    previous cycle: the port reads every cycle, so no enable reaches the block RAM).

    Timing (:class:`WindowMemoryModel`): a beat of a pixel read by some window is taken in the
    last of ``lanes`` cycles, one element written per cycle, from its row's first pixel on only
    once its slot is free; beats of other pixels are taken in one cycle. A window is valid in the cycle after
    the write of its last real pixel, and the next one may be valid in the cycle it is taken.

    ``registered``: the flow control's comparisons (a slot is free; the writer has passed the
    window's last pixel) are kept in registers, updated beside the handshakes, rather than
    computed after them: a flag, and the writer's distance to the window's last row and
    column, whose signs and zeros make the window's valid without a comparator. A shorter path
    for a few more flip-flops (on the ECP5 the engine's longest path was this comparator chain
    into the hand-out's handshake; on the iCE40 the comparators are smaller). Same timing.
    """

    def __init__(self, ttype, ring, lanes=None, registered=False):
        self.ttype, self.ring = ttype, ring
        self.lanes = lanes or ring.channels
        self.registered = registered
        super().__init__({
            "i": In(pixel_signature(ttype, self.lanes)),
            "o": Out(stream.Signature(descriptor_layout(ring))),
            "read_addr": In(range(ring.depth)),
            "read_data": Out(ttype.bits),
        })

    def elaborate(self, platform):
        m = Module()
        ring, bits = self.ring, self.ttype.bits
        C, W, H = ring.channels, ring.width, ring.height
        # Never read at the edge that writes it: see the module docstring's flow control.
        mem, read_addr, read_data = registered_ram(m, "ring", bits, ring.depth)
        wr = mem.write_port()
        m.d.comb += [read_addr.eq(self.read_addr), self.read_data.eq(read_data)]

        # Rows of the writer ahead of the first row of the next window to hand out (lead)
        # and of the last one handed out (held): the pipeline is reading that one.
        lead = Signal(_lead_range(ring), init=ring.padding)
        held = Signal(_lead_range(ring), init=ring.padding)

        # Writer: element ``lane`` of beat ``part`` of pixel (x, y).
        lanes = self.lanes
        parts = C // lanes
        x = Signal(range(W))
        y = Signal(range(H))
        lane = Signal(range(lanes))
        part = Signal(range(parts))
        address = Signal(range(ring.depth))
        wslot = Signal(range(ring.rows))  # the slot of row y
        used = flag_bits(ring.row_used).bit_select(y, 1) & flag_bits(ring.col_used).bit_select(x, 1)
        if self.registered:  # held < rows, kept up to date with held below
            free = Signal(init=ring.padding < ring.rows)
        else:
            free = held < ring.rows
        writing = self.i.valid & free & used
        m.d.comb += [
            self.i.ready.eq(free & (~used | (lane == lanes - 1))),
            wr.addr.eq(address),
            wr.data.eq(Value.cast(self.i.payload).word_select(lane, bits)),
            wr.en.eq(writing),
        ]
        taken = self.i.valid & self.i.ready
        pixel_done = taken & (part == parts - 1)
        row_done = Signal()
        m.d.comb += row_done.eq(pixel_done & (x == W - 1))

        # The address runs through the slots' rows one after the other, back to 0 after the
        # last row of the last slot.
        slot_end = row_done & (wslot == ring.rows - 1)
        with m.If(writing):
            m.d.sync += [address.eq(Mux(slot_end, 0, address + 1)),
                         lane.eq(Mux(lane == lanes - 1, 0, lane + 1))]
        with m.Elif(taken):
            m.d.sync += address.eq(Mux(slot_end, 0, address + lanes))
        with m.If(taken):
            m.d.sync += part.eq(Mux(part == parts - 1, 0, part + 1))
        with m.If(pixel_done):
            m.d.sync += x.eq(Mux(x == W - 1, 0, x + 1))
            with m.If(x == W - 1):
                m.d.sync += [y.eq(Mux(y == H - 1, 0, y + 1)),
                             wslot.eq(_ring_add(wslot, 1, ring.rows))]

        # Window hand-out.
        r = Signal(range(ring.out_height))
        c = Signal(range(ring.out_width))
        slot = Signal(range(ring.rows), init=(-ring.padding) % ring.rows)
        last_col = c == ring.out_width - 1
        last_row = r == ring.out_height - 1
        next_r = Mux(last_row, 0, r + 1)
        next_c = Mux(last_col, 0, c + 1)
        # A window is valid once the writer has passed its last real pixel: row_gap = lead -
        # its last row's lead, col_gap = x - its last column.
        if self.registered:  # kept as differences: no comparator between them and the valid
            row_gap = Signal(signed(_lead_range(ring).width + 1),
                             init=ring.padding - ring.needed_row(0))
            col_gap = Signal(signed(W.bit_length() + 1), init=-ring.needed_col(0))
            valid = ~row_gap[-1] & ((row_gap != 0) | (~col_gap[-1] & (col_gap != 0)))
        else:
            rows_needed = Array(Const(ring.needed_row(n), _lead_range(ring))
                                for n in range(ring.out_height))
            cols_needed = Array(Const(ring.needed_col(n), range(W))
                                for n in range(ring.out_width))
            need_row, need_col = rows_needed[r], cols_needed[c]
            valid = (lead > need_row) | ((lead == need_row) & (x > need_col))
        m.d.comb += [
            self.o.valid.eq(valid),
            self.o.payload.row.eq(r),
            self.o.payload.col.eq(c),
            self.o.payload.slot.eq(slot),
        ]
        handed = self.o.valid & self.o.ready
        # lead, lead - step and their increments from registers alone: the handshakes and the
        # writer's row_done only select among them (no carry chain after them).
        lead_stepped = lead - Mux(last_row, ring.next_tensor_step, ring.stride)
        lead_next = Mux(row_done, lead + 1, lead)
        with m.If(handed):
            m.d.sync += [held.eq(lead_next), c.eq(next_c)]
            if self.registered:
                m.d.sync += free.eq(Mux(row_done, lead < ring.rows - 1, lead < ring.rows))
            with m.If(last_col):
                m.d.sync += [r.eq(next_r),
                             lead.eq(Mux(row_done, lead_stepped + 1, lead_stepped)),
                             slot.eq(Mux(last_row, _ring_add(slot, ring.next_tensor_step, ring.rows),
                                         _ring_add(slot, ring.stride, ring.rows)))]
            with m.Else():
                m.d.sync += lead.eq(lead_next)
        with m.Elif(row_done):
            m.d.sync += [lead.eq(lead + 1), held.eq(held + 1)]
            if self.registered:
                m.d.sync += free.eq(held < ring.rows - 1)
        if self.registered:
            self._track_gaps(m, row_gap, col_gap, r, c, x, handed & last_col, handed, row_done,
                             pixel_done)
        return m

    def _track_gaps(self, m, row_gap, col_gap, r, c, x, next_row, next_col, row_done,
                    pixel_done):
        """Keep ``row_gap`` and ``col_gap`` (see :meth:`elaborate`) as the writer moves on and
        windows are handed out (``next_row``: to the next output row, ``next_col``: to the next
        window): by constants per output row and column."""
        ring = self.ring
        rows, cols = ring.out_height, ring.out_width
        row_shift = Array(Const(ring.needed_row(n) - ring.window_step(n)
                                - ring.needed_row((n + 1) % rows), row_gap.shape())
                          for n in range(rows))
        col_shift = Array(Const(ring.needed_col(n) - ring.needed_col((n + 1) % cols),
                                col_gap.shape()) for n in range(cols))
        # Sums from registers alone, selected by the handshakes (no carry chain after them).
        row_shifted = row_gap + row_shift[r]
        with m.If(next_row):
            m.d.sync += row_gap.eq(Mux(row_done, row_shifted + 1, row_shifted))
        with m.Elif(row_done):
            m.d.sync += row_gap.eq(row_gap + 1)
        x_step = Mux(x == ring.width - 1, 1 - ring.width, 1)
        col_shifted = col_gap + col_shift[c]
        m.d.sync += col_gap.eq(Mux(next_col, Mux(pixel_done, col_shifted + x_step, col_shifted),
                                   Mux(pixel_done, col_gap + x_step, col_gap)))


class WindowMemoryModel(Block):
    """The timing of a :class:`WindowMemory` over ``ring``: input stream ``i`` (``lanes``
    channels per beat, default all), window descriptors ``o``."""

    def __init__(self, ring, i, o, lanes=None):
        self.ring, self.i, self.o = ring, i, o
        self.lanes = lanes or ring.channels
        self.parts = ring.channels // self.lanes
        self.x = self.y = self.lane = self.part = 0
        self.r = self.c = 0
        self.lead = self.held = ring.padding

    def _free(self):
        return self.held < self.ring.rows

    def _used(self):
        return self.ring.row_used[self.y] and self.ring.col_used[self.x]

    def forward(self):
        need = self.ring.needed_row(self.r)
        self.o.valid = self.lead > need or (self.lead == need and
                                            self.x > self.ring.needed_col(self.c))

    def backward(self):
        self.i.ready = self._free() and (not self._used() or self.lane == self.lanes - 1)

    def _writing(self):
        return self.i.valid and self._free() and self._used() and not self.i.ready

    def update(self):
        ring = self.ring
        row_done = 0
        if self.i.fire:
            self.lane = 0
            if self.part < self.parts - 1:
                self.part += 1
            elif self.x == ring.width - 1:
                self.x, self.part, row_done = 0, 0, 1
                self.y = (self.y + 1) % ring.height
            else:
                self.x, self.part = self.x + 1, 0
        elif self._writing():
            self.lane += 1
        if self.o.fire:
            self.held = self.lead + row_done
            if self.c == ring.out_width - 1:
                self.lead += row_done - ring.window_step(self.r)
                self.c, self.r = 0, (self.r + 1) % ring.out_height
            else:
                self.lead += row_done
                self.c += 1
        else:
            self.lead += row_done
            self.held += row_done

    def countdown(self):
        # Writing a beat's channels moves no beat until its last one.
        return self.lanes - 1 - self.lane if self._writing() else None

    def advance(self, n):
        if self._writing():
            self.lane += n


class WindowFetch:
    """The operands of a conv's :class:`~rtl.mac.MatVecPipeline` read from a
    :class:`WindowMemory` (one per cycle: the schedule must have ``lanes_in`` = 1): the accepted
    descriptor is latched, and each issued word reads operand ``(u, v, i)`` of its window,
    zero in the padding.

    With a registered memory the element read goes into a register of its own before the
    padding's zero is selected: nothing but routing follows the block RAM's output (the
    ECP5's DP16KD takes 5.8 ns to present it, and Yosys uses none of its output registers).
    One more edge of :attr:`latency`, which the MAC array's operand registers absorb."""

    def __init__(self, memory):
        self.memory = memory
        self.latency = 1 + memory.registered

    def elaborate_into(self, m, operands, operand_shape, schedule, chunk, *, accept, issue):
        ring, mem = self.memory.ring, self.memory
        if schedule.lanes_in != 1:
            raise ValueError(f"a window memory supplies one operand per cycle, not "
                             f"{schedule.lanes_in}")
        k, C = ring.kernel, ring.channels
        window = Signal(descriptor_layout(ring))
        u = Signal(range(k))
        v = Signal(range(k))
        i = Signal(range(C))
        j = Signal(range(k * C))  # v * C + i
        slot = Signal(range(ring.rows))  # of row u

        def table(values, index):
            return Array(Const(n, signed(max(abs(n) for n in values).bit_length() + 2))
                         for n in values)[index]
        # The address of row u's operand (0, 0) and of the window's first row's, in registers
        # moved by a constant per kernel row: a read address is one addition from them (the
        # ULX3S builds' path ran from j through the sum of the row's and column's start).
        payload = operands.payload
        window_start = (table([n * ring.row_elements for n in range(ring.rows)], payload.slot) +
                        table([(n * ring.stride - ring.padding) * C
                               for n in range(ring.out_width)], payload.col))
        first_row = Signal(signed(len(window_start)))
        row = Signal(signed(len(window_start)))
        with m.If(issue):
            m.d.sync += [i.eq(Mux(i == C - 1, 0, i + 1)), j.eq(Mux(j == k * C - 1, 0, j + 1))]
            with m.If(i == C - 1):
                m.d.sync += v.eq(Mux(v == k - 1, 0, v + 1))
                with m.If(v == k - 1):
                    m.d.sync += u.eq(Mux(u == k - 1, 0, u + 1))
                    with m.If(u == k - 1):  # the next output group reads the window again
                        m.d.sync += [slot.eq(window.slot), row.eq(first_row)]
                    with m.Else():
                        m.d.sync += [
                            slot.eq(_ring_add(slot, 1, ring.rows)),
                            row.eq(Mux(slot == ring.rows - 1,
                                       row - (ring.rows - 1) * ring.row_elements,
                                       row + ring.row_elements))]
        with m.If(accept):  # after the issue: the last word of a window may be issued meanwhile
            m.d.sync += [window.eq(payload), slot.eq(payload.slot),
                         first_row.eq(window_start), row.eq(window_start)]

        inside = ((u >= table(ring.row_lo, window.row)) & (u < table(ring.row_hi, window.row)) &
                  (v >= table(ring.col_lo, window.col)) & (v < table(ring.col_hi, window.col)))
        # Read every cycle: only the cycle after an issue has its word's element and flag. In
        # the padding the address is any (it may lie outside the memory): the flag zeroes the
        # element read, and the address's path does not pass the flag's comparisons.
        m.d.comb += mem.read_addr.eq(row + j)
        real = Signal()
        m.d.sync += real.eq(inside)
        element = mem.read_data
        if self.memory.registered:
            element, real = (delayed(m, v, 1, name) for v, name in ((element, "element"),
                                                                      (real, "real")))
        selected = Signal(data.ArrayLayout(operand_shape, 1))
        m.d.comb += selected[0].eq(Mux(real, element, 0))
        return selected
