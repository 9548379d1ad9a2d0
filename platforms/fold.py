"""Folding: the per-layer MAC parallelism that fits a device, or meets a cycle budget in the
least area.

Candidates are balanced hardware configs (:meth:`rtl.hwconfig.HwConfig.balanced`): every
conv2d / dense layer at the smallest parallelism that finishes its MACs within a cycle target,
for targets on a ladder (steps of about 1.4x) from the default config's (at most 16 MACs per
layer) to one MAC per layer.

**The model** (a prediction, labelled so wherever it is printed):

- cycles per inference: the slowest engine's cycles per tensor (:func:`engine_cycles`), at
  least one cycle per pixel of the largest tensor; the timing model of the chosen config gives
  the figure reported beside it;
- with a cycle or latency budget (``--cycles``, ``--latency``), no resource model: the timing
  model itself, its FIFOs unbounded (one run per config, the steady state the sizing keeps),
  picks the slowest balanced config that meets the budget;
- resources, per first-level unit of the synthesis report (engines, forks, FIFOs): linear in
  the unit's multipliers between two Yosys runs of this very network with every multiplier in
  a DSP block, one MAC per layer and the fastest candidate; a unit without multipliers (add,
  pool, fork, FIFO) at the larger of its two figures; the multipliers beyond the device's DSP
  blocks, built from adders (:func:`with_dsp_budget`), cost
  :data:`LOGIC_MULTIPLIER_LUT_PER_BIT` LUTs per bit of their product instead;
- iCE40 logic cells: ``LUT + 0.7 FF`` (:data:`ICE40_LC_PER_FF`), nextpnr's packing of the
  digits demo and of a one-layer design.

**The check**: the chosen config is synthesized by Yosys; a config over the device is replaced
by the next slower candidate, checked again. ``tailor build`` then places and routes it.
"""

import math
from dataclasses import dataclass, field, replace
from pathlib import Path

from netdesc import macs
from rtl.engines import folds, mac_schedule
from rtl.hwconfig import DEFAULT_CAP, HwConfig, default_target
from rtl.network import NetworkTop
from rtl.fifo_depth import free_running_timing
from rtl.plan import timing
from rtl.pool import avg_pool_cycles
from rtl.window_memory import RowRing
from rtl.streams import beat_shape
from common.errors import TailorError

from .build import DoesNotFit
from .synth import synthesize_net

# nextpnr's logic cells per Yosys FF beyond the LUTs on iCE40, a model: 30,371 LC for 16,223
# LUT + 19,977 FF (the digits demo, skips removed), 626 LC for 425 LUT + 285 FF (one folded
# 16->16 conv): 0.71 and 0.71.
ICE40_LC_PER_FF = 0.7
# LUTs per bit of a weight x operand product of one multiplier built from adders (rtl.mac
# MacArray with logic_multipliers) beyond a DSP block's: 244 LUT for 8 x 8 bits, iCE40, the
# one-MAC 16->16 3x3 conv on 2x2 pixels. A model, used for every target.
LOGIC_MULTIPLIER_LUT_PER_BIT = 244 / 64
LADDER_STEP = math.sqrt(2)
DEFAULT_MARGIN = 0.1


@dataclass(frozen=True)
class Device:
    """A device's budget: ``limits`` maps a category (``LC`` on iCE40, else ``LUT``; ``FF``,
    ``BRAM`` in the target's block units, ``DSP``) to what it has. ``pipelined``: its configs
    register MAC operands and products (:class:`rtl.mac.MacBuild`) and block-RAM FIFO outputs
    (``registered_fifos``), where flip-flops are plentiful and a fast clock is worth them; not
    on the iCE40, whose logic cells are the budget and whose boards clock at 12 MHz."""

    name: str
    target: str
    limits: dict
    pipelined: bool = False


DEVICES = {
    "ice40": Device("iCE40UP5K", "ice40", {"LC": 5280, "BRAM": 30, "DSP": 8}),
    "ecp5": Device("LFE5U-85F", "ecp5", {"LUT": 83640, "FF": 83640, "BRAM": 208, "DSP": 156},
                   pipelined=True),
    "xilinx": Device("XC7Z010 (Zybo Z7-10)", "xilinx",
                     {"LUT": 17600, "FF": 35200, "BRAM": 120, "DSP": 80}, pipelined=True),
}
BOARD_DEVICES = {"icebreaker": "ice40", "ulx3s-85f": "ecp5"}


def device_for(target=None, board=None, limits=None):
    """The :class:`Device` of ``board`` or ``target``, with ``limits`` (category -> count)
    replacing its own."""
    device = DEVICES[BOARD_DEVICES[board] if board else target]
    if limits:
        unknown = sorted(set(limits) - set(device.limits))
        if unknown:
            raise TailorError(f"--limit {unknown[0]}: {device.name} is budgeted in "
                              f"{', '.join(device.limits)}")
        device = replace(device, limits=dict(device.limits, **limits))
    return device


def usage(device, resources):
    """The device's categories computed from a synthesis' LUT / FF / BRAM / DSP figures."""
    out = {k: resources.get(k, 0) for k in device.limits if k != "LC"}
    if "LC" in device.limits:
        out["LC"] = round(resources["LUT"] + ICE40_LC_PER_FF * resources["FF"])
    return out


def over(device, used, margin=0.0):
    """``[(category, used, limit)]`` of the categories above ``(1 - margin)`` of the device."""
    return [(k, used[k], lim) for k, lim in device.limits.items() if used[k] > lim * (1 - margin)]


def multipliers(net, hw):
    """Per conv2d / dense layer of ``hw`` (resolved): its MAC array's multipliers."""
    out = {}
    for layer in net.layers:
        if layer.has_weights:
            s = mac_schedule(net, layer, hw.parallelism[layer.name])
            out[layer.name] = s.lanes_out * s.lanes_in
    return out


def engine_cycles(net, layer, parallelism):
    """Cycles per tensor of the engine of a conv2d / dense ``layer`` (the model): its windows
    times their MAC cycles, or the folded conv's input writes if those take longer."""
    s = mac_schedule(net, layer, parallelism)
    if layer.op == "dense":
        return beat_shape(net.shape_of(layer.inputs[0]))[0] * s.cycles
    in_shape = net.shape_of(layer.inputs[0])
    compute = layer.shape[1] * layer.shape[2] * s.cycles
    if folds(in_shape, layer.kernel, layer.stride, layer.padding, s):
        return max(compute, RowRing(*in_shape, layer.kernel, layer.stride,
                                    layer.padding).write_cycles())
    return compute


def cycles_bound(net, hw):
    """The model's cycles per inference of ``hw``: the slowest engine (a global average pool
    scales its C sums after its H*W beats), or one cycle per pixel of the largest tensor."""
    pixels = [beat_shape(net.input.shape)[0]] + [beat_shape(l.shape)[0] for l in net.layers]
    pools = [avg_pool_cycles(net.shape_of(l.inputs[0])) for l in net.layers
             if l.op == "global_avg_pool"]
    return max(pixels + pools + [engine_cycles(net, l, hw.parallelism[l.name])
                                 for l in net.layers if l.has_weights])


def candidates(net):
    """Balanced configs from the default's target to one MAC per layer, fastest first, each
    distinct, those after the default only where it :func:`keeps_window_memories`."""
    weighted = [l for l in net.layers if l.has_weights]
    if not weighted:
        return [HwConfig.default(net)]
    fastest = cycles_bound(net, HwConfig.default(net, DEFAULT_CAP))
    slowest = max(macs(l) for l in weighted)
    out, seen, target = [], set(), fastest
    while True:
        hw = HwConfig.balanced(net, min(target, slowest))
        key = tuple(sorted(hw.parallelism.items()))
        if key not in seen and (not out or keeps_window_memories(net, hw)):
            seen.add(key)
            out.append(hw)
        if target >= slowest:
            return out
        target = math.ceil(target * LADDER_STEP)


def for_device(net, hw, device):
    """``hw`` built for ``device``: its DSP budget (:func:`with_dsp_budget`), its MAC and FIFO
    output registers (:attr:`Device.pipelined`)."""
    return replace(with_dsp_budget(net, hw, device), registered_macs=device.pipelined,
                   registered_fifos=device.pipelined)


def with_dsp_budget(net, hw, device):
    """``hw`` with the MAC arrays beyond the device's DSP blocks built from logic
    (``logic_multipliers``): the layers with the most multipliers keep DSP blocks."""
    if "DSP" not in device.limits:
        return hw
    mults = multipliers(net, hw)
    budget, logic = device.limits["DSP"], []
    for name in sorted(mults, key=lambda n: (-mults[n], n)):
        if mults[name] <= budget:
            budget -= mults[name]
        else:
            logic.append(name)
    return replace(hw, logic_multipliers=sorted(logic))


def logic_multiplier_luts(net, layer, count):
    """The model's extra LUTs of ``count`` multipliers of ``layer`` built from logic."""
    bits = layer.weight_bits * net.type_of(layer.inputs[0]).bits
    return count * bits * LOGIC_MULTIPLIER_LUT_PER_BIT


@dataclass
class Calibration:
    """Two Yosys reports of one network, every multiplier in a DSP block (``slow``: one MAC
    per layer; ``fast``) and their multipliers per layer: :meth:`predict` interpolates each
    unit between them, then moves the ``logic_multipliers`` of a config out of DSP blocks."""

    slow: object
    fast: object
    slow_mults: dict
    fast_mults: dict

    def predict(self, net, hw):
        """Predicted LUT / FF / BRAM / DSP per first-level unit of ``hw`` (the model)."""
        mults = multipliers(net, hw)
        slow, fast = _units(self.slow), _units(self.fast)
        out = {}
        for unit in sorted(set(slow) | set(fast)):
            a, b = slow.get(unit), fast.get(unit)
            if unit in mults and a and b and self.fast_mults[unit] != self.slow_mults[unit]:
                t = (mults[unit] - self.slow_mults[unit]) / (self.fast_mults[unit] -
                                                             self.slow_mults[unit])
                out[unit] = {k: a[k] + t * (b[k] - a[k]) for k in a}
            else:
                out[unit] = {k: max((r or {}).get(k, 0) for r in (a, b)) for k in (a or b)}
        for name in hw.logic_multipliers:
            out[name]["LUT"] += logic_multiplier_luts(net, net.layer(name), mults[name])
            out[name]["DSP"] = max(0, out[name]["DSP"] - mults[name])
        return out


def _units(report):
    return {label: r for label, indent, r in report.rows(depth=1)}


def totals(units):
    out = {}
    for r in units.values():
        for k, v in r.items():
            out[k] = out.get(k, 0) + v
    return {k: round(v) for k, v in out.items()}


@dataclass
class FoldResult:
    """The chosen ``hw`` (with its ``logic_multipliers`` and its FIFO depths pinned, as
    sized for the check: :func:`rtl.fifo_depth.pinned`) and the model's figures
    (``predicted`` LUT / FF / BRAM / DSP per unit, None without a calibration; ``bound``: the
    model's cycles) and the check's (``report``: the Yosys report; ``used``: the device's
    categories from it; ``timing``: steady-state and latency cycles by the timing model,
    :class:`rtl.plan.Timing`). ``tried``: ``(label, hw, used, timing)`` of every config
    synthesized to check it, in order."""

    hw: HwConfig
    device: Device
    predicted: dict
    bound: int
    report: object
    used: dict
    timing: object
    tried: list = field(default_factory=list)


def fold(net, device, synth, cycles=None, latency=None, margin=DEFAULT_MARGIN, say=None):
    """Choose a hardware config of ``net`` for ``device``: the fastest candidate that fits
    within ``margin`` by the model and by a synthesis, or with ``cycles`` (steady-state cycles
    per inference) and / or ``latency`` (cycles from an inference's first input beat to its
    last output beat) the smallest balanced config that meets them by the timing model
    (:func:`_meet_budget`); MAC arrays beyond the device's DSP blocks are built from logic and
    MAC registers follow the device (:func:`for_device`). ``synth(hw)`` builds and
    synthesizes a config and returns ``(Yosys report, its rtl.plan.Timing, the config as
    built: its FIFO depths pinned)``; ``say(text)`` reports progress.

    Raises :class:`DoesNotFit` when nothing fits (naming what is too big at one MAC per layer)
    or the budget cannot be met on the device, :class:`TailorError` when it cannot be met at
    all."""
    say = say or (lambda text: None)
    pixels = cycles_bound(net, HwConfig.balanced(net, 1))
    if cycles is not None and cycles < pixels:
        raise TailorError(f"'{net.name}' cannot run in {cycles:,} cycles per inference: it "
                          f"needs {pixels:,} at any parallelism (one beat per cycle through its "
                          f"largest tensor, H*W + C cycles through a global average pool)")
    tried = []

    def measure(hw, label):
        say(f"synthesizing {label}")
        return synth(hw)

    def check(hw, label):
        report, cycles, sized = measure(hw, label)
        used = usage(device, report.total)
        tried.append((label, hw, used, cycles))
        return report, used, cycles, sized

    if cycles is not None or latency is not None:  # checks the one config it chooses
        return _meet_budget(net, device, Budget(cycles, latency), check, tried, say)
    ladder = [for_device(net, hw, device) for hw in candidates(net)]
    slowest, fastest = ladder[-1], ladder[0]
    slow = check(slowest, "one MAC per layer")
    if over(device, slow[1]):
        raise DoesNotFit(_too_big(net, device, slow[0], slow[1]))

    def all_dsp(hw):
        return replace(hw, logic_multipliers=[])
    slow_dsp = slow[0] if not slowest.logic_multipliers else \
        measure(all_dsp(slowest), "one MAC per layer, every multiplier a DSP (the model)")[0]
    fast = check(fastest, "the fastest candidate")
    fast_dsp = fast[0] if not fastest.logic_multipliers else \
        measure(all_dsp(fastest), "the fastest candidate, every multiplier a DSP (the model)")[0]
    calibration = Calibration(slow_dsp, fast_dsp, multipliers(net, slowest),
                              multipliers(net, fastest))

    def result(hw, checked):
        report, used, cycles, sized = checked
        return FoldResult(sized, device, calibration.predict(net, hw), cycles_bound(net, hw),
                          report, used, cycles, tried)
    if not over(device, fast[1], margin):
        return result(fastest, fast)
    start = next((n for n, hw in enumerate(ladder[1:-1], 1)
                  if not over(device, _predicted_usage(device, calibration, net, hw), margin)),
                 len(ladder) - 1)
    for hw in ladder[start:-1]:
        checked = check(hw, f"{cycles_bound(net, hw):,} cycles per inference (model)")
        if not over(device, checked[1], margin):
            return result(hw, checked)
    return result(slowest, slow)


@dataclass(frozen=True)
class Budget:
    """What a config must meet: ``steady`` cycles per inference and / or ``latency`` cycles
    (:class:`rtl.plan.Timing`'s figures); None: no bound."""

    steady: int = None
    latency: int = None

    def met_by(self, cycles):
        return all(limit is None or value <= limit for limit, value in
                   ((self.steady, cycles.steady), (self.latency, cycles.latency)))

    def text(self):
        return " and ".join(t for t in (
            self.steady and f"{self.steady:,} cycles per inference",
            self.latency and f"{self.latency:,} cycles of latency") if t)


def balanced_targets(net):
    """The cycle targets a budget chooses among, ascending: the default config's (at most
    :data:`DEFAULT_CAP` MACs per layer), then each further one at which
    :meth:`HwConfig.balanced` changes, down to one MAC per layer, where the config
    :func:`keeps_window_memories`."""
    lowest = default_target(net)
    changes = {-(-macs(l) // p) for l in net.layers if l.has_weights
               for p in range(1, DEFAULT_CAP + 1)}
    return [lowest] + sorted(t for t in changes if t > lowest and
                             keeps_window_memories(net, HwConfig.balanced(net, t)))


def keeps_window_memories(net, hw):
    """Whether no conv2d that reads its windows from a window memory at one MAC per layer
    (:func:`rtl.engines.folds`) has a MAC grid in ``hw`` that takes several operands per cycle
    with fewer MACs than output channels: as at 12 MACs for 16 channels, 4 outputs by 3
    operands, the whole window then sits in registers (a line buffer), which costs more than
    the MACs save: ResNet-8-shaped balanced at 12 MACs per 3x3 conv is 47,498 LUT on ECP5
    (Yosys), at 16 (the default) 22,963. (A window memory also gives way where its writer
    would be slower than the MACs; that is kept.)"""
    def grid(layer):
        return mac_schedule(net, layer, hw.parallelism[layer.name])

    def folds_alone(layer):
        return folds(net.shape_of(layer.inputs[0]), layer.kernel, layer.stride, layer.padding,
                     mac_schedule(net, layer, 1))
    return all(grid(l).lanes_in == 1 or grid(l).parallelism >= l.shape[0] or not folds_alone(l)
               for l in net.layers if l.op == "conv2d")


def _meet_budget(net, device, budget, check, tried, say):
    """The slowest balanced config whose cycles meet ``budget`` (a :class:`Budget`): a
    bisection over :func:`balanced_targets` on :func:`rtl.fifo_depth.free_running_timing`
    (cycles fall with the target), then checked by ``check`` (a synthesis, the FIFOs sized);
    should the sized FIFOs miss the budget by their few cycles, the next faster config is
    checked."""
    configs = [for_device(net, HwConfig.balanced(net, t), device)
               for t in balanced_targets(net)]
    cache = {}

    def cycles_at(n):
        if n not in cache:
            say(f"timing model at {cycles_bound(net, configs[n]):,} cycles per inference")
            cache[n] = free_running_timing(net, configs[n].resolved(net))
        return cache[n]
    if not budget.met_by(cycles_at(0)):
        fastest = cycles_at(0)
        raise TailorError(f"'{net.name}' cannot meet {budget.text()} with at most "
                          f"{DEFAULT_CAP} MACs per layer: there it takes {fastest.steady:,} "
                          f"cycles per inference and {fastest.latency:,} of latency (timing "
                          f"model)")
    lo, hi = 0, len(configs) - 1  # cycles_at(lo) meets the budget
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if budget.met_by(cycles_at(mid)) else (lo, mid - 1)
    for n in range(lo, -1, -1):
        hw, free = configs[n], cycles_at(n)
        report, used, cycles, sized = check(hw, f"{free.steady:,} cycles per inference, "
                                                f"{free.latency:,} of latency (timing model, "
                                                f"FIFOs unbounded)")
        if budget.met_by(cycles):
            if over(device, used):
                raise DoesNotFit(f"'{net.name}' at {budget.text()} does not fit the "
                                 f"{device.name}: " + _over_text(over(device, used)))
            return FoldResult(sized, device, None, cycles_bound(net, hw), report, used, cycles,
                              tried)
    raise TailorError(f"'{net.name}': no balanced config meets {budget.text()} with its FIFOs "
                      f"sized (the fastest took {cycles.steady:,} cycles per inference and "
                      f"{cycles.latency:,} of latency)")


def synthesizer(net, target, workdir):
    """``synth(hw)`` for :func:`fold`: each config built, its timing model's cycles, its Yosys
    report (in a numbered folder of ``workdir``) and the config as built."""
    runs = []

    def synth(hw):
        runs.append(hw)
        top = NetworkTop(net, hw)
        report = synthesize_net(net, target, Path(workdir) / f"config{len(runs)}", top=top)
        return report, timing(top.plan), top.hw
    return synth


def _predicted_usage(device, calibration, net, hw):
    return usage(device, totals(calibration.predict(net, hw)))


def _over_text(items):
    return "; ".join(f"{k} {used:,} of {lim:,}" for k, used, lim in items)


def _too_big(net, device, report, used):
    """The error for a network that does not fit even at one MAC per layer: what is over, and
    the units that take most of it."""
    parts = []
    for k, n, lim in over(device, used):
        key = "LUT" if k == "LC" else k
        units = sorted(((r[key], label) for label, r in _units(report).items() if r[key]),
                       reverse=True)[:3]
        biggest = ", ".join(f"{label} {v:,}" for v, label in units)
        parts.append(f"{k} {n:,} of {lim:,} (the most {key}: {biggest})")
    return (f"'{net.name}' does not fit the {device.name} at any folding: at one MAC per "
            f"layer it needs " + "; ".join(parts))
