# amaranth: UnusedElaboratable=no
"""MaxPoolEngine and GlobalAvgPoolEngine (built by rtl.engines.build_engine) against
netdesc.run: signed and unsigned, extremes, odd sizes, strides, padding, stalls, back-to-back
tensors; their timing models (rtl.timing_model.edges) against the simulation's transfer edges,
exact latencies and rates."""

import numpy as np
import pytest

import netdesc
from netdesc import TensorType
from netdesc.builder import NetBuilder
from rtl.engines import build_engine
from rtl.mac import MacBuild
from rtl.pool import GlobalAvgPoolEngine, MaxPoolEngine
from rtl.sim import simulate_component
from rtl.streams import beat_shape
from rtl.timing_model import edges


def pool_net(in_shape, in_type, op, **kwargs):
    b = NetBuilder("pool", in_shape, bits=in_type.bits, signed=in_type.signed, rng=0)
    if op == "max":
        b.maxpool("p", **kwargs)
    else:
        b.global_avg_pool("p", **kwargs)
    return b.build()


def check(net, xs, in_lanes=None, mac=MacBuild(), **gaps):
    """Simulate the engine of layer "p" (built as ``mac`` says) on ``xs`` (``in_lanes``
    channels per input beat, default all); compare with netdesc.run and the stamps with the
    timing model. Returns the engine, the simulation and the model's ``(accepted, produced)``
    edges."""
    layer = net.layer("p")
    engine = build_engine(net, layer, mac=mac, in_lanes=in_lanes)
    run = simulate_component(engine, xs, net.input.type, layer.shape, layer.type,
                             backend="pysim", **gaps)
    for x, y in zip(xs, run.outputs):
        np.testing.assert_array_equal(y, netdesc.run(net, x))
    accepted, produced = edges(engine, beat_shape(net.input.shape, in_lanes)[0],
                               beat_shape(layer.shape)[0],
                               tensors=len(xs), gaps=gaps.get("in_gaps"),
                               out_gaps=gaps.get("out_gaps"))
    assert run.input_stamps[0] == accepted
    assert run.output_stamps[0] == produced
    return engine, run, (accepted, produced)


def inputs(net, rng, count=2):
    t = net.input.type
    return [rng.integers(t.min, t.max + 1, size=net.input.shape) for _ in range(count)]


@pytest.mark.parametrize("in_shape, ttype, kernel, stride, padding", [
    ((2, 4, 6), TensorType(4, True), 2, 2, 0),
    ((2, 5, 7), TensorType(4, False), 2, 2, 0),   # odd sizes: the last row and column are dropped
    ((1, 5, 5), TensorType(3, True), 3, 2, 0),
    ((2, 4, 5), TensorType(5, True), 3, 1, 0),
    ((1, 3, 3), TensorType(4, False), 1, 1, 0),
    ((1, 2, 3), TensorType(4, True), 2, 1, 0),
    ((2, 8, 6), TensorType(4, True), 3, 2, 1),    # the ResNet-18 stem's pool
    ((2, 7, 5), TensorType(4, True), 3, 2, 1),    # odd sizes: every window edge meets padding
    ((1, 5, 6), TensorType(3, True), 3, 1, 1),
    ((2, 4, 5), TensorType(4, True), 2, 1, 1),    # even kernel: the output grows by one
    ((1, 5, 7), TensorType(4, False), 2, 2, 1),   # unsigned: the minimum is 0
    ((1, 4, 3), TensorType(4, True), 5, 1, 2),
    ((1, 1, 1), TensorType(4, True), 3, 1, 1),    # one pixel: every window is that pixel
])
def test_maxpool_matches_reference(in_shape, ttype, kernel, stride, padding, rng):
    net = pool_net(in_shape, ttype, "max", kernel=kernel, stride=stride, padding=padding)
    xs = inputs(net, rng) + [np.full(in_shape, ttype.min), np.full(in_shape, ttype.max)]
    engine, _, _ = check(net, xs)
    assert isinstance(engine, MaxPoolEngine)


def test_maxpool_padding_reads_as_the_minimum(rng):
    """On negative inputs the padded windows' maxima are negative: padding that read as 0
    would win them. Back to back, so the previous tensor's data must not leak in either."""
    ttype = TensorType(4, True)
    net = pool_net((2, 5, 5), ttype, "max", kernel=3, stride=2, padding=1)
    xs = [rng.integers(ttype.min, 0, size=(2, 5, 5)), np.full((2, 5, 5), ttype.max),
          np.full((2, 5, 5), -1), np.full((2, 5, 5), ttype.min)]
    _, run, _ = check(net, xs)
    assert (run.outputs[0] < 0).all()
    assert run.outputs[2].tolist() == [[[-1] * 3] * 3] * 2


def test_maxpool_with_stalls(rng, random_gaps):
    net = pool_net((2, 4, 6), TensorType(4, True), "max")
    check(net, inputs(net, rng), in_gaps=random_gaps(2, 24), out_gaps=random_gaps(2, 6))
    check(net, inputs(net, rng), in_gaps=random_gaps(2, 24, max_gap=6))  # a slow producer
    net = pool_net((2, 5, 6), TensorType(4, True), "max", kernel=3, stride=2, padding=1)
    check(net, inputs(net, rng), in_gaps=random_gaps(2, 30), out_gaps=random_gaps(2, 9))
    check(net, inputs(net, rng), in_gaps=random_gaps(2, 30, max_gap=6))


def test_maxpool_latency_and_rate(rng):
    """An idle engine: output j leaves 2 edges (window register, output register) after the
    input beat completing its window. Full rate: one output per step of the line buffer."""
    net = pool_net((1, 4, 6), TensorType(4, True), "max")
    _, _, (accepted, produced) = check(net, inputs(net, rng, 1), in_gaps=[[10] * 24])
    # 2x2 stride 2 on 4 x 6: windows end at rows 1, 3 and columns 1, 3, 5.
    needed = [8, 10, 12, 20, 22, 24]
    assert produced == [accepted[n - 1] + 2 for n in needed]
    # 3x3 stride 1 on a 5-wide map: one output per cycle within a row, 3 cycles between rows.
    net = pool_net((1, 4, 5), TensorType(4, True), "max", kernel=3, stride=1)
    _, run, _ = check(net, inputs(net, rng, 1))
    assert np.diff(run.output_stamps[0]).tolist() == [1, 1, 3, 1, 1]


@pytest.mark.parametrize("in_shape, ttype, out_type", [
    ((3, 3, 5), TensorType(4, True), TensorType(4, True)),
    ((2, 4, 4), TensorType(8, False), TensorType(8, False)),
    ((2, 1, 1), TensorType(3, True), TensorType(5, True)),
    ((1, 1, 1), TensorType(4, True), TensorType(4, True)),
    ((1, 3, 2), TensorType(5, False), TensorType(5, False)),
])
def test_global_avg_pool_matches_reference(in_shape, ttype, out_type, rng):
    net = pool_net(in_shape, ttype, "avg", bits=out_type.bits, signed=out_type.signed)
    xs = inputs(net, rng) + [np.full(in_shape, ttype.min), np.full(in_shape, ttype.max)]
    engine, _, _ = check(net, xs)
    assert isinstance(engine, GlobalAvgPoolEngine)


def test_global_avg_pool_multiplier_saturation_and_rounding(rng):
    """A multiplier of 3 and a shift that leaves halves: negative sums round half up, and the
    narrow output saturates at both ends."""
    net = pool_net((2, 2, 3), TensorType(4, True), "avg", bits=3, signed=True, shift=2)
    obj = netdesc.to_json_obj(net)
    obj["layers"][0]["multiplier"] = 3
    net = netdesc.parse(obj, source="<pool test>")
    t = net.input.type
    xs = [np.full(net.input.shape, t.min), np.full(net.input.shape, t.max),
          np.array([[[-1, 0, 0], [0, 0, 1]], [[-1, -1, 0], [0, 0, 0]]])] + inputs(net, rng)
    _, run, _ = check(net, xs)
    assert run.outputs[0].tolist() == [-4, -4] and run.outputs[1].tolist() == [3, 3]
    assert run.outputs[2].tolist() == [0, -1]  # round_shift(0, 2) and round_shift(-6, 2)


@pytest.mark.parametrize("registered", [False, True])
def test_global_avg_pool_timing(registered, rng, random_gaps):
    """One beat per cycle, then one cycle per channel to scale the sums (input waits), the
    last requantized while the next tensor's first beat comes in: one output per H*W + C
    cycles, leaving C + 2 edges after the last beat (registered: C + 3)."""
    mac = MacBuild(registered=registered)
    net = pool_net((2, 3, 3), TensorType(4, True), "avg")
    engine, run, (accepted, produced) = check(net, inputs(net, rng, 3), mac=mac)
    assert engine.cycles_per_output == 9 + 2
    assert accepted == [t * 11 + n for t in range(3) for n in range(9)]
    assert np.diff(run.output_stamps[0]).tolist() == [engine.cycles_per_output] * 2
    assert produced == [accepted[9 * t + 8] + 2 + 2 + registered for t in range(3)]
    check(net, inputs(net, rng), mac=mac, in_gaps=random_gaps(2, 9),
          out_gaps=random_gaps(2, 1))
    check(net, inputs(net, rng), mac=mac, in_gaps=random_gaps(2, 9, max_gap=10))
    # One channel of one pixel: the last lane's requantization meets the next tensor's beat
    # (registered: the next tensor's lane waits until the last one is in the output register).
    net = pool_net((1, 1, 1), TensorType(4, True), "avg")
    check(net, inputs(net, rng, 6), mac=mac, in_gaps=random_gaps(6, 1),
          out_gaps=random_gaps(6, 1))
    check(net, inputs(net, rng, 6), mac=mac, out_gaps=[[3]] * 6)


@pytest.mark.parametrize("in_shape, lanes", [((16, 2, 2), 1), ((4, 3, 5), 2), ((6, 1, 1), 3),
                                             ((3, 2, 3), 1)])
def test_global_avg_pool_reads_channel_groups(in_shape, lanes, rng, random_gaps):
    """Beats of ``lanes`` channels: the sums rotate a group per beat and meet their channels
    again; one beat per cycle, then a cycle per channel."""
    ttype = TensorType(5, True)
    net = pool_net(in_shape, ttype, "avg", bits=5, signed=True)
    xs = inputs(net, rng) + [np.full(in_shape, ttype.min), np.full(in_shape, ttype.max)]
    engine, _, (accepted, _) = check(net, xs, in_lanes=lanes)
    beats = in_shape[0] // lanes * in_shape[1] * in_shape[2]
    assert engine.cycles_per_output == beats + in_shape[0]
    assert accepted[:beats] == list(range(beats))
    check(net, inputs(net, rng), in_lanes=lanes, in_gaps=random_gaps(2, beats),
          out_gaps=random_gaps(2, 1))
