"""The evaluator's cost network (DANCE): from a design space's relaxed encoding to LUT, FF,
BRAM, DSP and cycles.

The input is the encoding (one probability block per decision, one-hot or softmax);
:class:`cosearch.features.Features` turns it into per-unit expected hardware quantities (a unit:
one conv / dense layer, one skip connection, the pool), exact for one-hot encodings. Each
resource metric (LUT, FF, BRAM, DSP) is a sum of

- a count part: non-negative weights times the features summed over all units ("so many LUTs
  per multiplier bit", the same everywhere, as in synthesis), plus a non-negative overhead
  per unit of each type times its existence probability; it starts at the non-negative
  least-squares fit of the training designs (:meth:`CostNet.init_counts`); and
- a residual part: a small MLP shared by all units (with a unit-type embedding) on each unit's
  features, gated by its existence probability, starting at zero,

plus a bias, through a sharp softplus (non-negative, linear above ~10% of the metric's mean).
It is trained (full batch, Adam, early stopping on a validation split, :func:`fit_cost`) on
log(1 + metric), so the loss is relative, as MAPE is. **Cycles** are the steady-state cycles per
inference, which the timing model makes the slowest layer's ``out pixels x MAC-array cycles per
window``: a smooth maximum of the units' ``cycles`` (:func:`smooth_max`, exact for one-hot
encodings even when layers tie). It has no learned correction: the slowest layer's count is the
timing model's cycles, and a learned factor only moves predictions off the integers by its
training noise, splitting designs of equal cycles (``docs/DECISIONS.md``).
"""

import math

import numpy as np

from .cost_metrics import RESOURCES
from .features import FEATURES, UNIT_TYPES

CYCLES_TAU = 0.005


def cost_net_class():
    """The :class:`CostNet` torch module, defined on first use (torch is imported by commands
    only)."""
    import torch
    nn = torch.nn

    class CostNet(nn.Module):
        """Count part + per-type overhead + residual MLP, summed (see the module docstring);
        cycles: the smooth maximum of the units' cycles."""

        def __init__(self, unit_types, scale, metric_scale, hidden=32, embed=8):
            super().__init__()
            n_types, n_feat, n_res = len(UNIT_TYPES), len(FEATURES), len(RESOURCES)
            self.register_buffer("types", torch.as_tensor(unit_types, dtype=torch.long))
            self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.float32))
            self.register_buffer("metric_scale",
                                 torch.as_tensor(metric_scale, dtype=torch.float32))
            self.log_w = nn.Parameter(torch.full((n_res, n_feat), -6.0))
            self.log_type_w = nn.Parameter(torch.full((n_types, n_res), -6.0))
            self.embed = nn.Embedding(n_types, embed)
            self.mlp = nn.Sequential(nn.Linear(n_feat + embed, hidden), nn.SiLU(),
                                     nn.Linear(hidden, hidden), nn.SiLU(),
                                     nn.Linear(hidden, n_res))
            nn.init.zeros_(self.mlp[-1].weight)  # start as the count part alone
            nn.init.zeros_(self.mlp[-1].bias)
            self.bias = nn.Parameter(torch.zeros(n_res))
            self.exists = FEATURES.index("exists")
            self.cycles = FEATURES.index("cycles")

        def counts(self, feats):
            """The count part's inputs: ``[B, F + types]`` (features summed over units, then
            each unit type's existence summed), in scaled units."""
            x = feats / self.scale
            onehot = torch.nn.functional.one_hot(self.types, len(UNIT_TYPES)).to(x.dtype)
            return torch.cat([x.sum(dim=1), x[..., self.exists] @ onehot], dim=1)

        def forward(self, feats):
            """``feats`` [B, U, F] -> (resources [B, 4] natural units, cycles [B])."""
            x = feats / self.scale
            weights = torch.cat([self.log_w, self.log_type_w.T], dim=1).exp()
            count = self.counts(feats) @ weights.T
            emb = self.embed(self.types).expand(x.shape[0], -1, -1)
            residual = self.mlp(torch.cat([x, emb], dim=-1)) * x[..., self.exists:self.exists + 1]
            total = count + residual.sum(dim=1) + self.bias
            # A floor at zero that is smooth, and linear above ~0.1 x the metric's mean.
            resources = torch.nn.functional.softplus(total, beta=20.0) * self.metric_scale
            return resources, smooth_max(feats[..., self.cycles])

        def init_counts(self, feats, y):
            """Start the count part at the non-negative least-squares fit of ``y`` [B, 4]."""
            from scipy.optimize import nnls
            a = self.counts(feats).detach().double().numpy()
            b = (y / self.metric_scale.double().numpy())
            for m in range(len(RESOURCES)):
                coef, _ = nnls(a, b[:, m])
                log = np.log(np.maximum(coef, 1e-4)).astype(np.float32)
                self.log_w.data[m] = torch.as_tensor(log[:len(FEATURES)])
                self.log_type_w.data[:, m] = torch.as_tensor(log[len(FEATURES):])

    return CostNet


def smooth_max(values):
    """A differentiable maximum over the last axis of positive ``values``: their mean weighted by
    a softmax of log(value) / :data:`CYCLES_TAU` (exactly the maximum when the largest ones tie,
    as layers often do; the runner-up's weight is below 1e-10 when it is 1/9 smaller, as in
    9216 vs 10368 cycles, which digits designs have). Written as the
    maximum plus the weighted deviations from it, which is the same sum but exact in floating
    point at ties (designs of equal cycles get equal predictions)."""
    import torch
    top = values.max(dim=-1, keepdim=True).values
    weights = torch.softmax(values.clamp_min(1.0).log() / CYCLES_TAU, dim=-1)
    return top[..., 0] + (weights * (values - top)).sum(dim=-1)


def fit_cost(cost_net, x_train, y_train, x_val, y_val, epochs, lr, weight_decay):
    """Full-batch Adam on the squared log error of the four resources; keeps the state of the
    best validation loss (of the training loss if there is no validation set), checked every 10
    epochs."""
    import torch
    opt = torch.optim.Adam(cost_net.parameters(), lr=lr, weight_decay=weight_decay)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs)

    def loss_of(x, y):
        return ((torch.log1p(cost_net(x)[0]) - torch.log1p(y)) ** 2).mean()

    y_train = torch.as_tensor(y_train[:, :len(RESOURCES)], dtype=torch.float32)
    y_val = torch.as_tensor(y_val[:, :len(RESOURCES)], dtype=torch.float32)
    best, best_epoch, best_state = math.inf, 0, None
    for epoch in range(epochs):
        cost_net.train()
        opt.zero_grad()
        loss = loss_of(x_train, y_train)
        loss.backward()
        opt.step()
        sched.step()
        if epoch % 10 == 0 or epoch == epochs - 1:
            cost_net.eval()
            with torch.no_grad():
                v = loss_of(x_val, y_val).item() if len(x_val) else loss.item()
            if v < best:
                best, best_epoch = v, epoch
                best_state = {k: t.clone() for k, t in cost_net.state_dict().items()}
    cost_net.load_state_dict(best_state)
    return {"epochs": epochs, "best_epoch": best_epoch, "best_validation_loss": best,
            "final_training_loss": loss.item()}
