"""PRG and masking throughput as ratios to the raw AES-CTR keystream (run: ./dev bench)."""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.conftest import keystream_seconds, report_ratio
from secagg.crypto import prg, shamir

M = 1_000_000
KEY = bytes(range(32))
KEYS = [bytes([i]) * 32 for i in range(100)]


def test_prg_accumulate_vs_keystream(benchmark: Any) -> None:
    acc = np.zeros(M, dtype=np.uint32)
    benchmark(prg.accumulate, acc, KEY)
    floor = keystream_seconds(4 * M)
    ratio = benchmark.stats.stats.min / floor
    benchmark.extra_info["keystream_floor_s"] = floor
    benchmark.extra_info["ratio_to_keystream"] = ratio
    report_ratio(f"PRG accumulate of {M:,} uint32: {ratio:.2f}x the raw AES-CTR keystream time")
    assert acc.any()  # the keystream really landed in the accumulator


def test_prg_expand_64bit_vs_keystream(benchmark: Any) -> None:
    out = benchmark(prg.expand, KEY, M, 64)
    floor = keystream_seconds(8 * M)
    ratio = benchmark.stats.stats.min / floor
    benchmark.extra_info["ratio_to_keystream"] = ratio
    report_ratio(f"PRG expand of {M:,} uint64: {ratio:.2f}x the raw AES-CTR keystream time")
    assert out.dtype == np.uint64 and out.shape == (M,)


def test_masking_100_keys_vs_keystream(benchmark: Any) -> None:
    """A client's masking step: 100 pairwise masks of 100,000 values, chunk by chunk."""
    m = 100_000
    acc = np.zeros(m, dtype=np.uint32)
    negate = [i % 2 == 0 for i in range(len(KEYS))]
    benchmark(prg.accumulate_many, acc, KEYS, negate)
    floor = keystream_seconds(4 * m) * len(KEYS)
    ratio = benchmark.stats.stats.min / floor
    benchmark.extra_info["ratio_to_keystream"] = ratio
    report_ratio(f"masking with {len(KEYS)} keys of {m:,} uint32: {ratio:.2f}x the keystream")
    assert acc.any()


def test_shamir_share_n500(benchmark: Any) -> None:
    """Sharing two secrets among 500 holders at t = 251 (the complete graph at n = 500)."""
    rand = bytes(shamir.rand_size(251, 2))
    shares = benchmark(shamir.share, [KEY, KEYS[1]], list(range(1, 501)), 251, rand)
    assert shares.shape == (2, 500, shamir.LIMBS)
