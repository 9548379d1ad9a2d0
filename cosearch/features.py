"""Differentiable hardware features of a (relaxed) encoding of a design space.

A design becomes a set of *units*, each a piece of hardware :class:`rtl.network.NetworkTop`
builds: one per conv / dense layer the family can have (stem, ``b*_conv1``, ``b*_conv2``,
``b*_proj``, ``fc``), one per skip connection a block can have (the long skip of ``keep``, the
two short skips of ``shorten``) and the global average pool. A unit's quantities depend on a
handful of decisions (its input and output widths, weight and activation bits, parallelism,
its block's skip choice); :class:`Features` enumerates every combination of those decisions'
options once, computes the hardware quantities of each combination by asking the engines' own
classes (:meth:`rtl.mac.MacSchedule.choose` for the MAC grid, ROM depth and width;
:class:`rtl.line_buffer.WindowScan` for the output size and the line buffer's row memory), and
returns their *expectation* under the encoding: for each design,
``sum over combinations of (product of the chosen options' probabilities) x quantity``. For a
one-hot encoding that is exactly the design's quantity; for a softmax encoding it is smooth,
and every decision's block receives a gradient.

The per-unit quantities (:data:`FEATURES`), all zero where a unit does not exist:

- ``exists``: the unit is built (a projection: its block keeps a skip and changes shape).
- ``macs``: multiply-accumulates per inference (``netdesc.macs``); ``params``: weights plus
  biases (``netdesc.parameters``); ``weight_bits``: weights x weight bits (the ROM contents).
- ``cycles``: output pixels x MAC-array cycles per window, the layer's steady-state cycles per
  inference; the network's is the largest (``costdata`` rows: ``cycles``). ``cycles_fast``:
  the same at the layer's largest parallelism option, whatever is chosen: the network's largest
  is the cycles budget of :class:`cosearch.evaluator.Evaluator` (the ``HwConfig.default`` rule
  with ``cap`` = that option).
- ``mults``: multipliers (``lanes_out * lanes_in``; Yosys maps each to one ECP5 MULT18X18D);
  ``mult_bits``: multipliers x weight bits x operand bits (their size when they go to LUTs).
- ``acc_bits``: accumulator flip-flops (lanes x banks x accumulator width, the width being
  operand bits + weight bits + log2 of the terms, the bound :func:`netdesc.accumulator_range`
  reaches for full-scale weights; real weights can need a bit less).
- ``operand_bits``: the operand register the pipeline latches a window into (K operands);
  ``select_bits``: the operand multiplexer (K-to-lanes_in, per operand bit).
- ``rom_words`` / ``rom_width``: the weight ROM's depth and word width; ``rom_bram``: the
  DP16KD blocks it takes when Yosys puts it in block RAM, which ``memory_libmap`` does when the
  blocks cost less than the ROM in logic (128 per block against 1/16 per ROM bit: the
  tool's default costs), else 0 (it becomes LUTs); ``rom_logic_bits``: the ROM's bits when it
  becomes LUTs, else 0.
- ``lb_bits``: the line buffer's row memory ((k-1) rows x the entries its
  :class:`~rtl.line_buffer.WindowScan` steps through per row x channels x bits, LUT RAM at
  these sizes); ``window_bits``: its k x k window register. A folded conv
  (:func:`rtl.engines.folds`) has neither window nor operand register: its ``lb_bits`` are its
  window memory (:class:`rtl.window_memory.RowRing` ``depth`` x bits), and ``window_bits``,
  ``operand_bits`` and ``select_bits`` are 0. Streams are taken as whole pixels: where the
  plan sends channel groups (:func:`rtl.plan.stream_lanes`, a choice over the whole network),
  registers and selects are smaller than these features say, and a 1x1 conv reading groups is
  folded but described as a window-register engine.
- ``out_bits``: output beat (channels x bits) registers; ``rq_lanes_bits``: requantizer
  lanes x accumulator width.
- ``add_bits``: an add engine's channels x widened bits; ``fifo_beat_bits``: the bypass
  tensor's beat, which the skip FIFO and its fork carry; ``fifo_bits``: that beat times a depth
  proxy (the main branch's fill, one input row plus two beats per spanned conv, the order of
  :func:`rtl.fifo_depth.size_fifos`' result) and ``fifo_block_bits`` the same where that depth
  exceeds :data:`rtl.skip_fifo.REGISTER_DEPTH_LIMIT` (block-style storage).

These are proxies for what synthesis sees (the cost network learns how each turns into LUT /
FF / BRAM / DSP); ``macs``, ``params``, ``weight_bits``, ``cycles`` and ``mults`` are exact.
"""

import itertools
import math

import numpy as np

FEATURES = ("exists", "macs", "params", "weight_bits", "cycles", "cycles_fast", "mults",
            "mult_bits", "acc_bits", "operand_bits", "select_bits", "rom_words", "rom_width",
            "rom_bram", "rom_logic_bits", "lb_bits", "window_bits", "out_bits", "rq_lanes_bits",
            "add_bits", "fifo_beat_bits", "fifo_bits", "fifo_block_bits")
UNIT_TYPES = ("stem", "conv1", "conv2", "proj", "fc", "skip_long", "skip_short1", "skip_short2",
              "pool")
# ECP5 DP16KD aspect ratios (depth, width) for a single read port, and memory_libmap's default
# costs: a block RAM costs 128, a ROM bit in logic 1/16.
BRAM_SHAPES = ((16384, 1), (8192, 2), (4096, 4), (2048, 9), (1024, 18), (512, 36))
BRAM_COST = 128
ROM_LOGIC_COST_PER_BIT = 1 / 16


def rom_bram_blocks(words, width):
    """DP16KD blocks of a ``words`` x ``width`` ROM if Yosys maps it to block RAM, else 0."""
    if words == 0 or width == 0:
        return 0
    blocks = min(math.ceil(words / d) * math.ceil(width / w) for d, w in BRAM_SHAPES)
    return blocks if BRAM_COST * blocks < words * width * ROM_LOGIC_COST_PER_BIT else 0


class _Unit:
    """One unit: its decisions (indices into the space's decisions), and per combination of
    their options the row of :data:`FEATURES`."""

    def __init__(self, name, kind, decisions, table):
        self.name, self.kind = name, kind
        self.decisions = decisions  # [decision index]
        self.table = table          # float64 [combinations, len(FEATURES)]


class Features:
    """The feature function of a :class:`cosearch.space.Space` (see the module docstring).

    ``features(enc)`` -> torch Tensor ``[B, units, len(FEATURES)]`` for an encoding tensor
    ``[B, space.encoding_size]``; ``numpy(encodings)`` the same as numpy for baselines.
    ``self.units`` names the units (``unit_types`` their :data:`UNIT_TYPES` indices).
    """

    def __init__(self, space):
        from nn.data import INPUTS
        from nn.models import ARCHS, model_spec, widths

        self.space = space
        shape, in_bits, frac = INPUTS[space.data]
        base = model_spec(space.model, shape, in_bits, frac)
        stages = ["stem"] + space.blocks
        strides = [1] + [s for _, s in ARCHS[space.model][1]]
        self._index = {d.key: i for i, d in enumerate(space.decisions)}

        def var(kind, target, default):
            """A decision index, or a constant value when the space does not choose it."""
            key = f"{kind}:{target}"
            return ("dec", self._index[key]) if key in self._index else ("const", default)

        width = {s: var("width", s, w) for s, w in zip(stages, widths(base))}
        wbits = {l: var("wbits", l, base["weight_bits"]) for l in space.layers}
        abits = {l: var("abits", l, base["act_bits"]) for l in space.layers if l != "fc"}
        # Without a parallelism decision a layer is counted at 1 MAC per cycle: such a space
        # leaves it to HwConfig.default, which the features do not model.
        par = {l: var("par", l, 1) for l in space.layers}
        self.units = []
        channels, height, wid = shape
        in_width, in_abits = ("const", channels), ("const", in_bits)
        for i, stage in enumerate(stages):
            s = strides[i]
            out_h, out_w = -(-height // s), -(-wid // s)
            if stage == "stem":
                self._conv_unit("stem", "stem", in_width, width["stem"], wbits["stem"], in_abits,
                                abits["stem"], par["stem"], height, wid, 3, 1, None)
                in_width, in_abits = width["stem"], abits["stem"]
                continue
            skip = var("skip", stage, "keep")
            c1, c2, pj = f"{stage}_conv1", f"{stage}_conv2", f"{stage}_proj"
            self._conv_unit(c1, "conv1", in_width, width[stage], wbits[c1], in_abits, abits[c1],
                            par[c1], height, wid, 3, s, None)
            self._conv_unit(c2, "conv2", width[stage], width[stage], wbits[c2], abits[c1],
                            abits[c2], par[c2], out_h, out_w, 3, 1, None)
            self._conv_unit(pj, "proj", in_width, width[stage], wbits[pj], in_abits, abits[pj],
                            par[pj], height, wid, 1, s, (skip, s))
            self._skip_units(stage, skip, in_width, width[stage], in_abits, abits[c1], abits[c2],
                             wid, out_w)
            in_width, in_abits = width[stage], abits[c2]
            height, wid = out_h, out_w
        self._pool_unit(in_width, in_abits, height * wid)
        self._conv_unit("fc", "fc", in_width, ("const", base["classes"]), wbits["fc"], in_abits,
                        ("const", base["logit_bits"]), par["fc"], 1, 1, 1, 1, None)
        self.unit_names = [u.name for u in self.units]
        self.unit_types = [UNIT_TYPES.index(u.kind) for u in self.units]
        self._torch = None

    # -- building the tables -------------------------------------------------------------

    def _add(self, name, kind, roles, compute):
        """Enumerate the combinations of ``roles`` ({role: var}) and tabulate ``compute``."""
        decisions = sorted({v[1] for v in roles.values() if v[0] == "dec"})
        options = [self.space.decisions[d].options for d in decisions]
        rows = []
        for combo in itertools.product(*[range(len(o)) for o in options]):
            chosen = {d: options[j][c] for j, (d, c) in enumerate(zip(decisions, combo))}
            values = {r: chosen[v[1]] if v[0] == "dec" else v[1] for r, v in roles.items()}
            f = dict.fromkeys(FEATURES, 0.0)
            compute(values, f)
            rows.append([float(f[k]) for k in FEATURES])
        self.units.append(_Unit(name, kind, decisions, np.array(rows, dtype=np.float64)))

    def _conv_unit(self, name, kind, cin, cout, wb, ab_in, ab_out, par, height, wid, k, stride,
                   proj):
        from rtl.engines import folds
        from rtl.line_buffer import WindowScan
        from rtl.mac import MacSchedule
        from rtl.window_memory import RowRing
        roles = {"cin": cin, "cout": cout, "wb": wb, "ab_in": ab_in, "ab_out": ab_out,
                 "par": par}
        if proj is not None:
            roles["skip"] = proj[0]
        fastest = (max(self.space.decisions[par[1]].options) if par[0] == "dec" else par[1])
        # The line buffer's own walk of the image: output size and its row memory's entries.
        scan = WindowScan(height, wid, k, stride, (k - 1) // 2)
        out_h, out_w = scan.out_height, scan.out_width

        def compute(v, f):
            if proj is not None:
                # A projection is built where the block keeps a skip and changes shape.
                if v["skip"] == "remove" or (proj[1] == 1 and v["cin"] == v["cout"]):
                    return
            operands = v["cin"] * k * k
            p = min(v["par"], v["cout"] * operands)  # the clip of rtl.hwconfig.max_parallelism
            sch = MacSchedule.choose(v["cout"], operands, p)
            fast = MacSchedule.choose(v["cout"], operands, min(fastest, v["cout"] * operands))
            mults = sch.lanes_out * sch.lanes_in
            acc = v["ab_in"] + v["wb"] + math.ceil(math.log2(operands)) + 1
            words, rom_w = sch.cycles, mults * v["wb"]
            rom_bram = rom_bram_blocks(words, rom_w)
            f.update(exists=1, macs=v["cout"] * operands * out_h * out_w,
                     params=v["cout"] * operands + v["cout"],
                     weight_bits=v["cout"] * operands * v["wb"],
                     cycles=out_h * out_w * sch.cycles,
                     cycles_fast=out_h * out_w * fast.cycles, mults=mults,
                     mult_bits=mults * v["wb"] * v["ab_in"], acc_bits=sch.lanes_out * acc,
                     operand_bits=operands * v["ab_in"],
                     select_bits=operands * v["ab_in"] * sch.lanes_in if sch.chunks > 1 else 0,
                     rom_words=words, rom_width=rom_w, rom_bram=rom_bram,
                     rom_logic_bits=0 if rom_bram else words * rom_w,
                     out_bits=v["cout"] * v["ab_out"], rq_lanes_bits=sch.lanes_out * acc)
            if kind != "fc" and folds((v["cin"], height, wid), k, stride, (k - 1) // 2, sch):
                ring = RowRing(v["cin"], height, wid, k, stride, (k - 1) // 2)
                f.update(lb_bits=ring.depth * v["ab_in"], operand_bits=0, select_bits=0)
            elif kind != "fc" and k > 1:
                f.update(lb_bits=(k - 1) * scan.row_steps * v["cin"] * v["ab_in"],
                         window_bits=operands * v["ab_in"])

        self._add(name, kind, roles, compute)

    def _skip_units(self, block, skip, cin, cout, ab_in, ab1, ab2, in_w, out_w):
        from rtl.skip_fifo import REGISTER_DEPTH_LIMIT
        roles = {"skip": skip, "cin": cin, "cout": cout, "ab_in": ab_in, "ab1": ab1, "ab2": ab2}
        # (unit, skip choice that builds it, bits of its sum, bypass beat, spanned convs' widths)
        for kind, choice, bits, bypass, spans in (
                ("skip_long", "keep", "ab2", ("cin", "ab_in"), (in_w, out_w)),
                ("skip_short1", "shorten", "ab1", ("cin", "ab_in"), (in_w,)),
                ("skip_short2", "shorten", "ab2", ("cout", "ab1"), (out_w,))):
            depth = sum(w + 2 for w in spans)

            def compute(v, f, choice=choice, bits=bits, bypass=bypass, depth=depth):
                if v["skip"] != choice:
                    return
                beat = v[bypass[0]] * v[bypass[1]]
                f.update(exists=1, add_bits=v["cout"] * (max(v["ab_in"], v[bits]) + 1),
                         out_bits=v["cout"] * v[bits], fifo_beat_bits=beat,
                         fifo_bits=beat * depth,
                         fifo_block_bits=beat * depth if depth > REGISTER_DEPTH_LIMIT else 0)

            self._add(f"{block}_{kind}", kind, roles, compute)

    def _pool_unit(self, channels, bits, pixels):
        def compute(v, f):
            acc = v["bits"] + math.ceil(math.log2(pixels)) + 1
            f.update(exists=1, acc_bits=v["c"] * acc, out_bits=v["c"] * v["bits"],
                     rq_lanes_bits=v["c"] * acc)

        self._add("pool", "pool", {"c": channels, "bits": bits}, compute)

    # -- evaluation ----------------------------------------------------------------------

    def _tables(self):
        """Per unit: its decisions' encoding slices and its table as a float32 tensor."""
        import torch
        if self._torch is None:
            slices = [s for _, s in self.space.slices()]
            self._torch = [([slices[d] for d in u.decisions],
                            torch.as_tensor(u.table, dtype=torch.float32)) for u in self.units]
        return self._torch

    def __call__(self, enc):
        """Expected features, a float Tensor ``[B, units, len(FEATURES)]``; differentiable."""
        import torch
        out = []
        for slices, table in self._tables():
            # The joint probability of every combination, in itertools.product order (the
            # last decision varies fastest): an outer product, one decision at a time.
            joint = torch.ones(enc.shape[0], 1, dtype=enc.dtype, device=enc.device)
            for s in slices:
                joint = (joint[:, :, None] * enc[:, None, s]).reshape(enc.shape[0], -1)
            out.append(joint @ table.to(enc.dtype))
        return torch.stack(out, dim=1)

    def numpy(self, encodings):
        """The features of one-hot ``encodings`` (numpy ``[B, encoding_size]``) as float64
        numpy, by table lookup: each unit's row is that of its decisions' chosen options
        (what :meth:`__call__` gives for one-hot input, without the products)."""
        enc = np.asarray(encodings)
        slices = [s for _, s in self.space.slices()]
        chosen = np.stack([enc[:, s].argmax(axis=1) for s in slices], axis=1)
        if not np.isin(enc, (0, 1)).all() or any((enc[:, s].sum(axis=1) != 1).any()
                                                  for s in slices):
            raise ValueError("Features.numpy takes one-hot encodings")
        out = np.zeros((len(enc), len(self.units), len(FEATURES)))
        for i, u in enumerate(self.units):
            row = np.zeros(len(enc), dtype=np.int64)
            for d in u.decisions:  # mixed-radix index, last decision fastest
                row = row * len(self.space.decisions[d].options) + chosen[:, d]
            out[:, i] = u.table[row]
        return out
