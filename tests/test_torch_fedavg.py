"""Weighted FedAvg through the secure sum: exact weights, bounded error, overflow refused early."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg.encoding.dp import DistributedDpConfig, Mechanism
from secagg.errors import ConfigError, ProtocolAbort
from secagg.integrations.torch.fedavg import (
    DistributedDp,
    WeightedFixedPoint,
    plaintext_fedavg,
    secure_fedavg,
)
from secagg.runtime import simulate


def test_grid_updates_aggregate_exactly() -> None:
    enc = WeightedFixedPoint(clients=5, dim=4, clip=1.0, max_weight=100, bits=32)
    assert enc.scale == 2.0 ** int(np.log2(enc.scale))  # a power of two
    rng = np.random.default_rng(0)
    # Values on the grid (multiples of 1/s): w x s is an integer, so rounding does nothing.
    xs = [rng.integers(-1000, 1000, 4) / enc.scale for _ in range(5)]
    ws = [7, 0, 100, 33, 1]
    result = secure_fedavg(
        xs, encoding=enc, threshold=3, weights=ws, drop={"masked_input": [3]}, seed=2
    )
    assert result.survivors == [0, 1, 2, 4]
    assert result.total_weight == 7 + 0 + 100 + 1  # exact: the extra coordinate
    weighted_sum = sum(ws[u] * xs[u] for u in result.survivors)
    np.testing.assert_array_equal(result.sum, weighted_sum)
    np.testing.assert_allclose(result.mean, plaintext_fedavg(xs, ws, result.survivors), rtol=1e-15)


@settings(max_examples=25)
@given(
    st.lists(st.integers(0, 50), min_size=3, max_size=7),
    st.floats(0.01, 3.0),
    st.integers(0, 2**32),
)
def test_weighted_mean_error_is_within_the_bound(
    weights: list[int], spread: float, seed: int
) -> None:
    n, dim = len(weights), 16
    weights[0] = max(weights[0], 1)  # at least one positive weight
    rng = np.random.default_rng(seed)
    xs = [rng.normal(0, spread, dim) for _ in range(n)]
    enc = WeightedFixedPoint(clients=n, dim=dim, clip=2.0, max_weight=50, bits=24)
    result = secure_fedavg(xs, encoding=enc, threshold=n // 2 + 1, weights=weights, seed=seed)
    assert result.total_weight == sum(weights)
    clipped = [np.clip(x, -2.0, 2.0) for x in xs]
    exact = plaintext_fedavg(clipped, weights, result.survivors)
    bound = enc.error_bound(result.total_weight, n)
    assert float(np.abs(result.mean - exact).max()) <= bound
    assert result.clipped == sum(int(np.count_nonzero(np.abs(x) > 2.0)) for x in xs)


@pytest.fixture
def no_round(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if any protocol message would be produced."""

    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("simulate_round was called: the check came too late")

    monkeypatch.setattr(simulate, "simulate_round", refuse)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"clients": 1000, "max_weight": 2**22, "bits": 32}, "total weight could wrap"),
        ({"clients": 2, "max_weight": 2**30 - 1, "bits": 32}, "under one level"),
        ({"clients": 10, "max_weight": 10, "bits": 7}, "bits must be an int"),
        ({"clients": 10, "max_weight": 10, "clip": -1.0}, "clip must be a positive"),
    ],
)
def test_overflowing_settings_are_refused(kwargs: dict[str, Any], reason: str) -> None:
    base: dict[str, Any] = {"clients": 4, "dim": 3, "clip": 1.0, "max_weight": 10}
    base.update(kwargs)
    with pytest.raises(ConfigError, match=reason):
        WeightedFixedPoint(**base)


@pytest.mark.usefixtures("no_round")
@pytest.mark.parametrize(
    ("updates", "weights", "reason"),
    [
        ([np.zeros(3)] * 5, None, "sized for at most 4 clients"),
        ([np.zeros(3)] * 3, [1, 11, 1], "max_weight=10"),
        ([np.zeros(3)] * 3, [1, -1, 1], "max_weight=10"),
        ([np.zeros(3)] * 3, [1, 2], "3 updates"),
        ([np.zeros(3), np.zeros(2), np.zeros(3)], None, "shape"),
        ([np.zeros(3), np.full(3, np.nan), np.zeros(3)], None, "NaN"),
    ],
)
def test_bad_rounds_fail_before_any_message(
    updates: list[np.ndarray], weights: list[int] | None, reason: str
) -> None:
    enc = WeightedFixedPoint(clients=4, dim=3, clip=1.0, max_weight=10)
    with pytest.raises(ConfigError, match=reason):
        secure_fedavg(updates, encoding=enc, threshold=2, weights=weights)


@pytest.mark.usefixtures("no_round")
def test_dp_refuses_unequal_weights_and_too_many_clients() -> None:
    dp = DistributedDp(
        DistributedDpConfig(
            Mechanism.SKELLAM, dim=3, clients=4, clip=1.0, noise_multiplier=1.0, bits=16
        )
    )
    with pytest.raises(ConfigError, match="equal weights"):
        secure_fedavg([np.zeros(3)] * 3, encoding=dp, threshold=2, weights=[1, 2, 1])
    with pytest.raises(ConfigError, match="at most 4 clients"):
        secure_fedavg([np.zeros(3)] * 5, encoding=dp, threshold=3)


def test_abort_releases_nothing() -> None:
    enc = WeightedFixedPoint(clients=4, dim=3, clip=1.0, max_weight=10)
    with pytest.raises(ProtocolAbort):
        secure_fedavg(
            [np.ones(3)] * 4, encoding=enc, threshold=3, drop={"share_keys": [0, 1]}, seed=1
        )


def test_forged_aggregate_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    real = simulate.simulate_round

    def forge(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        result.aggregate[-1] = 10**6  # a total weight no survivor set can have
        return result

    monkeypatch.setattr(simulate, "simulate_round", forge)
    enc = WeightedFixedPoint(clients=3, dim=2, clip=1.0, max_weight=10)
    with pytest.raises(ProtocolAbort, match="AGGREGATE_OUT_OF_RANGE"):
        secure_fedavg([np.ones(2)] * 3, encoding=enc, threshold=2, weights=[1, 2, 3], seed=0)


def test_rounds_go_through_the_protocol(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    real = simulate.simulate_round

    def spy(inputs: Any, **kwargs: Any) -> Any:
        calls.append({"n": len(inputs), **kwargs})
        return real(inputs, **kwargs)

    monkeypatch.setattr(simulate, "simulate_round", spy)
    enc = WeightedFixedPoint(clients=3, dim=2, clip=1.0, max_weight=10, bits=20)
    secure_fedavg([np.ones(2)] * 3, encoding=enc, threshold=2, seed=0)
    assert calls == [
        {
            "n": 3,
            "threshold": 2,
            "bits": 20,
            "neighbors": None,
            "security": "semi_honest",
            "workers": 1,
            "drop": None,
            "seed": calls[0]["seed"],
            "progress": None,
        }
    ]
