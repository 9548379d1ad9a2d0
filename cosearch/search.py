"""The co-search: a λ sweep of the supernet against the frozen learned cost, each chosen point
retrained from scratch, exported and measured with the real flow; and random search at equal
budget (:func:`run_search`).

First a shared warm-up (:func:`cosearch.supernet_training.warm_up_supernet`). Then for each λ
(:func:`cosearch.search_jobs.cosearch_job`, the λs run in parallel on
:func:`cosearch.executor.executor`), from the warm-up:

1. search (:func:`cosearch.supernet_training.train_supernet`): the architecture logits and the
   weights trained against the distillation loss plus λ times the normalised predicted cost;
2. discretise (:func:`cosearch.point_selection.select_point`): from the argmax architecture,
   every decision checked by the loss its options really cause;
3. build it (:meth:`Space.build_model`) and train it from scratch ``retrain`` epochs with the
   same distillation loss (:func:`cosearch.point_training.train_repeats`);
4. export and measure it (:func:`cosearch.point_measurement.measure_point`). Accuracy is the
   exported integer network's (:func:`nn.train.evaluate`), the mean over ``repeats`` trainings.

Random search (:func:`cosearch.search_jobs.random_job`) spends the same budget: as many measured
designs as λs (unless told otherwise) and the same total training epochs ``len(λ)·(epochs +
retrain)``, split evenly over its points. Its architectures are drawn uniformly; their
parallelism comes from the same hardware-generation net as the co-search's, so the two differ
only in how the architecture is chosen. Each is trained from scratch with the distillation loss
and measured the same way.

The baseline is the teacher itself (:mod:`cosearch.teacher`), with the parallelism the
hardware-generation net gives that architecture, measured the same way.

The results object (:func:`cosearch.search_results.summarise`) compares the fronts over (test
error, LUT+FF) by hypervolume (:mod:`cosearch.fronts`); over several seeds,
:mod:`cosearch.search_comparison` fits the accuracy gap at equal cost and models front
dominance. The measurements behind the defaults and the method's choices are in
``docs/DECISIONS.md``.
"""

from pathlib import Path

from common.errors import TailorError

from .executor import executor
from .search_config import warmup_epochs
from .search_jobs import baseline_job, cosearch_job, random_job, warmup_job
from .search_results import summarise


def run_search(space, ev_path, teacher, data_name, lambdas, cfg, n_random=None, jobs=1,
               dask=None, outdir="cosearch-out", log=print):
    """The sweep, random search at equal budget and the baseline; returns the results object
    (see :func:`cosearch.search_results.summarise`). ``ev_path``: the saved evaluator (each
    worker loads it); ``teacher``: the trained :class:`nn.models.ResNet` (the baseline's family
    and space's data); ``log``: progress lines."""
    from nn.checkpoint import model_record

    cfg.check()
    if not lambdas:
        raise TailorError("give at least one λ (--lambdas)")
    if any(lam < 0 for lam in lambdas):
        raise TailorError(f"λ must be >= 0 (got {', '.join(f'{v:g}' for v in lambdas)})")
    n_random = len(lambdas) if n_random is None else n_random
    budget = len(lambdas) * (cfg.epochs + cfg.retrain)
    random_epochs = budget // n_random if n_random else 0
    space_obj = space.to_json_obj()
    record = model_record(teacher)
    outdir = Path(outdir)
    args = (space_obj, str(ev_path), record, data_name)
    rows = []
    warm_epochs = warmup_epochs(cfg, len(lambdas))
    with executor(jobs, dask) as (submit, completed):
        # the warm-up first, so that it starts at once; the baseline and random search run
        # beside it, the λs need it
        warming = submit(warmup_job, *args, warm_epochs, cfg) if warm_epochs else None
        futures = [submit(baseline_job, *args, cfg, str(outdir))]
        archs = space.sample_distinct(n_random, cfg.seed + 1, without=("par",))
        futures += [submit(random_job, *args, p, i, random_epochs, cfg, str(outdir))
                    for i, p in enumerate(archs)]
        log(f"cosearch: {len(lambdas)} λ after a shared warm-up of {warm_epochs} epochs, "
            f"{n_random} random points ({random_epochs} epochs each), "
            f"{len(futures) + len(lambdas)} designs to measure")
        warm = warming.result() if warming is not None else None
        futures += [submit(cosearch_job, *args, lam, cfg, warm, str(outdir)) for lam in lambdas]
        for future in completed(futures):
            row = future.result()
            rows.append(row)
            log(f"  [{len(rows)}/{len(futures)}] {describe(row)}")
    results = summarise(space, rows, cfg, lambdas, budget)
    results["warmup"] = {"epochs": warm_epochs, "history": warm.history if warm else []}
    return results


def describe(row):
    what = {"cosearch": f"λ={row.get('lam', 0):g}", "random": f"random #{row.get('index')}",
            "baseline": "baseline"}[row["kind"]]
    if row["status"] != "ok":
        return f"{what}: acc {row['accuracy']:.3f}, measurement failed: {row['error']}"
    m = row["measured"]
    return (f"{what}: acc {row['accuracy']:.3f}, LUT {m['LUT']}, FF {m['FF']}, BRAM {m['BRAM']}, "
            f"cycles {m['cycles']} (predicted LUT {row['predicted']['LUT']:.0f}, "
            f"FF {row['predicted']['FF']:.0f})")
