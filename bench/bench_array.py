"""The PE array: the Tailor experiment (performance and off-chip traffic of removed and shortened
skips), MAC utilisation, the dataflow architecture's savings beside it, simulation speed.

    .venv/bin/python bench/bench_array.py                        # ResNet-8 variants (~2 min)
    .venv/bin/python bench/bench_array.py --demo report/netdesc  # + the demo's digits variants
    .venv/bin/python bench/bench_array.py --dataflow             # + the dataflow's FIFO bits
                                                                 #   for ResNet-8 (~5 min more)
    .venv/bin/python bench/bench_array.py --out DIR              # plot folder (bench-array/)

1. **The Tailor experiment** (``tailor/array_experiment.py``): baseline / removed / shortened on
   one array, each skip mode, memory bandwidths 1, 2, 4, 8 bytes per cycle: performance gain
   (cycles_base / cycles_variant − 1) and traffic change, beside the paper's +30% / −45%. From
   the cycle and traffic models, which the simulation tests hold equal to the RTL.
   ``tailor.png`` plots cycles against bandwidth.
2. **The dataflow's savings** on the same variants: skip and rate FIFO bits of its plan and its
   steady-state cycles (``rtl.plan.predict``), the dataflow counterpart of the array's traffic.
3. **MAC utilisation** of ResNet-8's 3×3 convs with on-chip memory (done-when: ≥ 80%).
4. **Simulation speed**: one ResNet-8 inference on the array, compiled backend, checked against
   ``netdesc.run``.

Prints figures; asserts nothing.
"""

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

import netdesc  # noqa: E402
from common.table import format_table  # noqa: E402
from rtl.array_program import ArrayConfig, compile_program  # noqa: E402
from rtl.array_timing import array_cycles  # noqa: E402
from tailor.array_experiment import (BANDWIDTHS, HEADERS, PAPER, VARIANTS, measure,  # noqa: E402
                                     plot, resnet8_variants, rows)

LATENCY = 10


def tailor_table(title, nets, config):
    result = measure(nets, config, BANDWIDTHS, LATENCY)
    print(f"\n{title}: PE array {config.rows}x{config.cols}, accumulators "
          f"{config.accumulators or 'auto'}, off-chip memory latency {LATENCY} cycles "
          f"(the paper: {PAPER['performance']:+.0%} performance, {PAPER['traffic']:+.0%} "
          f"memory bandwidth)\n")
    print(format_table(HEADERS, rows(result)))
    on_chip = result["on_chip"]
    base = on_chip["baseline"]
    print("\nall on chip (skips fused): " + ", ".join(
        f"{v} {c:,} cycles ({base / c - 1:+.0%})" for v, c in on_chip.items()))
    return result


def dataflow_table(nets):
    from rtl.network import build_plan
    from rtl.plan import predict
    table = []
    for name, net in nets.items():
        plan = build_plan(net)
        skip = sum(f.bits for f in plan.fifo_report if f.kind == "skip")
        rate = sum(f.bits for f in plan.fifo_report if f.kind != "skip")
        ends = predict(plan, 2)
        table.append([name, f"{skip:,}", f"{rate:,}", f"{ends[1] - ends[0]:,}"])
    print(format_table(["variant", "skip FIFO bits", "rate FIFO bits",
                        "steady-state cycles"], table))


def utilisation(net, config):
    cycles = array_cycles(compile_program(net, config))
    table = [[s.layer, s.op, f"{s.mac:,}", f"{s.total:,}", f"{s.utilisation:.1%}"]
             for s in cycles.steps]
    table.append(["total", "", f"{cycles.mac:,}", f"{cycles.total:,}",
                  f"{cycles.mac / cycles.total:.1%}"])
    print(format_table(["layer", "op", "MAC cycles", "cycles", "MAC use"], table))
    convs = [s for s in cycles.steps if s.op == "conv2d" and net.layer(s.layer).kernel == 3]
    print(f"3x3 convs: MAC use {min(s.utilisation for s in convs):.1%} (lowest) to "
          f"{max(s.utilisation for s in convs):.1%}")


def sim_speed(net, config):
    from rtl.pe_array import ArrayTop
    from rtl.sim import simulate_top
    x = np.random.default_rng(0).integers(0, 256, size=(1, *net.input.shape))
    r = simulate_top(ArrayTop(net, config), x, backend="compiled")
    exact = bool((r.outputs == netdesc.run(net, x)).all())
    print(f"one inference, {r.total_cycles:,} cycles in {r.wall_seconds:.2f} s: "
          f"{r.cycles_per_second:,.0f} cycles/s (compiled, model built in "
          f"{r.compile_seconds:.1f} s); bit-exact against netdesc.run: {exact}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--demo", type=Path, metavar="DIR",
                    help="the demo's netdesc folder (baseline.json, removed.json, shortened.json)")
    ap.add_argument("--dataflow", action="store_true",
                    help="also the dataflow's FIFO analysis of the ResNet-8 variants (slow)")
    ap.add_argument("--rows", type=int, default=8)
    ap.add_argument("--cols", type=int, default=8)
    ap.add_argument("--out", type=Path, default=Path("bench-array"))
    args = ap.parse_args()
    start = time.monotonic()
    config = ArrayConfig(args.rows, args.cols)
    resnet8 = resnet8_variants()
    results = {"ResNet-8 (3x32x32)": tailor_table("ResNet-8 (3x32x32)", resnet8, config)}
    if args.demo:
        demo = {v: netdesc.load(args.demo / f"{v}.json") for v in VARIANTS}
        small = ArrayConfig(4, 4)
        results["digits (demo)"] = tailor_table("digits (the demo's trained students)", demo,
                                                small)
        print("\nthe dataflow architecture on the demo's variants:")
        dataflow_table(demo)
    if args.dataflow:
        print("\nthe dataflow architecture on the ResNet-8 variants:")
        dataflow_table(resnet8)
    args.out.mkdir(parents=True, exist_ok=True)
    plot(results, args.out / "tailor.png")
    print(f"\nwrote {args.out / 'tailor.png'}")
    print(f"\nMAC utilisation, ResNet-8 on an {args.rows}x{args.cols} array, on-chip memory:")
    net = netdesc.load(Path(__file__).resolve().parents[1] / "examples" / "resnet8_shaped.json")
    utilisation(net, config)
    print()
    sim_speed(net, config)
    print(f"\nbench: {time.monotonic() - start:.0f} s")


if __name__ == "__main__":
    main()
