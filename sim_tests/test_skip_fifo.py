"""SkipFifo: order under random backpressure, exact capacity, full rate, both storage styles."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from netdesc import TensorType
from rtl.skip_fifo import FifoModel, SkipFifo, output_registers, resolve_style
from rtl.timing_model import Stream
from rtl.streams import CycleCounter, get_pixels, pixel_layout, put_pixels

# Components built only to inspect them (or rejected by their constructor) are never
# elaborated; Amaranth's warning about that is expected here.
pytestmark = pytest.mark.filterwarnings("ignore::amaranth.hdl.UnusedElaboratable")

T = TensorType(6, True)


def _run(dut, testbenches, top=None):
    sim = Simulator(top or dut)
    sim.add_clock(1e-6)
    for tb in testbenches:
        sim.add_testbench(tb)
    sim.run()


@pytest.mark.parametrize("depth,style", [(1, "registers"), (3, "registers"), (5, "block"),
                                         (1, "block"), (40, "auto")])
def test_order_under_random_backpressure(depth, style):
    rng = np.random.default_rng(depth)
    x = rng.integers(T.min, T.max + 1, size=(3, 6, 7))
    x[:, 0, 0] = T.min
    x[:, 0, 1] = T.max
    dut = SkipFifo(pixel_layout(T, 3), depth, style)
    put_gaps = rng.integers(0, 4, size=42) * (rng.random(42) < 0.4)
    get_gaps = rng.integers(0, 5, size=42) * (rng.random(42) < 0.5)
    out = {}

    async def producer(ctx):
        pixels = x.reshape(3, -1).T
        for gap, p in zip(put_gaps, pixels):
            if gap:
                await ctx.tick().repeat(int(gap))
            await put_pixels(ctx, dut.i, p, T)

    async def consumer(ctx):
        got = []
        for gap in get_gaps:
            if gap:
                await ctx.tick().repeat(int(gap))
            got.append(await get_pixels(ctx, dut.o, [3], T))
        out["y"] = np.array(got).T.reshape(x.shape)

    _run(dut, [producer, consumer])
    np.testing.assert_array_equal(out["y"], x)


@pytest.mark.parametrize("depth,style", [(1, "registers"), (4, "registers"), (4, "block"),
                                         (20, "block")])
def test_capacity_and_full_rate(depth, style):
    """Exactly ``depth`` beats enter while the output is blocked; then one beat per cycle."""
    x = np.arange(2 * depth + 6).reshape(1, 1, -1) % 32
    t = TensorType(6, False)
    dut = SkipFifo(pixel_layout(t, 1), depth, style)
    top = CycleCounter(dut)
    put_stamps, get_stamps, out = [], [], {}

    async def producer(ctx):
        await put_pixels(ctx, dut.i, x, t, cycle=top.cycle, stamps=put_stamps)

    async def consumer(ctx):
        await ctx.tick().repeat(3 * depth + 5)
        out["y"] = await get_pixels(ctx, dut.o, x.shape, t, cycle=top.cycle, stamps=get_stamps)

    _run(dut, [producer, consumer], top)
    np.testing.assert_array_equal(out["y"], x)
    assert put_stamps[:depth] == list(range(depth))  # fills at full rate
    assert put_stamps[depth] > 3 * depth  # the next beat waits for the first read
    if depth > 1:  # one beat per cycle out; beats in keep up once space frees
        assert np.diff(get_stamps).tolist() == [1] * (len(x.ravel()) - 1)
        assert put_stamps[depth] == get_stamps[0] + 1


@pytest.mark.parametrize("style,registered,latency", [("registers", False, 1),
                                                      ("block", False, 1), ("block", True, 2)])
def test_latency_when_empty(style, registered, latency):
    t = TensorType(4, False)
    dut = SkipFifo(pixel_layout(t, 2), 8, style, registered)
    top = CycleCounter(dut)
    put_stamps, get_stamps, out = [], [], {}
    x = np.array([[[1, 15, 0, 7]], [[3, 0, 15, 2]]])

    async def producer(ctx):
        await put_pixels(ctx, dut.i, x, t, cycle=top.cycle, stamps=put_stamps)

    async def consumer(ctx):
        out["y"] = await get_pixels(ctx, dut.o, x.shape, t, cycle=top.cycle, stamps=get_stamps)

    _run(dut, [producer, consumer], top)
    np.testing.assert_array_equal(out["y"], x)
    assert get_stamps == [s + latency for s in put_stamps]


def test_parameters_validated():
    with pytest.raises(ValueError, match="depth must be a positive integer, not 0"):
        SkipFifo(8, 0)
    with pytest.raises(ValueError, match="depth must be a positive integer, not 2.5"):
        SkipFifo(8, 2.5)
    with pytest.raises(ValueError, match="memory style must be one of auto, block, registers"):
        SkipFifo(8, 4, "lutram")
    assert resolve_style("auto", 16) == "registers"
    assert resolve_style("auto", 17) == "block"


@pytest.mark.parametrize("depth,style", [(3, "block"), (20, "auto"), (40, "block")])
def test_registered_queue_keeps_order_and_matches_its_model(depth, style):
    """A block-RAM queue with output registers, driven with random valids and readies: the
    beats leave in order, and every cycle's ``i.ready`` / ``o.valid`` are those of its
    FifoModel."""
    rng = np.random.default_rng(depth)
    t = TensorType(6, True)
    dut = SkipFifo(pixel_layout(t, 2), depth, style, registered=True)
    assert dut.output_registers == 2
    i, o = Stream("i"), Stream("o")
    model = FifoModel(i, o, depth, dut.output_registers)
    cycles = 6 * depth + 40
    valids = rng.random(cycles) < 0.7
    readies = np.concatenate([np.zeros(depth + 4, bool), rng.random(cycles - depth - 4) < 0.5])
    beats = rng.integers(t.min, t.max + 1, size=(cycles, 2))
    sent, got = [], []

    async def bench(ctx):
        n = 0
        for cycle in range(cycles):
            ctx.set(dut.i.valid, bool(valids[cycle]))
            ctx.set(dut.i.payload, [int(v) for v in beats[n]])
            ctx.set(dut.o.ready, bool(readies[cycle]))
            i.valid, o.ready = bool(valids[cycle]), bool(readies[cycle])
            model.forward()
            model.backward()
            i_ready, o_valid = ctx.get(dut.i.ready), ctx.get(dut.o.valid)
            assert (i_ready, o_valid) == (i.ready, o.valid), f"cycle {cycle}"
            if o_valid and readies[cycle]:
                got.append([int(v) for v in ctx.get(dut.o.payload)])
            if valids[cycle] and i_ready:
                sent.append(beats[n].tolist())
                n += 1
            model.update()
            await ctx.tick()

    _run(dut, [bench])
    assert got and got == sent[:len(got)]


def test_output_registers_only_behind_block_ram():
    assert output_registers("auto", 17, True) == 2
    assert output_registers("auto", 16, True) == 0  # registers already
    assert output_registers("block", 2, True) == 0  # nothing before the registers
    assert output_registers("block", 40, False) == 0
