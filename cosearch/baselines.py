"""Baselines for the evaluator, on the same features (:class:`cosearch.features.Features` of
one-hot encodings) and the same split.

- :class:`CountModel`, *an analytic count model*: per metric, a least-squares linear fit on a
  few design-wide counts (MACs, weight ROM bits = parameters x bits, skip-FIFO bits proxy,
  MAC-array size = multipliers x weight bits x operand bits) plus an intercept; cycles are the
  largest layer's ``cycles`` feature, which is the timing model's count.
- :class:`GbrModel`: ``sklearn.ensemble.GradientBoostingRegressor`` per metric on the whole
  feature vector (every unit's features, flattened).

Both have ``fit(features, y)`` and ``predict(features)`` on numpy ``[B, units, F]`` features
and ``[B, len(METRICS)]`` targets.
"""

import numpy as np

from .cost_metrics import METRICS
from .features import FEATURES

COUNTS = ("macs", "weight_bits", "fifo_bits", "mult_bits")


class CountModel:
    """Least squares of each resource on :data:`COUNTS` (summed over units) + intercept."""

    name = "count model (least squares)"

    def _design(self, feats):
        cols = [feats[:, :, FEATURES.index(c)].sum(axis=1) for c in COUNTS]
        return np.stack(cols + [np.ones(len(feats))], axis=1)

    def fit(self, feats, y):
        a = self._design(feats)
        self.coef = [np.linalg.lstsq(a, y[:, i], rcond=None)[0] for i in range(len(METRICS) - 1)]
        return self

    def predict(self, feats):
        a = self._design(feats)
        resources = [a @ c for c in self.coef]
        cycles = feats[:, :, FEATURES.index("cycles")].max(axis=1)
        return np.stack(resources + [cycles], axis=1)


class GbrModel:
    """One gradient-boosted regressor per metric on the flattened features."""

    name = "gradient boosting (sklearn)"

    def __init__(self, seed=0):
        self.seed = seed

    def fit(self, feats, y):
        from sklearn.ensemble import GradientBoostingRegressor
        x = feats.reshape(len(feats), -1)
        self.models = [GradientBoostingRegressor(random_state=self.seed).fit(x, y[:, i])
                       for i in range(len(METRICS))]
        return self

    def predict(self, feats):
        x = feats.reshape(len(feats), -1)
        return np.stack([m.predict(x) for m in self.models], axis=1)
