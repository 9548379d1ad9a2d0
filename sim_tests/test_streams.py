"""The stream helpers: payload packing, and put/get sustaining one beat per cycle."""

import numpy as np
import pytest
from amaranth.lib import data as adata, fifo
from amaranth.sim import Simulator
from hypothesis import given, settings, strategies as st

from netdesc import TensorType
from rtl.sim import simulate_component
from rtl.streams import (CycleCounter, beat_shape, from_beats, get_pixels, pack, pixel_layout,
                         put_pixels, stream_get, stream_put, to_beats, unpack)


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


def test_channel_groups_follow_each_other_within_a_pixel():
    t = TensorType(4, True)
    x = np.arange(-6, 6).reshape(4, 1, 3)  # 4 channels of 3 pixels
    beats = to_beats(x, t, 2)
    assert beat_shape(x.shape, 2) == (6, 2)
    assert [unpack(r, t, 2) for r in beats] == [[-6, -3], [0, 3], [-5, -2], [1, 4], [-4, -1],
                                                [2, 5]]
    np.testing.assert_array_equal(from_beats(beats, x.shape, t, 2), x)
    np.testing.assert_array_equal(from_beats(to_beats(x, t), x.shape, t), x)
    with pytest.raises(ValueError, match="groups of 3 do not divide 4 channels"):
        beat_shape(x.shape, 3)


def test_pack_rejects_out_of_range():
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


def test_single_beat_helpers():
    dut = fifo.SyncFIFOBuffered(width=8, depth=2)
    got = []

    async def bench(ctx):
        await stream_put(ctx, dut.w_stream, 0xA5)
        await stream_put(ctx, dut.w_stream, 0x3C)
        got.append(await stream_get(ctx, dut.r_stream))
        got.append(await stream_get(ctx, dut.r_stream))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got == [0xA5, 0x3C]


def test_simulate_vectors_and_slow_consumer(rng, random_gaps):
    """[N] tensors travel as one beat; a stalling consumer loses nothing."""
    t = TensorType(6, False)
    dut = fifo.SyncFIFOBuffered(width=4 * 6, depth=2)
    dut.i, dut.o = dut.w_stream, dut.r_stream
    xs = [rng.integers(0, 64, size=4) for _ in range(5)]
    run = simulate_component(dut, xs, t, (4,), t, out_gaps=random_gaps(5, 1, max_gap=4),
                             backend="pysim")
    assert [y.tolist() for y in run.outputs] == [x.tolist() for x in xs]
    assert len(run.input_stamps[0]) == len(run.output_stamps[0]) == 5
