"""The `bnnfpga` command line.

Each sub-command lives in the module that does its job; a module listed in
COMMAND_MODULES defines ``register(subparsers)`` adding its parser(s), each
with ``set_defaults(func=...)``.  Errors the user can fix (bad files, bad
foldings, bad input) are printed as one line, exit status 2.
"""
from __future__ import annotations

import argparse
import importlib
import sys

COMMAND_MODULES = [
    "bnnfpga.commands",
    "bnnfpga.sim_cli",
    "bnnfpga.hls.cli",
    "bnnfpga.onnx_cli",
    "bnnfpga.rtl.cli",
    "bnnfpga.build_cli",
    "bnnfpga.fold_cli",
    "bnnfpga.filter_cli",
]


class UserError(Exception):
    """An error with a one-line message meant for the user."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bnnfpga", description="Binarized neural networks to FPGA accelerators.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for mod in COMMAND_MODULES:
        importlib.import_module(mod).register(sub)
    return p


def user_errors():
    """Exception types whose message is shown to the user as a one-line error."""
    from .folding import FoldingError
    from .ir import IRError

    from .boards import BoardError

    errs = [UserError, IRError, FoldingError, BoardError, FileNotFoundError]
    try:
        from .modelfile import ModelFileError

        errs.append(ModelFileError)
    except ImportError:
        pass
    try:
        from .data import DataError

        errs.append(DataError)
    except ImportError:
        pass
    return tuple(errs)


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        rc = args.func(args)
    except user_errors() as e:
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        print(f"bnnfpga {args.command}: error: {msg}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(rc or 0)


if __name__ == "__main__":  # `python -m bnnfpga.cli`: use the importable module's classes, not __main__'s
    from bnnfpga.cli import main as _main

    sys.exit(_main())
