"""The evaluator's hardware-generation network (DANCE): from an architecture to the parallelism
of each of its layers; how it is trained, and how close it comes to the exact optimum.

:class:`HwGenNet` goes from the non-parallelism blocks (skips, widths, bits) and the per-layer
quantities they fix (existence, cycles at the largest option relative to the budget) to a
softmax over each layer's parallelism options, by a scorer shared by all layers plus a per-layer
linear context term. It is trained (:func:`fit_hw`), with the cost network frozen, on random
architectures to minimise :meth:`cosearch.evaluator.Evaluator.objective` plus :data:`PENALTY` x
relu(cycles / budget - 1) x the mean objective of random designs, with the parallelism sampled
one-hot (straight-through Gumbel-softmax), where the budget of an architecture is its cycles with
every layer at its largest parallelism option (in the digits space the target of the
``rtl.hwconfig.HwConfig.default`` rule at ``cap`` = 4): the cheapest hardware that is as fast as
the architecture can go. For that budget the optimum is known exactly (each layer: the smallest
option whose cycles fit), and :func:`hwgen_quality` measures the network against it.
"""

import math

import numpy as np

from .features import FEATURES

PENALTY = 4.0
FIT_TOLERANCE = 1e-4  # log2 cycles ratio above which an option misses the budget (float noise)
BUDGET_TOLERANCE = 1e-4  # relative excess over the budget that is float noise, not a miss


def hwgen_net_class():
    """The :class:`HwGenNet` torch module, defined on first use (torch is imported by commands
    only)."""
    import torch
    nn = torch.nn

    class HwGenNet(nn.Module):
        """Architecture -> per-layer softmax over parallelism options.

        A layer's option j gets the logit ``scorer(f, f > 0, log2(option_j / max option),
        exists) + context(arch blocks)_j``, where ``f`` = log2(the layer's cycles at option j /
        budget) = log2(its cycles at the largest option / budget) + log2(max option /
        option_j): whether and how well the option fits. The scorer is shared by all layers (a
        good prior: the same rule everywhere); the context term (a linear map of the
        non-parallelism blocks, starting at zero) lets the choice
        depend on the rest of the architecture too."""

        def __init__(self, n_arch, par_options, hidden=32):
            super().__init__()
            sizes = [len(o) for o in par_options]
            self.par_sizes = sizes
            width = max(sizes)
            rel = torch.zeros(len(sizes), width)
            mask = torch.full((len(sizes), width), -math.inf)
            for i, opts in enumerate(par_options):
                top = max(opts)
                rel[i, :len(opts)] = torch.log2(torch.as_tensor(opts, dtype=torch.float32) / top)
                mask[i, :len(opts)] = 0.0
            self.register_buffer("rel", rel)    # log2(option / largest option), 0 for padding
            self.register_buffer("mask", mask)  # -inf where a layer has fewer options
            self.scorer = nn.Sequential(nn.Linear(4, hidden), nn.SiLU(),
                                        nn.Linear(hidden, hidden), nn.SiLU(),
                                        nn.Linear(hidden, 1))
            self.context = nn.Linear(n_arch, len(sizes) * width)
            nn.init.zeros_(self.context.weight)
            nn.init.zeros_(self.context.bias)

        def forward(self, arch, ratio, exists):
            """``arch`` [B, A], ``ratio`` and ``exists`` [B, L] -> [softmax [B, options_l]]."""
            b, n = ratio.shape
            fit = ratio[:, :, None] - self.rel
            # Whether the option misses the budget, as its own input: the boundary is a step
            # at fit = 0 (fits from other layers can be 0.17 either side), which a smooth
            # scorer would learn slowly from fit alone.
            z = torch.stack([fit, (fit > FIT_TOLERANCE).to(fit.dtype), self.rel.expand(b, -1, -1),
                             exists[:, :, None].expand(-1, -1, self.rel.shape[1])], dim=-1)
            logits = self.scorer(z)[..., 0] + self.context(arch).view(b, n, -1) + self.mask
            return [torch.softmax(logits[:, i, :k], dim=-1) for i, k in enumerate(self.par_sizes)]

    return HwGenNet


def random_architectures(space, n, rng):
    """One-hot encodings of ``n`` random points (the hardware network replaces their
    parallelism blocks)."""
    return np.stack([space.encode(space.sample(rng)) for _ in range(n)]).astype(np.float32)


def fit_hw(ev, steps, batch, lr, seed):
    """Train the hardware network of ``ev`` with its cost network frozen (see the module
    docstring).
    Half of each batch are one-hot architectures, half relaxed ones (softmax of random logits),
    since the search hands it both. The parallelism it proposes is sampled as a one-hot choice
    (straight-through Gumbel-softmax), so the cost network and the cycles penalty are evaluated
    at discrete hardware, where the cost network was trained and the budget is exact, rather
    than at mixtures of parallelisms, which a hedging softmax could exploit."""
    import torch
    rng = np.random.default_rng(seed + 1)
    gumbel = torch.nn.functional.gumbel_softmax
    for p in ev.hw_net.parameters():
        p.requires_grad_(True)
    ev.hw_net.train()
    opt = torch.optim.Adam(ev.hw_net.parameters(), lr=lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(steps, 1))
    with torch.no_grad():
        scale = ev.objective(ev.cost(torch.as_tensor(random_architectures(ev.space, 256, rng))))
        scale = scale.mean()
    for _ in range(steps):
        onehot = torch.as_tensor(random_architectures(ev.space, batch // 2, rng))
        logits = torch.as_tensor(rng.normal(0, 2, (batch - batch // 2, ev.space.encoding_size)),
                                 dtype=torch.float32)
        relaxed = torch.cat([torch.softmax(logits[:, s], dim=1) for _, s in ev.space.slices()],
                            dim=1)
        enc = torch.cat([onehot, relaxed])
        with torch.no_grad():  # the network's inputs need no gradient while it trains
            budget = ev.budget(enc)
            inputs = ev.hw_inputs(enc)
        probs = ev.hw_net(*inputs)
        designed = ev.with_par(enc, [gumbel(p.clamp_min(1e-9).log(), hard=True) for p in probs])
        costs = ev.cost(designed)
        # Float rounding can put a design exactly at the budget a hair over it (layers often
        # tie with the bottleneck): the tolerance keeps those from being penalised.
        over = torch.relu(costs["cycles"] / budget - 1 - BUDGET_TOLERANCE)
        loss = ((ev.objective(costs) / scale) + PENALTY * over).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
    ev.hw_net.eval()
    for p in ev.hw_net.parameters():
        p.requires_grad_(False)


def hwgen_quality(ev, n=300, seed=12345):
    """How the hardware network's argmax compares with the exact optimum on ``n`` random
    one-hot architectures: share meeting the budget, share of built layers (and of whole
    designs) given the optimal parallelism, and the mean relative objective excess (by the cost
    network) of the argmax over the optimum. The optimum for the budget is, per layer, the smallest
    option whose cycles fit (a layer's cycles depend on its own parallelism only)."""
    import torch
    space, features = ev.space, ev.features
    rng = np.random.default_rng(seed)
    enc = torch.as_tensor(random_architectures(space, n, rng))
    with torch.no_grad():
        chosen = ev.hw(enc).numpy()
    slices = space.slices()
    argmax = np.zeros_like(chosen)
    for _, s in slices:
        argmax[np.arange(n), s.start + chosen[:, s].argmax(axis=1)] = 1
    ci, cf, ex = (FEATURES.index(f) for f in ("cycles", "cycles_fast", "exists"))
    feats = features.numpy(argmax)
    budget = feats[:, :, cf].max(axis=1)
    meets = feats[:, :, ci].max(axis=1) <= budget
    best = argmax.copy()
    same = []
    for d, s in slices:
        if d.kind != "par":
            continue
        unit = features.unit_names.index(d.target)
        fits = []
        for j in range(len(d.options)):  # the layer's cycles with option j
            trial = argmax.copy()
            trial[:, s] = 0
            trial[:, s.start + j] = 1
            fits.append(features.numpy(trial)[:, unit, ci] <= budget)
        order = np.argsort(d.options)  # smallest option first; the largest always fits
        pick = np.array([next(j for j in order if fits[j][b]) for b in range(n)])
        best[:, s] = 0
        best[np.arange(n), s.start + pick] = 1
        # A layer the architecture does not build (a removed skip's projection) has no
        # hardware, so whatever it is given is optimal.
        same.append((chosen[:, s].argmax(axis=1) == pick) | (feats[:, unit, ex] == 0))
    same = np.stack(same, axis=1)
    with torch.no_grad():
        got = ev.objective(ev.cost(torch.as_tensor(argmax)))
        opt = ev.objective(ev.cost(torch.as_tensor(best)))
    return {"architectures": n, "meets_budget": float(meets.mean()),
            "layers_optimal": float(same.mean()), "designs_optimal": float(same.all(axis=1).mean()),
            "objective_excess": float((got / opt - 1).mean())}
