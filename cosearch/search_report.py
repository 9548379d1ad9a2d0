"""The co-search report: the table of measured points, the fronts and their hypervolume, the
evaluator's predictions beside the measurements, as ``report.md``, ``results.json`` and two
PNG plots (``fronts.png``, ``predicted_vs_measured.png``) in the output folder."""

from pathlib import Path

from common.io import write_text
from common.plots import pyplot, save_png
from common.table import format_table

from .search_config import SearchConfig, search_epochs
from .search_results import lut_ff, meets_target, write_json

HEADERS = ("design", "acc", "LUT", "FF", "BRAM", "DSP", "cycles", "skips k/s/r",
           "pred LUT", "pred FF", "pred BRAM", "pred cycles", "target")
RUNS_HEADER = "acc of each training"  # after "acc", when a point is trained more than once


def trained_repeatedly(results):
    """Whether each point was trained more than once (its accuracy a mean, the report shows
    every training's)."""
    return results["config"]["repeats"] > 1


def rows_of(results):
    base = results["baseline"]
    per_training = trained_repeatedly(results)
    out = []
    for r in [base] + results["cosearch"] + results["random"]:
        skips = "/".join(map(str, r["skips"]))
        p = r["predicted"]
        predicted = [round(p["LUT"]), round(p["FF"]), round(p["BRAM"], 1), round(p["cycles"])]
        acc = [round(r["accuracy"], 4)]
        if per_training:
            acc.append(" / ".join(f"{a:.4f}" for a in r["accuracies"]))
        if r["status"] != "ok":
            out.append([r["name"], *acc, "failed", "", "", "", "", skips, *predicted, ""])
            continue
        m = r["measured"]
        hit = "" if r is base else ("+".join(meets_target(r, base)) or "no")
        out.append([r["name"], *acc, m["LUT"], m["FF"], m["BRAM"], m["DSP"], m["cycles"], skips,
                    *predicted, hit])
    return out


def table(results, markdown=False):
    headers = HEADERS
    if trained_repeatedly(results):
        headers = HEADERS[:2] + (RUNS_HEADER,) + HEADERS[2:]
    return format_table(headers, rows_of(results), markdown=markdown)


def summary_lines(results):
    base = results["baseline"]
    ref = results["reference"]
    hv = results["hypervolume"]
    lines = [f"baseline (all skips kept, widest, 8-bit): accuracy {base['accuracy']:.4f}, "
             f"LUT+FF {lut_ff(base)}, BRAM {base['measured']['BRAM']}",
             f"hypervolume of (test error, LUT+FF), reference error {ref['error']:.4f}, "
             f"LUT+FF {ref['LUT+FF']:.0f}: co-search {hv['cosearch']:.4f}, "
             f"random {hv['random']:.4f}",
             "co-search front dominates random search's: " +
             ("yes" if not results["random_undominated"] else
              "no, not " + ", ".join(results["random_undominated"])),
             f"budget: {results['budget_epochs']} training epochs and "
             f"{len(results['cosearch'])} measured designs each",
             "within 1 accuracy point of the baseline with >= 30% fewer LUT+FF or BRAM "
             f"(measured): {target_text(results)}"]
    measured = _measured([base] + results["cosearch"] + results["random"])
    errors = {m: 100 * sum(abs(r["predicted"][m] / r["measured"][m] - 1) for r in measured)
              / len(measured) for m in ("LUT", "FF", "cycles")}
    lines.append(f"evaluator on these {len(measured)} designs, mean absolute error: "
                 + ", ".join(f"{m} {e:.1f}%" for m, e in errors.items())
                 + f"; BRAM within ±1 block on "
                 f"{sum(abs(r['predicted']['BRAM'] - r['measured']['BRAM']) <= 1 for r in measured)}"
                 f" of {len(measured)}")
    return lines


def target_text(results):
    return ", ".join(f"{name} ({' and '.join(what)})"
                     for name, what in results["target"].items()) or "none"


def write_report(results, outdir):
    """Write ``report.md``, ``results.json`` and the two plots into ``outdir``."""
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    write_json(outdir / "results.json", results)
    plot_fronts(results, outdir / "fronts.png")
    plot_predicted(results, outdir / "predicted_vs_measured.png")
    cfg = results["config"]
    warm = results["warmup"]["epochs"]
    text = "\n".join([
        f"# Co-search of space '{results['space']['name']}' ({results['space']['target']})", "",
        f"λ: {', '.join(f'{v:g}' for v in results['lambdas'])}; supernet: a shared warm-up of "
        f"{warm} epochs, then {search_epochs(SearchConfig(**cfg))} search epochs per "
        f"λ; each chosen point retrained from scratch {cfg['retrain']} epochs, "
        f"seed {cfg['seed']}.", "",
        *[f"- {line}" for line in summary_lines(results)], "",
        "Accuracy: the exported integer network on the test set"
        + (f", the mean of {cfg['repeats']} trainings of each point that differ only in their "
           "seed (the first is the one exported and measured; the baseline is the teacher, "
           "trained once)" if trained_repeatedly(results) else "")
        + ". LUT / FF / BRAM / DSP: Yosys; "
        "cycles: the timing model (checked against the RTL simulation of "
        f"{cfg['sim_images']} test images, bit-exact against netdesc.run). "
        "`pred`: the learned evaluator (a model, not a measurement). Skips: kept / shortened / "
        "removed.", "",
        table(results, markdown=True), "",
        "![fronts](fronts.png)", "", "![predicted vs measured](predicted_vs_measured.png)", ""])
    write_text(outdir / "report.md", text)


def _measured(rows):
    return [r for r in rows if r["status"] == "ok"]


def plot_fronts(results, path):
    fig, ax = pyplot().subplots(figsize=(6, 4.5))
    for kind, colour in (("cosearch", "tab:blue"), ("random", "tab:orange")):
        rows = _measured(results[kind])
        ax.scatter([100 * (1 - r["accuracy"]) for r in rows], [lut_ff(r) for r in rows],
                   color=colour, alpha=0.6, label=f"{kind} (HV {results['hypervolume'][kind]:.3f})")
        front = results["front"][kind]
        if front:
            ax.step([100 * e for e, _ in front], [c for _, c in front], where="post",
                    color=colour)
    base = results["baseline"]
    ax.scatter([100 * (1 - base["accuracy"])], [lut_ff(base)], color="black", marker="*", s=120,
               label="baseline (all skips)")
    ref = results["reference"]
    ax.axvline(100 * ref["error"], color="grey", ls=":", lw=1)
    ax.axhline(ref["LUT+FF"], color="grey", ls=":", lw=1)
    ax.set_xlabel("test error (%)")
    ax.set_ylabel("LUT + FF (Yosys)")
    ax.set_title("co-search vs random search (measured)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    save_png(fig, path)


def plot_predicted(results, path):
    rows = _measured([results["baseline"]] + results["cosearch"] + results["random"])
    metrics = ("LUT", "FF", "BRAM", "cycles")
    fig, axes = pyplot().subplots(1, len(metrics), figsize=(4 * len(metrics), 4))
    for ax, metric in zip(axes, metrics):
        measured = [r["measured"][metric] for r in rows]
        predicted = [r["predicted"][metric] for r in rows]
        ax.scatter(measured, predicted, s=14)
        lo, hi = min(measured + predicted), max(measured + predicted)
        ax.plot([lo, hi], [lo, hi], color="grey", lw=1)
        ax.set_xlabel(f"measured {metric}")
        ax.set_ylabel(f"predicted {metric}")
    fig.suptitle("evaluator prediction vs real flow (search points)")
    fig.tight_layout()
    save_png(fig, path)
