"""Tailor on the digits data set: test accuracy (integer, 8-bit) of the baseline with skips, the
SkipRemover and SkipShortener students, removing all skips at once, and training without skips
from scratch; mean and standard deviation over three seeds.

Prints a table; not a test. Run: ``.venv/bin/python bench/bench_tailor_digits.py [--markdown]``.
"""

import argparse
import statistics
import time

import torch

import netdesc
from nn.distill import DistillConfig, tailor_optimize
from nn.export import to_netdesc
from nn.train import TrainConfig, load_data, train_teacher
from common.table import format_table

SEEDS = (0, 1, 2)
TEACHER_EPOCHS = 30
EVERY, FINETUNE = 5, 5  # three skips: changes at epochs 0, 5, 10; 20 student epochs in all


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the machine's two cores are shared
    data = load_data(TrainConfig())
    rows = {k: [] for k in ("baseline with skips", "removed (Tailor)", "shortened (Tailor)",
                            "removed all at once", "no skips, from scratch")}
    adds = {}
    start = time.time()
    for seed in SEEDS:
        teacher, m = train_teacher(TrainConfig(epochs=TEACHER_EPOCHS, seed=seed), data, progress=False)
        runs = {"baseline with skips": (teacher, m)}
        for name, mode in (("removed (Tailor)", "remove"), ("shortened (Tailor)", "shorten"),
                           ("removed all at once", "remove-all")):
            runs[name] = tailor_optimize(teacher, data, DistillConfig(mode=mode, every=EVERY,
                                         finetune=FINETUNE, seed=seed), progress=False)
        runs["no skips, from scratch"] = train_teacher(
            TrainConfig(epochs=TEACHER_EPOCHS, seed=seed, skips=False), data, progress=False)
        for name, (model, metrics) in runs.items():
            rows[name].append(100 * metrics["integer_test_acc"])
            adds[name] = len(netdesc.skips(to_netdesc(model)))
        print(f"seed {seed} done after {time.time() - start:.0f} s", flush=True)

    base = statistics.mean(rows["baseline with skips"])
    table = [[name, f"{statistics.mean(v):.2f} ± {statistics.stdev(v):.2f}",
              f"{statistics.mean(v) - base:+.2f}", " / ".join(f"{a:.2f}" for a in v), adds[name]]
             for name, v in rows.items()]
    print(f"\ndigits ({len(data.x_train)} train / {len(data.x_test)} test images), digits-small "
          f"ResNet, 8-bit weights and activations, integer-model test accuracy (%), seeds {SEEDS}; "
          f"teacher {TEACHER_EPOCHS} epochs, students {3 * EVERY + FINETUNE} epochs "
          f"(a change every {EVERY})\n")
    print(format_table(["network", "accuracy mean ± std", "vs baseline", "per seed", "add layers"],
                       table, markdown=args.markdown, align="lrrrr"))
    print(f"\nruntime {time.time() - start:.0f} s")


if __name__ == "__main__":
    main()
