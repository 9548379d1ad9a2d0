"""FIFO depths: the smallest buffers that keep the network at full throughput.

Two kinds of FIFO sit between the engines of :class:`rtl.network.NetworkTop`:

* a **skip FIFO** on the bypass branch of every skip connection. The fork feeds the main
  branch (convolutions whose line buffers must fill rows before their first output) and the
  bypass; the bypass beats wait in the FIFO until the add pairs them with the main branch's
  result. Too small a FIFO stops the fork, which starves the main branch: the network slows
  down or, below the main branch's fill (about ``span * (k - 1) / 2`` rows), deadlocks.
* a **rate FIFO** between two engines whose patterns differ: a line buffer takes input only up
  to the window after the one it holds, so a stride-2 conv needs a whole odd row of input in a
  burst while its producer makes one pixel per MAC pass, and a producer must stall while the
  consumer computes. Without a buffer between them neither overlaps the other and the pair
  runs at the sum, not the maximum, of their times. Most edges need none (depth 0: no FIFO).

How depths are computed, a pass over the hardware plan (:mod:`rtl.plan`): the timing model of
the whole network (:func:`rtl.plan.network_model`, each engine, fork and FIFO contributing its
own model, :mod:`rtl.timing_model`) streams ``INFERENCES`` tensors back to back (like
:func:`rtl.sim.simulate`); its cycle counts equal the RTL simulation's
(``sim_tests/test_fifo_depth.py``):

1. with every FIFO unbounded: the steady-state cycles per inference ``P`` (between the last two
   outputs) is the full throughput, and each FIFO's maximum occupancy ``M`` is recorded;
2. every FIFO starts at ``M + 1`` (it never refuses a beat, so the schedule is that of step 1);
3. one FIFO after the other (skip FIFOs first), a search (galloping down from ``M + 1``, then
   bisecting) finds the smallest depth that keeps the steady state at ``P`` with the others at
   their current depths (rate FIFOs may reach 0, skip FIFOs 1; a site's ``min_depth`` is a
   floor, :func:`rtl.plan.fifo_sites`).

Throughput is monotone in every depth, so each result is the minimum given the others, and
``depth - 1`` runs slower or deadlocks. For comparison each report also gives the
whole-feature-map depth (``H * W`` beats), what flows that buffer an entire tensor per skip
(hls4ml-style) would use.
"""

from dataclasses import replace

from tqdm import tqdm

from .plan import engine_plan, fifo_sites, last_beats, timing
from .timing_model import Deadlock

INFERENCES = 3  # tensors streamed by the model: the steady state is the last interval
UNBOUNDED = 1 << 40


def size_fifos(plan, sites, inferences=INFERENCES):
    """``sites`` (:class:`rtl.plan.Fifo`, depth 0, skip FIFOs first) with their depths: the
    hardware config's where it fixes them (``fifo_depths``, ``rate_fifo_depths``), else the
    minimum for full throughput by the method of the module docstring. Those of depth 0 (no
    FIFO) are left out."""
    hw = plan.hw
    fixed = {}
    keys = {f.key for f in sites}
    fixed.update({k: v for k, v in hw.fifo_depths.items() if k in keys})
    fixed.update({k: v for k, v in hw.rate_fifo_depths.items() if k in keys})

    if all(f.key in fixed for f in sites):  # a config that pins them (:func:`pinned`)
        return [replace(f, depth=fixed[f.key], max_occupancy=None) for f in sites
                if fixed[f.key] > 0]

    def run(depths):
        placed = [replace(f, depth=depths[f.key]) for f in sites if depths[f.key] > 0]
        ends, blocks = last_beats(plan.with_fifos(placed), inferences)
        return ends[-1] - ends[-2], blocks

    # The reference schedule ignores fixed depths: those may be too small (then every other
    # FIFO simply ends at its never-full depth).
    target, free = run({f.key: UNBOUNDED for f in sites})
    occupancy = {f.key: free[f.name].max_level for f in sites}
    # One more than the most ever held always works: the FIFO then never refuses a beat.
    depths = {f.key: fixed.get(f.key, max(occupancy[f.key] + 1, f.min_depth)) for f in sites}

    def full_rate(key, depth):
        try:
            return run(dict(depths, **{key: depth}))[0] == target
        except Deadlock:
            return False

    free_sites = [f for f in sites if f.key not in fixed]
    for f in tqdm(free_sites, desc="sizing FIFOs", unit="FIFO", leave=False,
                  disable=None if len(sites) > 4 else True):
        depths[f.key] = _smallest_depth(f, depths[f.key], full_rate)
    return [replace(f, depth=depths[f.key],
                    analysed_depth=None if f.key in fixed else depths[f.key],
                    max_occupancy=occupancy[f.key])
            for f in sites if depths[f.key] > 0]


def free_running_timing(net, hw):
    """The timing model's :class:`rtl.plan.Timing` of ``hw`` (resolved) with every FIFO
    unbounded, in one run instead of the sizing's dozens: the steady state that the sized
    FIFOs keep, and a latency within a fraction of a percent of theirs (ResNet-8-shaped: 17
    cycles of 410,380 folded to 294,912 cycles per inference, 433 of 207,292 at the default)."""
    plan = engine_plan(net, hw)
    for engine in plan.engines.values():
        engine._MustUse__silence = True  # Amaranth's flag: built for their models, never elaborated
    return timing(plan.with_fifos([replace(f, depth=UNBOUNDED) for f in fifo_sites(plan)]))


def pinned(hw, sites, fifos):
    """``hw`` with the depth of every FIFO site of ``sites`` fixed at its depth in ``fifos``
    (:func:`size_fifos`' result; a rate site missing from it at 0, no FIFO): a config that
    builds again without sizing anything. The search above runs the timing model dozens of
    times on whole inferences, so ``tailor fold`` hands its sized configs on."""
    depths = {f.key: f.depth for f in fifos}
    return replace(hw, fifo_depths={f.key: depths[f.key] for f in sites if f.kind == "skip"},
                   rate_fifo_depths={f.key: depths.get(f.key, 0) for f in sites
                                     if f.kind == "rate"})


def _smallest_depth(fifo, never_full, full_rate):
    """The smallest depth of ``fifo`` at which ``full_rate(key, depth)`` holds, given that it
    holds at ``never_full`` and throughput is monotone in the depth."""
    key = fifo.key
    lo, hi = max(1 if fifo.kind == "skip" else 0, fifo.min_depth), never_full
    if lo == 0 and full_rate(key, 0):
        return 0  # most edges need no FIFO at all: one run settles them
    # The minimum is usually just below the never-full depth: gallop down from there.
    step = 1
    while lo < hi:
        trial = max(lo, hi - step)
        if not full_rate(key, trial):
            lo = trial + 1
            break
        hi, step = trial, step * 2
    while lo < hi:
        mid = (lo + hi) // 2
        if full_rate(key, mid):
            hi = mid
        else:
            lo = mid + 1
    return lo
