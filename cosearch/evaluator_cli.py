"""``tailor evaluator train|eval``: the learned, differentiable cost evaluator (see
:mod:`cosearch.evaluator`) and its held-out report next to the baselines."""

import json

from common.argtypes import non_negative, output_dir, output_file, positive, seed
from common.errors import TailorError


def register(sub):
    p = sub.add_parser("evaluator", help="train / evaluate the learned hardware-cost evaluator",
                       description="Train the DANCE-style cost evaluator on cost data (rows whose "
                                   "index % 2 == 0 are held out) or evaluate a trained one; both "
                                   "print MAPE, BRAM within ±1 and Kendall τ on the held-out "
                                   "designs next to the count-model and gradient-boosting "
                                   "baselines.")
    cmds = p.add_subparsers(dest="evaluator_command", metavar="ACTION", required=True)
    t = cmds.add_parser("train", help="train an evaluator on cost data",
                        description="Train the cost and hardware-generation networks for SPACE "
                                    "on DATA.jsonl and save them to --out.")
    t.add_argument("data", metavar="DATA.jsonl", help="cost-data file (tailor costdata)")
    t.add_argument("--space", required=True, metavar="SPACE", help="design space file (JSON)")
    t.add_argument("--out", required=True, metavar="EVAL.pt", type=output_file, help="where to save the evaluator")
    t.add_argument("--report", metavar="DIR", default=None, type=output_dir,
                   help="also write report.md, metrics.json and scatter.png here")
    t.add_argument("--seed", type=seed, default=0, help="training seed (default 0)")
    t.add_argument("--epochs", type=positive, default=3000, help="cost-network epochs (default 3000)")
    t.add_argument("--hw-steps", type=non_negative, default=800,
                   help="hardware-network training steps (default 800)")
    t.add_argument("--json", action="store_true", help="print the metrics as JSON")
    t.set_defaults(func=cmd_train)
    e = cmds.add_parser("eval", help="evaluate a trained evaluator on cost data",
                        description="Score EVAL.pt on the held-out rows of DATA.jsonl next to "
                                    "both baselines (fitted on the other rows).")
    e.add_argument("evaluator", metavar="EVAL.pt", help="a trained evaluator")
    e.add_argument("data", metavar="DATA.jsonl", help="cost-data file")
    e.add_argument("--report", metavar="DIR", default=None, type=output_dir,
                   help="write report.md, metrics.json and scatter.png here")
    e.add_argument("--json", action="store_true", help="print the metrics as JSON")
    e.set_defaults(func=cmd_eval)


def _read(path):
    from pathlib import Path

    from .costdata import read_rows
    if not Path(path).exists():  # read_rows takes a missing file as one without rows
        raise TailorError(f"{path}: file not found")
    rows = read_rows(path)
    if not rows:
        raise TailorError(f"{path}: no rows (an empty cost-data file)")
    return rows


def _finish(ev, rows, args, info):
    from .cost_data_split import HELD_OUT_RULE, held_out
    from .evaluator_report import evaluate, format_result, hwgen_text, write_report
    if args.evaluator_command == "train" and not any(
            held_out(r) and r["status"] == "ok" for r in rows):
        print(f"{args.data}: no held-out designs (measured rows with {HELD_OUT_RULE}): "
              f"nothing to score")
        return
    result = evaluate(ev, rows, where=args.data)
    if args.report:
        write_report(result, args.report, info)
    if args.json:
        out = {k: v for k, v in result.items() if k not in ("predictions", "measured", "keys")}
        out["training"] = info
        print(json.dumps(out, indent=1, sort_keys=True))
    else:
        print(format_result(result))
        if info and "hwgen" in info:
            print(f"hardware network on {hwgen_text(info['hwgen'])}")


def cmd_train(args):
    import torch

    from .evaluator_training import train_evaluator
    from .space import load_space
    torch.set_num_threads(1)
    space = load_space(args.space)
    rows = _read(args.data)
    ev, info = train_evaluator(space, rows, seed=args.seed, epochs=args.epochs,
                               hw_steps=args.hw_steps, where=args.data)
    ev.save(args.out)
    if not args.json:
        print(f"{args.out}: evaluator for space '{space.name}' trained on {info['train']} designs "
              f"({info['validation']} for early stopping, {info['failed']} failed rows excluded)")
    _finish(ev, rows, args, info)


def cmd_eval(args):
    from .evaluator import load_evaluator
    ev = load_evaluator(args.evaluator)
    rows = _read(args.data)
    _finish(ev, rows, args, ev.info)
