"""The float-level entry: quantize model updates, aggregate them securely, dequantize the sum."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from secagg.config import Security, as_security
from secagg.encoding.quantize import QuantizationConfig, dequantize_sum, quantize
from secagg.errors import ConfigError
from secagg.runtime import preflight
from secagg.runtime.simulate import (
    Intercept,
    Progress,
    RoundResult,
    random_source,
    resolve_graph,
    simulate_round,
)


@dataclass(frozen=True, slots=True)
class UpdateRoundResult:
    """The securely aggregated float updates of one round."""

    sum: npt.NDArray[np.float64]
    """sum of the (clipped, quantized) updates of :attr:`survivors`."""
    survivors: list[int]
    clipped: dict[int, int]
    """Per client, how many of its values were clipped to [-c, c] before quantization."""
    quantization: QuantizationConfig
    round: RoundResult
    """The ring-level result, with costs and drops."""

    @property
    def mean(self) -> npt.NDArray[np.float64]:
        """The average update over the survivors (FedAvg with equal weights)."""
        return self.sum / len(self.survivors)


def aggregate_updates(
    updates: Sequence[npt.ArrayLike],
    *,
    threshold: int | None = None,
    clipping_range: float = 8.0,
    quantization_range: int = 1 << 22,
    modulus_range: int | None = None,
    neighbors: int | str | None = None,
    security: Security | str = Security.SEMI_HONEST,
    corrupt: float = 0.0,
    dropout: float = 0.05,
    allow_weak_threshold: bool = False,
    workers: int | None = None,
    drop: Mapping[str, Iterable[int]] | None = None,
    intercept: Intercept | None = None,
    seed: int | bytes | None = None,
    progress: Progress | None = None,
) -> UpdateRoundResult:
    """Securely sum float vectors (flattened model updates), one per client.

    Each update is clipped to [-clipping_range, clipping_range], stochastically rounded onto
    [0, quantization_range] and summed in Z_{modulus_range} by :func:`simulate_round`; the result
    is exact up to quantization: per value, |error| <= n * step + 4 * eps * n * clipping_range,
    where step = 2 * clipping_range / quantization_range and the second term is float64 rounding
    (it only matters for quantization_range near 2^53); the error is zero in expectation.
    ``neighbors``, ``security``, ``corrupt``, ``dropout``, ``allow_weak_threshold`` and
    ``workers`` are those of :func:`simulate_round`.
    ``modulus_range`` defaults to the smallest safe power of two; a setting whose sum could wrap,
    like any other invalid parameter or update, raises :class:`~secagg.ConfigError`.
    :class:`~secagg.ProtocolAbort` means no float sum is released: the round aborted (e.g.
    ``BELOW_THRESHOLD``), or its ring sum is one the survivors' quantized updates cannot add up
    to (``AGGREGATE_OUT_OF_RANGE``: an out-of-range input, e.g. a forged masked input).
    """
    if (
        isinstance(updates, (str, bytes))
        or not isinstance(updates, (Sequence, np.ndarray))
        or (isinstance(updates, np.ndarray) and updates.ndim == 0)
    ):
        raise ConfigError(
            f"updates must be a sequence of 1-D float arrays, got {type(updates).__name__}"
        )
    qc = QuantizationConfig(
        num_clients=len(updates),
        clipping_range=clipping_range,
        quantization_range=quantization_range,
        modulus_range=modulus_range,
    )
    dims = {np.shape(x) for x in updates}
    dim = int(np.prod(next(iter(dims)))) if len(dims) == 1 else 1
    k, _ = resolve_graph(
        len(updates),
        threshold,
        neighbors,
        security=as_security(security),
        corrupt=float(corrupt),
        dropout=float(dropout),
    )
    preflight.require_memory(
        len(updates),
        dim,
        qc.bits,
        neighbors=k,
        workers=1,
        inputs=len(updates) * dim * (4 if qc.bits <= 32 else 8),
    )
    rng = random_source(seed, b"rounding")
    quantized = []
    for u, x in enumerate(updates):
        try:
            quantized.append(quantize(x, qc, rng(32)))
        except ConfigError as exc:
            raise ConfigError(f"updates[{u}]: {exc}") from None
    result = simulate_round(
        [q.values for q in quantized],
        threshold=threshold,
        bits=qc.bits,
        neighbors=neighbors,
        security=security,
        corrupt=corrupt,
        dropout=dropout,
        allow_weak_threshold=allow_weak_threshold,
        workers=workers,
        drop=drop,
        intercept=intercept,
        seed=seed,
        progress=progress,
    )
    total = dequantize_sum(result.aggregate, len(result.survivors), qc)
    return UpdateRoundResult(
        sum=total,
        survivors=result.survivors,
        clipped={u: q.clipped for u, q in enumerate(quantized)},
        quantization=qc,
        round=result,
    )
