"""Points of a design space as the co-search uses them: the all-skips baseline's architecture,
an architecture completed with the parallelism the evaluator's hardware-generation net picks
for it, the evaluator's prediction for a point and the baseline's predicted objective (the unit
of the search's cost term), and a point's skip counts.
"""

import numpy as np


def baseline_arch(space):
    """The all-skips baseline's architecture decisions: keep, widest, 8 bits (or the widest
    bits a decision offers, if it lacks 8)."""
    point = {}
    for d in space.decisions:
        if d.kind == "skip":
            point[d.key] = "keep" if "keep" in d.options else d.options[0]
        elif d.kind in ("width", "wbits", "abits"):
            point[d.key] = 8 if d.kind != "width" and 8 in d.options else max(d.options)
    return point


def with_hw(space, ev, arch):
    """``arch`` (architecture decisions) completed with the parallelism the evaluator's
    hardware-generation net picks for it (argmax of each par block)."""
    import torch

    enc = torch.as_tensor(space.encode(arch, without=("par",)))[None]
    with torch.no_grad():
        hw = ev.hw(enc)[0].numpy()
    point = dict(arch)
    for d, part in space.slices():
        if d.kind == "par":
            point[d.key] = d.options[int(np.argmax(hw[part]))]
    return space.check_point(point)


def baseline_objective(space, ev):
    """The predicted objective of the baseline: the unit of the search's cost term."""
    return predict(space, ev, with_hw(space, ev, baseline_arch(space)))["objective"]


def predict(space, ev, point):
    """The evaluator's prediction for ``point``: ``{metric: value}`` plus ``objective``."""
    import torch

    with torch.no_grad():
        costs = ev.cost(torch.as_tensor(space.encode(point))[None])
        out = {m: float(v[0]) for m, v in costs.items()}
        out["objective"] = float(ev.objective(costs)[0])
    return out


def skip_summary(space, point):
    """``(kept, shortened, removed)`` skip counts of ``point``."""
    states = [point.get(f"skip:{b}", "keep") for b in space.blocks]
    return tuple(states.count(s) for s in ("keep", "shorten", "remove"))
