"""Training an evaluator (:class:`cosearch.evaluator.Evaluator`) on cost data: the cost network
first (its count part started at the non-negative least-squares fit, then Adam with early
stopping, :func:`cosearch.cost_net.fit_cost`), then, with it frozen, the hardware-generation
network (:func:`cosearch.hwgen_net.fit_hw`). The held-out rows never enter
(:mod:`cosearch.cost_data_split`).
"""

import numpy as np

from common.errors import TailorError

from .cost_data_split import HELD_OUT_RULE, encodings, split_rows, targets
from .cost_metrics import METRICS, RESOURCES
from .cost_net import fit_cost
from .evaluator import Evaluator, build_nets
from .features import Features
from .hwgen_net import fit_hw, hwgen_quality


def train_evaluator(space, rows, seed=0, epochs=3000, lr=0.01, weight_decay=1e-5, hidden=32,
                    hw_steps=800, hw_batch=64, hw_lr=1e-2, where="<data>"):
    """Train an :class:`Evaluator` for ``space`` on cost-data ``rows`` (the held-out rows
    never enter). Returns ``(evaluator, info)``; ``info`` has the split sizes, the failed
    rows count, the fit summary and :func:`cosearch.hwgen_net.hwgen_quality`."""
    import torch
    torch.manual_seed(seed)
    train, val, test, failed = split_rows(space, rows, where)
    if not train:  # too few rows to set some aside: train on them, without early stopping
        train, val = val, []
    if not train:
        raise TailorError(f"{where}: no training rows (all {len(test)} measured designs are in "
                          f"the held-out set, {HELD_OUT_RULE})")
    features = Features(space)
    x_train = torch.as_tensor(features.numpy(encodings(space, train)), dtype=torch.float32)
    x_val = (torch.as_tensor(features.numpy(encodings(space, val)), dtype=torch.float32) if val
             else x_train[:0])
    y_train, y_val = targets(train), (targets(val) if val else np.zeros((0, len(METRICS))))
    # Per-feature scale: the largest value any unit can take (inputs then lie in [0, 1]).
    table_max = np.max([u.table.max(axis=0) for u in features.units], axis=0)
    scale = np.where(table_max > 0, table_max, 1.0)
    metric_scale = y_train[:, :len(RESOURCES)].mean(axis=0)
    arch_size = sum(s.stop - s.start for d, s in space.slices() if d.kind != "par")
    par_options = [list(d.options) for d in space.decisions if d.kind == "par"]
    if not par_options:
        raise TailorError(f"{space.source}: the space has no parallelism decisions, so there is "
                          f"no hardware to generate")
    cost_shape = {"scale": scale.tolist(), "metric_scale": metric_scale.tolist(),
                  "hidden": hidden}
    hw_shape = {"n_arch": arch_size, "par_options": par_options}
    cost_net, hw_net = build_nets(space, features, cost_shape, hw_shape)
    cost_net.init_counts(x_train, y_train[:, :len(RESOURCES)])
    fit = fit_cost(cost_net, x_train, y_train, x_val, y_val, epochs, lr, weight_decay)
    ev = Evaluator(space, cost_net, hw_net, features=features)
    fit_hw(ev, hw_steps, hw_batch, hw_lr, seed)
    info = {"train": len(train), "validation": len(val), "held_out": len(test),
            "failed": failed, "seed": seed, "fit": fit, "hwgen": hwgen_quality(ev)}
    ev.info = info
    return ev, info
