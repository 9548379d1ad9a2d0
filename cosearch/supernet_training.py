"""Training the supernet (:class:`cosearch.supernet.SuperNet`): the shared warm-up and each λ's
search from it.

The warm-up (:func:`warm_up_supernet`) trains one supernet on uniformly drawn architectures for
the λs' warm-up shares pooled, ``len(λ) · round(warmup · epochs)`` epochs, so the budget is
that of separate warm-ups. Pooled, the warm-up is long enough to judge narrow networks: after a
short one every narrower width looks worse in loss than it is, and the search keeps the widest
widths and saves on bit widths instead (``docs/DECISIONS.md``).

Each λ's search (:func:`train_supernet`) runs ``epochs − round(warmup · epochs)`` epochs from the
warm-up with the loss ``kd_loss(student, teacher, labels) + λ · ev.objective(ev.cost(ev.hw(enc))) /
objective of the baseline`` (``kd_loss``: :func:`nn.distill.kd_loss`, ``α·MSE(logits) + (1−α)·CE``;
``enc``: the Gumbel-softmax sample of the architecture, the par blocks filled by the evaluator's
hardware-generation net; the evaluator is frozen), the architecture logits and the weights both
trained; the temperature falls geometrically from ``tau_start`` to ``tau_end``, the weights'
learning rate continues the warm-up's cosine schedule.
"""

from dataclasses import dataclass

from .point_training import distill_loss
from .search_config import search_epochs
from .search_points import baseline_objective


@dataclass
class WarmUp:
    """The shared warm-up as it travels to the λs' workers: plain tensors and lists."""

    state: dict  # the supernet's state dict
    optimizer: dict  # the Adam state of its weights
    history: list  # one {"epoch", "loss"} per warm-up epoch (results.json keeps it)


def warm_up_supernet(space, teacher, data, epochs, cfg):
    """The supernet trained ``epochs`` epochs on uniformly drawn architectures (the logits stay
    at zero), the shared start of every λ's search, as a :class:`WarmUp`."""
    import torch

    from .supernet import SuperNet

    torch.manual_seed(cfg.seed)
    net = SuperNet(space)
    net.arch_logits.requires_grad_(False)  # not trained here: no gradient to collect
    opt_w = torch.optim.Adam(_weights(net), lr=cfg.lr)
    history = _run_epochs(net, opt_w, None, None, teacher, data, 0.0, cfg, range(epochs),
                          epochs + search_epochs(cfg))
    return WarmUp(state=net.state_dict(), optimizer=opt_w.state_dict(), history=history)


def train_supernet(space, ev, teacher, data, lam, cfg, warm=None):
    """Search at cost weight ``lam`` (see the module docstring) from the shared warm-up ``warm``
    (:func:`warm_up_supernet`; ``None``: from scratch); returns the supernet, the judge of
    :func:`cosearch.point_selection.select_point` (the warm-up's supernet, or the searched one if
    there was no warm-up) and the history ``[{"epoch", "tau", "loss", "cost", "point"}]`` of the
    search epochs (``cost``: the normalised objective of the epoch's last sample)."""
    import copy

    import torch

    from .supernet import SuperNet

    torch.manual_seed(cfg.seed)
    net = SuperNet(space)  # only its parameters are optimised: the evaluator stays frozen
    opt_w = torch.optim.Adam(_weights(net), lr=cfg.lr)
    first = 0
    if warm is not None:
        net.load_state_dict(warm.state)
        # a copy: Adam keeps the loaded moment and step tensors and updates them in place, and
        # the warm-up's tensors are one shared-memory copy for every λ (torch sends tensors
        # between the pool's processes that way), so the λs would race on one optimizer state
        opt_w.load_state_dict(copy.deepcopy(warm.optimizer))
        first = len(warm.history)
    judge = copy.deepcopy(net) if warm is not None else net
    opt_a = torch.optim.Adam(net.arch_logits.parameters(), lr=cfg.arch_lr)
    epochs = range(first, first + search_epochs(cfg))
    history = _run_epochs(net, opt_w, opt_a, ev, teacher, data, lam, cfg, epochs, epochs.stop)
    return net, judge, history


def _weights(net):
    return [p for n, p in net.named_parameters() if not n.startswith("arch_logits")]


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
