"""RoundConfig (SPEC 2): validation at construction, the 83-byte encoding, the session id,
decoding a received configuration, and the threshold policy."""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg.config import (
    ENCODED_SIZE,
    MAX_CLIENTS,
    MAX_DIM,
    PROTOCOL_VERSION,
    SESSION_NONCE_SIZE,
    RoundConfig,
    Security,
    as_security,
    ring_dtype_width,
)
from secagg.crypto.sign import Roster, SigningKey
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


def roster(n: int, offset: int = 0) -> Roster:
    return Roster(tuple(SigningKey.from_secret(bytes([i + offset]) * 32).public for i in range(n)))


ROSTERS = {n: roster(n) for n in range(1, 13)}


def malicious(**changes: Any) -> RoundConfig:
    """n = 10, 20% corrupt assumed: 2t > n + n_C needs t >= 7."""
    base = {"threshold": 7, "security": "malicious", "roster": ROSTERS[10]}
    return make(**{**base, **changes})


def spec_encoding(
    mode: int, n: int, t: int, m: int, b: int, k: int, digest: bytes, nonce: bytes
) -> bytes:
    """SPEC 2: u8(2) || u8(mode) || u32(n) || u32(t) || u32(m) || u8(b) || u32(k or 0) ||
    roster_digest (32) || session_nonce (32), big-endian."""
    return (
        bytes([2, mode])
        + n.to_bytes(4, "big")
        + t.to_bytes(4, "big")
        + m.to_bytes(4, "big")
        + bytes([b])
        + k.to_bytes(4, "big")
        + digest
        + nonce
    )


def spec_session_id(encoding: bytes) -> bytes:
    label = b"secagg/v2/session"
    return hashlib.sha256(len(label).to_bytes(2, "big") + label + encoding).digest()


# --------------------------------------------------------------------------- construction


def test_valid_config_and_derived_properties() -> None:
    cfg = make()
    assert (cfg.num_clients, cfg.threshold, cfg.dim, cfg.bits) == (10, 6, 100, 20)
    assert cfg.neighbors is None and cfg.security is Security.SEMI_HONEST
    assert cfg.roster is None and not cfg.malicious
    assert cfg.holders == 10
    assert cfg.width == 4
    assert cfg.modulus == 1 << 20
    assert cfg.bitmap_size == 2
    assert make(bits=32).width == 4
    assert make(bits=33).width == 8
    assert make(bits=64).modulus == 1 << 64
    assert make(num_clients=16, threshold=9).bitmap_size == 2
    assert make(num_clients=17, threshold=9).bitmap_size == 3
    sparse = make(num_clients=30, threshold=4, neighbors=6)
    assert sparse.holders == 7
    assert PROTOCOL_VERSION == 2 and SESSION_NONCE_SIZE == 32 and ENCODED_SIZE == 83


@pytest.mark.parametrize(
    "changes",
    [
        {"num_clients": 3, "threshold": 2},
        {"num_clients": MAX_CLIENTS, "threshold": MAX_CLIENTS},
        {"num_clients": MAX_CLIENTS, "threshold": MAX_CLIENTS // 2 + 1},
        {"threshold": 10},
        {"dim": 1},
        {"dim": MAX_DIM},
        {"bits": 1},
        {"bits": 32},
        {"bits": 33},
        {"bits": 64},
        {"num_clients": 4, "threshold": 2, "neighbors": 2},
        {"num_clients": 12, "threshold": 6, "neighbors": 10},
        {"num_clients": 12, "threshold": 11, "neighbors": 10},
        {"corrupt": 0.0},
        {"corrupt": 0.49},
        {"security": "semi_honest"},
        {"security": Security.SEMI_HONEST},
    ],
)
def test_boundary_values_are_accepted(changes: dict[str, Any]) -> None:
    cfg = make(**changes)
    for name, value in changes.items():
        if name == "security":
            assert cfg.security is Security.SEMI_HONEST
        else:
            assert getattr(cfg, name) == value


@pytest.mark.parametrize(
    "changes",
    [
        {"num_clients": 1, "threshold": 1},
        {"num_clients": 2, "threshold": 1},
        {"num_clients": 2, "threshold": 2},
        {"threshold": 1},
        {"threshold": 5},
        {"num_clients": 30, "threshold": 3, "neighbors": 6},
    ],
)
def test_weak_thresholds_are_accepted_only_on_request(changes: dict[str, Any]) -> None:
    with pytest.raises(ConfigError, match=r"allow_weak_threshold=True accepts it anyway"):
        make(**changes)
    cfg = make(**changes, allow_weak_threshold=True)
    assert cfg.threshold == changes["threshold"]


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
        {"corrupt": -0.01},
        {"corrupt": 0.5},
        {"corrupt": 1.0},
        {"corrupt": True},
        {"corrupt": "0.1"},
        {"corrupt": None},
        {"allow_weak_threshold": 1},
        {"allow_weak_threshold": "yes"},
    ],
)
def test_each_bad_parameter_is_a_config_error(changes: dict[str, Any]) -> None:
    for weak in (False, True):
        with pytest.raises(ConfigError) as info:
            make(**{"allow_weak_threshold": weak, **changes})
        # ConfigError is both a ValueError (for generic callers) and a SecAggError.
        assert isinstance(info.value, ValueError)
        assert isinstance(info.value, SecAggError)


@pytest.mark.parametrize(
    ("n", "k", "message"),
    [
        (10, 3, "even number >= 2"),
        (10, 1, "even number >= 2"),
        (10, 0, "even number >= 2"),
        (10, -2, "even number >= 2"),
        (10, 9, "even number >= 2"),
        (10, 10, "needs at least 12 clients"),
        (10, 12, "needs at least 14 clients"),
        (3, 2, "needs at least 4 clients"),
        (10, 4.0, "must be an int or None"),
        (10, True, "must be an int or None"),
        (10, "4", "must be an int or None"),
    ],
)
def test_neighbors_validation(n: int, k: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        make(num_clients=n, threshold=n, neighbors=k, allow_weak_threshold=True)


@pytest.mark.parametrize(("k", "t"), [(4, 0), (4, 6), (8, 10), (2, 4)])
def test_threshold_is_at_most_the_holders(k: int, t: int) -> None:
    """SPEC 2: 1 <= t <= h with h = k + 1 for SecAgg+."""
    with pytest.raises(ConfigError, match=rf"threshold must be in \[1, {k + 1}\]"):
        make(num_clients=30, threshold=t, neighbors=k, allow_weak_threshold=True)
    assert make(num_clients=30, threshold=k + 1, neighbors=k).holders == k + 1


def test_config_error_message_carries_no_nonce() -> None:
    with pytest.raises(ConfigError) as info:
        make(session_nonce=bytes([0xAB]) * 31)
    assert "ab" * 8 not in str(info.value).lower()


def test_ring_dtype_width() -> None:
    assert [ring_dtype_width(b) for b in (1, 31, 32, 33, 63, 64)] == [4, 4, 4, 8, 8, 8]


# --------------------------------------------------------------------------- security modes


@pytest.mark.parametrize("name", ["honest", "Malicious", "SEMI_HONEST", "", None, 0, 1])
def test_unknown_security_names_are_refused(name: Any) -> None:
    with pytest.raises(ConfigError, match="security must be"):
        make(security=name)
    with pytest.raises(ConfigError):
        as_security(name)


def test_security_names_and_codes() -> None:
    assert as_security("semi_honest") is Security.SEMI_HONEST
    assert as_security("malicious") is Security.MALICIOUS
    assert as_security(Security.MALICIOUS) is Security.MALICIOUS
    assert (Security.SEMI_HONEST.code, Security.MALICIOUS.code) == (0, 1)


def test_malicious_mode() -> None:
    cfg = malicious(corrupt=0.2)
    assert cfg.malicious and cfg.security is Security.MALICIOUS
    assert cfg.roster is ROSTERS[10]
    assert malicious(security=Security.MALICIOUS) == malicious()


@pytest.mark.parametrize(
    "bad_roster", [None, ROSTERS[9], ROSTERS[11], ROSTERS[10].public_keys, {0: b"x"}]
)
def test_malicious_needs_a_roster_of_n_keys(bad_roster: Any) -> None:
    with pytest.raises(ConfigError, match="roster"):
        malicious(roster=bad_roster)


def test_semi_honest_refuses_a_roster() -> None:
    with pytest.raises(ConfigError, match="only used in the malicious mode"):
        make(roster=ROSTERS[10])


def test_malicious_threshold_policy() -> None:
    """SPEC 14: the complete graph in the malicious mode needs 2t > n + n_C."""
    assert malicious(threshold=6, corrupt=0.0).threshold == 6  # 2t > 10 + 0
    with pytest.raises(ConfigError, match=r"needs 2t > n \+ 2"):
        malicious(threshold=6, corrupt=0.2)
    assert malicious(threshold=7, corrupt=0.2).threshold == 7
    assert malicious(threshold=6, corrupt=0.2, allow_weak_threshold=True).threshold == 6
    # Semi-honest with the same numbers: 2t > n is enough.
    assert make(threshold=6, corrupt=0.2).threshold == 6


def test_secaggplus_threshold_policy_uses_corrupt() -> None:
    # n = 1000, k = 30: t = 17 is the finder's choice for 5% corrupt; t = 16 is too weak.
    base = {"num_clients": 1000, "neighbors": 30, "corrupt": 0.05}
    assert make(**base, threshold=17).threshold == 17
    with pytest.raises(ConfigError, match="corrupt neighbours"):
        make(**base, threshold=16)
    assert make(**{**base, "corrupt": 0.0}, threshold=16).threshold == 16


# --------------------------------------------------------------------------- encoding


def test_encode_layout() -> None:
    cfg = make()
    encoded = cfg.encode()
    assert len(encoded) == 83
    assert encoded == spec_encoding(0, 10, 6, 100, 20, 0, bytes(32), NONCE)
    assert encoded[:2] == b"\x02\x00"  # version first, then the mode


def test_encode_layout_secaggplus_and_malicious() -> None:
    sparse = make(num_clients=300, threshold=6, neighbors=6, dim=0x01020304)
    assert sparse.encode() == spec_encoding(0, 300, 6, 0x01020304, 20, 6, bytes(32), NONCE)
    cfg = malicious(bits=64)
    assert cfg.encode() == spec_encoding(1, 10, 7, 100, 64, 0, ROSTERS[10].digest, NONCE)


def test_session_id_is_labeled_sha256_of_the_encoding() -> None:
    for cfg in (make(), malicious(), make(num_clients=30, threshold=4, neighbors=6)):
        assert cfg.session_id == spec_session_id(cfg.encode())
        assert len(cfg.session_id) == 32


def test_session_id_is_deterministic_and_config_is_frozen() -> None:
    assert make().session_id == make().session_id
    assert make() == make()
    with pytest.raises(dataclasses.FrozenInstanceError):
        make().threshold = 3  # type: ignore[misc]


def test_repr_hides_the_nonce() -> None:
    text = repr(make(session_nonce=bytes([0xCD]) * 32))
    assert "cd" * 4 not in text.lower()
    assert "\\xcd" not in text


def test_policy_inputs_are_not_on_the_wire() -> None:
    """corrupt and allow_weak_threshold change what is accepted, not the session."""
    a = make(corrupt=0.0)
    b = make(corrupt=0.3, allow_weak_threshold=True)
    assert a.encode() == b.encode() and a.session_id == b.session_id


CHANGES: list[tuple[str, Any]] = [
    ("num_clients", 11),
    ("threshold", 8),
    ("dim", 101),
    ("bits", 21),
    ("session_nonce", bytes(32)),
    ("neighbors", 6),
    ("security", "malicious"),
]


@pytest.mark.parametrize(("name", "value"), CHANGES)
def test_session_id_changes_with_every_wire_field(name: str, value: Any) -> None:
    base = make(num_clients=10, threshold=7)
    changes: dict[str, Any] = {name: value}
    if name == "security":
        changes["roster"] = ROSTERS[10]
    other = dataclasses.replace(base, **changes)
    assert other.encode() != base.encode()
    assert other.session_id != base.session_id


def test_session_id_changes_with_the_roster() -> None:
    other = Roster(roster(10, offset=50).public_keys)
    assert malicious().session_id != malicious(roster=other).session_id


def test_session_ids_of_many_configs_are_distinct() -> None:
    seen = {
        make(num_clients=n, threshold=t, dim=d, bits=b).session_id
        for n in (9, 10)
        for t in (6, 7, 8)
        for d in (1, 2, 256)
        for b in (1, 32, 33, 64)
    }
    assert len(seen) == 2 * 3 * 3 * 4


# --------------------------------------------------------------------------- decode


@st.composite
def configs(draw: st.DrawFn) -> RoundConfig:
    n = draw(st.integers(1, 12))
    k = draw(st.one_of(st.none(), st.integers(1, max(1, (n - 2) // 2)).map(lambda h: 2 * h)))
    if k is not None and k > n - 2:
        k = None
    h = n if k is None else k + 1
    mode = draw(st.sampled_from([Security.SEMI_HONEST, Security.MALICIOUS]))
    return RoundConfig(
        num_clients=n,
        threshold=draw(st.integers(1, h)),
        dim=draw(st.integers(1, MAX_DIM)),
        bits=draw(st.integers(1, 64)),
        session_nonce=draw(st.binary(min_size=32, max_size=32)),
        neighbors=k,
        security=mode,
        roster=ROSTERS[n] if mode is Security.MALICIOUS else None,
        allow_weak_threshold=True,
    )


@given(configs())
@settings(max_examples=100)
def test_decode_round_trip(cfg: RoundConfig) -> None:
    encoded = cfg.encode()
    back = RoundConfig.decode(encoded, roster=cfg.roster, allow_weak_threshold=True)
    assert back == cfg
    assert back.session_id == cfg.session_id
    assert back.encode() == encoded


def test_decode_applies_the_receivers_policy() -> None:
    """SPEC 13: a client applies its own policy, not the server's."""
    weak = make(threshold=5, allow_weak_threshold=True).encode()
    with pytest.raises(ConfigError, match="not more than half"):
        RoundConfig.decode(weak)
    assert RoundConfig.decode(weak, allow_weak_threshold=True).threshold == 5
    strict = malicious(threshold=7, corrupt=0.0).encode()
    assert RoundConfig.decode(strict, roster=ROSTERS[10], corrupt=0.2).corrupt == 0.2
    with pytest.raises(ConfigError, match="split views"):
        RoundConfig.decode(malicious(threshold=6).encode(), roster=ROSTERS[10], corrupt=0.2)


@pytest.mark.parametrize("length", [0, 1, 82, 84, 166])
def test_decode_refuses_the_wrong_length(length: int) -> None:
    data = (make().encode() * 2)[:length]
    with pytest.raises(ConfigError, match="83 bytes"):
        RoundConfig.decode(data)


@pytest.mark.parametrize("wrong", [bytearray(83), memoryview(bytes(83)), "x" * 83, None])
def test_decode_refuses_non_bytes(wrong: Any) -> None:
    with pytest.raises(ConfigError):
        RoundConfig.decode(wrong)


@pytest.mark.parametrize("version", [0, 1, 3, 255])
def test_decode_refuses_other_versions(version: int) -> None:
    data = bytes([version]) + make().encode()[1:]
    with pytest.raises(ConfigError, match=f"protocol version {version}"):
        RoundConfig.decode(data)


@pytest.mark.parametrize("mode", [2, 3, 255])
def test_decode_refuses_unknown_modes(mode: int) -> None:
    data = make().encode()
    with pytest.raises(ConfigError, match=f"unknown security mode {mode}"):
        RoundConfig.decode(data[:1] + bytes([mode]) + data[2:], roster=ROSTERS[10])


def test_decode_refuses_a_roster_other_than_the_trusted_one() -> None:
    data = malicious().encode()
    assert RoundConfig.decode(data, roster=ROSTERS[10]) == malicious(corrupt=0.0)
    other = Roster(roster(10, offset=50).public_keys)
    for trusted in (None, other, ROSTERS[9]):
        with pytest.raises(ConfigError, match="roster other than the one trusted"):
            RoundConfig.decode(data, roster=trusted)
    # A digest edited in transit is a mismatch too.
    edited = data[:20] + bytes([data[20] ^ 1]) + data[21:]
    with pytest.raises(ConfigError, match="roster other than the one trusted"):
        RoundConfig.decode(edited, roster=ROSTERS[10])


def test_decode_refuses_a_semi_honest_config_with_a_roster_digest() -> None:
    data = make().encode()
    digest_at = 19  # 1 + 1 + 4 + 4 + 4 + 1 + 4
    assert data[digest_at : digest_at + 32] == bytes(32)
    for digest in (ROSTERS[10].digest, b"\x00" * 31 + b"\x01"):
        forged = data[:digest_at] + digest + data[digest_at + 32 :]
        with pytest.raises(ConfigError, match="semi-honest configuration carries no roster"):
            RoundConfig.decode(forged)


@pytest.mark.parametrize(
    ("field", "offset", "size", "value", "message"),
    [
        ("n", 2, 4, 0, "num_clients"),
        ("n", 2, 4, MAX_CLIENTS + 1, "num_clients"),
        ("t", 6, 4, 0, "threshold"),
        ("t", 6, 4, 11, "threshold"),
        ("m", 10, 4, 0, "dim"),
        ("m", 10, 4, MAX_DIM + 1, "dim"),
        ("b", 14, 1, 0, "bits"),
        ("b", 14, 1, 65, "bits"),
        ("k", 15, 4, 3, "neighbors"),
        ("k", 15, 4, 10, "neighbors"),
    ],
)
def test_decode_validates_every_field(
    field: str, offset: int, size: int, value: int, message: str
) -> None:
    data = make().encode()
    edited = data[:offset] + value.to_bytes(size, "big") + data[offset + size :]
    with pytest.raises(ConfigError, match=message):
        RoundConfig.decode(edited, allow_weak_threshold=True)


def test_decode_k_zero_is_the_complete_graph() -> None:
    assert RoundConfig.decode(make().encode()).neighbors is None
    sparse = make(num_clients=30, threshold=4, neighbors=6)
    assert RoundConfig.decode(sparse.encode()).neighbors == 6
