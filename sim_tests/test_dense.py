# amaranth: UnusedElaboratable=no
"""DenseEngine (built by rtl.engines.build_engine) against netdesc.run: feature-map input (H*W
beats, C, H, W flattening order) and vector input (one beat), every parallelism regime,
saturation, stalls, back-to-back tensors; its timing model (rtl.timing_model.edges) against the
simulation's transfer edges, exact latency and rate; parallelism errors."""

import gc

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import netdesc
from netdesc import TensorType
from netdesc.builder import NetBuilder
from netdesc.errors import NetdescError
from rtl.engines import build_engine
from rtl.mac import MacBuild
from rtl.sim import simulate_component
from rtl.streams import beat_shape
from rtl.timing_model import edges
from rtl.block_rom import bank_words


def dense_net(in_shape, out_features, *, in_type=TensorType(4, True), weight_bits=5,
              out_type=TensorType(6, True), relu=False, shift=None, rng=0, after_pool=False):
    """A dense layer on a feature map, or (``after_pool``) on the [C] vector of a pooling."""
    b = NetBuilder("dense", in_shape, bits=in_type.bits, signed=in_type.signed, rng=rng)
    if after_pool:
        b.global_avg_pool("g", bits=in_type.bits, signed=in_type.signed)
    b.dense("d", out_features, weight_bits=weight_bits, relu=relu, bits=out_type.bits,
            signed=out_type.signed, shift=shift)
    return b.build()


def check(net, parallelism, xs, mac=MacBuild(), **gaps):
    """Simulate the dense layer on ``xs`` (the network inputs); compare with netdesc.run and
    the stamps with the timing model. Returns the engine, the simulation and the model's
    ``(accepted, produced)`` edges."""
    layer = net.layer("d")
    engine = build_engine(net, layer, parallelism, mac)
    ref = [netdesc.run(net, x, all_outputs=True) for x in xs]
    ins = [r[layer.inputs[0]] for r in ref]
    run = simulate_component(engine, ins, engine.in_type, layer.shape, layer.type,
                             backend="pysim", **gaps)
    for r, y in zip(ref, run.outputs):
        np.testing.assert_array_equal(y, r["d"])
    in_shape = net.shape_of(layer.inputs[0])
    accepted, produced = edges(engine, beat_shape(in_shape)[0], beat_shape(layer.shape)[0],
                               tensors=len(xs), gaps=gaps.get("in_gaps"),
                               out_gaps=gaps.get("out_gaps"))
    assert run.input_stamps[0] == accepted
    assert run.output_stamps[0] == produced
    return engine, run, (accepted, produced)


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
    engine, _, (accepted, produced) = check(net, par, inputs(net, rng))
    assert engine.beats == 1 and len(accepted) == len(produced) == 2


def test_saturation_and_extremes(rng):
    net = dense_net((2, 2, 3), 6, rng=3, shift=0, out_type=TensorType(3, True))
    t = net.input.type
    _, run, _ = check(net, 3, [np.full(net.input.shape, t.max), np.full(net.input.shape, t.min)])
    out = net.layer("d").type
    both = np.concatenate(run.outputs)
    assert both.max() == out.max and both.min() == out.min


@pytest.mark.parametrize("registered", [False, True])
def test_stalls_and_slow_producer(registered, rng, random_gaps):
    net = dense_net((2, 3, 3), 4, rng=4)
    mac = MacBuild(registered=registered)
    check(net, 2, inputs(net, rng), mac, in_gaps=random_gaps(2, 9), out_gaps=random_gaps(2, 1))
    check(net, 2, inputs(net, rng), mac, in_gaps=random_gaps(2, 9, max_gap=10))


@settings(max_examples=8, deadline=None)
@given(c=st.integers(1, 3), h=st.integers(1, 3), w=st.integers(1, 3), o=st.integers(1, 4),
       data=st.data())
def test_random_layers(c, h, w, o, data):
    par = data.draw(st.integers(1, o * c))
    net = dense_net((c, h, w), o, rng=data.draw(st.integers(0, 99)),
                    in_type=TensorType(data.draw(st.integers(2, 5)), data.draw(st.booleans())))
    check(net, par, inputs(net, np.random.default_rng(data.draw(st.integers(0, 99)))),
          MacBuild(registered=data.draw(st.booleans())))


def test_registered_weights_from_several_rom_banks(rng, random_gaps):
    """A weight ROM deeper than one block RAM (4,352 words of 8 bits: three banks of 2,048) read
    through its banks' registers on a registered build, from a slow producer: bit-exact, and
    the timing model still exact."""
    net = dense_net((8, 8, 4), 17, weight_bits=8, rng=4)
    engine, _, _ = check(net, 1, inputs(net, rng), MacBuild(registered=True),
                         in_gaps=random_gaps(2, 64))
    words = engine.pipeline.matrices.shape[0] * engine.pipeline.schedule.cycles
    assert words == 4352 and bank_words(8, words) == 2048


@pytest.mark.parametrize("registered", [False, True])
def test_rate_and_latency(registered, rng):
    net = dense_net((2, 2, 3), 3, rng=5)
    # 3 output groups of one lane taking both channels: 3 cycles per beat, 6 beats per output.
    cycles = 3
    mac = MacBuild(registered=registered)
    engine, run, _ = check(net, 2, inputs(net, rng, 3), mac)
    assert engine.cycles_per_output == 6 * cycles
    # A full-rate producer: the engine takes a beat every `cycles` cycles.
    assert np.diff(run.input_stamps[0]).tolist() == [cycles] * 17
    assert np.diff(run.output_stamps[0]).tolist() == [engine.cycles_per_output] * 2
    # An idle engine: output follows the tensor's last beat by `cycles` MAC cycles plus the
    # pipeline's stages (issue, the MAC array's if registered, accumulate, requantize into the
    # output register).
    _, run, (accepted, produced) = check(net, 2, inputs(net, rng, 2), mac,
                                         in_gaps=[[0] * 5 + [40]] * 2)
    for t in range(2):
        assert produced[t] == accepted[6 * t + 5] + cycles + engine.pipeline.pipeline_latency


@pytest.mark.filterwarnings("error::amaranth.hdl.UnusedElaboratable")
@pytest.mark.parametrize("par", [0, 13])
def test_rejects_bad_parallelism(par):
    net = dense_net((3, 2, 2), 4)
    with pytest.raises(NetdescError, match=r"^<builder dense>: layer 'd': parallelism must be an "
                                           rf"integer in 1\.\.12 \(4 outputs x 3 MACs each\), not {par}$"):
        build_engine(net, net.layer("d"), par)
    gc.collect()  # an engine built and dropped would warn here, an error under this filter
