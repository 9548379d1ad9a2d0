"""The co-search's jobs, run on :func:`cosearch.executor.executor`. Their arguments and results
travel between processes, so each job takes the space as its JSON object, the evaluator's path,
the teacher's record and the data set's name, and loads them itself (:func:`_context`); each
returns its point's row (:func:`cosearch.point_measurement.measure_point`).
"""

import time

from .point_measurement import measure_point
from .point_selection import select_point
from .point_training import train_repeats
from .search_points import baseline_arch, with_hw
from .supernet_training import train_supernet, warm_up_supernet


def _context(space_obj, ev_path, teacher_record, data_name):
    import torch

    from nn.checkpoint import model_from_record
    from nn.data import load_dataset

    from .evaluator import load_evaluator
    from .space import parse_space

    torch.set_num_threads(1)
    space = parse_space(space_obj, source=f"<space {space_obj.get('name')}>")
    ev = load_evaluator(ev_path)
    teacher = model_from_record(teacher_record)
    teacher.eval()
    return space, ev, teacher, load_dataset(data_name)


def warmup_job(space_obj, ev_path, teacher_record, data_name, epochs, cfg):
    """The shared warm-up (:func:`cosearch.supernet_training.warm_up_supernet`)."""
    space, _, teacher, data = _context(space_obj, ev_path, teacher_record, data_name)
    return warm_up_supernet(space, teacher, data, epochs, cfg)


def cosearch_job(space_obj, ev_path, teacher_record, data_name, lam, cfg, warm, outdir):
    """One λ of the sweep (steps 1–4 of :mod:`cosearch.search`) from the shared warm-up ``warm``
    (``None``: none); returns its row."""
    start = time.monotonic()
    space, ev, teacher, data = _context(space_obj, ev_path, teacher_record, data_name)
    supernet, judge, history = train_supernet(space, ev, teacher, data, lam, cfg, warm)
    argmax = supernet.point()
    arch, changed = select_point(space, ev, judge, argmax, teacher, data, lam, cfg)
    point = with_hw(space, ev, arch)
    model, accuracies = train_repeats(space, point, teacher, data, cfg.retrain, cfg)
    row = measure_point(space, ev, point, model, accuracies, data, cfg, outdir,
                        f"cosearch-lambda{lam:g}")
    row.update(kind="cosearch", lam=lam, history=history, argmax=argmax,
               changed_by_selection=changed, epochs=cfg.epochs + cfg.retrain,
               total_seconds=round(time.monotonic() - start, 1))
    return row


def random_job(space_obj, ev_path, teacher_record, data_name, arch, index, epochs, cfg, outdir):
    """One random-search point: architecture ``arch`` with the hardware-generation net's
    parallelism, trained ``epochs`` epochs from scratch, measured; its row."""
    start = time.monotonic()
    space, ev, teacher, data = _context(space_obj, ev_path, teacher_record, data_name)
    point = with_hw(space, ev, arch)
    model, accuracies = train_repeats(space, point, teacher, data, epochs, cfg)
    row = measure_point(space, ev, point, model, accuracies, data, cfg, outdir, f"random-{index}")
    row.update(kind="random", index=index, epochs=epochs,
               total_seconds=round(time.monotonic() - start, 1))
    return row


def baseline_job(space_obj, ev_path, teacher_record, data_name, cfg, outdir):
    """The all-skips baseline (the teacher) measured like every other point, with the
    teacher's one accuracy (it is given, not trained here)."""
    from nn.train import evaluate

    space, ev, teacher, data = _context(space_obj, ev_path, teacher_record, data_name)
    point = with_hw(space, ev, baseline_arch(space))
    row = measure_point(space, ev, point, teacher, [evaluate(teacher, data, integer=True)], data,
                        cfg, outdir, "baseline")
    row.update(kind="baseline")
    return row
