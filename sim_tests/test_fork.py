"""Fork: every consumer gets every beat in order, one slow consumer delays nobody needlessly."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from netdesc import TensorType
from rtl.fork import Fork
from rtl.streams import CycleCounter, get_pixels, pixel_layout, put_pixels

# Components built only to inspect them (or rejected by their constructor) are never
# elaborated; Amaranth's warning about that is expected here.
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

T = TensorType(5, True)


def _simulate(n, x, get_gaps):
    """Feed ``x`` into an ``n``-way fork; consumer k waits ``get_gaps[k][j]`` cycles before
    beat j. Returns the tensors received and each consumer's transfer stamps."""
    dut = Fork(pixel_layout(T, x.shape[0]), n)
    top = CycleCounter(dut)
    out, stamps = {}, [[] for _ in range(n)]

    async def producer(ctx):
        await put_pixels(ctx, dut.i, x, T)

    def consumer(k):
        async def run(ctx):
            got = []
            for j in range(x.shape[1] * x.shape[2]):
                if get_gaps[k][j]:
                    await ctx.tick().repeat(int(get_gaps[k][j]))
                got.append(await get_pixels(ctx, dut.o[k], [x.shape[0]], T, cycle=top.cycle,
                                            stamps=stamps[k]))
            out[k] = np.array(got).T.reshape(x.shape)
        return run

    sim = Simulator(top)
    sim.add_clock(1e-6)
    sim.add_testbench(producer)
    for k in range(n):
        sim.add_testbench(consumer(k))
    sim.run()
    return [out[k] for k in range(n)], stamps


@pytest.mark.parametrize("n", [2, 3])
def test_every_consumer_gets_every_beat_under_random_backpressure(n):
    rng = np.random.default_rng(n)
    x = rng.integers(T.min, T.max + 1, size=(2, 5, 6))
    gaps = rng.integers(0, 4, size=(n, 30)) * (rng.random((n, 30)) < 0.5)
    outs, _ = _simulate(n, x, gaps)
    for y in outs:
        np.testing.assert_array_equal(y, x)


def test_one_slow_consumer():
    """Consumer 1 takes a beat every 3rd cycle; consumer 0 is never more than one beat ahead
    of it (the fork holds one beat) and the pair runs at the slow consumer's rate."""
    x = np.random.default_rng(7).integers(T.min, T.max + 1, size=(3, 4, 4))
    gaps = np.zeros((2, 16), dtype=int)
    gaps[1, 1:] = 2
    outs, stamps = _simulate(2, x, gaps)
    for y in outs:
        np.testing.assert_array_equal(y, x)
    fast, slow = stamps
    assert np.diff(slow).tolist() == [3] * 15
    # The fast consumer takes beat j in the cycle after the slow one took beat j-1.
    assert fast[0] == slow[0] and [f - s for f, s in zip(fast[1:], slow[:-1])] == [1] * 15


def test_full_rate():
    x = np.random.default_rng(3).integers(T.min, T.max + 1, size=(1, 3, 5))
    outs, stamps = _simulate(3, x, np.zeros((3, 15), dtype=int))
    for y, s in zip(outs, stamps):
        np.testing.assert_array_equal(y, x)
        assert np.diff(s).tolist() == [1] * 14


def test_needs_two_outputs():
    with pytest.raises(ValueError, match="at least 2 outputs, not 1"):
        Fork(8, 1)
