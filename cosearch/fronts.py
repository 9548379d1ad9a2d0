"""Fronts over (test error, LUT+FF), both minimised: the Pareto front, dominance, the
hypervolume and the empirical attainment surfaces of repeated runs.

:func:`hypervolume` is the area a front dominates inside the box from (0, 0) to a reference
point, divided by the box's area (0: nothing dominated, 1: the whole box);
:func:`reference_point` puts it at (baseline error + :data:`ERROR_MARGIN`, :data:`COST_MARGIN` ×
the baseline's LUT+FF).
"""

ERROR_MARGIN = 0.05  # the reference error: the baseline's plus five accuracy points
COST_MARGIN = 1.2  # the reference LUT+FF: 1.2 × the baseline's


def pareto_front(points):
    """The non-dominated ``(error, cost)`` pairs of ``points`` (both minimised), by error."""
    front = []
    for e, c in sorted(set(points)):
        if not front or c < front[-1][1]:
            front.append((e, c))
    return front


def dominated(point, front):
    """Whether some point of ``front`` is at least as good as ``point`` in both error and
    cost."""
    return any(e <= point[0] and c <= point[1] for e, c in front)


def hypervolume(points, ref):
    """The normalised area dominated by ``points`` (``(error, cost)`` pairs, both minimised)
    inside the box from (0, 0) to ``ref``: 0 for none, 1 for a point at (0, 0). Points outside
    the box add nothing."""
    inside = [(e, c) for e, c in points if e < ref[0] and c < ref[1]]
    area, previous = 0.0, ref[1]
    for e, c in pareto_front(inside):
        area += (ref[0] - e) * (previous - c)
        previous = c
    return area / (ref[0] * ref[1])


def attainment_surface(fronts, k):
    """The ``k``-th empirical attainment surface of repeated runs (Fonseca & Fleming 1996;
    López-Ibáñez et al. 2010): ``fronts`` holds one list of ``(error, cost)`` points per run;
    the surface is the non-dominated boundary of the goals that at least ``k`` runs reached
    (matched or beat in both). ``k`` = 1 is the envelope of all runs (the best case), ``k`` =
    the number of runs the worst case, the middle ``k`` the median front: the usual way to
    compare two stochastic searches' fronts over seeds, where a mean of fronts is undefined."""
    if not 1 <= k <= len(fronts):
        raise ValueError(f"k must be in 1..{len(fronts)}, got {k}")
    # The reached goals are upward-closed, so their minimal points have coordinates taken
    # from the runs' points.
    errors = sorted({e for front in fronts for e, _ in front})
    costs = sorted({c for front in fronts for _, c in front})
    reached = [(e, c) for e in errors for c in costs
               if sum(dominated((e, c), front) for front in fronts) >= k]
    return pareto_front(reached)


def reference_point(baseline_error, baseline_cost):
    return (baseline_error + ERROR_MARGIN, COST_MARGIN * baseline_cost)
