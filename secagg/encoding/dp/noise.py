"""Integer noise shares: symmetric Skellam and the discrete Gaussian, and where their randomness
comes from.

Each client adds one share; the server only ever sees the sum of the survivors' shares, which is
again Skellam (sums of independent Poissons are Poisson) or close to a discrete Gaussian
(Kairouz, Liu, Steinke, ICML 2021, Theorem 1 bounds the gap).

Randomness: the samplers take a :class:`numpy.random.Generator` built by :func:`noise_generator`
from 32 bytes that the caller passes in - from ``os.urandom`` in production (the training loop
and :mod:`secagg.integrations.torch.fedavg` draw them from the OS CSPRNG unless a test seed is
given). numpy's PCG64DXSM is a fast statistical generator, not a cryptographic one: it is used
for noise and rounding draws only, never for keys, seeds or masks (those come from the AES-CTR
PRG). Like every floating-point implementation (TensorFlow Federated's included), the samplers
are not bit-exact in the sense of Canonne-Kamath-Steinke's exact-arithmetic sampler.
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]

NOISE_SEED_SIZE = 32


def noise_generator(seed: bytes) -> np.random.Generator:
    """A PCG64DXSM generator keyed by all 256 bits of ``seed`` (e.g. ``os.urandom(32)``)."""
    if not isinstance(seed, bytes) or len(seed) != NOISE_SEED_SIZE:
        raise ValueError(f"noise seed must be {NOISE_SEED_SIZE} bytes")
    entropy = int.from_bytes(seed, "big")
    return np.random.Generator(np.random.PCG64DXSM(np.random.SeedSequence(entropy)))


def skellam(gen: np.random.Generator, variance: float, size: int) -> IntArray:
    """Symmetric Skellam Sk(mu, mu) = Poisson(mu) - Poisson(mu) with mu = variance / 2.

    Agarwal, Kairouz, Liu (NeurIPS 2021): mean 0, variance 2 mu = ``variance``; n shares of
    variance v sum to one Skellam of variance n v.
    """
    if variance < 0:
        raise ValueError("variance must be non-negative")
    mu = variance / 2.0
    out: IntArray = gen.poisson(mu, size).astype(np.int64) - gen.poisson(mu, size).astype(np.int64)
    return out


def _discrete_laplace(gen: np.random.Generator, t: float, size: int) -> IntArray:
    """P(y) proportional to exp(-|y| / t): the difference of two geometric failure counts."""
    p = -math.expm1(-1.0 / t)  # 1 - e^{-1/t}, without cancellation for large t
    out: IntArray = gen.geometric(p, size).astype(np.int64) - gen.geometric(p, size).astype(
        np.int64
    )
    return out


def discrete_gaussian(gen: np.random.Generator, sigma: float, size: int) -> IntArray:
    """N_Z(0, sigma^2): P(y) proportional to exp(-y^2 / (2 sigma^2)) on the integers.

    Canonne, Kamath, Steinke (NeurIPS 2020), Algorithm 3: propose y from the discrete Laplace of
    scale t = floor(sigma) + 1 and accept with probability exp(-(|y| - sigma^2/t)^2 / (2 sigma^2)),
    vectorized (each batch proposes for all outstanding values; acceptance is about 1/2 or more,
    so a handful of batches suffice). Its variance is at most sigma^2 and within
    e^{-2 pi^2 sigma^2}-relative of it for sigma >= 1.
    """
    if sigma < 0:
        raise ValueError("sigma must be non-negative")
    if sigma == 0:
        return np.zeros(size, dtype=np.int64)
    t = math.floor(sigma) + 1.0
    out = np.empty(size, dtype=np.int64)
    filled = 0
    while filled < size:
        want = size - filled
        # Propose a little more than needed so most calls finish in one or two batches.
        batch = max(16, int(want * 2.2))
        y = _discrete_laplace(gen, t, batch)
        accept = gen.random(batch) < np.exp(-((np.abs(y) - sigma**2 / t) ** 2) / (2 * sigma**2))
        kept = y[accept][:want]
        out[filled : filled + kept.shape[0]] = kept
        filled += kept.shape[0]
    return out
