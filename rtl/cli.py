"""``tailor sim`` and ``tailor verilog``: simulate the generated accelerator, export it."""

import argparse
import json

from netdesc.validate import MAX_NAME, is_name
from common.argtypes import output_file, positive
from common.table import format_table

from .accelerators import DEFAULT_BANDWIDTH, DEFAULT_LATENCY, arch_argument
from .array_program import MEMORIES, SKIP_MODES


def _module_name(text):
    """A Verilog / RTLIL module name: the netdesc naming rule (an identifier)."""
    if not is_name(text):
        raise argparse.ArgumentTypeError(
            f"must be an identifier of letters, digits and '_', not starting with a digit, at "
            f"most {MAX_NAME} characters (got {text!r})")
    return text


def register(sub):
    p = sub.add_parser("sim", help="cycle-accurate simulation of the generated accelerator",
                       description="Simulate the accelerator generated from NET.json on the integer "
                                   "inputs in X.npy ([N, C, H, W] or [C, H, W]), streamed back to "
                                   "back; write the outputs (int64, as `tailor ref` does) to Y.npy "
                                   "and print cycles per inference, the steady-state cycles between "
                                   "inferences and the skip / rate FIFO depths (dataflow) or the "
                                   "cycles and off-chip traffic per layer (array).")
    p.add_argument("net", metavar="NET.json")
    p.add_argument("--input", required=True, metavar="X.npy")
    p.add_argument("--output", required=True, metavar="Y.npy", type=output_file)
    p.add_argument("--hw", metavar="HW.json", help="hardware config (default: balanced defaults)")
    arch_argument(p)
    _memory_arguments(p)
    p.add_argument("--vcd", metavar="FILE", type=output_file, help="write the waveforms to FILE")
    p.add_argument("--stall-cycles", type=positive, default=None, metavar="N",
                   help="give up when no beat moves for N cycles (default 20000)")
    p.add_argument("--backend", choices=("compiled", "pysim"), default=None,
                   help="compiled: the design verilated into a cached C++ model (about a million "
                        "cycles/s); pysim: Amaranth's Python simulator (default: compiled when "
                        "this machine can build it, else pysim)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_sim)

    p = sub.add_parser("verilog", help="export the generated accelerator as Verilog or RTLIL",
                       description="Generate the accelerator of NET.json and write it as Verilog "
                                   "(or RTLIL with --rtlil); the file header documents the stream "
                                   "ports i_valid/i_ready/i_payload and o_valid/o_ready/o_payload.")
    p.add_argument("net", metavar="NET.json")
    p.add_argument("--hw", metavar="HW.json", help="hardware config (default: balanced defaults)")
    arch_argument(p)
    p.add_argument("--out", required=True, metavar="FILE", type=output_file)
    p.add_argument("--rtlil", action="store_true", help="write RTLIL instead of Verilog")
    p.add_argument("--name", default="tailor_top", type=_module_name,
                   help="module name, an identifier (default tailor_top)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_verilog)

    p = sub.add_parser(
        "traffic", help="off-chip traffic and cycles of the PE array, per layer, from its model",
        description="Compile NET.json for the PE array (the hardware config's 'array': rows, "
                    "cols, accumulators, skips) and print, per layer, the bytes it reads from and "
                    "writes to off-chip memory and its cycles at --bandwidth bytes per cycle, from "
                    "the analytic models (rtl/array_traffic.py, rtl/array_timing.py) that the "
                    "simulation's memory counters and cycle counts match exactly. Weights stay "
                    "on chip; the input and output streams are listed beside the memory port.")
    p.add_argument("net", metavar="NET.json")
    p.add_argument("--hw", metavar="HW.json", help="hardware config (default: the defaults)")
    p.add_argument("--arch", choices=("array",), default="array",
                   help="the architecture (only the PE array moves tensors off chip)")
    p.add_argument("--memory", choices=MEMORIES, default="off_chip",
                   help="where tensors live (default off_chip; on_chip moves nothing)")
    p.add_argument("--skips", choices=SKIP_MODES,
                   help="how adds run (default: the hardware config's, else separate)")
    _memory_arguments(p, required=True)
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_traffic)


def _memory_arguments(p, required=False):
    p.add_argument("--bandwidth", type=positive, required=required,
                   default=None if required else DEFAULT_BANDWIDTH, metavar="B",
                   help="off-chip memory bytes per cycle (array with off-chip memory" +
                        ("" if required else f"; default {DEFAULT_BANDWIDTH}") + ")")
    p.add_argument("--latency", type=positive, default=DEFAULT_LATENCY, metavar="L",
                   help=f"off-chip read latency in cycles (default {DEFAULT_LATENCY})")


def _fifo_rows(report):
    return [{"name": r.name, "kind": r.kind, "add": r.add, "tensor": r.tensor,
             "reader": r.reader, "reader_input": r.reader_input,
             "depth": r.depth, "analysed_depth": r.analysed_depth, "beat_bits": r.beat_bits,
             "bits": r.bits, "feature_map_depth": r.feature_map_depth,
             "feature_map_bits": r.feature_map_bits} for r in report]


def cmd_sim(args):
    import numpy as np

    from netdesc.cli import read_inputs, write_outputs
    from .accelerators import simulated
    from .hwconfig import load_net_and_hw
    from .sim import DEFAULT_STALL_CYCLES, simulate_top

    net, hw = load_net_and_hw(args.net, args.hw)
    x, single = read_inputs(net, args.input)
    top = simulated(net, hw, args.arch, args.bandwidth, args.latency)
    result = simulate_top(top, x, vcd=args.vcd,
                          stall_cycles=args.stall_cycles or DEFAULT_STALL_CYCLES,
                          progress=not args.json, backend=args.backend)
    y = write_outputs(args.output, result.outputs, single)
    report = {
        "net": net.name, "inputs": int(x.shape[0]), "output": args.output,
        "cycles_per_inference": result.cycles_per_inference,
        "first_output_cycle": result.first_output_cycle,
        "steady_state_cycles": result.steady_state_cycles,
        "total_cycles": result.total_cycles,
        "backend": result.backend,
        "cycles_per_second": round(result.cycles_per_second),
        "compile_seconds": round(result.compile_seconds, 2),
        "versions": result.versions,
        "arch": args.arch,
    }
    if args.arch == "array":
        report["array"] = _array_report(top.program, args.bandwidth, args.latency)
    else:
        report.update(parallelism=top.hw.parallelism, fifos=_fifo_rows(top.fifo_report))
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"wrote {args.output}: {list(np.shape(y))} int64 from {x.shape[0]} input(s)")
    print(f"cycles per inference (first input beat to last output beat): "
          f"{result.cycles_per_inference}")
    steady = result.steady_state_cycles
    print("steady-state cycles between inferences: "
          + (str(steady) if steady is not None else "n/a (one input; give several to measure)"))
    built = (f"model compiled in {result.compile_seconds:.1f} s" if result.compile_seconds
             else "model from the cache") if result.backend == "compiled" else None
    print(f"simulated {result.total_cycles} cycles at {result.cycles_per_second:,.0f} cycles/s "
          f"({result.backend}: " + ", ".join(filter(None, [built] + [
              f"{tool} {version}" for tool, version in result.versions.items()])) + ")")
    if args.arch == "array":
        print()
        _print_array(report["array"])
    elif report["fifos"]:
        print()
        print(format_table(["FIFO", "kind", "carries", "depth (beats)", "bits",
                            "whole map (beats)", "whole map bits"],
                           [[r["name"], r["kind"], r["tensor"], r["depth"], r["bits"],
                             r["feature_map_depth"], r["feature_map_bits"]]
                            for r in report["fifos"]]))
    return 0


def cmd_verilog(args):
    from common.io import write_text

    from .export import convert
    from .hwconfig import load_net_and_hw
    net, hw = load_net_and_hw(args.net, args.hw)
    fmt = "rtlil" if args.rtlil else "verilog"
    text = convert(net, hw, fmt=fmt, name=args.name, arch=args.arch)
    write_text(args.out, text)
    if args.json:
        print(json.dumps({"net": net.name, "format": fmt, "out": args.out, "module": args.name,
                          "bytes": len(text.encode())}, indent=1))
    else:
        print(f"wrote {args.out}: {fmt} module '{args.name}' for netdesc '{net.name}'")
    return 0


def _array_report(program, bandwidth, latency):
    """The PE array's configuration, and per layer its cycles (:mod:`rtl.array_timing`) and
    off-chip bytes (:mod:`rtl.array_traffic`) for ``program``, its memory port (when off chip)
    moving ``bandwidth`` bytes per cycle at ``latency``."""
    from .array_timing import array_cycles
    from .array_traffic import array_traffic
    cycles = array_cycles(program, bandwidth, latency)  # the memory's figures when off chip
    traffic = array_traffic(program)
    layers = [{"layer": c.layer, "op": c.op, "mac_cycles": c.mac, "cycles": c.total,
               "mac_use": round(c.utilisation, 3), "bytes_read": t.reads,
               "bytes_written": t.written} for c, t in zip(cycles.steps, traffic.steps)]
    return {
        "config": program.config.to_json_obj(),
        "memory_port": cycles.memory or None,
        "scratchpad_words": program.memory_words, "word_bytes": program.word_bytes,
        "layers": layers,
        "streams": {"input_bytes": traffic.input_bytes, "output_bytes": traffic.output_bytes},
        "total": {"bytes": traffic.total, "bytes_read": traffic.read,
                  "bytes_written": traffic.written, "cycles": cycles.total,
                  "latency_cycles": cycles.latency, "mac_cycles": cycles.mac},
    }


def _print_array(report):
    cfg = report["config"]
    port = report["memory_port"]
    print(f"PE array {cfg['rows']}x{cfg['cols']}, {cfg['accumulators'] or 'auto'} accumulators "
          f"per column, memory {cfg['memory']}, skips {cfg['skips']}; scratchpad "
          f"{report['scratchpad_words']:,} words of {report['word_bytes']} bytes" +
          (f"; memory port {port['bytes_per_cycle']} bytes/cycle, latency {port['latency']}"
           if port else ""))
    rows = [[r["layer"], r["op"], f"{r['mac_cycles']:,}", f"{r['cycles']:,}",
             f"{100 * r['mac_use']:.0f}%",
             ", ".join(f"{t} {b:,}" for t, b in r["bytes_read"].items()) or "-",
             f"{r['bytes_written']:,}" if r["bytes_written"] else "-"] for r in report["layers"]]
    total = report["total"]
    rows.append(["total", "", f"{total['mac_cycles']:,}", f"{total['cycles']:,}",
                 f"{100 * total['mac_cycles'] / total['cycles']:.0f}%",
                 f"{total['bytes_read']:,}", f"{total['bytes_written']:,}"])
    print(format_table(["layer", "op", "MAC cycles", "cycles", "MAC use", "read (bytes)",
                        "written (bytes)"], rows))
    streams = report["streams"]
    print(f"off-chip bytes through the memory port: {total['bytes']:,} per inference "
          f"(plus the streams: input {streams['input_bytes']:,}, output "
          f"{streams['output_bytes']:,}); weights stay on chip")


def cmd_traffic(args):
    from dataclasses import replace

    from .array_program import compile_program
    from .hwconfig import HwConfig, load_net_and_hw

    net, hw = load_net_and_hw(args.net, args.hw)
    array = (hw or HwConfig()).array
    config = replace(array, memory=args.memory, skips=args.skips or array.skips)
    report = {"net": net.name, "arch": args.arch,
              **_array_report(compile_program(net, config), args.bandwidth, args.latency)}
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"{net.source}: '{net.name}' on the PE array (model: rtl/array_traffic.py, "
          f"rtl/array_timing.py)\n")
    _print_array(report)
    return 0
