"""The update each partition sends in each round: values on the 1/4 grid, which the default
quantization represents exactly, so the aggregate can be checked bit for bit."""

from __future__ import annotations

import numpy as np

SHAPES = ((3, 2), (4,))


def update_of(partition: int, server_round: int) -> list[np.ndarray]:
    base = (partition + 1) * 0.25 + server_round * 0.5
    return [
        np.full(shape, base + 0.25 * k, dtype=np.float32) * (-1) ** k
        for k, shape in enumerate(SHAPES)
    ]


def mean_of(partitions: list[int], server_round: int) -> list[np.ndarray]:
    updates = [update_of(p, server_round) for p in partitions]
    return [
        (np.stack([u[k] for u in updates]).astype(np.float64).sum(0) / len(updates)).astype(
            np.float32
        )
        for k in range(len(SHAPES))
    ]
