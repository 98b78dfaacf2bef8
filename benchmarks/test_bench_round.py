"""One client's masking step and one full round, against the keystream floor of the same run."""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.conftest import keystream_seconds, report_ratio, x25519_seconds
from secagg import simulate_round

N = 50
DIM = 100_000


def test_full_round(benchmark: Any) -> None:
    inputs = [np.full(DIM, u, dtype=np.uint32) for u in range(N)]
    result = benchmark.pedantic(
        simulate_round,
        args=(inputs,),
        kwargs={"threshold": N // 2 + 1, "seed": 1, "workers": 1},
        rounds=3,
    )
    # Every client expands one self mask and N-1 pairwise masks; the server N self masks.
    floor = keystream_seconds(4 * DIM) * (N * N + N)
    # ... and every client agrees twice with each peer (c for share keys, s for mask seeds).
    crypto_floor = floor + x25519_seconds() * 2 * N * (N - 1)
    ratio = benchmark.stats.stats.min / floor
    benchmark.extra_info["ratio_to_keystream"] = ratio
    benchmark.extra_info["ratio_to_keystream_and_x25519"] = benchmark.stats.stats.min / crypto_floor
    report_ratio(
        f"round n={N}, m={DIM:,}: {ratio:.2f}x the keystream floor of all its masks, "
        f"{benchmark.stats.stats.min / crypto_floor:.2f}x that plus its 2n(n-1) X25519 agreements"
    )
    assert int(result.aggregate[0]) == sum(range(N))
