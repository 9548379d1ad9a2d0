"""Training a chosen point's network from scratch with the distillation loss, once per repeat.

A chosen point is trained from scratch, as differentiable NAS retrains its chosen cell (DARTS):
the supernet's shared weights were trained for the mixture of options, not for the chosen
network (fine-tuning from them was no better: ``docs/DECISIONS.md``).

A point's accuracy is the mean over ``repeats`` trainings of its network, alike in all but the
seed (:func:`train_repeats`); the first is the one exported and measured. One training is a
noisy measure of an architecture, noisier than the gaps between the fronts being compared
(``docs/DECISIONS.md``). The repeats measure the point after it has been chosen, so they are
outside the search budget, and both searches' points are measured the same way.
"""


def distill_loss(teacher, alpha):
    """``loss_fn(student logits, labels, images)`` for :func:`nn.train.fit`: nn.distill's."""
    import torch

    from nn.distill import kd_loss

    def loss_fn(student_logits, labels, images):
        with torch.no_grad():
            t = teacher(images)
        return kd_loss(student_logits, t, labels, alpha)
    return loss_fn


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
