"""The co-search: a λ sweep of the supernet against the frozen learned cost, each chosen point
retrained from scratch, exported and measured with the real flow; and random search at equal
budget.

First a shared warm-up (:func:`warm_up_supernet`): one :class:`cosearch.supernet.SuperNet`
trained on uniformly drawn architectures for the λs' warm-up shares pooled, ``len(λ) ·
round(warmup · epochs)`` epochs, so the budget is that of separate warm-ups. Pooled, the
warm-up is long enough to judge narrow networks: on digits, after 3 epochs the judge's one-hot
network classified 76% of the training images and every narrower width looked 0.3–0.6 worse in
loss, so the search kept the widest widths and saved on bit widths instead; after 12 shared
epochs the λ = 3 points were narrower and 0.6–0.8 accuracy points more accurate at 5–16% less
LUT+FF (3 seeds; the λ = 1 points moved by −0.8 to 0 points).

Then for each λ (:func:`cosearch_job`, the λs run in parallel on
:func:`cosearch.executor.executor`), from the warm-up:

1. search ``epochs − round(warmup · epochs)`` epochs with the loss ``kd_loss(student, teacher,
   labels) + λ · ev.objective(ev.cost(ev.hw(enc))) / objective of the baseline`` (``kd_loss``:
   :func:`nn.distill.kd_loss`, ``α·MSE(logits) + (1−α)·CE``; ``enc``: the Gumbel-softmax
   sample of the architecture, the par blocks filled by the evaluator's hardware-generation
   net; the evaluator is frozen), the architecture logits and the weights both trained; the
   temperature falls geometrically from ``tau_start`` to ``tau_end``, the weights' learning rate
   continues the warm-up's cosine schedule;
2. discretise (:func:`select_point`): start from the argmax architecture, then check every
   decision by what each of its options really does to ``task loss + λ · normalised predicted
   objective`` of the discrete network (the supernet as it was at the end of the warm-up run
   one-hot on a fixed sample of training images; the objective predicted for the point with
   the parallelism the hardware-generation net gives it), keeping the best, until a sweep
   changes nothing. The warm-up weights were trained on uniformly sampled architectures; the
   searched ones have co-adapted to the argmax and favour it (on digits, 6 seeds × λ 1 and 3,
   judging with the warm-up weights gave on average +0.5 accuracy points at λ 1 for 7% less
   predicted LUT+FF, +0.4 points at λ 3 at the same cost; single runs differ by ±1 point). Why:
   the straight-through gradient sees a bit width's rounding only to first order, so its task
   gradient is small (on digits about 0.001 per logit, against 0.002–0.005 of cost at λ = 1)
   and Adam, stepping by sign, lets the cost decide alone; the argmax then holds 4-bit
   activations almost everywhere. Checking options by the loss they cause is the
   perturbation-based selection of Wang et al., "Rethinking architecture selection in
   differentiable NAS" (ICLR 2021);
3. build it (:meth:`Space.build_model`) and train it from scratch ``retrain`` epochs with the
   same distillation loss, as differentiable NAS retrains its chosen cell (DARTS): the shared
   weights were trained for the mixture of options, not for the chosen network. Fine-tuning
   from them (sliced to the chosen widths) was no better: on digits, over the 8 points of
   seeds 0 and 2, 20 epochs from scratch (mean of 3 training seeds) were 0.2 accuracy points
   more accurate on average (seed 0: +0.2 to +0.9; seed 2: −0.9 to +0.7);
4. export it (:func:`nn.export.to_netdesc`), measure it (:func:`cosearch.costdata.measure_net`:
   timing-model cycles, the RTL simulation of ``sim_images`` test images bit-exact against
   :func:`netdesc.run`, Yosys) and record the evaluator's prediction beside the measurement.
   Accuracy is the exported integer network's (:func:`nn.train.evaluate`).

A point's accuracy is the mean over ``repeats`` trainings of its network, alike in all but the
seed (:func:`train_repeats`); the first is the one exported and measured. One training is a
noisy measure of an architecture: on digits, three trainings of one architecture spread over
0.9 accuracy points on average and up to 1.7 (16 architectures, 20 and 30 epochs), more than
the gaps between the fronts being compared. The repeats measure the point after it has been
chosen, so they are outside the search budget, and both searches' points are measured the same
way.

Random search (:func:`random_job`) spends the same budget: as many measured designs as λs
(unless told otherwise) and the same total training epochs ``len(λ)·(epochs + retrain)``,
split evenly over its points. Its architectures are drawn uniformly; their parallelism comes
from the same hardware-generation net as the co-search's, so the two differ only in how the
architecture is chosen. Each is trained from scratch with the distillation loss and measured the
same way.

The baseline is the teacher itself: every skip kept, the widest widths, 8-bit weights and
activations (for the digits space, the digits-small network ``tailor train`` makes), with the
parallelism the hardware-generation net gives that architecture, measured the same way.

Fronts are over (test error, LUT+FF), both minimised. :func:`hypervolume` is the area they
dominate inside the box from (0, 0) to a reference point, divided by the box's area (0: nothing
dominated, 1: the whole box); :func:`reference_point` puts it at (baseline error +
:data:`ERROR_MARGIN`, :data:`COST_MARGIN` × the baseline's LUT+FF). Over several seeds,
:func:`accuracy_gap_at_equal_cost` fits how much more accurate the co-search's points are than
random search's at equal LUT+FF, and :func:`dominance_chance` models how often a front with a
given gap dominates random search's at the noise of that fit.
"""

import json
import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from common.errors import TailorError

from .executor import executor

ERROR_MARGIN = 0.05  # the reference error: the baseline's plus five accuracy points
COST_MARGIN = 1.2  # the reference LUT+FF: 1.2 × the baseline's
LAMBDAS = (0.1, 0.3, 1.0, 3.0)  # the default sweep. 0.25, 0.5, 1, 2, denser where the cost
# moves most, did no better in the bench on seeds 6-8: hypervolume 0.426 against 0.444, the
# front dominant in 1 of 3 seeds


@dataclass
class SearchConfig:
    # Per λ, 5 supernet epochs (3 pooled into the warm-up: 12 for 4 λs, 2 searching) and 25 of
    # retraining. The retraining decides the accuracy more than the search does: on digits, 16
    # chosen and random architectures (3 trainings each) gained 0.4 points on average (up to
    # 1.0) from 20 to 30 epochs. Hence 5 + 25, not 10 + 20 (3 warm-up, 7 searching; it had
    # beaten 20 + 10). In the bench (3 trainings per point), on seeds 0-2 both had the same
    # hypervolume and the co-search front dominated random search's in 3 of 3 seeds at 5 + 25,
    # in 1 of 3 at 10 + 20; on seeds 3-11, not used to choose, in 1 of 9 (10 of the 16 misses
    # within a test image and 1k LUT+FF), its hypervolume above random's in all twelve.
    epochs: int = 5  # supernet epochs per λ
    retrain: int = 25  # epochs each chosen point is trained from scratch
    warmup: float = 0.6  # fraction of the supernet epochs spent on the shared warm-up
    lr: float = 3e-3  # weights (Adam, cosine decay), as nn.train
    arch_lr: float = 0.05  # architecture logits (Adam)
    batch_size: int = 32
    alpha: float = 0.35  # distillation weight, as nn.distill
    tau_start: float = 4.0
    tau_end: float = 0.5
    hard: bool = True  # straight-through one-hot samples
    select_images: int = 512  # training images that judge each option in select_point
    select_sweeps: int = 3  # at most this many sweeps over the decisions
    sim_images: int = 3  # test images simulated in RTL per measured design
    repeats: int = 1  # trainings per measured point, its accuracy their mean (train_repeats)
    seed: int = 0

    def check(self):
        if self.epochs < 1 or self.retrain < 0:
            raise TailorError(f"--epochs must be >= 1 and --retrain >= 0 "
                              f"(got {self.epochs}, {self.retrain})")
        if not 0 <= self.warmup < 1:
            raise TailorError(f"warmup must be in [0, 1) (got {self.warmup})")
        if self.repeats < 1:
            raise TailorError(f"--repeats must be >= 1 (got {self.repeats})")
        if self.sim_images < 2:
            raise TailorError(f"sim_images must be >= 2 (the steady state needs two), "
                              f"got {self.sim_images}")
        return self


# -- points ----------------------------------------------------------------------------------

def baseline_arch(space):
    """The all-skips baseline's architecture decisions: keep, widest, 8 bits (or the widest
    bits a decision offers, if it lacks 8)."""
    point = {}
    for d in space.decisions:
        if d.kind == "skip":
            point[d.key] = "keep" if "keep" in d.options else d.options[0]
        elif d.kind in ("width", "wbits", "abits"):
            point[d.key] = 8 if d.kind != "width" and 8 in d.options else max(d.options)
    return point


def with_hw(space, ev, arch):
    """``arch`` (architecture decisions) completed with the parallelism the evaluator's
    hardware-generation net picks for it (argmax of each par block)."""
    import torch

    enc = torch.as_tensor(space.encode(arch, without=("par",)))[None]
    with torch.no_grad():
        hw = ev.hw(enc)[0].numpy()
    point = dict(arch)
    for d, part in space.slices():
        if d.kind == "par":
            point[d.key] = d.options[int(np.argmax(hw[part]))]
    return space.check_point(point)


def baseline_objective(space, ev):
    """The predicted objective of the baseline: the unit of the search's cost term."""
    return predict(space, ev, with_hw(space, ev, baseline_arch(space)))["objective"]


def predict(space, ev, point):
    """The evaluator's prediction for ``point``: ``{metric: value}`` plus ``objective``."""
    import torch

    with torch.no_grad():
        costs = ev.cost(torch.as_tensor(space.encode(point))[None])
        out = {m: float(v[0]) for m, v in costs.items()}
        out["objective"] = float(ev.objective(costs)[0])
    return out


def skip_summary(space, point):
    """``(kept, shortened, removed)`` skip counts of ``point``."""
    states = [point.get(f"skip:{b}", "keep") for b in space.blocks]
    return tuple(states.count(s) for s in ("keep", "shorten", "remove"))


# -- training --------------------------------------------------------------------------------

def distill_loss(teacher, alpha):
    """``loss_fn(student logits, labels, images)`` for :func:`nn.train.fit`: nn.distill's."""
    import torch

    from nn.distill import kd_loss

    def loss_fn(student_logits, labels, images):
        with torch.no_grad():
            t = teacher(images)
        return kd_loss(student_logits, t, labels, alpha)
    return loss_fn


def warmup_epochs(cfg, n_lambdas):
    """Epochs of the shared warm-up: each λ's share (``warmup`` of its ``epochs``) pooled, so
    the budget is that of ``n_lambdas`` supernets warmed up separately."""
    return int(round(cfg.warmup * cfg.epochs)) * n_lambdas


def warm_up_supernet(space, teacher, data, epochs, cfg):
    """The supernet trained ``epochs`` epochs on uniformly drawn architectures (the logits stay
    at zero), the shared start of every λ's search; returns ``{"state", "optimizer",
    "history"}`` (its state dict, its weights' Adam state and ``[{"epoch", "loss"}]``), plain
    tensors so that it travels to the workers."""
    import torch

    from .supernet import SuperNet

    torch.manual_seed(cfg.seed)
    net = SuperNet(space)
    net.arch_logits.requires_grad_(False)  # not trained here: no gradient to collect
    opt_w = torch.optim.Adam(_weights(net), lr=cfg.lr)
    history = _run_epochs(net, opt_w, None, None, teacher, data, 0.0, cfg, range(epochs),
                          epochs + search_epochs(cfg))
    return {"state": net.state_dict(), "optimizer": opt_w.state_dict(), "history": history}


def train_supernet(space, ev, teacher, data, lam, cfg, warm=None):
    """Search at cost weight ``lam`` (see the module docstring) from the shared warm-up ``warm``
    (:func:`warm_up_supernet`; ``None``: from scratch); returns the supernet, the judge of
    :func:`select_point` (the warm-up's supernet, or the searched one if there was no warm-up)
    and the history ``[{"epoch", "tau", "loss", "cost", "point"}]`` of the search epochs
    (``cost``: the normalised objective of the epoch's last sample)."""
    import copy

    import torch

    from .supernet import SuperNet

    torch.manual_seed(cfg.seed)
    net = SuperNet(space)  # only its parameters are optimised: the evaluator stays frozen
    opt_w = torch.optim.Adam(_weights(net), lr=cfg.lr)
    first = 0
    if warm is not None:
        net.load_state_dict(warm["state"])
        # a copy: Adam keeps the loaded moment and step tensors and updates them in place, and
        # the warm-up's tensors are one shared-memory copy for every λ (torch sends tensors
        # between the pool's processes that way), so the λs would race on one optimizer state
        opt_w.load_state_dict(copy.deepcopy(warm["optimizer"]))
        first = len(warm["history"])
    judge = copy.deepcopy(net) if warm is not None else net
    opt_a = torch.optim.Adam(net.arch_logits.parameters(), lr=cfg.arch_lr)
    epochs = range(first, first + search_epochs(cfg))
    history = _run_epochs(net, opt_w, opt_a, ev, teacher, data, lam, cfg, epochs, epochs.stop)
    return net, judge, history


def _weights(net):
    return [p for n, p in net.named_parameters() if not n.startswith("arch_logits")]


def search_epochs(cfg):
    """Epochs each λ searches after the shared warm-up: the rest of its ``epochs``."""
    return cfg.epochs - warmup_epochs(cfg, 1)


def _run_epochs(net, opt_w, opt_a, ev, teacher, data, lam, cfg, epochs, total):
    """Train ``net`` over ``epochs`` (indices into a cosine learning-rate schedule of ``total``
    epochs). Without ``opt_a`` (the warm-up) the logits stay at zero, so every sample is a
    uniform draw; with it, the loss gains ``lam`` × the normalised predicted objective and the
    temperature falls geometrically from ``tau_start`` to ``tau_end`` over these epochs."""
    import torch

    from nn.train import cosine_lr, epoch_batches

    loss_fn = distill_loss(teacher, cfg.alpha)
    base = baseline_objective(net.space, ev) if opt_a is not None else None
    x, y = torch.as_tensor(data.x_train), torch.as_tensor(data.y_train)
    history = []
    for i, epoch in enumerate(epochs):
        tau = cfg.tau_start * (cfg.tau_end / cfg.tau_start) ** (i / max(len(epochs) - 1, 1))
        for group in opt_w.param_groups:
            group["lr"] = cosine_lr(cfg.lr, epoch, total)
        net.train()
        total_loss, count = 0.0, 0
        for idx in epoch_batches(len(x), cfg.batch_size, cfg.seed, epoch):
            probs = net.sample(tau, cfg.hard)
            task = loss_fn(net(x[idx], probs), y[idx], x[idx])
            loss = task
            if opt_a is not None:
                cost = ev.objective(ev.cost(ev.hw(net.encoding(probs))))[0] / base
                loss = task + lam * cost
                opt_a.zero_grad()
            opt_w.zero_grad()
            loss.backward()
            opt_w.step()
            if opt_a is not None:
                opt_a.step()
            total_loss, count = total_loss + task.item() * len(idx), count + len(idx)
        record = {"epoch": epoch, "loss": total_loss / max(count, 1)}
        if opt_a is not None:
            record.update(tau=round(tau, 4), cost=cost.item(), point=net.point())
        history.append(record)
    return history


def select_point(space, ev, judge, start, teacher, data, lam, cfg):
    """The architecture chosen from the argmax architecture ``start`` (step 2 of the module
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


def train_point(space, point, teacher, data, epochs, cfg):
    """``point``'s :mod:`nn` model trained from scratch ``epochs`` epochs with the distillation
    loss."""
    import torch

    from nn.train import fit

    torch.manual_seed(cfg.seed)
    model = space.build_model(point)
    if epochs:
        fit(model, data, epochs, cfg.lr, cfg.batch_size, cfg.seed,
            distill_loss(teacher, cfg.alpha), progress=False)
    return model


REPEAT_SEED_STRIDE = 1000  # a repeat's seed is seed + i × this: clear of the seeds that a
# sweep of search seeds (0, 1, 2, ...) gives its own first trainings


def train_repeats(space, point, teacher, data, epochs, cfg):
    """``point``'s model trained by :func:`train_point` once per repeat (``cfg.repeats``
    seeds): the first seed's model, which is exported and measured, and the integer test
    accuracy of every training."""
    from dataclasses import replace

    from nn.train import evaluate

    first = train_point(space, point, teacher, data, epochs, cfg)
    others = (train_point(space, point, teacher, data, epochs,
                          replace(cfg, seed=cfg.seed + REPEAT_SEED_STRIDE * i))
              for i in range(1, cfg.repeats))
    return first, [evaluate(m, data, integer=True) for m in (first, *others)]


# -- measuring -------------------------------------------------------------------------------

def measure_point(space, ev, point, model, accuracies, data, cfg, outdir, name):
    """Export ``model`` (``point``'s network), measure it with the real flow, write its netdesc
    and hardware config as ``outdir/name.json`` (+ ``.npz``) and ``outdir/name.hw.json``, and
    return its row: point, accuracy (the mean of ``accuracies``, one per training of the
    network; ``model``'s first), prediction, measurement."""
    import netdesc
    from nn.export import to_netdesc
    from rtl.hwconfig import save_hw

    from .costdata import error_text, measure_net

    net = to_netdesc(model, name=name)
    hw = space.hw_config(point, net)
    outdir = Path(outdir)
    outdir.mkdir(parents=True, exist_ok=True)
    netdesc.save(net, outdir / f"{name}.json")
    save_hw(hw, outdir / f"{name}.hw.json")
    row = {"name": name, "point": point, "skips": skip_summary(space, point),
           "accuracy": float(np.mean(accuracies)), "accuracies": list(accuracies),
           "predicted": predict(space, ev, point)}
    seconds = {}
    try:
        row["measured"] = measure_net(net, hw, space.target, data.x_test[:cfg.sim_images],
                                      seconds=seconds)
        row["status"] = "ok"
    except Exception as e:  # a failed measurement is reported with its error, never dropped
        row.update(status="failed", error=error_text(e))
    row["seconds"] = seconds
    return row


# -- the jobs (run on the executor: arguments and results travel between processes) ----------

def _context(space_obj, ev_path, teacher_record, data_name):
    import torch

    from nn.checkpoint import model_from_record
    from nn.data import load_dataset

    from .evaluator import load_evaluator
    from .space import parse_space

    torch.set_num_threads(1)
    space = parse_space(space_obj, source=f"<space {space_obj.get('name')}>")
    ev = load_evaluator(ev_path)
    teacher = model_from_record(teacher_record)
    teacher.eval()
    return space, ev, teacher, load_dataset(data_name)


def warmup_job(space_obj, ev_path, teacher_record, data_name, epochs, cfg):
    """The shared warm-up (:func:`warm_up_supernet`)."""
    space, _, teacher, data = _context(space_obj, ev_path, teacher_record, data_name)
    return warm_up_supernet(space, teacher, data, epochs, cfg)


def cosearch_job(space_obj, ev_path, teacher_record, data_name, lam, cfg, warm, outdir):
    """One λ of the sweep (steps 1–4 of the module docstring) from the shared warm-up ``warm``
    (``None``: none); returns its row."""
    start = time.monotonic()
    space, ev, teacher, data = _context(space_obj, ev_path, teacher_record, data_name)
    supernet, judge, history = train_supernet(space, ev, teacher, data, lam, cfg, warm)
    argmax = supernet.point()
    arch, changed = select_point(space, ev, judge, argmax, teacher, data, lam, cfg)
    point = with_hw(space, ev, arch)
    model, accuracies = train_repeats(space, point, teacher, data, cfg.retrain, cfg)
    row = measure_point(space, ev, point, model, accuracies, data, cfg, outdir,
                        f"cosearch-lambda{lam:g}")
    row.update(kind="cosearch", lam=lam, history=history, argmax=argmax,
               changed_by_selection=changed, epochs=cfg.epochs + cfg.retrain,
               total_seconds=round(time.monotonic() - start, 1))
    return row


def random_job(space_obj, ev_path, teacher_record, data_name, arch, index, epochs, cfg, outdir):
    """One random-search point: architecture ``arch`` with the hardware-generation net's
    parallelism, trained ``epochs`` epochs from scratch, measured; its row."""
    start = time.monotonic()
    space, ev, teacher, data = _context(space_obj, ev_path, teacher_record, data_name)
    point = with_hw(space, ev, arch)
    model, accuracies = train_repeats(space, point, teacher, data, epochs, cfg)
    row = measure_point(space, ev, point, model, accuracies, data, cfg, outdir, f"random-{index}")
    row.update(kind="random", index=index, epochs=epochs,
               total_seconds=round(time.monotonic() - start, 1))
    return row


def baseline_job(space_obj, ev_path, teacher_record, data_name, cfg, outdir):
    """The all-skips baseline (the teacher) measured like every other point, with the
    teacher's one accuracy (it is given, not trained here)."""
    from nn.train import evaluate

    space, ev, teacher, data = _context(space_obj, ev_path, teacher_record, data_name)
    point = with_hw(space, ev, baseline_arch(space))
    row = measure_point(space, ev, point, teacher, [evaluate(teacher, data, integer=True)], data,
                        cfg, outdir, "baseline")
    row.update(kind="baseline")
    return row


def run_search(space, ev_path, teacher, data_name, lambdas, cfg, n_random=None, jobs=1,
               dask=None, outdir="cosearch-out", log=print):
    """The sweep, random search at equal budget and the baseline; returns the results object
    (see :func:`summarise`). ``ev_path``: the saved evaluator (each worker loads it);
    ``teacher``: the trained :class:`nn.models.ResNet` (the baseline's family and
    space's data); ``log``: progress lines."""
    from nn.checkpoint import model_record

    cfg.check()
    if not lambdas:
        raise TailorError("give at least one λ (--lambdas)")
    if any(lam < 0 for lam in lambdas):
        raise TailorError(f"λ must be >= 0 (got {', '.join(f'{v:g}' for v in lambdas)})")
    n_random = len(lambdas) if n_random is None else n_random
    budget = len(lambdas) * (cfg.epochs + cfg.retrain)
    random_epochs = budget // n_random if n_random else 0
    space_obj = space.to_json_obj()
    record = model_record(teacher)
    outdir = Path(outdir)
    args = (space_obj, str(ev_path), record, data_name)
    rows = []
    warm_epochs = warmup_epochs(cfg, len(lambdas))
    with executor(jobs, dask) as (submit, completed):
        # the warm-up first, so that it starts at once; the baseline and random search run
        # beside it, the λs need it
        warming = submit(warmup_job, *args, warm_epochs, cfg) if warm_epochs else None
        futures = [submit(baseline_job, *args, cfg, str(outdir))]
        archs = space.sample_distinct(n_random, cfg.seed + 1, without=("par",))
        futures += [submit(random_job, *args, p, i, random_epochs, cfg, str(outdir))
                    for i, p in enumerate(archs)]
        log(f"cosearch: {len(lambdas)} λ after a shared warm-up of {warm_epochs} epochs, "
            f"{n_random} random points ({random_epochs} epochs each), "
            f"{len(futures) + len(lambdas)} designs to measure")
        warm = warming.result() if warming is not None else None
        futures += [submit(cosearch_job, *args, lam, cfg, warm, str(outdir)) for lam in lambdas]
        for future in completed(futures):
            row = future.result()
            rows.append(row)
            log(f"  [{len(rows)}/{len(futures)}] {describe(row)}")
    results = summarise(space, rows, cfg, lambdas, budget)
    results["warmup"] = {"epochs": warm_epochs, "history": warm["history"] if warm else []}
    return results


def describe(row):
    what = {"cosearch": f"λ={row.get('lam', 0):g}", "random": f"random #{row.get('index')}",
            "baseline": "baseline"}[row["kind"]]
    if row["status"] != "ok":
        return f"{what}: acc {row['accuracy']:.3f}, measurement failed: {row['error']}"
    m = row["measured"]
    return (f"{what}: acc {row['accuracy']:.3f}, LUT {m['LUT']}, FF {m['FF']}, BRAM {m['BRAM']}, "
            f"cycles {m['cycles']} (predicted LUT {row['predicted']['LUT']:.0f}, "
            f"FF {row['predicted']['FF']:.0f})")


# -- fronts ----------------------------------------------------------------------------------

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


def accuracy_gap_at_equal_cost(runs):
    """How much more accurate the co-search's measured points are than random search's at
    equal LUT+FF, pooled over ``runs`` (results objects of :func:`summarise`, one per seed):
    the coefficient of "is a co-search point" in the least-squares fit ``accuracy = intercept
    of its run + slope · ln(LUT+FF) + gap · [co-search]`` over every measured point of both
    searches, with its standard error. A model, not a measurement, but a far finer comparison
    than front dominance, which turns on single points a test image apart: every point
    counts, and the fit takes out each seed's level (its teacher) and the cost. Returns
    ``{"gap", "stderr", "slope", "spread", "points"}`` (accuracy as a fraction, the slope per
    unit of ln(LUT+FF), ``spread``: the root mean square residual of each search's points), or
    ``None`` if the points cannot separate the terms."""
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
    return {"gap": float(coef[-1]), "stderr": stderr, "slope": float(coef[-2]),
            "spread": spread, "points": len(rows)}


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
    ra = fit["slope"] * np.log(rc) + rng.normal(0, fit["spread"]["random"], rc.shape)
    ca = fit["slope"] * np.log(cc) + rng.normal(0, fit["spread"]["cosearch"], cc.shape)
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


def reference_point(baseline_error, baseline_cost):
    return (baseline_error + ERROR_MARGIN, COST_MARGIN * baseline_cost)


def lut_ff(row):
    return row["measured"]["LUT"] + row["measured"]["FF"]


def summarise(space, rows, cfg, lambdas, budget):
    """The results object: ``{"space", "config", "lambdas", "budget_epochs", "baseline",
    "cosearch", "random", "reference", "hypervolume", "front", "random_undominated",
    "target"}``; ``random_undominated`` names the random points no co-search point is at least
    as good as in both error and LUT+FF (empty: the co-search front dominates); ``target``
    names the measured points within 1 accuracy point of the baseline with ≥ 30% fewer LUT+FF
    or BRAM (``{name: ["LUT+FF", "BRAM"] or one of them}``)."""
    by_kind = {k: [r for r in rows if r["kind"] == k] for k in ("baseline", "cosearch", "random")}
    by_kind["cosearch"].sort(key=lambda r: r["lam"])
    by_kind["random"].sort(key=lambda r: r["index"])
    base = by_kind["baseline"][0]
    out = {"space": space.to_json_obj(), "config": asdict(cfg), "lambdas": list(lambdas),
           "budget_epochs": budget, "baseline": base, "cosearch": by_kind["cosearch"],
           "random": by_kind["random"]}
    if base["status"] != "ok":
        raise TailorError(f"the baseline could not be measured: {base['error']}")
    ref = reference_point(1 - base["accuracy"], lut_ff(base))
    out["reference"] = {"error": ref[0], "LUT+FF": ref[1]}
    out["hypervolume"], out["front"] = {}, {}
    for kind in ("cosearch", "random"):
        pts = [(1 - r["accuracy"], lut_ff(r)) for r in by_kind[kind] if r["status"] == "ok"]
        out["hypervolume"][kind] = hypervolume(pts, ref)
        out["front"][kind] = pareto_front(pts)
    out["random_undominated"] = [r["name"] for r in by_kind["random"] if r["status"] == "ok"
                                 and not dominated((1 - r["accuracy"], lut_ff(r)),
                                                   out["front"]["cosearch"])]
    out["target"] = {r["name"]: meets_target(r, base) for r in by_kind["cosearch"] + by_kind["random"]
                     if r["status"] == "ok" and meets_target(r, base)}
    return out


def meets_target(row, base):
    """Which of "LUT+FF" / "BRAM" ``row`` has ≥ 30% fewer of than the baseline while within 1
    accuracy point of it (measured); empty if none."""
    if row["accuracy"] < base["accuracy"] - 0.01:
        return []
    hits = ["LUT+FF"] if lut_ff(row) <= 0.7 * lut_ff(base) else []
    if base["measured"]["BRAM"] > 0 and row["measured"]["BRAM"] <= 0.7 * base["measured"]["BRAM"]:
        hits.append("BRAM")
    return hits


def load_teacher(path, space, data, epochs=30, seed=0, log=print):
    """The teacher, which is also the baseline: the checkpoint at ``path`` (``tailor train`` /
    ``tailor optimize``; it must be the baseline's network, :func:`baseline_arch`), else the
    baseline trained from scratch as ``tailor train`` trains (cross-entropy, its defaults)."""
    import torch

    from nn.checkpoint import load_checkpoint, model_from_record
    from nn.train import TrainConfig, cross_entropy, evaluate, fit

    arch = baseline_arch(space)
    if path is not None:
        model = model_from_record(load_checkpoint(path)["model"])
        if not is_network_of(model, space, arch):
            raise TailorError(f"{path}: the teacher must be the space's baseline (family "
                              f"'{space.model}', all skips kept, widest widths, 8-bit), this is a "
                              f"'{model.spec['arch']}' with skips '{model.skip_code()}'")
    else:
        log(f"cosearch: training the teacher (the baseline, {epochs} epochs)")
        torch.manual_seed(seed)
        model = space.build_model(arch)
        fit(model, data, epochs, TrainConfig.lr, TrainConfig.batch_size, seed, cross_entropy,
            progress=False)
    model.eval()
    log(f"cosearch: teacher integer test accuracy {evaluate(model, data):.4f}")
    return model


def is_network_of(model, space, arch):
    """Whether ``model`` is the network of architecture ``arch``: family, input, widths, every
    layer's bits and the skip states."""
    from nn.models import layer_bits, widths

    spec = space.model_spec(arch)
    same = all(model.spec.get(k) == spec[k] for k in ("arch", "input_shape", "input_bits",
                                                      "input_frac", "classes", "logit_bits"))
    return (same and widths(model.spec) == widths(spec)
            and all(layer_bits(model.spec, n) == layer_bits(spec, n) for n in space.layers)
            and model.skip_state() == space.skip_states(arch))


def write_json(path, results):
    from common.io import write_text
    write_text(path, json.dumps(results, indent=1, sort_keys=True, default=_plain) + "\n")


def _plain(v):
    if isinstance(v, (np.integer, np.floating)):
        return v.item()
    raise TypeError(f"not JSON: {type(v).__name__}")

