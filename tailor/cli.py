"""The ``tailor`` command: one subcommand per stage, each registered by its own package.

Every package with commands has a ``cli`` module with ``register(subparsers)``; those modules
import their heavy dependencies (torch, amaranth) only inside the command functions so that
``tailor check`` starts fast.
"""

import argparse
import importlib
import signal
import sys
import threading

from . import __version__
from .errors import TailorError

COMMAND_MODULES = ["netdesc.cli", "nn.cli", "rtl.cli", "platforms.cli", "tailor.study_cli",
                   "cosearch.costdata_cli", "cosearch.evaluator_cli", "cosearch.search_cli"]


def build_parser():
    parser = argparse.ArgumentParser(
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


def main(argv=None):
    args = build_parser().parse_args(argv)
    in_main_thread = threading.current_thread() is threading.main_thread()  # signal's rule
    previous = signal.signal(signal.SIGTERM, _terminate) if in_main_thread else None
    try:
        return args.func(args) or 0
    except TailorError as e:
        print(f"tailor {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"tailor {args.command}: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print(f"tailor {args.command}: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    finally:
        if in_main_thread:
            signal.signal(signal.SIGTERM, previous)


if __name__ == "__main__":
    sys.exit(main())
