"""The public API: simulate_round's validation, reproducibility and cost accounting, and the
float-level aggregate_updates."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import replace
from fractions import Fraction
from typing import Any, cast

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import secagg
from secagg import ConfigError, ProtocolAbort, RoundResult, SecAggError, simulate_round
from secagg.core import wire
from secagg.core.client import Client
from secagg.runtime.simulate import ROUNDS

Wire = list[tuple[str, int | None, int | None, bytes]]


def ints(n: int, dim: int, bits: int = 32, seed: int = 0) -> list[npt.NDArray[np.uint64]]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 1 << bits, size=dim, dtype=np.uint64) for _ in range(n)]


def plain_sum(inputs: Sequence[npt.NDArray[Any]], ids: Sequence[int], bits: int) -> list[int]:
    return [sum(int(inputs[u][i]) for u in ids) % (1 << bits) for i in range(len(inputs[0]))]


def run_captured(
    inputs: Sequence[npt.ArrayLike], seed: int | bytes | None, **kwargs: Any
) -> tuple[RoundResult, Wire]:
    log: Wire = []

    def spy(name: str, sender: int | None, recipient: int | None, payload: bytes) -> bytes:
        log.append((name, sender, recipient, payload))
        return payload

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
        (GOOD, {"threshold": 2, "bits": 0}),
        (GOOD, {"threshold": 2, "bits": 65}),
        (GOOD, {"threshold": 2, "bits": -3}),
        (GOOD, {"threshold": 2, "bits": 32.0}),
        (GOOD, {"threshold": 2, "bits": "32"}),
        (GOOD, {"threshold": 0}),
        (GOOD, {"threshold": -1}),
        (GOOD, {"threshold": 5}),
        (GOOD, {"threshold": 2.0}),
        (GOOD, {"threshold": True}),
        (GOOD, {"threshold": 2, "drop": {"advertise": [1]}}),
        (GOOD, {"threshold": 2, "drop": {"Unmasking": [1]}}),
        (GOOD, {"threshold": 2, "drop": {"share_keys": [4]}}),
        (GOOD, {"threshold": 2, "drop": {"share_keys": [-1]}}),
        (GOOD, {"threshold": 2, "drop": {"share_keys": ["1"]}}),
        (GOOD, {"threshold": 2, "drop": {"share_keys": [1.0]}}),
        (GOOD, {"threshold": 2, "drop": {"share_keys": [None]}}),
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
        ([[1, 2], [3]], {}, "all must be 1-D of shape (2,)"),
        ([np.zeros(3, np.float32)] * 3, {}, "must be unsigned integers"),
        ([np.array([0, 256], np.uint16)] * 3, {"bits": 8}, "outside [0, 2**8)"),
        ([np.zeros(0, np.uint32)] * 3, {}, "dim must be in"),
        # hooks that cannot be called: TypeError mid-round before.
        (GOOD, {"intercept": 5}, "intercept must be callable"),
        (GOOD, {"progress": "bar"}, "progress must be callable"),
    ],
)
def test_invalid_parameters_raise_config_error_with_a_message(
    inputs: Any, kwargs: dict[str, Any], message: str
) -> None:
    kwargs = {"threshold": 2, "seed": 1, **kwargs}
    with pytest.raises(ConfigError) as info:
        simulate_round(inputs, **kwargs)
    assert message in str(info.value)


def test_valid_edge_inputs_are_accepted() -> None:
    # Python ints, signed dtypes with non-negative values, a 2-D array of rows, b = 1 and 64.
    result = simulate_round([[1, 0], [1, 1], [0, 1]], threshold=3, bits=1, seed=1)
    assert [int(v) for v in result.aggregate] == [0, 0]
    rows = np.array([[1, 2, 3], [4, 5, 6]], dtype=np.int64)
    result = simulate_round(cast("Sequence[npt.ArrayLike]", rows), threshold=2, bits=4, seed=1)
    assert [int(v) for v in result.aggregate] == [5, 7, 9]
    top = np.array([(1 << 64) - 1, 0, 1 << 63], dtype=np.uint64)
    result = simulate_round([top, top, top], threshold=2, bits=64, seed=1)
    assert result.aggregate.dtype == np.uint64
    assert [int(v) for v in result.aggregate] == plain_sum([top] * 3, [0, 1, 2], 64)
    result = simulate_round([np.array([5], np.uint8)] * 2, threshold=1, bits=3, seed=1)
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
    """Inputs are cast once to the ring's dtype (uint32 for b <= 32, not a uint64 that doubles
    the memory); an input already in that dtype is handed on as is (the Client copies it)."""
    seen: list[npt.NDArray[Any]] = []

    def recording_client(config: Any, u: int, x: Any, rand: bytes) -> Client:
        seen.append(x)
        return Client(config, u, x, rand)

    monkeypatch.setattr("secagg.runtime.simulate.Client", recording_client)
    inputs = [np.array([1, 0, 1], dtype=given) for _ in range(3)]
    result = simulate_round(inputs, threshold=2, bits=bits, seed=1)
    assert [int(v) for v in result.aggregate] == [3 % (1 << bits), 0, 3 % (1 << bits)]
    assert [x.dtype for x in seen] == [np.dtype(handed_on).newbyteorder("<")] * 3
    same = [np.array([1, 0], dtype=handed_on) for _ in range(2)]
    seen.clear()
    simulate_round(same, threshold=2, bits=bits, seed=1)
    assert all(x is y for x, y in zip(seen, same, strict=True))


def test_single_client_round() -> None:
    """n = t = 1: no peers, no shares of anyone else; the sum is the client's own input."""
    x = np.array([7, 9], dtype=np.uint64)
    result = simulate_round([x], threshold=1, bits=8, seed=3)
    assert result.survivors == [0]
    assert result.responders == [0]
    assert [int(v) for v in result.aggregate] == [7, 9]


def test_abort_is_a_secagg_error_with_a_reason() -> None:
    with pytest.raises(ProtocolAbort) as info:
        simulate_round(GOOD, threshold=4, drop={"masked_input": [0]}, seed=1)
    assert isinstance(info.value, SecAggError)
    assert info.value.reason is secagg.AbortReason.BELOW_THRESHOLD


def test_drop_accepts_numpy_ids_and_any_iterable() -> None:
    inputs = ints(5, 3, seed=4)
    drop: Mapping[str, Any] = {"share_keys": np.array([1, 3]), "unmasking": (u for u in [0])}
    result = simulate_round(inputs, threshold=2, drop=drop, seed=1)
    assert result.survivors == [0, 2, 4]
    assert result.responders == [2, 4]
    assert [int(v) for v in result.aggregate] == plain_sum(inputs, [0, 2, 4], 32)


# --------------------------------------------------------------------------- reproducibility


def test_same_seed_same_aggregate_and_same_bytes() -> None:
    inputs = ints(5, 6, seed=5)
    kwargs: dict[str, Any] = {"threshold": 3, "drop": {"masked_input": [1]}}
    a, wire_a = run_captured(inputs, 42, **kwargs)
    b, wire_b = run_captured(inputs, 42, **kwargs)
    assert np.array_equal(a.aggregate, b.aggregate)
    assert a.survivors == b.survivors
    assert wire_a == wire_b
    # Up: 5, 5, 4, 4 (client 1 silent from masked_input); down: 5 key lists, 5 forwards, 4 requests.
    assert len(wire_a) == 5 + 5 + 4 + 4 + 5 + 5 + 4
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
    """Before, the DRBG raised ValueError or TypeError."""
    message = re.escape(f"seed must be a non-negative int or bytes, got {got}")
    with pytest.raises(ConfigError, match=message):
        simulate_round(ints(2, 2), threshold=1, seed=bad)
    with pytest.raises(ConfigError, match=message):
        secagg.aggregate_updates([np.zeros(2)] * 2, threshold=1, seed=bad)


def test_numpy_int_seed_is_the_same_as_the_int() -> None:
    inputs = ints(3, 4, seed=9)
    _, wire_a = run_captured(inputs, 11, threshold=2)
    _, wire_b = run_captured(inputs, cast("int", np.uint16(11)), threshold=2)
    assert wire_a == wire_b


# --------------------------------------------------------------------------- costs


def test_costs_per_round() -> None:
    n, dim, bits = 6, 10, 33
    inputs = ints(n, dim, bits=bits, seed=8)
    result, log = run_captured(
        inputs, 9, threshold=3, bits=bits, drop={"share_keys": [5], "unmasking": [0]}
    )
    costs = result.costs
    assert [r.name for r in costs.rounds] == list(ROUNDS)
    senders = {"advertise_keys": 6, "share_keys": 5, "masked_input": 5, "unmasking": 4}
    prompted = {"advertise_keys": 0, "share_keys": 6, "masked_input": 5, "unmasking": 5}
    for name in ROUNDS:
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
    # 32-byte digest (the prompt echo, SPEC 5.7).
    assert costs["advertise_keys"].client_to_server_bytes == n * (48 + 64 + 32)
    assert costs["masked_input"].client_to_server_bytes == 5 * (48 + 32 + dim * 8 + 32)
    assert costs["share_keys"].server_to_client_bytes == 6 * (48 + 4 + 6 * 68 + 32)
    assert costs.total_bytes == sum(len(m) for *_, m in log)
    assert costs.client_cpu_seconds >= 0
    assert costs.server_cpu_seconds >= 0
    with pytest.raises(KeyError):
        costs["consistency_check"]


def test_costs_count_bytes_as_sent_before_interception() -> None:
    inputs = ints(4, 5, seed=10)
    plain = simulate_round(inputs, threshold=2, seed=3)
    lost = simulate_round(
        inputs,
        threshold=2,
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


def test_float_sum_with_dropouts_covers_only_survivors() -> None:
    n, dim, clip = 8, 50, 2.0
    updates = floats(n, dim, scale=0.5, seed=11)
    result = secagg.aggregate_updates(
        updates,
        threshold=4,
        clipping_range=clip,
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
    a = secagg.aggregate_updates(updates, threshold=2, seed=7)
    b = secagg.aggregate_updates(updates, threshold=2, seed=7)
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
    ],
)
def test_unsafe_quantization_settings_are_refused(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        secagg.aggregate_updates(floats(5, 4, 1.0, 1), threshold=3, seed=1, **kwargs)


@pytest.mark.parametrize(
    ("updates", "kwargs", "message"),
    [
        (None, {}, "updates must be a sequence of 1-D float arrays, got NoneType"),
        (np.float64(1.0), {}, "updates must be a sequence"),
        ("abc", {}, "got str"),
        ([], {}, "num_clients must be a positive int"),
        ([np.zeros((2, 2))] * 3, {}, "updates[0]: quantize takes a 1-D vector"),
        ([1.0, 2.0, 3.0], {}, "updates[0]: quantize takes a 1-D vector"),
        ([np.zeros(2), np.array([0.0, np.nan])], {}, "updates[1]: update contains NaN"),
        ([np.array(["0.5", "1"])] * 3, {}, "updates[0]: update has dtype <U3"),
        ([np.zeros(2, complex)] * 3, {}, "update has dtype complex128"),
        ([[0.0, {}]] * 3, {}, "updates[0]: update holds values that are not real numbers"),
        (
            [[10**400, 0.0]] * 3,
            {},
            "updates[0]: update has dtype object with integers too large for float64",
        ),
        ([np.zeros(2), [0.0, -(10**400)]], {}, "updates[1]: update has dtype object"),
        ([np.zeros(2)] * 3, {"clipping_range": 10**400}, "clipping_range is too large"),
        ([np.zeros(2), np.zeros(3), np.zeros(2)], {}, "all must be 1-D of shape (2,)"),
        ([np.zeros(0)] * 3, {}, "dim must be in"),
        ([np.zeros(2)] * 3, {"drop": [1]}, "drop must be a mapping"),
        ([np.zeros(2)] * 3, {"drop": {"unmask": [1]}}, "unknown round 'unmask'"),
        ([np.zeros(2)] * 3, {"threshold": 4}, "threshold must be in [1, num_clients=3]"),
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
    updates can add up to. aggregate_updates refuses to dequantize it (it raised a bare
    ValueError before) and releases no float sum."""
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
    """No modulus_range given: the message must not blame one (it said 'modulus_range must be a
    power of two ... got 7378...' before) but say what fits in the largest ring."""
    updates = [np.zeros(1)] * 4096
    with pytest.raises(ConfigError) as info:
        secagg.aggregate_updates(updates, threshold=3000, quantization_range=1 << 53)
    # The whole message is checked in test_quantize; here, that it comes through unchanged.
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
            threshold=2,
            clipping_range=1.0,
            quantization_range=1 << 8,
            modulus_range=1024,
        )


def test_error_bound_holds_at_the_largest_quantization_range() -> None:
    """quantization_range = 2^53 is accepted (MAX_QUANTIZATION_RANGE). There the float64
    rounding of the scaled value (half a level) and of the ring sum (up to n levels) matter, so
    the documented bound is n * step plus float64 rounding of the result, 4 * eps * n * c.
    Three values just below c = 8 are chosen so that both roundings go the same way: the released
    sum is 3.5 steps off, more than n * step but within the documented bound."""
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


@settings(max_examples=30)
@given(
    n=st.integers(1, 8),
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
        updates, threshold=max(1, n // 2), clipping_range=clip, quantization_range=levels, seed=seed
    )
    truth = np.sum([np.clip(u, -clip, clip) for u in updates], axis=0)
    step = result.quantization.step
    assert np.max(np.abs(result.sum - truth)) <= n * step * (1 + 1e-9)
