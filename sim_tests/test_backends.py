"""The compiled backend against pysim: identical outputs, every beat's cycle stamp and stall
reports on the whole-network test designs, random networks and stalling components; its
model cache, VCD output and the fallback when no model can be built."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import netdesc
from common.errors import TailorError
from netdesc.builder import NetBuilder
from rtl import compiled_sim, sim
from rtl.engines import build_engine
from rtl.hwconfig import HwConfig
from rtl.network import NetworkTop
from rtl.sim import simulate_component, simulate_layer, simulate_top
from test_fifo_depth import _long_skip, strided_chain  # pytest puts sim_tests/ on the path
from test_network import _inputs, dead_end, double_read, networks, plain_strided

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

EXAMPLE = Path(__file__).parents[1] / "examples" / "small_resnet.json"


def _same(a, b):
    np.testing.assert_array_equal(a.outputs, b.outputs)
    assert (a.input_stamps, a.output_stamps) == (b.input_stamps, b.output_stamps)
    assert (a.cycles_per_inference, a.steady_state_cycles, a.total_cycles,
            a.first_output_cycle) == (b.cycles_per_inference, b.steady_state_cycles,
                                      b.total_cycles, b.first_output_cycle)
    assert {a.backend, b.backend} == {"compiled", "pysim"}


def _both(net, hw=None, count=2, seed=0):
    x = netdesc.check_input(net, _inputs(net, count, np.random.default_rng(seed)))
    runs = [simulate_top(NetworkTop(net, hw), x, backend=b) for b in ("compiled", "pysim")]
    _same(*runs)
    np.testing.assert_array_equal(runs[0].outputs, netdesc.run(net, x))
    return runs


DESIGNS = {  # the whole-network test designs, with the hardware configs the tests give them
    "small_resnet": (lambda: netdesc.load(EXAMPLE), None),
    "long_skip": (_long_skip, None),
    "long_skip_big_fifo": (_long_skip, HwConfig(fifo_depths={"add": 50})),
    "strided_chain": (strided_chain, HwConfig(parallelism={"c1": 4, "c2": 2})),
    "strided_chain_no_rate_fifo": (strided_chain, HwConfig(parallelism={"c1": 4, "c2": 2},
                                                            rate_fifo_depths={"c2.i": 0})),
    "double_read": (double_read, None),
    "plain_one_mac": (plain_strided, HwConfig(parallelism={"c1": 1, "c2": 1})),
    "dead_end": (dead_end, None),
}


@pytest.mark.parametrize("name", DESIGNS)
def test_test_designs_identical(name):
    make, hw = DESIGNS[name]
    _both(make(), hw, count=3)


@settings(max_examples=4, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(networks())
def test_random_networks_identical(net):
    _both(net)


def test_stall_reports_identical():
    """A skip FIFO far too small deadlocks the example: both backends stop at the same cycle
    and name the same blocked and starved streams."""
    net = netdesc.load(EXAMPLE)
    x = netdesc.check_input(net, np.zeros((2,) + net.input.shape, dtype=np.int64))
    messages = []
    for backend in ("compiled", "pysim"):
        with pytest.raises(TailorError) as e:
            simulate_top(NetworkTop(net, HwConfig(fifo_depths={"b1_add": 2})), x,
                         stall_cycles=500, backend=backend)
        messages.append(str(e.value))
    assert messages[0] == messages[1]
    assert "stall: no stream moved a beat" in messages[0] and "'fifo_b1_add.i'" in messages[0]


def test_slow_producer_and_consumer_identical(rng, random_gaps):
    """A strided conv engine between a stalling producer and a stalling consumer."""
    b = NetBuilder("one-conv", (3, 7, 6), rng=7)
    b.conv("c", 4, stride=2)
    net = b.build()
    layer = net.layer("c")
    xs = list(rng.integers(0, 256, size=(3, 3, 7, 6)))
    gaps = {"in_gaps": random_gaps(3, 42), "out_gaps": random_gaps(3, 12, max_gap=6)}
    runs = [simulate_component(build_engine(net, layer, 2), xs, net.input.type, layer.shape,
                               layer.type, backend=backend, **gaps)
            for backend in ("compiled", "pysim")]
    _same(*runs)


def test_two_input_layer_identical():
    net = netdesc.load(EXAMPLE)
    runs = netdesc.run(net, _inputs(net, 2, np.random.default_rng(4)), all_outputs=True)
    results = [simulate_layer(net, "b1_add", (runs["b1_conv2"], runs["stem"]), backend=b)
               for b in ("compiled", "pysim")]
    _same(*results)
    np.testing.assert_array_equal(results[0].outputs, runs["b1_add"])


def test_models_are_cached_by_design(tmp_path, monkeypatch):
    """A design is compiled once: the second run loads it; another design compiles anew."""
    monkeypatch.setenv("TAILOR_CACHE", str(tmp_path))
    net = double_read()
    x = netdesc.check_input(net, _inputs(net, 1, np.random.default_rng(0)))
    first, again = (simulate_top(NetworkTop(net), x, backend="compiled") for _ in range(2))
    assert first.compile_seconds > 0 and again.compile_seconds == 0.0
    other = simulate_top(NetworkTop(net, HwConfig(parallelism={"c1": 1})), x, backend="compiled")
    assert other.compile_seconds > 0
    assert len([p for p in (tmp_path / "sim-models").iterdir() if
                not p.name.startswith("runtime-")]) == 2
    assert first.versions["verilator"] and first.versions["compiler"]


def test_vcd_written_whole_or_not_at_all(tmp_path):
    net = netdesc.load(EXAMPLE)
    x = netdesc.check_input(net, np.zeros((2,) + net.input.shape, dtype=np.int64))
    vcd = tmp_path / "w.vcd"
    r = simulate_top(NetworkTop(net), x[:1], vcd=vcd, backend="compiled")
    text = vcd.read_text()
    assert "$timescale" in text and " clk " in text and "in0_valid" in text
    assert f"#{(r.total_cycles - 1) * 1000000 + 500000}" in text  # the last beat's edge, in ps
    stalled = tmp_path / "stalled.vcd"
    with pytest.raises(TailorError, match="stall"):
        simulate_top(NetworkTop(net, HwConfig(fifo_depths={"b1_add": 2})), x, vcd=stalled,
                     stall_cycles=500, backend="compiled")
    assert not stalled.exists() and list(tmp_path.iterdir()) == [vcd]


def test_fallback_to_pysim_says_why(monkeypatch):
    monkeypatch.setattr(compiled_sim, "unavailable_reason",
                        lambda: "no C++ compiler (as a test pretends)")
    with pytest.warns(UserWarning, match=r"Python simulator.*as a test pretends"):
        assert sim.choose_backend() == "pysim"
    with pytest.raises(TailorError, match="cannot be built here: no C\\+\\+ compiler"):
        sim.choose_backend("compiled")
    assert sim.choose_backend("pysim") == "pysim"
    with pytest.raises(ValueError, match="backend must be one of"):
        sim.choose_backend("verilator")
