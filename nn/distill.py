"""The Tailor algorithm: alter a trained network's skips one at a time, with knowledge distillation.

The student starts as a copy of the teacher (its weights and running statistics). A schedule
(:func:`skip_schedule`) lists the changes: every ``every`` epochs the next skip, input side
first, is removed (``remove``, the SkipRemover) or its block shortened (``shorten``, the
SkipShortener: one skip over two convs becomes two skips over one each). Change ``k`` takes effect
at the start of epoch ``k · every``; training continues ``every + finetune`` epochs after the last
change. ``remove-all`` (the baseline) removes every skip at epoch 0 and trains as long.

The loss is ``alpha · MSE(teacher logits, student logits) + (1 - alpha) · CE`` (``kd="mse"``),
or with ``kd="kl"`` ``alpha · T² · KL(softmax(t/T) ‖ softmax(s/T)) + (1 - alpha) · CE``; the
teacher runs fake-quantized in eval mode.
"""

import copy
from collections import namedtuple
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F

from common.errors import TailorError

from .checkpoint import load_checkpoint, model_from_record, model_record, save_checkpoint
from .train import evaluate, fit

MODES = ("remove", "shorten", "remove-all")
KD_LOSSES = ("mse", "kl")

Change = namedtuple("Change", "epoch block action")  # action: "remove" or "shorten"


@dataclass
class DistillConfig:
    mode: str = "remove"
    every: int = 5  # epochs between skip changes
    finetune: int = 5  # extra epochs after the last change's own `every` epochs
    alpha: float = 0.35
    kd: str = "mse"
    temperature: float = 4.0
    lr: float = 3e-3  # as the teacher: lower rates ended less accurate (docs/DECISIONS.md)
    batch_size: int = 32
    seed: int = 0

    def check(self):
        if self.mode not in MODES:
            raise TailorError(f"unknown mode '{self.mode}' (known: {', '.join(MODES)})")
        if self.kd not in KD_LOSSES:
            raise TailorError(f"unknown distillation loss '{self.kd}' (known: {', '.join(KD_LOSSES)})")
        if self.every < 1 or self.finetune < 0:
            raise TailorError(f"--every must be >= 1 and --finetune >= 0 (got {self.every}, {self.finetune})")
        if not 0 <= self.alpha <= 1 or self.temperature <= 0:
            raise TailorError(f"alpha must be in 0..1 and the temperature > 0 "
                              f"(got {self.alpha}, {self.temperature})")
        return self


def skip_schedule(model, mode, every):
    """The changes to apply to ``model`` (its current skip state), in order, input side first.
    ``shorten`` leaves residuals that cannot be shortened as they are (see
    :class:`nn.blocks.SkipSwitches`)."""
    if mode == "shorten":
        blocks = [i for i, b in enumerate(model.blocks)
                  if b.form == "long" and b.skips_on[0] and b.can_shorten]
    else:
        blocks = [i for i, b in enumerate(model.blocks) if any(b.skips_on)]
    if not blocks:
        raise TailorError(f"the model has no skip to {'shorten' if mode == 'shorten' else 'remove'}"
                          + (" (shortening needs two convs on a residual's main branch)"
                             if mode == "shorten" and model.blocks else ""))
    action = "shorten" if mode == "shorten" else "remove"
    return [Change(0 if mode == "remove-all" else k * every, i, action) for k, i in enumerate(blocks)]


def schedule_epochs(schedule, cfg):
    """Total epochs of a run: ``every + finetune`` after the last change (``remove-all`` trains
    as long as ``remove`` would)."""
    return len(schedule) * cfg.every + cfg.finetune


def apply_change(model, change):
    block = model.blocks[change.block]
    if change.action == "shorten":
        block.shorten()
    else:
        block.remove_skips()


def kd_loss(student, teacher, labels, alpha=0.35, kd="mse", temperature=4.0):
    ce = F.cross_entropy(student, labels)
    if kd == "mse":
        match = F.mse_loss(student, teacher)
    else:
        t = temperature
        match = F.kl_div(F.log_softmax(student / t, 1), F.log_softmax(teacher / t, 1),
                         reduction="batchmean", log_target=True) * t * t
    return alpha * match + (1 - alpha) * ce


def tailor_optimize(teacher, data, cfg, progress=True, checkpoint=None, resume=None,
                    teacher_config=None):
    """Distil ``teacher`` into a student whose skips change as ``cfg.mode`` says.

    ``checkpoint``: path written after every epoch (it embeds the teacher, so the run can be
    resumed with ``resume`` and exported later); ``teacher_config``: the teacher's training
    config, recorded so the data set can be found again. Returns ``(student, metrics)`` with
    ``metrics = {"config", "teacher_test_acc", "history", "stages", "test_acc",
    "integer_test_acc"}``; ``stages`` lists each skip state the student went through with the
    fake-quantized test accuracy at its end.
    """
    cfg.check()
    start, opt_state, history = 0, None, []
    if resume is not None:
        ckpt = load_checkpoint(resume, kind="optimize")
        cfg = DistillConfig(**ckpt["config"]).check()
        teacher = model_from_record(ckpt["teacher"])
        student = model_from_record(ckpt["model"])
        teacher_config = ckpt["teacher_config"]
        start, opt_state, history = ckpt["epoch"], ckpt["optimizer"], ckpt["metrics"]["history"]
    else:
        student = copy.deepcopy(teacher)
    teacher.eval()
    schedule = skip_schedule(teacher, cfg.mode, cfg.every)
    epochs = schedule_epochs(schedule, cfg)
    teacher_acc = evaluate(teacher, data, integer=False)

    def on_epoch_start(epoch):
        for change in schedule:
            if change.epoch == epoch:
                apply_change(student, change)

    def loss_fn(student_logits, labels, images):
        with torch.no_grad():
            t = teacher(images)
        return kd_loss(student_logits, t, labels, cfg.alpha, cfg.kd, cfg.temperature)

    state = {"epoch": start, "optimizer": opt_state}

    def metrics():
        stages = []
        for rec in history:
            if not stages or stages[-1]["skips"] != rec["skips"]:
                stages.append({"skips": rec["skips"], "first_epoch": rec["epoch"]})
            stages[-1].update(last_epoch=rec["epoch"], test_acc=rec["test_acc"])
        return {"config": asdict(cfg), "teacher_test_acc": teacher_acc, "history": list(history),
                "stages": stages, "test_acc": history[-1]["test_acc"] if history else None}

    def write(result):
        if checkpoint is not None:
            save_checkpoint(checkpoint, {"kind": "optimize", "model": model_record(student),
                                         "teacher": model_record(teacher),
                                         "teacher_config": teacher_config, "config": asdict(cfg),
                                         **state, "metrics": result})

    def end_of_epoch(epoch, record, opt):
        history.append(record)
        state.update(epoch=epoch + 1, optimizer=opt.state_dict())
        write(metrics())

    fit(student, data, epochs, cfg.lr, cfg.batch_size, cfg.seed, loss_fn, start, opt_state,
        on_epoch_start, end_of_epoch, progress, desc=f"optimize ({cfg.mode})")
    result = metrics()
    result["test_acc"] = evaluate(student, data, integer=False)
    result["integer_test_acc"] = evaluate(student, data, integer=True)
    write(result)
    return student, result
