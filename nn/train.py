"""Quantization-aware training and evaluation.

:func:`fit` is the one training loop (Adam, cosine learning rate, seeded shuffling per epoch so a
resumed run continues exactly), used both for teachers (:func:`train_teacher`) and for the
distilled students of :mod:`nn.distill`.
"""

import math
from dataclasses import asdict, dataclass

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

import netdesc

from .checkpoint import load_checkpoint, model_from_record, model_record, save_checkpoint
from .data import load_dataset
from .export import to_netdesc
from .intmodel import IntegerNet
from .models import make_model


@dataclass
class TrainConfig:
    model: str = "digits-small"
    data: str = "digits"
    data_path: str = None
    epochs: int = 30
    batch_size: int = 32
    lr: float = 3e-3
    seed: int = 0
    weight_bits: int = 8
    act_bits: int = 8
    skips: bool = True  # False: the baseline trained without skips from scratch
    init_weights: str = None  # a state dict of the user's network (model FILE.py:FUNC)
    limit_train: int = None
    limit_test: int = None


def load_data(cfg):
    return load_dataset(cfg.data, cfg.data_path, cfg.limit_train, cfg.limit_test)


def new_model(cfg, data):
    torch.manual_seed(cfg.seed)
    return make_model(cfg.model, data.shape, data.input_bits, data.input_frac, data.classes,
                      cfg.weight_bits, cfg.act_bits, cfg.skips, cfg.init_weights)


@torch.no_grad()
def logits(model, x, batch_size=512):
    """Fake-quantized logits of ``model`` (eval mode) for integer images ``x``."""
    was_training = model.training
    model.eval()
    out = [model(torch.as_tensor(x[i:i + batch_size])) for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(out)


def integer_logits(net, x, batch_size=256):
    """Logits of the integer network ``net`` (run by :class:`IntegerNet`) for images ``x``."""
    run = IntegerNet(net)
    return torch.cat([run(x[i:i + batch_size]) for i in range(0, len(x), batch_size)])


def evaluate(model, data, integer=True):
    """Test accuracy of ``model``: of its exported integer network (``integer``), else of the
    float fake-quantized model."""
    out = integer_logits(to_netdesc(model), data.x_test) if integer else logits(model, data.x_test)
    return float((out.argmax(1).numpy() == data.y_test).mean())


def cosine_lr(lr, epoch, epochs):
    """The learning rate of ``epoch``: cosine decay from ``lr``, a function of the epoch only."""
    return lr * 0.5 * (1 + math.cos(math.pi * epoch / epochs))


def epoch_batches(n, batch_size, seed, epoch):
    """The index batches of one epoch over ``n`` examples: a permutation seeded by ``seed`` and
    ``epoch`` only (so a resumed run continues exactly), without a last batch of fewer than two
    examples (batch statistics need two)."""
    order = torch.randperm(n, generator=torch.Generator().manual_seed(seed * 100003 + epoch))
    for i in range(0, n, batch_size):
        idx = order[i:i + batch_size]
        if len(idx) >= 2:
            yield idx


def fit(model, data, epochs, lr, batch_size, seed, loss_fn, start_epoch=0, optimizer_state=None,
        on_epoch_start=None, on_epoch_end=None, progress=True, desc="train"):
    """Train ``model`` from ``start_epoch`` to ``epochs``; ``loss_fn(logits, labels, images)``.

    ``on_epoch_start(epoch)`` runs before each epoch (the skip schedule hooks in here);
    ``on_epoch_end(epoch, record, optimizer)`` after it, with ``record`` = ``{"epoch", "skips",
    "loss", "test_acc"}`` (fake-quantized test accuracy). Returns the list of records.
    """
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    if optimizer_state is not None:
        opt.load_state_dict(optimizer_state)
    x = torch.as_tensor(data.x_train)
    y = torch.as_tensor(data.y_train)
    history = []
    bar = tqdm(range(start_epoch, epochs), desc=desc, disable=not progress, leave=False)
    for epoch in bar:
        if on_epoch_start is not None:
            on_epoch_start(epoch)
        for group in opt.param_groups:
            group["lr"] = cosine_lr(lr, epoch, epochs)
        model.train()
        total, count = 0.0, 0
        for idx in epoch_batches(len(x), batch_size, seed, epoch):
            loss = loss_fn(model(x[idx]), y[idx], x[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            total, count = total + loss.item() * len(idx), count + len(idx)
        record = {"epoch": epoch, "skips": model.skip_code(), "loss": total / max(count, 1),
                  "test_acc": evaluate(model, data, integer=False)}
        history.append(record)
        bar.set_postfix(loss=f"{record['loss']:.3f}", acc=f"{record['test_acc']:.3f}", skips=record["skips"])
        if on_epoch_end is not None:
            on_epoch_end(epoch, record, opt)
    return history


def cross_entropy(logits_, labels, images):
    return F.cross_entropy(logits_, labels)


def train_teacher(cfg, data=None, progress=True, checkpoint=None, resume=None):
    """Train a model from scratch with quantization-aware training.

    ``checkpoint``: path written after every epoch; ``resume``: a checkpoint of this kind to
    continue (its config is used, ``cfg.epochs`` may extend it). Returns ``(model, metrics)``
    with ``metrics = {"config", "history", "test_acc", "integer_test_acc"}``.
    """
    start, opt_state, history = 0, None, []
    if resume is not None:
        ckpt = load_checkpoint(resume, kind="train")
        cfg = TrainConfig(**{**ckpt["config"], "epochs": max(cfg.epochs, ckpt["config"]["epochs"])})
        model = model_from_record(ckpt["model"])
        start, opt_state, history = ckpt["epoch"], ckpt["optimizer"], ckpt["metrics"]["history"]
    data = data if data is not None else load_data(cfg)
    if resume is None:
        model = new_model(cfg, data)

    state = {"epoch": start, "optimizer": opt_state}

    def metrics():
        return {"config": asdict(cfg), "history": list(history),
                "test_acc": history[-1]["test_acc"] if history else None}

    def write(result):
        if checkpoint is not None:
            save_checkpoint(checkpoint, {"kind": "train", "model": model_record(model),
                                         "config": asdict(cfg), **state, "metrics": result})

    def end_of_epoch(epoch, record, opt):
        history.append(record)
        state.update(epoch=epoch + 1, optimizer=opt.state_dict())
        write(metrics())

    fit(model, data, cfg.epochs, cfg.lr, cfg.batch_size, cfg.seed, cross_entropy, start, opt_state,
        on_epoch_end=end_of_epoch, progress=progress, desc=f"train {cfg.model}")
    result = metrics()
    result["test_acc"] = evaluate(model, data, integer=False)
    result["integer_test_acc"] = evaluate(model, data, integer=True)
    write(result)  # the last epoch's checkpoint again, now with the final figures
    return model, result


def verify_export(model, net, data, batch_size=256):
    """Check ``net`` (exported from ``model``) on the test set: the integer model against
    :func:`netdesc.run`, bit for bit, and the float fake-quantized model's argmax against the
    integer one. Returns ``{"test_images", "mismatched_logits", "bit_exact", "integer_test_acc",
    "fakequant_test_acc", "argmax_agreement"}``."""
    run = IntegerNet(net)
    mismatched, predictions = 0, []
    for i in range(0, len(data.x_test), batch_size):
        x = data.x_test[i:i + batch_size]
        integer = run(x).numpy()
        mismatched += int(np.sum(integer != netdesc.run(net, x)))
        predictions.append(integer.argmax(1))
    integer_pred = np.concatenate(predictions)
    fake_pred = logits(model, data.x_test).argmax(1).numpy()
    return {"test_images": len(data.x_test), "mismatched_logits": mismatched,
            "bit_exact": mismatched == 0,
            "integer_test_acc": float(np.mean(integer_pred == data.y_test)),
            "fakequant_test_acc": float(np.mean(fake_pred == data.y_test)),
            "argmax_agreement": float(np.mean(fake_pred == integer_pred))}
