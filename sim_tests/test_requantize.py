# amaranth: UnusedElaboratable=no
"""Requantizer against netdesc.requantize: random values, both saturation ends, negative
rounding, ReLU, shift 0 and shifts beyond the accumulator width; with the rounding constant
added ahead (``rounded``, as the MAC pipelines do) too."""

import pytest
from amaranth.hdl import Value
from amaranth.sim import Simulator
from hypothesis import given, settings, strategies as st

from netdesc import TensorType, requantize
from netdesc.arith import rounding_constant, signed_bits_for
from rtl.requantize import Requantizer
from rtl.streams import pack, unpack


def run_requantizer(acc_width, shift, ttype, relu, values, lanes=2, rounded=False):
    """Drive ``values`` through a ``lanes``-wide requantizer, ``lanes`` per step; return outputs.
    ``rounded``: the requantizer takes each value plus the rounding constant, as wide as the
    range of ``acc_width`` bits shifted by it demands."""
    if rounded:
        half = rounding_constant(shift)
        values = [v + half for v in values]
        acc_width = signed_bits_for(-(1 << (acc_width - 1)) + half, (1 << (acc_width - 1)) - 1 + half)
    dut = Requantizer(acc_width, shift, ttype, relu, lanes=lanes, rounded=rounded)
    acc_type = TensorType(acc_width, True)
    padded = list(values) + [0] * (-len(values) % lanes)
    out = []

    async def bench(ctx):
        for n in range(0, len(padded), lanes):
            ctx.set(Value.cast(dut.i), pack(padded[n:n + lanes], acc_type))
            out.extend(unpack(ctx.get(Value.cast(dut.o)), ttype, lanes))

    sim = Simulator(dut)
    sim.add_testbench(bench)
    sim.run()
    return out[:len(values)]


def edge_values(acc_width, shift, ttype, relu):
    lo, hi = -(1 << (acc_width - 1)), (1 << (acc_width - 1)) - 1
    vals = {lo, lo + 1, hi, hi - 1, 0, 1, -1}
    half = (1 << shift) >> 1
    if shift:
        # Exactly half-way points on both sides of zero, and one either side of them.
        for base in (half, -half, 3 * half, -3 * half):
            vals.update({base - 1, base, base + 1})
    # The accumulators that round onto the saturation bounds, and one either side of them.
    low = max(ttype.min, 0) if relu else ttype.min
    for base in ((low << shift) - half, ((ttype.max + 1) << shift) - half):
        vals.update({base - 1, base, base + 1})
    return sorted(v for v in vals if lo <= v <= hi)


@settings(max_examples=40, deadline=None)
@given(acc_width=st.integers(2, 40), shift=st.integers(0, 45), bits=st.integers(1, 16),
       is_signed=st.booleans(), relu=st.booleans(), rounded=st.booleans(), data=st.data())
def test_matches_reference(acc_width, shift, bits, is_signed, relu, rounded, data):
    ttype = TensorType(bits, is_signed)
    lo, hi = -(1 << (acc_width - 1)), (1 << (acc_width - 1)) - 1
    values = edge_values(acc_width, shift, ttype, relu) + data.draw(st.lists(st.integers(lo, hi), max_size=12))
    got = run_requantizer(acc_width, shift, ttype, relu, values, rounded=rounded)
    assert got == [requantize(v, shift, ttype, relu) for v in values]


def test_negative_rounds_half_up_and_saturates_both_ends():
    t = TensorType(4, True)
    values = [-3, -5, -4, 3, 5, -1000, 1000, -17, -15]
    got = run_requantizer(12, 1, t, False, values, lanes=3)
    assert got == [requantize(v, 1, t) for v in values]
    assert got[:2] == [-1, -2]  # round_shift(-3, 1) == -1, round_shift(-5, 1) == -2
    assert got[5:7] == [t.min, t.max]


@pytest.mark.parametrize("rounded", [False, True])
def test_maximum_shift(rounded):
    t = TensorType(8, True)
    values = [-(1 << 63), -(1 << 61), (1 << 61) - 1, (1 << 61), (1 << 63) - 1]
    assert run_requantizer(64, 62, t, False, values, rounded=rounded) == \
        [requantize(v, 62, t) for v in values]


@pytest.mark.parametrize("kwargs, message", [
    (dict(acc_width=0, shift=0), "acc_width must be at least 1, not 0"),
    (dict(acc_width=8, shift=63), "shift must be in 0..62, not 63"),
    (dict(acc_width=8, shift=0, lanes=0), "lanes must be at least 1, not 0"),
])
def test_rejects_bad_parameters(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Requantizer(ttype=TensorType(8, False), **kwargs)
