# amaranth: UnusedElaboratable=no
"""MaxPoolEngine and GlobalAvgPoolEngine against netdesc.run: signed and unsigned, extremes,
odd sizes, strides, stalls, back-to-back tensors, timing attributes and model."""

import numpy as np
import pytest

import netdesc
from netdesc import TensorType
from netdesc.builder import NetBuilder
from rtl.pool import GlobalAvgPoolEngine, MaxPoolEngine
from rtl.sim import simulate_component
from common.errors import TailorError


def pool_net(in_shape, in_type, op, **kwargs):
    b = NetBuilder("pool", in_shape, bits=in_type.bits, signed=in_type.signed, rng=0)
    if op == "max":
        b.maxpool("p", **kwargs)
    else:
        b.global_avg_pool("p", **kwargs)
    return b.build()


def check(net, engine, xs, **gaps):
    layer = net.layer("p")
    run = simulate_component(engine, xs, net.input.type, layer.shape, layer.type, **gaps)
    for x, y in zip(xs, run.outputs):
        np.testing.assert_array_equal(y, netdesc.run(net, x))
    accepted, produced = engine.timing(len(xs), gaps.get("in_gaps"))
    if "out_gaps" not in gaps:
        assert run.input_stamps[0] == accepted
        assert run.output_stamps[0] == produced
    return run


def inputs(net, rng, count=2):
    t = net.input.type
    return [rng.integers(t.min, t.max + 1, size=net.input.shape) for _ in range(count)]


@pytest.mark.parametrize("in_shape, ttype, kernel, stride", [
    ((2, 4, 6), TensorType(4, True), 2, 2),
    ((2, 5, 7), TensorType(4, False), 2, 2),   # odd sizes: the last row and column are dropped
    ((1, 5, 5), TensorType(3, True), 3, 2),
    ((2, 4, 5), TensorType(5, True), 3, 1),
    ((1, 3, 3), TensorType(4, False), 1, 1),
    ((1, 2, 3), TensorType(4, True), 2, 1),
])
def test_maxpool_matches_reference(in_shape, ttype, kernel, stride, rng):
    net = pool_net(in_shape, ttype, "max", kernel=kernel, stride=stride)
    xs = inputs(net, rng) + [np.full(in_shape, ttype.min), np.full(in_shape, ttype.max)]
    check(net, MaxPoolEngine(net, net.layer("p")), xs)


def test_maxpool_with_stalls(rng, random_gaps):
    net = pool_net((2, 4, 6), TensorType(4, True), "max")
    check(net, MaxPoolEngine(net, net.layer("p")), inputs(net, rng),
          in_gaps=random_gaps(2, 24), out_gaps=random_gaps(2, 6))


def test_maxpool_timing_attributes(rng):
    net = pool_net((1, 4, 6), TensorType(4, True), "max")
    engine = MaxPoolEngine(net, net.layer("p"))
    idle = 10
    run = check(net, engine, inputs(net, rng, 1), in_gaps=[[idle] * 24])
    for j, produced in enumerate(run.output_stamps[0]):
        assert produced == run.input_stamps[0][engine.input_beats_needed(j) - 1] + engine.latency
    assert [engine.input_beats_needed(j) for j in range(6)] == [8, 10, 12, 20, 22, 24]
    # Full rate: 3x3 stride 1 on a 5-wide map gives one output per cycle within a row.
    net = pool_net((1, 4, 5), TensorType(4, True), "max", kernel=3, stride=1)
    run = check(net, MaxPoolEngine(net, net.layer("p")), inputs(net, rng, 1))
    assert np.diff(run.output_stamps[0]).tolist() == [1, 1, 3, 1, 1]


@pytest.mark.parametrize("in_shape, ttype, out_type", [
    ((3, 3, 5), TensorType(4, True), TensorType(4, True)),
    ((2, 4, 4), TensorType(8, False), TensorType(8, False)),
    ((2, 1, 1), TensorType(3, True), TensorType(5, True)),
])
def test_global_avg_pool_matches_reference(in_shape, ttype, out_type, rng):
    net = pool_net(in_shape, ttype, "avg", bits=out_type.bits, signed=out_type.signed)
    xs = inputs(net, rng) + [np.full(in_shape, ttype.min), np.full(in_shape, ttype.max)]
    check(net, GlobalAvgPoolEngine(net, net.layer("p")), xs)


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
    run = check(net, GlobalAvgPoolEngine(net, net.layer("p")), xs)
    assert run.outputs[0].tolist() == [-4, -4] and run.outputs[1].tolist() == [3, 3]
    assert run.outputs[2].tolist() == [0, -1]  # round_shift(0, 2) and round_shift(-6, 2)


def test_global_avg_pool_timing(rng, random_gaps):
    net = pool_net((2, 3, 3), TensorType(4, True), "avg")
    engine = GlobalAvgPoolEngine(net, net.layer("p"))
    run = check(net, engine, inputs(net, rng, 3))
    assert np.diff(run.output_stamps[0]).tolist() == [engine.cycles_per_output] * 2
    assert run.output_stamps[0][0] == run.input_stamps[0][engine.input_beats_needed(0) - 1] + engine.latency
    check(net, engine, inputs(net, rng), in_gaps=random_gaps(2, 9), out_gaps=random_gaps(2, 1))


def test_rejects_other_ops():
    net = pool_net((1, 4, 4), TensorType(4, True), "max")
    with pytest.raises(TailorError, match="GlobalAvgPoolEngine implements global_avg_pool, not maxpool2d"):
        GlobalAvgPoolEngine(net, net.layer("p"))
    b = NetBuilder("conv", (1, 4, 4))
    b.conv("c", 1)
    conv = b.build()
    with pytest.raises(TailorError, match="MaxPoolEngine implements maxpool2d, not conv2d"):
        MaxPoolEngine(conv, conv.layer("c"))
