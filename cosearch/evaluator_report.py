"""The evaluator's report: held-out metrics of the evaluator next to both baselines, as a
table, ``report.md``, ``metrics.json`` and a predicted-vs-measured scatter (``scatter.png``).

Metrics per cost metric, on the held-out designs (:func:`cosearch.cost_data_split.held_out`; a
design measured with several weight seeds counts once, with their mean): MAPE (%), Kendall's τ-b
(:func:`scipy.stats.kendalltau`) between predicted and measured; for BRAM also the share of
designs predicted within ±1 block. Targets (issue 8): MAPE <= 5% for LUT and FF, BRAM within
±1 on >= 95% of designs, τ >= 0.9.
"""

import json
from pathlib import Path

import numpy as np

from common.errors import TailorError
from common.io import write_text
from common.plots import pyplot, save_png
from common.table import format_table

from .cost_data_split import HELD_OUT_RULE, encodings, split_rows, targets
from .cost_metrics import METRICS

EVALUATOR = "evaluator (cost network)"  # the learned model's name in tables and metrics.json


def scores(pred, y):
    """``{metric: {"mape": %, "tau": τ-b}}`` plus ``"BRAM"["within1"]``."""
    from scipy.stats import kendalltau
    out = {}
    for i, m in enumerate(METRICS):
        tau = kendalltau(pred[:, i], y[:, i]).statistic if len(y) > 1 else float("nan")
        out[m] = {"mape": float(np.mean(np.abs(pred[:, i] - y[:, i]) / np.abs(y[:, i])) * 100),
                  "tau": float(tau)}
    out["BRAM"]["within1"] = float(np.mean(np.abs(pred[:, 2] - y[:, 2]) <= 1))
    return out


def evaluate(ev, rows, where="<data>", seed=0):
    """Held-out scores of ``ev`` and of both baselines (fitted on every non-held-out row of
    ``rows``): ``{"held_out", "train", "failed", "models": {name: scores}, "predictions":
    {name: [[...]]}, "measured": [[...]]}``."""
    from .baselines import CountModel, GbrModel
    train, val, test, failed = split_rows(ev.space, rows, where)
    if not test:
        raise TailorError(f"{where}: no held-out designs (measured rows with {HELD_OUT_RULE})")
    y = targets(test)
    test_enc = encodings(ev.space, test)
    test_feats = ev.features.numpy(test_enc)
    preds = {EVALUATOR: ev.predict(test_enc)}
    fit_rows = train + val
    fit_feats = ev.features.numpy(encodings(ev.space, fit_rows))
    for model in (CountModel(), GbrModel(seed)):
        # Rounded like the evaluator's (every metric is a count), so τ sees the same ties.
        preds[model.name] = np.rint(model.fit(fit_feats, targets(fit_rows)).predict(test_feats))
    return {"held_out": len(test), "train": len(fit_rows), "failed": failed,
            "replicated": sum(r["replicates"] > 1 for r in test),
            "models": {name: scores(p, y) for name, p in preds.items()},
            "predictions": {name: p.tolist() for name, p in preds.items()},
            "measured": y.tolist(), "keys": [r["key"] for r in test]}


def table_rows(result):
    rows = []
    for name, s in result["models"].items():
        rows.append([name] + [f"{s[m]['mape']:.2f}" for m in METRICS] +
                    [f"{s['BRAM']['within1']:.3f}"] + [f"{s[m]['tau']:.3f}" for m in METRICS])
    return rows


HEADERS = (["model"] + [f"MAPE {m} %" for m in METRICS] + ["BRAM ±1"] +
           [f"τ {m}" for m in METRICS])


def format_result(result, markdown=False):
    head = (f"held-out designs: {result['held_out']} ({HELD_OUT_RULE}), fitted on "
            f"{result['train']}, failed rows excluded: {result['failed']}")
    if result["replicated"]:
        head += (f"; {result['replicated']} held-out designs measured with several weight "
                 f"seeds, scored against the mean")
    return head + "\n\n" + format_table(HEADERS, table_rows(result), markdown=markdown,
                                        align="l" + "r" * (len(HEADERS) - 1))


def meets_targets(scores_):
    """``{target: bool}`` for one model's scores."""
    return {"MAPE LUT <= 5%": scores_["LUT"]["mape"] <= 5.0,
            "MAPE FF <= 5%": scores_["FF"]["mape"] <= 5.0,
            "BRAM ±1 >= 95%": scores_["BRAM"]["within1"] >= 0.95,
            "τ >= 0.9 (every metric)": all(scores_[m]["tau"] >= 0.9 for m in METRICS)}


def scatter(result, path):
    """Predicted vs measured, one panel per metric, every model's held-out predictions."""
    y = np.array(result["measured"])
    fig, axes = pyplot().subplots(1, len(METRICS), figsize=(4 * len(METRICS), 4))
    for i, (m, ax) in enumerate(zip(METRICS, axes)):
        for name, p in result["predictions"].items():
            ax.scatter(y[:, i], np.array(p)[:, i], s=10, alpha=0.7, label=name)
        lo, hi = y[:, i].min(), y[:, i].max()
        ax.plot([lo, hi], [lo, hi], "k--", lw=0.8)
        if lo > 0 and hi / lo > 4:  # log axes only where the values span a wide range
            ax.set_xscale("log")
            ax.set_yscale("log")
        ax.set_title(m)
        ax.set_xlabel("measured (Yosys / timing model)")
        ax.set_ylabel("predicted")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    save_png(fig, path, dpi=100)


def hwgen_text(h):
    """One sentence on the hardware network's quality (:func:`cosearch.hwgen_net.hwgen_quality`)."""
    return (f"{h['architectures']} random architectures: argmax meets the cycles budget for "
            f"{h['meets_budget']:.1%}, gives the optimal parallelism to {h['layers_optimal']:.1%} "
            f"of layers ({h['designs_optimal']:.1%} of designs entirely), objective "
            f"{h['objective_excess']:+.1%} over the optimum (by the cost network)")


def write_report(result, folder, info=None):
    """``report.md``, ``metrics.json`` and ``scatter.png`` in ``folder`` (each written whole)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    scatter(result, folder / "scatter.png")
    ev_scores = result["models"][EVALUATOR]
    checks = meets_targets(ev_scores)
    lines = ["# Evaluator report", "", format_result(result, markdown=True), "",
             "Targets (evaluator): " + ", ".join(f"{k}: {'met' if v else 'NOT met'}"
                                                  for k, v in checks.items()), "",
             "The count model and the gradient-boosting regressor are baselines (models too); "
             "measured numbers are Yosys synthesis (LUT, FF, BRAM, DSP) and the exact timing "
             "model (cycles). Every prediction is rounded to a whole number (each metric is a "
             "count); the count model's cycles are the slowest layer's count.", "",
             "![predicted vs measured](scatter.png)", ""]
    if info and "hwgen" in info:
        lines += ["## Hardware-generation network", "", f"On {hwgen_text(info['hwgen'])}.", ""]
    write_text(folder / "report.md", "\n".join(lines))
    metrics = {k: v for k, v in result.items() if k not in ("predictions", "measured", "keys")}
    metrics["targets"] = checks
    if info:
        metrics["training"] = info
    write_text(folder / "metrics.json", json.dumps(metrics, indent=1, sort_keys=True) + "\n")
