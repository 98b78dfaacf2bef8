"""Distributed DP in the ring: rotation, rounding, noise shares, parameters, encode/decode."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from secagg.encoding.dp import (
    DistributedDpConfig,
    Mechanism,
    decode,
    discrete_gaussian,
    encode,
    noise_generator,
    skellam,
)
from secagg.encoding.dp.rotation import hadamard, padded_dim, rotate, unrotate
from secagg.encoding.dp.rounding import conditional_round, rounded_l1_bound, rounded_l2_bound
from secagg.errors import ConfigError
from secagg.integrations.torch.fedavg import DistributedDp, secure_fedavg

SEED = bytes(range(32))

finite = st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False)


def config(**overrides: object) -> DistributedDpConfig:
    base: dict[str, object] = {
        "mechanism": "skellam",
        "dim": 100,
        "clients": 10,
        "clip": 1.0,
        "noise_multiplier": 1.0,
        "bits": 20,
    }
    base.update(overrides)
    return DistributedDpConfig(**base)  # type: ignore[arg-type]


@given(hnp.arrays(np.float64, st.integers(1, 300), elements=finite))
def test_rotation_is_orthogonal_and_inverts(x: np.ndarray) -> None:
    y = rotate(x, SEED)
    assert y.shape == (padded_dim(x.shape[0]),)
    assert np.linalg.norm(y) == pytest.approx(np.linalg.norm(x), rel=1e-9, abs=1e-9)
    np.testing.assert_allclose(unrotate(y, SEED, x.shape[0]), x, rtol=1e-9, atol=1e-9)


def test_hadamard_matches_the_matrix() -> None:
    h = np.array([[1.0]])
    for _ in range(4):
        h = np.block([[h, h], [h, -h]])
    x = np.arange(16, dtype=np.float64)
    np.testing.assert_allclose(hadamard(x), h @ x / 4.0)


def test_rotation_spreads_a_spike() -> None:
    # All the mass in one coordinate comes out as +-||x|| / sqrt(D) everywhere.
    x = np.zeros(64)
    x[3] = 8.0
    np.testing.assert_allclose(np.abs(rotate(x, SEED)), 1.0)


@given(
    hnp.arrays(np.float64, st.integers(1, 200), elements=st.floats(-50, 50)),
    st.integers(0, 2**32),
)
def test_conditional_rounding_respects_its_bound(x: np.ndarray, seed: int) -> None:
    norm = float(np.linalg.norm(x))
    bound = rounded_l2_bound(norm, x.shape[0])
    r = conditional_round(x, bound, np.random.default_rng(seed))
    assert r.dtype == np.int64
    assert np.all(np.abs(r - x) < 1.0)
    assert float(np.linalg.norm(r)) <= bound + 1e-9
    assert float(np.abs(r).sum()) <= rounded_l1_bound(bound, x.shape[0]) + 1e-9


def test_rounding_is_unbiased() -> None:
    x = np.full(200_000, 0.3)
    r = conditional_round(
        x, rounded_l2_bound(float(np.linalg.norm(x)), x.shape[0]), noise_generator(SEED)
    )
    # Mean of Bernoulli(0.3): standard error 0.001; 0.005 is five of them.
    assert abs(float(r.mean()) - 0.3) < 0.005


def test_noise_generator_is_keyed_by_all_its_bytes() -> None:
    a = noise_generator(SEED).integers(0, 2**62, 4)
    b = noise_generator(SEED[:-1] + b"\xff").integers(0, 2**62, 4)
    assert not np.array_equal(a, b)
    np.testing.assert_array_equal(a, noise_generator(SEED).integers(0, 2**62, 4))
    with pytest.raises(ValueError, match="32 bytes"):
        noise_generator(b"short")


@pytest.mark.parametrize("variance", [0.5, 30.0, 4e6])
def test_skellam_moments(variance: float) -> None:
    x = skellam(noise_generator(SEED), variance, 200_000)
    # Sample variance of 2e5 draws: relative standard error sqrt(2 / 2e5) ~ 0.3% (plus excess
    # kurtosis 1/variance); 3% is far outside it, and the seed is fixed.
    assert float(x.var()) == pytest.approx(variance, rel=0.03)
    assert abs(float(x.mean())) < 5 * math.sqrt(variance / x.shape[0])


@pytest.mark.parametrize("sigma", [1.0, 7.5, 2000.0])
def test_discrete_gaussian_moments_and_shape(sigma: float) -> None:
    x = discrete_gaussian(noise_generator(SEED), sigma, 200_000)
    assert x.dtype == np.int64
    assert float(x.var()) == pytest.approx(sigma**2, rel=0.03)
    assert abs(float(x.mean())) < 5 * sigma / math.sqrt(x.shape[0])
    # Light tails: a Gaussian puts 0.27% outside 3 sigma.
    assert float(np.mean(np.abs(x) > 3 * sigma)) < 0.005


def test_discrete_gaussian_pmf_at_small_sigma() -> None:
    # sigma = 1: P(0) = 1 / sum_k exp(-k^2 / 2) = 0.39894...; P(1) = P(0) e^{-1/2}.
    x = discrete_gaussian(noise_generator(SEED), 1.0, 400_000)
    z = sum(math.exp(-(k**2) / 2) for k in range(-40, 41))
    assert float(np.mean(x == 0)) == pytest.approx(1 / z, abs=0.004)
    assert float(np.mean(x == 1)) == pytest.approx(math.exp(-0.5) / z, abs=0.004)


def test_parameters_fit_the_ring() -> None:
    c = config(bits=16, clients=50, dim=1000, expected_dropout=0.2)
    assert c.padded_dim == 1024
    assert c.noise_shares == 39  # floor(50 * 0.8) - 1
    assert c.k_stddevs == pytest.approx(math.sqrt(2 * math.log(2 / 1e-5)))
    # The chosen scale puts k standard deviations of the n-client sum at the half-range.
    assert c.k_stddevs * c.aggregate_stddev() == pytest.approx(2**15, rel=1e-9)
    assert c.wrap_probability() == pytest.approx(1e-5, rel=1e-6)
    assert c.wrap_probability(10) < c.wrap_probability()
    # v = (z c s)^2 / m: the m counted shares carry z c in float units.
    assert math.sqrt(c.noise_shares * c.local_variance) / c.scale == pytest.approx(1.0)
    assert c.central_stddev(c.noise_shares + 1) == pytest.approx(1.0)
    assert 1.0 <= c.rounding_inflation < 1.01


@pytest.mark.parametrize(
    ("overrides", "reason"),
    [
        ({"bits": 6, "clients": 1000}, "cannot hold the sum of 1000 clients"),
        ({"clients": 2, "expected_dropout": 0.5}, "at least 2 must be expected to survive"),
        ({"mechanism": "laplace"}, "mechanism must be one of"),
        ({"clip": 0.0}, "clip must be a positive"),
        ({"noise_multiplier": float("nan")}, "noise_multiplier must be a positive"),
        ({"bits": 63}, "bits must be an int in"),
        ({"expected_dropout": 1.0}, "expected_dropout must be in"),
        ({"expected_clients": 11}, "exceeds clients"),
        ({"max_wrap_probability": 0.0}, "max_wrap_probability"),
    ],
)
def test_refused_settings_say_why(overrides: dict[str, object], reason: str) -> None:
    with pytest.raises(ConfigError, match=reason):
        config(**overrides)


def test_encode_is_modular_clipping_of_the_pipeline() -> None:
    c = config(bits=12, dim=5)
    x = np.array([3.0, -4.0, 0.0, 0.0, 0.0])  # norm 5 > clip 1
    share = encode(x, c, SEED, SEED)
    assert share.clipped
    assert share.values.dtype == np.uint32
    assert share.values.shape == (8,)
    assert int(share.values.max()) < 2**12
    with pytest.raises(ConfigError, match="shape"):
        encode(np.zeros(4), c, SEED, SEED)
    with pytest.raises(ConfigError, match="NaN"):
        encode(np.full(5, np.nan), c, SEED, SEED)


@pytest.mark.parametrize("mechanism", list(Mechanism))
def test_one_client_decodes_to_its_clipped_vector_plus_its_noise(mechanism: Mechanism) -> None:
    c = config(mechanism=mechanism, dim=50, clients=2, bits=30, noise_multiplier=1e-3)
    x = np.linspace(-0.1, 0.1, 50)  # norm < clip: not clipped
    out = decode(encode(x, c, SEED, SEED).values, c, SEED)
    # One share of variance v: std sqrt(v)/s = z c / sqrt(m) = 1e-3 with m = 1; plus rounding.
    assert float(np.abs(out - x).max()) < 6e-3


@pytest.mark.parametrize("mechanism", list(Mechanism))
def test_aggregate_noise_variance_matches_theory(mechanism: Mechanism) -> None:
    """Zero updates through the real protocol: what decodes is the survivors' noise alone.

    Theory: each coordinate of the decoded sum has variance |U3| v / s^2 (rotation is
    orthogonal, so the shares' i.i.d. variance carries over). 2048 coordinates give a sample
    variance within ~3% (one standard error) of it; 12% is four standard errors, and the seeds
    are fixed, so this cannot flake.
    """
    n, dim = 8, 2048
    c = config(mechanism=mechanism, dim=dim, clients=n, bits=24, noise_multiplier=2.0)
    result = secure_fedavg(
        [np.zeros(dim)] * n,
        encoding=DistributedDp(c),
        threshold=5,
        drop={"share_keys": [6], "masked_input": [7]},  # two shares never reach the sum
        seed=11,
    )
    assert result.survivors == [0, 1, 2, 3, 4, 5]
    noisy_sum = result.sum
    expected = len(result.survivors) * c.local_variance / c.scale**2
    assert float(np.var(noisy_sum)) == pytest.approx(expected, rel=0.12)
    assert abs(float(np.mean(noisy_sum))) < 4 * math.sqrt(expected / dim)


def test_dp_sum_is_close_to_the_clipped_sum() -> None:
    n, dim = 6, 300
    rng = np.random.default_rng(3)
    xs = [rng.normal(0, 0.05, dim) for _ in range(n)]
    c = config(dim=dim, clients=n, bits=24, noise_multiplier=0.1)
    result = secure_fedavg(xs, encoding=DistributedDp(c), threshold=4, seed=5)
    clipped = [x * min(1.0, 1.0 / float(np.linalg.norm(x))) for x in xs]
    error = result.sum - sum(clipped)
    # The noise of 6 shares: std sqrt(6 / 5) * 0.1 per coordinate (calibrated to m = 5).
    assert float(np.std(error)) == pytest.approx(math.sqrt(6 / 5) * 0.1, rel=0.15)
