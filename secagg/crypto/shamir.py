"""t-out-of-n Shamir secret sharing over the prime field GF(p), p = 2^256 + 297.

p is the smallest prime above 2^256, so every 32-byte secret (an X25519 secret s_u^SK or a
self-mask seed b_u, read big-endian) is a field element. A share is the pair (x, f(x)) where the
holder's x is its client id plus one (x = 0 would be the secret itself); f(x) travels as 33
big-endian bytes.

Lagrange coefficients at 0 depend only on the set of holders, which is the same for most secrets
of a round, so they are computed once per holder set and cached.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from functools import lru_cache

PRIME = (1 << 256) + 297
SECRET_SIZE = 32
SHARE_SIZE = 33
COEFFICIENT_RAND_SIZE = 48
"""Random bytes per coefficient: 384 bits reduced mod p is within 2^-128 of uniform."""


def rand_size(threshold: int) -> int:
    """Bytes of randomness :func:`share` consumes: ``(t - 1) * 48``."""
    return (threshold - 1) * COEFFICIENT_RAND_SIZE


def share(
    secrets: Sequence[bytes], xs: Iterable[int], threshold: int, rand: bytes
) -> list[list[int]]:
    """Share each 32-byte secret with a random polynomial of degree ``t - 1``.

    Returns ``values[k][j] = f_k(xs[j])``. ``rand`` must hold ``len(secrets) * rand_size(t)``
    bytes; polynomial ``k`` takes coefficients a_1..a_{t-1} from consecutive 48-byte chunks.
    """
    if threshold < 1:
        raise ValueError("threshold must be at least 1")
    if len(rand) != len(secrets) * rand_size(threshold):
        raise ValueError("rand has the wrong length")
    xs = list(xs)
    if any(not 0 < x < PRIME for x in xs):
        raise ValueError("share x-coordinates must be in [1, p)")
    step = COEFFICIENT_RAND_SIZE
    out: list[list[int]] = []
    for k, secret in enumerate(secrets):
        if len(secret) != SECRET_SIZE:
            raise ValueError("secrets must be 32 bytes")
        base = k * rand_size(threshold)
        coefficients = [int.from_bytes(secret, "big")] + [
            int.from_bytes(rand[base + i * step : base + (i + 1) * step], "big") % PRIME
            for i in range(threshold - 1)
        ]
        out.append([_horner(coefficients, x) for x in xs])
    return out


def _horner(coefficients: list[int], x: int) -> int:
    acc = 0
    for c in reversed(coefficients):
        acc = (acc * x + c) % PRIME
    return acc


@lru_cache(maxsize=256)
def lagrange_at_zero(xs: tuple[int, ...]) -> tuple[int, ...]:
    """lambda_i = prod_{j != i} x_j / (x_j - x_i) mod p, for distinct nonzero ``xs``."""
    if len(set(xs)) != len(xs) or any(not 0 < x < PRIME for x in xs):
        raise ValueError("x-coordinates must be distinct and in [1, p)")
    coefficients = []
    for i, xi in enumerate(xs):
        num = 1
        den = 1
        for j, xj in enumerate(xs):
            if i != j:
                num = num * xj % PRIME
                den = den * (xj - xi) % PRIME
        coefficients.append(num * pow(den, -1, PRIME) % PRIME)
    return tuple(coefficients)


def reconstruct(points: Sequence[tuple[int, int]]) -> int:
    """f(0) from the given (x, f(x)) points, all of which are used.

    The caller passes exactly ``t`` points; with fewer the result is unrelated to the secret.
    """
    xs = tuple(x for x, _ in points)
    return sum(lam * y for lam, (_, y) in zip(lagrange_at_zero(xs), points, strict=True)) % PRIME


def secret_bytes(value: int) -> bytes:
    """A reconstructed field element back to 32 bytes; ValueError if it is >= 2^256."""
    if not 0 <= value < 1 << 256:
        raise ValueError("reconstructed value is not a 32-byte secret")
    return value.to_bytes(SECRET_SIZE, "big")


def encode_share(value: int) -> bytes:
    """f(x) as 33 big-endian bytes."""
    return value.to_bytes(SHARE_SIZE, "big")


def decode_share(data: bytes) -> int:
    """33 bytes to a field element; ValueError unless it is < p."""
    if len(data) != SHARE_SIZE:
        raise ValueError("a share is 33 bytes")
    value = int.from_bytes(data, "big")
    if value >= PRIME:
        raise ValueError("share value is not a field element")
    return value
