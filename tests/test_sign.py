"""Ed25519 signatures over labelled messages (SPEC 1, 6.3) and the roster (SPEC 2)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg.crypto import sign
from secagg.crypto.sign import (
    Roster,
    RosterError,
    SigningKey,
    is_usable_verification_key,
    signed_message,
    verify,
)

SECRET = bytes(range(32))
LABEL = b"secagg/v2/advertise"
PARTS = (bytes(range(32)), (7).to_bytes(4, "big"), b"\x01" * 32, b"\x02" * 32)
bytes32 = st.binary(min_size=32, max_size=32)

# RFC 8032, section 7.1, TEST 1.
RFC_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")


def reference_sign(secret: bytes, message: bytes) -> bytes:
    return Ed25519PrivateKey.from_private_bytes(secret).sign(message)


def keys(n: int, offset: int = 0) -> tuple[bytes, ...]:
    return tuple(SigningKey.from_secret(bytes([i + offset]) * 32).public for i in range(n))


# --------------------------------------------------------------------------- framing


def test_signed_message_framing() -> None:
    """SPEC 1: labeled(label, p1, ...) = u16(len(label)) || label || p1 || ..."""
    assert signed_message(b"abc", b"\x01", b"\x02\x03") == b"\x00\x03abc\x01\x02\x03"
    assert signed_message(b"") == b"\x00\x00"
    assert signed_message(b"x" * 300, memoryview(b"y")) == b"\x01\x2c" + b"x" * 300 + b"y"


@given(label=st.binary(max_size=300), parts=st.lists(st.binary(max_size=40), max_size=5))
@settings(max_examples=50)
def test_signed_message_is_the_labelled_concatenation(label: bytes, parts: list[bytes]) -> None:
    assert signed_message(label, *parts) == len(label).to_bytes(2, "big") + label + b"".join(parts)


# --------------------------------------------------------------------------- signing keys


def test_signing_key_from_the_rfc_8032_test_vector() -> None:
    assert SigningKey.from_secret(RFC_SECRET).public == RFC_PUBLIC


@given(secret=bytes32, parts=st.lists(st.binary(max_size=40), max_size=4))
@settings(max_examples=30)
def test_sign_is_deterministic_ed25519_over_the_framed_message(
    secret: bytes, parts: list[bytes]
) -> None:
    key = SigningKey.from_secret(secret)
    public = Ed25519PrivateKey.from_private_bytes(secret).public_key()
    assert key.public == public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    signature = key.sign(LABEL, *parts)
    assert len(signature) == sign.SIGNATURE_SIZE == 64
    assert signature == reference_sign(secret, signed_message(LABEL, *parts))
    assert key.sign(LABEL, *parts) == signature
    assert verify(key.public, signature, LABEL, *parts)


def test_generate_gives_fresh_working_keys() -> None:
    a, b = SigningKey.generate(), SigningKey.generate()
    assert a.public != b.public and len(a.public) == 32
    assert verify(a.public, a.sign(LABEL, *PARTS), LABEL, *PARTS)


@pytest.mark.parametrize("secret", ["x" * 32, bytearray(32), memoryview(bytes(32)), 0, None])
def test_from_secret_wrong_type(secret: Any) -> None:
    with pytest.raises(TypeError):
        SigningKey.from_secret(secret)


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_from_secret_wrong_length(length: int) -> None:
    with pytest.raises(ValueError):
        SigningKey.from_secret(bytes(length))


def test_signing_key_repr_and_equality() -> None:
    key = SigningKey.from_secret(b"\xee" * 32)
    assert "ee" * 4 not in repr(key).lower()
    assert key == SigningKey.from_secret(b"\xee" * 32)
    assert key != SigningKey.from_secret(b"\xef" * 32)


# --------------------------------------------------------------------------- verification

KEY = SigningKey.from_secret(SECRET)
SIGNATURE = KEY.sign(LABEL, *PARTS)


def test_a_good_signature_verifies() -> None:
    assert verify(KEY.public, SIGNATURE, LABEL, *PARTS)
    assert verify(KEY.public, SIGNATURE, LABEL, *(memoryview(p) for p in PARTS))
    # Only the concatenation is signed: callers pass parts of fixed length (SPEC 1).
    assert verify(KEY.public, SIGNATURE, LABEL, b"".join(PARTS))


def test_wrong_key_is_false() -> None:
    other = SigningKey.from_secret(bytes(32))
    assert not verify(other.public, SIGNATURE, LABEL, *PARTS)


@given(index=st.integers(0, 63), bit=st.integers(0, 7))
@settings(max_examples=60)
def test_any_flipped_signature_bit_is_false(index: int, bit: int) -> None:
    flipped = bytearray(SIGNATURE)
    flipped[index] ^= 1 << bit
    assert not verify(KEY.public, bytes(flipped), LABEL, *PARTS)


@given(index=st.integers(0, 31), bit=st.integers(0, 7))
@settings(max_examples=40)
def test_any_flipped_public_key_bit_is_false(index: int, bit: int) -> None:
    flipped = bytearray(KEY.public)
    flipped[index] ^= 1 << bit
    assert not verify(bytes(flipped), SIGNATURE, LABEL, *PARTS)


@pytest.mark.parametrize(
    "label",
    [b"secagg/v2/consistency", b"secagg/v1/advertise", b"secagg/v2/advertis", LABEL + b"\x00", b""],
)
def test_wrong_label_is_false(label: bytes) -> None:
    assert not verify(KEY.public, SIGNATURE, label, *PARTS)


def test_label_and_parts_do_not_run_into_each_other() -> None:
    """The label length prefix: ("ab", "c...") and ("a", "bc...") are different messages."""
    signature = KEY.sign(b"ab", b"c")
    assert not verify(KEY.public, signature, b"a", b"bc")
    assert not verify(KEY.public, signature, b"abc")


@pytest.mark.parametrize(
    "parts",
    [
        PARTS[:-1],
        (*PARTS, b""),  # the same bytes: still valid, see below
        (*PARTS[:-1], b"\x02" * 31 + b"\x03"),
        (*PARTS, b"\x00"),
        (PARTS[0], (8).to_bytes(4, "big"), *PARTS[2:]),
        (),
    ],
)
def test_wrong_parts_are_false(parts: tuple[bytes, ...]) -> None:
    same_bytes = b"".join(parts) == b"".join(PARTS)
    assert verify(KEY.public, SIGNATURE, LABEL, *parts) == same_bytes


@pytest.mark.parametrize(
    ("public", "signature"),
    [
        (KEY.public, SIGNATURE[:63]),
        (KEY.public, SIGNATURE + b"\x00"),
        (KEY.public, b""),
        (KEY.public[:31], SIGNATURE),
        (KEY.public + b"\x00", SIGNATURE),
        (b"", SIGNATURE),
        (b"", b""),
    ],
)
def test_malformed_sizes_are_false(public: bytes, signature: bytes) -> None:
    assert verify(public, signature, LABEL, *PARTS) is False


def test_non_canonical_s_is_false() -> None:
    """RFC 8032 5.1.7: S must be below the group order L; S + L is refused."""
    order = 2**252 + 27742317777372353535851937790883648493
    s = int.from_bytes(SIGNATURE[32:], "little")
    assert s + order < 2**256
    malleated = SIGNATURE[:32] + (s + order).to_bytes(32, "little")
    assert not verify(KEY.public, malleated, LABEL, *PARTS)


# --------------------------------------------------------------------------- roster


def reference_digest(public_keys: tuple[bytes, ...]) -> bytes:
    """SPEC 2: labeled_sha256("secagg/v2/roster", d_0^PK || ... || d_{n-1}^PK)."""
    label = b"secagg/v2/roster"
    return hashlib.sha256(len(label).to_bytes(2, "big") + label + b"".join(public_keys)).digest()


@pytest.mark.parametrize("n", [1, 2, 5, 40])
def test_roster_ids_and_digest(n: int) -> None:
    public_keys = keys(n)
    roster = Roster(public_keys)
    assert len(roster) == n
    assert list(roster) == list(range(n))
    assert [roster[i] for i in range(n)] == list(public_keys)
    assert dict(roster.items()) == dict(enumerate(public_keys))
    assert roster.digest == reference_digest(public_keys)
    assert Roster(list(public_keys)) == roster  # type: ignore[arg-type]


def test_roster_digest_depends_on_order_and_every_key() -> None:
    a, b, c = keys(3)
    digests = {Roster((a, b, c)).digest, Roster((b, a, c)).digest, Roster((a, b)).digest}
    digests.add(Roster((a, b, keys(1, offset=9)[0])).digest)
    assert len(digests) == 4


@pytest.mark.parametrize("client", [-1, 3, 100, "0", 1.0, None])
def test_roster_unknown_ids_are_key_errors(client: Any) -> None:
    roster = Roster(keys(3))
    with pytest.raises(KeyError):
        roster[client]
    assert client not in roster


def test_roster_refuses_duplicates() -> None:
    a, b = keys(2)
    with pytest.raises(RosterError, match="repeats"):
        Roster((a, b, a))
    with pytest.raises(RosterError):
        Roster.from_mapping({0: a, 1: a})


@pytest.mark.parametrize(
    "bad", [b"", bytes(31), bytes(33), bytes(64), bytearray(32), "k" * 32, None, 5]
)
def test_roster_refuses_malformed_keys(bad: Any) -> None:
    with pytest.raises(RosterError):
        Roster((keys(1)[0], bad))


def test_roster_refuses_no_clients() -> None:
    with pytest.raises(RosterError):
        Roster(())
    with pytest.raises(RosterError):
        Roster.from_mapping({})


def test_roster_error_is_a_value_error() -> None:
    assert issubclass(RosterError, ValueError)


def test_from_mapping_needs_ids_0_to_n_minus_1() -> None:
    a, b, c = keys(3)
    assert Roster.from_mapping({2: c, 0: a, 1: b}) == Roster((a, b, c))
    for mapping in ({1: a, 2: b}, {0: a, 2: b}, {-1: a, 0: b}, {0: a, 1: b, 3: c}):
        with pytest.raises(RosterError):
            Roster.from_mapping(mapping)


def test_load_dump_round_trip(tmp_path: Path) -> None:
    roster = Roster(keys(12))
    path = tmp_path / "roster.json"
    roster.dump(path)
    data = json.loads(path.read_text())
    assert data == {
        "version": 2,
        "clients": {str(i): k.hex() for i, k in enumerate(roster.values())},
    }
    loaded = Roster.load(path)
    assert loaded == roster
    assert loaded.digest == roster.digest
    assert Roster.load(str(path)) == roster


def roster_file(tmp_path: Path, content: str) -> Path:
    path = tmp_path / "roster.json"
    path.write_text(content)
    return path


A, B, C = (k.hex() for k in keys(3))


@pytest.mark.parametrize(
    "content",
    [
        "",
        "not json",
        "[]",
        '"roster"',
        "5",
        "{}",
        json.dumps({"clients": {"0": A}}),
        json.dumps({"version": 1, "clients": {"0": A}}),
        json.dumps({"version": "2", "clients": {"0": A}}),
        json.dumps({"version": 2}),
        json.dumps({"version": 2, "clients": [A, B]}),
        json.dumps({"version": 2, "clients": None}),
        json.dumps({"version": 2, "clients": {}}),
        json.dumps({"version": 2, "clients": {"0": A, "2": B}}),
        json.dumps({"version": 2, "clients": {"1": A, "2": B}}),
        json.dumps({"version": 2, "clients": {"zero": A}}),
        json.dumps({"version": 2, "clients": {"0": A, "1": "xyz"}}),
        json.dumps({"version": 2, "clients": {"0": A, "1": B[:-2]}}),
        json.dumps({"version": 2, "clients": {"0": A, "1": B + "00"}}),
        json.dumps({"version": 2, "clients": {"0": A, "1": 5}}),
        json.dumps({"version": 2, "clients": {"0": A, "1": None}}),
        json.dumps({"version": 2, "clients": {"0": A, "1": A}}),
        # One id spelled twice: which key would win depends on the order in the file.
        json.dumps({"version": 2, "clients": {"0": A, "00": B, "1": C}}),
        json.dumps({"version": 2, "clients": {"0": A, "+1": B}}),
        json.dumps({"version": 2, "clients": {"0": A, " 1": B}}),
        '{"version": 2, "clients": {"0": "' + A + '", "0": "' + B + '"}}',
    ],
)
def test_bad_roster_files_are_refused(tmp_path: Path, content: str) -> None:
    with pytest.raises(RosterError):
        Roster.load(roster_file(tmp_path, content))


def test_missing_roster_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(RosterError, match="cannot read roster file"):
        Roster.load(tmp_path / "absent.json")
    with pytest.raises(RosterError):
        Roster.load(tmp_path)  # a directory


def test_roster_file_with_extra_fields_and_any_id_order(tmp_path: Path) -> None:
    content = json.dumps({"version": 2, "comment": "ours", "clients": {"2": C, "0": A, "1": B}})
    assert Roster.load(roster_file(tmp_path, content)) == Roster.from_mapping(
        {0: bytes.fromhex(A), 1: bytes.fromhex(B), 2: bytes.fromhex(C)}
    )


SMALL_ORDER_AND_NONCANONICAL = [
    "0100000000000000000000000000000000000000000000000000000000000000",  # identity
    "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # (0, -1), order 2
    "0000000000000000000000000000000000000000000000000000000000000000",  # order 4
    "0000000000000000000000000000000000000000000000000000000000000080",  # order 4
    "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",  # order 8
    "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",  # order 8
    "0100000000000000000000000000000000000000000000000000000000000080",  # identity, sign bit
    "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p
    "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",  # y = p + 1
]


@pytest.mark.parametrize("key", SMALL_ORDER_AND_NONCANONICAL)
def test_roster_refuses_keys_anyone_can_sign_for(key: str) -> None:
    """A small-order key accepts the trivial signature (R = identity, S = 0) on any message:
    with it in a roster, the server could sign as that client."""
    public = bytes.fromhex(key)
    assert not is_usable_verification_key(public)
    others = tuple(SigningKey.from_secret(bytes([i + 1]) * 32).public for i in range(2))
    with pytest.raises(RosterError, match="small order"):
        Roster((*others, public))


def test_identity_key_really_verifies_a_forged_signature() -> None:
    """Why the refusal matters: `cryptography` verifies the trivial signature under the
    identity key, for any message."""
    identity = bytes.fromhex(SMALL_ORDER_AND_NONCANONICAL[0])
    trivial = identity + bytes(32)  # R = identity point, S = 0
    assert verify(identity, trivial, b"any label", b"any message")


@given(st.binary(min_size=32, max_size=32))
def test_generated_keys_are_usable(secret: bytes) -> None:
    assert is_usable_verification_key(SigningKey.from_secret(secret).public)
