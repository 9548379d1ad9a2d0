"""Folding (platforms.fold, `tailor fold`, `tailor build` without --hw): the candidate ladder,
the model's calibration end points, and real Yosys runs choosing configs that fit a budget or
meet a cycle count; one-line errors when nothing fits."""

import gc
import json

import pytest

import netdesc
from netdesc import macs
from platforms.fold import (Calibration, balanced_targets, candidates, cycles_bound, device_for,
                            for_device, keeps_window_memories, multipliers, over, usage,
                            with_dsp_budget)
from platforms.regression import EXAMPLES, tiny_net
from rtl.fifo_depth import free_running_timing
from rtl.hwconfig import HwConfig, load_hw
from rtl.network import NetworkTop
from rtl.plan import engine_plan, fifo_sites, predict, timing
from tailor.cli import main


# Built designs are inspected, not elaborated (the FIFO sizing, too, builds plans it drops).
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.json"
    netdesc.save(tiny_net(), path)
    return path


def test_candidates_run_from_the_default_to_one_mac_per_layer():
    net = tiny_net()
    ladder = candidates(net)
    # The first is as fast as the default config, and no larger.
    default = HwConfig.default(net)
    assert cycles_bound(net, ladder[0]) == cycles_bound(net, default)
    assert all(ladder[0].parallelism[k] <= v for k, v in default.parallelism.items())
    assert set(ladder[-1].parallelism.values()) == {1}
    bounds = [cycles_bound(net, hw) for hw in ladder]
    assert bounds == sorted(bounds) and len(set(map(str, ladder))) == len(ladder)
    slowest = max(macs(layer) for layer in net.layers if layer.has_weights)
    assert bounds[-1] == slowest
    # Each layer's parallelism only falls along the ladder.
    for a, b in zip(ladder, ladder[1:]):
        assert all(b.parallelism[k] <= v for k, v in a.parallelism.items())


def test_cycles_bound_is_the_timing_models_steady_state_at_one_mac_per_layer():
    net = tiny_net()
    hw = candidates(net)[-1]
    ends = predict(NetworkTop(net, hw).plan, 3)
    assert ends[-1] - ends[-2] == cycles_bound(net, hw)
    gc.collect()


def test_device_budgets_and_limits():
    assert device_for(board="icebreaker").limits == {"LC": 5280, "BRAM": 30, "DSP": 8}
    dev = device_for("xilinx", limits={"LUT": 16000})
    assert dev.limits["LUT"] == 16000 and dev.limits["DSP"] == 80
    used = usage(device_for("ice40"), {"LUT": 100, "FF": 100, "BRAM": 2, "DSP": 1})
    assert used == {"LC": 170, "BRAM": 2, "DSP": 1}
    assert over(device_for("ice40"), dict(used, BRAM=28), margin=0.1) == [("BRAM", 28, 30)]
    with pytest.raises(Exception, match="budgeted in LC, BRAM, DSP"):
        device_for("ice40", limits={"LUT": 5})


def test_dsp_budget_goes_to_the_layers_with_the_most_multipliers():
    net = tiny_net()
    hw = HwConfig.balanced(net, 36)
    mults = multipliers(net, hw)
    assert sum(mults.values()) > 8
    budgeted = with_dsp_budget(net, hw, device_for("ice40"))
    kept = {n: m for n, m in mults.items() if n not in budgeted.logic_multipliers}
    assert sum(kept.values()) <= 8 and budgeted.logic_multipliers
    # A layer built from logic either has more multipliers than every kept one, or no longer
    # fit beside them.
    for name in budgeted.logic_multipliers:
        assert mults[name] > 8 - sum(m for n, m in kept.items() if mults[n] >= mults[name])
    assert with_dsp_budget(net, hw, device_for("ecp5")).logic_multipliers == []


def test_mac_and_fifo_registers_follow_the_device():
    """Registered MAC operands and products and block-RAM FIFO outputs where flip-flops are
    plentiful and the clock fast (ECP5, Xilinx), not on the iCE40 UP5K; --limit keeps the
    device's choice."""
    net = tiny_net()
    hw = HwConfig.balanced(net, 36)
    ice40 = for_device(net, hw, device_for("ice40"))
    assert not ice40.registered_macs and not ice40.registered_fifos
    assert for_device(net, hw, device_for("ecp5")).registered_macs
    limited = for_device(net, hw, device_for(board="ulx3s-85f", limits={"LUT": 9000}))
    assert limited.registered_macs and limited.registered_fifos
    assert for_device(net, hw, device_for("xilinx")).parallelism == hw.parallelism


def test_fold_fits_a_budget_and_the_model_reproduces_its_calibration(tiny, tmp_path, capsys):
    """A budget between one MAC per layer and the fastest candidate: the chosen config is the
    fastest that Yosys found within the margin, and slower configs were not needed."""
    out, js = tmp_path / "hw.json", tmp_path / "fold.json"
    assert main(["fold", str(tiny), "--target", "ice40", "--limit", "LC=1400", "--margin", "0",
                 "--out", str(out), "--json", str(js)]) == 0
    text = capsys.readouterr().out
    report = json.loads(js.read_text())
    hw = load_hw(out, tiny_net())
    assert hw.parallelism == report["parallelism"]
    assert report["used"]["LC"] <= 1400
    tried = report["tried"]
    assert tried[0]["label"] == "one MAC per layer"
    chosen = [t for t in tried if t["parallelism"] == report["parallelism"]]
    assert chosen and chosen[-1]["used"] == report["used"]
    # Every faster config tried was over the budget.
    faster = [t for t in tried if t["cycles"] < report["cycles"]]
    assert all(t["used"]["LC"] > 1400 for t in faster)
    assert "cycles (model)" in text and "LUT (model)" in text


def test_calibration_end_points_are_the_measurements(tmp_path):
    """The model interpolates between its two Yosys runs: at either end it is that run."""
    from platforms.synth import synthesize_net
    net = tiny_net()
    ladder = candidates(net)
    slow = synthesize_net(net, "ice40", tmp_path / "slow", ladder[-1])
    fast = synthesize_net(net, "ice40", tmp_path / "fast", ladder[0])
    cal = Calibration(slow, fast, multipliers(net, ladder[-1]), multipliers(net, ladder[0]))
    for hw, report in ((ladder[-1], slow), (ladder[0], fast)):
        predicted = cal.predict(net, hw)
        for label, _, measured in report.rows(depth=1):
            if label in multipliers(net, hw):
                assert {k: round(v) for k, v in predicted[label].items()} == measured, label


def test_fold_meets_cycles_in_the_least_area(tiny, tmp_path, capsys):
    net = tiny_net()
    budget = cycles_bound(net, candidates(net)[-1]) // 3
    out, js = tmp_path / "hw.json", tmp_path / "fold.json"
    assert main(["fold", str(tiny), "--target", "ecp5", "--cycles", str(budget),
                 "--out", str(out), "--json", str(js)]) == 0
    report = json.loads(js.read_text())
    assert report["cycles"] <= budget
    assert report["parallelism"] == HwConfig.balanced(net, budget).parallelism
    # Every FIFO site's depth is pinned, as sized for the check: a build sizes nothing again.
    hw = load_hw(out, net)
    sites = fifo_sites(engine_plan(net, hw.resolved(net)))
    assert sites and {s.key for s in sites} == set(hw.fifo_depths) | set(hw.rate_fifo_depths)


def test_balanced_targets_give_each_balanced_config_once():
    """From the default config's target up, every target between two of them gives the
    lower one's config, and no two give the same."""
    net = tiny_net()
    targets = balanced_targets(net)
    assert HwConfig.balanced(net, targets[0]) == HwConfig.default(net)
    assert set(HwConfig.balanced(net, targets[-1]).parallelism.values()) == {1}
    configs = [HwConfig.balanced(net, t).parallelism for t in targets]
    assert len({tuple(sorted(c.items())) for c in configs}) == len(targets)
    for t, c in zip(targets, configs):
        assert HwConfig.balanced(net, t + 1).parallelism in (c, *configs)


def test_candidates_skip_configs_that_lose_window_memories():
    """ResNet-8-shaped's 3x3 convs at 12 MACs for 16, 32 or 64 channels take 3 operands per
    cycle and hold their windows in registers: not a candidate of a budget or of the ladder. At
    16 (the default) and 8 they read window memories."""
    net = netdesc.load(EXAMPLES / "resnet8_shaped.json")
    targets = balanced_targets(net)
    twelve = next(t for t in range(targets[0], targets[1])
                  if HwConfig.balanced(net, t).parallelism["b1_conv1"] == 12)
    assert not keeps_window_memories(net, HwConfig.balanced(net, twelve))
    for t in targets[1:]:
        assert keeps_window_memories(net, HwConfig.balanced(net, t))
    assert [HwConfig.balanced(net, t).parallelism["b1_conv1"] for t in targets] == \
        [16, 8, 4, 2, 1]
    assert [hw.parallelism["b1_conv1"] for hw in candidates(net)] == [16, 8, 4, 2, 1]


def test_free_running_timing_keeps_the_sized_steady_state():
    """The unbounded FIFOs' timing, which a cycle budget's search runs on, has the sized
    network's steady state and nearly its latency."""
    net = tiny_net()
    for target in balanced_targets(net)[::5]:
        hw = for_device(net, HwConfig.balanced(net, target), device_for("ecp5")).resolved(net)
        free, sized = free_running_timing(net, hw), timing(NetworkTop(net, hw).plan)
        assert free.steady == sized.steady
        assert abs(free.latency - sized.latency) <= 0.05 * sized.latency
    gc.collect()


def test_fold_meets_a_latency_in_the_least_area(tiny, tmp_path):
    """A latency budget between two neighbouring configs' latencies: the slower of the two is
    too slow, so the faster is chosen, and its sized latency meets the budget."""
    net = tiny_net()
    device = device_for("ecp5")
    targets = balanced_targets(net)

    def latency(target):
        hw = for_device(net, HwConfig.balanced(net, target), device).resolved(net)
        return free_running_timing(net, hw).latency
    lat = [latency(t) for t in targets]
    assert lat == sorted(lat)  # the premise of the fold's bisection
    n = next(n for n in range(len(lat) // 2, len(lat) - 1) if lat[n] < lat[n + 1])
    budget = (lat[n] + lat[n + 1]) // 2
    out, js = tmp_path / "hw.json", tmp_path / "fold.json"
    assert main(["fold", str(tiny), "--target", "ecp5", "--latency", str(budget),
                 "--out", str(out), "--json", str(js)]) == 0
    report = json.loads(js.read_text())
    assert report["latency_cycles"] <= budget
    assert report["parallelism"] == HwConfig.balanced(net, targets[n]).parallelism
    assert load_hw(out, net).parallelism == report["parallelism"]


@pytest.mark.parametrize("args, message", [
    (["--target", "ecp5", "--latency", "30"],
     r"'tiny' cannot meet 30 cycles of latency with at most 16 MACs per layer: there it takes "
     r"\d+ cycles per inference and \d+ of latency \(timing model\)"),
    (["--target", "ice40", "--limit", "LC=50"],
     r"'tiny' does not fit the iCE40UP5K at any folding: at one MAC per layer it needs LC \S+ "
     r"of 50 \(the most LUT: "),
    (["--target", "ice40", "--cycles", "3"],
     r"'tiny' cannot run in 3 cycles per inference: it needs 38 at any parallelism \(one beat "
     r"per cycle through its largest tensor, H\*W \+ C cycles through a global average pool\)"),
])
def test_fold_errors_are_one_line(tiny, tmp_path, capsys, args, message):
    out = tmp_path / "hw.json"
    assert main(["fold", str(tiny), *args, "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1
    import re
    assert re.search(r"^tailor fold: error: " + message, err), err
    assert not out.exists()
