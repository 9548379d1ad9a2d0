"""The Tailor experiment on the layer-serial PE array: how removing or shortening skips changes
its cycles and its off-chip traffic, for every skip mode and memory bandwidth.

The Tailor paper reports "+30% performance and −45% memory bandwidth for a 2D processing element
array" without the array, its buffers, the network or how the baseline handled its skips
(../shared/ARRAY.md), so every skip mode and bandwidth is reported here, each figure from the
models the simulation matches exactly (:mod:`rtl.array_timing`, :mod:`rtl.array_traffic`):

- performance gain of a variant: ``cycles(baseline) / cycles(variant) − 1`` at the same array,
  skip mode and bandwidth;
- traffic change: ``bytes(variant) / bytes(baseline) − 1`` through the memory port (weights
  stay on chip, the input and output streams are the same for every variant).
"""

from dataclasses import replace

from common.plots import pyplot, save_png
from netdesc.builder import NetBuilder
from rtl.array_program import SKIP_MODES, compile_program
from rtl.array_timing import array_cycles
from rtl.array_traffic import array_traffic

BANDWIDTHS = (1, 2, 4, 8)
PAPER = {"performance": 0.30, "traffic": -0.45}
VARIANTS = ("baseline", "removed", "shortened")


def measure(nets, config, bandwidths=BANDWIDTHS, latency=10):
    """Cycles and off-chip bytes of each of ``nets`` (``{variant: Netdesc}``, the baseline
    first) on the array of ``config`` (its memory and skip mode are varied here): a JSON-ready
    dict with ``config``, ``latency``, ``points`` (variant, skips, bandwidth, cycles, bytes,
    mac_cycles) and ``on_chip`` (variant: cycles with every tensor on chip)."""
    points = []
    on_chip = {}
    for name, net in nets.items():
        on_chip[name] = array_cycles(compile_program(
            net, replace(config, memory="on_chip", skips="fused"))).total
        for skips in SKIP_MODES:
            program = compile_program(net, replace(config, memory="off_chip", skips=skips))
            moved = array_traffic(program).total
            for b in bandwidths:
                cycles = array_cycles(program, b, latency)
                points.append({"variant": name, "skips": skips, "bandwidth": b,
                               "cycles": cycles.total, "mac_cycles": cycles.mac, "bytes": moved})
    return {"config": {"rows": config.rows, "cols": config.cols,
                       "accumulators": config.accumulators},
            "latency": latency, "points": points, "on_chip": on_chip}


def gain(base, other):
    """Performance gain of ``other`` over ``base`` cycles: base / other − 1."""
    return base / other - 1


def change(base, other):
    return other / base - 1


HEADERS = ["skips", "B/cycle", "baseline cycles", "removed perf.", "shortened perf.",
           "baseline bytes", "removed traffic", "shortened traffic"]


def rows(result):
    """One row per skip mode and bandwidth: the baseline's cycles and bytes, and each variant's
    performance gain and traffic change against it (the paper: +30%, −45%)."""
    at = {(p["variant"], p["skips"], p["bandwidth"]): p for p in result["points"]}
    variants = list(result["on_chip"])
    out = []
    for skips in SKIP_MODES:
        for b in sorted({p["bandwidth"] for p in result["points"]}):
            base = at[(variants[0], skips, b)]
            row = [skips, b, f"{base['cycles']:,}"]
            row += [f"{gain(base['cycles'], at[(v, skips, b)]['cycles']):+.0%}" for v in variants[1:]]
            row.append(f"{base['bytes']:,}")
            row += [f"{change(base['bytes'], at[(v, skips, b)]['bytes']):+.0%}" for v in variants[1:]]
            out.append(row)
    return out


def plot(results, path):
    """Cycles against bandwidth, per variant and skip mode: one panel per ``{title: result}``
    of :func:`measure`."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(results), figsize=(5.5 * len(results), 3.6), squeeze=False)
    for ax, (title, result) in zip(axes[0], results.items()):
        for variant, color in zip(VARIANTS, ["#4c72b0", "#dd8452", "#55a868"]):
            for skips, style in zip(SKIP_MODES, ["-", "--", ":"]):
                pts = sorted((p["bandwidth"], p["cycles"]) for p in result["points"]
                             if p["variant"] == variant and p["skips"] == skips)
                ax.plot([b for b, _ in pts], [c for _, c in pts], style, color=color,
                        marker="o", ms=3, label=f"{variant}, {skips}")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("off-chip bytes per cycle")
        ax.set_ylabel("cycles per inference")
        ax.set_title(title, fontsize=10)
    axes[0][-1].legend(fontsize=7, bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.tight_layout()
    save_png(fig, path)


def resnet8_variants(seed=0):
    """ResNet-8 for 3×32×32 inputs (16, 32, 64 channels; the shape of
    ``examples/resnet8_shaped.json``) as baseline, with its skips removed, and with its skips
    shortened as Tailor shortens them (each conv spanned by its own skip; a 1×1 projection
    where the shape changes). Random weights: the array's cycles and traffic depend only on
    the structure."""
    return {v: _resnet8(v, seed) for v in VARIANTS}


def _resnet8(variant, seed):
    b = NetBuilder(f"resnet8-{variant}", (3, 32, 32), rng=seed)
    x = b.conv("stem", 16)
    for n, (ch, stride) in enumerate([(16, 1), (32, 2), (64, 2)], start=1):
        projected = stride != 1
        if variant == "baseline":
            y = b.conv(f"b{n}_conv1", ch, stride=stride, src=x)
            y = b.conv(f"b{n}_conv2", ch, src=y, relu=False, signed=True)
            skip = (b.conv(f"b{n}_proj", ch, kernel=1, stride=stride, padding=0, src=x,
                           relu=False, signed=True) if projected else x)
            x = b.add(f"b{n}_add", y, skip)
        elif variant == "removed":
            y = b.conv(f"b{n}_conv1", ch, stride=stride, src=x)
            x = b.conv(f"b{n}_conv2", ch, src=y)
        else:
            y = b.conv(f"b{n}_conv1", ch, stride=stride, src=x)
            skip = (b.conv(f"b{n}_proj", ch, kernel=1, stride=stride, padding=0, src=x,
                           relu=False, signed=True) if projected else x)
            y = b.add(f"b{n}_add1", y, skip)
            z = b.conv(f"b{n}_conv2", ch, src=y, relu=False, signed=True)
            x = b.add(f"b{n}_add2", z, y)
    b.global_avg_pool("pool")
    b.dense("fc", 10)
    return b.build()

