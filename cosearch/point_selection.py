"""Choosing a discrete architecture from a searched supernet, by the perturbation-based
selection of Wang et al., "Rethinking architecture selection in differentiable NAS" (ICLR 2021).

:func:`select_point` starts from the argmax architecture, then checks every decision by what
each of its options really does to ``task loss + λ · normalised predicted objective`` of the
discrete network (the judge, the supernet as it was at the end of the warm-up, run one-hot on a
fixed sample of training images; the objective predicted for the point with the parallelism the
hardware-generation net gives it), keeping the best, until a sweep changes nothing.

Why not the argmax alone: the straight-through gradient sees a bit width's rounding only to
first order, so its task gradient is small beside the cost's, and Adam, stepping by sign, lets
the cost decide alone; the argmax then holds 4-bit activations almost everywhere. Why the
warm-up's weights judge: they were trained on uniformly sampled architectures, while the searched
ones have co-adapted to the argmax and favour it. The measurements are in ``docs/DECISIONS.md``.
"""

import numpy as np

from .point_training import distill_loss
from .search_points import baseline_objective, predict, with_hw


def select_point(space, ev, judge, start, teacher, data, lam, cfg):
    """The architecture chosen from the argmax architecture ``start`` (see the module
    docstring), options judged by supernet ``judge``, and the number of decisions the check
    changed."""
    import copy

    import torch

    from .supernet import ActRange

    net = copy.deepcopy(judge)  # batch norm runs on batch statistics: keep the original's
    net.train()
    for m in net.modules():
        if isinstance(m, ActRange):
            m.eval()  # the activation ranges the supernet learned, not this batch's
    idx = torch.as_tensor(np.random.default_rng(cfg.seed).permutation(len(data.x_train))
                          [:cfg.select_images])
    x, y = torch.as_tensor(data.x_train)[idx], torch.as_tensor(data.y_train)[idx]
    loss_fn = distill_loss(teacher, cfg.alpha)
    base = baseline_objective(space, ev)

    def score(arch):
        probs = {d.key: torch.as_tensor([float(o == arch[d.key]) for o in d.options])
                 for d in net.arch_decisions}
        with torch.no_grad():
            task = float(loss_fn(net(x, probs), y, x))
        return task + lam * predict(space, ev, with_hw(space, ev, arch))["objective"] / base

    arch, best = dict(start), score(start)
    for _ in range(cfg.select_sweeps):
        changed = False
        for d in net.arch_decisions:
            for option in d.options:
                if option == arch[d.key]:
                    continue
                trial = dict(arch, **{d.key: option})
                value = score(trial)
                if value < best:
                    arch, best, changed = trial, value, True
        if not changed:
            break
    return arch, sum(arch[k] != start[k] for k in arch)
