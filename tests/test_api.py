"""The public API: simulate_round's validation, threshold policy, security modes, graphs,
workers, lazy inputs, memory preflight, reproducibility and cost accounting, and the
float-level aggregate_updates."""

from __future__ import annotations

import re
import tracemalloc
from collections.abc import Mapping, Sequence
from dataclasses import replace
from fractions import Fraction
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from replies import plain_sum

import secagg
from secagg import (
    ConfigError,
    LazyInputs,
    ProtocolAbort,
    RoundResult,
    SecAggError,
    Security,
    simulate_round,
)
from secagg.core import wire
from secagg.core.client import Client
from secagg.runtime import preflight
from secagg.runtime.simulate import ROUNDS, rounds

Wire = list[tuple[str, int | None, int | None, bytes]]


def ints(n: int, dim: int, bits: int = 32, seed: int = 0) -> list[npt.NDArray[np.uint64]]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 1 << bits, size=dim, dtype=np.uint64) for _ in range(n)]


def run_captured(
    inputs: Sequence[npt.ArrayLike] | LazyInputs, seed: int | bytes | None, **kwargs: Any
) -> tuple[RoundResult, Wire]:
    log: Wire = []

    def spy(name: str, sender: int | None, recipient: int | None, payload: bytes) -> bytes:
        log.append((name, sender, recipient, payload))
        return payload

    kwargs.setdefault("workers", 1)
    return simulate_round(inputs, seed=seed, intercept=spy, **kwargs), log


# --------------------------------------------------------------------------- validation


GOOD = ints(4, 3)


@pytest.mark.parametrize(
    ("inputs", "kwargs"),
    [
        ([np.zeros(3, np.uint32), np.zeros(4, np.uint32)], {"threshold": 1}),
        ([np.zeros(3, np.uint32), np.zeros((3, 1), np.uint32)], {"threshold": 1}),
        ([np.zeros((2, 2), np.uint32)] * 2, {"threshold": 1}),
        ([np.zeros(3, np.float64)] * 3, {"threshold": 2}),
        ([[0.5, 1.0]] * 3, {"threshold": 2}),
        ([np.array([1, -1, 2])] * 3, {"threshold": 2}),
        ([np.array(["a", "b"])] * 3, {"threshold": 2}),
        ([np.array([1, 2], dtype=object)] * 3, {"threshold": 2}),
        ([np.array([0, 2], dtype=np.uint64)] * 3, {"threshold": 2, "bits": 1}),
        ([np.array([0, 1 << 32], dtype=np.uint64)] * 3, {"threshold": 2}),
        (GOOD, {"threshold": 3, "bits": 0}),
        (GOOD, {"threshold": 3, "bits": 65}),
        (GOOD, {"threshold": 3, "bits": -3}),
        (GOOD, {"threshold": 3, "bits": 32.0}),
        (GOOD, {"threshold": 3, "bits": "32"}),
        (GOOD, {"threshold": 0}),
        (GOOD, {"threshold": -1}),  # raised struct.error before
        (GOOD, {"threshold": 1 << 40}),
        (GOOD, {"threshold": 5}),
        (GOOD, {"threshold": 3.0}),
        (GOOD, {"threshold": True}),
        (GOOD, {"threshold": "3"}),
        (GOOD, {"threshold": 3, "drop": {"advertise": [1]}}),
        (GOOD, {"threshold": 3, "drop": {"Unmasking": [1]}}),
        (GOOD, {"threshold": 3, "drop": {"consistency_check": [1]}}),  # semi-honest: no such
        (GOOD, {"threshold": 3, "drop": {"share_keys": [4]}}),
        (GOOD, {"threshold": 3, "drop": {"share_keys": [-1]}}),
        (GOOD, {"threshold": 3, "drop": {"share_keys": ["1"]}}),
        (GOOD, {"threshold": 3, "drop": {"share_keys": [1.0]}}),
        (GOOD, {"threshold": 3, "drop": {"share_keys": [None]}}),
        (GOOD, {"security": "byzantine"}),
        (GOOD, {"security": None}),
        (GOOD, {"security": 1}),
        (GOOD, {"neighbors": 3}),
        (GOOD, {"neighbors": -2}),  # raised struct.error before
        (GOOD, {"neighbors": 4}),
        (GOOD, {"neighbors": 2.0}),
        (GOOD, {"neighbors": "four"}),
        (GOOD, {"neighbors": True}),
        (GOOD, {"neighbors": "auto", "dropout": 1.5}),
        (GOOD, {"neighbors": "auto", "corrupt": 0.6}),
        (GOOD, {"corrupt": 0.5}),
        (GOOD, {"corrupt": -0.1}),
        (GOOD, {"corrupt": "0.1"}),
        (GOOD, {"dropout": True}),
        (GOOD, {"workers": 0}),
        (GOOD, {"workers": -1}),
        (GOOD, {"workers": 1.0}),
        (GOOD, {"workers": True}),
        (GOOD, {"allow_weak_threshold": 1, "threshold": 1}),
    ],
)
def test_invalid_arguments_raise_config_error(inputs: Any, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as info:
        simulate_round(inputs, seed=1, **kwargs)
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, SecAggError)


@pytest.mark.parametrize(
    ("inputs", "kwargs", "message"),
    [
        # drop must be a mapping: a list, a string or a set used to escape as AttributeError.
        (GOOD, {"drop": [1]}, "drop must be a mapping"),
        (GOOD, {"drop": "share_keys"}, "drop must be a mapping"),
        (GOOD, {"drop": {1}}, "drop must be a mapping"),
        (GOOD, {"drop": {0: [1]}}, "unknown round 0"),
        (
            GOOD,
            {"drop": {"consistency_check": [1]}},
            "rounds are advertise_keys, share_keys, share_check, masked_input, unmasking",
        ),
        (GOOD, {"drop": {"share_keys": 1}}, "must be a collection of client ids"),
        (GOOD, {"drop": {"share_keys": [True]}}, "not in [0, 4)"),
        (GOOD, {"drop": {"unmasking": [np.int64(4)]}}, "not in [0, 4)"),
        # inputs that are not a sequence of rows: TypeError before.
        (None, {}, "inputs must be a sequence of 1-D integer arrays, got NoneType"),
        (5, {}, "inputs must be a sequence of 1-D integer arrays, got int"),
        ("abc", {}, "got str"),
        (np.zeros(3, np.uint32), {}, "must be 2-D"),
        (np.zeros((2, 2, 2), np.uint32), {}, "must be 2-D"),
        ([], {}, "at least one client"),
        ([[1, 2], [3]], {}, "all must be (2,)"),
        ([np.zeros(3, np.float32)] * 3, {}, "must be unsigned integers"),
        ([np.array([0, 256], np.uint16)] * 3, {"bits": 8}, "outside [0, 2**8)"),
        ([np.zeros(0, np.uint32)] * 3, {}, "at least one value"),
        # hooks that cannot be called: TypeError mid-round before.
        (GOOD, {"intercept": 5}, "intercept must be callable"),
        (GOOD, {"progress": "bar"}, "progress must be callable"),
        (GOOD, {"security": "byzantine"}, "security must be 'semi_honest' or 'malicious'"),
        (GOOD, {"workers": 0}, "workers must be at least 1"),
        (GOOD, {"neighbors": "four"}, "neighbors must be an int, 'auto' or None"),
        (GOOD, {"neighbors": 3, "threshold": 3}, "neighbors must be an even number"),
        (GOOD, {"neighbors": 4, "threshold": 3}, "with 4 clients use the complete graph"),
        (LazyInputs(0, 3, lambda u: np.zeros(3)), {}, "at least one client and one value"),
        (LazyInputs(3, 0, lambda u: np.zeros(0)), {}, "at least one client and one value"),
    ],
)
def test_invalid_parameters_raise_config_error_with_a_message(
    inputs: Any, kwargs: dict[str, Any], message: str
) -> None:
    kwargs = {"threshold": 3, "seed": 1, **kwargs}
    with pytest.raises(ConfigError) as info:
        simulate_round(inputs, **kwargs)
    assert message in str(info.value)


def test_valid_edge_inputs_are_accepted() -> None:
    # Python ints, signed dtypes with non-negative values, a 2-D array of rows, b = 1 and 64.
    result = simulate_round([[1, 0], [1, 1], [0, 1]], threshold=3, bits=1, seed=1)
    assert [int(v) for v in result.aggregate] == [0, 0]
    rows = np.array([[1, 2, 3], [4, 5, 6], [0, 0, 1]], dtype=np.int64)
    result = simulate_round(cast("Sequence[npt.ArrayLike]", rows), threshold=2, bits=4, seed=1)
    assert [int(v) for v in result.aggregate] == [5, 7, 10]
    top = np.array([(1 << 64) - 1, 0, 1 << 63], dtype=np.uint64)
    result = simulate_round([top, top, top], threshold=2, bits=64, seed=1)
    assert result.aggregate.dtype == np.uint64
    assert [int(v) for v in result.aggregate] == plain_sum([top] * 3, [0, 1, 2], 64)
    # Two clients are refused by the policy (each learns the other's input from the sum)
    # unless the caller opts out.
    pair = [np.array([5], np.uint8)] * 2
    with pytest.raises(ConfigError, match="use at least 3 clients"):
        simulate_round(pair, threshold=1, bits=3, seed=1)
    result = simulate_round(pair, threshold=1, bits=3, seed=1, allow_weak_threshold=True)
    assert [int(v) for v in result.aggregate] == [2]


@pytest.mark.parametrize(
    ("given", "bits", "handed_on"),
    [
        (np.uint64, 1, np.uint32),
        (np.uint64, 32, np.uint32),
        (np.int64, 16, np.uint32),
        (np.uint8, 8, np.uint32),
        (np.uint32, 33, np.uint64),
        (np.uint64, 64, np.uint64),
    ],
)
def test_inputs_reach_clients_in_the_ring_dtype(
    monkeypatch: pytest.MonkeyPatch,
    given: type[np.integer[Any]],
    bits: int,
    handed_on: type[np.unsignedinteger[Any]],
) -> None:
    """Each client's input is produced when it masks (a callable handed to the Client), cast
    once to the ring's dtype (uint32 for b <= 32, not a uint64 that doubles the memory); an input
    already in that dtype is handed on as is (the Client consumes it in place)."""
    seen: list[npt.NDArray[Any]] = []

    def recording_client(config: Any, u: int, x: Any, rand: Any, **kwargs: Any) -> Client:
        assert callable(x)  # not made before the client needs it

        def produce() -> Any:
            value = x()
            seen.append(value)
            return value

        return Client(config, u, produce, rand, **kwargs)

    monkeypatch.setattr("secagg.runtime.simulate.Client", recording_client)
    inputs = [np.array([1, 0, 1], dtype=given) for _ in range(3)]
    result = simulate_round(inputs, threshold=2, bits=bits, seed=1, workers=1)
    assert [int(v) for v in result.aggregate] == [3 % (1 << bits), 0, 3 % (1 << bits)]
    assert [x.dtype for x in seen] == [np.dtype(handed_on).newbyteorder("<")] * 3
    same = [np.array([1, 0], dtype=handed_on) for _ in range(3)]
    seen.clear()
    simulate_round(same, threshold=2, bits=bits, seed=1, workers=1)
    assert all(x is y for x, y in zip(seen, same, strict=True))


def test_single_client_round_needs_the_opt_out() -> None:
    """n = t = 1: no peers, no shares of anyone else; the sum is the client's own input, which
    is why the policy refuses it unless the caller opts out."""
    x = np.array([7, 9], dtype=np.uint64)
    with pytest.raises(ConfigError, match=r"one client: the server learns it outright"):
        simulate_round([x], threshold=1, bits=8, seed=3)
    result = simulate_round([x], threshold=1, bits=8, seed=3, allow_weak_threshold=True)
    assert result.survivors == [0]
    assert result.responders == [0]
    assert [int(v) for v in result.aggregate] == [7, 9]


def test_abort_is_a_secagg_error_with_a_reason() -> None:
    with pytest.raises(ProtocolAbort) as info:
        simulate_round(GOOD, threshold=4, drop={"masked_input": [0]}, seed=1)
    assert isinstance(info.value, SecAggError)
    assert info.value.reason is secagg.AbortReason.BELOW_THRESHOLD
    assert "masked_input closed with 3 clients" in info.value.detail


def test_drop_accepts_numpy_ids_and_any_iterable() -> None:
    inputs = ints(6, 3, seed=4)
    drop: Mapping[str, Any] = {"share_keys": np.array([1, 3]), "unmasking": (u for u in [0])}
    result = simulate_round(inputs, threshold=3, drop=drop, seed=1, allow_weak_threshold=True)
    assert result.survivors == [0, 2, 4, 5]
    assert result.responders == [2, 4, 5]
    assert [int(v) for v in result.aggregate] == plain_sum(inputs, [0, 2, 4, 5], 32)


# --------------------------------------------------------------------------- threshold policy


@pytest.mark.parametrize(
    ("n", "kwargs", "message"),
    [
        (4, {"threshold": 2}, "threshold t=2 is not more than half of the 4 clients"),
        (10, {"threshold": 5}, "use t >= 6"),
        (
            10,
            {"threshold": 6, "security": "malicious", "corrupt": 0.3},
            "a malicious server with 3 corrupt clients needs 2t > n + 3 to stop split views; "
            "use t >= 7",
        ),
        (8, {"threshold": 2, "neighbors": 4}, "not more than half of the 5 holders"),
        (
            40,
            {"threshold": 4, "neighbors": 6, "corrupt": 0.2},
            "corrupt neighbours (20% of clients) reach the threshold with probability",
        ),
        (2, {"threshold": 2}, "use at least 3 clients"),
    ],
)
def test_threshold_policy_refuses_weak_settings_and_says_why(
    n: int, kwargs: dict[str, Any], message: str
) -> None:
    """Every weak setting is refused before any message, with the reason and the fix in the
    message; allow_weak_threshold=True (experiments only) accepts each one."""
    inputs = ints(n, 2, seed=n)
    with pytest.raises(ConfigError) as info:
        simulate_round(inputs, seed=1, workers=1, **kwargs)
    assert message in str(info.value)
    assert "allow_weak_threshold=True accepts it anyway" in str(info.value)
    result = simulate_round(inputs, seed=1, workers=1, allow_weak_threshold=True, **kwargs)
    assert result.config is not None and result.config.threshold == kwargs["threshold"]
    assert [int(v) for v in result.aggregate] == plain_sum(inputs, range(n), 32)


@pytest.mark.parametrize(
    ("n", "kwargs", "threshold"),
    [
        (4, {}, 3),
        (5, {}, 3),
        (10, {}, 6),
        (10, {"corrupt": 0.3}, 6),
        (10, {"security": "malicious"}, 6),
        (10, {"security": "malicious", "corrupt": 0.3}, 7),
        (11, {"security": "malicious", "corrupt": 0.2}, 7),
        (8, {"neighbors": 4}, 3),
        (8, {"neighbors": 2}, 2),
    ],
)
def test_threshold_none_takes_the_smallest_the_policy_accepts(
    n: int, kwargs: dict[str, Any], threshold: int
) -> None:
    inputs = ints(n, 2, seed=n)
    result = simulate_round(inputs, threshold=None, seed=1, workers=1, **kwargs)
    assert result.config is not None
    assert result.config.threshold == threshold
    assert [int(v) for v in result.aggregate] == plain_sum(inputs, range(n), 32)
    # One less is refused.
    if threshold > 1:
        with pytest.raises(ConfigError):
            simulate_round(inputs, threshold=threshold - 1, seed=1, workers=1, **kwargs)


# --------------------------------------------------------------------------- modes and graphs


@pytest.mark.parametrize("mode", ["malicious", Security.MALICIOUS])
def test_malicious_mode_end_to_end(mode: str | Security) -> None:
    """Signed advertisements, the consistency round and signed unmasking requests: the exact sum
    with dropouts in every round, and the malicious mode's traffic (signatures) on the wire."""
    n, dim = 12, 7
    inputs = ints(n, dim, seed=21)
    drop = {
        "share_keys": [1],
        "share_check": [2],
        "masked_input": [3],
        "consistency_check": [4],
        "unmasking": [5],
    }
    result, log = run_captured(inputs, 5, threshold=None, security=mode, drop=drop)
    config = result.config
    assert config is not None and config.malicious and config.roster is not None
    assert config.threshold == 7
    # 4 (silent in consistency_check) masked its input: it is summed, its b_4 rebuilt.
    assert result.survivors == [0, *range(4, n)]
    assert result.responders == [0, *range(6, n)]
    assert [int(v) for v in result.aggregate] == plain_sum(inputs, result.survivors, 32)
    assert [r.name for r in result.costs.rounds] == list(rounds("malicious"))
    assert result.client_aborts == {}
    # AdvertiseKeys carries a 64-byte signature; every ConsistencyResponse is one signature.
    advertise = [m for (name, s, _, m) in log if name == "advertise_keys" and s is not None]
    assert {len(m) for m in advertise} == {48 + 64 + 64 + 32}
    responses = [m for (name, s, _, m) in log if name == "consistency_check" and s is not None]
    assert {len(m) for m in responses} == {48 + 32 + 64 + 32}
    assert len(responses) == 8  # the survivors minus 4
    # The server's unmasking requests carry t signatures at least.
    requests = [
        wire.decode_unmask_request(m, config, r)
        for (name, s, r, m) in log
        if name == "unmasking" and s is None and r is not None
    ]
    assert requests and all(len(q.signatures) >= config.threshold for q in requests)


def test_malicious_mode_costs_more_than_semi_honest_but_gives_the_same_sum() -> None:
    inputs = ints(7, 20, seed=3)
    semi = simulate_round(inputs, seed=2, workers=1)
    mal = simulate_round(inputs, seed=2, workers=1, security="malicious")
    assert np.array_equal(semi.aggregate, mal.aggregate)
    assert mal.costs.total_bytes > semi.costs.total_bytes
    with pytest.raises(KeyError):
        semi.costs["consistency_check"]
    assert mal.costs["consistency_check"].client_messages == 7
    # Different modes are different sessions, even with one seed.
    assert semi.config is not None and mal.config is not None
    assert semi.config.session_id != mal.config.session_id


def test_secaggplus_auto_is_the_finders_k_and_t() -> None:
    """neighbors="auto" with threshold=None is a complete SecAgg+ call: the (k, t) of
    secaggplus_parameters for the same dropout and corrupt fractions, and the exact sum."""
    n = 24
    inputs = ints(n, 5, seed=8)
    for security in ("semi_honest", "malicious"):
        k, t = secagg.secaggplus_parameters(n, dropout=0.05, corrupt=0.0, security=security)
        assert k is not None
        result = simulate_round(
            inputs, threshold=None, neighbors="auto", security=security, seed=4, workers=1
        )
        assert result.config is not None
        assert (result.config.neighbors, result.config.threshold) == (k, t)
        assert [int(v) for v in result.aggregate] == plain_sum(inputs, range(n), 32)
        # Each client talks to its k neighbours only: its key list names k + 1 holders.
        down = result.costs["share_keys"].server_to_client_bytes
        entry = 68 + (64 if security == "malicious" else 0)
        assert down == n * (48 + 4 + (k + 1) * entry + 32)
    # Small n: the finder needs the complete graph, and "auto" says so with neighbors None.
    small = simulate_round(ints(5, 2), threshold=None, neighbors="auto", seed=1, workers=1)
    assert small.config is not None and small.config.neighbors is None


def test_secaggplus_auto_with_an_explicit_threshold() -> None:
    n = 24
    inputs = ints(n, 3, seed=9)
    k, t = secagg.secaggplus_parameters(n, dropout=0.05, corrupt=0.0)
    assert k is not None
    result = simulate_round(inputs, threshold=t + 1, neighbors="auto", seed=4, workers=1)
    assert result.config is not None
    assert (result.config.neighbors, result.config.threshold) == (k, t + 1)
    with pytest.raises(ConfigError, match="not more than half"):
        simulate_round(inputs, threshold=k // 2, neighbors="auto", seed=4, workers=1)


def test_sparse_graph_traffic_grows_with_k_not_n() -> None:
    """With k = 4 the key lists and forwarded shares have k + 1 and k entries whatever n is."""
    sizes = {}
    for n in (10, 20):
        result = simulate_round(ints(n, 2), neighbors=4, seed=1, workers=1)
        sizes[n] = result.costs["share_check"].server_to_client_bytes / n
    assert sizes[10] == sizes[20] == 48 + 4 + 4 * 164 + 32


# --------------------------------------------------------------------------- lazy inputs


def test_lazy_inputs_make_each_vector_once_when_its_client_masks() -> None:
    n, dim = 6, 5
    made: list[int] = []
    phases: list[str] = []

    def make(u: int) -> npt.NDArray[np.uint64]:
        made.append(u)
        return np.full(dim, u + 1, dtype=np.uint64)

    def progress(name: str, done: int, total: int) -> None:
        if not phases or phases[-1] != name:
            phases.append(name)
            made.append(-1 - len(phases))  # a marker: which round the vectors were made in

    lazy = LazyInputs(n, dim, make)
    assert len(lazy) == n and np.asarray(lazy[2]).tolist() == [3] * dim
    made.clear()
    result = simulate_round(
        lazy, threshold=4, drop={"share_keys": [0]}, seed=1, workers=1, progress=progress
    )
    assert [int(v) for v in result.aggregate] == [sum(range(2, n + 1))] * dim
    # Nothing is made before masked_input, each surviving client's vector exactly once, and
    # client 0 (silent from share_keys) never gets one.
    masked_at = made.index(-1 - (phases.index("masked_input") + 1))
    assert all(marker < 0 for marker in made[:masked_at])
    assert sorted(u for u in made if u >= 0) == [1, 2, 3, 4, 5]


def test_lazy_inputs_in_worker_processes_give_the_same_round() -> None:
    n, dim = 8, 16

    def make(u: int) -> npt.NDArray[np.uint32]:
        return np.random.default_rng(u).integers(0, 1 << 32, size=dim, dtype=np.uint32)

    expected = plain_sum([make(u) for u in range(n)], range(1, n), 32)
    runs = []
    for workers in (1, 2):
        result = simulate_round(
            LazyInputs(n, dim, make), drop={"masked_input": [0]}, seed=3, workers=workers
        )
        assert [int(v) for v in result.aggregate] == expected
        runs.append((result.aggregate.tolist(), result.survivors, result.drops))
    assert runs[0] == runs[1]


@pytest.mark.parametrize("workers", [1, 2])
def test_lazy_input_that_is_invalid_when_made_is_a_config_error(workers: int) -> None:
    """A lazy vector is checked when it is made (at masking; it does not exist before): one
    out of the ring is the caller's error, so the round stops with a ConfigError naming the
    input (not a protocol abort that would hide it), and no aggregate is released."""
    n, dim = 5, 3

    def make(u: int) -> npt.NDArray[np.uint64]:
        value = 1 << 40 if u == 2 else u
        return np.full(dim, value, dtype=np.uint64)

    with pytest.raises(ConfigError, match="input 2 has values outside"):
        simulate_round(LazyInputs(n, dim, make), threshold=3, seed=1, workers=workers)


# --------------------------------------------------------------------------- memory preflight


def test_preflight_refuses_what_does_not_fit_without_allocating_it() -> None:
    """require_memory with a fake figure of available memory: a round that would not fit is
    refused with the figures and what would fit, and nothing near its size is allocated."""
    available = 4 * 10**9
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError) as info:
            preflight.require_memory(
                10_000, 100_000_000, 32, neighbors=None, workers=2, available=available
            )
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1_000_000
    message = str(info.value)
    assert "not enough memory: 10,000 clients x 100,000,000 values" in message
    assert "4.0 GB is available" in message
    assert "fewer clients" in message  # 10^4 x 10^4 pairs alone are 40 GB
    assert "SecAgg+ graph" in message
    # The same clients on a sparse graph fit with fewer values; the hint says how many.
    with pytest.raises(ConfigError) as sparse:
        preflight.require_memory(
            10_000, 1_000_000_000, 32, neighbors=30, workers=2, available=available
        )
    hint = re.search(r"at most ([\d,]+) values per client", str(sparse.value))
    assert hint is not None
    fits = int(hint.group(1).replace(",", ""))
    preflight.require_memory(10_000, fits, 32, neighbors=30, workers=2, available=available)
    with pytest.raises(ConfigError):
        preflight.require_memory(
            10_000, fits + 10_000, 32, neighbors=30, workers=2, available=available
        )


@pytest.mark.parametrize(
    ("n", "dim", "bits", "neighbors", "workers"),
    [(10, 10, 32, None, 1), (1000, 1000, 64, None, 2), (100_000, 100, 32, 40, 2)],
)
def test_preflight_refuses_exactly_past_its_headroom(
    n: int, dim: int, bits: int, neighbors: int | None, workers: int
) -> None:
    need = preflight.estimate_peak(n, dim, bits, neighbors=neighbors, workers=workers)
    assert need > 0
    room = int(need / preflight.HEADROOM)
    preflight.require_memory(n, dim, bits, neighbors=neighbors, workers=workers, available=room + 1)
    with pytest.raises(ConfigError):
        preflight.require_memory(
            n, dim, bits, neighbors=neighbors, workers=workers, available=room - 1
        )


def test_preflight_does_not_refuse_when_the_memory_is_unknown(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(preflight, "available_memory", lambda: None)
    preflight.require_memory(10**6, 2**31, 64, neighbors=None, workers=2)
    monkeypatch.setattr(preflight, "available_memory", lambda: 10**6)
    with pytest.raises(ConfigError):
        preflight.require_memory(10**6, 2**31, 64, neighbors=None, workers=2)


def test_simulate_round_refuses_a_size_that_does_not_fit_before_making_any_input(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The largest vectors the protocol allows (2^31 values) for 1,000 lazy clients, with 1 GB
    of memory: refused at once, before any client exists or any vector is made."""
    monkeypatch.setattr(preflight, "available_memory", lambda: 10**9)

    def make(u: int) -> npt.NDArray[np.uint32]:
        raise AssertionError("no input may be made")

    def no_client(*args: Any, **kwargs: Any) -> Client:
        raise AssertionError("no client may be made")

    monkeypatch.setattr("secagg.runtime.simulate.Client", no_client)
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError, match="not enough memory"):
            simulate_round(LazyInputs(1000, (1 << 31) - 1, make), seed=1, workers=2)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10_000_000


# --------------------------------------------------------------------------- results


def test_round_result_repr_is_a_summary() -> None:
    inputs = ints(5, 1000, seed=3)
    result = simulate_round(inputs, threshold=3, drop={"unmasking": [4]}, seed=1, workers=1)
    text = repr(result)
    assert text.startswith("RoundResult(dim=1000, survivors=5, responders=4, drops=1, ")
    assert "client_aborts=0" in text and "server_cpu=" in text
    assert len(text) < 200
    # No vector, no input value, no nonce.
    assert str(int(result.aggregate[0])) not in text
    assert result.config is not None and result.config.session_nonce.hex() not in text


# --------------------------------------------------------------------------- reproducibility


def test_same_seed_same_aggregate_and_same_bytes() -> None:
    inputs = ints(5, 6, seed=5)
    kwargs: dict[str, Any] = {"threshold": 3, "drop": {"masked_input": [1]}}
    a, wire_a = run_captured(inputs, 42, **kwargs)
    b, wire_b = run_captured(inputs, 42, **kwargs)
    assert np.array_equal(a.aggregate, b.aggregate)
    assert a.survivors == b.survivors
    assert wire_a == wire_b
    # Up: 5, 5, 5, 4, 4 (client 1 silent from masked_input); down: 5 key lists, 5 forwarded
    # shares, 5 mask requests, 4 unmask requests.
    assert len(wire_a) == 5 + 5 + 5 + 4 + 4 + 5 + 5 + 5 + 4
    assert a.config == b.config
    # bytes seeds work the same way.
    c, wire_c = run_captured(inputs, b"\x01\x02", **kwargs)
    d, wire_d = run_captured(inputs, b"\x01\x02", **kwargs)
    assert wire_c == wire_d
    assert wire_c != wire_a
    assert np.array_equal(c.aggregate, d.aggregate)


def test_different_seed_different_bytes_same_sum() -> None:
    inputs = ints(5, 6, seed=6)
    a, wire_a = run_captured(inputs, 1, threshold=3)
    b, wire_b = run_captured(inputs, 2, threshold=3)
    assert np.array_equal(a.aggregate, b.aggregate)
    assert [int(v) for v in a.aggregate] == plain_sum(inputs, range(5), 32)
    assert [k[:3] for k in wire_a] == [k[:3] for k in wire_b]  # same traffic pattern
    assert all(x[3] != y[3] for x, y in zip(wire_a, wire_b, strict=True))  # no message repeats
    assert a.config is not None and b.config is not None
    assert a.config.session_nonce != b.config.session_nonce


def test_seeded_runs_with_different_parameters_share_no_secret() -> None:
    """One seed, two thresholds: different sessions, and no public key in common (every client
    secret derives from the seed, the session and the client id)."""
    inputs = ints(6, 3, seed=7)
    keys = []
    for t in (4, 5):
        _, log = run_captured(inputs, 9, threshold=t)
        keys.append({m[48:112] for (name, s, _, m) in log if name == "advertise_keys"})
    assert len(keys[0]) == len(keys[1]) == 6
    assert not keys[0] & keys[1]


def test_unseeded_runs_differ() -> None:
    inputs = ints(3, 4, seed=7)
    a, wire_a = run_captured(inputs, None, threshold=2)
    b, wire_b = run_captured(inputs, None, threshold=2)
    assert np.array_equal(a.aggregate, b.aggregate)
    assert wire_a[0][3] != wire_b[0][3]


@pytest.mark.parametrize(
    ("bad", "got"),
    [
        (-1, "a negative int"),
        (True, "bool"),
        (False, "bool"),
        (1.5, "float"),
        ("seed", "str"),
        (bytearray(1), "bytearray"),
        ([1], "list"),
    ],
)
def test_bad_seed_is_refused(bad: Any, got: str) -> None:
    message = re.escape(f"seed must be a non-negative int or bytes, got {got}")
    with pytest.raises(ConfigError, match=message):
        simulate_round(ints(3, 2), threshold=2, seed=bad)
    with pytest.raises(ConfigError, match=message):
        secagg.aggregate_updates([np.zeros(2)] * 3, threshold=2, seed=bad)


def test_numpy_int_seed_is_the_same_as_the_int() -> None:
    inputs = ints(3, 4, seed=9)
    _, wire_a = run_captured(inputs, 11, threshold=2)
    _, wire_b = run_captured(inputs, cast("int", np.uint16(11)), threshold=2)
    assert wire_a == wire_b


# --------------------------------------------------------------------------- costs


@pytest.mark.parametrize("security", ["semi_honest", "malicious"])
def test_costs_per_round(security: str) -> None:
    n, dim, bits = 6, 10, 33
    malicious = security == "malicious"
    inputs = ints(n, dim, bits=bits, seed=8)
    result, log = run_captured(
        inputs,
        9,
        threshold=4,
        bits=bits,
        security=security,
        drop={"share_keys": [5], "unmasking": [0]},
    )
    costs = result.costs
    names = rounds(security)
    assert [r.name for r in costs.rounds] == list(names)
    senders = dict.fromkeys(names, 5) | {"advertise_keys": 6, "unmasking": 4}
    prompted = dict.fromkeys(names, 5) | {"advertise_keys": 0, "share_keys": 6}
    for name in names:
        r = costs[name]
        up = [m for (rn, s, _, m) in log if rn == name and s is not None]
        down = [m for (rn, s, _, m) in log if rn == name and s is None]
        assert r.client_messages == senders[name] == len(up)
        assert r.server_messages == prompted[name] == len(down)
        assert r.client_to_server_bytes == sum(map(len, up)) > 0
        assert r.server_to_client_bytes == sum(map(len, down))
        assert (r.server_to_client_bytes > 0) == (name != "advertise_keys")
        assert r.client_cpu_seconds >= r.client_cpu_seconds_max >= 0
        assert r.server_cpu_seconds >= 0
        per = r.per_client()
        assert per["upload_bytes"] == r.client_to_server_bytes / r.client_messages
    # Known sizes: header 48 + digest 32 around each body; replies to a prompt start with its
    # 32-byte digest (the prompt echo, SPEC 5.3); signatures are 64 bytes.
    sig = 64 if malicious else 0
    assert costs["advertise_keys"].client_to_server_bytes == n * (48 + 64 + sig + 32)
    assert costs["share_keys"].server_to_client_bytes == 6 * (48 + 4 + 6 * (68 + sig) + 32)
    # ShareForward to each of 0..4: the four other senders (5 never sent ShareKeys).
    assert costs["share_check"].server_to_client_bytes == 5 * (48 + 4 + 4 * 164 + 32)
    assert costs["share_check"].client_to_server_bytes == 5 * (48 + 32 + 4 + 32)
    assert costs["masked_input"].client_to_server_bytes == 5 * (48 + 32 + dim * 8 + 32)
    assert costs["masked_input"].server_to_client_bytes == 5 * (48 + 1 + 32)
    assert costs.total_bytes == sum(len(m) for *_, m in log)
    assert costs.client_cpu_seconds >= 0
    assert costs.server_cpu_seconds >= 0
    if malicious:
        assert costs["consistency_check"].client_to_server_bytes == 5 * (48 + 32 + 64 + 32)
    else:
        with pytest.raises(KeyError):
            costs["consistency_check"]


def test_costs_count_bytes_as_sent_before_interception() -> None:
    inputs = ints(4, 5, seed=10)
    plain = simulate_round(inputs, threshold=3, seed=3)
    lost = simulate_round(
        inputs,
        threshold=3,
        seed=3,
        intercept=lambda name, s, r, b: None if (name, s) == ("masked_input", 1) else b,
    )
    assert plain.costs["masked_input"].client_to_server_bytes == (
        lost.costs["masked_input"].client_to_server_bytes
    )
    assert plain.costs["masked_input"].client_messages == 4
    assert lost.costs["masked_input"].client_messages == 4
    assert lost.survivors == [0, 2, 3]
    assert plain.survivors == [0, 1, 2, 3]


def test_progress_reports_every_round_and_message() -> None:
    calls: list[tuple[str, int, int]] = []
    simulate_round(
        ints(4, 2),
        threshold=3,
        seed=1,
        security="malicious",
        drop={"share_check": [2]},
        progress=lambda name, done, total: calls.append((name, done, total)),
    )
    names = rounds("malicious")
    assert [c[0] for c in calls if c[1] == 0] == list(names)
    totals = {name: total for name, _, total in calls}
    assert totals == dict.fromkeys(names, 3) | {"advertise_keys": 4, "share_keys": 4}
    for name in names:
        assert [d for n_, d, _ in calls if n_ == name] == list(range(totals[name] + 1))


# --------------------------------------------------------------------------- aggregate_updates


def floats(n: int, dim: int, scale: float, seed: int) -> list[npt.NDArray[np.float64]]:
    rng = np.random.default_rng(seed)
    return [rng.normal(0.0, scale, size=dim) for _ in range(n)]


@pytest.mark.parametrize(
    ("clip", "levels"), [(8.0, 1 << 22), (1.0, 1 << 10), (0.5, 255), (3.0, 1 << 40)]
)
def test_float_sum_within_quantization_error(clip: float, levels: int) -> None:
    n, dim = 7, 200
    updates = floats(n, dim, scale=clip, seed=levels % 1000)
    result = secagg.aggregate_updates(
        updates, threshold=4, clipping_range=clip, quantization_range=levels, seed=5
    )
    clipped = [np.clip(u, -clip, clip) for u in updates]
    truth = np.sum(clipped, axis=0)
    step = 2 * clip / levels
    assert result.quantization.step == pytest.approx(step)
    assert np.max(np.abs(result.sum - truth)) <= n * step * (1 + 1e-9)
    assert result.survivors == list(range(n))
    assert np.allclose(result.mean, result.sum / n)
    assert result.clipped == {
        u: int(np.count_nonzero(np.abs(x) > clip)) for u, x in enumerate(updates)
    }
    assert sum(result.clipped.values()) > 0  # scale = clip: plenty of values beyond the range
    qc = result.quantization
    assert qc.modulus_range is not None
    assert n * levels < qc.modulus_range
    assert result.round.config is not None and result.round.config.bits == qc.bits


@pytest.mark.parametrize(
    ("security", "neighbors"), [("semi_honest", None), ("malicious", None), ("malicious", 4)]
)
def test_float_sum_with_dropouts_covers_only_survivors(
    security: str, neighbors: int | None
) -> None:
    n, dim, clip = 8, 50, 2.0
    updates = floats(n, dim, scale=0.5, seed=11)
    result = secagg.aggregate_updates(
        updates,
        threshold=None,
        clipping_range=clip,
        security=security,
        neighbors=neighbors,
        drop={"share_keys": [2], "masked_input": [5], "unmasking": [6]},
        seed=12,
    )
    survivors = [0, 1, 3, 4, 6, 7]
    assert result.survivors == survivors
    assert result.round.responders == [0, 1, 3, 4, 7]
    truth = np.sum([np.clip(updates[u], -clip, clip) for u in survivors], axis=0)
    step = result.quantization.step
    assert np.max(np.abs(result.sum - truth)) <= len(survivors) * step * (1 + 1e-9)
    assert np.allclose(result.mean, result.sum / len(survivors))
    assert result.round.config is not None
    assert result.round.config.security is Security(security)
    assert result.round.config.neighbors == neighbors


def test_float_extremes_are_clipped_and_counted() -> None:
    updates = [
        np.array([np.inf, -np.inf, 100.0, -100.0, 0.0]),
        np.array([1.0, -1.0, 0.25, 0.0, 0.0]),
        np.array([0.0, 0.0, 0.0, 0.0, 0.0]),
    ]
    result = secagg.aggregate_updates(
        updates, threshold=2, clipping_range=1.0, quantization_range=1 << 16, seed=1
    )
    assert result.clipped == {0: 4, 1: 0, 2: 0}
    truth = np.array([2.0, -2.0, 1.25, -1.0, 0.0])
    assert np.max(np.abs(result.sum - truth)) <= 3 * result.quantization.step


def test_numpy_integer_quantization_parameters_are_accepted() -> None:
    updates = floats(3, 4, 1.0, 1)
    kwargs: dict[str, Any] = {
        "threshold": np.int64(2),
        "quantization_range": np.int64(1 << 10),
        "modulus_range": np.uint64(1 << 16),
        "seed": np.int64(5),
    }
    numpy_ints = secagg.aggregate_updates(updates, **kwargs)
    python_ints = secagg.aggregate_updates(
        updates, threshold=2, quantization_range=1 << 10, modulus_range=1 << 16, seed=5
    )
    assert numpy_ints.quantization == python_ints.quantization
    assert numpy_ints.quantization.bits == 16
    assert np.array_equal(numpy_ints.sum, python_ints.sum)


def test_float_sum_is_reproducible_with_a_seed() -> None:
    updates = floats(4, 30, scale=1.0, seed=13)
    a = secagg.aggregate_updates(updates, threshold=3, seed=7)
    b = secagg.aggregate_updates(updates, threshold=3, seed=7)
    assert np.array_equal(a.sum, b.sum)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"quantization_range": 1 << 22, "modulus_range": 1 << 24},  # 5 * 2^22 >= 2^24
        {"quantization_range": 1 << 30, "modulus_range": 1 << 32},
        {"quantization_range": 100, "modulus_range": 500},  # not a power of two
        {"quantization_range": 100, "modulus_range": 1 << 65},
        {"quantization_range": 0},
        {"clipping_range": 0.0},
        {"clipping_range": -1.0},
        {"clipping_range": float("nan")},
        {"threshold": 2},  # 2t <= n
        {"security": "paranoid"},
    ],
)
def test_unsafe_quantization_settings_are_refused(kwargs: dict[str, Any]) -> None:
    kwargs = {"threshold": 3, **kwargs}
    with pytest.raises(ConfigError):
        secagg.aggregate_updates(floats(5, 4, 1.0, 1), seed=1, **kwargs)


@pytest.mark.parametrize(
    ("updates", "kwargs", "message"),
    [
        (None, {}, "updates must be a sequence of 1-D float arrays, got NoneType"),
        (np.float64(1.0), {}, "updates must be a sequence"),
        ("abc", {}, "got str"),
        ([], {}, "num_clients must be a positive int"),
        ([np.zeros((2, 2))] * 3, {}, "updates[0]: quantize takes a 1-D vector"),
        ([1.0, 2.0, 3.0], {}, "updates[0]: quantize takes a 1-D vector"),
        (
            [np.zeros(2), np.array([0.0, np.nan]), np.zeros(2)],
            {},
            "updates[1]: update contains NaN",
        ),
        ([np.array(["0.5", "1"])] * 3, {}, "updates[0]: update has dtype <U3"),
        ([np.zeros(2, complex)] * 3, {}, "update has dtype complex128"),
        ([[0.0, {}]] * 3, {}, "updates[0]: update holds values that are not real numbers"),
        (
            [[10**400, 0.0]] * 3,
            {},
            "updates[0]: update has dtype object with integers too large for float64",
        ),
        ([np.zeros(2), [0.0, -(10**400)], np.zeros(2)], {}, "updates[1]: update has dtype object"),
        ([np.zeros(2)] * 3, {"clipping_range": 10**400}, "clipping_range is too large"),
        ([np.zeros(2), np.zeros(3), np.zeros(2)], {}, "all must be (2,)"),
        ([np.zeros(2)] * 3, {"drop": [1]}, "drop must be a mapping"),
        ([np.zeros(2)] * 3, {"drop": {"unmask": [1]}}, "unknown round 'unmask'"),
        ([np.zeros(2)] * 3, {"threshold": 4}, "threshold must be in [1, 3]"),
        ([np.zeros(2)] * 3, {"threshold": 1}, "not more than half of the 3 clients"),
        ([np.zeros(2)] * 3, {"seed": -1}, "seed must be a non-negative int"),
    ],
)
def test_invalid_updates_raise_config_error(
    updates: Any, kwargs: dict[str, Any], message: str
) -> None:
    kwargs = {"threshold": 2, "seed": 1, **kwargs}
    with pytest.raises(ConfigError) as info:
        secagg.aggregate_updates(updates, **kwargs)
    assert message in str(info.value)


def test_forged_masked_input_outside_the_range_aborts_with_a_typed_error() -> None:
    """A well-formed masked input that adds n * L + 1 to one element passes every wire check
    (it is in Z_2^b), so the unmasked ring sum is n * L + 1: more than n clients' quantized
    updates can add up to. aggregate_updates refuses to dequantize it and releases no float
    sum. (In the malicious mode too: a masked input is not signed, SPEC 13.)"""
    n, levels, target = 4, 100, 2
    updates = [np.full(3, -1.0)] * n  # every value quantizes to level 0: the true ring sum is 0
    kwargs: dict[str, Any] = {"threshold": 3, "clipping_range": 1.0, "quantization_range": levels}
    honest = secagg.aggregate_updates(updates, seed=3, **kwargs)
    assert honest.quantization.modulus_range == 512  # n * L = 400 < 512
    assert [int(v) for v in honest.round.aggregate] == [0, 0, 0]
    config = honest.round.config
    assert config is not None
    forged: list[int] = []

    def forge(name: str, sender: int | None, recipient: int | None, payload: bytes) -> bytes:
        if (name, sender) != ("masked_input", target):
            return payload
        msg = wire.decode_masked_input(payload, config, target)
        vector = msg.vector.copy()
        vector[1] = (int(vector[1]) + n * levels + 1) % config.modulus
        forged.append(target)
        return wire.encode_masked_input(config, target, replace(msg, vector=vector))

    # The forgery is accepted at the ring level: nobody is dropped, and the sum is off by n*L+1.
    ring = simulate_round(
        [np.zeros(3, np.uint64)] * n, threshold=3, bits=config.bits, seed=3, intercept=forge
    )
    assert forged == [target]
    assert ring.drops == () and ring.survivors == list(range(n))
    assert [int(v) for v in ring.aggregate] == [0, n * levels + 1, 0]

    with pytest.raises(ProtocolAbort) as info:
        secagg.aggregate_updates(updates, seed=3, intercept=forge, **kwargs)
    assert isinstance(info.value, SecAggError)
    assert info.value.reason is secagg.AbortReason.AGGREGATE_OUT_OF_RANGE
    assert "4 x quantization_range 100" in info.value.detail


def test_default_modulus_beyond_2_64_names_the_limits() -> None:
    """No modulus_range given: the message must not blame one but say what fits in the
    largest ring."""
    updates = [np.zeros(1)] * 4096
    with pytest.raises(ConfigError) as info:
        secagg.aggregate_updates(updates, threshold=3000, quantization_range=1 << 53)
    with pytest.raises(ConfigError) as direct:
        secagg.QuantizationConfig(num_clients=4096, quantization_range=1 << 53)
    assert str(info.value) == str(direct.value)
    assert "modulus_range must be a power of two" not in str(info.value)


def test_exactly_fitting_modulus_is_accepted() -> None:
    # 3 clients x 2^8 levels = 768 < 1024 = 2^10: fits; one more client would not.
    updates = floats(3, 20, scale=0.3, seed=14)
    result = secagg.aggregate_updates(
        updates, threshold=2, clipping_range=1.0, quantization_range=1 << 8, modulus_range=1024
    )
    assert result.quantization.bits == 10
    with pytest.raises(ConfigError):
        secagg.aggregate_updates(
            [*updates, updates[0]],
            threshold=3,
            clipping_range=1.0,
            quantization_range=1 << 8,
            modulus_range=1024,
        )


def test_error_bound_holds_at_the_largest_quantization_range() -> None:
    """quantization_range = 2^53: the float64 rounding of the scaled value (half a level) and of
    the ring sum (up to n levels) matter, so the documented bound is n * step plus float64
    rounding of the result, 4 * eps * n * c."""
    level = 2.0**-49  # step = 2c / L = 16 / 2^53
    values = [8.0 - 0.5 * level, 8.0 - 0.5 * level, 8.0 - 2.5 * level]
    updates = [np.array([v]) for v in values]
    result = secagg.aggregate_updates(
        updates, threshold=3, clipping_range=8.0, quantization_range=1 << 53, seed=1
    )
    step = Fraction(result.quantization.step)
    assert step == Fraction(level)
    assert result.clipped == {0: 0, 1: 0, 2: 0}
    error = abs(Fraction(float(result.sum[0])) - sum(Fraction(v) for v in values))
    n, c = len(updates), Fraction(8)
    float_slack = 4 * Fraction(float(np.finfo(np.float64).eps)) * n * c
    assert error <= n * step + float_slack, f"error is {float(error / step)} steps"


@settings(max_examples=20)
@given(
    n=st.integers(3, 8),
    dim=st.integers(1, 12),
    clip=st.floats(0.01, 100.0),
    levels_log2=st.integers(0, 30),
    data_seed=st.integers(0, 2**32 - 1),
    seed=st.integers(0, 2**32 - 1),
)
def test_float_sum_bound_property(
    n: int, dim: int, clip: float, levels_log2: int, data_seed: int, seed: int
) -> None:
    levels = 1 << levels_log2
    updates = floats(n, dim, scale=clip, seed=data_seed)
    result = secagg.aggregate_updates(
        updates, threshold=None, clipping_range=clip, quantization_range=levels, seed=seed
    )
    truth = np.sum([np.clip(u, -clip, clip) for u in updates], axis=0)
    step = result.quantization.step
    assert np.max(np.abs(result.sum - truth)) <= n * step * (1 + 1e-9)


def test_public_api_names() -> None:
    assert secagg.ROUNDS == ROUNDS == rounds("semi_honest")
    for name in ("LazyInputs", "Roster", "SigningKey", "Security", "secaggplus_parameters"):
        assert name in secagg.__all__
