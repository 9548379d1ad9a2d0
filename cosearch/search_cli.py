"""``tailor cosearch``: the differentiable co-search of a design space against the learned cost
model, with random search at equal budget (see :mod:`cosearch.search`)."""

import argparse
import math

from common.argtypes import non_negative, output_dir, positive, seed
from common.errors import TailorError

from .search_config import LAMBDAS, SearchConfig


def register(sub):
    p = sub.add_parser("cosearch", help="co-search network and accelerator by gradient descent",
                       description="Train a supernet over SPACE for each λ (loss: distillation "
                                   "from the teacher + λ · the evaluator's hardware cost), take "
                                   "each λ's chosen point, retrain, export and measure it with "
                                   "Yosys and the RTL simulation; compare with random search at "
                                   "the same budget. Writes report.md, results.json, plots and "
                                   "every point's netdesc + hardware config into --out.")
    p.add_argument("space", metavar="SPACE", help="design space file (JSON)")
    p.add_argument("--evaluator", required=True, metavar="EVAL.pt",
                   help="trained cost evaluator (tailor evaluator train)")
    p.add_argument("--data", default=None, choices=("digits",),
                   help="data set (default: the space's)")
    p.add_argument("--teacher", metavar="CKPT", default=None,
                   help="teacher checkpoint (default: train the space's family, all skips, 8-bit)")
    p.add_argument("--teacher-epochs", type=positive, default=30, metavar="E",
                   help="epochs of the teacher trained when --teacher is not given (default 30)")
    default_lambdas = ",".join(f"{v:g}" for v in LAMBDAS)
    p.add_argument("--lambdas", default=default_lambdas, metavar="L1,L2,...", type=parse_lambdas,
                   help=f"cost weights of the sweep (default {default_lambdas})")
    p.add_argument("--epochs", type=positive, default=SearchConfig.epochs, metavar="E",
                   help=f"supernet epochs per λ, {100 * SearchConfig.warmup:.0f}%% of them "
                        f"pooled into one shared warm-up (default {SearchConfig.epochs})")
    p.add_argument("--retrain", type=non_negative, default=SearchConfig.retrain, metavar="R",
                   help=f"epochs each chosen point is trained from scratch "
                        f"(default {SearchConfig.retrain})")
    p.add_argument("--repeats", type=positive, default=SearchConfig.repeats, metavar="N",
                   help=f"trainings of each measured point, its accuracy their mean "
                        f"(default {SearchConfig.repeats})")
    p.add_argument("--random", type=positive, default=None, metavar="N",
                   help="random-search points (default: as many as λs); they share the same "
                        "total training epochs")
    p.add_argument("--jobs", type=positive, default=1, help="local worker processes (default 1)")
    p.add_argument("--dask", metavar="ADDRESS", default=None,
                   help="run on this Dask scheduler instead of locally")
    p.add_argument("--seed", type=seed, default=0, help="seed (default 0)")
    p.add_argument("--out", required=True, metavar="DIR", type=output_dir, help="output folder")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=cmd_cosearch)


def parse_lambdas(text):
    """The λ sweep: one or more finite numbers >= 0, comma-separated."""
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a comma-separated list of "
                                         f"numbers") from None
    if not values or any(not math.isfinite(v) or v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"give one or more finite numbers >= 0 (got '{text}')")
    return values


def cmd_cosearch(args):
    import json
    from pathlib import Path

    import torch

    from nn.data import load_dataset

    from . import search_report
    from .evaluator import load_evaluator
    from .search import run_search
    from .search_results import plain
    from .space import load_space
    from .teacher import load_teacher

    torch.set_num_threads(1)
    space = load_space(args.space)
    data_name = args.data or space.data
    if data_name != space.data:
        raise TailorError(f"--data {data_name}: the space '{space.name}' is over '{space.data}'")
    cfg = SearchConfig(epochs=args.epochs, retrain=args.retrain,
                       repeats=args.repeats, seed=args.seed).check()
    ev = load_evaluator(args.evaluator)
    if ev.space.to_json_obj() != space.to_json_obj():
        raise TailorError(f"{args.evaluator}: the evaluator was trained on space "
                          f"'{ev.space.name}', not on {args.space}")
    data = load_dataset(data_name)
    teacher = load_teacher(args.teacher, space, data, args.teacher_epochs, args.seed)
    results = run_search(space, args.evaluator, teacher, data_name, args.lambdas, cfg,
                         args.random, args.jobs, args.dask, args.out)
    search_report.write_report(results, args.out)
    if args.json:
        print(json.dumps(results, default=plain, sort_keys=True))
        return
    print(search_report.table(results))
    for line in search_report.summary_lines(results):
        print(line)
    print(f"report: {Path(args.out) / 'report.md'}")
