"""Benchmark: steady-state cycles per inference of whole generated networks, in RTL simulation,
next to the analytic bound, and the simulator's speed. Prints figures; asserts nothing.

    .venv/bin/python bench/bench_network.py [--nets small,resnet8] [--cap 16] [--inferences 3]

For each network, with the default hardware config (parallelism balanced against the slowest
layer, at most ``--cap`` MACs per cycle, see rtl/hwconfig.py):

- bound: max over layers of MACs / (MACs per cycle), and over streams of pixels per tensor
  (one beat per cycle): no design with these MAC arrays can be faster;
- schedule bound: the same with each layer's actual MAC schedule (cycles per output beat x
  output beats; rounding of channel groups can make it larger than the ideal);
- measured: the steady-state cycles between the last two of ``--inferences`` back-to-back
  inferences in Amaranth's simulator, outputs checked bit for bit against netdesc.run;
- ratio = measured / bound (target <= 1.1), and simulated cycles per wall-clock second;
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


def bench(name, cap, inferences, seed=0):
    net = NETS[name]()
    t = time.perf_counter()
    top = NetworkTop(net, HwConfig.default(net, cap=cap))
    analysis_s = time.perf_counter() - t
    ideal, sched = bounds(net, top)
    x = np.random.default_rng(seed).integers(0, 256, size=(inferences,) + net.input.shape)
    r = simulate_top(top, x, progress=True)
    exact = bool(np.array_equal(r.outputs, netdesc.run(net, x)))
    skip_bits = sum(f.bits for f in top.fifo_report if f.kind == "skip")
    rate_bits = sum(f.bits for f in top.fifo_report if f.kind == "rate")
    map_bits = sum(f.feature_map_bits for f in top.fifo_report if f.kind == "skip")
    return {
        "net": f"{name} {'x'.join(map(str, net.input.shape))}", "cap": cap,
        "bound": ideal, "schedule bound": sched, "measured": r.steady_state_cycles,
        "ratio": r.steady_state_cycles / ideal, "latency": r.cycles_per_inference,
        "bit-exact": exact, "sim cycles": r.total_cycles,
        "sim cycles/s": r.cycles_per_second, "analysis s": analysis_s,
        "skip FIFO bits": skip_bits, "whole-map skip bits": map_bits, "rate FIFO bits": rate_bits,
    }


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--nets", default="small,resnet8")
    p.add_argument("--cap", type=int, default=16, help="max MACs per cycle per layer")
    p.add_argument("--inferences", type=int, default=3)
    args = p.parse_args(argv)
    rows = []
    for name in args.nets.split(","):
        row = bench(name, args.cap, args.inferences)
        rows.append(row)
        print(", ".join(f"{k}: {v:.3f}" if isinstance(v, float) else f"{k}: {v}"
                        for k, v in row.items()), flush=True)
    print()
    headers = list(rows[0])
    print(format_table(headers, [[f"{r[h]:.2f}" if isinstance(r[h], float) else r[h]
                                  for h in headers] for r in rows]))


if __name__ == "__main__":
    main()
