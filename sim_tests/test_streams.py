"""The stream helpers: payload packing, and put/get sustaining one beat per cycle."""

import numpy as np
from amaranth.lib import data as adata, fifo
from amaranth.sim import Simulator
from hypothesis import given, settings, strategies as st

from netdesc import TensorType
from rtl.streams import CycleCounter, get_pixels, pack, pixel_layout, put_pixels, unpack


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 12), st.booleans(), st.integers(1, 5), st.data())
def test_pack_unpack_roundtrip(bits, is_signed, channels, data):
    t = TensorType(bits, is_signed)
    values = data.draw(st.lists(st.integers(t.min, t.max), min_size=channels, max_size=channels))
    raw = pack(values, t)
    assert 0 <= raw < 1 << (bits * channels)
    assert unpack(raw, t, channels) == values
    # The layout agrees with pack: element i of the View is values[i].
    assert list(adata.Const(pixel_layout(t, channels), raw)) == values


def test_pack_rejects_out_of_range():
    import pytest
    with pytest.raises(ValueError, match="outside s4"):
        pack([8], TensorType(4, True))


def test_put_get_full_rate_through_fifo():
    t = TensorType(5, True)
    x = np.random.default_rng(1).integers(t.min, t.max + 1, size=(3, 4, 5))
    dut = fifo.SyncFIFOBuffered(width=3 * 5, depth=4)
    top = CycleCounter(dut)
    put_stamps, get_stamps, result = [], [], {}

    async def producer(ctx):
        await put_pixels(ctx, dut.w_stream, x, t, cycle=top.cycle, stamps=put_stamps)

    async def consumer(ctx):
        result["y"] = await get_pixels(ctx, dut.r_stream, x.shape, t, cycle=top.cycle, stamps=get_stamps)

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    sim.add_testbench(consumer)
    sim.run()
    assert np.array_equal(result["y"], x)
    beats = 4 * 5
    assert put_stamps == list(range(beats))
    assert np.diff(get_stamps).tolist() == [1] * (beats - 1)
