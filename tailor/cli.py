"""The ``tailor`` command: one subcommand per stage, each registered by its own package.

Every package with commands has a ``cli`` module with ``register(subparsers)``; those modules
import their heavy dependencies (torch, amaranth) only inside the command functions so that
``tailor check`` starts fast.
"""

import argparse
import importlib
import sys

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


def main(argv=None):
    args = build_parser().parse_args(argv)
    try:
        return args.func(args) or 0
    except TailorError as e:
        print(f"tailor {args.command}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"tailor {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
