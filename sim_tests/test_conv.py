# amaranth: UnusedElaboratable=no
"""The conv2d engines, ConvEngine and FoldedConvEngine (built from single-layer netdescs), against
netdesc.run: random and edge inputs, every parallelism regime, strides, paddings, odd sizes,
stalls, two tensors back to back; their timing models (rtl.timing_model.edges) against the
simulation's transfer edges, exact latencies and steady-state rates; which engine
rtl.engines.build_engine picks; parallelism errors; the folded engine's streams in channel
groups."""

import gc

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

import netdesc
from netdesc import TensorType
from netdesc.builder import NetBuilder
from netdesc.errors import NetdescError
from rtl.conv import ConvEngine
from rtl.engines import build_engine, conv2d_parameters, folds
from rtl.folded_conv import FoldedConvEngine
from rtl.mac import MacBuild, MacSchedule
from rtl.sim import simulate_component
from rtl.streams import beat_shape
from rtl.timing_model import edges


def conv_net(in_shape, out_channels, k, s, p, *, in_type=TensorType(4, True), weight_bits=4,
             out_type=TensorType(5, True), relu=False, shift=None, rng=0, weights=None,
             bias=True):
    """A one-conv netdesc; ``weights`` (an ``[O, I, k, k]`` array) replaces the random ones."""
    b = NetBuilder("conv", in_shape, bits=in_type.bits, signed=in_type.signed, rng=rng)
    b.conv("c", out_channels, kernel=k, stride=s, padding=p, weight_bits=weight_bits,
           relu=relu, bits=out_type.bits, signed=out_type.signed, shift=shift, bias=bias)
    if weights is None:
        return b.build()
    obj = netdesc.to_json_obj(b.build())
    obj["layers"][0]["weights"] = np.asarray(weights).tolist()
    return netdesc.parse(obj, source="<conv test>")


def check(net, parallelism, xs, engine=None, mac=MacBuild(), lanes=None, **gaps):
    """Simulate, compare every output with netdesc.run and the stamps with the timing model.
    ``engine``: the engine class (default: build_engine's choice); ``mac``: how its MAC array
    is built; ``lanes``: the folded engine's channel groups (``in_lanes``, ``grouped_output``).
    Returns the engine, the simulation and the model's ``(accepted, produced)`` edges."""
    layer = net.layer("c")
    if engine is None:
        engine = build_engine(net, layer, parallelism, mac)
    else:
        engine = engine(**conv2d_parameters(net, layer, parallelism, mac), **(lanes or {}))
    run = simulate_component(engine, xs, engine.in_type, layer.shape, layer.type,
                             backend="pysim", **gaps)
    for x, y in zip(xs, run.outputs):
        np.testing.assert_array_equal(y, netdesc.run(net, x))
    in_lanes, out_lanes = (getattr(engine, n, None) for n in ("in_lanes", "out_lanes"))
    accepted, produced = edges(engine, beat_shape(net.input.shape, in_lanes)[0],
                               beat_shape(layer.shape, out_lanes)[0],
                               tensors=len(xs), gaps=gaps.get("in_gaps"),
                               out_gaps=gaps.get("out_gaps"))
    assert run.input_stamps[0] == accepted
    assert run.output_stamps[0] == produced
    return engine, run, (accepted, produced)


def random_inputs(net, rng, count=2):
    t = net.input.type
    return [rng.integers(t.min, t.max + 1, size=net.input.shape) for _ in range(count)]


# in_shape, out_channels, kernel, stride, padding, parallelism
CASES = [
    ((2, 5, 7), 3, 3, 1, 1, 1),        # one MAC per cycle
    ((2, 5, 7), 3, 3, 1, 1, 2),        # 1 x 2 grid: 3 channel groups x 9 operand chunks
    ((2, 5, 7), 3, 3, 1, 1, 3),        # all output channels, one operand each
    ((2, 5, 7), 4, 3, 1, 1, 6),        # 2 x 3 grid: 2 groups x 6 chunks
    ((2, 5, 7), 3, 3, 1, 1, 12),       # channels x 4 operands per cycle
    ((2, 5, 7), 3, 3, 1, 1, 54),       # the whole window in one cycle
    ((2, 5, 7), 2, 3, 2, 1, 2),        # stride 2 with padding, odd sizes
    ((1, 6, 6), 2, 3, 2, 1, 18),       # stride 2, even size, full parallelism
    ((2, 5, 6), 2, 3, 1, 0, 4),        # no padding
    ((1, 4, 5), 2, 3, 2, 2, 3),        # padding k-1 with stride 2
    ((3, 4, 5), 4, 1, 1, 0, 4),        # 1x1
    ((3, 5, 5), 2, 1, 2, 0, 6),        # 1x1 stride 2 (a projection)
    ((2, 4, 6), 3, 1, 2, 0, 3),        # 1x1 stride 2 on an even size: input after the last output
    ((1, 4, 4), 2, 5, 1, 2, 7),        # kernel 5
    ((2, 3, 1), 2, 3, 1, 1, 5),        # a single column
]


CASES += [
    ((16, 2, 2), 16, 3, 1, 1, 1),      # b3_conv1 of the digits demo at one MAC per cycle
    ((3, 5, 7), 5, 3, 1, 1, 2),        # parallelism dividing neither channel count
    ((1, 2, 2), 2, 3, 1, 2, 1),        # padding k-1 on an image smaller than the kernel
]


def one_operand_per_cycle(o, c, k, par):
    return MacSchedule.choose(o, c * k * k, par).lanes_in == 1


@pytest.mark.parametrize("engine, in_shape, o, k, s, p, par", (
    [(ConvEngine, *case) for case in CASES] +
    # The folded engine reads one operand per cycle.
    [(FoldedConvEngine, *case) for case in CASES if one_operand_per_cycle(case[1], case[0][0],
                                                                           case[2], case[5])]))
def test_matches_reference(engine, in_shape, o, k, s, p, par, rng):
    net = conv_net(in_shape, o, k, s, p, rng=1)
    check(net, par, random_inputs(net, rng, 3), engine)


def test_unsigned_input_relu_output(rng):
    net = conv_net((2, 5, 7), 3, 3, 1, 1, in_type=TensorType(4, False),
                   out_type=TensorType(4, False), relu=True, rng=2)
    check(net, 3, random_inputs(net, rng))


def test_saturation_at_both_ends_and_extreme_inputs():
    """All-max and all-min inputs through weights of all-max / all-min / alternating sign, with
    a shift of 0: outputs pin at both ends of the type; the accumulator's worst case is hit."""
    c, o, k = 2, 4, 3
    w = np.zeros((o, c, k, k), dtype=np.int64)
    w[0], w[1] = 7, -8
    w[2] = np.where(np.arange(c * k * k).reshape(c, k, k) % 2, 7, -8)
    w[3, 0, 1, 1] = 1
    net = conv_net((c, 5, 7), o, k, 1, 1, weights=w, shift=0, bias=False)
    t = net.input.type
    xs = [np.full(net.input.shape, t.max), np.full(net.input.shape, t.min)]
    _, run, _ = check(net, 4, xs)
    out = net.layer("c").type
    assert run.outputs[0][0].max() == out.max and run.outputs[0][1].min() == out.min
    assert run.outputs[1][0].min() == out.min and run.outputs[1][1].max() == out.max


def test_negative_rounding():
    """A shift of 1 on odd accumulators of both signs: halves round up (-1.5 -> -1)."""
    w = np.zeros((2, 1, 1, 1), dtype=np.int64)
    w[0], w[1] = 1, -1
    net = conv_net((1, 3, 4), 2, 1, 1, 0, weights=w, shift=1, bias=False,
                   out_type=TensorType(8, True))
    x = np.arange(-6, 6).reshape(1, 3, 4)
    _, run, _ = check(net, 2, [x])
    assert run.outputs[0][1].ravel().tolist() == [int(np.floor((-v + 1) / 2)) for v in range(-6, 6)]


@pytest.mark.parametrize("registered", [False, True])
@pytest.mark.parametrize("engine", [ConvEngine, FoldedConvEngine])
def test_stalls_on_both_sides(engine, registered, rng, random_gaps):
    net = conv_net((2, 5, 7), 2, 3, 2, 1, rng=3)
    outs = beat_shape(net.layer("c").shape)[0]
    check(net, 2, random_inputs(net, rng), engine, MacBuild(registered=registered),
          in_gaps=random_gaps(2, 35), out_gaps=random_gaps(2, outs))


@pytest.mark.parametrize("engine", [ConvEngine, FoldedConvEngine])
def test_timing_model_with_a_slow_producer(engine, rng, random_gaps):
    net = conv_net((2, 4, 5), 2, 3, 1, 1, rng=4)
    check(net, 1, random_inputs(net, rng), engine, in_gaps=random_gaps(2, 20, max_gap=12))


@settings(max_examples=25, deadline=None)
@given(c=st.integers(1, 2), h=st.integers(1, 5), w=st.integers(1, 5), o=st.integers(1, 3),
       k=st.integers(1, 3), s=st.integers(1, 2), data=st.data())
def test_random_layers(c, h, w, o, k, s, data):
    p = data.draw(st.integers(max(0, (k - min(h, w) + 1) // 2), k - 1))
    par = data.draw(st.integers(1, o * c * k * k))
    net = conv_net((c, h, w), o, k, s, p, rng=data.draw(st.integers(0, 99)),
                   in_type=TensorType(data.draw(st.integers(2, 5)), data.draw(st.booleans())))
    xs = random_inputs(net, np.random.default_rng(data.draw(st.integers(0, 99))))
    mac = MacBuild(registered=data.draw(st.booleans()))
    check(net, par, xs, ConvEngine, mac)
    if one_operand_per_cycle(o, c, k, par):
        check(net, par, xs, FoldedConvEngine, mac)


@pytest.mark.parametrize("registered", [False, True])
def test_latency_of_an_idle_engine(registered, rng):
    """Each beat offered only long after the engine went idle: output j comes exactly
    ``cycles_per_output + 1 + pipeline_latency`` edges (window register, the MAC cycles, the
    pipeline's stages) plus its padding steps after the input beat completing its window, or
    ``cycles_per_output`` after output j-1 when one beat completes several windows."""
    net = conv_net((1, 4, 5), 2, 3, 2, 1, rng=5)
    idle = 3 * 18 + 20  # 18 MAC cycles per window: the engine is long idle
    engine, _, (accepted, produced) = check(net, 1, random_inputs(net, rng, 1), ConvEngine,
                                            MacBuild(registered=registered),
                                            in_gaps=[[idle] * 20])
    assert engine.pipeline.mac.pipeline_latency(products=1) == (9 if registered else 3)
    latency = engine.cycles_per_output + 1 + engine.pipeline.pipeline_latency
    # Per output (2 x 3): the input beats up to its window's last pixel (rows 0-1 or 0-3,
    # columns up to 1, 3, 4) and the padding steps after that beat completing the window
    # (right-padding windows complete one step after their last beat, interior ones at it).
    steps = [(7, 0), (9, 0), (10, 1), (17, 0), (19, 0), (20, 1)]
    for j, (beats, pads) in enumerate(steps):
        ready = accepted[beats - 1] + latency + pads
        if j:
            ready = max(ready, produced[j - 1] + engine.cycles_per_output)
        assert produced[j] == ready


def test_cycles_per_output_in_steady_state(rng):
    """Full-rate input, 2 steps between windows, 9 cycles per window: the MAC array is the
    bottleneck and outputs of a row come exactly cycles_per_output apart."""
    net = conv_net((1, 4, 7), 2, 3, 2, 1, rng=6)
    engine, run, _ = check(net, 2, random_inputs(net, rng, 1), ConvEngine)
    assert engine.cycles_per_output == 9
    per_row = net.layer("c").shape[2]
    gaps = np.diff(run.output_stamps[0]).reshape(-1)
    within_rows = [g for n, g in enumerate(gaps) if (n + 1) % per_row]
    assert within_rows == [engine.cycles_per_output] * len(within_rows)


def test_input_beats_needed(rng):
    """A producer slower than the engine: output (r, c) leaves after the beats of input rows up
    to r+1 and columns up to c+1 (capped at the image), and before the next beat."""
    net = conv_net((1, 5, 7), 1, 3, 1, 1)
    idle = 3 * 9 + 20  # longer than a window's latency and the MAC cycles of two windows
    _, _, (accepted, produced) = check(net, 1, random_inputs(net, rng, 1), ConvEngine,
                                       in_gaps=[[idle] * 35])
    expected = [min(r + 1, 4) * 7 + min(c + 2, 7) if r + 1 < 5 else 5 * 7
                for r in range(5) for c in range(7)]
    assert [sum(a < t for a in accepted) for t in produced] == expected


@pytest.mark.filterwarnings("error::amaranth.hdl.UnusedElaboratable")
@pytest.mark.parametrize("par, message", [
    (0, r"parallelism must be an integer in 1\.\.54 \(3 outputs x 18 MACs each\), not 0"),
    (55, r"parallelism must be an integer in 1\.\.54 \(3 outputs x 18 MACs each\), not 55"),
])
def test_rejects_bad_parallelism(par, message):
    """One line naming file and layer, before any engine exists (none is left unelaborated)."""
    net = conv_net((2, 5, 7), 3, 3, 1, 1)
    with pytest.raises(NetdescError, match=r"^<builder conv>: layer 'c': " + message + "$"):
        build_engine(net, net.layer("c"), par)
    gc.collect()  # an engine built and dropped would warn here, an error under this filter



@pytest.mark.parametrize("engine, par", [(ConvEngine, 6), (FoldedConvEngine, 2)])
@pytest.mark.parametrize("in_type, registered", [(TensorType(5, True), False),
                                                 (TensorType(5, False), True)])
def test_logic_multipliers(engine, par, in_type, registered, rng):
    """MAC arrays built from adders (no DSP blocks): the extremes of signed and unsigned
    operands against the extremes of the weights, and random data."""
    c, o, k = 2, 2, 3
    w = np.zeros((o, c, k, k), dtype=np.int64)
    w[0], w[1] = 7, -8
    net = conv_net((c, 4, 5), o, k, 1, 1, in_type=in_type, weights=w, shift=0, bias=False,
                   out_type=TensorType(12, True))
    t = net.input.type
    xs = [np.full(net.input.shape, t.min), np.full(net.input.shape, t.max)]
    xs += random_inputs(net, rng)
    params = conv2d_parameters(net, net.layer("c"), par,
                               MacBuild(logic_multipliers=True, registered=registered))
    run = simulate_component(engine(**params), xs, in_type, net.layer("c").shape,
                             net.layer("c").type, backend="pysim")
    for x, y in zip(xs, run.outputs):
        np.testing.assert_array_equal(y, netdesc.run(net, x))


def test_folded_latency_of_an_idle_engine(rng):
    """Each beat offered long after the engine went idle: a window is handed to the MAC
    pipeline in the cycle after the beat of its last real pixel, and its output follows
    ``cycles_per_output + pipeline_latency`` edges later, or ``cycles_per_output`` after the
    previous output when one beat completes several windows."""
    net = conv_net((2, 4, 5), 2, 3, 2, 1, rng=5)
    idle = 3 * 36 + 20  # 36 MAC cycles per window: the engine is long idle
    engine, _, (accepted, produced) = check(net, 1, random_inputs(net, rng, 1), FoldedConvEngine,
                                            in_gaps=[[idle] * 20])
    ring = engine.ring
    for j, (r, c) in enumerate((r, c) for r in range(ring.out_height)
                               for c in range(ring.out_width)):
        last_pixel = (r * 2 - 1 + ring.needed_row(r)) * 5 + ring.needed_col(c)
        ready = (accepted[last_pixel] + 1 + engine.cycles_per_output
                 + engine.pipeline.pipeline_latency)
        if j:
            ready = max(ready, produced[j - 1] + engine.cycles_per_output)
        assert produced[j] == ready


def test_folded_writes_a_pixel_in_c_cycles_and_skips_unread_ones(rng):
    """A 1x1 stride-2 conv on 3 channels: a pixel some window reads is taken after its 3
    elements are written, one per cycle; a pixel the stride skips in one cycle."""
    net = conv_net((3, 4, 4), 2, 1, 2, 0, rng=6)
    engine, run, _ = check(net, 1, random_inputs(net, rng, 1), FoldedConvEngine)
    read = [y % 2 == 0 and x % 2 == 0 for y in range(4) for x in range(4)]
    assert engine.write_cycles == 4 * 3 + 12
    takes = np.diff([-1] + run.input_stamps[0])
    # The first row: nothing blocks the writer yet.
    assert takes[:4].tolist() == [3 if r else 1 for r in read[:4]]


def test_folded_steady_state_is_the_mac_array(rng):
    """Input at full rate: the MAC array is the bottleneck, outputs come exactly
    cycles_per_output apart, within rows and across them (the writer fills the next rows
    meanwhile)."""
    net = conv_net((2, 6, 5), 3, 3, 1, 1, rng=7)
    engine, run, _ = check(net, 3, random_inputs(net, rng, 2), FoldedConvEngine)
    assert engine.cycles_per_output == 18
    gaps = np.diff(run.output_stamps[0]).reshape(-1)
    assert gaps.tolist() == [engine.cycles_per_output] * len(gaps)


@pytest.mark.parametrize("in_shape, o, k, s, p, par, folded", [
    ((16, 2, 2), 16, 3, 1, 1, 1, True),     # one MAC per cycle
    ((16, 8, 8), 16, 3, 1, 1, 16, True),    # all output channels, one operand each
    ((16, 8, 8), 16, 3, 1, 1, 32, False),   # two operands per cycle need the window register
    ((8, 8, 8), 16, 1, 2, 0, 4, False),     # 1x1: the window is one pixel, registers are smaller
    ((8, 4, 4), 4, 3, 2, 1, 4, True),       # 3x3 stride 2: 9 x 8 MAC cycles per 4 pixels written
    ((1, 5, 5), 1, 2, 2, 0, 1, False),      # 2x2 stride 2, one channel: 25 writes, 16 MAC cycles
])
def test_folds_when_it_is_no_slower(in_shape, o, k, s, p, par, folded):
    assert folds(in_shape, k, s, p, MacSchedule.choose(o, in_shape[0] * k * k, par)) == folded


def test_a_1x1_conv_folds_on_channel_groups():
    """A whole pixel is a 1x1 window already; a pixel in groups would have to be assembled."""
    schedule = MacSchedule.choose(16, 8, 4)
    assert not folds((8, 8, 8), 1, 2, 0, schedule)
    assert folds((8, 8, 8), 1, 2, 0, schedule, in_lanes=2)
    assert not folds((8, 8, 8), 1, 2, 0, MacSchedule.choose(16, 8, 32), in_lanes=2)


# in_shape, out_channels, kernel, stride, padding, parallelism, input lanes
GROUPED_CASES = [
    ((16, 2, 2), 16, 3, 1, 1, 1, 1),   # b3_conv1 of the digits demo, a channel per beat
    ((2, 5, 7), 3, 3, 1, 1, 1, 1),     # three output groups of one
    ((4, 5, 7), 4, 3, 2, 1, 2, 2),     # stride 2, odd sizes, groups of two on both sides
    ((6, 4, 5), 6, 3, 1, 1, 3, 3),     # groups of three
    ((3, 5, 6), 2, 3, 2, 0, 1, 1),     # no padding: the last row and column are never read
    ((3, 4, 4), 2, 1, 2, 0, 1, 1),     # 1x1 stride 2: skipped pixels take a cycle per beat
    ((2, 1, 1), 4, 3, 1, 1, 2, 1),     # a one-pixel image, output groups of two
]


@pytest.mark.parametrize("registered", [False, True])
@pytest.mark.parametrize("in_shape, o, k, s, p, par, in_lanes", GROUPED_CASES)
def test_folded_streams_in_channel_groups(in_shape, o, k, s, p, par, in_lanes, registered, rng):
    """Input beats of ``in_lanes`` channels, an output beat per group of the MAC array's
    lanes: the same tensors as the reference, the timing model's edges."""
    net = conv_net(in_shape, o, k, s, p, rng=8)
    t = net.input.type
    xs = random_inputs(net, rng) + [np.full(in_shape, t.min), np.full(in_shape, t.max)]
    engine, run, _ = check(net, par, xs, FoldedConvEngine, MacBuild(registered=registered),
                           lanes={"in_lanes": in_lanes, "grouped_output": True})
    assert (engine.in_lanes, engine.out_lanes) == (in_lanes, engine.schedule.lanes_out)


def test_folded_channel_groups_with_stalls(rng, random_gaps):
    net = conv_net((4, 5, 7), 4, 3, 2, 1, rng=9)
    lanes = {"in_lanes": 2, "grouped_output": True}
    check(net, 2, random_inputs(net, rng), FoldedConvEngine, lanes=lanes,
          in_gaps=random_gaps(2, 70), out_gaps=random_gaps(2, 24))
    check(net, 2, random_inputs(net, rng), FoldedConvEngine, lanes=lanes,
          in_gaps=random_gaps(2, 70, max_gap=12))


def test_folded_writes_a_beat_per_cycle_of_skipped_pixels(rng):
    """Groups of one channel: a read pixel takes its 3 elements, one beat per cycle; a pixel
    the stride skips takes its 3 beats in 3 cycles."""
    net = conv_net((3, 4, 4), 2, 1, 2, 0, rng=6)
    engine, run, _ = check(net, 1, random_inputs(net, rng, 1), FoldedConvEngine,
                           lanes={"in_lanes": 1})
    assert engine.write_cycles == 4 * 3 + 12 * 3
    assert np.diff(run.input_stamps[0][:12]).tolist() == [1] * 11


@pytest.mark.parametrize("in_shape, o, k, par, lanes, message", [
    ((4, 3, 3), 4, 3, 1, {"in_lanes": 3}, "input groups of 3 do not divide 4 channels"),
    ((1, 3, 3), 3, 1, 2, {"grouped_output": True}, "output groups of 2 do not divide 3 channels"),
])
def test_channel_groups_must_divide_the_channels(in_shape, o, k, par, lanes, message):
    net = conv_net(in_shape, o, k, 1, k // 2)
    with pytest.raises(ValueError, match=message):
        FoldedConvEngine(**conv2d_parameters(net, net.layer("c"), par), **lanes)
