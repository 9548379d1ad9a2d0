"""Co-search on digits vs random search at equal budget, three seeds: hypervolume of each front
(test error, LUT+FF, measured by Yosys), the table of chosen points, and whether a point lies
within 1 accuracy point of the all-skips baseline with ≥ 30% fewer LUT+FF or BRAM. Over the
seeds, the fronts are compared per seed and as attainment surfaces (the median front and its
best and worst cases), and every measured point counts in the co-search's accuracy gap over
random search at equal LUT+FF (:func:`cosearch.search_comparison.accuracy_gap_at_equal_cost`);
a model at the fit's noise says how often a front with that gap dominates random search's, and
what gap it would take (:func:`cosearch.search_comparison.dominance_chance`).

Per seed: the teacher (= the baseline: all skips, widest widths, 8-bit) trained from scratch,
then :func:`cosearch.search.run_search` (one supernet per λ, each chosen point retrained from
scratch and measured; random search with as many measured designs and the same training epochs; the
baseline measured the same way). A point's accuracy is the mean of ``--repeats`` trainings of
its network (3; the baseline, the teacher, is trained once). Every figure but the ``pred``
columns is measured.

Prints figures; not a test. Run: ``.venv/bin/python bench/bench_cosearch.py --evaluator EVAL.pt
[--out DIR] [--jobs 2] [--markdown]`` (EVAL.pt: ``tailor evaluator train`` on
``cosearch/data/digits-ecp5.jsonl``).
"""

import argparse
import math
import statistics
import time
from pathlib import Path

import torch

from cosearch import fronts, search, search_comparison, search_config, search_report
from cosearch.search_cli import parse_lambdas
from cosearch.space import load_space
from cosearch.teacher import load_teacher
from nn.data import load_dataset
from common.table import format_table

SPACE = "cosearch/spaces/digits.json"
SEEDS = (0, 1, 2)
TEACHER_EPOCHS = 30
REPEATS = 3  # one training is too noisy a measure to compare fronts by (docs/DECISIONS.md)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluator", required=True, metavar="EVAL.pt")
    parser.add_argument("--out", default="cosearch-bench", metavar="DIR",
                        help="per-seed reports, netdescs and hardware configs")
    parser.add_argument("--epochs", type=int, default=search_config.SearchConfig.epochs,
                        help="supernet epochs per λ")
    parser.add_argument("--retrain", type=int, default=search_config.SearchConfig.retrain,
                        help="retrain epochs per chosen point")
    parser.add_argument("--warmup", type=float, default=search_config.SearchConfig.warmup,
                        help="share of the supernet epochs spent on the shared warm-up")
    parser.add_argument("--repeats", type=int, default=REPEATS,
                        help="trainings of each measured point, its accuracy their mean")
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--lambdas", default=",".join(f"{v:g}" for v in search_config.LAMBDAS),
                        type=parse_lambdas)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--markdown", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(1)  # the machine's cores are shared
    space = load_space(SPACE)
    data = load_dataset(space.data)
    lambdas = args.lambdas
    start = time.time()
    runs = []
    for seed in map(int, args.seeds.split(",")):
        cfg = search_config.SearchConfig(epochs=args.epochs, retrain=args.retrain,
                                         warmup=args.warmup, repeats=args.repeats, seed=seed)
        teacher = load_teacher(None, space, data, TEACHER_EPOCHS, seed)
        outdir = Path(args.out) / f"seed{seed}"
        results = search.run_search(space, args.evaluator, teacher, space.data, lambdas,
                                    cfg, jobs=args.jobs, outdir=outdir)
        search_report.write_report(results, outdir)
        runs.append((seed, results))
        print(f"\nseed {seed} ({time.time() - start:.0f} s)")
        print(search_report.table(results, markdown=args.markdown))
        for line in search_report.summary_lines(results):
            print(line)

    hv = {k: [r["hypervolume"][k] for _, r in runs] for k in ("cosearch", "random")}
    print(f"\ndigits co-search vs random search, λ {', '.join(f'{v:g}' for v in lambdas)}; "
          f"{args.epochs} supernet + {args.retrain} retrain epochs per λ, accuracy the mean "
          f"of {args.repeats} trainings per point, seeds "
          f"{[s for s, _ in runs]}; hypervolume of (test error, LUT+FF) per seed's reference "
          f"(baseline error + {fronts.ERROR_MARGIN}, {fronts.COST_MARGIN} × baseline LUT+FF)\n")
    rows = [[k, f"{statistics.mean(v):.4f}", " / ".join(f"{x:.4f}" for x in v)]
            for k, v in hv.items()]
    print(format_table(["search", "hypervolume mean", "per seed"], rows,
                       markdown=args.markdown, align="lrr"))
    wins = sum(c > r for c, r in zip(hv["cosearch"], hv["random"]))
    print(f"\nco-search hypervolume above random search's in {wins} of {len(runs)} seeds")
    all_results = [r for _, r in runs]
    gap = search_comparison.accuracy_gap_at_equal_cost(all_results)
    if gap is not None:
        print(f"accuracy at equal LUT+FF: co-search {100 * gap.gap:+.2f} ± "
              f"{100 * gap.stderr:.2f} points against random search (a least-squares model "
              f"over the {gap.points} measured points of both: an intercept per seed, "
              f"{100 * gap.slope:.2f} points per unit of ln LUT+FF)")
        chance = search_comparison.dominance_chance(all_results, gap, [gap.gap])[0]
        needed = search_comparison.gaps_for_dominance(all_results, gap, (0.5, 0.9))
        print(f"front dominance at this noise (a model: {search_comparison.DOMINANCE_TRIALS} "
              f"seeds drawn at the measured LUT+FF, each accuracy the fit's trend plus a normal "
              f"residual of its search's spread, random search "
              f"{100 * gap.spread['random']:.2f} and co-search "
              f"{100 * gap.spread['cosearch']:.2f} points): {chance:.0%} of seeds "
              f"at the fitted gap; " + ", ".join(
                  f"{c:.0%} " + (f"at a gap of {100 * g:+.2f} points" if g is not None else
                                 f"not within {100 * search_comparison.GAP_MOST:+.0f} points")
                  for c, g in needed.items()))
    n_test = len(data.y_test)
    acc = statistics.mean(r["baseline"]["accuracy"] for _, r in runs)
    print(f"test accuracy resolution: one image is {100 / n_test:.2f} points of {n_test}; the "
          f"binomial standard error at the baseline's {acc:.1%} is "
          f"{100 * math.sqrt(acc * (1 - acc) / n_test):.2f} points")
    dominating = sum(not r["random_undominated"] for _, r in runs)
    print(f"co-search front dominates random search's (every random point matched or beaten in "
          f"both error and LUT+FF) in {dominating} of {len(runs)} seeds")
    print_attainment(runs, args.markdown)
    for seed, r in runs:
        print(f"seed {seed}: target points (within 1 accuracy point of the baseline, >= 30% "
              f"fewer LUT+FF or BRAM, measured): {search_report.target_text(r)}")
    print(f"\nruntime {time.time() - start:.0f} s")


def print_attainment(runs, markdown):
    """The seeds' fronts summarised as attainment surfaces (the goals reached by at least k
    seeds), co-search's against random search's for each k."""
    n = len(runs)
    names = {1: "best", n: "worst"}
    if n % 2:
        names.setdefault((n + 1) // 2, "median")
    rows = []
    for k in range(1, n + 1):
        surface = {kind: fronts.attainment_surface([r["front"][kind] for _, r in runs], k)
                   for kind in ("cosearch", "random")}
        covers = all(fronts.dominated(p, surface["cosearch"]) for p in surface["random"])
        rows.append([f"{k} ({names[k]})" if k in names else str(k)]
                    + ["; ".join(f"{100 * (1 - e):.2f}% {c:,}" for e, c in surface[kind])
                       for kind in ("cosearch", "random")]
                    + ["yes" if covers else "no"])
    print(f"\nattainment surfaces (accuracy, LUT+FF) reached by at least k of the {n} seeds' "
          f"fronts; the last column: every point of random search's surface matched or "
          f"beaten in both by co-search's")
    print(format_table(["k", "co-search", "random search", "co-search dominates"], rows,
                       markdown=markdown, align="llll"))


if __name__ == "__main__":
    main()
