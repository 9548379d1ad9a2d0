# amaranth: UnusedElaboratable=no
"""DenseEngine against netdesc.run: feature-map input (H*W beats, C, H, W flattening order) and
vector input (one beat), every parallelism regime, saturation, stalls, back-to-back tensors,
timing attributes and the exact timing model against simulation."""

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import netdesc
from netdesc import TensorType
from netdesc.builder import NetBuilder
from rtl.dense import DenseEngine
from rtl.sim import simulate_component
from common.errors import TailorError


def dense_net(in_shape, out_features, *, in_type=TensorType(4, True), weight_bits=5,
              out_type=TensorType(6, True), relu=False, shift=None, rng=0, after_pool=False):
    """A dense layer on a feature map, or (``after_pool``) on the [C] vector of a pooling."""
    b = NetBuilder("dense", in_shape, bits=in_type.bits, signed=in_type.signed, rng=rng)
    if after_pool:
        b.global_avg_pool("g", bits=in_type.bits, signed=in_type.signed)
    b.dense("d", out_features, weight_bits=weight_bits, relu=relu, bits=out_type.bits,
            signed=out_type.signed, shift=shift)
    return b.build()


def check(net, parallelism, xs, **gaps):
    """Simulate the dense layer on ``xs`` (the network inputs); compare with netdesc.run."""
    layer = net.layer("d")
    engine = DenseEngine(net, layer, parallelism=parallelism)
    ref = [netdesc.run(net, x, all_outputs=True) for x in xs]
    ins = [r[layer.inputs[0]] for r in ref]
    run = simulate_component(engine, ins, engine.in_type, layer.shape, layer.type, **gaps)
    for r, y in zip(ref, run.outputs):
        np.testing.assert_array_equal(y, r["d"])
    accepted, produced = engine.timing(len(xs), gaps.get("in_gaps"))
    if "out_gaps" not in gaps:
        assert run.input_stamps[0] == accepted
        assert run.output_stamps[0] == produced
    return engine, run


def inputs(net, rng, count=2):
    t = net.input.type
    return [rng.integers(t.min, t.max + 1, size=net.input.shape) for _ in range(count)]


@pytest.mark.parametrize("in_shape, o, par", [
    ((3, 3, 4), 5, 1),
    ((3, 3, 4), 5, 2),     # partial output parallel, 3 groups
    ((3, 3, 4), 5, 5),     # all outputs, one channel each per cycle
    ((3, 3, 4), 5, 10),    # 3 x 3 grid: 2 groups, a whole beat per cycle each
    ((3, 3, 4), 5, 15),    # a whole beat per cycle
    ((2, 1, 1), 3, 6),     # a 1x1 map: one beat
])
def test_feature_map_input(in_shape, o, par, rng):
    net = dense_net(in_shape, o, rng=1)
    check(net, par, inputs(net, rng))


@pytest.mark.parametrize("par", [1, 4, 21])
def test_vector_input(par, rng):
    net = dense_net((7, 2, 3), 3, rng=2, after_pool=True, in_type=TensorType(5, False),
                    out_type=TensorType(4, False), relu=True)
    engine, run = check(net, par, inputs(net, rng))
    assert engine.beats == 1 and engine.input_beats_needed(0) == 1


def test_saturation_and_extremes(rng):
    net = dense_net((2, 2, 3), 6, rng=3, shift=0, out_type=TensorType(3, True))
    t = net.input.type
    _, run = check(net, 3, [np.full(net.input.shape, t.max), np.full(net.input.shape, t.min)])
    out = net.layer("d").type
    both = np.concatenate(run.outputs)
    assert both.max() == out.max and both.min() == out.min


def test_stalls_and_slow_producer(rng, random_gaps):
    net = dense_net((2, 3, 3), 4, rng=4)
    check(net, 2, inputs(net, rng), in_gaps=random_gaps(2, 9), out_gaps=random_gaps(2, 1))
    check(net, 2, inputs(net, rng), in_gaps=random_gaps(2, 9, max_gap=10))


@settings(max_examples=8, deadline=None)
@given(c=st.integers(1, 3), h=st.integers(1, 3), w=st.integers(1, 3), o=st.integers(1, 4),
       data=st.data())
def test_random_layers(c, h, w, o, data):
    par = data.draw(st.integers(1, o * c))
    net = dense_net((c, h, w), o, rng=data.draw(st.integers(0, 99)),
                    in_type=TensorType(data.draw(st.integers(2, 5)), data.draw(st.booleans())))
    check(net, par, inputs(net, np.random.default_rng(data.draw(st.integers(0, 99)))))


def test_timing_attributes_against_simulation(rng):
    net = dense_net((2, 2, 3), 3, rng=5)
    engine = DenseEngine(net, net.layer("d"), parallelism=2)
    assert engine.cycles_per_output == 6 * 3  # 6 beats x 3 groups of one lane taking 2 channels
    assert engine.input_beats_needed(0) == 6
    # A full-rate producer: the engine takes a beat every schedule.cycles cycles.
    _, run = check(net, 2, inputs(net, rng, 3))
    assert np.diff(run.output_stamps[0]).tolist() == [engine.cycles_per_output] * 2
    # An idle engine: output follows the last beat by exactly `latency`.
    _, run = check(net, 2, inputs(net, rng, 2), in_gaps=[[0] * 5 + [40]] * 2)
    for t in range(2):
        assert run.output_stamps[0][t] == run.input_stamps[0][6 * t + 5] + engine.latency


def test_rejects_bad_parallelism():
    net = dense_net((3, 2, 2), 4)
    with pytest.raises(TailorError, match=r"^<builder dense>: layer 'd': parallelism must be an "
                                          r"integer in 1\.\.12 \(4 outputs x 3 MACs each\), not 13"):
        DenseEngine(net, net.layer("d"), parallelism=13)
    pooled = dense_net((3, 2, 2), 4, after_pool=True)
    with pytest.raises(TailorError, match="DenseEngine implements dense, not global_avg_pool"):
        DenseEngine(pooled, pooled.layer("g"))
