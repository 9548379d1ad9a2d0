"""The layer-serial accelerator: one weight-stationary R×C MAC array running a layer program.

:mod:`rtl.array_program` compiles the netdesc into steps, tiles, weight folds, transfers and a
memory map; this module is the hardware that runs them, with the stream ports of the dataflow
accelerator (:class:`rtl.network.NetworkTop`): ``i`` takes the input's pixels, all channels per
beat, in raster order; ``o`` gives the output's. One inference at a time: load the input into
the scratchpad, run every step, send the output tensor. With off-chip memory it also has the
memory port ``mem`` (:data:`rtl.offchip.port_signature`): requests out, read data back.

Memories (Amaranth ``Memory`` with synchronous read ports, so that Yosys maps them to block
RAM): the **scratchpad** (one channel group of ``rows`` lanes per word, lane writes enabled per
column tile), the **accumulators** (``cols`` per word, one word per output pixel of a pixel
tile), and read-only ones built from the program: **weights** (one fold of rows × cols weights
per word), **biases** (one column tile per word), **steps**, **tiles** and **transfers** (the
records of :mod:`rtl.array_program`).

A step: its fetches (off-chip words into the scratchpad); then per column tile and pixel tile,
per tile, each *MAC cycle* issues one output pixel's scratchpad and accumulator reads, and in
the next cycle every column sums its ``rows`` products with the tile's fold and adds the sum to
(or, for a max pool, takes the maximum with) the accumulator, or with the first tile starts
from the bias; after the last tile the *output stage* reads each accumulator word,
requantizes its ``cols`` lanes (round-half-up shift, saturation to bounds that hold the ReLU),
for a fused add adds the skip operand's lanes and requantizes again, and writes them into the
output's lanes; last, its spill. :mod:`rtl.array_timing` counts these cycles.
"""

from amaranth.hdl import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from .array_program import compile_program, map_of
from .array_timing import array_cycles
from .offchip import DEFAULT_LATENCY, OffChipMemory, port_signature
from .streams import pixel_signature


def _field(values):
    """The narrowest shape holding every integer of ``values``."""
    values = [int(v) for v in values] or [0]
    lo, hi = min(values), max(values)
    if lo < 0:
        bits = 1
        while not (-(1 << (bits - 1)) <= lo and hi < 1 << (bits - 1)):
            bits += 1
        return signed(bits)
    return unsigned(max(1, hi.bit_length()))


def _records(rows):
    """``(layout, init)``: a struct layout fitting every field of ``rows`` (dicts of ints) and
    the rows packed as integers, for a read-only memory."""
    layout = data.StructLayout({key: _field(r[key] for r in rows) for key in rows[0]})
    return layout, [layout.const(r).as_value().value for r in rows]


def _rom(m, name, rows):
    """A read-only memory of ``rows`` (record dicts) as submodule ``name``: its read port's
    address and its data viewed as the records' layout."""
    layout, init = _records(rows)
    m.submodules[name] = mem = Memory(shape=unsigned(layout.size), depth=len(init), init=init)
    port = mem.read_port()
    return port.addr, layout(port.data)


def _step_record(step, tile_base, transfer_base):
    s = step.stride
    fused = step.fused
    return {
        "tile_base": tile_base, "last_tile": len(step.tiles) - 1,
        "diagonal": int(step.diagonal), "max": int(step.accumulate == "max"),
        "in_h": step.in_h, "in_w": step.in_w, "stride": s,
        "x_step": s * step.in_groups, "row_step": s * step.in_w * step.in_groups,
        "last_x": step.out_w - 1, "rows_per_tile": step.rows_per_tile,
        "last_column_tile": step.column_tiles - 1, "last_pixel_tile": step.pixel_tiles - 1,
        "last_rows": step.out_h - (step.pixel_tiles - 1) * step.rows_per_tile,
        "pt_addr": step.rows_per_tile * s * step.in_w * step.in_groups,
        "pt_iy": step.rows_per_tile * s,
        "pt_out": step.rows_per_tile * step.out_w * step.out_groups,
        "out_base": step.out_base, "out_groups": step.out_groups,
        "weight_base": step.weight_base or 0, "tiles": len(step.tiles),
        "has_bias": int(step.bias_base is not None), "bias_base": step.bias_base or 0,
        "pad": step.pad, "shift": step.shift, "round": (1 << step.shift) >> 1,
        "lo": step.lo, "hi": step.hi,
        "fused": int(fused is not None),
        "skip_offset": fused.skip_offset if fused else 0,
        "skip_signed": int(fused.skip_signed) if fused else 0,
        "main_shift": fused.main_shift if fused else 0,
        "skip_shift": fused.skip_shift if fused else 0,
        "add_shift": fused.shift if fused else 0,
        "add_round": (1 << fused.shift) >> 1 if fused else 0,
        "add_lo": fused.lo if fused else 0, "add_hi": fused.hi if fused else 0,
        "transfer_base": transfer_base, "fetches": len(step.fetches),
        "spill": int(step.spill is not None),
    }


def _tile_record(tile):
    return {"start": tile.start, "dy": tile.dy, "dx": tile.dx, "signed": int(tile.signed),
            "diagonal": tile.diagonal or 0}


def _requantize(value, shift, rounding, lo, hi):
    """Round-half-up shift by the variable ``shift`` (``rounding`` = 2^(shift-1), 0 for no
    shift), then saturation to ``[lo, hi]``: ``netdesc.requantize`` with the step's values."""
    shifted = (value + rounding) >> shift
    return Mux(shifted < lo, lo, Mux(shifted > hi, hi, shifted))


class ArrayTop(wiring.Component):
    """The PE-array accelerator of ``net`` on an array of ``config``
    (:class:`rtl.array_program.ArrayConfig`); ``self.program`` is what it runs.

    Ports: ``i`` (In) and ``o`` (Out), the input and output tensors' streams as
    :class:`rtl.network.NetworkTop` has them; with off-chip memory, ``mem`` (Out,
    :func:`rtl.offchip.port_signature`).
    """

    def __init__(self, net, config=None):
        self.net = net
        self.program = compile_program(net, config)
        on_chip = self.program.config.memory == "on_chip"
        #: with on-chip memory, the :class:`rtl.array_timing.ArrayCycles` of this design
        self.cycles = array_cycles(self.program) if on_chip else None
        out = net.output_layer
        ports = {"i": In(pixel_signature(net.input.type, net.input.shape[0])),
                 "o": Out(pixel_signature(out.type, out.shape[0]))}
        if self.program.config.memory == "off_chip":
            ports["mem"] = Out(port_signature(self.program))
        super().__init__(ports)

    @property
    def quiet_cycles(self):
        """The longest time no stream moves a beat: every step runs between input and output."""
        return self.cycles.total

    def monitored_streams(self):
        """The memory port's streams, for the simulation's stall report."""
        return {"mem.req": self.mem.req, "mem.rsp": self.mem.rsp} if "mem" in self.signature.members else {}

    def elaborate(self, platform):
        m = Module()
        prog = self.program
        net = self.net
        R, C, D = prog.rows, prog.cols, prog.lane_bits
        A, WB = prog.accumulator_bits, prog.weight_bits
        lanes_per_column_tile = R // C
        off_chip = prog.config.memory == "off_chip"

        # -- memories -------------------------------------------------------------------------
        m.submodules.scratchpad = amem = Memory(shape=unsigned(R * D), depth=prog.memory_words,
                                                init=[])
        a_rd = amem.read_port()
        a_wr = amem.write_port(granularity=D)
        m.submodules.accumulators = accmem = Memory(
            shape=data.ArrayLayout(signed(A), C), depth=prog.accumulators, init=[])
        c_rd = accmem.read_port()
        c_wr = accmem.write_port()

        tile_rows, step_rows, transfer_rows = [], [], []
        for step in prog.steps:
            step_rows.append(_step_record(step, len(tile_rows), len(transfer_rows)))
            tile_rows += [_tile_record(t) for t in step.tiles]
            transfer_rows += [{"remote": x.remote, "local": x.local, "last": x.words - 1}
                              for x in step.fetches + ([step.spill] if step.spill else [])]
        step_addr, st = _rom(m, "steps", step_rows)
        tile_addr, tl = _rom(m, "tiles", tile_rows)

        wmask = (1 << WB) - 1
        fold_init = [sum((int(f[r, c]) & wmask) << ((r * C + c) * WB)
                         for r in range(R) for c in range(C)) for f in prog.folds]
        amask = (1 << A) - 1
        bias_init = [sum((int(b[c]) & amask) << (c * A) for c in range(C)) for b in prog.biases]
        weights = biases = None
        waddr = Signal(range(max(len(fold_init), 1)))
        baddr = Signal(range(max(len(bias_init), 1)))
        if fold_init:
            m.submodules.weights = wmem = Memory(shape=unsigned(R * C * WB),
                                                 depth=len(fold_init), init=fold_init)
            w_rd = wmem.read_port()
            m.d.comb += w_rd.addr.eq(waddr)
            weights = data.ArrayLayout(signed(WB), R * C)(w_rd.data)
        if bias_init:
            m.submodules.biases = bmem = Memory(shape=unsigned(C * A), depth=len(bias_init),
                                                init=bias_init)
            b_rd = bmem.read_port()
            m.d.comb += b_rd.addr.eq(baddr)
            biases = data.ArrayLayout(signed(A), C)(b_rd.data)

        # -- controller state ------------------------------------------------------------------
        step_idx = Signal(range(len(prog.steps)))
        last_step = len(prog.steps) - 1
        m.d.comb += step_addr.eq(step_idx)
        t = Signal(range(max(len(s.tiles) for s in prog.steps)))
        m.d.comb += tile_addr.eq(st.tile_base + t)
        ct = Signal(range(max(s.column_tiles for s in prog.steps)))
        ct_lane = Signal(range(lanes_per_column_tile))
        ct_group = Signal(range(prog.memory_words + 1))
        pt = Signal(range(max(s.pixel_tiles for s in prog.steps)))
        w_off = Signal(range(max(len(prog.folds), 1) + 1))
        pt_addr = Signal(range(prog.memory_words + 1))
        pt_iy = Signal(range(2 * max(s.in_h for s in prog.steps) + 2))
        pt_out = Signal(range(prog.memory_words + 1))

        # pixel walk of a tile, and of the output stage
        addr = Signal(range(-4 * prog.memory_words, 4 * prog.memory_words + 1))
        row_addr = Signal.like(addr)
        iy = Signal(range(-4 * prog.memory_words - 64, 4 * prog.memory_words + 64))
        ix = Signal.like(iy)
        ox = Signal(range(max(s.out_w for s in prog.steps)))
        oy = Signal(range(max(s.rows_per_tile for s in prog.steps)))
        p = Signal(range(prog.accumulators))
        out_addr = Signal(range(prog.memory_words + 1))
        tile_rows_now = Mux(pt == st.last_pixel_tile, st.last_rows, st.rows_per_tile)
        last_pixel = (ox == st.last_x) & (oy == tile_rows_now - 1)
        # the tile record's fields the MAC stage needs, latched at the tile's start
        signed_now = Signal()
        diag_now = Signal(signed(WB))
        dx_now = Signal.like(ix)

        # MAC stage registers (the cycle after a MAC cycle)
        mac_valid = Signal()
        mac_first = Signal()
        mac_inside = Signal()
        mac_p = Signal.like(p)
        # output stage registers
        out_valid = Signal()
        out_wr_addr = Signal.like(out_addr)
        out_lane = Signal.like(ct_lane)

        # -- MAC stage -------------------------------------------------------------------------
        word = a_rd.data
        xs = []
        for r in range(R):
            raw = word[r * D:(r + 1) * D]
            x = Mux(signed_now, raw.as_signed(), raw.as_unsigned())
            xs.append(Mux(mac_inside, x, st.pad))
        acc_new = Signal(data.ArrayLayout(signed(A), C))
        for c in range(C):
            total = 0
            for r in range(R):
                on_diagonal = Mux((ct_lane == r // C) & (r % C == c), diag_now, 0)
                w = on_diagonal if weights is None else Mux(st.diagonal, on_diagonal,
                                                            weights[r * C + c])
                total = total + xs[r] * w
            bias = Mux(st.has_bias, biases[c], 0) if biases is not None else 0
            old = c_rd.data[c]
            started = Mux(st.max, total, bias + total)
            kept = Mux(st.max, Mux(total > old, total, old), old + total)
            m.d.comb += acc_new[c].eq(Mux(mac_first, started, kept))
        m.d.comb += [c_wr.addr.eq(mac_p), c_wr.data.eq(acc_new), c_wr.en.eq(mac_valid)]

        # -- output stage ----------------------------------------------------------------------
        results = []
        for c in range(C):
            v = _requantize(c_rd.data[c], st.shift, st["round"], st.lo, st.hi)
            if any(s.fused for s in prog.steps):
                # the skip operand's lane of this column, read beside the accumulator
                lanes = [word[(k * C + c) * D:(k * C + c + 1) * D]
                         for k in range(lanes_per_column_tile)]
                raw = lanes[0]
                for k in range(1, lanes_per_column_tile):
                    raw = Mux(out_lane == k, lanes[k], raw)
                skip = Mux(st.skip_signed, raw.as_signed(), raw.as_unsigned())
                total = (v << st.main_shift) + (skip << st.skip_shift)
                v = Mux(st.fused, _requantize(total, st.add_shift, st.add_round, st.add_lo,
                                              st.add_hi), v)
            results.append(v)

        # -- scratchpad write port: output stage, input load, fetched words ---------------------
        load_we = Signal()
        load_data = Signal(R * D)
        load_addr = Signal(range(prog.memory_words))
        m.d.comb += [
            a_wr.addr.eq(Mux(out_valid, out_wr_addr, load_addr)),
            a_wr.data.eq(Mux(out_valid, Cat(*[results[r % C].as_unsigned()[:D] for r in range(R)]),
                             load_data)),
            a_wr.en.eq(Mux(out_valid, Cat(*[(out_lane == r // C) for r in range(R)]),
                           Mux(load_we, (1 << R) - 1, 0))),
        ]

        # -- the input stream's words -----------------------------------------------------------
        in_c, in_h, in_w = map_of(net.input.shape)
        in_region = prog.regions[net.input.name]
        in_groups = in_region.groups
        in_pixel = Signal(range(in_h * in_w))
        in_g = Signal(range(in_groups))
        in_data = Signal(R * D)
        with m.Switch(in_g):
            for g in range(in_groups):
                with m.Case(g):
                    for r in range(min(R, in_c - g * R)):
                        # two's complement in D bits (sign- or zero-extended from the input type)
                        m.d.comb += in_data[r * D:(r + 1) * D].eq(self.i.payload[g * R + r])

        # -- the output stream's beats ----------------------------------------------------------
        out_layer = net.output_layer
        out_c = map_of(out_layer.shape)[0]
        out_region = prog.regions[net.output]
        out_groups = out_region.groups
        out_pixels = out_region.words // out_groups
        beat = Signal(R * D * out_groups)
        out_pixel = Signal(range(out_pixels))
        out_g = Signal(range(out_groups))
        got_valid = Signal()
        got_g = Signal.like(out_g)
        with m.If(got_valid):
            with m.Switch(got_g):
                for g in range(out_groups):
                    with m.Case(g):
                        m.d.sync += beat[g * R * D:(g + 1) * R * D].eq(word)
        ob = out_layer.type.bits
        m.d.comb += self.o.payload.as_value().eq(
            Cat(*[beat[ch * D:ch * D + ob] for ch in range(out_c)]))

        # -- scratchpad read port: MAC cycles, output stage (skip operand), send, spill ---------
        read_addr = Signal(range(-4 * prog.memory_words, 4 * prog.memory_words + 1))
        m.d.comb += [a_rd.addr.eq(read_addr), c_rd.addr.eq(p)]

        m.d.sync += [mac_valid.eq(0), out_valid.eq(0), got_valid.eq(0)]

        def start_tile():
            """Latch the tile record, load the pixel walk."""
            start = tl.start + pt_addr + Mux(st.diagonal, ct_group, 0)
            m.d.sync += [addr.eq(start), row_addr.eq(start), iy.eq(tl.dy + pt_iy),
                         ix.eq(tl.dx), dx_now.eq(tl.dx), signed_now.eq(tl.signed),
                         diag_now.eq(tl.diagonal), ox.eq(0), oy.eq(0), p.eq(0)]

        def reset_step():
            m.d.sync += [t.eq(0), ct.eq(0), ct_lane.eq(0), ct_group.eq(0), pt.eq(0), w_off.eq(0),
                         pt_addr.eq(0), pt_iy.eq(0), pt_out.eq(0)]

        def advance_walk():
            """The next output pixel of the tile (raster order within the pixel tile)."""
            m.d.sync += p.eq(p + 1)
            with m.If(ox == st.last_x):
                m.d.sync += [ox.eq(0), oy.eq(oy + 1), row_addr.eq(row_addr + st.row_step),
                             addr.eq(row_addr + st.row_step), iy.eq(iy + st.stride),
                             ix.eq(dx_now)]
            with m.Else():
                m.d.sync += [ox.eq(ox + 1), addr.eq(addr + st.x_step), ix.eq(ix + st.stride)]

        def next_column_tile():
            m.d.sync += [pt.eq(0), pt_addr.eq(0), pt_iy.eq(0), pt_out.eq(0), ct.eq(ct + 1),
                         w_off.eq(w_off + st.tiles)]
            if lanes_per_column_tile > 1:
                with m.If(ct_lane == lanes_per_column_tile - 1):
                    m.d.sync += [ct_lane.eq(0), ct_group.eq(ct_group + 1)]
                with m.Else():
                    m.d.sync += ct_lane.eq(ct_lane + 1)
            else:
                m.d.sync += ct_group.eq(ct_group + 1)

        def next_step():
            reset_step()
            if off_chip:
                m.d.sync += xfer.index.eq(0)
            with m.If(step_idx == last_step):
                m.next = "SEND_READ"
            with m.Else():
                m.d.sync += step_idx.eq(step_idx + 1)
                m.next = "STEP_OPEN"

        if off_chip:
            xfer = _TransferUnit(m, self.mem, st, transfer_rows, read_addr, word)

        m.d.comb += read_addr.eq(addr)
        with m.FSM():
            with m.State("LOAD"):
                m.d.comb += [load_we.eq(self.i.valid), self.i.ready.eq(in_g == in_groups - 1),
                             load_data.eq(in_data),
                             load_addr.eq(in_region.base + in_pixel * in_groups + in_g)]
                with m.If(self.i.valid):
                    m.d.sync += in_g.eq(Mux(in_g == in_groups - 1, 0, in_g + 1))
                    with m.If(in_g == in_groups - 1):
                        m.d.sync += in_pixel.eq(in_pixel + 1)
                        with m.If(in_pixel == in_h * in_w - 1):
                            m.d.sync += [in_pixel.eq(0), step_idx.eq(0)]
                            reset_step()
                            m.next = "STEP_OPEN"
            with m.State("STEP_OPEN"):  # the step record is being read
                m.next = "XFER_RECORD" if off_chip else "TILE_RECORD"
            if off_chip:
                xfer.fetch_states(load_we, load_addr, load_data)
            with m.State("TILE_RECORD"):  # tile record being read; set the weight fold
                m.d.sync += [waddr.eq(st.weight_base + w_off + t), baddr.eq(st.bias_base + ct)]
                m.next = "TILE_START"
            with m.State("TILE_START"):
                start_tile()
                m.next = "MAC"
            with m.State("MAC"):
                m.d.sync += [mac_valid.eq(1), mac_first.eq(t == 0),
                             mac_inside.eq((iy >= 0) & (iy < st.in_h) & (ix >= 0) & (ix < st.in_w)),
                             mac_p.eq(p)]
                advance_walk()
                with m.If(last_pixel):
                    with m.If(t == st.last_tile):
                        m.d.sync += t.eq(0)
                        m.next = "DRAIN"
                    with m.Else():
                        m.d.sync += t.eq(t + 1)
                        m.next = "TILE_RECORD"
            with m.State("DRAIN"):  # the last pixel's MAC stage
                m.d.sync += [ox.eq(0), oy.eq(0), p.eq(0),
                             out_addr.eq(st.out_base + ct_group + pt_out)]
                m.next = "OUTPUT_STAGE"
            with m.State("OUTPUT_STAGE"):
                m.d.comb += read_addr.eq(out_addr + st.skip_offset)
                m.d.sync += [out_valid.eq(1), out_wr_addr.eq(out_addr), out_lane.eq(ct_lane),
                             out_addr.eq(out_addr + st.out_groups), p.eq(p + 1)]
                with m.If(ox == st.last_x):
                    m.d.sync += [ox.eq(0), oy.eq(oy + 1)]
                with m.Else():
                    m.d.sync += ox.eq(ox + 1)
                with m.If(last_pixel):
                    with m.If(pt != st.last_pixel_tile):
                        m.d.sync += [pt.eq(pt + 1), pt_addr.eq(pt_addr + st.pt_addr),
                                     pt_iy.eq(pt_iy + st.pt_iy), pt_out.eq(pt_out + st.pt_out)]
                        m.next = "TILE_RECORD"
                    with m.Elif(ct != st.last_column_tile):
                        next_column_tile()
                        m.next = "TILE_RECORD"
                    with m.Else():
                        m.next = "STEP_CLOSE"
            with m.State("STEP_CLOSE"):  # the last output-stage write
                if off_chip:
                    with m.If(st.spill):
                        m.next = "SPILL"
                    with m.Else():
                        next_step()
                else:
                    next_step()
            if off_chip:
                xfer.spill_state(next_step)
            with m.State("SEND_READ"):
                m.d.comb += read_addr.eq(out_region.base + out_pixel * out_groups + out_g)
                m.d.sync += [got_valid.eq(1), got_g.eq(out_g)]
                with m.If(out_g == out_groups - 1):
                    m.d.sync += out_g.eq(0)
                    m.next = "SEND_LAST"
                with m.Else():
                    m.d.sync += out_g.eq(out_g + 1)
            with m.State("SEND_LAST"):
                m.next = "SEND"
            with m.State("SEND"):
                m.d.comb += self.o.valid.eq(1)
                with m.If(self.o.ready):
                    with m.If(out_pixel == out_pixels - 1):
                        m.d.sync += [out_pixel.eq(0), step_idx.eq(0)]
                        m.next = "LOAD"
                    with m.Else():
                        m.d.sync += out_pixel.eq(out_pixel + 1)
                        m.next = "SEND_READ"
        return m


class _TransferUnit:
    """The fetch and spill states of an off-chip array: one request per word on the memory
    port, read data written into the scratchpad as it returns, spilled words read from the
    scratchpad one cycle before their request."""

    def __init__(self, m, port, st, rows, read_addr, word):
        self.m, self.port, self.st, self.read_addr, self.word = m, port, st, read_addr, word
        addr, self.rec = _rom(m, "transfers", rows)
        self.index = Signal(range(len(rows) + 1))
        m.d.comb += addr.eq(st.transfer_base + self.index)
        last = max(r["last"] for r in rows)
        self.sent = Signal(range(last + 2))
        self.got = Signal(range(last + 2))
        self.primed = Signal()

    def fetch_states(self, load_we, load_addr, load_data):
        m, st, rec, port = self.m, self.st, self.rec, self.port
        with m.State("XFER_RECORD"):  # the transfer record is being read
            m.d.sync += [self.sent.eq(0), self.got.eq(0)]
            with m.If(self.index == st.fetches):
                m.next = "TILE_RECORD"
            with m.Else():
                m.next = "FETCH"
        with m.State("FETCH"):
            m.d.comb += [port.req.valid.eq(self.sent <= rec["last"]),
                         port.req.payload.addr.eq(rec.remote + self.sent),
                         port.rsp.ready.eq(1),
                         load_we.eq(port.rsp.valid), load_addr.eq(rec.local + self.got),
                         load_data.eq(port.rsp.payload)]
            with m.If(port.req.valid & port.req.ready):
                m.d.sync += self.sent.eq(self.sent + 1)
            with m.If(port.rsp.valid):
                m.d.sync += self.got.eq(self.got + 1)
                with m.If(self.got == rec["last"]):
                    m.d.sync += self.index.eq(self.index + 1)
                    m.next = "XFER_RECORD"

    def spill_state(self, next_step):
        m, rec, port = self.m, self.rec, self.port
        with m.State("SPILL"):
            accepted = port.req.valid & port.req.ready
            m.d.comb += [self.read_addr.eq(rec.local + self.sent + accepted),
                         port.req.valid.eq(self.primed),
                         port.req.payload.addr.eq(rec.remote + self.sent),
                         port.req.payload.write.eq(1),
                         port.req.payload.data.eq(self.word)]
            m.d.sync += self.primed.eq(1)
            with m.If(accepted):
                m.d.sync += self.sent.eq(self.sent + 1)
                with m.If(self.sent == rec["last"]):
                    m.d.sync += [self.primed.eq(0), self.sent.eq(0)]
                    next_step()


class ArraySystem(wiring.Component):
    """The PE-array accelerator ``top`` (:class:`rtl.pe_array.ArrayTop`, off-chip memory) with
    an :class:`OffChipMemory` behind its port; ports ``i`` and ``o`` as the accelerator's."""

    def __init__(self, top, bytes_per_cycle, latency=DEFAULT_LATENCY):
        self.top = top
        self.net = top.net
        self.memory = OffChipMemory(top.program, bytes_per_cycle, latency)
        #: the :class:`rtl.array_timing.ArrayCycles` of the accelerator with this memory
        self.cycles = array_cycles(top.program, bytes_per_cycle, latency)
        self.quiet_cycles = self.cycles.total
        super().__init__({"i": top.signature.members["i"], "o": top.signature.members["o"]})

    def monitored_streams(self):
        return self.top.monitored_streams()

    def elaborate(self, platform):
        m = Module()
        m.submodules.accelerator = self.top
        m.submodules.memory = self.memory
        wiring.connect(m, self.top.mem, self.memory.port)
        wiring.connect(m, wiring.flipped(self.i), self.top.i)
        wiring.connect(m, self.top.o, wiring.flipped(self.o))
        return m
