"""The study's report folder: ``report.md`` (one table a person reads), ``study.json`` (the data
behind it) and plots (resources per variant; where the BRAM goes, per layer; the PE array's
cycles against memory bandwidth).

Input is plain data (see :func:`write_report`), so the report can be rebuilt from the JSON.
"""

import json
from pathlib import Path

from common.io import write_text
from common.plots import pyplot, save_png
from common.table import format_table

from . import array_experiment

METRICS = ("LUT", "FF", "BRAM", "DSP")


def _cell(value, base, fmt="{:,}"):
    """``value`` formatted, with its change against ``base`` when both are known and differ
    from the baseline row itself (``base`` is ``None`` for that row)."""
    if value is None:
        return "n/m"  # not measured
    text = fmt.format(value)
    if base not in (None, 0):
        text += f" ({(value - base) / base * 100:+.0f}%)"
    return text


def _figures(v, target):
    res = v["resources"][target]
    return ([res[m] for m in METRICS] + [v["skip_fifo_bits"]["minimal"], v["skip_fifo_bits"]["full_map"],
                                         v["cycles_per_inference"]])


def variant_rows(study, target):
    """Table rows for ``target``: one a variant, each figure with its change against the first."""
    base = study["variants"][0]
    rows = []
    for v in study["variants"]:
        first = v is base
        acc, base_acc = v.get("accuracy"), base.get("accuracy")
        accuracy = "n/m" if acc is None else f"{acc * 100:.2f}%"
        if acc is not None and base_acc is not None and not first:
            accuracy += f" ({(acc - base_acc) * 100:+.2f} pt)"
        base_figures = [None] * 7 if first else _figures(base, target)
        rows.append([v["name"], accuracy,
                     *[_cell(x, b) for x, b in zip(_figures(v, target), base_figures)],
                     _cell(v.get("fmax_mhz"), None if first else base.get("fmax_mhz"), "{:.1f}")])
    return rows


HEADERS = ["variant", "accuracy", *METRICS, "skip-FIFO bits (minimal)",
           "skip-FIFO bits (H×W maps)", "cycles / inference", "Fmax MHz"]


def markdown(study):
    lines = [f"# {study['title']}", ""]
    if study.get("summary"):
        lines += [study["summary"], ""]
    for target in study["targets"]:
        lines += [f"## {target}", "", format_table(HEADERS, variant_rows(study, target), markdown=True), ""]
    lines += ["Changes are against the first row. `n/m`: not measured. Skip-FIFO bits are given "
              "with this tool's minimal depths and with whole-feature-map FIFOs (the H×W depth of "
              "hls4ml-style flows), so the saving the Tailor paper measured can be compared.", ""]
    lines += [f"- {note}" for note in study.get("notes", [])]
    if study.get("array"):
        lines += ["", *_array_section(study["array"])]
    lines += ["## Tool versions", ""]
    lines += [f"- {k}: {v}" for k, v in study["tool_versions"].items()]
    lines += ["", "Plots: `resources.png` (resources per variant), `bram_per_layer.png` "
              "(where the block RAM goes, per layer)" +
              (", `array_tailor.png` (the PE array's cycles against memory bandwidth)."
               if study.get("array") else ".")]
    return "\n".join(lines) + "\n"


def _array_section(array):
    cfg = array["config"]
    paper = array_experiment.PAPER
    sims = array["simulated"]
    on_chip = array["on_chip"]
    base = on_chip[next(iter(on_chip))]
    lines = [f"## The PE array (layer-serial, {cfg['rows']}×{cfg['cols']} MACs)", "",
             "The same three networks on one weight-stationary MAC array that runs every layer in "
             "turn. With every tensor on chip and adds fused into the conv before them, each "
             "variant was simulated on the study's images and matched the quantized PyTorch "
             "model bit for bit: " + ", ".join(
                 f"{v} {s['cycles_per_inference']:,} cycles"
                 + ("" if v == next(iter(sims)) else f" ({base / on_chip[v] - 1:+.0%})")
                 for v, s in sims.items()) + ".", "",
             "With tensors off chip, each variant's cycles and memory traffic, per way of "
             "handling the skips (`separate`: the add as its own pass, as Gemmini and VTA; "
             "`fused`: the add in the conv's output stage, its skip operand read back from "
             "memory; `hold`: fused, the skip operand kept on chip) and memory bandwidth "
             f"(bytes per cycle; read latency {array['latency']} cycles). The Tailor paper "
             f"reports {paper['performance']:+.0%} performance and {paper['traffic']:+.0%} "
             "memory bandwidth on a 2D PE array without saying how its baseline handled skips. "
             "Figures from the cycle and traffic models, which the simulation matches exactly.",
             "", format_table(array_experiment.HEADERS, array_experiment.rows(array),
                              markdown=True), ""]
    bits = array.get("bitstreams")
    if bits:
        lines += [f"Bitstreams on this array for the {bits[0]['board']} (board clock "
                  f"{bits[0]['clock_mhz']:g} MHz, nextpnr's utilisation and Fmax; latency: the "
                  "simulated cycles per inference at the Fmax):", "",
                  format_table(BITSTREAM_HEADERS, [_bitstream_row(b, sims) for b in bits],
                               markdown=True), ""]
    return lines


BITSTREAM_HEADERS = ["variant", "logic cells", "block RAM", "DSP", "Fmax MHz",
                     "latency ms", "critical path", "bitstream"]


def _bitstream_row(bit, sims):
    from platforms.build import BOARD_RESOURCES

    logic, _, bram, dsp, _ = BOARD_RESOURCES[bit["board"]]
    use = {k: v["used"] for k, v in bit["utilisation"].items()}
    cycles = sims[bit["variant"]]["cycles_per_inference"]
    return [bit["variant"], f"{use[logic]:,}", use[bram], use[dsp], f"{bit['fmax_mhz']:.1f}",
            f"{cycles / bit['fmax_mhz'] / 1000:.3f}", _path_brief(bit.get("critical_path")),
            f"`{bit['file']}`"]


def _path_brief(path):
    """A critical path in a table cell: its delay, logic cells and RTL source lines (the
    array's cells carry no layer names)."""
    if not path:
        return "n/m"
    lines = dict.fromkeys(line for _, places in path["through"] for line in places)
    return (f"{path['ns']:.1f} ns, {path['logic_cells']} cells"
            + (f": {', '.join(lines)}" if lines else ""))


def _plot_resources(study, path):
    plt = pyplot()

    targets = study["targets"]
    names = [v["name"] for v in study["variants"]]
    fig, axes = plt.subplots(len(targets), len(METRICS), figsize=(3.2 * len(METRICS), 2.8 * len(targets)),
                             squeeze=False)
    for r, target in enumerate(targets):
        for c, metric in enumerate(METRICS):
            ax = axes[r][c]
            values = [v["resources"][target][metric] for v in study["variants"]]
            ax.bar(names, values, color=["#4c72b0", "#dd8452", "#55a868", "#c44e52"][:len(names)])
            ax.set_title(f"{target} {metric}", fontsize=10)
            ax.tick_params(axis="x", labelrotation=20, labelsize=8)
    fig.tight_layout()
    save_png(fig, path)


def _plot_bram_per_layer(study, target, path):
    plt = pyplot()

    variants = study["variants"]
    parts = sorted({p for v in variants for p in v["resources"][target]["per_layer"]})
    fig, ax = plt.subplots(figsize=(7, 3.5))
    bottom = [0] * len(variants)
    cmap = plt.get_cmap("tab20")
    for i, part in enumerate(parts):
        values = [v["resources"][target]["per_layer"].get(part, {}).get("BRAM", 0) for v in variants]
        if any(values):
            ax.bar([v["name"] for v in variants], values, bottom=bottom, label=part, color=cmap(i % 20))
            bottom = [b + x for b, x in zip(bottom, values)]
    ax.set_ylabel(f"{target} block RAMs")
    ax.set_title("Where the BRAM goes, per layer")
    ax.legend(fontsize=7, ncol=2, bbox_to_anchor=(1.02, 1), loc="upper left")
    fig.tight_layout()
    save_png(fig, path)


def write_report(outdir, study):
    """Write ``report.md``, ``study.json``, ``resources.png`` and ``bram_per_layer.png``.

    ``study`` holds ``title``, ``targets`` (e.g. ``["ice40", "ecp5"]``), ``tool_versions``,
    optional ``summary`` / ``notes``, and ``variants``: each with ``name``, ``accuracy``
    (fraction or ``None``), ``resources[target]`` (``LUT FF BRAM DSP`` and ``per_layer``),
    ``skip_fifo_bits`` (``minimal``, ``full_map``), ``cycles_per_inference`` and ``fmax_mhz``.
    """
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    write_text(outdir / "study.json", json.dumps(study, indent=1) + "\n")
    _plot_resources(study, outdir / "resources.png")
    _plot_bram_per_layer(study, study["targets"][-1], outdir / "bram_per_layer.png")
    if study.get("array"):
        array_experiment.plot({"the PE array": study["array"]}, outdir / "array_tailor.png")
    write_text(outdir / "report.md", markdown(study))
    return outdir / "report.md"
