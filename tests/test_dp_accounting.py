"""The privacy accountant: closed forms, Poisson amplification against dp-accounting, rounds."""

from __future__ import annotations

import math

import numpy as np
import pytest
from dp_accounting import GaussianDpEvent, PoissonSampledDpEvent
from dp_accounting.rdp import rdp_privacy_accountant
from hypothesis import given
from hypothesis import strategies as st

from secagg.encoding.accounting import (
    ORDERS,
    PrivacyAccountant,
    calibrate_noise_multiplier,
    ddgauss_rdp,
    ddgauss_tau,
    epsilon_from_rdp,
    gaussian_epsilon,
    planned_epsilon,
    poisson_subsampled_rdp,
    skellam_rdp,
)
from secagg.encoding.dp import DistributedDpConfig
from secagg.errors import ConfigError

ALPHAS = np.array(ORDERS, dtype=np.int64)


def gaussian_curve(z: float):  # type: ignore[no-untyped-def]
    return lambda a: np.asarray(a, dtype=np.float64) / (2 * z * z)


def dp_accounting_rdp(q: float, z: float) -> np.ndarray:
    accountant = rdp_privacy_accountant.RdpAccountant(list(ORDERS))
    accountant.compose(PoissonSampledDpEvent(q, GaussianDpEvent(z)))
    return np.asarray(accountant._rdp)


@given(st.floats(0.01, 0.9), st.floats(0.5, 5.0))
def test_poisson_bound_is_sound_against_the_exact_gaussian(q: float, z: float) -> None:
    # Zhu-Wang's general bound must never undercut dp-accounting's exact subsampled Gaussian.
    ours = poisson_subsampled_rdp(q, gaussian_curve(z))
    exact = dp_accounting_rdp(q, z)
    assert np.all(ours >= exact * (1 - 1e-9) - 1e-12)
    # ... and it amplifies: far below the unsampled curve at small q.
    if q <= 0.1:
        assert ours[0] < 0.5 * gaussian_curve(z)(ALPHAS)[0]


def test_poisson_bound_edges() -> None:
    curve = gaussian_curve(1.0)
    np.testing.assert_array_equal(poisson_subsampled_rdp(1.0, curve), curve(ALPHAS))
    np.testing.assert_array_equal(poisson_subsampled_rdp(0.0, curve), np.zeros(len(ORDERS)))
    with pytest.raises(ConfigError):
        poisson_subsampled_rdp(1.5, curve)


def test_skellam_approaches_the_gaussian() -> None:
    # Large variance: the correction terms vanish, leaving alpha Delta^2 / (2 mu).
    l2, mu = 100.0, 1e8
    rdp = skellam_rdp(ALPHAS, l2, l2 * l2, mu)
    np.testing.assert_allclose(rdp, ALPHAS * l2**2 / (2 * mu), rtol=2e-3)
    # The exact form at one point: alpha=2, Delta_2=2, Delta_1=4, mu=8.
    assert skellam_rdp([2], 2.0, 4.0, 8.0)[0] == pytest.approx(2 * 4 / 16 + min(36 / 256, 12 / 16))
    assert np.all(np.isinf(skellam_rdp([2, 3], 1.0, 1.0, 0.0)))


def test_ddgauss_tau_and_limit() -> None:
    assert ddgauss_tau(2.0, 1) == 0.0  # one share is exactly a discrete Gaussian
    assert ddgauss_tau(0.2, 10) > 1.0  # tiny shares sum to something far from it
    assert ddgauss_tau(3.0, 100) < 1e-30
    l2, sigma, m = 50.0, 40.0, 9
    rdp = ddgauss_rdp(ALPHAS, l2, l2 * 10, sigma, m, 1024)
    np.testing.assert_allclose(rdp, ALPHAS * l2**2 / (2 * m * sigma**2), rtol=1e-9)


def cfg(mechanism: str = "skellam", **kw: object) -> DistributedDpConfig:
    base: dict[str, object] = {
        "mechanism": mechanism,
        "dim": 650,
        "clients": 60,
        "clip": 0.5,
        "noise_multiplier": 1.0,
        "bits": 16,
        "expected_clients": 50.0,
        "expected_dropout": 0.2,
    }
    base.update(kw)
    return DistributedDpConfig(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("mechanism", ["skellam", "dgauss"])
def test_accountant_close_to_gaussian_at_many_bits(mechanism: str) -> None:
    c = cfg(mechanism, bits=24)
    eps = planned_epsilon(c, 0.1, 50, 1e-5)
    reference = gaussian_epsilon(1.0, 0.1, 50, 1e-5)
    # Above the exact Gaussian (general amplification bound, rounding), but not far above.
    assert reference < eps < 1.6 * reference


def test_fewer_bits_cost_privacy() -> None:
    eps = [planned_epsilon(cfg(bits=b), 0.1, 50, 1e-5) for b in (9, 12, 20)]
    assert eps[0] > eps[1] > eps[2]


def test_accountant_composes_rounds_and_counts_survivors() -> None:
    c = cfg()
    acc = PrivacyAccountant(0.1)
    assert acc.epsilon(1e-5) == 0.0
    for _ in range(10):
        acc.record(c, 40)
    np.testing.assert_allclose(acc.rdp, 10 * acc.round_rdp(c, 40))
    assert acc.rounds == 10
    assert acc.epsilon(1e-5) == pytest.approx(epsilon_from_rdp(acc.rdp, 1e-5))
    # Fewer survivors, less noise: each round costs more.
    assert np.all(acc.round_rdp(c, 20) > acc.round_rdp(c, 40))
    # A lone survivor has no other client's noise: no guarantee.
    lonely = PrivacyAccountant(1.0)
    lonely.record(c, 1)
    assert math.isinf(lonely.epsilon(1e-5))


def test_planned_epsilon_uses_expected_survivors() -> None:
    c = cfg()
    acc = PrivacyAccountant(0.1)
    for _ in range(30):
        acc.record(c, c.noise_shares + 1)
    assert planned_epsilon(c, 0.1, 30, 1e-5) == pytest.approx(acc.epsilon(1e-5))


@pytest.mark.parametrize("target", [2.0, 8.0])
def test_calibration_meets_the_target_tightly(target: float) -> None:
    chosen = calibrate_noise_multiplier(target, 1e-5, 0.1, 50, lambda z: cfg(noise_multiplier=z))
    eps = planned_epsilon(chosen, 0.1, 50, 1e-5)
    assert eps <= target
    assert eps > 0.97 * target
    smaller = cfg(noise_multiplier=chosen.noise_multiplier * 0.99)
    assert planned_epsilon(smaller, 0.1, 50, 1e-5) > target


def test_calibration_refuses_an_unreachable_budget() -> None:
    with pytest.raises(ConfigError, match="out of reach"):
        calibrate_noise_multiplier(1e-4, 1e-5, 1.0, 10_000, lambda z: cfg(noise_multiplier=z))
