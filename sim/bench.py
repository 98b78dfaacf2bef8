"""The benchmark suite as a script: ``python -m sim.bench [--preset quick] [--peer]``.

The same as ``secagg bench`` (see :mod:`secagg.cli.bench`): it sweeps n, m, dropout, graph,
mode and workers and writes benchmarks/results/ and BENCHMARKS.md.
"""

from __future__ import annotations

import sys

from secagg.cli import main

if __name__ == "__main__":
    sys.exit(main(["bench", *sys.argv[1:]]))
