"""The PE-array accelerator: its simulation equals netdesc.run bit for bit, its cycles equal
rtl.array_timing's count and its memory port's words rtl.array_traffic's, on the dataflow's
random networks, every array shape, memory and skip mode."""

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

import netdesc
from netdesc.builder import NetBuilder
from rtl.array_program import MEMORIES, SKIP_MODES, ArrayConfig, compile_program
from rtl.array_traffic import array_traffic
from rtl.pe_array import ArraySystem, ArrayTop
from rtl.sim import simulate_top
from rtl.streams import get_pixels, put_pixels
from test_network import (_inputs, dead_end, double_read, networks, plain_strided,  # noqa: I001
                          resnet18_stem)

pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

EXAMPLES = Path(__file__).parents[1] / "examples"

# (rows, cols): square, cols dividing rows, one row, and one MAC
SHAPES = [(4, 4), (4, 2), (3, 3), (2, 1), (1, 1), (8, 8)]


def _design(net, config, bandwidth=2, latency=3):
    top = ArrayTop(net, config)
    return ArraySystem(top, bandwidth, latency) if config.memory == "off_chip" else top


def _check(net, config, count=2, seed=0, bandwidth=2, latency=3):
    x = _inputs(net, count, np.random.default_rng(seed))
    dut = _design(net, config, bandwidth, latency)
    r = simulate_top(dut, netdesc.check_input(net, x))
    np.testing.assert_array_equal(r.outputs, netdesc.run(net, x))
    assert r.cycles_per_inference == dut.cycles.latency
    assert r.steady_state_cycles == dut.cycles.total
    return dut, r


@settings(max_examples=16, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(networks(), st.sampled_from(SHAPES), st.booleans(), st.sampled_from(MEMORIES),
       st.sampled_from(SKIP_MODES), st.sampled_from([(1, 1), (3, 2), (16, 9)]))
def test_random_networks_match_reference(net, shape, few_accumulators, memory, skips, port):
    # few accumulators: one output row per pixel tile, so every layer runs several pixel tiles
    widest = max(l.shape[2] if len(l.shape) == 3 else 1 for l in net.layers)
    config = ArrayConfig(*shape, accumulators=widest if few_accumulators else None,
                         memory=memory, skips=skips)
    _check(net, config, bandwidth=port[0], latency=port[1])


@pytest.mark.parametrize("skips", SKIP_MODES)
@pytest.mark.parametrize("bandwidth, latency", [(1, 1), (2, 7), (8, 2)])
def test_small_resnet_off_chip(skips, bandwidth, latency):
    _check(netdesc.load(EXAMPLES / "small_resnet.json"),
           ArrayConfig(4, 2, memory="off_chip", skips=skips), bandwidth=bandwidth,
           latency=latency)


@pytest.mark.parametrize("skips", SKIP_MODES)
def test_memory_port_moves_the_modelled_words(skips):
    """The off-chip memory's own counters after one inference equal the traffic model."""
    from amaranth.sim import Simulator

    net = netdesc.load(EXAMPLES / "small_resnet.json")
    system = _design(net, ArrayConfig(4, 4, memory="off_chip", skips=skips), 2, 4)
    x = _inputs(net, 1, np.random.default_rng(3))[0]
    counted = {}

    async def bench(ctx):
        await put_pixels(ctx, system.i, x, net.input.type)
        await get_pixels(ctx, system.o, net.output_layer.shape, net.output_layer.type)
        counted["reads"] = ctx.get(system.memory.reads)
        counted["writes"] = ctx.get(system.memory.writes)

    sim = Simulator(system)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    traffic = array_traffic(system.top.program)
    assert counted["reads"] * traffic.word_bytes == traffic.read > 0
    assert counted["writes"] * traffic.word_bytes == traffic.written > 0


def test_skip_modes_move_less_in_order():
    """Fusing saves the add's reads and the conv's write; holding saves the skip's spill and
    fetch; on chip, nothing moves."""
    net = netdesc.load(EXAMPLES / "resnet8_shaped.json")
    totals = {skips: array_traffic(compile_program(
        net, ArrayConfig(8, 8, memory="off_chip", skips=skips))).total for skips in SKIP_MODES}
    assert totals["separate"] > totals["fused"] > totals["hold"] > 0
    assert array_traffic(compile_program(net, ArrayConfig(8, 8))).total == 0


@pytest.mark.parametrize("shape", SHAPES)
def test_small_resnet_every_array_shape(shape):
    _check(netdesc.load(EXAMPLES / "small_resnet.json"), ArrayConfig(*shape), count=3, seed=1)


@pytest.mark.parametrize("make", [plain_strided, double_read, dead_end, resnet18_stem])
def test_special_networks(make):
    _check(make(), ArrayConfig(4, 2, accumulators=7))


def test_layers_the_output_does_not_need_get_no_step():
    program = compile_program(dead_end())
    assert [s.layer for s in program.steps] == ["c1", "c2"]


def test_resnet8_shaped_uses_its_macs():
    """ResNet-8-shaped on an 8x8 array with on-chip memory: every 3x3 conv keeps the MACs busy
    at least 80% of its cycles."""
    net = netdesc.load(EXAMPLES / "resnet8_shaped.json")
    top, _ = _check(net, ArrayConfig(8, 8), count=2)
    convs = [s for s in top.cycles.steps
             if s.op == "conv2d" and net.layer(s.layer).kernel == 3]
    assert convs and min(s.utilisation for s in convs) >= 0.8


def test_signed_wide_output_and_negative_weights_at_the_type_edges():
    """A signed 4-bit input at its extremes, a 16-bit signed output: lanes as wide as the widest
    tensor the array reads (the output has a memory of its own), read back signed or unsigned
    per tensor."""
    b = NetBuilder("edges", (3, 5, 4), bits=4, signed=True, rng=7)
    x = b.conv("c1", 5, stride=2, relu=False, signed=True)
    y = b.conv("c2", 5, kernel=1, padding=0, src=x, relu=True)
    b.add("j", y, x, shifts_in=(1, 0), shift=1, relu=False)
    b.global_avg_pool("gap")
    b.dense("fc", 3, bits=16)
    net = b.build()
    read = [net.input.type.bits] + [l.type.bits for l in net.layers if l.name != net.output]
    assert compile_program(net).lane_bits == max(read) < net.output_layer.type.bits
    for shape in [(2, 2), (4, 1)]:
        _check(net, ArrayConfig(*shape), count=3, seed=2)


def _saturation_net(d_bits):
    """Every signed 8-bit value once (a 16x16 image), through 1x1 convs of weight 1 and -1 into
    signed 4 bits with shift 2 (so that the accumulators meet the bounds before the shift,
    lo << 2 and (hi + 1) << 2, exactly and either side), and an add of shift 0 whose sums
    (with d at 8 bits) run past the 8-bit lanes into saturation. Results narrower than the
    lanes (every layer at 4 bits, or the fused add's) are sign-extended into them."""
    conv = {"op": "conv2d", "input": "input", "kernel": 1, "stride": 1, "padding": 0,
            "weight_bits": 8, "relu": False, "signed": True}
    return netdesc.parse({
        "format": "netdesc", "version": 1, "name": "saturation",
        "input": {"name": "input", "shape": [1, 16, 16], "bits": 8, "signed": True},
        "layers": [
            {**conv, "name": "c", "out_channels": 2, "weights": [[[[1]]], [[[-1]]]],
             "bias": [0, 0], "shift": 2, "bits": 4},
            {**conv, "name": "d", "out_channels": 2, "weights": [[[[1]]], [[[1]]]],
             "bias": [0, 0], "shift": 0, "bits": d_bits},
            {"op": "add", "name": "a", "inputs": ["c", "d"], "shifts_in": [0, 0], "shift": 0,
             "relu": False, "bits": 4, "signed": True}],
        "output": "a"})


@pytest.mark.parametrize("skips", SKIP_MODES)
@pytest.mark.parametrize("d_bits", [8, 4])
def test_requantization_at_the_saturation_bounds(skips, d_bits):
    net = _saturation_net(d_bits)
    x = np.arange(-128, 128).reshape(1, 1, 16, 16)
    dut = ArrayTop(net, ArrayConfig(2, 2, skips=skips))
    r = simulate_top(dut, netdesc.check_input(net, x))
    np.testing.assert_array_equal(r.outputs, netdesc.run(net, x))


@pytest.mark.parametrize("joint", [True, False])
def test_bias_words_with_the_tile_records_or_apart(monkeypatch, joint):
    """The bias words share the tile records' memory or have one of their own, whichever
    takes fewer block RAMs (forced both ways here); and weights split over several memories."""
    import rtl.pe_array as pe_array

    monkeypatch.setattr(pe_array, "_block_rams", (lambda depth, width: int(depth > 0)) if joint
                        else (lambda depth, width: depth * width))
    monkeypatch.setattr(pe_array, "FOLD_CHUNK", 16)
    _check(netdesc.load(EXAMPLES / "small_resnet.json"), ArrayConfig(4, 2, skips="fused"))


def test_accumulators_narrower_than_a_row_are_refused():
    net = netdesc.load(EXAMPLES / "small_resnet.json")
    with pytest.raises(netdesc.NetdescError, match="accumulators"):
        compile_program(net, ArrayConfig(4, 4, accumulators=7))


@pytest.mark.parametrize("config, rule", [
    (ArrayConfig(4, 3), "must divide rows"),
    (ArrayConfig(0, 1), "rows must be an integer"),
    (ArrayConfig(4, 4, accumulators=0), "accumulators must be an integer"),
])
def test_bad_array_shapes_are_refused(config, rule):
    with pytest.raises(netdesc.NetdescError, match=rule):
        compile_program(netdesc.load(EXAMPLES / "small_resnet.json"), config)
