"""``tailor sim`` and ``tailor verilog``: simulate the generated accelerator, export it."""

import argparse
import json

from netdesc.validate import MAX_NAME, is_name
from common.argtypes import output_file, positive
from common.table import format_table


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
                                   "inferences and the skip / rate FIFO depths.")
    p.add_argument("net", metavar="NET.json")
    p.add_argument("--input", required=True, metavar="X.npy")
    p.add_argument("--output", required=True, metavar="Y.npy", type=output_file)
    p.add_argument("--hw", metavar="HW.json", help="hardware config (default: balanced defaults)")
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
    p.add_argument("--out", required=True, metavar="FILE", type=output_file)
    p.add_argument("--rtlil", action="store_true", help="write RTLIL instead of Verilog")
    p.add_argument("--name", default="tailor_top", type=_module_name,
                   help="module name, an identifier (default tailor_top)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.set_defaults(func=cmd_verilog)


def _fifo_rows(report):
    return [{"name": r.name, "kind": r.kind, "add": r.add, "tensor": r.tensor,
             "reader": r.reader, "reader_input": r.reader_input,
             "depth": r.depth, "analysed_depth": r.analysed_depth, "beat_bits": r.beat_bits,
             "bits": r.bits, "feature_map_depth": r.feature_map_depth,
             "feature_map_bits": r.feature_map_bits} for r in report]


def cmd_sim(args):
    import numpy as np

    from netdesc.cli import read_inputs, write_outputs
    from .hwconfig import load_net_and_hw
    from .network import NetworkTop
    from .sim import DEFAULT_STALL_CYCLES, simulate_top

    net, hw = load_net_and_hw(args.net, args.hw)
    x, single = read_inputs(net, args.input)
    top = NetworkTop(net, hw)
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
        "parallelism": top.hw.parallelism,
        "fifos": _fifo_rows(top.fifo_report),
    }
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
    if report["fifos"]:
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
    text = convert(net, hw, fmt=fmt, name=args.name)
    write_text(args.out, text)
    if args.json:
        print(json.dumps({"net": net.name, "format": fmt, "out": args.out, "module": args.name,
                          "bytes": len(text.encode())}, indent=1))
    else:
        print(f"wrote {args.out}: {fmt} module '{args.name}' for netdesc '{net.name}'")
    return 0
