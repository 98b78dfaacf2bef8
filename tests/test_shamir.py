"""Shamir sharing over GF(2^256 + 297): reconstruction, perfect secrecy, caching, encodings."""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg.crypto import shamir
from secagg.crypto.shamir import PRIME

secrets32 = st.binary(min_size=32, max_size=32)
field = st.integers(0, PRIME - 1)


def is_probable_prime(n: int) -> bool:
    """Miller-Rabin with the first 20 prime bases (deterministic for all n < 3.3e24, and
    overwhelmingly reliable for a 257-bit n)."""
    bases = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71]
    if n < 2:
        return False
    for p in bases:
        if n % p == 0:
            return n == p
    d, r = n - 1, 0
    while d % 2 == 0:
        d, r = d // 2, r + 1
    for a in bases:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(r - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def test_prime_is_the_smallest_prime_above_2_256() -> None:
    assert PRIME == (1 << 256) + 297
    assert is_probable_prime(PRIME)
    assert not any(is_probable_prime(k) for k in range((1 << 256) + 1, PRIME))


@st.composite
def sharings(draw: st.DrawFn, min_t: int = 1) -> tuple[bytes, int, int, bytes, list[int]]:
    """(secret, n, t, rand, xs) with n <= 12; x-coordinates are client ids + 1, as the protocol
    uses them."""
    n = draw(st.integers(min_t, 12))
    t = draw(st.integers(min_t, n))
    secret = draw(secrets32)
    rand = draw(st.binary(min_size=shamir.rand_size(t), max_size=shamir.rand_size(t)))
    ids = draw(st.lists(st.integers(0, 10_000), min_size=n, max_size=n, unique=True))
    return secret, n, t, rand, [i + 1 for i in ids]


@given(sharings(), st.randoms(use_true_random=False))
@settings(max_examples=150)
def test_any_t_of_n_shares_reconstruct(
    case: tuple[bytes, int, int, bytes, list[int]], rng: random.Random
) -> None:
    secret, n, t, rand, xs = case
    (values,) = shamir.share([secret], xs, t, rand)
    assert len(values) == n
    assert all(0 <= y < PRIME for y in values)
    points = list(zip(xs, values, strict=True))
    # A few random t-subsets, in random order (every subset: the next test, for small n).
    for subset in (rng.sample(points, t) for _ in range(5)):
        value = shamir.reconstruct(subset)
        assert value == int.from_bytes(secret, "big")
        assert shamir.secret_bytes(value) == secret


@given(st.integers(1, 8), st.data())
@settings(max_examples=40)
def test_every_subset_of_size_at_least_t_reconstructs(n: int, data: st.DataObject) -> None:
    t = data.draw(st.integers(1, n))
    secret = data.draw(secrets32)
    rand = data.draw(st.binary(min_size=shamir.rand_size(t), max_size=shamir.rand_size(t)))
    xs = list(range(1, n + 1))
    (values,) = shamir.share([secret], xs, t, rand)
    for mask in range(1, 1 << n):
        chosen = [(x, y) for i, (x, y) in enumerate(zip(xs, values, strict=True)) if mask >> i & 1]
        if len(chosen) >= t:
            # More than t points of a degree t-1 polynomial still interpolate it.
            assert shamir.reconstruct(chosen) == int.from_bytes(secret, "big")


def test_several_secrets_use_consecutive_rand_chunks() -> None:
    t = 3
    secrets = [bytes([k]) * 32 for k in range(4)]
    rand = bytes(range(256)) * 3
    rand = rand[: len(secrets) * shamir.rand_size(t)]
    xs = [1, 2, 5, 9]
    together = shamir.share(secrets, xs, t, rand)
    size = shamir.rand_size(t)
    for k, secret in enumerate(secrets):
        alone = shamir.share([secret], xs, t, rand[k * size : (k + 1) * size])
        assert together[k] == alone[0]
        assert shamir.reconstruct(
            list(zip(xs[:t], together[k][:t], strict=True))
        ) == int.from_bytes(secret, "big")


def test_polynomial_coefficients_come_from_rand() -> None:
    # f(x) = s + a1 x + a2 x^2 with a_i read big-endian from 48-byte chunks, reduced mod p.
    s = 5
    a1 = PRIME + 7  # reduced to 7
    a2 = 11
    rand = a1.to_bytes(48, "big") + a2.to_bytes(48, "big")
    (values,) = shamir.share([s.to_bytes(32, "big")], [1, 2, 3], 3, rand)
    assert values == [(s + 7 * x + 11 * x * x) % PRIME for x in (1, 2, 3)]


def test_threshold_one_shares_are_the_secret() -> None:
    secret = bytes(range(32))
    (values,) = shamir.share([secret], [1, 2, 3], 1, b"")
    assert values == [int.from_bytes(secret, "big")] * 3
    assert shamir.reconstruct([(2, values[1])]) == int.from_bytes(secret, "big")


def interpolate_coefficients(points: list[tuple[int, int]]) -> list[int]:
    """The coefficients (constant first) of the unique polynomial of degree < len(points) through
    ``points``, by Lagrange's formula expanded into monomials. Independent of the library."""
    k = len(points)
    coefficients = [0] * k
    for i, (xi, yi) in enumerate(points):
        basis = [1]  # prod_{j != i} (x - x_j) / (x_i - x_j), built up monomial by monomial
        denominator = 1
        for j, (xj, _) in enumerate(points):
            if j == i:
                continue
            basis = [
                ((basis[d - 1] if d > 0 else 0) - xj * (basis[d] if d < len(basis) else 0)) % PRIME
                for d in range(len(basis) + 1)
            ]
            denominator = denominator * (xi - xj) % PRIME
        scale = yi * pow(denominator, -1, PRIME) % PRIME
        for d, c in enumerate(basis):
            coefficients[d] = (coefficients[d] + scale * c) % PRIME
    return coefficients


def evaluate(coefficients: list[int], x: int) -> int:
    return sum(c * pow(x, d, PRIME) for d, c in enumerate(coefficients)) % PRIME


@given(sharings(min_t=2), secrets32)
@settings(max_examples=100)
def test_t_minus_1_shares_are_consistent_with_every_secret(
    case: tuple[bytes, int, int, bytes, list[int]], candidate: bytes
) -> None:
    """Perfect secrecy: for the t-1 shares a coalition holds and ANY candidate secret s', there is
    exactly one choice of the dealer's coefficients a'_1..a'_{t-1} under which sharing s' gives
    the same t-1 shares. Since the coefficients are uniform and independent of the secret, the
    coalition's view has the same distribution whatever the secret."""
    secret, _n, t, rand, xs = case
    (values,) = shamir.share([secret], xs, t, rand)
    held = list(zip(xs[: t - 1], values[: t - 1], strict=True))
    s_prime = int.from_bytes(candidate, "big")
    g = interpolate_coefficients([(0, s_prime), *held])
    assert len(g) == t  # degree <= t - 1
    assert g[0] == s_prime
    assert all(evaluate(g, x) == y for x, y in held)
    # The library itself, fed the randomness that encodes g's coefficients, deals s' into
    # exactly the shares the coalition saw.
    rand_prime = b"".join(c.to_bytes(shamir.COEFFICIENT_RAND_SIZE, "big") for c in g[1:])
    (values_prime,) = shamir.share([candidate], xs[: t - 1], t, rand_prime)
    assert values_prime == values[: t - 1]
    # Uniqueness: (a'_1..a'_{t-1}) -> shares is the affine map with matrix M[j][d] = x_j^d,
    # d = 1..t-1, whose determinant prod x_j * prod_{i<j} (x_j - x_i) is nonzero mod p for these
    # nodes, so it is a bijection of GF(p)^{t-1}: each candidate secret has exactly one
    # randomness explaining the view.
    nodes = xs[: t - 1]
    det = 1
    for j, xj in enumerate(nodes):
        det = det * xj % PRIME
        for xi in nodes[:j]:
            det = det * (xj - xi) % PRIME
    assert det != 0


@given(st.integers(1, 10_000), field, secrets32, secrets32)
@settings(max_examples=100)
def test_threshold_two_single_share_is_independent_of_secret(
    x: int, observed: int, s1: bytes, s2: bytes
) -> None:
    """t = 2, f(x) = s + a*x: for every observed share value y and every secret s there is
    exactly one a (namely (y - s) / x) producing it, so with a uniform a the share is uniform
    whatever s is. Exercised through the library for two secrets and the same observation."""
    for secret in (s1, s2):
        s = int.from_bytes(secret, "big")
        a = (observed - s) * pow(x, -1, PRIME) % PRIME
        (values,) = shamir.share([secret], [x], 2, a.to_bytes(48, "big"))
        assert values == [observed]
    # With the same randomness, distinct secrets give distinct shares (the map s -> y is a
    # bijection too), so a share alone pins nothing down without the randomness.
    rand = bytes(range(48))
    (y1,) = shamir.share([s1], [x], 2, rand)
    (y2,) = shamir.share([s2], [x], 2, rand)
    assert (y1 == y2) == (s1 == s2)


def test_threshold_two_share_distribution_does_not_depend_on_secret() -> None:
    # An empirical companion to the exact argument above: the low byte of a share under uniform
    # randomness is uniform for a zero secret and an all-ones secret alike.
    rng = np.random.default_rng(2017)
    trials = 4000
    for secret in (bytes(32), b"\xff" * 32):
        rand = rng.bytes(48 * trials)
        low = [
            shamir.share([secret], [3], 2, rand[48 * i : 48 * (i + 1)])[0][0] % 4
            for i in range(trials)
        ]
        counts = np.bincount(low, minlength=4)
        assert np.all(np.abs(counts - trials / 4) < 250)  # sd ~ 27


def test_lagrange_cache_is_reused() -> None:
    xs = (1_000_003, 1_000_007, 1_000_009)  # a holder set no other test uses
    before = shamir.lagrange_at_zero.cache_info()
    first = shamir.lagrange_at_zero(xs)
    assert shamir.lagrange_at_zero(xs) is first
    shamir.reconstruct([(x, 1) for x in xs])
    shamir.reconstruct([(x, 2) for x in xs])
    after = shamir.lagrange_at_zero.cache_info()
    assert after.misses == before.misses + 1
    assert after.hits == before.hits + 3


@given(st.lists(st.integers(1, PRIME - 1), min_size=1, max_size=8, unique=True))
@settings(max_examples=50)
def test_lagrange_coefficients_sum_to_one(xs: list[int]) -> None:
    # The constant polynomial 1 reconstructs to 1, so the coefficients at 0 sum to 1.
    assert sum(shamir.lagrange_at_zero(tuple(xs))) % PRIME == 1


@pytest.mark.parametrize("xs", [(1, 1), (0, 2), (1, PRIME), (2, -1), (3, 4, 3)])
def test_lagrange_rejects_bad_coordinates(xs: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        shamir.lagrange_at_zero(xs)


@given(field)
def test_share_encoding_round_trip(value: int) -> None:
    encoded = shamir.encode_share(value)
    assert len(encoded) == shamir.SHARE_SIZE == 33
    assert encoded == value.to_bytes(33, "big")
    assert shamir.decode_share(encoded) == value


@pytest.mark.parametrize("value", [PRIME, PRIME + 1, (1 << 264) - 1])
def test_decode_share_rejects_values_not_below_p(value: int) -> None:
    with pytest.raises(ValueError):
        shamir.decode_share(value.to_bytes(33, "big"))


@pytest.mark.parametrize("length", [0, 32, 34, 66])
def test_decode_share_rejects_wrong_length(length: int) -> None:
    with pytest.raises(ValueError):
        shamir.decode_share(bytes(length))


def test_decode_share_boundaries() -> None:
    assert shamir.decode_share((PRIME - 1).to_bytes(33, "big")) == PRIME - 1
    assert shamir.decode_share(bytes(33)) == 0


def test_secret_bytes() -> None:
    assert shamir.secret_bytes(0) == bytes(32)
    assert shamir.secret_bytes((1 << 256) - 1) == b"\xff" * 32
    for bad in (1 << 256, PRIME - 1, -1):
        with pytest.raises(ValueError):
            shamir.secret_bytes(bad)


def test_rand_size() -> None:
    assert shamir.rand_size(1) == 0
    assert shamir.rand_size(2) == 48
    assert shamir.rand_size(10) == 9 * 48


@pytest.mark.parametrize("delta", [-1, 1, 48, -48])
def test_rand_length_is_checked(delta: int) -> None:
    t = 3
    secrets = [bytes(32), bytes(32)]
    size = len(secrets) * shamir.rand_size(t) + delta
    with pytest.raises(ValueError):
        shamir.share(secrets, [1, 2, 3], t, bytes(size))


def test_share_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        shamir.share([bytes(32)], [1, 2], 0, b"")
    with pytest.raises(ValueError):
        shamir.share([bytes(31)], [1, 2], 1, b"")
    with pytest.raises(ValueError):
        shamir.share([bytes(33)], [1, 2], 1, b"")
    for bad_x in (0, -1, PRIME):
        with pytest.raises(ValueError):
            shamir.share([bytes(32)], [1, bad_x], 1, b"")
