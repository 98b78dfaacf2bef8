"""RoundConfig: validation at construction, canonical encoding, and the session id."""

from __future__ import annotations

import dataclasses
import hashlib
import struct
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from secagg.config import (
    MAX_CLIENTS,
    MAX_DIM,
    PROTOCOL_VERSION,
    SESSION_NONCE_SIZE,
    RoundConfig,
    ring_dtype_width,
)
from secagg.errors import ConfigError, SecAggError

NONCE = bytes(range(32))
GOOD: dict[str, Any] = {
    "num_clients": 10,
    "threshold": 6,
    "dim": 100,
    "bits": 20,
    "session_nonce": NONCE,
}


def make(**changes: Any) -> RoundConfig:
    return RoundConfig(**{**GOOD, **changes})


def test_valid_config_and_derived_properties() -> None:
    cfg = make()
    assert (cfg.num_clients, cfg.threshold, cfg.dim, cfg.bits) == (10, 6, 100, 20)
    assert cfg.width == 4
    assert cfg.modulus == 1 << 20
    assert make(bits=32).width == 4
    assert make(bits=33).width == 8
    assert make(bits=64).modulus == 1 << 64
    assert SESSION_NONCE_SIZE == 32


@pytest.mark.parametrize(
    "changes",
    [
        {"num_clients": 1, "threshold": 1},
        {"num_clients": MAX_CLIENTS, "threshold": MAX_CLIENTS},
        {"threshold": 1},
        {"threshold": 10},
        {"dim": 1},
        {"dim": MAX_DIM},
        {"bits": 1},
        {"bits": 32},
        {"bits": 33},
        {"bits": 64},
    ],
)
def test_boundary_values_are_accepted(changes: dict[str, Any]) -> None:
    cfg = make(**changes)
    for name, value in changes.items():
        assert getattr(cfg, name) == value


@pytest.mark.parametrize(
    "changes",
    [
        {"num_clients": 0, "threshold": 0},
        {"num_clients": -1},
        {"num_clients": MAX_CLIENTS + 1},
        {"num_clients": 10.0},
        {"num_clients": "10"},
        {"num_clients": True, "threshold": 1},
        {"num_clients": None},
        {"threshold": 0},
        {"threshold": -3},
        {"threshold": 11},
        {"threshold": 6.0},
        {"threshold": True},
        {"dim": 0},
        {"dim": -1},
        {"dim": MAX_DIM + 1},
        {"dim": 100.0},
        {"dim": False},
        {"bits": 0},
        {"bits": -1},
        {"bits": 65},
        {"bits": 128},
        {"bits": 20.0},
        {"bits": True},
        {"session_nonce": b""},
        {"session_nonce": bytes(31)},
        {"session_nonce": bytes(33)},
        {"session_nonce": bytearray(32)},
        {"session_nonce": "x" * 32},
        {"session_nonce": None},
    ],
)
def test_each_bad_parameter_is_a_config_error(changes: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as info:
        make(**changes)
    # ConfigError is both a ValueError (for generic callers) and a SecAggError.
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, SecAggError)


def test_config_error_message_carries_no_nonce() -> None:
    nonce = bytes([0xAB]) * 31
    with pytest.raises(ConfigError) as info:
        make(session_nonce=nonce)
    assert "ab" * 8 not in str(info.value).lower()


def test_ring_dtype_width() -> None:
    assert [ring_dtype_width(b) for b in (1, 31, 32, 33, 63, 64)] == [4, 4, 4, 8, 8, 8]


def test_encode_layout() -> None:
    cfg = make()
    encoded = cfg.encode()
    assert encoded == struct.pack(">BIIIB", PROTOCOL_VERSION, 10, 6, 100, 20) + NONCE
    assert len(encoded) == 1 + 4 + 4 + 4 + 1 + 32


def test_session_id_is_sha256_over_label_and_encoding() -> None:
    cfg = make()
    label = b"secagg/v%d/session" % PROTOCOL_VERSION
    expected = hashlib.sha256(len(label).to_bytes(2, "big") + label + cfg.encode()).digest()
    assert cfg.session_id == expected
    assert len(cfg.session_id) == 32


def test_session_id_is_deterministic_and_config_is_frozen() -> None:
    assert make().session_id == make().session_id
    assert make() == make()
    with pytest.raises(dataclasses.FrozenInstanceError):
        make().threshold = 3  # type: ignore[misc]


def test_repr_hides_nonce() -> None:
    text = repr(make(session_nonce=bytes([0xCD]) * 32))
    assert "cd" * 4 not in text.lower()
    assert "\\xcd" not in text


configs = st.builds(
    RoundConfig,
    num_clients=st.integers(2, 50),
    threshold=st.just(2),
    dim=st.integers(1, 1000),
    bits=st.integers(1, 64),
    session_nonce=st.binary(min_size=32, max_size=32),
)


@given(configs, st.sampled_from(["num_clients", "threshold", "dim", "bits", "session_nonce"]))
def test_session_id_changes_with_any_parameter(cfg: RoundConfig, name: str) -> None:
    if name == "session_nonce":
        new_value: Any = bytes([cfg.session_nonce[0] ^ 1]) + cfg.session_nonce[1:]
    elif name == "bits":
        new_value = cfg.bits % 64 + 1
    elif name == "threshold":
        new_value = 1
    else:
        new_value = getattr(cfg, name) + 1
    other = dataclasses.replace(cfg, **{name: new_value})
    assert other != cfg
    assert other.session_id != cfg.session_id
    assert other.encode() != cfg.encode()


def test_session_ids_of_many_configs_are_distinct() -> None:
    seen = {
        make(num_clients=n, threshold=t, dim=d, bits=b).session_id
        for n in (3, 4)
        for t in (1, 2, 3)
        for d in (1, 2, 256)
        for b in (1, 32, 33, 64)
    }
    assert len(seen) == 2 * 3 * 3 * 4
