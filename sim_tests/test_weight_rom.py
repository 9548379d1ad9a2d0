# amaranth: UnusedElaboratable=no
"""WeightRom: banked and unbanked reads of random addresses against the ROM's contents, its
bank depth against the block RAM shapes, and (Yosys, ECP5) each bank mapped to one row of
block RAMs."""

import numpy as np
import pytest
from amaranth.sim import Simulator

from platforms.synth import synthesize
from rtl.block_rom import BLOCK_RAM_SHAPES, bank_words
from rtl.weight_rom import WeightRom


def _reads(rom, rng, cycles):
    """Drive random addresses for ``cycles`` edges; after every edge compare ``data`` with the
    word addressed at the ``latency``-th last edge."""
    depth = len(rom.init)
    errors = []

    async def bench(ctx):
        addressed = []  # the address at every edge
        for _ in range(cycles):
            addr = int(rng.integers(depth))
            ctx.set(rom.addr, addr)
            await ctx.tick()
            addressed.append(addr)
            if len(addressed) >= rom.latency:
                expected = rom.init[addressed[-rom.latency]]
                got = ctx.get(rom.data)
                if got != expected:
                    errors.append((len(addressed), got, expected))

    sim = Simulator(rom)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return errors


@pytest.mark.parametrize("width, depth, bank_depth, banks", [
    (12, 37, 8, 5),     # a partial last bank
    (5, 64, 16, 4),     # whole banks
    (3, 9, 8, 2),       # a one-word last bank
    (7, 16, 16, 1),     # within one bank
])
def test_banked_reads_follow_the_address_two_edges_late(width, depth, bank_depth, banks):
    rng = np.random.default_rng(depth + width)
    init = rng.integers(0, 1 << width, size=depth).tolist()
    init[0], init[-1] = (1 << width) - 1, 0  # all ones and all zeros
    rom = WeightRom(width, init, banked=True, bank_depth=bank_depth)
    assert rom.banks == banks and rom.latency == 2
    assert _reads(rom, rng, 300) == []


def test_unbanked_reads_follow_the_address_one_edge_late():
    rng = np.random.default_rng(1)
    init = rng.integers(0, 1 << 9, size=100).tolist()
    rom = WeightRom(9, init, bank_depth=8)
    assert rom.latency == 1
    assert _reads(rom, rng, 300) == []


def test_reads_fail_with_a_wrong_bank_select():
    """The check above can fail: a ROM whose bank select skips its second register is read
    one edge off."""
    rng = np.random.default_rng(2)
    rom = WeightRom(6, rng.integers(0, 64, size=40).tolist(), banked=True, bank_depth=8)
    rom.latency = 1
    assert _reads(rom, rng, 100)


@pytest.mark.parametrize("width, depth, words", [
    (64, 4608, 512),    # ResNet-8's folded b3_conv2: 2 x 9 PDPW16KD, not 4 x 5 DP16KD
    (8, 4608, 2048),    # 9 bits wide: 3 deep
    (18, 1000, 1024),
    (1, 20000, 16384),
    (40, 300, 512),
])
def test_bank_words_is_the_shape_of_fewest_block_rams(width, depth, words):
    assert bank_words(width, depth) == words


def test_bank_depth_must_be_a_power_of_two():
    with pytest.raises(ValueError, match=r"^bank_depth must be a power of two, not 12$"):
        WeightRom(4, [0] * 40, banked=True, bank_depth=12)


@pytest.mark.parametrize("width, depth", [(64, 2560), (8, 5000)])
def test_each_bank_is_one_row_of_block_rams(width, depth, tmp_path):
    """Yosys maps each bank to block RAMs of the shape :func:`bank_words` assumed, side by side
    (no multiplexer inside a bank), on the ECP5 (Xilinx has 36-kbit block RAMs as well): the
    banks' count times the columns of that shape. Yosys packs the whole ROM as tightly or
    tighter (64 x 2560: 9 DP16KD to the banks' 10)."""
    rng = np.random.default_rng(3)
    init = rng.integers(0, 1 << width, size=depth, dtype=np.uint64).tolist()
    used = {}
    for banked in (False, True):
        rom = WeightRom(width, init, banked=banked)
        report = synthesize(rom, "ecp5", tmp_path / str(banked),
                            ports=[rom.addr, rom.data])
        used[banked] = report.total
    bits = dict(BLOCK_RAM_SHAPES)[rom.bank_depth]
    assert used[True]["BRAM"] == rom.banks * -(-width // bits)
    assert 0 < used[False]["BRAM"] <= used[True]["BRAM"]
    assert used[True]["LUTRAM"] == 0
