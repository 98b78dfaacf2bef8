"""t-out-of-h Shamir secret sharing of 32-byte secrets, vectorized with numpy.

A 32-byte secret S (read big-endian as a 256-bit integer) is split into ``LIMBS = 9`` limbs of
30 bits, ``S_j = (S >> 30 j) mod 2^30`` (the last limb has 16 bits), and each limb is shared
with its own random polynomial of degree ``t - 1`` over GF(p), ``p = 2^31 - 1`` (a Mersenne
prime). The holder with x-coordinate ``x`` (its client id plus one; ``x = 0`` would be the
secret) gets ``y_j = f_j(x)`` for every limb: its share is the 9 values, 36 bytes on the wire
(``u32`` big-endian each, every one ``< p``).

Why limbs: with p < 2^31 field elements and their products fit numpy's uint64 arithmetic
exactly, so evaluation (a matrix product of the holders' Vandermonde matrix and all
coefficients) and reconstruction (Lagrange coefficients for many holder sets at
once) are a handful of numpy operations instead of O(h t) Python big-int multiplications.
Each limb is an independent perfect t-out-of-h sharing, so any ``t - 1`` shares of a secret are
independent of it, limb by limb.

Randomness: every coefficient is 16 random bytes (a big-endian 128-bit integer) reduced mod p,
within 2^-97 of uniform. Polynomial coefficients are laid out secret by secret, then degree
``i = 1 .. t-1``, then limb ``j = 0 .. 8`` (:func:`rand_size`).

Reconstruction from ``t`` shares returns the secret only when every limb is in range
(< 2^30, the last < 2^16); otherwise the shares do not come from one sharing of a 32-byte
secret and :class:`InconsistentShares` is raised.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

import numpy as np
import numpy.typing as npt

PRIME = (1 << 31) - 1
LIMBS = 9
LIMB_BITS = 30
SECRET_SIZE = 32
SHARE_SIZE = 4 * LIMBS  # 36
COEFFICIENT_RAND_SIZE = 16
"""Random bytes per coefficient: 128 bits reduced mod p is within 2^-97 of uniform."""

_P = np.uint64(PRIME)
_LIMB_MASK = (1 << LIMB_BITS) - 1
_LAST_LIMB_BITS = 8 * SECRET_SIZE - LIMB_BITS * (LIMBS - 1)  # 16
_TWO64_MOD_P = np.uint64(pow(2, 64, PRIME))  # = 4

Shares = npt.NDArray[np.uint64]
"""Field elements, the last axis being the ``LIMBS`` limbs of one share."""


class InconsistentShares(ValueError):
    """The points do not reconstruct a 32-byte secret (some limb is out of range)."""


def rand_size(threshold: int, secrets: int = 1) -> int:
    """Bytes of randomness :func:`share` consumes for ``secrets`` secrets:
    ``secrets * (t - 1) * LIMBS * 16``."""
    return secrets * (threshold - 1) * LIMBS * COEFFICIENT_RAND_SIZE


def secret_limbs(secrets: Sequence[bytes]) -> npt.NDArray[np.uint64]:
    """The limbs of each secret, shape ``(len(secrets), LIMBS)``."""
    out = np.empty((len(secrets), LIMBS), dtype=np.uint64)
    for k, secret in enumerate(secrets):
        if not isinstance(secret, bytes) or len(secret) != SECRET_SIZE:
            raise ValueError("secrets must be 32 bytes")
        value = int.from_bytes(secret, "big")
        for j in range(LIMBS):
            out[k, j] = (value >> (LIMB_BITS * j)) & _LIMB_MASK
    return out


def limbs_secret(limbs: npt.NDArray[np.uint64]) -> bytes:
    """The 32-byte secret of ``LIMBS`` reconstructed limbs; :class:`InconsistentShares` when a
    limb is out of range."""
    value = 0
    for j in range(LIMBS):
        limb = int(limbs[j])
        bound = 1 << (_LAST_LIMB_BITS if j == LIMBS - 1 else LIMB_BITS)
        if limb >= bound:
            raise InconsistentShares("shares do not reconstruct a 32-byte secret")
        value |= limb << (LIMB_BITS * j)
    return value.to_bytes(SECRET_SIZE, "big")


def _coefficients(rand: bytes, count: int, threshold: int) -> npt.NDArray[np.uint64]:
    """Shape ``(count, t - 1, LIMBS)``: rand read as big-endian (hi, lo) uint64 pairs,
    ``(hi * 2^64 + lo) mod p``."""
    words = np.frombuffer(rand, dtype=">u8").astype(np.uint64).reshape(-1, 2)
    hi, lo = words[:, 0] % _P, words[:, 1] % _P
    values = (hi * _TWO64_MOD_P + lo) % _P
    return values.reshape(count, threshold - 1, LIMBS)


def share(secrets: Sequence[bytes], xs: Sequence[int], threshold: int, rand: bytes) -> Shares:
    """Share each secret among the x-coordinates ``xs`` with threshold ``t``.

    Returns ``y`` of shape ``(len(secrets), len(xs), LIMBS)``: ``y[k, i]`` is the share of
    secret ``k`` at ``xs[i]``. ``rand`` must hold :func:`rand_size` bytes.
    """
    if threshold < 1:
        raise ValueError("threshold must be at least 1")
    if len(rand) != rand_size(threshold, len(secrets)):
        raise ValueError("rand has the wrong length")
    x = np.asarray(xs, dtype=np.int64)
    if x.ndim != 1 or (x.size and (x.min() < 1 or x.max() >= PRIME)):
        raise ValueError("share x-coordinates must be in [1, p)")
    limbs = secret_limbs(secrets)  # (s, L)
    count = len(secrets)
    coefficients = np.empty((count, threshold, LIMBS), dtype=np.uint64)
    coefficients[:, 0, :] = limbs
    if threshold > 1:
        coefficients[:, 1:, :] = _coefficients(rand, count, threshold)
    # One matrix product for every holder, secret and limb: V[i, d] = x_i^d (mod p).
    powers = _vandermonde(x.astype(np.uint64), threshold)
    flat = coefficients.transpose(1, 0, 2).reshape(threshold, count * LIMBS)
    values = _matmul_mod(powers, flat)  # (h, s * L)
    out: Shares = np.ascontiguousarray(values.reshape(x.size, count, LIMBS).transpose(1, 0, 2))
    return out


def _vandermonde(x: npt.NDArray[np.uint64], degree: int) -> npt.NDArray[np.uint64]:
    """``V[i, d] = x_i^d mod p`` for ``d < degree``, by doubling: the columns ``[k, 2k)`` are
    the columns ``[0, k)`` times ``x^k`` (a handful of array operations, not one per degree)."""
    powers = np.empty((x.size, degree), dtype=np.uint64)
    powers[:, 0] = 1
    filled = 1
    step = x % _P  # x^filled
    while filled < degree:
        count = min(filled, degree - filled)
        powers[:, filled : filled + count] = powers[:, :count] * step[:, None] % _P
        filled += count
        step = step * step % _P
    return powers


def _matmul_mod(a: npt.NDArray[np.uint64], b: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """``a @ b mod p`` for entries ``< p``, exactly, with integer matrix products.

    ``b`` is split into 16-bit halves: every product with an entry of ``a`` is ``< 2^47``, and a
    sum of up to 2^17 of them stays below 2^64. Longer sums split ``a`` too (products of halves
    ``< 2^32``, sums of up to 2^20 of them ``< 2^52``). numpy's integer matmul runs in this
    thread: no BLAS thread pool spinning on the other cores of a busy worker.
    """
    inner = a.shape[1]
    if inner > 1 << 20:
        raise ValueError("inner dimension too large for exact products")
    sixteen = np.uint64(16)
    low = np.uint64(0xFFFF)
    b1, b0 = b >> sixteen, b & low
    if inner <= 1 << 17:
        high = (a @ b1) % _P
        bottom = (a @ b0) % _P
        # 2^16 * high + bottom < 2^47 + 2^31: no overflow.
        out: npt.NDArray[np.uint64] = (high * np.uint64(1 << 16) + bottom) % _P
        return out
    a1, a0 = a >> sixteen, a & low
    top = (a1 @ b1) % _P
    middle = ((a1 @ b0) + (a0 @ b1)) % _P
    bottom = (a0 @ b0) % _P
    # 2^32 = 2 and 2^16 = 2^16 (mod 2^31 - 1); the sum stays below 2^48.
    out = (top * np.uint64(2) + middle * np.uint64(1 << 16) + bottom) % _P
    return out


def _prod_mod(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """The product mod p along the last axis, by pairwise halving (log2 of its length steps)."""
    while values.shape[-1] > 1:
        if values.shape[-1] % 2:
            pad = np.ones((*values.shape[:-1], 1), dtype=np.uint64)
            values = np.concatenate([values, pad], axis=-1)
        values = values[..., 0::2] * values[..., 1::2] % _P
    return values[..., 0]


def _inverse(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """Elementwise inverse mod p by Fermat, values^(p-2), square and multiply."""
    result = np.ones_like(values)
    base = values % _P
    exponent = PRIME - 2
    while exponent:
        if exponent & 1:
            result = result * base % _P
        base = base * base % _P
        exponent >>= 1
    return result


def lagrange_batch(xs: npt.ArrayLike) -> npt.NDArray[np.uint64]:
    """Lagrange coefficients at 0, ``lambda_i = prod_{j != i} x_j / (x_j - x_i) mod p``, for
    every row of ``xs`` (shape ``(sets, t)``; each row distinct values in [1, p))."""
    x = np.asarray(xs, dtype=np.int64)
    if x.ndim != 2:
        raise ValueError("xs must have shape (sets, t)")
    if x.size and (x.min() < 1 or x.max() >= PRIME):
        raise ValueError("x-coordinates must be in [1, p)")
    t = x.shape[1]
    if t and np.any(np.diff(np.sort(x, axis=1), axis=1) == 0):
        raise ValueError("x-coordinates must be distinct")
    eye = np.eye(t, dtype=bool)
    xu = x.astype(np.uint64)
    # num[s, i, j] = x_j, den[s, i, j] = x_j - x_i mod p; 1 on the diagonal (j = i is skipped).
    num = np.where(eye, np.uint64(1), np.broadcast_to(xu[:, None, :], (x.shape[0], t, t)))
    diff = (x[:, None, :] - x[:, :, None]) % PRIME
    den = np.where(eye, np.uint64(1), diff.astype(np.uint64))
    out: npt.NDArray[np.uint64] = _prod_mod(num) * _inverse(_prod_mod(den)) % _P
    return out


@lru_cache(maxsize=256)
def lagrange_at_zero(xs: tuple[int, ...]) -> npt.NDArray[np.uint64]:
    """Lagrange coefficients of one holder set, cached: most secrets of a round share one."""
    coefficients: npt.NDArray[np.uint64] = lagrange_batch(np.asarray([xs], dtype=np.int64))[0]
    coefficients.setflags(write=False)
    return coefficients


def combine(coefficients: npt.NDArray[np.uint64], ys: Shares) -> npt.NDArray[np.uint64]:
    """``sum_i lambda_i y_i mod p`` over the second-to-last axis of ``ys``: limbs of f(0).

    ``coefficients`` has shape ``(..., t)`` and ``ys`` shape ``(..., t, LIMBS)``. Each product
    is reduced first, so a sum of up to 2^33 terms stays below 2^64.
    """
    products = coefficients[..., :, None] * ys % _P
    out: npt.NDArray[np.uint64] = products.sum(axis=-2, dtype=np.uint64) % _P
    return out


def reconstruct(points: Sequence[tuple[int, Any]]) -> bytes:
    """The secret from exactly ``t`` points ``(x, share)``; a share is its 36-byte encoding or
    an array of ``LIMBS`` field elements. Raises :class:`InconsistentShares` when the limbs are
    out of range (the points are not one sharing of a 32-byte secret)."""
    xs = tuple(int(x) for x, _ in points)
    ys = np.stack([decode_share(y) if isinstance(y, bytes) else np.asarray(y) for _, y in points])
    return limbs_secret(combine(lagrange_at_zero(xs), ys.astype(np.uint64)))


def encode_share(y: npt.ArrayLike) -> bytes:
    """``LIMBS`` field elements as 36 bytes, u32 big-endian each."""
    values = np.asarray(y)
    if values.shape != (LIMBS,):
        raise ValueError(f"a share has {LIMBS} limbs")
    return values.astype(">u4").tobytes()


def encode_shares(ys: Shares) -> list[bytes]:
    """Every share of ``ys`` (shape ``(h, LIMBS)``) as 36 bytes, in one conversion."""
    raw = np.ascontiguousarray(ys, dtype=">u4").tobytes()
    return [raw[i : i + SHARE_SIZE] for i in range(0, len(raw), SHARE_SIZE)]


_LIMB_STRUCT = struct.Struct(f">{LIMBS}I")


def is_share(data: bytes) -> bool:
    """True when ``data`` is a 36-byte share encoding with every limb ``< p`` (a fast check:
    no array is made)."""
    return len(data) == SHARE_SIZE and max(_LIMB_STRUCT.unpack(data)) < PRIME


def decode_share(data: bytes) -> npt.NDArray[np.uint64]:
    """36 bytes to ``LIMBS`` field elements; ValueError unless each is ``< p``."""
    if len(data) != SHARE_SIZE:
        raise ValueError(f"a share is {SHARE_SIZE} bytes")
    values = np.frombuffer(data, dtype=">u4").astype(np.uint64)
    if int(values.max()) >= PRIME:
        raise ValueError("share limb is not a field element")
    return values


def decode_shares(blob: bytes | memoryview, count: int) -> Shares:
    """``count`` consecutive 36-byte shares; ValueError unless every limb is ``< p``."""
    if len(blob) != count * SHARE_SIZE:
        raise ValueError("share blob has the wrong length")
    values = np.frombuffer(blob, dtype=">u4").astype(np.uint64).reshape(count, LIMBS)
    if count and int(values.max()) >= PRIME:
        raise ValueError("share limb is not a field element")
    return values
