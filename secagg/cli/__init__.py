"""The ``secagg`` command: one module per subcommand, each registering itself here."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from secagg import __version__
from secagg.cli import simulate, train
from secagg.cli.simulate import make_scenario
from secagg.errors import SecAggError

__all__ = ["build_parser", "main", "make_scenario"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="secagg", description="Secure aggregation for FL.")
    parser.add_argument("--version", action="version", version=f"secagg {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    simulate.add_parser(commands)
    train.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except SecAggError as exc:
        sys.stderr.write(f"secagg: {exc}\n")
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
