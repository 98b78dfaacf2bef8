"""The ``secagg`` command: one module per subcommand, each registering itself here.

Exit codes: 0 the round completed and its aggregate is correct; 1 ONLY when an aggregate
differs from the plaintext sum (a bug: please report it); 2 invalid options or not enough
memory; 3 the round aborted (too few clients left, or a client shared inconsistently);
130 interrupted (Ctrl-C). A closed output pipe (``| head``) ends the command quietly.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from secagg import __version__
from secagg.cli import bench, simulate, train
from secagg.cli.output import quiet_stdout
from secagg.cli.simulate import make_scenario
from secagg.errors import SecAggError

__all__ = [
    "EXIT_ABORTED",
    "EXIT_INTERRUPTED",
    "EXIT_USAGE",
    "build_parser",
    "main",
    "make_scenario",
]

EXIT_USAGE = 2
EXIT_ABORTED = 3
EXIT_INTERRUPTED = 130


def build_parser() -> argparse.ArgumentParser:
    # argparse reports a usage error on stderr and exits with 2 (EXIT_USAGE) by itself.
    parser = argparse.ArgumentParser(
        prog="secagg", description="Secure aggregation for federated learning."
    )
    parser.add_argument("--version", action="version", version=f"secagg {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    simulate.add_parser(commands)
    train.add_parser(commands)
    bench.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except SecAggError as exc:
        sys.stderr.write(f"secagg: {exc}\n")
        return EXIT_USAGE
    except MemoryError:  # the preflight estimate was too optimistic for this machine
        sys.stderr.write("secagg: out of memory; use a smaller --dim or fewer --clients\n")
        return EXIT_USAGE
    except KeyboardInterrupt:
        sys.stderr.write("secagg: interrupted\n")
        return EXIT_INTERRUPTED
    except BrokenPipeError:  # a progress line to a closed stderr pipe, say
        quiet_stdout()
        return EXIT_INTERRUPTED
    return code


if __name__ == "__main__":
    sys.exit(main())
