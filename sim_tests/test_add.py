"""AddEngine (built by rtl.engines.build_engine) against NETDESC's add: shifts, saturation at
both ends, relu, negative rounding; one pixel per cycle, latency 1 (2 registered); the timing
model's edges under random stalls."""

import numpy as np
import pytest

import netdesc
from netdesc.builder import NetBuilder
from rtl.add import AddEngine
from rtl.engines import build_engine
from rtl.mac import MacBuild
from rtl.sim import StreamPort, run_streams
from rtl.timing_model import Model, Sink, Source


def _net(ta, tb, shifts_in, shift, relu, out_bits, out_signed, channels=3, size=(4, 5)):
    b = NetBuilder("add-test", (channels,) + size, rng=0)
    b.conv("a", channels, kernel=1, bits=ta[0], signed=ta[1], relu=False, src="input")
    b.conv("b", channels, kernel=1, bits=tb[0], signed=tb[1], relu=False, src="input")
    b.add("y", "a", "b", shifts_in=shifts_in, shift=shift, relu=relu, bits=out_bits,
          signed=out_signed)
    return b.build()


def _inputs(t, shape, rng, count):
    x = rng.integers(t.min, t.max + 1, size=(count,) + shape)
    x[0, :, 0, 0] = t.min  # the extremes of the type, both ends
    x[0, :, 0, 1] = t.max
    return x


def _expected(net, a, b):
    layer = net.layer("y")
    la, lb = layer.shifts_in
    return netdesc.requantize((a << la) + (b << lb), layer.shift, layer.type, layer.relu)


CASES = [
    # (a type, b type, shifts_in, shift, relu, out bits, out signed)
    ((8, True), (8, True), (0, 0), 1, False, 8, True),    # negative halves round up
    ((6, True), (5, False), (1, 2), 3, True, 4, False),   # relu, saturation high
    ((8, True), (8, True), (0, 0), 0, False, 4, True),    # saturation at both ends, no shift
    ((4, False), (7, True), (3, 0), 2, False, 5, True),
    ((8, False), (8, False), (0, 0), 1, True, 8, False),  # the plain ResNet case
]


@pytest.mark.parametrize("registered", [False, True])
@pytest.mark.parametrize("case", CASES)
def test_add_matches_reference(case, registered):
    net = _net(*case)
    layer = net.layer("y")
    rng = np.random.default_rng(sum(case[2]) + case[3])
    ta, tb = net.type_of("a"), net.type_of("b")
    a = _inputs(ta, layer.shape, rng, 2)
    b = _inputs(tb, layer.shape, rng, 2)
    b[0, :, 0, 0] = tb.min
    b[0, :, 0, 1] = tb.max
    dut = build_engine(net, layer, mac=MacBuild(registered=registered))
    assert isinstance(dut, AddEngine) and dut.registered == registered
    r = run_streams(dut, [StreamPort(dut.a, layer.shape, ta, "a"), StreamPort(dut.b, layer.shape, tb, "b")],
                    [StreamPort(dut.o, layer.shape, layer.type, "o")], [list(a), list(b)], 2,
                    backend="pysim")
    expected = _expected(net, a, b)
    np.testing.assert_array_equal(r.outputs, expected)
    # Both extremes of the output type must actually be exercised by these inputs.
    lo = max(layer.type.min, 0) if layer.relu else layer.type.min
    assert (expected == lo).any() and (expected == layer.type.max).any()
    # One pixel per cycle, latency 1 (2 registered).
    beats, latency = 2 * layer.shape[1] * layer.shape[2], 1 + registered
    assert r.output_stamps[0] == [s + latency for s in r.input_stamps[0]]
    assert r.total_cycles == beats + latency


@pytest.mark.parametrize("registered", [False, True])
def test_stalls_on_all_sides_follow_the_timing_model(registered, rng, random_gaps):
    """Both inputs and the output stalled at random: the results still exact, and every beat
    moved at the edge the timing model gives (the plan sizes the FIFOs with it)."""
    net = _net(*CASES[1])
    layer = net.layer("y")
    ta, tb = net.type_of("a"), net.type_of("b")
    count, beats = 3, layer.shape[1] * layer.shape[2]
    a, b = _inputs(ta, layer.shape, rng, count), _inputs(tb, layer.shape, rng, count)
    gaps = {name: random_gaps(count, beats) for name in "abo"}
    dut = build_engine(net, layer, mac=MacBuild(registered=registered))
    r = run_streams(dut, [StreamPort(dut.a, layer.shape, ta, "a", gaps["a"]),
                          StreamPort(dut.b, layer.shape, tb, "b", gaps["b"])],
                    [StreamPort(dut.o, layer.shape, layer.type, "o", gaps["o"])],
                    [list(a), list(b)], count, backend="pysim")
    np.testing.assert_array_equal(r.outputs, _expected(net, a, b))

    model = Model()
    sa, sb, so = model.stream("a"), model.stream("b"), model.stream("o")
    flat = {name: [g for tensor in gaps[name] for g in tensor] for name in gaps}
    sources = [Source(sa, count * beats, flat["a"]), Source(sb, count * beats, flat["b"])]
    sink = Sink(so, flat["o"])
    model.add(*sources)
    dut.timing_model(model, [sa, sb], [so])
    model.add(sink)
    model.run(sink, count * beats)
    assert [s.stamps for s in sources] == r.input_stamps[:2]
    assert sink.stamps == r.output_stamps[0]


def test_negative_rounding_exact():
    """-3 / 2 rounds half up to -1, -5 / 4 rounds to -1, -6 / 4 to -1 (half up), -7/4 to -2."""
    net = _net((8, True), (8, True), (0, 0), 2, False, 8, True, channels=1, size=(1, 4))
    layer = net.layer("y")
    a = np.array([[[[-3, -5, -6, -7]]]])
    b = np.zeros_like(a)
    dut = build_engine(net, layer)
    assert isinstance(dut, AddEngine)
    r = run_streams(dut, [StreamPort(dut.a, layer.shape, layer.type, "a"),
                          StreamPort(dut.b, layer.shape, layer.type, "b")],
                    [StreamPort(dut.o, layer.shape, layer.type, "o")], [list(a), list(b)], 1,
                    backend="pysim")
    np.testing.assert_array_equal(r.outputs, _expected(net, a, b))
    assert r.outputs.ravel().tolist() == [-1, -1, -1, -2]

