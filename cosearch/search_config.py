"""The co-search's settings: :class:`SearchConfig` (epochs, learning rates, temperatures, the
sizes of selection and measurement, the seed), the default λ sweep :data:`LAMBDAS`, and how each
λ's supernet epochs divide between the shared warm-up and its own search
(:func:`warmup_epochs`, :func:`search_epochs`).

The defaults were chosen with ``bench/bench_cosearch.py``; the measurements behind them are in
``docs/DECISIONS.md``.
"""

from dataclasses import dataclass

from common.errors import TailorError

LAMBDAS = (0.1, 0.3, 1.0, 3.0)  # the default sweep; a denser one did no better (docs/DECISIONS.md)


@dataclass
class SearchConfig:
    # Per λ, few supernet epochs (most of them pooled into the shared warm-up) and many of
    # retraining: the retraining decides a point's accuracy more than the search does
    # (docs/DECISIONS.md, "supernet and retraining epochs").
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


def warmup_epochs(cfg, n_lambdas):
    """Epochs of the shared warm-up: each λ's share (``warmup`` of its ``epochs``) pooled, so
    the budget is that of ``n_lambdas`` supernets warmed up separately."""
    return int(round(cfg.warmup * cfg.epochs)) * n_lambdas


def search_epochs(cfg):
    """Epochs each λ searches after the shared warm-up: the rest of its ``epochs``."""
    return cfg.epochs - warmup_epochs(cfg, 1)
