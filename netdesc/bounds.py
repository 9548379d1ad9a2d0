"""Worst-case accumulator ranges: what "accumulation is exact" demands of an implementation.

The range of a layer's pre-shift accumulator follows from the declared type of its inputs and,
for conv2d and dense, the actual weight and bias values. Hardware sizes its accumulators from
this; the reference executor picks an exact number representation from it.
"""

import numpy as np


def _dot_range(weights_2d, bias, xtype):
    """Per-output (lo, hi) of ``bias + Σ w·x`` for x in ``xtype`` (rows of ``weights_2d``)."""
    w = [[int(v) for v in row] for row in weights_2d.tolist()]
    b = [0] * len(w) if bias is None else [int(v) for v in bias.tolist()]
    lo = [bo + sum(v * (xtype.min if v > 0 else xtype.max) for v in row) for row, bo in zip(w, b)]
    hi = [bo + sum(v * (xtype.max if v > 0 else xtype.min) for v in row) for row, bo in zip(w, b)]
    return lo, hi


def accumulator_range(net, layer):
    """``(lo, hi)``: the smallest and largest value the layer's accumulator can hold, as ints.

    For conv2d and dense this is the accumulator ``b + Σ w·x``; for add ``(a << la) + (b << lb)``;
    for global_avg_pool ``multiplier · Σ x``; for maxpool2d the input range itself.
    """
    xtype = net.type_of(layer.inputs[0])
    if layer.op in ("conv2d", "dense"):
        lo, hi = _dot_range(layer.weights.reshape(layer.weights.shape[0], -1), layer.bias, xtype)
        return min(lo), max(hi)
    if layer.op == "add":
        ta, tb = (net.type_of(n) for n in layer.inputs)
        la, lb = layer.shifts_in
        return (ta.min << la) + (tb.min << lb), (ta.max << la) + (tb.max << lb)
    if layer.op == "global_avg_pool":
        n = layer.multiplier * int(np.prod(net.shape_of(layer.inputs[0])[1:]))
        return n * xtype.min, n * xtype.max
    return xtype.min, xtype.max
