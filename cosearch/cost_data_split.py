"""Which cost-data rows train the evaluator, stop its training early and test it: a fixed split
by a design's index, so that the evaluator and its baselines see the same held-out designs; and
the rows' encodings and measured metrics as arrays.
"""

import numpy as np

from common.errors import TailorError

from .cost_metrics import METRICS
from .costdata import design_rows


HOLD_OUT_EVERY = 2  # every other sampled design is held out: >= 100 of them from 200 rows on
HELD_OUT_RULE = f"index % {HOLD_OUT_EVERY} == 0"


def held_out(row):
    """The fixed split: rows whose ``index % HOLD_OUT_EVERY == 0`` are held out (never trained
    on)."""
    return row["index"] % HOLD_OUT_EVERY == 0


def split_rows(space, rows, where="<data>"):
    """``(train, validation, test, failed count)`` of cost-data rows for ``space``, one row
    per design (replicates merged into their mean, :func:`cosearch.costdata.design_rows`).

    Test: :func:`held_out`; validation (early stopping): of the rest, those with
    ``(index // HOLD_OUT_EVERY) % 5 == 0`` (about a fifth); failed rows are excluded and counted.
    Raises a one-line error naming ``where`` for rows of another space or target.
    """
    ok, failed = [], 0
    for n, row in enumerate(rows, start=1):
        if row.get("target") != space.target:
            raise TailorError(f"{where}: row {n} is for target {row.get('target')!r}, the space "
                              f"'{space.name}' for {space.target!r}")
        point = row.get("point")
        try:
            space.check_point(point, where=f"{where}: row {n}")
        except TailorError as e:
            raise TailorError(f"{e} (rows of another space?)") from None
        if row.get("status") != "ok":
            failed += 1
            continue
        ok.append(row)
    if not ok:
        raise TailorError(f"{where}: no measured designs (rows with status 'ok'): nothing to "
                          f"train or evaluate on")
    ok = design_rows(ok)
    test = [r for r in ok if held_out(r)]
    rest = [r for r in ok if not held_out(r)]
    val = [r for r in rest if (r["index"] // HOLD_OUT_EVERY) % 5 == 0]
    train = [r for r in rest if (r["index"] // HOLD_OUT_EVERY) % 5 != 0]
    return train, val, test, failed


def targets(rows):
    return np.array([[float(r[m]) for m in METRICS] for r in rows], dtype=np.float64)


def encodings(space, rows):
    return np.stack([space.encode(r["point"]) for r in rows]).astype(np.float32)
