"""One client's masking step and one full round, against the keystream floor of the same run."""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.conftest import keystream_seconds, report_ratio
from secagg import simulate_round

N = 50
DIM = 100_000


def test_full_round(benchmark: Any) -> None:
    inputs = [np.full(DIM, u, dtype=np.uint32) for u in range(N)]
    result = benchmark.pedantic(
        simulate_round, args=(inputs,), kwargs={"threshold": N // 2 + 1, "seed": 1}, rounds=3
    )
    # Every client expands one self mask and N-1 pairwise masks; the server N self masks.
    floor = keystream_seconds(4 * DIM) * (N * N + N)
    ratio = benchmark.stats.stats.min / floor
    benchmark.extra_info["ratio_to_keystream"] = ratio
    report_ratio(f"round n={N}, m={DIM:,}: {ratio:.2f}x the keystream floor of all its masks")
    assert int(result.aggregate[0]) == sum(range(N))
