"""The learned cost evaluator on the committed digits cost data (no synthesis): held-out MAPE
for LUT, FF, BRAM, DSP and cycles, BRAM within ±1 block and Kendall τ, next to the analytic
count model and the gradient-boosting baseline, and the issue's targets (MAPE <= 5% for LUT
and FF, BRAM within ±1 on >= 95% of designs, τ >= 0.9). Also how the hardware-generation
network compares with the exact per-layer optimum for its cycles budget.

Held out: every other sampled design (``cosearch.evaluator.held_out``, never trained on); failed rows are excluded and
counted. Measured numbers are Yosys (LUT, FF, BRAM, DSP) and the exact timing model (cycles);
all three predictors are models.

Prints figures; not a test. Run: ``.venv/bin/python bench/bench_evaluator.py
[--data cosearch/data/digits-ecp5.jsonl] [--report DIR] [--markdown]``.
"""

import argparse
import time

import torch

from cosearch.costdata import read_rows
from cosearch.evaluator import train_evaluator
from cosearch.evaluator_report import (evaluate, format_result, hwgen_text, meets_targets,
                                       write_report)
from cosearch.space import load_space

SPACE = "cosearch/spaces/digits.json"
DATA = "cosearch/data/digits-ecp5.jsonl"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=DATA, metavar="DATA.jsonl")
    parser.add_argument("--space", default=SPACE, metavar="SPACE")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--report", default=None, metavar="DIR",
                        help="also write report.md, metrics.json, scatter.png")
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)

    space = load_space(args.space)
    rows = read_rows(args.data)
    start = time.monotonic()
    ev, info = train_evaluator(space, rows, seed=args.seed, where=args.data)
    result = evaluate(ev, rows, where=args.data, seed=args.seed)
    print(f"{args.data}: {len(rows)} rows; trained in {time.monotonic() - start:.0f} s on "
          f"{info['train']} designs ({info['validation']} more for early stopping)")
    print(format_result(result, markdown=args.markdown))
    print()
    for name, scores in result["models"].items():
        checks = meets_targets(scores)
        print(f"targets, {name}: " + ", ".join(f"{k} {'met' if v else 'NOT met'}"
                                               for k, v in checks.items()))
    if result["held_out"] < 100:
        print(f"note: {result['held_out']} held-out designs; the issue asks for at least 100")
    print(f"\nhardware network on {hwgen_text(info['hwgen'])}")
    if args.report:
        write_report(result, args.report, info)
        print(f"report: {args.report}/report.md")


if __name__ == "__main__":
    main()
