"""The distributed-DP pipeline: client encode into Z_2^b, server decode of the sum.

Client u, with a float vector x_u (Kairouz, Liu, Steinke, ICML 2021, Algorithm 1; Agarwal,
Kairouz, Liu, NeurIPS 2021, Algorithm 1):

1. clip to L2 norm c:               x <- x min(1, c / ||x||_2)
2. rotate:                          x <- H D pad(x) / sqrt(D)   (public per-round seed)
3. scale:                           x <- s x
4. conditional randomized rounding: x <- round(x), redrawn until ||x||_2 <= Delta_2
5. add an integer noise share:      x <- x + Skellam(v) or N_Z(0, v)
6. modular clipping:                y_u = x mod 2^b, the input to secure aggregation.

Server, with the ring sum y = sum_{u in U3} y_u mod 2^b: lift y to [-2^(b-1), 2^(b-1)), divide by
s, rotate back, crop to d. The result is sum_u clip(x_u) plus the survivors' noise (plus rounding
error), in float units.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from secagg.crypto.prg import RingArray, ring_dtype
from secagg.encoding.dp.noise import discrete_gaussian, noise_generator, skellam
from secagg.encoding.dp.params import DistributedDpConfig, Mechanism
from secagg.encoding.dp.rotation import rotate, unrotate
from secagg.encoding.dp.rounding import conditional_round
from secagg.errors import ConfigError

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class EncodedShare:
    """One client's input to the secure sum."""

    values: RingArray
    clipped: bool
    """Whether the L2 clip changed the vector (its norm exceeded c)."""


def _as_vector(x: npt.ArrayLike, dim: int) -> FloatArray:
    # The messages name shapes and dtypes, never values: an update is private data.
    try:
        v = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError):
        raise ConfigError("update is not a vector of real numbers") from None
    if v.shape != (dim,):
        raise ConfigError(f"update has shape {v.shape}; the configuration expects ({dim},)")
    if not np.isfinite(v).all():
        raise ConfigError("update contains NaN or infinity")
    return v


def encode(
    x: npt.ArrayLike, config: DistributedDpConfig, rotation_seed: bytes, noise_seed: bytes
) -> EncodedShare:
    """Steps 1-6 for one client. ``noise_seed`` (32 bytes, from ``os.urandom`` in production)
    drives the rounding and the noise share; ``rotation_seed`` is the round's public seed."""
    v = _as_vector(x, config.dim)
    gen = noise_generator(noise_seed)
    norm = float(np.linalg.norm(v))
    clipped = norm > config.clip
    if clipped:
        v = v * (config.clip / norm)
    scaled = rotate(v, rotation_seed) * config.scale
    rounded = conditional_round(scaled, config.l2_sensitivity, gen)
    size = rounded.shape[0]
    if config.mechanism is Mechanism.SKELLAM:
        noise = skellam(gen, config.local_variance, size)
    else:
        noise = discrete_gaussian(gen, float(np.sqrt(config.local_variance)), size)
    # int64 two's complement AND (2^b - 1) is the reduction mod 2^b (b <= 62).
    ring = (rounded + noise) & np.int64((1 << config.bits) - 1)
    return EncodedShare(ring.astype(ring_dtype(config.bits)), clipped)


def decode(
    aggregate: npt.ArrayLike, config: DistributedDpConfig, rotation_seed: bytes
) -> FloatArray:
    """The float sum from the ring sum: centred lift, divide by s, rotate back, crop to d."""
    a = np.asarray(aggregate)
    if a.shape != (config.padded_dim,):
        raise ConfigError(
            f"aggregate has shape {a.shape}; expected ({config.padded_dim},) for this configuration"
        )
    signed = a.astype(np.int64) & np.int64((1 << config.bits) - 1)
    half = np.int64(1 << (config.bits - 1))
    signed = np.where(signed >= half, signed - 2 * half, signed)
    return unrotate(signed.astype(np.float64) / config.scale, rotation_seed, config.dim)
