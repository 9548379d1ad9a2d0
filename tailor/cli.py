"""The ``tailor`` command: one subcommand per stage, each registered by its own package.

Every package with commands has a ``cli`` module with ``register(subparsers)``; those modules
import their heavy dependencies (torch, amaranth) only inside the command functions so that
``tailor check`` starts fast.
"""

import argparse
import gc
import importlib
import os
import signal
import sys
import threading
import warnings

from . import __version__
from common.errors import TailorError

COMMAND_MODULES = ["netdesc.cli", "nn.cli", "rtl.cli", "platforms.cli", "tailor.study_cli",
                   "cosearch.costdata_cli", "cosearch.evaluator_cli", "cosearch.search_cli"]


class _Parser(argparse.ArgumentParser):
    """argparse with the house rule for errors: one line, naming the command (argparse's own
    prints the usage first); subcommands' parsers are of this class too."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser():
    parser = _Parser(
        prog="tailor", description="From a residual CNN to a resource-efficient FPGA accelerator.")
    parser.add_argument("--version", action="version", version=f"tailor {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(sub)
    return parser


class Terminated(Exception):
    """SIGTERM arrived: raised in the main thread, so that a command stops as on Ctrl-C (its
    workers stopped, no half-written output) instead of leaving its worker processes running."""


def _terminate(signum, frame):
    raise Terminated


class _Quiet:
    """Work stopped mid-run (by an error or a signal) is freed as the command returns, and
    complains: a simulation's testbenches are suspended coroutines ("Exception ignored ...
    aclose()"), a design whose elaboration failed warns of its never-used components. The
    command has said in one line why it stopped; the rest is noise, silenced from the handler
    (before it frees the work) until :meth:`close` has collected what is left."""

    def __init__(self):
        self.hook = sys.unraisablehook
        self.warnings = warnings.catch_warnings()
        self.warnings.__enter__()
        warnings.simplefilter("ignore")
        sys.unraisablehook = lambda unraisable: None

    def close(self):
        gc.collect()
        sys.unraisablehook = self.hook
        self.warnings.__exit__(None, None, None)


def main(argv=None):
    args = build_parser().parse_args(argv)
    in_main_thread = threading.current_thread() is threading.main_thread()  # signal's rule
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    quiet = None
    try:
        code = args.func(args) or 0
        sys.stdout.flush()  # a reader that went away shows here, in the handler below
        return code
    except TailorError as e:
        quiet = _Quiet()
        print(f"tailor {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        quiet = _Quiet()
        print(f"tailor {args.command}: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        quiet = _Quiet()
        print(f"tailor {args.command}: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except BrokenPipeError:
        # the reader of our output went away (`tailor check NET | head -1`): stop quietly, as a
        # Unix tool killed by SIGPIPE does; point stdout at /dev/null so exit's flush is quiet
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)
        if quiet is not None:
            quiet.close()


if __name__ == "__main__":
    sys.exit(main())
