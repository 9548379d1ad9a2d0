"""Benchmark: steady-state cycles per inference of whole generated networks, in RTL simulation,
next to the analytic bound, and the simulator's speed. Prints figures; asserts nothing.

    .venv/bin/python bench/bench_network.py [--nets small,resnet8] [--cap 16] [--inferences 3]
        [--backends compiled,pysim] [--pysim-inferences 1]

For each network, with the default hardware config (parallelism balanced against the slowest
layer, at most ``--cap`` MACs per cycle, see rtl/hwconfig.py):

- bound: max over layers of MACs / (MACs per cycle), and over streams of pixels per tensor
  (one beat per cycle): no design with these MAC arrays can be faster;
- schedule bound: the same with each layer's actual MAC schedule (cycles per output beat x
  output beats; rounding of channel groups can make it larger than the ideal);
- measured: the steady-state cycles between the last two of ``--inferences`` back-to-back
  inferences in simulation, outputs checked bit for bit against netdesc.run;
- ratio = measured / bound (target <= 1.1);
- per simulation backend (rtl.sim): simulated cycles per wall-clock second, the seconds it
  took to compile the model (0 when it came from the cache; delete ~/.cache/tailor/sim-models
  for a cold figure), the speed-up over pysim on the same design in the same run, and whether
  every beat's cycle stamp equals the first backend's. pysim runs ``--pysim-inferences``
  inferences (one ResNet-8 inference takes it about two minutes); the small net's three
  inferences are too short to time the compiled model, ``--nets small --inferences 300`` is not;
- the bits of the analysed skip FIFOs next to whole-feature-map skip buffers, and of the rate
  FIFOs.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import netdesc  # noqa: E402
from netdesc.builder import resnet8_shaped, small_resnet  # noqa: E402
from rtl.hwconfig import HwConfig  # noqa: E402
from rtl.network import NetworkTop  # noqa: E402
from rtl.sim import simulate_top  # noqa: E402
from common.table import format_table  # noqa: E402

NETS = {"small": small_resnet, "resnet8": resnet8_shaped}


def _pixels(shape):
    return shape[1] * shape[2] if len(shape) == 3 else 1


def bounds(net, top):
    """(ideal bound, schedule bound) in cycles per inference."""
    layers = [net.layer(name) for name in top.engines]
    ideal = max([_pixels(net.input.shape)] + [_pixels(l.shape) for l in layers])
    sched = ideal
    for l in layers:
        if l.has_weights:
            ideal = max(ideal, -(-netdesc.macs(l) // top.hw.parallelism[l.name]))
            sched = max(sched, top.engines[l.name].cycles_per_output * _pixels(l.shape))
    return ideal, sched


def bench(name, cap, inferences, backends, pysim_inferences, seed=0):
    """One row of the design's figures and one row per simulation backend."""
    net = NETS[name]()
    t = time.perf_counter()
    top = NetworkTop(net, HwConfig.default(net, cap=cap))
    analysis_s = time.perf_counter() - t
    ideal, sched = bounds(net, top)
    x = np.random.default_rng(seed).integers(0, 256, size=(inferences,) + net.input.shape)
    expected = netdesc.run(net, x)
    runs = {}
    for backend in backends:
        n = pysim_inferences if backend == "pysim" else inferences
        runs[backend] = simulate_top(top, x[:n], progress=True, backend=backend)
    r = max(runs.values(), key=lambda run: len(run.outputs))
    label = f"{name} {'x'.join(map(str, net.input.shape))}"
    design = {
        "net": label, "cap": cap,
        "bound": ideal, "schedule bound": sched, "measured": r.steady_state_cycles,
        "ratio": (r.steady_state_cycles or r.cycles_per_inference) / ideal,
        "latency": r.cycles_per_inference, "analysis s": analysis_s,
        "skip FIFO bits": sum(f.bits for f in top.fifo_report if f.kind == "skip"),
        "whole-map skip bits": sum(f.feature_map_bits for f in top.fifo_report
                                   if f.kind == "skip"),
        "rate FIFO bits": sum(f.bits for f in top.fifo_report if f.kind == "rate"),
    }
    first = runs[backends[0]]
    pysim = runs.get("pysim")
    speed = []
    for backend, run in runs.items():
        n = len(run.outputs)
        speed.append({
            "net": label, "backend": backend, "inferences": n,
            "bit-exact": bool(np.array_equal(run.outputs, expected[:n])),
            "stamps as " + backends[0]: _same_stamps(run, first),
            "sim cycles": run.total_cycles, "cycles/s": run.cycles_per_second,
            "compile s": run.compile_seconds,
            "x pysim": run.cycles_per_second / pysim.cycles_per_second if pysim else float("nan"),
        })
    return design, speed, {k: v for run in runs.values() for k, v in run.versions.items()}


def _same_stamps(a, b):
    """Every beat both runs moved has the same cycle stamp (the shorter run is a prefix)."""
    return all(s[:len(t)] == t[:len(s)] for s, t in zip(a.input_stamps + a.output_stamps,
                                                          b.input_stamps + b.output_stamps))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nets", default="small,resnet8")
    p.add_argument("--cap", type=int, default=16, help="max MACs per cycle per layer")
    p.add_argument("--inferences", type=int, default=3)
    p.add_argument("--backends", default="compiled,pysim",
                   help="simulation backends, the first is the reference for the stamps")
    p.add_argument("--pysim-inferences", type=int, default=1,
                   help="inferences simulated by pysim (slow)")
    args = p.parse_args(argv)
    backends = args.backends.split(",")
    designs, speeds, tools = [], [], []
    for name in args.nets.split(","):
        design, speed, versions = bench(name, args.cap, args.inferences, backends,
                                        args.pysim_inferences)
        designs.append(design)
        tools.append(versions)
        speeds += speed
        for row in [design] + speed:
            print(", ".join(f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}"
                            for k, v in row.items()), flush=True)
    versions = {k: v for run_versions in tools for k, v in run_versions.items()}
    print("\ntools: " + ", ".join(f"{k} {v}" for k, v in versions.items()) + "\n")
    for rows in (designs, speeds):
        headers = list(rows[0])
        print(format_table(headers, [[f"{r[h]:,.2f}" if isinstance(r[h], float) else r[h]
                                      for h in headers] for r in rows]))
        print()


if __name__ == "__main__":
    main()
