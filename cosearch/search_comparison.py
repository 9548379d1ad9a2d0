"""The co-search against random search over several seeds, beyond front dominance: the accuracy
gap at equal LUT+FF fitted over every measured point (:func:`accuracy_gap_at_equal_cost`), and a
model of how often a front with a given gap dominates random search's at the noise of that fit
(:func:`dominance_chance`, :func:`gaps_for_dominance`). Results objects of
:func:`cosearch.search_results.summarise`, one per seed, go in.
"""

import math
from dataclasses import dataclass

import numpy as np

from .search_results import lut_ff


@dataclass
class GapFit:
    """The fit of :func:`accuracy_gap_at_equal_cost`; accuracies as fractions."""

    gap: float  # how much more accurate the co-search's points are at equal LUT+FF
    stderr: float  # the gap's standard error
    slope: float  # accuracy per unit of ln(LUT+FF)
    spread: dict  # {"cosearch", "random"}: the root mean square residual of each search's points
    points: int  # measured points in the fit


def accuracy_gap_at_equal_cost(runs):
    """How much more accurate the co-search's measured points are than random search's at
    equal LUT+FF, pooled over ``runs`` (results objects of
    :func:`cosearch.search_results.summarise`, one per seed):
    the coefficient of "is a co-search point" in the least-squares fit ``accuracy = intercept
    of its run + slope · ln(LUT+FF) + gap · [co-search]`` over every measured point of both
    searches, with its standard error. A model, not a measurement, but a far finer comparison
    than front dominance, which turns on single points a test image apart: every point
    counts, and the fit takes out each seed's level (its teacher) and the cost. Returns a
    :class:`GapFit` (accuracy as a fraction, the slope per unit of ln(LUT+FF), ``spread``: the
    root mean square residual of each search's points), or ``None`` if the points cannot
    separate the terms."""
    rows = [(i, kind == "cosearch", r["accuracy"], lut_ff(r))
            for i, results in enumerate(runs) for kind in ("cosearch", "random")
            for r in results[kind] if r["status"] == "ok"]
    x = np.array([[float(run == i) for i in range(len(runs))] + [math.log(cost), float(co)]
                  for run, co, _, cost in rows]).reshape(len(rows), len(runs) + 2)
    y = np.array([acc for _, _, acc, _ in rows])
    if len(rows) <= x.shape[1] or np.linalg.matrix_rank(x) < x.shape[1]:
        return None
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    residual = y - x @ coef
    variance = residual @ residual / (len(rows) - x.shape[1])
    stderr = math.sqrt(variance * np.linalg.inv(x.T @ x)[-1, -1])
    is_co = x[:, -1] == 1
    spread = {kind: float(np.sqrt(np.mean(residual[mask] ** 2)))
              for kind, mask in (("cosearch", is_co), ("random", ~is_co))}
    return GapFit(gap=float(coef[-1]), stderr=stderr, slope=float(coef[-2]), spread=spread,
                  points=len(rows))


DOMINANCE_TRIALS = 20_000  # seeds drawn by the dominance model: its chances to about ±0.005
GAP_STEP = 0.0005  # the dominance model's grid of gaps: 0.05 accuracy points ...
GAP_MOST = 0.05  # ... up to 5


def dominance_chance(runs, fit, gaps, trials=DOMINANCE_TRIALS, seed=0):
    """A model of front dominance at the noise of ``runs``: for each gap in ``gaps``, the chance
    that the co-search front dominates random search's in one seed if the co-search's points
    were that much more accurate than random search's at equal LUT+FF (``fit``:
    :func:`accuracy_gap_at_equal_cost` of ``runs``). A trial is one seed: as many random-search
    points as a run has, at LUT+FF drawn from all of random search's measured points, and one
    co-search point per λ at LUT+FF drawn from that λ's; each accuracy is the fit's trend at
    its cost (plus the gap for the co-search) plus a normal residual of its search's spread.
    Every gap sees the same draws, so the chances rise with the gap."""
    def measured(kind):
        return [r for results in runs for r in results[kind] if r["status"] == "ok"]

    random_costs = [lut_ff(r) for r in measured("random")]
    lambda_costs = {}
    for r in measured("cosearch"):
        lambda_costs.setdefault(r["lam"], []).append(lut_ff(r))
    rng = np.random.default_rng(seed)
    rc = rng.choice(random_costs, (trials, max(len(results["random"]) for results in runs)))
    cc = np.stack([rng.choice(costs, trials) for costs in lambda_costs.values()], axis=1)
    ra = fit.slope * np.log(rc) + rng.normal(0, fit.spread["random"], rc.shape)
    ca = fit.slope * np.log(cc) + rng.normal(0, fit.spread["cosearch"], cc.shape)
    # [trial, co-search point, random point]
    cheaper = cc[:, :, None] <= rc[:, None, :]
    margin = ca[:, :, None] - ra[:, None, :]
    return [float(np.mean(np.all(np.any(cheaper & (margin + gap >= 0), axis=1), axis=1)))
            for gap in gaps]


def gaps_for_dominance(runs, fit, chances, trials=DOMINANCE_TRIALS, seed=0):
    """``{chance: the smallest gap on the grid (steps of :data:`GAP_STEP` up to
    :data:`GAP_MOST`) at which :func:`dominance_chance` reaches it, or None}`` for each of
    ``chances``, from one run of the model over the grid."""
    gaps = np.arange(0, GAP_MOST + GAP_STEP / 2, GAP_STEP)
    reached = dominance_chance(runs, fit, gaps, trials, seed)
    return {chance: next((float(g) for g, c in zip(gaps, reached) if c >= chance), None)
            for chance in chances}
