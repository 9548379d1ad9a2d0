"""Cross-check: the PE array's conv-layer cycles next to SCALE-Sim's weight-stationary model.

    .venv/bin/python bench/bench_scalesim.py [--nets resnet8,small] [--rows 8] [--cols 8]
        [--accumulators N]

Needs SCALE-Sim 3.0.0 (``pip install -e '.[bench]'``). For every conv2d layer of each network
(``resnet8``: examples/resnet8_shaped.json, ``small``: examples/small_resnet.json), the array's
MAC and total cycles (``rtl.array_timing.array_cycles``) next to SCALE-Sim's ``ws`` dataflow on
an array of the same rows × cols, with 1-byte words (SCALE-Sim's word size is fixed at 1 byte),
and SCALE-Sim's SRAM and DRAM access counts per layer beside our off-chip traffic model's
(``rtl.array_traffic``, the same array with tensors off chip and adds as separate passes, so
that a conv layer reads its input and writes its output once: SCALE-Sim's setting below). "tiles / folds" counts our tile passes (tiles × column tiles ×
pixel tiles) against SCALE-Sim's row folds × column folds. Prints figures; asserts nothing.

SCALE-Sim's setting, chosen to be comparable with an array whose operands are all on chip:

- **interface bandwidth CALC** (its estimate mode): SRAM reads never stall, and DRAM only fills
  the SRAMs, so its compute cycles are the systolic schedule alone;
- **SRAM sizes from the network**: SCALE-Sim double-buffers each SRAM half and half, so each
  one's active half is made to hold the largest conv layer's operand (padded input, weights,
  output). Each input and weight element then comes from DRAM once per layer: its DRAM reads
  are the layer's compulsory traffic, never refetches. The ofmap SRAM holds an output, not the
  partial sums SCALE-Sim writes through it (below); it drains them at ``cols`` words per cycle
  while the layer runs, without stalling.
- **padding**: SCALE-Sim has none, and takes the output size as ``ceil((H - k + s) / s)``, one
  pixel more than a padded conv has when the stride does not divide ``H + 2p - k``. It gets the
  padded input cut to the ``(Ho - 1)·s + k`` rows and columns the conv reads, so both count
  the same output pixels, padding taps included (our array spends MAC cycles on them too).

Modelling differences, why ours / SCALE-Sim is not 1:

- **row mapping**: SCALE-Sim's rows take the im2col window (k·k·Cin, channel fastest) in
  consecutive slices of ``rows``, so a fold spans kernel taps; ours take one channel group per
  tap, so with Cin < rows (the stem) rows idle and there are more tiles than SCALE-Sim's folds.
  With Cin a multiple of rows the counts are equal.
- **fill and drain per fold**: SCALE-Sim is systolic: per fold ``rows`` cycles shift the
  weights in, the inputs are skewed over ``rows - 1`` cycles and the sums drain over
  ``cols - 1``: ``2·rows + cols - 2`` cycles besides the pixels, with no overlap between folds.
  Our array broadcasts: one word read loads a fold, every column sums its rows in one cycle, so
  a tile costs 2 set-up cycles besides its pixels.
- **partial sums**: ours stay in the accumulators over all tiles of a column tile, then pass
  the output stage once: 1 drain + P cycles per column tile, not overlapped with MACs.
  SCALE-Sim writes every row fold's partial sums to the ofmap SRAM and on to DRAM, and models
  no read-back to add them up: its ofmap writes are row folds × the output. (Its DRAM ofmap
  writes come out ``cols - 1`` words more than its SRAM ones whenever the ofmap SRAM drained
  during the layer, a quirk of its drain accounting.)
- **pixels per fold**: SCALE-Sim streams all output pixels of a layer per fold (unbounded
  partial-sum storage); ours as many as the accumulators hold (``--accumulators``), reloading
  the tiles' weights for each further pixel tile.
- **what is read**: ours fetches a layer's whole input tensor, one channel group per word
  (a stride-2 1×1 projection touches a quarter of it; SCALE-Sim reads only those pixels), and
  nothing for the stem, whose input arrives through the array's input stream.
- **counting**: SCALE-Sim's compute cycles are the index of its last cycle, one less than
  ``folds · (2·rows + cols - 2 + pixels)``; its "incl. prefetch" total adds filling the SRAMs
  before the layer (at its estimate mode's arbitrary 10 words per cycle) and draining the
  ofmap SRAM after, which our array, with the activations and weights in its own memories,
  has no counterpart of. Ours add 2 cycles per step (its record read and close).
"""

import argparse
import math
import sys
import tempfile
from dataclasses import replace
from importlib.metadata import version
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import netdesc  # noqa: E402
from common.table import format_table  # noqa: E402
from rtl.array_program import ArrayConfig, compile_program  # noqa: E402
from rtl.array_timing import array_cycles  # noqa: E402
from rtl.array_traffic import array_traffic  # noqa: E402

try:
    from scalesim.layout_utils import layouts
    from scalesim.memory.write_buffer import write_buffer
    from scalesim.scale_config import scale_config
    from scalesim.simulator import simulator
    from scalesim.topology_utils import topologies
except ImportError:
    sys.exit("bench_scalesim.py needs SCALE-Sim: pip install -e '.[bench]'")

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
NETS = {"resnet8": "resnet8_shaped.json", "small": "small_resnet.json"}
# SCALE-Sim fills this many sets of each read SRAM's active half before it prefetches into the
# other half (its active fraction, 0.5, in sets of 1/100 of the SRAM).
ACTIVE_SETS = 50


def _flat_write_cycles():
    """SCALE-Sim 3.0.0 takes ``int()`` of a 1-element array (its last ofmap write's cycle), a
    TypeError since NumPy 2.4 (scalesim-project/SCALE-Sim#160): its write buffer returns the
    same cycles flat instead."""
    service_writes = write_buffer.service_writes

    def flat(self, *args, **kwargs):
        return service_writes(self, *args, **kwargs).reshape(-1)

    write_buffer.service_writes = flat


def conv_layers(net, program):
    """``(step, layer, SCALE-Sim topology row)`` of every conv2d step."""
    out = []
    for step in program.steps:
        if step.op != "conv2d":
            continue
        layer = net.layer(step.layer)
        cin = net.shape_of(layer.inputs[0])[0]
        cout, ho, wo = layer.shape
        k, s = layer.kernel, layer.stride
        # The padded input cut to what the conv reads: SCALE-Sim's ceil() then gives Ho x Wo.
        h, w = (ho - 1) * s + k, (wo - 1) * s + k
        out.append((step, layer, [step.layer, h, w, k, k, cin, cout, s, s, 1, 1]))
    return out


def sram_kb(elements):
    """The smallest SRAM, in kB of 1-byte words, whose active half holds ``elements``."""
    kb = 1
    while ACTIVE_SETS * (1024 * kb // 100) < elements:
        kb += 1
    return kb


def sram_sizes(convs):
    """ifmap, filter and ofmap SRAM kB holding the largest conv layer's (cut, padded) input,
    weights and output."""
    return (sram_kb(max(row[1] * row[2] * row[5] for _, _, row in convs)),
            sram_kb(max(layer.weights.size for _, layer, _ in convs)),
            sram_kb(max(math.prod(layer.shape) for _, layer, _ in convs)))


def run_scalesim(rows, cols, sizes, topology_rows):
    """SCALE-Sim ``ws`` with SRAMs of ``sizes`` kB on every row of ``topology_rows``: its
    per-layer simulations."""
    config = scale_config()
    config.set_arr_dims(rows, cols)
    config.set_dataflow("ws")
    config.set_buffer_sizes_kb(*sizes)
    config.set_bw_mode_to_calc()
    config.force_valid()
    topo = topologies()
    for row in topology_rows:
        topo.load_layer_params_from_list(row[0], row)
    sim = simulator()
    # It writes its report CSVs under top_path.
    with tempfile.TemporaryDirectory(prefix="bench-scalesim-") as tmp:
        sim.set_params(config_obj=config, topo_obj=topo, layout_obj=layouts(), top_path=tmp,
                       verbosity=False, save_trace=False)
        sim.run()
    return sim.single_layer_sim_object_list


def bench(name, config):
    net = netdesc.load(EXAMPLES / NETS[name])
    program = compile_program(net, config)
    step_cycles = {s.layer: s for s in array_cycles(program).steps}
    moved = {s.layer: s for s in array_traffic(compile_program(
        net, replace(config, memory="off_chip", skips="separate"))).steps}
    convs = conv_layers(net, program)
    sizes = sram_sizes(convs)
    sims = run_scalesim(config.rows, config.cols, sizes, [row for _, _, row in convs])
    print(f"\n{name} ({NETS[name]}): array {config.rows}x{config.cols}, "
          f"{program.accumulators} accumulators per column; SCALE-Sim SRAM ifmap / filter / "
          f"ofmap {' / '.join(map(str, sizes))} kB\n")
    cycles, traffic = [], []
    ours_sum = theirs_sum = 0
    for (step, layer, row), sim in zip(convs, sims):
        ours = step_cycles[step.layer]
        overall, compute, stalls = (int(v) for v in sim.get_compute_report_items()[:3])
        # Detail items: (start, stop, count) for SRAM ifmap, filter, ofmap, DRAM the same.
        counts = [int(v) for v in sim.get_detail_report_items()[2::3]]
        folds = sim.compute_system.row_fold * sim.compute_system.col_fold
        cin, h, w = net.shape_of(layer.inputs[0])
        cycles.append([step.layer, f"{cin}->{row[6]} {row[3]}x{row[3]}/{row[7]} on {h}x{w}",
                       f"{len(step.tiles) * step.column_tiles * step.pixel_tiles} / {folds}",
                       ours.mac, ours.total, compute, stalls, overall,
                       f"{ours.total / compute:.3f}"])
        ours_read, ours_written = moved[step.layer].read, moved[step.layer].written
        traffic.append([step.layer, *counts, ours_read, f"{ours_read / counts[3]:.3f}",
                        ours_written, f"{ours_written / counts[5]:.3f}"])
        ours_sum += ours.total
        theirs_sum += compute
    cycles.append(["all convs", "", "", sum(r[3] for r in cycles), ours_sum, theirs_sum,
                   sum(r[6] for r in cycles), sum(r[7] for r in cycles),
                   f"{ours_sum / theirs_sum:.3f}"])
    print(format_table(["layer", "conv", "tiles / folds", "ours MAC", "ours total",
                        "SCALE-Sim compute", "stalls", "incl. prefetch", "ours / SCALE-Sim"],
                       cycles, align="llrrrrrrr"))
    print()
    print(format_table(["layer", "SRAM ifmap reads", "SRAM filter reads", "SRAM ofmap writes",
                        "DRAM ifmap reads", "DRAM filter reads", "DRAM ofmap writes",
                        "ours read (bytes)", "/ ifmap", "ours written", "/ ofmap"],
                       traffic, align="lrrrrrrrrrr"))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nets", default="resnet8", help=f"comma-separated, of {', '.join(NETS)}")
    ap.add_argument("--rows", type=int, default=8)
    ap.add_argument("--cols", type=int, default=8)
    ap.add_argument("--accumulators", type=int, default=None,
                    help="per column (default: the largest output map's pixels)")
    args = ap.parse_args(argv)
    _flat_write_cycles()
    print(f"SCALE-Sim {version('scalesim')}, dataflow ws, interface bandwidth CALC, "
          f"1-byte words; cycles per conv layer, SCALE-Sim accesses in words")
    config = ArrayConfig(args.rows, args.cols, args.accumulators)
    for name in args.nets.split(","):
        bench(name, config)
    return 0


if __name__ == "__main__":
    sys.exit(main())
