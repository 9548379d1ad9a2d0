# amaranth: UnusedElaboratable=no
"""MacSchedule (organisation, cycle counts, ROM packing, parameter errors) and MacArray
(products, bias, accumulation per group) against plain integer arithmetic."""

import numpy as np
import pytest
from amaranth.hdl import Value, signed, unsigned
from amaranth.sim import Simulator
from hypothesis import given, settings, strategies as st

from netdesc import TensorType
from rtl.mac import MacArray, MacBuild, MacSchedule
from rtl.streams import pack, unpack


@pytest.mark.parametrize("o, k, p, lanes, cycles", [
    (16, 27, 1, (1, 1), 16 * 27),
    (16, 27, 3, (1, 3), 16 * 9),     # three operands at a time beats three channel groups of 6
    (16, 27, 4, (4, 1), 4 * 27),     # output-channel parallel, 4 groups
    (16, 27, 16, (16, 1), 27),
    (16, 27, 40, (4, 9), 4 * 3),
    (16, 27, 16 * 27, (16, 27), 1),  # the whole vector each cycle
    (3, 7, 20, (3, 4), 2),           # 6 operands a lane would also need 2 chunks: 4 suffice
])
def test_schedule(o, k, p, lanes, cycles):
    sch = MacSchedule.choose(o, k, p)
    assert (sch.lanes_out, sch.lanes_in) == lanes
    assert sch.cycles == cycles


@settings(max_examples=200, deadline=None)
@given(o=st.integers(1, 40), k=st.integers(1, 60), data=st.data())
def test_schedule_is_the_fastest_grid(o, k, data):
    p = data.draw(st.integers(1, o * k))
    sch = MacSchedule.choose(o, k, p)
    fastest = min(-(-o // po) * -(-k // min(p // po, k)) for po in range(1, min(p, o) + 1))
    assert sch.cycles == sch.groups * sch.chunks == fastest
    assert sch.lanes_out * sch.lanes_in <= p
    assert sch.cycles >= -(-o * k // p)
    if o % p == 0 or (p % o == 0 and (o * k) % p == 0):
        assert sch.cycles == o * k // p


@pytest.mark.parametrize("p", [0, 3 * 7 + 1, 2.0])
def test_schedule_rejects_parallelism(p):
    with pytest.raises(ValueError, match=r"^parallelism must be an integer in 1\.\.21 "
                                         rf"\(3 outputs x 7 MACs each\), not {p!r}$"):
        MacSchedule.choose(3, 7, p)


@pytest.mark.parametrize("o, k, p", [(3, 5, 2), (3, 5, 6), (2, 3, 6), (5, 1, 5)])
def test_rom_words_cover_every_weight_once(o, k, p):
    rng = np.random.default_rng(0)
    mats = rng.integers(-8, 8, size=(2, o, k))
    sch = MacSchedule.choose(o, k, p)
    words = sch.rom_words(mats, 4)
    assert len(words) == 2 * sch.cycles
    po, pk = sch.lanes_out, sch.lanes_in
    seen = np.zeros((2, o, k), dtype=int)
    for n, word in enumerate(words):
        w = unpack(word, TensorType(4, True), po * pk)
        b, rest = divmod(n, sch.cycles)
        g, c = divmod(rest, sch.chunks)
        for a in range(po):
            for j in range(pk):
                oo, kk = g * po + a, c * pk + j
                if oo < o and kk < k:
                    assert w[a * pk + j] == mats[b, oo, kk]
                    seen[b, oo, kk] += 1
                else:
                    assert w[a * pk + j] == 0
    assert (seen == 1).all()


@pytest.mark.parametrize("registered", [False, True])
@pytest.mark.parametrize("pk", [1, 2, 5, 17])
@settings(max_examples=4, deadline=None)
@given(po=st.integers(1, 3), groups=st.integers(1, 3), banks=st.booleans(),
       x_signed=st.booleans(), x_bits=st.integers(1, 6), w_bits=st.integers(2, 6),
       data=st.data())
def test_mac_array_accumulates(po, pk, groups, banks, x_signed, x_bits, w_bits, registered, data):
    """Each word's sum appears ``latency`` edges after it was taken; the accumulator of its
    bank (one per group with ``banks``) takes it with en, a word without en is a bubble. 5 and
    17 products make registered adder trees of one and two registers."""
    xt, wt = TensorType(x_bits, x_signed), TensorType(w_bits, True)
    acc_width = 24  # never wraps: 10 steps of 17 products of at most 2^5 * 2^6
    at = TensorType(acc_width, True)
    bias = data.draw(st.lists(st.lists(st.integers(-100, 100), min_size=po, max_size=po),
                              min_size=groups, max_size=groups))
    dut = MacArray(lanes_out=po, lanes_in=pk, weight_bits=w_bits, acc_width=acc_width,
                   operand_shape=signed(x_bits) if x_signed else unsigned(x_bits), bias=bias,
                   banks=banks, build=MacBuild(registered=registered))
    latency = dut.latency
    steps = data.draw(st.lists(st.tuples(
        st.lists(st.integers(xt.min, xt.max), min_size=pk, max_size=pk),
        st.lists(st.integers(wt.min, wt.max), min_size=po * pk, max_size=po * pk),
        st.booleans(), st.integers(0, groups - 1), st.booleans()), min_size=1, max_size=10))
    model = [[0] * po for _ in range(groups if banks else 1)]
    expected, got = [], []
    for x, w, first, group, en in steps:
        bank = group if banks else 0
        sums = [(bias[group][a] if first else model[bank][a]) +
                sum(w[a * pk + j] * x[j] for j in range(pk)) for a in range(po)]
        expected.append(sums)
        if en:
            model[bank] = sums

    async def bench(ctx):
        taken = 0
        words = steps + [steps[-1]] * latency  # then flushed through the stages
        for x, w, first, group, en in words:
            ctx.set(Value.cast(dut.x), pack(x, xt))
            ctx.set(Value.cast(dut.w), pack(w, wt))
            ctx.set(dut.first, first)
            ctx.set(dut.group, group)
            ctx.set(dut.en, en if taken < len(steps) else 0)
            if taken >= latency:  # the word taken `latency` edges ago
                got.append(unpack(ctx.get(Value.cast(dut.sum)), at, po))
            taken += 1
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    assert got == expected
