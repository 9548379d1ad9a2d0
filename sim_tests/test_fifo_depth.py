"""The analysed skip FIFO depth is the minimum for full throughput, measured in RTL simulation:
that depth runs at the no-backpressure steady state, one beat less runs slower or deadlocks."""

from pathlib import Path

import numpy as np
import pytest

import netdesc
from netdesc.builder import NetBuilder
import rtl.engines
from rtl.folded_conv import FoldedConvEngine
from rtl.hwconfig import HwConfig
from rtl.network import NetworkTop
from rtl.sim import simulate
from common.errors import TailorError

# Components built only to inspect them (or rejected by their constructor) are never
# elaborated; Amaranth's warning about that is expected here.
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

COUNT = 3  # inferences back to back; the steady state is the last interval


def _long_skip():
    """An identity skip spanning two 3x3 convs: the bypass waits about two rows."""
    b = NetBuilder("long-skip", (2, 6, 6), rng=1)
    x = b.conv("stem", 3)
    y = b.conv("c1", 3, src=x)
    y = b.conv("c2", 3, src=y, relu=False, signed=True)
    b.add("add", y, x)
    return b.build()


def _projection_and_short_skips():
    """The bundled example: a long identity skip, then a stride-2 block with a 1x1 projection."""
    return netdesc.load(Path(__file__).parents[1] / "examples" / "small_resnet.json")


def _steady(net, x, depths):
    """Steady-state cycles in RTL simulation with every FIFO's depth fixed by ``depths``
    (``{Fifo.key: depth}``, :class:`rtl.plan.Fifo`; 0 removes a rate FIFO)."""
    hw = HwConfig(fifo_depths={k: d for k, d in depths.items() if "." not in k},
                  rate_fifo_depths={k: d for k, d in depths.items() if "." in k})
    return simulate(net, x, hw=hw, stall_cycles=3000).steady_state_cycles


@pytest.mark.parametrize("make", [_long_skip, _projection_and_short_skips])
def test_analysed_depths_are_minimal_for_full_throughput(make):
    net = make()
    x = np.random.default_rng(0).integers(0, 256, size=(COUNT,) + tuple(net.input.shape))
    report = NetworkTop(net).fifo_report
    assert {r.kind for r in report} >= {"skip"}
    analysed = {r.key: r.depth for r in report}
    # No backpressure from any FIFO: each holds more than it ever does when unbounded.
    unbounded = {r.key: r.feature_map_depth + r.max_occupancy + 1 for r in report}
    full_rate = _steady(net, x, unbounded)
    assert _steady(net, x, analysed) == full_rate
    for r in report:
        if r.kind == "skip" and r.depth == 1:
            continue  # a skip FIFO needs at least one entry; 1 is trivially minimal
        try:
            slower = _steady(net, x, dict(analysed, **{r.key: r.depth - 1}))
        except TailorError as e:  # deadlock, detected by the stall watchdog
            assert "stall" in str(e) and f"{r.name}." in str(e)
        else:
            assert slower > full_rate


def strided_chain():
    """A 3x3 stride-2 conv after a 3x3 conv."""
    b = NetBuilder("stride-2-chain", (2, 8, 8), rng=4)
    b.conv("c1", 4)
    b.conv("c2", 4, stride=2)
    return b.build()


def test_rate_fifo_decouples_a_stride_2_consumer(monkeypatch):
    """A 3x3 stride-2 conv after a conv of equal total MAC time, both with window registers
    (ConvEngine): without a FIFO between them they overlap only as far as c1's output queue
    lets c1 run ahead; the analysed rate FIFO brings back the bound."""
    monkeypatch.setattr(rtl.engines, "folds", lambda *args: False)
    net = strided_chain()
    hw = HwConfig(parallelism={"c1": 4, "c2": 2})  # 18 cycles per pixel on c1, 4 x 18 on c2
    top = NetworkTop(net, hw)
    bound = max(e.cycles_per_output * 64 // (4 if n == "c2" else 1) for n, e in top.engines.items())
    assert bound == 64 * 18
    r, = top.fifo_report
    assert (r.kind, r.name, r.key, r.reader) == ("rate", "rate_c2_i", "c2.i", "c2")
    x = np.random.default_rng(1).integers(0, 256, size=(COUNT, 2, 8, 8))
    with_fifo = simulate(net, x, hw=hw)
    np.testing.assert_array_equal(with_fifo.outputs, netdesc.run(net, x))
    assert with_fifo.steady_state_cycles <= 1.1 * bound
    without = simulate(net, x, hw=HwConfig(parallelism=hw.parallelism,
                                           rate_fifo_depths={"c2.i": 0}))
    assert without.steady_state_cycles > 1.2 * bound


def test_folded_stride_2_chain_meets_the_bound():
    """The same chain with folded engines (build_engine's choice at these parallelisms): its
    row ring absorbs part of the mismatch, and with the analysed FIFOs it runs at the bound."""
    net = strided_chain()
    hw = HwConfig(parallelism={"c1": 4, "c2": 2})
    top = NetworkTop(net, hw)
    assert all(isinstance(e, FoldedConvEngine) for e in top.engines.values())
    x = np.random.default_rng(2).integers(0, 256, size=(COUNT, 2, 8, 8))
    r = simulate(net, x, hw=hw)
    np.testing.assert_array_equal(r.outputs, netdesc.run(net, x))
    assert r.steady_state_cycles <= 1.1 * 64 * 18


def test_report_fields():
    net = _long_skip()
    report = NetworkTop(net, HwConfig(fifo_depths={"add": 50})).fifo_report
    r = next(r for r in report if r.kind == "skip")
    assert (r.add, r.tensor, r.reader, r.reader_input, r.name, r.key) == \
        ("add", "stem", "add", 1, "fifo_add", "add")
    assert r.depth == 50 and r.analysed_depth is None and r.feature_map_depth == 36
    assert r.beat_bits == 3 * 8 and r.bits == 50 * 24 and r.feature_map_bits == 36 * 24
    r = next(r for r in NetworkTop(net).fifo_report if r.kind == "skip")
    # The fill of two 3x3 line buffers (about two rows) bounds the depth from below.
    assert 2 * 6 <= r.analysed_depth == r.depth < r.feature_map_depth


def test_no_skips_no_report():
    b = NetBuilder("plain", (1, 4, 4), rng=0)
    b.conv("c1", 2)
    net = b.build()
    assert NetworkTop(net).fifo_report == []


def test_a_pinned_config_builds_the_same_fifos_without_the_model(monkeypatch, tmp_path):
    """``NetworkTop.hw`` pins every FIFO site's depth (rate sites without a FIFO at 0): saved
    and loaded, it builds the same FIFOs with no run of the timing model, and the same cycles."""
    import rtl.fifo_depth
    from rtl.hwconfig import load_hw, save_hw
    net = _projection_and_short_skips()
    top = NetworkTop(net)
    report = {f.name: f.depth for f in top.fifo_report}
    assert top.fifo_report and {f.kind for f in top.fifo_report} == {"skip", "rate"}
    assert set(top.hw.fifo_depths) == {f.add for f in top.fifo_report if f.kind == "skip"}
    assert 0 in top.hw.rate_fifo_depths.values()  # a rate site without a FIFO, pinned too
    save_hw(top.hw, tmp_path / "hw.json")

    def no_model(*args):
        raise AssertionError("the timing model ran")
    monkeypatch.setattr(rtl.fifo_depth, "last_beats", no_model)
    again = NetworkTop(net, load_hw(tmp_path / "hw.json", net))
    assert {f.name: f.depth for f in again.fifo_report} == report
    assert all(f.max_occupancy is None and f.analysed_depth is None for f in again.fifo_report)
    monkeypatch.undo()
    x = np.random.default_rng(1).integers(0, 256, size=(COUNT,) + tuple(net.input.shape))
    assert simulate(net, x, hw=again.hw).steady_state_cycles == \
        simulate(net, x).steady_state_cycles


def test_a_build_for_a_fast_clock_puts_a_fifo_before_every_engine_input_of_an_add():
    """Registered builds: every add input not fed by a skip FIFO reads from a rate FIFO of at
    least two beats (no ready passes through the add to its producer), still bit-exact and at
    the steady state of the build without them."""
    net = _projection_and_short_skips()
    x = np.random.default_rng(2).integers(0, 256, size=(COUNT,) + tuple(net.input.shape))
    fast = NetworkTop(net, HwConfig(registered_macs=True))
    plain = NetworkTop(net, HwConfig())
    ports = {(l.name, port) for l in net.layers if l.op == "add" for port in ("a", "b")}
    fifos = {(f.reader, f.port): f for f in fast.plan.fifos.values()}
    assert all(fifos[p].kind == "skip" or fifos[p].depth >= 2 for p in ports)
    assert any(fifos[p].kind == "rate" for p in ports)
    r = simulate(net, x, hw=fast.hw)
    np.testing.assert_array_equal(r.outputs, netdesc.run(net, x))
    assert r.steady_state_cycles == simulate(net, x, hw=plain.hw).steady_state_cycles
