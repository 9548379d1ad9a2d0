"""Cost data: designs sampled from a space, each built and measured with the real flow.

One design = one point of a :class:`cosearch.space.Space`: its network (the point's model with
random weights of the declared bit widths, activation ranges calibrated on random images, then
exported to a netdesc exactly as a trained model would be) and its hardware config (the point's
MACs per cycle). :func:`measure` builds the accelerator, runs the cycle-exact timing model
(:func:`rtl.plan.predict`; on a sample of designs also the RTL simulation, which must
agree on cycles and match :func:`netdesc.run` bit for bit) and Yosys synthesis, and returns one
row::

    {"key", "index", "point", "target", "replicate", "weight_seed", "status": "ok",
     "LUT", "FF", "BRAM", "DSP", "LUTRAM", "cycles", "latency_cycles",
     "skip_fifo_bits", "rate_fifo_bits", "macs", "parameters", "weight_bits",
     "sim_cycles" (simulated designs only), "versions", "seconds": {...}}

A design that fails anywhere gives ``{"key", "index", "point", "target", "replicate",
"status": "failed", "error", "seconds"}`` and no numbers. :func:`run` appends rows to a
JSON-lines file as they finish, skips designs already in the file (ok or failed; with
``retry_failed`` the failed ones are measured again, after a fix in the flow, and their new
rows replace them), and spreads the work over a local process pool or an existing Dask
cluster: both are futures executors, used the same way.

Replicates: a design's LUT count depends a little on its weights (the weight ROMs are logic, and
Yosys simplifies them by content; docs/DECISIONS.md has how much), which no architecture-level
predictor can see. A design may therefore be measured with several weight seeds, one row per
``replicate`` (0 is the design's own seed; rows written before replicates existed are replicate
0); :func:`design_rows` merges them into one row holding the mean, the architecture's cost.
:func:`measure_net` is the measuring half alone, for a netdesc that exists already (a trained
network chosen by the search).
"""

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path

import numpy as np

from common.errors import TailorError, one_line, shown
from common.io import parse_json, read_text, write_text

from .executor import executor

METRICS = ("LUT", "FF", "BRAM", "DSP", "LUTRAM")
MAX_DATA_BYTES = 1 << 30  # a cost-data row is about 1 kB: a million designs
CALIBRATION_IMAGES = 256
SIM_IMAGES = 3  # the steady state is the interval between the last two


def weight_seed(key, replicate=0):
    """The random-weight seed of a design's ``replicate``: a function of its key and the
    replicate only, so a design is the same network whichever worker builds it."""
    text = key if replicate == 0 else f"{key}#weights{replicate}"
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:4], "little")


def build_netdesc(space, point, seed, name=None):
    """``point``'s netdesc with random weights (seeded by ``seed``)."""
    import torch

    from nn.export import to_netdesc
    torch.manual_seed(seed)
    model = space.build_model(point)
    spec = model.spec
    images = torch.randint(0, 1 << spec["input_bits"], (CALIBRATION_IMAGES, *spec["input_shape"]),
                           generator=torch.Generator().manual_seed(seed))
    model.train()
    with torch.no_grad():  # training-mode passes set batch-norm statistics and activation ranges
        for batch in images.split(64):
            model(batch)
    return to_netdesc(model, name=name or f"{space.name}-{seed:08x}")


def measure(space_obj, point, index=None, simulate=False, timeout=None, workdir=None,
            replicate=0):
    """Build and measure one design (see the module docstring) with the weights of its
    ``replicate``; never raises for a design that fails: the row says ``failed`` and why.
    ``space_obj``: the space as a JSON object (what travels to a worker); ``workdir``: where
    Yosys runs (default: a temporary folder)."""
    from .space import parse_space
    space = parse_space(space_obj, source=f"<space {space_obj.get('name')}>")
    key = space.key(point)
    row = {"key": key, "index": index, "point": point, "target": space.target,
           "replicate": replicate}
    seconds = {}
    start = time.monotonic()
    try:
        row.update(_measure(space, point, weight_seed(key, replicate), simulate, timeout,
                            workdir, seconds))
    except Exception as e:  # a failed design is data: recorded with its error, never dropped
        row.update(status="failed", error=error_text(e))
    seconds["total"] = round(time.monotonic() - start, 2)
    row["seconds"] = seconds
    return row


def error_text(e):
    """What a failed row records of exception ``e``: its class and message."""
    return f"{e.__class__.__name__}: {str(e).strip() or e.__class__.__name__}"


def _measure(space, point, seed, simulate, timeout, workdir, seconds):
    t = time.monotonic()
    net = build_netdesc(space, point, seed)
    seconds["build"] = round(time.monotonic() - t, 2)
    x = None
    if simulate:
        x = np.random.default_rng(seed).integers(
            0, 1 << net.input.type.bits, (SIM_IMAGES, *net.input.shape))
    row = {"weight_seed": seed, "status": "ok"}
    row.update(measure_net(net, space.hw_config(point, net), space.target, x, timeout, workdir,
                           seconds))
    return row


def measure_net(net, hw, target, sim_inputs=None, timeout=None, workdir=None, seconds=None):
    """The measured figures of one accelerator, ``NetworkTop(net, hw)`` on ``target``: cycles
    and FIFO bits from the timing model, counts from the netdesc, LUT / FF / BRAM / DSP /
    LUT-RAM and tool versions from Yosys. With ``sim_inputs`` (``[N >= 2, C, H, W]``) the RTL is
    also simulated on them: its outputs must equal :func:`netdesc.run`'s and its steady-state
    cycles the model's, or it raises. Times go into ``seconds`` (a dict) if given."""
    from netdesc import macs, parameters, run as reference
    from platforms.synth import synthesize_net
    from rtl.plan import timing
    from rtl.network import NetworkTop
    from rtl.sim import simulate_top

    seconds = {} if seconds is None else seconds
    t = time.monotonic()
    top = NetworkTop(net, hw)
    cycles = timing(top.plan, SIM_IMAGES)
    seconds["timing"] = round(time.monotonic() - t, 2)
    row = {"cycles": cycles.steady, "latency_cycles": cycles.latency,
           "skip_fifo_bits": sum(f.bits for f in top.fifo_report if f.kind == "skip"),
           "rate_fifo_bits": sum(f.bits for f in top.fifo_report if f.kind == "rate"),
           "macs": sum(macs(l) for l in net.layers),
           "parameters": sum(parameters(l) for l in net.layers),
           "weight_bits": sum(int(l.weights.size) * l.weight_bits
                              for l in net.layers if l.has_weights)}
    if sim_inputs is not None:
        t = time.monotonic()
        result = simulate_top(top, sim_inputs)
        seconds["sim"] = round(time.monotonic() - t, 2)
        if not np.array_equal(result.outputs, reference(net, sim_inputs)):
            raise TailorError(f"{net.name}: the RTL simulation's outputs differ from netdesc.run")
        if result.steady_state_cycles != row["cycles"]:
            raise TailorError(f"{net.name}: the timing model says {row['cycles']} cycles per "
                              f"inference, the RTL simulation {result.steady_state_cycles}")
        row["sim_cycles"] = result.steady_state_cycles
    t = time.monotonic()
    # Without a workdir Yosys runs in a fresh temporary folder, removed after a success and
    # kept after a failure: the error names its synth.log.
    folder = Path(workdir or tempfile.mkdtemp(prefix="tailor-costdata-"))
    report = synthesize_net(net, target, folder, hw, top=top, timeout=timeout)
    if workdir is None:
        shutil.rmtree(folder)
    seconds["synth"] = round(time.monotonic() - t, 2)
    row.update({m: int(report.total[m]) for m in METRICS})
    row["versions"] = report.versions
    return row


def read_rows(path):
    """The rows of a cost-data file (an absent file has none); a line that is not a cost-data
    row (:func:`row_error`) is an error naming the file and line."""
    path = Path(path)
    if not path.exists():
        return []
    rows = []
    text = read_text(path, lambda rule: TailorError(f"{path}: {rule}"), limit=MAX_DATA_BYTES)
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        row = parse_json(line, lambda rule, n=n: TailorError(f"{path}: line {n}: {rule}"))
        problem = row_error(row)
        if problem:
            raise TailorError(one_line(f"{path}: line {n}: not a cost-data row ({problem})"))
        rows.append(row)
    return rows


def _count(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < float("inf")


def row_error(row):
    """What makes ``row`` no cost-data row (the fields others read, see the module docstring),
    or ``None``."""
    if not isinstance(row, dict):
        return "not a JSON object"
    if not isinstance(row.get("key"), str) or row.get("status") not in ("ok", "failed"):
        return "needs a string 'key' and a 'status' of \"ok\" or \"failed\""
    for field, default in (("index", None), ("replicate", 0)):
        v = row.get(field, default)
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            return f"'{field}' must be an integer >= 0, not {shown(v)}"
    if not isinstance(row.get("point"), dict):
        return "'point' must be an object"
    if row["status"] == "ok":
        for m in (*METRICS, "cycles"):
            if not _count(row.get(m)):
                return f"'{m}' must be a number >= 0, not {shown(row.get(m))}"
    return None


def _append_row(f, out, row):
    """Append ``row`` to the open file ``f`` (of path ``out``) as one whole line, or not at all:
    a resumed run must find no half row (a full disk, a file-size limit)."""
    line = (json.dumps(row, sort_keys=True) + "\n").encode()
    end = f.seek(0, os.SEEK_END)
    try:
        left = memoryview(line)
        while left:  # a short write is no error; the next write says why, if it fails
            left = left[f.write(left):]
    except OSError as e:
        os.ftruncate(f.fileno(), end)
        if end == 0:  # no row at all: leave no empty file behind either
            out.unlink()
        raise TailorError(f"{out}: cannot append a row ({e.strerror or e}); the rows before "
                          f"it are kept") from None


def replicate_of(row):
    return row.get("replicate", 0)


def design_rows(rows):
    """One row per design of the measured (``ok``) ``rows``: the row of its lowest measured
    replicate (0 unless that one failed) with ``"replicates"``: how many were measured, and,
    if more than one, every metric the mean over them (a float)."""
    by_key = {}
    for row in rows:
        if row["status"] == "ok":
            by_key.setdefault(row["key"], []).append(row)
    merged = []
    for group in by_key.values():
        group.sort(key=replicate_of)
        row = dict(group[0], replicates=len(group))
        if len(group) > 1:
            row.update({m: float(np.mean([r[m] for r in group])) for m in METRICS})
        merged.append(row)
    return merged


def run(space, n, out, jobs=1, dask=None, seed=0, simulate_every=10, timeout=None,
        progress=True, replicates=1, replicate_every=1, retry_failed=False):
    """Sample ``n`` points of ``space`` (seeded), measure those not yet in ``out`` (a JSON-lines
    file, appended as designs finish) and return ``(done before, newly measured rows)``.

    Every ``simulate_every``-th design (by sample index; 0: none) is also simulated. Every
    ``replicate_every``-th design is measured with ``replicates`` weight seeds (the others with
    their own only); "done" is per design and replicate, and with ``retry_failed`` only a
    measured one is (the failed rows of the sampled designs are removed from ``out`` before they
    are measured again). Work runs on a local process pool of ``jobs`` workers, or on the Dask
    scheduler at address ``dask``. A malformed ``out`` is an error before any work starts.
    """
    from tqdm import tqdm

    out = Path(out)
    existing = read_rows(out)
    points = space.sample_distinct(n, seed)
    wanted = [(i, p, r) for i, p in enumerate(points)
              for r in range(replicates if i % replicate_every == 0 else 1)]
    if retry_failed:
        retried = {(space.key(p), r) for _, p, r in wanted}
        kept = [row for row in existing
                if row["status"] == "ok" or (row["key"], replicate_of(row)) not in retried]
        if len(kept) < len(existing):
            write_text(out, "".join(json.dumps(row, sort_keys=True) + "\n" for row in kept))
            existing = kept
    done = {(row["key"], replicate_of(row)) for row in existing}
    todo = [(i, p, r) for i, p, r in wanted if (space.key(p), r) not in done]
    space_obj = space.to_json_obj()
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = []
    with executor(jobs, dask) as (submit, completed):
        # the simulation checks the design, not its weights: replicate 0 only
        futures = [submit(measure, space_obj, p, i,
                          r == 0 and bool(simulate_every) and i % simulate_every == 0, timeout,
                          None, r)
                   for i, p, r in todo]
        bar = tqdm(total=len(todo), desc=f"cost data ({space.target})", unit="design",
                   disable=not progress)
        with out.open("ab", buffering=0) as f:
            for future in completed(futures):
                row = future.result()
                _append_row(f, out, row)
                rows.append(row)
                bar.update(1)
                bar.set_postfix(failed=sum(r["status"] != "ok" for r in rows))
        bar.close()
    return len(wanted) - len(todo), rows
