"""Worst-case accumulator ranges: what "accumulation is exact" demands of an implementation.

The range of a layer's pre-shift accumulator follows from the declared type of its inputs and,
for conv2d and dense, the actual weight and bias values. Hardware sizes its accumulators from
this; the reference executor picks an exact number representation from it.
"""

from .ops import op_of


def accumulator_range(net, layer):
    """``(lo, hi)``: the smallest and largest value the layer's accumulator can hold, as ints.

    For conv2d and dense this is the accumulator ``b + Σ w·x``; for add ``(a << la) + (b << lb)``;
    for global_avg_pool ``multiplier · Σ x``; for maxpool2d the input range itself.
    """
    return op_of(layer).accumulator_range(net, layer)
