"""Limb Shamir sharing over GF(2^31 - 1) (SPEC section 8): the limb split, reconstruction,
perfect secrecy, inconsistent shares, encodings, Lagrange coefficients and the coefficient
layout, each checked against references written here from the spec text with Python ints."""

from __future__ import annotations

import random
from itertools import combinations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg.config import RoundConfig
from secagg.core.client import rand_size as client_rand_size
from secagg.crypto import shamir
from secagg.crypto.shamir import PRIME, InconsistentShares

P = 2**31 - 1  # SPEC 8.1
LIMBS = 9
secrets32 = st.binary(min_size=32, max_size=32)
field = st.integers(0, P - 1)


# --------------------------------------------------------------------------- references (SPEC 8)


def spec_limbs(secret: bytes) -> list[int]:
    """SPEC 8.1: S read big-endian, S_j = floor(S / 2^(30 j)) mod 2^30 for j = 0..8."""
    s = int.from_bytes(secret, "big")
    return [(s // 2 ** (30 * j)) % 2**30 for j in range(LIMBS)]


def spec_share(secrets: list[bytes], xs: list[int], t: int, rand: bytes) -> list[list[list[int]]]:
    """SPEC 8.1 with Python ints: a_{j,i} of secret q is the 16-byte chunk number
    (q (t-1) + (i-1)) * 9 + j of rand, big-endian, mod p; share at x is (f_0(x), ..., f_8(x))."""
    assert len(rand) == len(secrets) * (t - 1) * 9 * 16
    out = []
    for q, secret in enumerate(secrets):
        limbs = spec_limbs(secret)
        rows = []
        for x in xs:
            share = []
            for j in range(LIMBS):
                value = limbs[j]
                for i in range(1, t):
                    chunk = (q * (t - 1) + (i - 1)) * 9 + j
                    a = int.from_bytes(rand[16 * chunk : 16 * chunk + 16], "big") % P
                    value += a * x**i
                share.append(value % P)
            rows.append(share)
        out.append(rows)
    return out


def spec_lagrange(xs: list[int]) -> list[int]:
    """SPEC 8.2: lambda_i = prod_{l != i} x_l / (x_l - x_i) mod p."""
    out = []
    for i, xi in enumerate(xs):
        num = den = 1
        for l_, xl in enumerate(xs):
            if l_ != i:
                num = num * xl % P
                den = den * (xl - xi) % P
        out.append(num * pow(den, -1, P) % P)
    return out


def spec_reconstruct(points: list[tuple[int, list[int]]]) -> bytes | None:
    """SPEC 8.2: limb j = sum_i lambda_i y_{i,j} mod p; a secret only when every limb is
    < 2^30 (limb 8 < 2^16), else None (INCONSISTENT_SHARES)."""
    lam = spec_lagrange([x for x, _ in points])
    limbs = [sum(c * y[j] for c, (_, y) in zip(lam, points, strict=True)) % P for j in range(9)]
    if any(v >= 2**30 for v in limbs[:8]) or limbs[8] >= 2**16:
        return None
    return sum(v << (30 * j) for j, v in enumerate(limbs)).to_bytes(32, "big")


def encode(share: list[int]) -> bytes:
    """SPEC 8.2: the 9 limbs as u32 big-endian."""
    return b"".join(v.to_bytes(4, "big") for v in share)


def is_prime(n: int) -> bool:
    """Trial division: exact, and quick for n < 2^32."""
    if n < 2:
        return False
    d = 2
    while d * d <= n:
        if n % d == 0:
            return False
        d += 1 if d == 2 else 2
    return True


@st.composite
def sharings(draw: st.DrawFn, min_t: int = 1) -> tuple[bytes, int, bytes, list[int]]:
    """(secret, t, rand, xs): h <= 12 holders at x = id + 1 for distinct ids < 2^20."""
    h = draw(st.integers(min_t, 12))
    t = draw(st.integers(min_t, h))
    secret = draw(secrets32)
    rand = draw(st.binary(min_size=shamir.rand_size(t), max_size=shamir.rand_size(t)))
    ids = draw(st.lists(st.integers(0, (1 << 20) - 1), min_size=h, max_size=h, unique=True))
    return secret, t, rand, [i + 1 for i in ids]


# --------------------------------------------------------------------------- field and limbs


def test_field_and_sizes_are_the_spec_s() -> None:
    assert PRIME == P
    assert is_prime(P)
    assert shamir.LIMBS == 9 and shamir.LIMB_BITS == 30
    assert shamir.SECRET_SIZE == 32
    assert shamir.SHARE_SIZE == 36 == 4 * 9
    assert shamir.COEFFICIENT_RAND_SIZE == 16
    # 9 limbs of 30 bits cover 256 bits, the last one holding the top 16.
    assert 30 * 8 + 16 == 256


def test_coefficient_reduction_is_within_2_to_minus_97_of_uniform() -> None:
    """SPEC 8.1: a 128-bit integer mod p. Residues below r = 2^128 mod p have one preimage more
    than the others, so the statistical distance to uniform is r (p - r) / (p 2^128)."""
    r = 2**128 % P
    distance = r * (P - r) / (P * 2**128)
    assert 0 < distance < 2.0**-97


@given(secrets32)
@settings(max_examples=200)
def test_limb_split_matches_the_spec_and_round_trips(secret: bytes) -> None:
    limbs = shamir.secret_limbs([secret])
    assert limbs.shape == (1, LIMBS)
    assert limbs[0].tolist() == spec_limbs(secret)
    assert int(limbs[0, 8]) < 2**16
    assert all(int(v) < 2**30 for v in limbs[0])
    assert shamir.limbs_secret(limbs[0]) == secret


@pytest.mark.parametrize(
    "secret", [bytes(32), b"\xff" * 32, b"\x80" + bytes(31), bytes(31) + b"\x01", b"\x00\x01" * 16]
)
def test_limb_split_edges(secret: bytes) -> None:
    limbs = shamir.secret_limbs([secret])[0]
    assert limbs.tolist() == spec_limbs(secret)
    assert shamir.limbs_secret(limbs) == secret


def test_limb_split_of_all_ones() -> None:
    limbs = shamir.secret_limbs([b"\xff" * 32])[0].tolist()
    assert limbs == [2**30 - 1] * 8 + [2**16 - 1]


@pytest.mark.parametrize("bad", [bytes(31), bytes(33), b"", bytearray(32), "x" * 32])
def test_secret_limbs_refuses_non_32_byte_secrets(bad: object) -> None:
    with pytest.raises(ValueError):
        shamir.secret_limbs([bad])  # type: ignore[list-item]


# --------------------------------------------------------------------------- sharing


@given(sharings())
@settings(max_examples=150)
def test_share_matches_the_spec_reference(case: tuple[bytes, int, bytes, list[int]]) -> None:
    secret, t, rand, xs = case
    ys = shamir.share([secret], xs, t, rand)
    assert ys.dtype == np.uint64
    assert ys.shape == (1, len(xs), LIMBS)
    assert ys.tolist() == spec_share([secret], xs, t, rand)


@given(
    count=st.integers(1, 4),
    t=st.integers(1, 6),
    data=st.data(),
)
@settings(max_examples=60)
def test_coefficient_layout_for_several_secrets(count: int, t: int, data: st.DataObject) -> None:
    """SPEC 8.1: chunk (q (t-1) + (i-1)) * 9 + j for secret q, degree i, limb j."""
    secrets = data.draw(st.lists(secrets32, min_size=count, max_size=count))
    size = shamir.rand_size(t, count)
    rand = data.draw(st.binary(min_size=size, max_size=size))
    xs = data.draw(st.lists(st.integers(1, P - 1), min_size=1, max_size=6, unique=True))
    assert shamir.share(secrets, xs, t, rand).tolist() == spec_share(secrets, xs, t, rand)


def test_coefficient_layout_known_answer() -> None:
    """One coefficient set by hand: t = 3, two secrets, chunk c = (q*2 + (i-1))*9 + j holds the
    integer 1000 q + 100 i + j (+ 5 p for chunk 0, which the reduction mod p removes)."""
    t, secrets = 3, [bytes(32), (7).to_bytes(32, "big")]
    chunks = []
    for q in range(2):
        for i in (1, 2):
            for j in range(9):
                value = 1000 * q + 100 * i + j + (5 * P if (q, i, j) == (0, 1, 0) else 0)
                chunks.append(value.to_bytes(16, "big"))
    rand = b"".join(chunks)
    ys = shamir.share(secrets, [1, 2, 10], t, rand)
    for q, secret in enumerate(secrets):
        s = spec_limbs(secret)
        for k, x in enumerate([1, 2, 10]):
            expected = [
                (s[j] + (1000 * q + 100 + j) * x + (1000 * q + 200 + j) * x * x) % P
                for j in range(9)
            ]
            assert ys[q, k].tolist() == expected


def test_coefficients_near_p_and_the_largest_x() -> None:
    """All-0xff randomness and x = p - 1: the largest values the uint64 Horner evaluation sees."""
    t, xs = 5, [P - 1, P - 2, 1, 2**20]
    rand = b"\xff" * shamir.rand_size(t, 2)
    secrets = [b"\xff" * 32, bytes(32)]
    assert shamir.share(secrets, xs, t, rand).tolist() == spec_share(secrets, xs, t, rand)


def test_threshold_one_shares_are_the_limbs() -> None:
    """SPEC 8.2: with t = 1 no randomness is used and every share is the secret's limbs."""
    secret = bytes(range(32))
    ys = shamir.share([secret], [1, 2, 3], 1, b"")
    assert ys.tolist() == [[spec_limbs(secret)] * 3]
    assert shamir.reconstruct([(2, ys[0, 1])]) == secret
    assert shamir.rand_size(1) == 0


@given(sharings(), st.randoms(use_true_random=False))
@settings(max_examples=150)
def test_any_t_of_h_shares_reconstruct(
    case: tuple[bytes, int, bytes, list[int]], rng: random.Random
) -> None:
    secret, t, rand, xs = case
    ys = shamir.share([secret], xs, t, rand)[0]
    assert int(ys.max()) < P
    encoded = shamir.encode_shares(ys)
    points = list(zip(xs, encoded, strict=True))
    for _ in range(5):
        subset = rng.sample(points, t)  # any t, in any order
        assert shamir.reconstruct(subset) == secret
        # The same from the arrays instead of the encodings.
        assert shamir.reconstruct([(x, shamir.decode_share(y)) for x, y in subset]) == secret


@given(st.integers(1, 7), st.data())
@settings(max_examples=40)
def test_every_subset_of_at_least_t_shares_reconstructs(h: int, data: st.DataObject) -> None:
    t = data.draw(st.integers(1, h))
    secret = data.draw(secrets32)
    rand = data.draw(st.binary(min_size=shamir.rand_size(t), max_size=shamir.rand_size(t)))
    xs = list(range(1, h + 1))
    ys = shamir.share([secret], xs, t, rand)[0]
    for size in range(t, h + 1):
        for subset in combinations(range(h), size):
            # More than t points of a polynomial of degree t - 1 still interpolate it.
            assert shamir.reconstruct([(xs[i], ys[i]) for i in subset]) == secret


def test_two_secrets_at_once_equal_two_sharings_with_split_randomness() -> None:
    t, xs = 4, [3, 5, 8, 13, 21]
    secrets = [bytes([1]) * 32, bytes([2]) * 32]
    rand = bytes(range(256)) * 4
    rand = rand[: shamir.rand_size(t, 2)]
    both = shamir.share(secrets, xs, t, rand)
    size = shamir.rand_size(t)
    for q, secret in enumerate(secrets):
        alone = shamir.share([secret], xs, t, rand[q * size : (q + 1) * size])
        assert np.array_equal(both[q], alone[0])


# --------------------------------------------------------------------------- secrecy


def interpolate(points: list[tuple[int, int]]) -> list[int]:
    """Coefficients (constant first) of the polynomial of degree < len(points) through
    ``points`` over GF(p): Lagrange's formula expanded into monomials."""
    k = len(points)
    coefficients = [0] * k
    for i, (xi, yi) in enumerate(points):
        basis, den = [1], 1
        for j, (xj, _) in enumerate(points):
            if j != i:
                basis = [
                    ((basis[d - 1] if d else 0) - xj * (basis[d] if d < len(basis) else 0)) % P
                    for d in range(len(basis) + 1)
                ]
                den = den * (xi - xj) % P
        scale = yi * pow(den, -1, P) % P
        for d, c in enumerate(basis):
            coefficients[d] = (coefficients[d] + scale * c) % P
    return coefficients


@given(sharings(min_t=2), secrets32)
@settings(max_examples=80)
def test_t_minus_1_shares_are_explained_by_every_secret(
    case: tuple[bytes, int, bytes, list[int]], candidate: bytes
) -> None:
    """Perfect secrecy, limb by limb: for the t - 1 shares a coalition holds and ANY candidate
    secret S', exactly one set of coefficients makes the sharing of S' give those shares. The
    library, fed the randomness that encodes that set (laid out as SPEC 8.1), deals S' into
    exactly the shares the coalition saw; since the coefficients are uniform whatever the
    secret, the coalition's view has one distribution for every secret."""
    secret, t, rand, xs = case
    held_xs = xs[: t - 1]
    held = shamir.share([secret], held_xs, t, rand)[0]
    target = spec_limbs(candidate)
    coefficients = []  # coefficients[j] = [a_{j,1}, ..., a_{j,t-1}]
    for j in range(LIMBS):
        g = interpolate([(0, target[j]), *((x, int(held[k, j])) for k, x in enumerate(held_xs))])
        assert len(g) == t and g[0] == target[j]
        coefficients.append(g[1:])
    rand_prime = b"".join(
        coefficients[j][i - 1].to_bytes(16, "big") for i in range(1, t) for j in range(LIMBS)
    )
    assert np.array_equal(shamir.share([candidate], held_xs, t, rand_prime)[0], held)
    # Uniqueness: coefficients -> held shares is affine with the matrix M[k][i] = x_k^i,
    # i = 1..t-1, whose determinant prod x_k * prod_{l<k} (x_k - x_l) is non-zero mod p for
    # distinct non-zero nodes: a bijection of GF(p)^(t-1), one explanation per candidate.
    det = 1
    for k, xk in enumerate(held_xs):
        det = det * xk % P
        for xl in held_xs[:k]:
            det = det * (xk - xl) % P
    assert det != 0


def test_one_share_every_observation_is_explained_by_either_secret() -> None:
    """t = 2, one holder at x: y_j = S_j + a_j x, so for every observed y and every secret S
    exactly one a_j = (y - S_j) / x explains it (a bijection of GF(p)). For a window of
    observations at both ends of the field and two very different secrets, the library fed that
    a deals exactly y."""
    x = 12345
    inverse_x = pow(x, -1, P)
    for secret in (bytes(32), b"\xff" * 32):
        limbs = spec_limbs(secret)
        for y in [*range(0, 64), *range(P - 64, P)]:
            a = [(y - limbs[j]) * inverse_x % P for j in range(LIMBS)]
            rand = b"".join(v.to_bytes(16, "big") for v in a)
            assert shamir.share([secret], [x], 2, rand)[0, 0].tolist() == [y] * LIMBS


def test_one_share_distribution_does_not_depend_on_the_secret() -> None:
    """An empirical companion (fixed seed, so deterministic): the low bits of every limb of a
    share under uniform randomness are uniform for a zero and an all-ones secret alike."""
    trials = 4000
    rng = np.random.default_rng(2017)
    for secret in (bytes(32), b"\xff" * 32):
        rand = rng.bytes(shamir.rand_size(2, trials))
        ys = shamir.share([secret] * trials, [3], 2, rand)[:, 0, :]  # (trials, 9)
        for j in range(LIMBS):
            counts = np.bincount((ys[:, j] % 4).astype(np.int64), minlength=4)
            assert np.all(np.abs(counts - trials / 4) < 250)  # sd ~ 27


# --------------------------------------------------------------------------- inconsistent shares


def test_shares_of_different_sharings_are_refused() -> None:
    """Two holders of one sharing and one of another: the limbs rebuild to values that are not
    a 32-byte secret (here limb 8 is far above 2^16), so InconsistentShares, never a wrong
    secret."""
    t, xs = 3, [1, 2, 3]
    rng = np.random.default_rng(8)
    one = shamir.share([bytes(32)], xs, t, rng.bytes(shamir.rand_size(t)))[0]
    two = shamir.share([bytes(32)], xs, t, rng.bytes(shamir.rand_size(t)))[0]
    points = [(1, one[0]), (2, one[1]), (3, two[2])]
    assert spec_reconstruct([(x, y.tolist()) for x, y in points]) is None
    with pytest.raises(InconsistentShares):
        shamir.reconstruct(points)
    assert issubclass(InconsistentShares, ValueError)


@given(
    t=st.integers(2, 6),
    seeds=st.tuples(st.integers(0, 2**32), st.integers(0, 2**32)),
    secrets=st.tuples(secrets32, secrets32),
    mix=st.integers(1, 2**6 - 2),
)
@settings(max_examples=80)
def test_mixed_sharings_refuse_or_agree_with_the_reference(
    t: int, seeds: tuple[int, int], secrets: tuple[bytes, bytes], mix: int
) -> None:
    """Points drawn from two sharings: the library rebuilds exactly what SPEC 8.2 rebuilds,
    and raises InconsistentShares exactly when a limb is out of range."""
    xs = list(range(1, t + 1))
    sharings_ = [
        shamir.share([s], xs, t, np.random.default_rng(seed).bytes(shamir.rand_size(t)))[0]
        for s, seed in zip(secrets, seeds, strict=True)
    ]
    points = [(x, sharings_[(mix >> i) & 1][i]) for i, x in enumerate(xs)]
    expected = spec_reconstruct([(x, y.tolist()) for x, y in points])
    if expected is None:
        with pytest.raises(InconsistentShares):
            shamir.reconstruct(points)
    else:
        assert shamir.reconstruct(points) == expected


@pytest.mark.parametrize(
    ("limb", "value", "ok"),
    [
        (0, 2**30 - 1, True),
        (0, 2**30, False),
        (7, 2**30 - 1, True),
        (7, 2**30, False),
        (8, 2**16 - 1, True),
        (8, 2**16, False),
        (8, 2**30 - 1, False),
        (3, P - 1, False),
    ],
)
def test_out_of_range_limbs_are_inconsistent(limb: int, value: int, ok: bool) -> None:
    """With t = 1 the single share is the rebuilt limbs (lambda = 1): the range bounds of SPEC
    8.2 are exactly < 2^30 for limbs 0..7 and < 2^16 for limb 8."""
    share = [0] * LIMBS
    share[limb] = value
    points = [(5, encode(share))]
    if ok:
        expected = (value << (30 * limb)).to_bytes(32, "big")
        assert shamir.reconstruct(points) == expected
        assert shamir.limbs_secret(np.array(share, dtype=np.uint64)) == expected
    else:
        with pytest.raises(InconsistentShares):
            shamir.reconstruct(points)
        with pytest.raises(InconsistentShares):
            shamir.limbs_secret(np.array(share, dtype=np.uint64))


# --------------------------------------------------------------------------- encodings


@given(st.lists(field, min_size=LIMBS, max_size=LIMBS))
def test_share_encoding_round_trip(limbs: list[int]) -> None:
    encoded = shamir.encode_share(np.array(limbs, dtype=np.uint64))
    assert encoded == encode(limbs)
    assert len(encoded) == 36
    assert shamir.decode_share(encoded).tolist() == limbs
    assert shamir.decode_share(encoded).dtype == np.uint64


@given(st.lists(st.lists(field, min_size=LIMBS, max_size=LIMBS), max_size=6))
def test_encode_and_decode_many_shares(rows: list[list[int]]) -> None:
    ys = np.array(rows, dtype=np.uint64).reshape(len(rows), LIMBS)
    encoded = shamir.encode_shares(ys)
    assert encoded == [encode(r) for r in rows]
    blob = b"".join(encoded)
    assert shamir.decode_shares(blob, len(rows)).tolist() == rows
    assert shamir.decode_shares(memoryview(blob), len(rows)).tolist() == rows


@pytest.mark.parametrize("limb", range(LIMBS))
@pytest.mark.parametrize("value", [P, P + 1, 2**32 - 1])
def test_decode_refuses_a_limb_not_below_p(limb: int, value: int) -> None:
    share = [P - 1] * LIMBS
    share[limb] = value
    with pytest.raises(ValueError):
        shamir.decode_share(encode(share))
    good = encode([1] * LIMBS)
    with pytest.raises(ValueError):
        shamir.decode_shares(good + encode(share) + good, 3)


def test_decode_boundaries() -> None:
    assert shamir.decode_share(encode([P - 1] * LIMBS)).tolist() == [P - 1] * LIMBS
    assert shamir.decode_share(bytes(36)).tolist() == [0] * LIMBS
    assert shamir.decode_shares(b"", 0).shape == (0, LIMBS)


@pytest.mark.parametrize("length", [0, 4, 33, 35, 37, 72])
def test_decode_refuses_the_wrong_length(length: int) -> None:
    with pytest.raises(ValueError):
        shamir.decode_share(bytes(length))


@pytest.mark.parametrize(("length", "count"), [(72, 1), (36, 2), (71, 2), (73, 2), (36, 0)])
def test_decode_shares_refuses_the_wrong_length(length: int, count: int) -> None:
    with pytest.raises(ValueError):
        shamir.decode_shares(bytes(length), count)


@pytest.mark.parametrize("shape", [(8,), (10,), (1, 9), ()])
def test_encode_refuses_the_wrong_shape(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        shamir.encode_share(np.zeros(shape, dtype=np.uint64))


# --------------------------------------------------------------------------- Lagrange


@given(
    st.integers(1, 8).flatmap(
        lambda t: st.lists(
            st.lists(st.integers(1, P - 1), min_size=t, max_size=t, unique=True),
            min_size=1,
            max_size=5,
        )
    )
)
@settings(max_examples=100)
def test_lagrange_batch_matches_the_big_int_reference(rows: list[list[int]]) -> None:
    got = shamir.lagrange_batch(np.array(rows, dtype=np.int64))
    assert got.dtype == np.uint64
    assert got.tolist() == [spec_lagrange(r) for r in rows]


@given(st.lists(st.integers(0, (1 << 20) - 1), min_size=1, max_size=40, unique=True))
@settings(max_examples=50)
def test_lagrange_of_client_holder_sets(ids: list[int]) -> None:
    xs = [i + 1 for i in ids]
    assert shamir.lagrange_batch([xs]).tolist() == [spec_lagrange(xs)]
    assert shamir.lagrange_at_zero(tuple(xs)).tolist() == spec_lagrange(xs)
    assert sum(spec_lagrange(xs)) % P == 1  # the constant 1 rebuilds to 1


@pytest.mark.parametrize(
    "rows",
    [[[1, 1]], [[0, 2]], [[1, P]], [[2, -1]], [[3, 4, 3]], [[1, 2], [5, 5]], [1, 2], [[[1]]]],
)
def test_lagrange_refuses_bad_coordinates(rows: list[object]) -> None:
    with pytest.raises(ValueError):
        shamir.lagrange_batch(rows)  # type: ignore[arg-type]


def test_lagrange_at_zero_is_cached_and_read_only() -> None:
    xs = (1_000_003, 1_000_007, 1_000_009)  # a holder set no other test uses
    before = shamir.lagrange_at_zero.cache_info()
    first = shamir.lagrange_at_zero(xs)
    assert shamir.lagrange_at_zero(xs) is first
    assert not first.flags.writeable
    after = shamir.lagrange_at_zero.cache_info()
    assert (after.misses, after.hits) == (before.misses + 1, before.hits + 1)


@given(st.integers(1, 5), st.integers(1, 6), st.data())
@settings(max_examples=40)
def test_combine_many_holder_sets_at_once(t: int, owners: int, data: st.DataObject) -> None:
    """What the server does at unmasking: one combine over (owner, holder) arrays."""
    secrets = data.draw(st.lists(secrets32, min_size=owners, max_size=owners))
    size = shamir.rand_size(t, owners)
    rand = data.draw(st.binary(min_size=size, max_size=size))
    xs = list(range(1, t + 3))
    ys = shamir.share(secrets, xs, t, rand)  # (owners, t + 2, 9)
    picks = [
        sorted(data.draw(st.lists(st.integers(0, t + 1), min_size=t, max_size=t, unique=True)))
        for _ in range(owners)
    ]
    holder_xs = np.array([[xs[i] for i in pick] for pick in picks], dtype=np.int64)
    held = np.stack([ys[q, pick] for q, pick in enumerate(picks)])  # (owners, t, 9)
    limbs = shamir.combine(shamir.lagrange_batch(holder_xs), held)
    assert [shamir.limbs_secret(row) for row in limbs] == secrets


# --------------------------------------------------------------------------- arguments


def test_rand_size_is_the_spec_s() -> None:
    """SPEC 8.1 and 9: count * (t-1) * 9 * 16 bytes; a client takes 96 more for its keys."""
    for t in range(1, 12):
        for count in range(0, 4):
            assert shamir.rand_size(t, count) == count * (t - 1) * 9 * 16
        assert shamir.rand_size(t) == (t - 1) * 144
    cfg = RoundConfig(num_clients=5, threshold=3, dim=1, bits=8, session_nonce=bytes(32))
    assert client_rand_size(cfg) == 96 + 2 * (3 - 1) * 9 * 16


@pytest.mark.parametrize("delta", [-1, 1, 16, -144])
def test_rand_length_is_checked(delta: int) -> None:
    t, secrets = 3, [bytes(32), bytes(32)]
    with pytest.raises(ValueError):
        shamir.share(secrets, [1, 2, 3], t, bytes(shamir.rand_size(t, 2) + delta))


def test_share_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError):
        shamir.share([bytes(32)], [1, 2], 0, b"")
    for bad_secret in (bytes(31), bytes(33)):
        with pytest.raises(ValueError):
            shamir.share([bad_secret], [1, 2], 1, b"")
    for bad_x in (0, -1, P, P + 1):
        with pytest.raises(ValueError):
            shamir.share([bytes(32)], [1, bad_x], 1, b"")
    with pytest.raises(ValueError):
        shamir.share([bytes(32)], [[1, 2]], 1, b"")  # type: ignore[list-item]
