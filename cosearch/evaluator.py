"""The learned, differentiable hardware-cost evaluator (DANCE): a cost network and a
hardware-generation network over a design space's relaxed encoding.

**Cost network** (:class:`CostNet`): the input is the encoding (one probability block per
decision, one-hot or softmax); :class:`cosearch.features.Features` turns it into per-unit
expected hardware quantities (a unit: one conv / dense layer, one skip connection, the pool),
exact for one-hot encodings. Each resource metric (LUT, FF, BRAM, DSP) is a sum of

- a count part: non-negative weights times the features summed over all units ("so many LUTs
  per multiplier bit", the same everywhere, as in synthesis), plus a non-negative overhead
  per unit of each type times its existence probability; it starts at the non-negative
  least-squares fit of the training designs (:meth:`CostNet.init_counts`); and
- a residual part: a small MLP shared by all units (with a unit-type embedding) on each unit's
  features, gated by its existence probability, starting at zero,

plus a bias, through a sharp softplus (non-negative, linear above ~10% of the metric's mean).
It is trained (full batch, Adam, early stopping on a validation split) on log(1 + metric), so
the loss is relative, as MAPE is. **Cycles** are the steady-state cycles per inference, which
the timing model makes the slowest layer's ``out pixels x MAC-array cycles per window``: a
smooth maximum of the units' ``cycles`` (a softmax-weighted mean of them at temperature
:data:`CYCLES_TAU` in log space, exact for one-hot encodings even when layers tie). It has no
learned correction: the slowest layer's count equals the timing model's cycles for every
measured design of the committed data, and a learned factor only moved predictions off the
integers by its training noise (splitting designs of equal cycles).

**Hardware-generation network** (:class:`HwGenNet`): from the non-parallelism blocks (skips,
widths, bits) and the per-layer quantities they fix (existence, cycles at the largest option
relative to the budget) to a softmax over each layer's parallelism options, by a scorer shared
by all layers plus a per-layer linear context term. It is trained, with the cost network
frozen, on random architectures to minimise :meth:`Evaluator.objective` plus
:data:`PENALTY` x relu(cycles / budget - 1) x the mean objective of random designs, with the
parallelism sampled one-hot (straight-through Gumbel-softmax), where the budget of an
architecture is its cycles with every layer at its largest parallelism option (in the digits
space the target of the ``rtl.hwconfig.HwConfig.default`` rule at ``cap`` = 4): the cheapest
hardware that is as fast as the architecture can go. For that budget the optimum is known
exactly (each layer: the smallest option whose cycles fit), and :func:`hwgen_quality` measures
the network against it.

**Objective** (:meth:`Evaluator.objective`): LUT-equivalents ``LUT + FF + 402 BRAM + 536 DSP``,
each resource weighted by its scarcity on the project's ECP5 board, the ULX3S-85F (LFE5U-85F:
83,640 LUT4 and as many FFs, 208 DP16KD, 156 MULT18X18D: 83640/208 = 402, 83640/156 = 536), so
one LUT-equivalent is the same share of the device whatever resource it is.
"""

import math
from pathlib import Path

import numpy as np

from common.errors import TailorError

from .costdata import design_rows
from .features import FEATURES, UNIT_TYPES, Features

METRICS = ("LUT", "FF", "BRAM", "DSP", "cycles")
RESOURCES = METRICS[:4]
LUT_EQUIVALENTS = {"LUT": 1.0, "FF": 1.0, "BRAM": 402.0, "DSP": 536.0}
CYCLES_TAU = 0.005
PENALTY = 4.0
FIT_TOLERANCE = 1e-4  # log2 cycles ratio above which an option misses the budget (float noise)
BUDGET_TOLERANCE = 1e-4  # relative excess over the budget that is float noise, not a miss
FORMAT = "tailor-evaluator"
VERSION = 1


def _torch():
    import torch
    return torch


HOLD_OUT_EVERY = 2  # every other sampled design is held out: >= 100 of them from 200 rows on
HELD_OUT_RULE = f"index % {HOLD_OUT_EVERY} == 0"


def held_out(row):
    """The fixed split: rows whose ``index % HOLD_OUT_EVERY == 0`` are held out (never trained
    on)."""
    return row["index"] % HOLD_OUT_EVERY == 0


def split_rows(space, rows, where="<data>"):
    """``(train, validation, test, failed count)`` of cost-data rows for ``space``, one row
    per design (replicates merged into their mean, :func:`cosearch.costdata.design_rows`).

    Test: :func:`held_out`; validation (early stopping): of the rest, those with
    ``(index // HOLD_OUT_EVERY) % 5 == 0`` (about a fifth); failed rows are excluded and counted.
    Raises a one-line error naming ``where`` for rows of another space or target.
    """
    ok, failed = [], 0
    for n, row in enumerate(rows, start=1):
        if row.get("target") != space.target:
            raise TailorError(f"{where}: row {n} is for target {row.get('target')!r}, the space "
                              f"'{space.name}' for {space.target!r}")
        point = row.get("point")
        try:
            space.check_point(point, where=f"{where}: row {n}")
        except TailorError as e:
            raise TailorError(f"{e} (rows of another space?)") from None
        if row.get("status") != "ok":
            failed += 1
            continue
        ok.append(row)
    if not ok:
        raise TailorError(f"{where}: no measured designs (rows with status 'ok'): nothing to "
                          f"train or evaluate on")
    ok = design_rows(ok)
    test = [r for r in ok if held_out(r)]
    rest = [r for r in ok if not held_out(r)]
    val = [r for r in rest if (r["index"] // HOLD_OUT_EVERY) % 5 == 0]
    train = [r for r in rest if (r["index"] // HOLD_OUT_EVERY) % 5 != 0]
    return train, val, test, failed


def targets(rows):
    return np.array([[float(r[m]) for m in METRICS] for r in rows], dtype=np.float64)


def encodings(space, rows):
    return np.stack([space.encode(r["point"]) for r in rows]).astype(np.float32)


def _cost_modules():
    """The torch modules, defined on first use (torch is imported by commands only)."""
    torch = _torch()
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

    return CostNet, HwGenNet


def smooth_max(values):
    """A differentiable maximum over the last axis of positive ``values``: their mean weighted by
    a softmax of log(value) / :data:`CYCLES_TAU` (exactly the maximum when the largest ones tie,
    as layers often do; the runner-up's weight is below 1e-10 when it is 1/9 smaller, as in
    9216 vs 10368 cycles, which digits designs have). Written as the
    maximum plus the weighted deviations from it, which is the same sum but exact in floating
    point at ties (designs of equal cycles get equal predictions)."""
    torch = _torch()
    top = values.max(dim=-1, keepdim=True).values
    weights = torch.softmax(values.clamp_min(1.0).log() / CYCLES_TAU, dim=-1)
    return top[..., 0] + (weights * (values - top)).sum(dim=-1)


class Evaluator:
    """A trained cost network + hardware-generation network for one space (see the module
    docstring). Build with :func:`train_evaluator` or :func:`load_evaluator`; eval mode,
    frozen (no parameter requires grad), differentiable with respect to the encoding."""

    def __init__(self, space, cost_net, hw_net, info=None, features=None):
        self.space = space
        self.features = features or Features(space)
        self.cost_net, self.hw_net = cost_net.eval(), hw_net.eval()
        for p in list(cost_net.parameters()) + list(hw_net.parameters()):
            p.requires_grad_(False)
        self.info = info or {}
        slices = space.slices()
        self.arch_slices = [s for d, s in slices if d.kind != "par"]
        self.par_units = [self.features.unit_names.index(d.target) for d, _ in slices
                          if d.kind == "par"]

    def cost(self, enc):
        """``{metric: Tensor[B]}`` in natural units for an encoding ``[B, encoding_size]``."""
        resources, cycles = self.cost_net(self.features(enc))
        out = {m: resources[:, i] for i, m in enumerate(RESOURCES)}
        out["cycles"] = cycles
        return out

    def hw_inputs(self, enc):
        """The hardware network's inputs, functions of the non-parallelism blocks only:
        ``(those blocks [B, A], log2(cycles at the largest option / budget) [B, L], existence
        [B, L])`` per layer with a parallelism decision. The parallelism blocks are made uniform
        before the features are taken, so the given ones do not enter."""
        torch = _torch()
        uniform = torch.cat([torch.full((enc.shape[0], s.stop - s.start), 1.0 / (s.stop - s.start),
                                        dtype=enc.dtype) if d.kind == "par" else enc[:, s]
                             for d, s in self.space.slices()], dim=1)
        every = self.features(uniform)
        fast = every[..., FEATURES.index("cycles_fast")]
        ratio = fast[:, self.par_units].clamp_min(1.0).log2() - smooth_max(fast).log2()[:, None]
        exists = every[:, self.par_units, FEATURES.index("exists")]
        return torch.cat([enc[:, s] for s in self.arch_slices], dim=1), ratio, exists

    def hw(self, enc):
        """``enc`` with every parallelism block replaced by the hardware network's softmax."""
        return self.with_par(enc, self.hw_net(*self.hw_inputs(enc)))

    def with_par(self, enc, blocks):
        """``enc`` with its parallelism blocks replaced by ``blocks`` (in decision order)."""
        torch = _torch()
        blocks = iter(blocks)
        parts = [next(blocks) if d.kind == "par" else enc[:, s] for d, s in self.space.slices()]
        return torch.cat(parts, dim=1)

    def budget(self, enc):
        """Cycles budget per design: cycles with every layer at its largest parallelism."""
        return smooth_max(self.features(enc)[..., FEATURES.index("cycles_fast")])

    @staticmethod
    def objective(costs):
        """LUT-equivalents per design (weights: :data:`LUT_EQUIVALENTS`), Tensor[B]."""
        return sum(LUT_EQUIVALENTS[m] * costs[m] for m in RESOURCES)

    def predict(self, enc):
        """:meth:`cost` of a numpy array of encodings, as numpy ``[B, len(METRICS)]`` rounded
        to whole numbers: every metric is a count, and rounding also removes the float noise
        that would break ties between designs of equal cycles (which layers often give)."""
        torch = _torch()
        with torch.no_grad():
            c = self.cost(torch.as_tensor(np.asarray(enc), dtype=torch.float32))
        return np.rint(np.stack([c[m].numpy() for m in METRICS], axis=1).astype(np.float64))

    def save(self, path):
        from common.io import serialized, write_bytes
        torch = _torch()
        state = {"format": FORMAT, "version": VERSION, "space": self.space.to_json_obj(),
                 "cost": self.cost_net.state_dict(),
                 "cost_shape": self.cost_net.shape_args, "hw": self.hw_net.state_dict(),
                 "hw_shape": self.hw_net.shape_args, "info": self.info}
        write_bytes(path, serialized(lambda f: torch.save(state, f)))


def _build_nets(space, features, cost_shape, hw_shape):
    CostNet, HwGenNet = _cost_modules()
    cost_net = CostNet(features.unit_types, **cost_shape)
    cost_net.shape_args = cost_shape
    hw_net = HwGenNet(**hw_shape)
    hw_net.shape_args = hw_shape
    return cost_net, hw_net


def load_evaluator(path):
    """An :class:`Evaluator` saved by :meth:`Evaluator.save`; one-line errors for a missing or
    unreadable file."""
    torch = _torch()
    from .space import parse_space
    if not Path(path).is_file():
        raise TailorError(f"{path}: file not found")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # pickle / zip errors of every kind: the file is not one of ours
        raise TailorError(f"{path}: is not a saved evaluator ({e.__class__.__name__})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT \
            or state.get("version") != VERSION:
        raise TailorError(f"{path}: is not a {FORMAT} version {VERSION} file")
    missing = [k for k in ("space", "cost", "cost_shape", "hw", "hw_shape", "info")
               if k not in state]
    if missing:
        raise TailorError(f"{path}: is damaged: it lacks '{missing[0]}'")
    space = parse_space(state["space"], source=f"{path}: space")
    features = Features(space)
    try:
        cost_net, hw_net = _build_nets(space, features, state["cost_shape"], state["hw_shape"])
        cost_net.load_state_dict(state["cost"])
        hw_net.load_state_dict(state["hw"])
    except (KeyError, TypeError, ValueError, RuntimeError) as e:  # missing entries, other shapes
        raise TailorError(f"{path}: its networks do not match this version of the evaluator "
                          f"({e.__class__.__name__}); train it again") from None
    return Evaluator(space, cost_net, hw_net, state["info"], features)


def _fit_cost(cost_net, x_train, y_train, x_val, y_val, epochs, lr, weight_decay):
    """Full-batch Adam on the squared log error of the four resources; keeps the state of the
    best validation loss (of the training loss if there is no validation set), checked every 10
    epochs."""
    torch = _torch()
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


def random_architectures(space, n, rng):
    """One-hot encodings of ``n`` random points (the hardware network replaces their
    parallelism blocks)."""
    return np.stack([space.encode(space.sample(rng)) for _ in range(n)]).astype(np.float32)


def _fit_hw(ev, steps, batch, lr, seed):
    """Train the hardware network with the cost network frozen (see the module docstring).
    Half of each batch are one-hot architectures, half relaxed ones (softmax of random logits),
    since the search hands it both. The parallelism it proposes is sampled as a one-hot choice
    (straight-through Gumbel-softmax), so the cost network and the cycles penalty are evaluated
    at discrete hardware, where the cost network was trained and the budget is exact, rather
    than at mixtures of parallelisms, which a hedging softmax could exploit."""
    torch = _torch()
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
    torch = _torch()
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


def train_evaluator(space, rows, seed=0, epochs=3000, lr=0.01, weight_decay=1e-5, hidden=32,
                    hw_steps=800, hw_batch=64, hw_lr=1e-2, where="<data>"):
    """Train an :class:`Evaluator` for ``space`` on cost-data ``rows`` (the held-out rows
    never enter). Returns ``(evaluator, info)``; ``info`` has the split sizes, the failed
    rows count, the fit summary and :func:`hwgen_quality`."""
    torch = _torch()
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
    cost_net, hw_net = _build_nets(space, features, cost_shape, hw_shape)
    cost_net.init_counts(x_train, y_train[:, :len(RESOURCES)])
    fit = _fit_cost(cost_net, x_train, y_train, x_val, y_val, epochs, lr, weight_decay)
    ev = Evaluator(space, cost_net, hw_net, features=features)
    _fit_hw(ev, hw_steps, hw_batch, hw_lr, seed)
    info = {"train": len(train), "validation": len(val), "held_out": len(test),
            "failed": failed, "seed": seed, "fit": fit, "hwgen": hwgen_quality(ev)}
    ev.info = info
    return ev, info
