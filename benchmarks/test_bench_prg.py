"""PRG and masking throughput as ratios to the raw AES-CTR keystream (run: ./dev bench)."""

from __future__ import annotations

from typing import Any

import numpy as np

from benchmarks.conftest import keystream_seconds, report_ratio
from secagg.crypto import prg

M = 1_000_000
SEED = bytes(range(32))


def test_prg_accumulate_vs_keystream(benchmark: Any) -> None:
    acc = np.zeros(M, dtype=np.uint32)
    benchmark(prg.accumulate, acc, SEED, label=prg.LABEL_PAIR_MASK)
    floor = keystream_seconds(4 * M)
    ratio = benchmark.stats.stats.min / floor
    benchmark.extra_info["keystream_floor_s"] = floor
    benchmark.extra_info["ratio_to_keystream"] = ratio
    report_ratio(f"PRG accumulate of {M:,} uint32: {ratio:.2f}x the raw AES-CTR keystream time")
    assert acc.any()  # the keystream really landed in the accumulator


def test_prg_expand_64bit_vs_keystream(benchmark: Any) -> None:
    out = benchmark(prg.expand, SEED, M, 64, label=prg.LABEL_SELF_MASK)
    floor = keystream_seconds(8 * M)
    ratio = benchmark.stats.stats.min / floor
    benchmark.extra_info["ratio_to_keystream"] = ratio
    report_ratio(f"PRG expand of {M:,} uint64: {ratio:.2f}x the raw AES-CTR keystream time")
    assert out.dtype == np.uint64 and out.shape == (M,)
