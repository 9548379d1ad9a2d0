"""Activation streams: the payload layout every engine speaks, and the testbench helpers.

A beat carries a *channel group* of one pixel: ``lanes`` consecutive channels, ``lanes``
dividing the channel count ``C``. Pixels come in raster order (rows, then columns), each as
``C / lanes`` beats, channels ``[j*lanes, (j+1)*lanes)`` in beat ``j``; ``lanes = C`` (one
pixel per beat) is the format of the accelerator's own ports and of every stream whose ends do
not both work a group at a time (:func:`rtl.plan.stream_lanes`). A tensor of shape ``[N]``
(a global_avg_pool or dense output) travels as one beat of ``N`` elements, a 1x1 map with
``N`` channels. Element ``i`` of a beat occupies payload bits ``[i*bits, (i+1)*bits)``, two's
complement when the type is signed.

The async helpers here are the one Python implementation of stream driving, used by the
project's simulation tests and by the public simulation API's pysim backend; the compiled
backend's C++ testbench (``rtl/sim_harness.cpp``) follows the same rules, cycle for cycle. They transfer one beat per cycle when the
other side never stalls, so full-rate designs can be measured with them:
``stream_put`` raises ``valid`` in the same simulation step in which the previous transfer
completed, and ``stream_get`` keeps ``ready`` high across back-to-back calls the same way.

Cycle stamps: wrap the design under test in :class:`CycleCounter` and pass its ``cycle`` signal
to :func:`put_pixels` / :func:`get_pixels` to record, for each beat, the index of the clock edge
at which it was transferred (edge 0 is the first edge of the simulation).
"""

import numpy as np
from amaranth.hdl import Elaboratable, Module, Signal, Value, signed, unsigned
from amaranth.lib import data, stream

__all__ = [
    "pixel_layout", "pixel_signature", "pack", "unpack", "stream_put", "stream_get",
    "put_pixels", "get_pixels", "to_beats", "from_beats", "beat_shape", "CycleCounter",
]


def pixel_layout(ttype, channels):
    """The payload of one beat: ``channels`` elements of ``ttype`` (a pixel's channels, or a
    group of them)."""
    return data.ArrayLayout(signed(ttype.bits) if ttype.signed else unsigned(ttype.bits), channels)


def pixel_signature(ttype, channels):
    """A valid/ready stream of :func:`pixel_layout` beats."""
    return stream.Signature(pixel_layout(ttype, channels))


def pack(values, ttype):
    """Channel integers -> raw payload integer (element ``i`` at bits ``[i*bits, (i+1)*bits)``).

    Raises ``ValueError`` if a value lies outside ``ttype``'s range.
    """
    mask = (1 << ttype.bits) - 1
    raw = 0
    for i, v in enumerate(values):
        v = int(v)
        if not ttype.min <= v <= ttype.max:
            raise ValueError(f"value {v} at element {i} is outside {ttype} [{ttype.min}, {ttype.max}]")
        raw |= (v & mask) << (i * ttype.bits)
    return raw


def unpack(raw, ttype, channels):
    """Raw payload integer -> list of ``channels`` integers of ``ttype``."""
    bits = ttype.bits
    mask = (1 << bits) - 1
    sign = 1 << (bits - 1)
    out = []
    for i in range(channels):
        v = (raw >> (i * bits)) & mask
        if ttype.signed and v & sign:
            v -= 1 << bits
        out.append(v)
    return out


async def _put(ctx, stream, raw, cycle):
    ctx.set(stream.valid, 1)
    ctx.set(Value.cast(stream.payload), raw)
    if cycle is None:
        await ctx.tick().until(stream.ready)
        stamp = None
    else:
        stamp, = await ctx.tick().sample(cycle).until(stream.ready)
    ctx.set(stream.valid, 0)
    return stamp


async def _get(ctx, stream, cycle):
    ctx.set(stream.ready, 1)
    if cycle is None:
        raw, = await ctx.tick().sample(Value.cast(stream.payload)).until(stream.valid)
        stamp = None
    else:
        raw, stamp = await ctx.tick().sample(Value.cast(stream.payload), cycle).until(stream.valid)
    ctx.set(stream.ready, 0)
    return raw, stamp


async def stream_put(ctx, stream, raw_payload):
    """Offer one beat (``valid`` high with ``raw_payload``) until a clock edge sees ``ready``,
    then drop ``valid``. Returns right after that edge."""
    await _put(ctx, stream, raw_payload, None)


async def stream_get(ctx, stream):
    """Raise ``ready`` until a clock edge sees ``valid``, drop ``ready``, and return the raw
    payload integer transferred at that edge."""
    raw, _ = await _get(ctx, stream, None)
    return raw


def beat_shape(shape, lanes=None):
    """(beats, elements per beat) of a tensor of ``shape`` in groups of ``lanes`` channels
    (default: all of them): [C, H, W] -> (H*W*C/lanes, lanes); [N] -> (1, N)."""
    if len(shape) == 3:
        channels = shape[0]
    elif len(shape) == 1:
        channels = shape[0]
        if lanes not in (None, channels):
            raise ValueError(f"a [N] tensor travels as one beat of {channels}, not {lanes}")
    else:
        raise ValueError(f"a stream carries [C, H, W] or [N] tensors, not shape {list(shape)}")
    lanes = channels if lanes is None else lanes
    if channels % lanes:
        raise ValueError(f"groups of {lanes} do not divide {channels} channels")
    pixels = shape[1] * shape[2] if len(shape) == 3 else 1
    return pixels * channels // lanes, lanes


async def _idle(ctx, gaps, n):
    if gaps is not None and gaps[n]:
        await ctx.tick().repeat(gaps[n])


def to_beats(array, ttype, lanes=None):
    """A ``[C, H, W]`` (or ``[N]``) integer tensor -> its beats' raw payload integers, in
    raster order, ``lanes`` channels per beat (default: all)."""
    array = np.asarray(array)
    beats, lanes = beat_shape(array.shape, lanes)
    pixels = array.reshape(array.shape[0], -1).T  # [pixels, C]: channel groups follow in a row
    return [pack(g, ttype) for g in pixels.reshape(beats, lanes).tolist()]


def from_beats(raws, shape, ttype, lanes=None):
    """Raw payload integers of one tensor's beats (``lanes`` channels each, default all) ->
    the int64 tensor of ``shape``."""
    shape = tuple(shape)
    lanes = beat_shape(shape, lanes)[1]
    groups = np.array([unpack(raw, ttype, lanes) for raw in raws], dtype=np.int64)
    return groups.reshape(-1, shape[0]).T.reshape(shape)


async def put_pixels(ctx, stream, array, ttype, *, lanes=None, cycle=None, stamps=None,
                     gaps=None):
    """Send a ``[C, H, W]`` (or ``[N]``) integer tensor in raster order, ``lanes`` channels per
    beat (default: all).

    With ``cycle`` (a :class:`CycleCounter`'s signal) and a list ``stamps``, append the clock
    edge index at which each beat was accepted. ``gaps[n]`` (optional) idle cycles are spent
    before offering beat ``n``, to exercise a design with a slow producer.
    """
    for n, raw in enumerate(to_beats(array, ttype, lanes)):
        await _idle(ctx, gaps, n)
        stamp = await _put(ctx, stream, raw, cycle)
        if stamps is not None:
            stamps.append(stamp)


async def get_pixels(ctx, stream, shape, ttype, *, lanes=None, cycle=None, stamps=None,
                     gaps=None):
    """Receive a tensor of ``shape`` (``[C, H, W]`` or ``[N]``) in raster order, ``lanes``
    channels per beat (default: all); return it as an int64 array. ``cycle`` / ``stamps`` /
    ``gaps`` work as in :func:`put_pixels` (a gap delays raising ``ready``: a slow
    consumer)."""
    raws = []
    for n in range(beat_shape(tuple(shape), lanes)[0]):
        await _idle(ctx, gaps, n)
        raw, stamp = await _get(ctx, stream, cycle)
        raws.append(raw)
        if stamps is not None:
            stamps.append(stamp)
    return from_beats(raws, shape, ttype, lanes)


class CycleCounter(Elaboratable):
    """Wraps a design under test and counts clock edges in ``cycle`` (32 bits), for stamps.

    ``cycle`` sampled at a clock edge equals the number of edges before it.
    """

    def __init__(self, dut):
        self.dut = dut
        self.cycle = Signal(32)

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = self.dut
        m.d.sync += self.cycle.eq(self.cycle + 1)
        return m
