"""Synthesis figures: LUT / FF / BRAM / DSP / LUT-RAM and Yosys seconds per netdesc and target.

    .venv/bin/python bench/bench_synth.py                      # reference nets, all targets
    .venv/bin/python bench/bench_synth.py --net examples/resnet8_shaped.json --target ecp5
    .venv/bin/python bench/bench_synth.py --update-baselines   # rewrite platforms/baselines/
    .venv/bin/python bench/bench_synth.py --builds             # bitstreams for both boards

``--update-baselines`` synthesizes every (net, target) pair of
:data:`platforms.regression.BASELINES` and stores the reports as the new baselines that
``tests/test_synth.py`` compares against; run it after an intended hardware change or a
toolchain upgrade and commit the JSON files with that change. ``--repeat 2`` synthesizes each
design twice and says whether the two runs gave identical numbers.

``--builds`` builds the UART accelerator for both boards from digits-sized networks
(``examples/small_resnet.json`` and a one-block variant, :func:`digits_block`), ResNet-8-shaped
folded to 300,000 cycles for the ULX3S-85F, and small_resnet on the PE array for the
iCEBreaker, and prints nextpnr's utilisation, Fmax, build time, the latency of one inference in
cycles (timing model) and in ms at the Fmax, and the critical path's place, or why a build
failed (a design that does not fit). The folded configs are those `tailor build` (or `tailor
fold --cycles`) picks for the board; "no MAC registers" is the same config with
``registered_macs`` off. The anchors are printed below the table.

ResNet-8-shaped synthesis takes minutes per target (it is measured here, not in the tests).
Prints figures; asserts nothing.
"""

import argparse
import json
from dataclasses import replace
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import netdesc  # noqa: E402
from netdesc.builder import NetBuilder  # noqa: E402
from platforms.build import BOARD_RESOURCES, build, minimal_hw  # noqa: E402
from platforms.cli import run_fold  # noqa: E402
from platforms.fold import device_for  # noqa: E402
from rtl.array_program import compile_program  # noqa: E402
from rtl.array_timing import array_cycles  # noqa: E402
from rtl.hwconfig import HwConfig  # noqa: E402
from rtl.network import NetworkTop  # noqa: E402
from rtl.plan import predict  # noqa: E402
from tailor.study import ARRAY  # noqa: E402
from platforms.regression import BASELINES, EXAMPLES, reference_nets, save_baseline  # noqa: E402
from common.errors import TailorError  # noqa: E402
from platforms.resources import CATEGORIES, TARGETS  # noqa: E402
from platforms.synth import synthesize_net  # noqa: E402
from common.io import write_text  # noqa: E402
from common.table import format_table  # noqa: E402
from tqdm import tqdm  # noqa: E402


def digits_block(rng=0):
    """A digits-sized residual network (1x8x8 input, 10 classes) with one block of 2 channels:
    what fits an iCE40UP5K with one MAC per layer."""
    b = NetBuilder("digits-block", (1, 8, 8), rng=rng)
    x = b.conv("stem", 2)
    c1 = b.conv("b1_conv1", 2, src=x)
    c2 = b.conv("b1_conv2", 2, src=c1, relu=False, signed=True)
    b.add("b1_add", c2, x)
    b.global_avg_pool("pool")
    b.dense("fc", 10)
    return b.build()


# (net, board, hardware config name); "default" is HwConfig.default, "folded" what
# `tailor build` picks for the board (platforms.fold), ARRAY_HW the demo's PE array.
ARRAY_HW = "PE array 4x2"
BUILDS = [("small_resnet", "ulx3s-85f", "default"), ("small_resnet", "ulx3s-85f", "folded"),
          ("small_resnet", "ulx3s-85f", "folded, no MAC registers"),
          ("small_resnet", "icebreaker", "1 MAC/layer"),
          ("small_resnet", "icebreaker", ARRAY_HW),
          ("digits_block", "icebreaker", "1 MAC/layer"), ("digits_block", "ulx3s-85f", "default"),
          ("resnet8_shaped", "ulx3s-85f", "folded to 300k cycles"),
          ("resnet8_shaped", "ulx3s-85f", "folded to 300k cycles of latency")]
ANCHORS = [("fpgaConvNet", "ResNet-8", "Zybo Z7-10 (xc7z010)", "125 MHz", "3.15 ms"),
           ("hls4ml", "MLPerf Tiny ResNet", "-", "-", "7.6 ms")]


def _hw(net, board, hw_name, folded):
    """The hardware config ``hw_name`` of BUILDS (folds once per net and board)."""
    if hw_name == "default":
        return HwConfig.default(net)
    if hw_name == "1 MAC/layer":
        return minimal_hw(net)
    if hw_name == ARRAY_HW:
        return HwConfig(array=ARRAY)
    if hw_name == "folded to 300k cycles":
        return run_fold(net, device_for(board=board), cycles=300_000).hw
    if hw_name == "folded to 300k cycles of latency":
        return run_fold(net, device_for(board=board), latency=300_000).hw
    if (net.name, board) not in folded:
        folded[net.name, board] = run_fold(net, device_for(board=board)).hw
    hw, registered = folded[net.name, board], hw_name == "folded"
    if hw.registered_macs == registered:
        return hw
    # Its FIFO depths, pinned by the fold, were sized for its own MAC registers: sized again.
    return replace(hw, registered_macs=registered, fifo_depths={}, rate_fifo_depths={})


def run_builds():
    nets = {"small_resnet": reference_nets()["small_resnet"], "digits_block": digits_block(),
            "resnet8_shaped": netdesc.load(EXAMPLES / "resnet8_shaped.json")}
    rows, folded = [], {}
    with tempfile.TemporaryDirectory(prefix="bench-build-") as tmp:
        for n, (name, board, hw_name) in enumerate(tqdm(BUILDS, desc="builds", file=sys.stderr)):
            net = nets[name]
            hw = _hw(net, board, hw_name, folded)
            arch = "array" if hw_name == ARRAY_HW else "dataflow"
            latency = (array_cycles(compile_program(net, hw.array)).latency if arch == "array"
                       else predict(NetworkTop(net, hw).plan, 1)[0])
            start = time.monotonic()
            try:
                r = build(net, board, Path(tmp) / f"{n}-{name}-{board}", hw=hw, arch=arch)
            except TailorError as e:
                rows.append([name, board, hw_name, "-", "-", "-", "-", "-", "-",
                             round(time.monotonic() - start, 1), f"{latency:,}", "-",
                             str(e).split(" (lower")[0]])
                continue
            used = [r.utilisation[k]["used"] if k else "-" for k in BOARD_RESOURCES[board]]
            path = r.critical_path
            rows.append([name, board, hw_name, *used, r.fmax_mhz, r.seconds, f"{latency:,}",
                         f"{latency / r.fmax_mhz / 1000:.3f}",
                         f"{path['ns']:.1f} ns in {path['through'][0][0]}" if path else "?"])
    print(format_table(["net", "board", "hw", "logic (LC / COMB)", "FF", "BRAM", "DSP",
                        "LUT-RAM (RAMW)", "Fmax MHz", "build s", "latency cycles",
                        "latency ms", "critical path / result"], rows))
    print("\nanchors (published):")
    print(format_table(["tool", "network", "device", "clock", "latency"], ANCHORS))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--net", action="append", metavar="NET.json",
                    help="netdesc to synthesize (repeatable; default: the reference nets)")
    ap.add_argument("--target", action="append", choices=TARGETS,
                    help="target (repeatable; default: all)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per design (identity check)")
    ap.add_argument("--update-baselines", action="store_true",
                    help="rewrite platforms/baselines/*.json from fresh runs")
    ap.add_argument("--tables", action="store_true", help="print each per-layer table")
    ap.add_argument("--json", metavar="OUT.json", help="write every report as JSON")
    ap.add_argument("--builds", action="store_true",
                    help="build bitstreams for both boards instead of synthesizing")
    args = ap.parse_args(argv)
    if args.builds:
        run_builds()
        return 0

    refs = reference_nets()
    if args.update_baselines:
        jobs = [(refs[name], name, target) for name, target in BASELINES]
    else:
        nets = ([(netdesc.load(p), Path(p).stem) for p in args.net] if args.net
                else [(net, name) for name, net in refs.items()])
        jobs = [(net, name, t) for net, name in nets for t in (args.target or TARGETS)]

    rows, reports = [], {}
    with tempfile.TemporaryDirectory(prefix="bench-synth-") as tmp:
        for net, name, target in tqdm(jobs, desc="synthesis", file=sys.stderr):
            runs = []
            for k in range(args.repeat):
                start = time.monotonic()
                report = synthesize_net(net, target, Path(tmp) / f"{name}-{target}-{k}")
                wall = time.monotonic() - start
                runs.append((report, wall))
            report, wall = runs[0]
            data = report.to_json()
            identical = all(r.to_json()["cells"] == data["cells"] and
                            r.to_json()["units"] == data["units"] for r, _ in runs[1:])
            reports[f"{name}-{target}"] = data
            rows.append([name, target] + [data["total"][c] for c in CATEGORIES] +
                        [round(report.seconds, 1), round(wall, 1),
                         "-" if args.repeat == 1 else "yes" if identical else "NO",
                         len(report.memory_notes())])
            if args.tables:
                print(f"\n{name} on {target}:\n{report.table()}")
                for note in report.memory_notes():
                    print(f"note: {note}")
            if args.update_baselines:
                save_baseline(data, name, target)
    print()
    print(format_table(["net", "target", *CATEGORIES, "yosys s", "wall s", "repeat identical",
                        "mems in logic"], rows))
    if args.update_baselines:
        print(f"\nrewrote {len(jobs)} baselines in platforms/baselines/")
    if args.json:
        write_text(args.json, json.dumps(reports, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
