"""Federated averaging through the secure sum: weighted fixed point, or distributed DP.

numpy only (it lives beside the torch bridge because that is where its users are): flatten the
model update with :mod:`secagg.integrations.torch.flatten` first.

Two encodings of a client's float vector into Z_2^b, both validated before any message is sent:

* :class:`WeightedFixedPoint` - weighted FedAvg (McMahan et al. 2017): client u with weight w_u
  (its example count, an integer in [0, W]) sends round(w_u * clip(x_u, c) * s) in two's
  complement and, as one extra coordinate, w_u itself. The server gets sum w_u x_u and the
  exact total weight W_tot = sum w_u from one secure sum, and returns their ratio. The sum is
  exact unless n (W c s + 1) >= 2^(b-1), which the constructor refuses; s is the largest power
  of two that fits, so updates on the grid aggregate bit-exactly.
* :class:`DistributedDp` - :mod:`secagg.encoding.dp`: equal weights (a weight would scale a
  client's sensitivity), L2 clipping, rotation, rounding, noise shares, modular clipping.

:func:`secure_fedavg` runs one round through :func:`secagg.simulate_round` - the real protocol,
never a plain sum - and decodes the mean over the survivors U3.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from secagg.config import as_int
from secagg.crypto.prg import RingArray, ring_dtype
from secagg.encoding.dp import codec
from secagg.encoding.dp.noise import noise_generator
from secagg.encoding.dp.params import MAX_BITS, DistributedDpConfig
from secagg.errors import AbortReason, ConfigError, ProtocolAbort
from secagg.runtime import simulate as runtime
from secagg.runtime.simulate import Progress, RoundResult

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class WeightedFixedPoint:
    """Weighted FedAvg in Z_2^b with per-coordinate clipping to [-c, c].

    Attributes:
        clients: n, the most clients in one sum.
        dim: d, the float vector's length (the ring vector has d + 1 elements).
        clip: c, each coordinate is clipped to [-c, c] (and counted) before weighting.
        max_weight: W, the largest weight a client may declare (e.g. a cap on example counts).
        bits: b, 8 <= b <= 62.
        scale: s (derived): the largest power of two with n (W c s + 1) < 2^(b-1).
    """

    clients: int
    dim: int
    clip: float
    max_weight: int
    bits: int = 32
    scale: float = field(init=False)

    def __post_init__(self) -> None:
        for name, low, high in (
            ("clients", 1, 1 << 20),
            ("dim", 1, (1 << 31) - 1),
            ("max_weight", 1, 1 << 40),
            ("bits", 8, MAX_BITS),
        ):
            value = as_int(getattr(self, name))
            if value is None or not low <= value <= high:
                raise ConfigError(
                    f"{name} must be an int in [{low}, {high}], got {getattr(self, name)!r}"
                )
            object.__setattr__(self, name, value)
        c = self.clip
        if (
            isinstance(c, bool)
            or not isinstance(c, (int, float))
            or not (math.isfinite(c) and c > 0)
        ):
            raise ConfigError(f"clip must be a positive finite number, got {c!r}")
        object.__setattr__(self, "clip", float(c))
        n, w, half = self.clients, self.max_weight, 1 << (self.bits - 1)
        if n * w >= half:
            raise ConfigError(
                f"{n} clients x max_weight {w} = {n * w} does not fit the signed half-range "
                f"2^{self.bits - 1} of Z_2^{self.bits}: the total weight could wrap. "
                "Use more bits, a smaller max_weight or fewer clients."
            )
        # Largest s = 2^e with n (W c s + 1) <= 2^(b-1) - 1: every value and the sum fit.
        room = (half - 1) / n - 1.0
        if room <= 0 or w * self.clip * 2.0**-60 > room:
            raise ConfigError(f"{self.bits} bits leave no room for {n} clients' updates")
        exponent = math.floor(math.log2(room / (w * self.clip)))
        scale = 2.0**exponent
        while n * (w * self.clip * scale + 1.0) >= half:  # float log2 at an exact power of two
            scale /= 2.0
        if self.clip * scale < 1.0:
            raise ConfigError(
                f"{self.bits} bits are too few for {n} clients x max_weight {w} x clip "
                f"{self.clip:g}: a weight-1 client's clipped value maps to under one level "
                f"(scale {scale:g}). Use more bits, a smaller max_weight or fewer clients."
            )
        object.__setattr__(self, "scale", scale)

    @property
    def ring_dim(self) -> int:
        """d + 1: the update, then the weight."""
        return self.dim + 1

    def error_bound(self, total_weight: float, survivors: int) -> float:
        """Per coordinate, |secure mean - exact weighted mean of the clipped updates| <= this:
        each client's rounding is off by < 1 level, i.e. 1/s in units of w x."""
        return survivors / (self.scale * total_weight)

    def encode(self, x: FloatArray, weight: int, seed: bytes) -> tuple[RingArray, int]:
        """Client u: (ring vector, number of clipped coordinates). ``seed`` (32 bytes) drives
        the unbiased stochastic rounding."""
        c = self.clip
        clipped = int(np.count_nonzero((x < -c) | (x > c)))
        scaled = np.clip(x, -c, c) * (weight * self.scale)
        low = np.floor(scaled)
        values = low.astype(np.int64) + (noise_generator(seed).random(x.shape[0]) < scaled - low)
        ring = np.append(values, np.int64(weight)) & np.int64((1 << self.bits) - 1)
        return ring.astype(ring_dtype(self.bits)), clipped

    def decode(self, aggregate: RingArray, survivors: int) -> tuple[FloatArray, int]:
        """Server: (sum of w_u x_u, exact total weight) over ``survivors`` clients. A sum that
        survivors' valid inputs cannot produce raises ProtocolAbort(AGGREGATE_OUT_OF_RANGE)."""
        signed = _centred(aggregate, self.bits)
        total = int(signed[-1])
        limit = survivors * (self.max_weight * self.clip * self.scale + 1.0)
        if (
            not 0 <= total <= survivors * self.max_weight
            or float(np.abs(signed[:-1]).max()) > limit
        ):
            raise ProtocolAbort(
                AbortReason.AGGREGATE_OUT_OF_RANGE,
                f"the ring sum is outside what {survivors} clients' valid inputs can add up to",
            )
        return signed[:-1].astype(np.float64) / self.scale, total


@dataclass(frozen=True, slots=True)
class DistributedDp:
    """Equal-weight FedAvg with distributed DP (:mod:`secagg.encoding.dp`)."""

    config: DistributedDpConfig

    @property
    def ring_dim(self) -> int:
        return self.config.padded_dim


Encoding = WeightedFixedPoint | DistributedDp


def _centred(aggregate: RingArray, bits: int) -> npt.NDArray[np.int64]:
    """Z_2^b -> [-2^(b-1), 2^(b-1)): the two's-complement reading of the ring sum."""
    a = np.asarray(aggregate).astype(np.int64) & np.int64((1 << bits) - 1)
    half = np.int64(1 << (bits - 1))
    out: npt.NDArray[np.int64] = np.where(a >= half, a - 2 * half, a)
    return out


@dataclass(frozen=True, slots=True)
class FedAvgResult:
    """The decoded outcome of one secure FedAvg round."""

    mean: FloatArray
    """The (weighted) average update over :attr:`survivors` - with DP, including its noise."""
    sum: FloatArray
    """sum of w_u x_u over the survivors as decoded (bit-exact for updates on the grid)."""
    total_weight: float
    """sum of w_u over the survivors (exact); with DP, the survivor count."""
    survivors: list[int]
    """U3: the clients whose updates are in the mean."""
    clipped: int
    """Coordinates clipped (fixed point) or clients whose norm was clipped (DP)."""
    round: RoundResult


def _check_updates(updates: Sequence[npt.ArrayLike], dim: int) -> list[FloatArray]:
    if isinstance(updates, (str, bytes)) or not isinstance(updates, Sequence) or not updates:
        raise ConfigError("updates must be a non-empty sequence of 1-D float vectors")
    out = []
    for u, x in enumerate(updates):
        try:
            v = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError):
            raise ConfigError(f"updates[{u}] is not a vector of real numbers") from None
        if v.shape != (dim,):
            raise ConfigError(f"updates[{u}] has shape {v.shape}; the encoding expects ({dim},)")
        if np.isnan(v).any():
            raise ConfigError(f"updates[{u}] contains NaN")
        out.append(v)
    return out


def _check_weights(weights: Sequence[int] | None, n: int, max_weight: int) -> list[int]:
    if weights is None:
        return [1] * n
    if len(weights) != n:
        raise ConfigError(f"{len(weights)} weights for {n} updates")
    out = []
    for u, w in enumerate(weights):
        value = as_int(w)
        if value is None or not 0 <= value <= max_weight:
            raise ConfigError(
                f"weights[{u}] must be an int in [0, max_weight={max_weight}], got {w!r}"
            )
        out.append(value)
    return out


def secure_fedavg(
    updates: Sequence[npt.ArrayLike],
    *,
    encoding: Encoding,
    threshold: int | None = None,
    weights: Sequence[int] | None = None,
    neighbors: int | str | None = None,
    security: str = "semi_honest",
    workers: int = 1,
    drop: Mapping[str, Iterable[int]] | None = None,
    seed: int | bytes | None = None,
    rotation_seed: bytes | None = None,
    progress: Progress | None = None,
) -> FedAvgResult:
    """One FedAvg round of ``updates`` (client u holds ``updates[u]``) through the protocol.

    Every check - shapes, weights against ``max_weight``, n against the encoding's ``clients``
    (the overflow bound) - runs before any message is sent and raises
    :class:`~secagg.ConfigError`. ``seed`` fixes keys, masks, rounding and noise (tests and
    experiments only); None draws them from the OS CSPRNG. ``threshold`` (None: the smallest the
    policy accepts), ``neighbors``, ``security`` and ``workers`` are those of
    :func:`secagg.simulate_round`; one worker by default, since a training round is small and
    forking a process that runs torch is best avoided. ``rotation_seed`` is the DP round's
    public rotation seed (drawn from the same source when None). Raises
    :class:`~secagg.ProtocolAbort` when the round aborts: no update is released then.
    """
    ring_dim = encoding.ring_dim
    dim = encoding.dim if isinstance(encoding, WeightedFixedPoint) else encoding.config.dim
    vectors = _check_updates(updates, dim)
    n = len(vectors)
    limit = (
        encoding.clients if isinstance(encoding, WeightedFixedPoint) else encoding.config.clients
    )
    if n > limit:
        raise ConfigError(
            f"{n} updates, but the encoding was sized for at most {limit} clients: their sum "
            "could wrap around the ring"
        )
    rng = runtime.random_source(seed, b"fedavg")
    inputs: list[RingArray] = []
    clipped = 0
    if isinstance(encoding, WeightedFixedPoint):
        ws = _check_weights(weights, n, encoding.max_weight)
        bits = encoding.bits
        for x, w in zip(vectors, ws, strict=True):
            ring, count = encoding.encode(x, w, rng(32))
            inputs.append(ring)
            clipped += count
    else:
        if weights is not None and len(set(weights)) > 1:
            raise ConfigError(
                "distributed DP averages with equal weights: a client's weight would scale its "
                "contribution, and so the sensitivity the noise is calibrated to"
            )
        config = encoding.config
        bits = config.bits
        # Public, but fresh per round: from the OS CSPRNG unless a test seed is given.
        public = rotation_seed if rotation_seed is not None else rng(32)
        for x in vectors:
            share = codec.encode(x, config, public, rng(32))
            inputs.append(share.values)
            clipped += int(share.clipped)
    assert all(v.shape == (ring_dim,) for v in inputs)
    result = runtime.simulate_round(
        inputs,
        threshold=threshold,
        bits=bits,
        neighbors=neighbors,
        security=security,
        workers=workers,
        drop=drop,
        seed=None if seed is None else rng(32),
        progress=progress,
    )
    survivors = len(result.survivors)
    if isinstance(encoding, WeightedFixedPoint):
        total, weight = encoding.decode(result.aggregate, survivors)
        mean = total / weight if weight > 0 else np.zeros(dim)
        return FedAvgResult(mean, total, float(weight), result.survivors, clipped, result)
    noisy_sum = codec.decode(result.aggregate, encoding.config, public)
    return FedAvgResult(
        noisy_sum / survivors, noisy_sum, float(survivors), result.survivors, clipped, result
    )


def plaintext_fedavg(
    updates: Sequence[npt.ArrayLike], weights: Sequence[float] | None, survivors: Sequence[int]
) -> FloatArray:
    """The reference: the exact float weighted mean of the survivors' updates (no clipping, no
    quantization, no noise)."""
    xs = [np.asarray(updates[u], dtype=np.float64) for u in survivors]
    ws = [1.0 if weights is None else float(weights[u]) for u in survivors]
    total = sum(ws)
    if total <= 0:
        return np.zeros_like(xs[0])
    out: FloatArray = (
        sum((w * x for w, x in zip(ws, xs, strict=True)), np.zeros_like(xs[0])) / total
    )
    return out


__all__ = [
    "DistributedDp",
    "Encoding",
    "FedAvgResult",
    "WeightedFixedPoint",
    "plaintext_fedavg",
    "secure_fedavg",
]
