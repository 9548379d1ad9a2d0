"""The results object of a co-search run (:func:`summarise`): the measured rows of the baseline,
the co-search and random search, the fronts and their hypervolume, the random points the
co-search front does not dominate, and the points that meet the target; written as
``results.json`` (:func:`write_json`).
"""

import json
from dataclasses import asdict

import numpy as np

from common.errors import TailorError

from .fronts import dominated, hypervolume, pareto_front, reference_point


def lut_ff(row):
    return row["measured"]["LUT"] + row["measured"]["FF"]


def summarise(space, rows, cfg, lambdas, budget):
    """The results object: ``{"space", "config", "lambdas", "budget_epochs", "baseline",
    "cosearch", "random", "reference", "hypervolume", "front", "random_undominated",
    "target"}``; ``random_undominated`` names the random points no co-search point is at least
    as good as in both error and LUT+FF (empty: the co-search front dominates); ``target``
    names the measured points within 1 accuracy point of the baseline with ≥ 30% fewer LUT+FF
    or BRAM (``{name: ["LUT+FF", "BRAM"] or one of them}``)."""
    by_kind = {k: [r for r in rows if r["kind"] == k] for k in ("baseline", "cosearch", "random")}
    by_kind["cosearch"].sort(key=lambda r: r["lam"])
    by_kind["random"].sort(key=lambda r: r["index"])
    base = by_kind["baseline"][0]
    out = {"space": space.to_json_obj(), "config": asdict(cfg), "lambdas": list(lambdas),
           "budget_epochs": budget, "baseline": base, "cosearch": by_kind["cosearch"],
           "random": by_kind["random"]}
    if base["status"] != "ok":
        raise TailorError(f"the baseline could not be measured: {base['error']}")
    ref = reference_point(1 - base["accuracy"], lut_ff(base))
    out["reference"] = {"error": ref[0], "LUT+FF": ref[1]}
    out["hypervolume"], out["front"] = {}, {}
    for kind in ("cosearch", "random"):
        pts = [(1 - r["accuracy"], lut_ff(r)) for r in by_kind[kind] if r["status"] == "ok"]
        out["hypervolume"][kind] = hypervolume(pts, ref)
        out["front"][kind] = pareto_front(pts)
    out["random_undominated"] = [r["name"] for r in by_kind["random"] if r["status"] == "ok"
                                 and not dominated((1 - r["accuracy"], lut_ff(r)),
                                                   out["front"]["cosearch"])]
    out["target"] = {r["name"]: meets_target(r, base)
                     for r in by_kind["cosearch"] + by_kind["random"]
                     if r["status"] == "ok" and meets_target(r, base)}
    return out


def meets_target(row, base):
    """Which of "LUT+FF" / "BRAM" ``row`` has ≥ 30% fewer of than the baseline while within 1
    accuracy point of it (measured); empty if none."""
    if row["accuracy"] < base["accuracy"] - 0.01:
        return []
    hits = ["LUT+FF"] if lut_ff(row) <= 0.7 * lut_ff(base) else []
    if base["measured"]["BRAM"] > 0 and row["measured"]["BRAM"] <= 0.7 * base["measured"]["BRAM"]:
        hits.append("BRAM")
    return hits


def write_json(path, results):
    from common.io import write_text
    write_text(path, json.dumps(results, indent=1, sort_keys=True, default=plain) + "\n")


def plain(v):
    """``json.dumps``' ``default``: numpy scalars as Python numbers."""
    if isinstance(v, (np.integer, np.floating)):
        return v.item()
    raise TypeError(f"not JSON: {type(v).__name__}")
