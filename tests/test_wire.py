"""The wire format: exact layout, round trips, and hostile input (only DecodeError, right reason).

The layout is re-derived here independently of secagg.core.wire (struct + hashlib), so a change of a
single byte in the encoding shows up as a failure rather than as a self-consistent round trip.

Every client reply to a server prompt (ShareKeys, MaskedInput, UnmaskResponse) starts its body
with ``prompt 32``, the digest field of the prompt envelope it answers, echoed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from secagg.config import RoundConfig
from secagg.core import wire
from secagg.core.wire import (
    SERVER_ID,
    AdvertiseKeys,
    KeyEntry,
    KeyList,
    MaskedInput,
    MessageType,
    ShareForward,
    ShareKeys,
    ShareKind,
    UnmaskRequest,
    UnmaskResponse,
)
from secagg.crypto import aead, shamir
from secagg.crypto.prg import ring_dtype
from secagg.errors import DecodeError, DropReason

N = 6
DIM = 5
NONCE = bytes(range(32))
BITS = [1, 7, 20, 31, 32, 33, 63, 64]
CT = wire.SHARE_CIPHERTEXT_SIZE
COMMIT = 32
"""Bytes of one share commitment (C_key and C_mask each)."""
PROMPT = bytes(range(0xA0, 0xC0))
"""A recognisable 32-byte prompt echo for hand-made replies."""
REPLY_KINDS = [MessageType.SHARE_KEYS, MessageType.MASKED_INPUT, MessageType.UNMASK_RESPONSE]
"""The client replies to a server prompt: their bodies start with the 32-byte prompt echo."""


def make_config(
    bits: int = 20, dim: int = DIM, nonce: bytes = NONCE, threshold: int = 3
) -> RoundConfig:
    return RoundConfig(num_clients=N, threshold=threshold, dim=dim, bits=bits, session_nonce=nonce)


CFG = make_config()


@dataclass(frozen=True)
class Codec:
    kind: MessageType
    encode: Callable[[RoundConfig, int, Any], bytes]
    decode: Callable[[bytes, RoundConfig, int], Any]
    to_server: bool

    def addresses(self, party: int) -> tuple[int, int]:
        """(header sender, header recipient) for a message on ``party``'s channel."""
        return (party, SERVER_ID) if self.to_server else (SERVER_ID, party)


CODECS = {
    MessageType.ADVERTISE_KEYS: Codec(
        MessageType.ADVERTISE_KEYS, wire.encode_advertise_keys, wire.decode_advertise_keys, True
    ),
    MessageType.KEY_LIST: Codec(
        MessageType.KEY_LIST, wire.encode_key_list, wire.decode_key_list, False
    ),
    MessageType.SHARE_KEYS: Codec(
        MessageType.SHARE_KEYS, wire.encode_share_keys, wire.decode_share_keys, True
    ),
    MessageType.SHARE_FORWARD: Codec(
        MessageType.SHARE_FORWARD, wire.encode_share_forward, wire.decode_share_forward, False
    ),
    MessageType.MASKED_INPUT: Codec(
        MessageType.MASKED_INPUT, wire.encode_masked_input, wire.decode_masked_input, True
    ),
    MessageType.UNMASK_REQUEST: Codec(
        MessageType.UNMASK_REQUEST, wire.encode_unmask_request, wire.decode_unmask_request, False
    ),
    MessageType.UNMASK_RESPONSE: Codec(
        MessageType.UNMASK_RESPONSE, wire.encode_unmask_response, wire.decode_unmask_response, True
    ),
}
KINDS = list(CODECS)


# --------------------------------------------------------------------------- reference layout

DIGEST_LABEL = b"secagg/v1/digest"


def raw_envelope(
    session_id: bytes,
    type_byte: int,
    sender: int,
    recipient: int,
    body: bytes,
    *,
    magic: bytes = b"SAGG",
    version: int = 1,
    flags: int = 0,
) -> bytes:
    head = (
        magic
        + bytes([version, type_byte])
        + struct.pack(">H", flags)
        + session_id
        + struct.pack(">II", sender, recipient)
    )
    prefix = len(DIGEST_LABEL).to_bytes(2, "big") + DIGEST_LABEL
    return head + body + hashlib.sha256(prefix + head + body).digest()


def reference_body(msg: Any, cfg: RoundConfig) -> bytes:
    u32 = struct.Struct(">I").pack
    if isinstance(msg, AdvertiseKeys):
        return msg.c_public + msg.s_public
    if isinstance(msg, KeyList):
        return u32(len(msg.entries)) + b"".join(
            u32(e.client) + e.c_public + e.s_public for e in msg.entries
        )
    if isinstance(msg, ShareKeys):
        # The prompt echo, the ciphertext list, then the commitment list: count, then
        # (holder, C_key, C_mask).
        return (
            msg.prompt
            + u32(len(msg.ciphertexts))
            + b"".join(u32(p) + c for p, c in msg.ciphertexts)
            + u32(len(msg.commitments))
            + b"".join(u32(v) + ck + cm for v, ck, cm in msg.commitments)
        )
    if isinstance(msg, ShareForward):
        return u32(len(msg.ciphertexts)) + b"".join(u32(p) + c for p, c in msg.ciphertexts)
    if isinstance(msg, MaskedInput):
        width = 4 if cfg.bits <= 32 else 8
        return msg.prompt + b"".join(int(v).to_bytes(width, "little") for v in msg.vector.tolist())
    if isinstance(msg, UnmaskRequest):
        return u32(len(msg.survivors)) + b"".join(u32(s) for s in msg.survivors)
    assert isinstance(msg, UnmaskResponse)
    return (
        msg.prompt
        + u32(len(msg.shares))
        + b"".join(u32(p) + bytes([k]) + v.to_bytes(33, "big") for p, k, v in msg.shares)
    )


def same(a: Any, b: Any) -> bool:
    if isinstance(a, MaskedInput):
        return (
            isinstance(b, MaskedInput)
            and a.vector.dtype == b.vector.dtype
            and a.vector.shape == b.vector.shape
            and bool(np.array_equal(a.vector, b.vector))
            and a.prompt == b.prompt
            and type(b.prompt) is bytes
        )
    return bool(a == b)


def test_constants() -> None:
    assert wire.HEADER_SIZE == 48
    assert wire.DIGEST_SIZE == 32
    assert wire.SHARE_PLAINTEXT_SIZE == 74
    assert wire.SHARE_CIPHERTEXT_SIZE == 90
    assert len(aead.seal(bytes(32), bytes(wire.SHARE_PLAINTEXT_SIZE), b"")) == CT
    assert [k.value for k in MessageType] == [1, 2, 3, 4, 5, 6, 7]
    assert [k.value for k in ShareKind] == [0, 1]


def test_envelope_matches_reference() -> None:
    body = b"some body"
    assert wire.envelope(CFG, MessageType.KEY_LIST, SERVER_ID, 2, body) == raw_envelope(
        CFG.session_id, 2, SERVER_ID, 2, body
    )


# --------------------------------------------------------------------------- strategies

bytes32 = st.binary(min_size=32, max_size=32)
field = st.integers(0, shamir.PRIME - 1)
ids = st.lists(st.integers(0, N - 1), unique=True, max_size=N).map(sorted)
commitment = st.binary(min_size=COMMIT, max_size=COMMIT)
ciphertext_lists = ids.flatmap(
    lambda xs: st.tuples(*[st.tuples(st.just(i), st.binary(min_size=CT, max_size=CT)) for i in xs])
)
commitment_lists = ids.flatmap(
    lambda xs: st.tuples(*[st.tuples(st.just(i), commitment, commitment) for i in xs])
)


def messages(kind: MessageType, cfg: RoundConfig) -> st.SearchStrategy[Any]:
    if kind is MessageType.ADVERTISE_KEYS:
        return st.builds(AdvertiseKeys, bytes32, bytes32)
    if kind is MessageType.KEY_LIST:
        return ids.flatmap(
            lambda xs: st.tuples(*[st.builds(KeyEntry, st.just(i), bytes32, bytes32) for i in xs])
        ).map(KeyList)
    if kind is MessageType.SHARE_KEYS:
        # The two lists are independent on the wire (the server, not the decoder, checks that
        # the holders are the recipients plus the sender).
        return st.builds(ShareKeys, ciphertext_lists, commitment_lists, bytes32)
    if kind is MessageType.SHARE_FORWARD:
        return ciphertext_lists.map(ShareForward)
    if kind is MessageType.MASKED_INPUT:
        top = (1 << cfg.bits) - 1
        element = st.one_of(st.integers(0, top), st.sampled_from([0, top]))
        return st.builds(
            lambda v, prompt: MaskedInput(np.array(v, dtype=ring_dtype(cfg.bits)), prompt),
            st.lists(element, min_size=cfg.dim, max_size=cfg.dim),
            bytes32,
        )
    if kind is MessageType.UNMASK_REQUEST:
        return ids.map(lambda xs: UnmaskRequest(tuple(xs)))
    assert kind is MessageType.UNMASK_RESPONSE
    shares = ids.flatmap(
        lambda xs: st.tuples(
            *[
                st.tuples(
                    st.just(i),
                    st.sampled_from(ShareKind),
                    st.one_of(field, st.sampled_from([0, shamir.PRIME - 1])),
                )
                for i in xs
            ]
        )
    )
    return st.builds(UnmaskResponse, shares, bytes32)


@st.composite
def valid_messages(
    draw: st.DrawFn, kind: MessageType, bits: int | None = None
) -> tuple[RoundConfig, int, Any, bytes]:
    """(config, party, message, encoded bytes) for a valid message of ``kind``."""
    cfg = make_config(bits=draw(st.sampled_from(BITS)) if bits is None else bits)
    party = draw(st.integers(0, N - 1))
    msg = draw(messages(kind, cfg))
    return cfg, party, msg, CODECS[kind].encode(cfg, party, msg)


def reason_of(codec: Codec, data: Any, cfg: RoundConfig, party: int) -> DropReason:
    with pytest.raises(DecodeError) as info:
        codec.decode(data, cfg, party)
    assert isinstance(info.value.reason, DropReason)
    return info.value.reason


# --------------------------------------------------------------------------- round trips


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
@given(data=st.data())
@settings(max_examples=40)
def test_round_trip(kind: MessageType, data: st.DataObject) -> None:
    cfg, party, msg, encoded = data.draw(valid_messages(kind))
    codec = CODECS[kind]
    sender, recipient = codec.addresses(party)
    assert encoded == raw_envelope(
        cfg.session_id, kind, sender, recipient, reference_body(msg, cfg)
    )
    assert len(encoded) <= wire.max_message_size(cfg)
    for form in (encoded, bytearray(encoded), memoryview(encoded)):
        decoded = codec.decode(form, cfg, party)  # type: ignore[arg-type]
        assert same(decoded, msg)
    assert codec.encode(cfg, party, codec.decode(encoded, cfg, party)) == encoded


@pytest.mark.parametrize("bits", BITS)
def test_masked_input_extremes_round_trip(bits: int) -> None:
    cfg = make_config(bits=bits)
    top = (1 << bits) - 1
    vector = np.array([0, top, top, 1 % (top + 1), 0], dtype=ring_dtype(bits))
    decoded = wire.decode_masked_input(
        wire.encode_masked_input(cfg, 2, MaskedInput(vector, PROMPT)), cfg, 2
    )
    assert decoded.vector.dtype == ring_dtype(bits)
    assert decoded.vector.tolist() == vector.tolist()
    assert decoded.prompt == PROMPT


def test_full_size_messages_fit_under_the_size_cap() -> None:
    full = list(range(N))
    cfg = make_config(bits=64, dim=3)
    maximal = {
        MessageType.KEY_LIST: KeyList(tuple(KeyEntry(i, bytes(32), bytes(32)) for i in full)),
        MessageType.SHARE_KEYS: ShareKeys(
            tuple((i, b"\xff" * CT) for i in full),
            tuple((i, b"\xff" * COMMIT, b"\xee" * COMMIT) for i in full),
            b"\xdd" * 32,
        ),
        MessageType.SHARE_FORWARD: ShareForward(tuple((i, bytes(CT)) for i in full)),
        MessageType.UNMASK_REQUEST: UnmaskRequest(tuple(full)),
        MessageType.UNMASK_RESPONSE: UnmaskResponse(
            tuple((i, ShareKind.SELF_MASK, shamir.PRIME - 1) for i in full), b"\xdd" * 32
        ),
    }
    for kind, msg in maximal.items():
        codec = CODECS[kind]
        encoded = codec.encode(cfg, 1, msg)
        assert len(encoded) <= wire.max_message_size(cfg)
        assert codec.decode(encoded, cfg, 1) == msg
    # The full-size MaskedInput, exactly at the cap: test_max_message_size_counts_the_prompt_echo.


# --------------------------------------------------------------------------- hostile bytes


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
@given(garbage=st.binary(max_size=700), party=st.integers(0, N - 1))
@settings(max_examples=40)
def test_garbage_is_a_decode_error(kind: MessageType, garbage: bytes, party: int) -> None:
    assert reason_of(CODECS[kind], garbage, CFG, party) == DropReason.DECODE_FAILED


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
@given(body=st.binary(max_size=300), digest=bytes32, party=st.integers(0, N - 1))
@settings(max_examples=30)
def test_valid_header_with_garbage_body_and_digest(
    kind: MessageType, body: bytes, digest: bytes, party: int
) -> None:
    codec = CODECS[kind]
    data = raw_envelope(CFG.session_id, kind, *codec.addresses(party), body)
    if digest == data[-32:]:
        return
    assert reason_of(codec, data[:-32] + digest, CFG, party) == DropReason.DECODE_FAILED


@st.composite
def mutations(draw: st.DrawFn, encoded: bytes) -> bytes:
    how = draw(st.sampled_from(["truncate", "extend", "flip", "splice"]))
    if how == "truncate":
        return encoded[: draw(st.integers(0, len(encoded) - 1))]
    if how == "extend":
        return encoded + draw(st.binary(min_size=1, max_size=100))
    if how == "flip":
        index = draw(st.integers(0, len(encoded) - 1))
        bit = draw(st.integers(0, 7))
        flipped = bytearray(encoded)
        flipped[index] ^= 1 << bit
        return bytes(flipped)
    # Replace a slice with different bytes of another length.
    start = draw(st.integers(0, len(encoded) - 1))
    stop = draw(st.integers(start, len(encoded)))
    insert = draw(st.binary(max_size=40))
    mutated = encoded[:start] + insert + encoded[stop:]
    return mutated if mutated != encoded else encoded[:-1]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
@given(data=st.data())
@settings(max_examples=60)
def test_mutated_messages_never_decode(kind: MessageType, data: st.DataObject) -> None:
    cfg, party, _msg, encoded = data.draw(valid_messages(kind))
    mutated = data.draw(mutations(encoded))
    assert mutated != encoded
    # Every mutation breaks the digest (or the length), which is checked before anything else
    # that could give another reason.
    assert reason_of(CODECS[kind], mutated, cfg, party) == DropReason.DECODE_FAILED


# Structured bodies: plausible counts, ids around the valid range, share kinds and values around
# their limits, so that decoding gets past the envelope and into every body check.
u32s = st.one_of(st.integers(0, N + 1), st.integers(0, 2**32 - 1))
share_values = st.one_of(
    st.integers(0, 2**264 - 1),
    st.integers(shamir.PRIME - 3, shamir.PRIME + 3),
    st.integers(0, shamir.PRIME - 1),
)


def entry_strategy(kind: MessageType) -> st.SearchStrategy[bytes]:
    peer = u32s.map(lambda v: struct.pack(">I", v))
    if kind is MessageType.KEY_LIST:
        return st.tuples(peer, st.binary(min_size=64, max_size=64)).map(b"".join)
    if kind in (MessageType.SHARE_KEYS, MessageType.SHARE_FORWARD):
        return st.tuples(peer, st.binary(min_size=CT, max_size=CT)).map(b"".join)
    if kind is MessageType.UNMASK_REQUEST:
        return peer
    assert kind is MessageType.UNMASK_RESPONSE
    share_kind = st.one_of(st.sampled_from([0, 1]), st.integers(0, 255)).map(lambda k: bytes([k]))
    value = share_values.map(lambda v: v.to_bytes(33, "big"))
    return st.tuples(peer, share_kind, value).map(b"".join)


@st.composite
def structured_bodies(draw: st.DrawFn, kind: MessageType, cfg: RoundConfig) -> bytes:
    """A body of ``kind``, a reply's behind a prompt echo (usually 32 bytes, sometimes not)."""
    core = draw(structured_cores(kind, cfg))
    if kind not in REPLY_KINDS:
        return core
    return draw(st.one_of(bytes32, bytes32, bytes32, st.binary(max_size=40))) + core


@st.composite
def structured_cores(draw: st.DrawFn, kind: MessageType, cfg: RoundConfig) -> bytes:
    """A body of ``kind`` without the prompt echo of a reply."""
    if kind is MessageType.ADVERTISE_KEYS:
        return draw(st.one_of(st.binary(min_size=64, max_size=64), st.binary(max_size=80)))
    if kind is MessageType.MASKED_INPUT:
        length = draw(st.sampled_from([cfg.dim, cfg.dim, cfg.dim - 1, cfg.dim + 1, 0]))
        top = 2 ** (8 * cfg.width) - 1
        element = st.one_of(
            st.integers(0, (1 << cfg.bits) - 1), st.integers(0, top), st.just(1 << cfg.bits)
        )
        values = draw(st.lists(element, min_size=length, max_size=length))
        tail = draw(st.binary(max_size=3))
        return b"".join(min(v, top).to_bytes(cfg.width, "little") for v in values) + tail
    tail = draw(st.sampled_from([b"", b"", b"\x00", b"\x00\x00\x00"]))
    body = draw(counted_list(entry_strategy(kind)))
    if kind is MessageType.SHARE_KEYS:
        commit_entry = st.tuples(
            u32s.map(lambda v: struct.pack(">I", v)), st.binary(min_size=64, max_size=64)
        ).map(b"".join)
        body += draw(st.one_of(counted_list(commit_entry), st.just(b"")))
    return body + tail


@st.composite
def counted_list(draw: st.DrawFn, entry: st.SearchStrategy[bytes]) -> bytes:
    """``count u32 | entries``, the count usually right and sometimes anything."""
    entries = draw(st.lists(entry, max_size=N + 2))
    count = draw(st.one_of(st.just(len(entries)), u32s))
    return struct.pack(">I", count) + b"".join(entries)


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
@given(data=st.data())
@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
def test_any_body_decodes_canonically_or_fails_cleanly(
    kind: MessageType, data: st.DataObject
) -> None:
    """A correctly enveloped body either decodes to a message whose encoding is exactly the
    input (every encoding is canonical, so no two byte strings mean the same message), or
    fails with a DecodeError - never another exception."""
    cfg = make_config(bits=data.draw(st.sampled_from(BITS)))
    party = data.draw(st.integers(0, N - 1))
    codec = CODECS[kind]
    body = data.draw(st.one_of(structured_bodies(kind, cfg), st.binary(max_size=200)))
    encoded = wire.envelope(cfg, kind, *codec.addresses(party), body)
    try:
        decoded = codec.decode(encoded, cfg, party)
    except DecodeError as exc:
        event(f"refused: {exc.reason.name}")
        assert exc.reason in (DropReason.DECODE_FAILED, DropReason.INVALID_CONTENT)
        return
    event("decoded")
    assert codec.encode(cfg, party, decoded) == encoded


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
@pytest.mark.parametrize("data", ["text", None, 7, [1, 2, 3], 1.5])
def test_non_bytes_input_is_a_decode_error(kind: MessageType, data: Any) -> None:
    assert reason_of(CODECS[kind], data, CFG, 0) == DropReason.DECODE_FAILED


def test_non_contiguous_memoryview_decodes_or_is_a_decode_error() -> None:
    """open_envelope accepts any memoryview; a strided one holding a valid message must decode
    to that message (or be refused with a DecodeError), not escape as another exception."""
    for kind, codec in CODECS.items():
        encoded = codec.encode(CFG, 2, example(kind))
        interleaved = bytes(b for byte in encoded for b in (byte, 0xEE))
        strided = memoryview(interleaved)[::2]
        assert strided.tobytes() == encoded
        try:
            decoded = codec.decode(strided, CFG, 2)  # type: ignore[arg-type]
        except DecodeError:
            continue
        assert same(decoded, example(kind))


# --------------------------------------------------------------------------- envelope reasons


def example(kind: MessageType) -> Any:
    return {
        MessageType.ADVERTISE_KEYS: AdvertiseKeys(bytes(32), b"\x01" * 32),
        MessageType.KEY_LIST: KeyList((KeyEntry(0, bytes(32), bytes(32)),)),
        MessageType.SHARE_KEYS: ShareKeys(
            ((1, bytes(CT)), (4, bytes(CT))),
            tuple((v, bytes([v, 1]) * 16, bytes([v, 2]) * 16) for v in (1, 2, 4)),
            PROMPT,
        ),
        MessageType.SHARE_FORWARD: ShareForward(((2, bytes(CT)),)),
        MessageType.MASKED_INPUT: MaskedInput(np.arange(DIM, dtype=np.uint32), PROMPT),
        MessageType.UNMASK_REQUEST: UnmaskRequest((0, 1, 5)),
        MessageType.UNMASK_RESPONSE: UnmaskResponse(((3, ShareKind.KEY, 12345),), PROMPT),
    }[kind]


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_example_messages_decode(kind: MessageType) -> None:
    codec = CODECS[kind]
    assert same(codec.decode(codec.encode(CFG, 2, example(kind)), CFG, 2), example(kind))


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
@pytest.mark.parametrize(
    "other",
    [
        make_config(nonce=bytes(range(1, 33))),
        make_config(threshold=4),  # same nonce, other parameters: still another session
    ],
    ids=["other-nonce", "other-threshold"],
)
def test_wrong_session(kind: MessageType, other: RoundConfig) -> None:
    codec = CODECS[kind]
    encoded = codec.encode(other, 2, example(kind))
    assert reason_of(codec, encoded, CFG, 2) == DropReason.WRONG_SESSION


@pytest.mark.parametrize(
    ("expected", "actual"),
    [(e, a) for e, a in itertools.product(KINDS, KINDS) if e != a],
    ids=lambda k: k.name,
)
def test_wrong_type_is_unexpected_message(expected: MessageType, actual: MessageType) -> None:
    codec = CODECS[expected]
    # A well-formed message of another type on the right channel (a replay or confusion).
    data = wire.envelope(CFG, actual, *codec.addresses(2), reference_body(example(actual), CFG))
    assert reason_of(codec, data, CFG, 2) == DropReason.UNEXPECTED_MESSAGE


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
@pytest.mark.parametrize("type_byte", [0, 8, 9, 200, 255])
def test_unknown_type_byte(kind: MessageType, type_byte: int) -> None:
    codec = CODECS[kind]
    data = raw_envelope(
        CFG.session_id, type_byte, *codec.addresses(2), reference_body(example(kind), CFG)
    )
    assert reason_of(codec, data, CFG, 2) in (
        DropReason.DECODE_FAILED,
        DropReason.UNEXPECTED_MESSAGE,
    )


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
@pytest.mark.parametrize(
    "header",
    [
        {"magic": b"SAGH"},
        {"magic": b"\x00\x00\x00\x00"},
        {"version": 0},
        {"version": 2},
        {"version": 255},
        {"flags": 1},
        {"flags": 0x8000},
    ],
)
def test_bad_magic_version_or_flags(kind: MessageType, header: dict[str, Any]) -> None:
    codec = CODECS[kind]
    data = raw_envelope(
        CFG.session_id, kind, *codec.addresses(2), reference_body(example(kind), CFG), **header
    )
    assert reason_of(codec, data, CFG, 2) == DropReason.DECODE_FAILED


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_misaddressed(kind: MessageType) -> None:
    codec = CODECS[kind]
    body = reference_body(example(kind), CFG)
    encoded = codec.encode(CFG, 2, example(kind))
    # Arrived on another client's channel.
    assert reason_of(codec, encoded, CFG, 3) == DropReason.MISADDRESSED
    # Headers that name another party than the channel: the server side is not the server, the
    # client side is another client or the server, or sender and recipient are swapped.
    sender, recipient = codec.addresses(2)
    if codec.to_server:
        bad_headers = [(2, 0), (2, 2), (3, SERVER_ID), (SERVER_ID, SERVER_ID), (SERVER_ID, 2)]
    else:
        bad_headers = [(0, 2), (2, 2), (SERVER_ID, 3), (SERVER_ID, SERVER_ID), (2, SERVER_ID)]
    for bad in bad_headers:
        assert bad != (sender, recipient)
        data = raw_envelope(CFG.session_id, kind, *bad, body)
        assert reason_of(codec, data, CFG, 2) == DropReason.MISADDRESSED


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_digest_mismatch_and_truncation(kind: MessageType) -> None:
    codec = CODECS[kind]
    encoded = codec.encode(CFG, 2, example(kind))
    corrupt = encoded[:-1] + bytes([encoded[-1] ^ 0x40])
    assert reason_of(codec, corrupt, CFG, 2) == DropReason.DECODE_FAILED
    for cut in (1, 31, 32, 33, len(encoded) - wire.HEADER_SIZE):
        assert reason_of(codec, encoded[:-cut], CFG, 2) == DropReason.DECODE_FAILED
    assert reason_of(codec, b"", CFG, 2) == DropReason.DECODE_FAILED
    assert reason_of(codec, encoded[: wire.HEADER_SIZE + 31], CFG, 2) == DropReason.DECODE_FAILED
    # A body edit with a recomputed digest is a different (valid-looking) message, not this one:
    # the digest is integrity against accidents only. Dropping the digest entirely fails.
    assert reason_of(codec, encoded[:-32], CFG, 2) == DropReason.DECODE_FAILED


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_oversized(kind: MessageType) -> None:
    codec = CODECS[kind]
    limit = wire.max_message_size(CFG)
    body_size = limit - wire.HEADER_SIZE - wire.DIGEST_SIZE + 1
    data = raw_envelope(CFG.session_id, kind, *codec.addresses(2), bytes(body_size))
    assert len(data) == limit + 1
    assert reason_of(codec, data, CFG, 2) == DropReason.DECODE_FAILED
    huge = raw_envelope(CFG.session_id, kind, *codec.addresses(2), bytes(1 << 20))
    assert reason_of(codec, huge, CFG, 2) == DropReason.DECODE_FAILED


# --------------------------------------------------------------------------- body reasons


@given(
    bits=st.integers(1, 63).filter(lambda b: b != 32),
    index=st.integers(0, DIM - 1),
    data=st.data(),
)
@settings(max_examples=80)
def test_masked_input_element_outside_ring_is_invalid_content(
    bits: int, index: int, data: st.DataObject
) -> None:
    cfg = make_config(bits=bits)
    top = 2 ** (8 * cfg.width) - 1
    bad = data.draw(st.one_of(st.just(1 << bits), st.integers(1 << bits, top)))
    values = [0] * DIM
    values[index] = bad
    body = PROMPT + b"".join(v.to_bytes(cfg.width, "little") for v in values)
    encoded = wire.envelope(cfg, MessageType.MASKED_INPUT, 1, SERVER_ID, body)
    codec = CODECS[MessageType.MASKED_INPUT]
    assert reason_of(codec, encoded, cfg, 1) == DropReason.INVALID_CONTENT


@pytest.mark.parametrize("bits", [32, 64])
def test_full_width_rings_accept_every_element(bits: int) -> None:
    cfg = make_config(bits=bits)
    body = b"\xff" * (32 + cfg.width * DIM)  # an all-ones prompt echo too
    encoded = wire.envelope(cfg, MessageType.MASKED_INPUT, 1, SERVER_ID, body)
    decoded = wire.decode_masked_input(encoded, cfg, 1)
    assert decoded.vector.tolist() == [2**bits - 1] * DIM
    assert decoded.prompt == b"\xff" * 32


@pytest.mark.parametrize("bits", [7, 32, 33])
@pytest.mark.parametrize("delta", [-1, 1])
def test_masked_input_wrong_length(bits: int, delta: int) -> None:
    cfg = make_config(bits=bits)
    codec = CODECS[MessageType.MASKED_INPUT]
    for size in (cfg.width * (DIM + delta), cfg.width * DIM + delta, 0):
        data = wire.envelope(cfg, MessageType.MASKED_INPUT, 1, SERVER_ID, PROMPT + bytes(size))
        assert reason_of(codec, data, cfg, 1) == DropReason.DECODE_FAILED
        # The same sizes without the prompt echo are just as wrong.
        data = wire.envelope(cfg, MessageType.MASKED_INPUT, 1, SERVER_ID, bytes(size))
        assert reason_of(codec, data, cfg, 1) == DropReason.DECODE_FAILED


@pytest.mark.parametrize("size", [0, 32, 63, 65, 96])
def test_advertise_keys_wrong_length(size: int) -> None:
    data = wire.envelope(CFG, MessageType.ADVERTISE_KEYS, 1, SERVER_ID, bytes(size))
    reason = reason_of(CODECS[MessageType.ADVERTISE_KEYS], data, CFG, 1)
    assert reason == DropReason.DECODE_FAILED


LIST_KINDS = [
    MessageType.KEY_LIST,
    MessageType.SHARE_KEYS,
    MessageType.SHARE_FORWARD,
    MessageType.UNMASK_REQUEST,
    MessageType.UNMASK_RESPONSE,
]


def list_message(kind: MessageType, peers: list[int]) -> Any:
    """A list message naming ``peers`` in the given order (the encoders do not check ids)."""
    if kind is MessageType.KEY_LIST:
        return KeyList(tuple(KeyEntry(p, bytes(32), bytes(32)) for p in peers))
    if kind is MessageType.SHARE_KEYS:
        return ShareKeys(
            tuple((p, bytes(CT)) for p in peers),
            tuple((p, bytes(COMMIT), bytes(COMMIT)) for p in peers),
            PROMPT,
        )
    if kind is MessageType.SHARE_FORWARD:
        return ShareForward(tuple((p, bytes(CT)) for p in peers))
    if kind is MessageType.UNMASK_REQUEST:
        return UnmaskRequest(tuple(peers))
    return UnmaskResponse(tuple((p, ShareKind.KEY, 1) for p in peers), PROMPT)


def echo_size(kind: MessageType) -> int:
    """Bytes of prompt echo at the start of a ``kind`` body (where its first count starts)."""
    return 32 if kind in REPLY_KINDS else 0


@pytest.mark.parametrize("kind", LIST_KINDS, ids=lambda k: k.name)
@pytest.mark.parametrize("peers", [[1, 1], [0, 3, 3], [2, 1], [5, 0], [0, 4, 2], [3, 3, 3]])
def test_non_increasing_ids(kind: MessageType, peers: list[int]) -> None:
    codec = CODECS[kind]
    encoded = codec.encode(CFG, 2, list_message(kind, peers))
    assert reason_of(codec, encoded, CFG, 2) == DropReason.DECODE_FAILED


@pytest.mark.parametrize("kind", LIST_KINDS, ids=lambda k: k.name)
@pytest.mark.parametrize("peers", [[N], [0, N], [2**32 - 1], [0, 1, 2**31]])
def test_ids_out_of_range(kind: MessageType, peers: list[int]) -> None:
    codec = CODECS[kind]
    encoded = codec.encode(CFG, 2, list_message(kind, peers))
    assert reason_of(codec, encoded, CFG, 2) in (
        DropReason.DECODE_FAILED,
        DropReason.INVALID_CONTENT,
    )


@pytest.mark.parametrize("kind", LIST_KINDS, ids=lambda k: k.name)
def test_count_above_n(kind: MessageType) -> None:
    codec = CODECS[kind]
    # n + 1 entries with a count that matches them (refused by the count cap, or by the size cap
    # when n + 1 entries are longer than any legitimate message).
    peers = list(range(N + 1))
    encoded = codec.encode(CFG, 2, list_message(kind, peers))
    assert reason_of(codec, encoded, CFG, 2) == DropReason.DECODE_FAILED
    # A count far beyond the bytes that follow.
    good = reference_body(list_message(kind, [0, 1]), CFG)
    at = echo_size(kind)
    body = good[:at] + struct.pack(">I", 2**32 - 1) + good[at + 4 :]
    data = wire.envelope(CFG, kind, *codec.addresses(2), body)
    assert reason_of(codec, data, CFG, 2) == DropReason.DECODE_FAILED


@pytest.mark.parametrize("kind", LIST_KINDS, ids=lambda k: k.name)
@pytest.mark.parametrize("count_delta", [-1, 1])
def test_count_disagrees_with_length(kind: MessageType, count_delta: int) -> None:
    codec = CODECS[kind]
    good = reference_body(list_message(kind, [0, 2, 4]), CFG)
    at = echo_size(kind)
    body = good[:at] + struct.pack(">I", 3 + count_delta) + good[at + 4 :]
    data = wire.envelope(CFG, kind, *codec.addresses(2), body)
    assert reason_of(codec, data, CFG, 2) == DropReason.DECODE_FAILED
    for bad_body in (good[:-1], good + b"\x00", good[: at + 3], good[:at], b""):
        data = wire.envelope(CFG, kind, *codec.addresses(2), bad_body)
        assert reason_of(codec, data, CFG, 2) == DropReason.DECODE_FAILED


# --------------------------------------------------------------------------- ShareKeys commitments

SK = CODECS[MessageType.SHARE_KEYS]
SENDER = 2


def share_keys_body(
    ct_peers: list[int],
    holders: list[int],
    *,
    ct_count: int | None = None,
    count: int | None = None,
    prompt: bytes = PROMPT,
) -> bytes:
    """A ShareKeys body built by hand, with either count overridable."""
    u32 = struct.Struct(">I").pack
    cts = b"".join(u32(p) + bytes([p & 0xFF]) * CT for p in ct_peers)
    commits = b"".join(u32(v) + key_commitment(v) + mask_commitment(v) for v in holders)
    return (
        prompt
        + u32(len(ct_peers) if ct_count is None else ct_count)
        + cts
        + u32(len(holders) if count is None else count)
        + commits
    )


def key_commitment(v: int) -> bytes:
    return bytes([v & 0xFF, 0xC0]) * (COMMIT // 2)


def mask_commitment(v: int) -> bytes:
    return bytes([v & 0xFF, 0xD0]) * (COMMIT // 2)


def sealed_share_keys(body: bytes) -> bytes:
    return wire.envelope(CFG, MessageType.SHARE_KEYS, SENDER, SERVER_ID, body)


def test_share_keys_commitment_layout() -> None:
    """Byte by byte: prompt echo, ciphertext list, then
    ``count u32 | (holder u32 | C_key | C_mask)*``."""
    ck, cm = b"\x5a" * COMMIT, b"\xa5" * COMMIT
    msg = ShareKeys(((1, b"\x01" * CT),), ((1, ck, cm), (2, cm, ck)), PROMPT)
    expected_body = (
        PROMPT
        + b"\x00\x00\x00\x01"
        + b"\x00\x00\x00\x01"
        + b"\x01" * CT
        + b"\x00\x00\x00\x02"
        + b"\x00\x00\x00\x01"
        + ck
        + cm
        + b"\x00\x00\x00\x02"
        + cm
        + ck
    )
    encoded = wire.encode_share_keys(CFG, SENDER, msg)
    assert encoded == raw_envelope(CFG.session_id, 3, SENDER, SERVER_ID, expected_body)
    decoded = wire.decode_share_keys(encoded, CFG, SENDER)
    assert decoded == msg  # so C_key and C_mask are not swapped on the way through
    assert all(type(c) is bytes for _, ck2, cm2 in decoded.commitments for c in (ck2, cm2))
    assert type(decoded.prompt) is bytes


@pytest.mark.parametrize(
    ("ct_peers", "holders"),
    [([], []), ([], [2]), ([0, 1, 3, 4, 5], list(range(N))), ([5], [0]), ([1, 4], [1, 2, 4])],
)
def test_share_keys_round_trip_examples(ct_peers: list[int], holders: list[int]) -> None:
    body = share_keys_body(ct_peers, holders)
    decoded = SK.decode(sealed_share_keys(body), CFG, SENDER)
    assert [p for p, _ in decoded.ciphertexts] == ct_peers
    assert [v for v, _, _ in decoded.commitments] == holders
    assert [(ck, cm) for _, ck, cm in decoded.commitments] == [
        (key_commitment(v), mask_commitment(v)) for v in holders
    ]
    assert SK.encode(CFG, SENDER, decoded) == sealed_share_keys(body)


def test_share_keys_every_truncation_or_extension_of_the_body_fails() -> None:
    """Cut anywhere (then resealed with a valid digest, so only the body rules can refuse it) or
    padded: in the prompt echo, in the ciphertexts, between the lists, inside a commitment
    entry."""
    body = share_keys_body([1, 4], [1, 2, 4])
    SK.decode(sealed_share_keys(body), CFG, SENDER)  # the uncut body is fine
    for cut in range(len(body)):
        assert reason_of(SK, sealed_share_keys(body[:cut]), CFG, SENDER) == (
            DropReason.DECODE_FAILED
        ), f"cut at {cut}"
    for extra in (b"\x00", b"\x00" * 3, b"\x00" * 4, bytes(68), bytes(69)):
        assert reason_of(SK, sealed_share_keys(body + extra), CFG, SENDER) == (
            DropReason.DECODE_FAILED
        )


def test_share_keys_without_a_commitment_list_fails() -> None:
    """The pre-commitment format (a bare ciphertext list) is refused, not read as no holders,
    with or without the prompt echo in front."""
    old = struct.pack(">I", 2) + b"".join(struct.pack(">I", p) + bytes(CT) for p in (1, 4))
    assert reason_of(SK, sealed_share_keys(old), CFG, SENDER) == DropReason.DECODE_FAILED
    assert reason_of(SK, sealed_share_keys(PROMPT + old), CFG, SENDER) == DropReason.DECODE_FAILED


@pytest.mark.parametrize(
    ("ct_count", "count"),
    [
        (None, N + 1),  # commitment count above n
        (None, 2**32 - 1),
        (None, 2),  # one fewer than the entries
        (None, 4),  # one more
        (None, 0),
        (N + 1, None),  # ciphertext count above n
        (2**32 - 1, None),
        (1, None),  # the ciphertext count swallows or leaves bytes of the other list
        (3, None),
        (0, None),
    ],
)
def test_share_keys_counts_that_disagree_fail(ct_count: int | None, count: int | None) -> None:
    body = share_keys_body([1, 4], [1, 2, 4], ct_count=ct_count, count=count)
    assert reason_of(SK, sealed_share_keys(body), CFG, SENDER) == DropReason.DECODE_FAILED


@pytest.mark.parametrize(
    "holders",
    [[1, 1], [2, 1], [1, 2, 2, 4], [4, 2, 1], [0, 0, 0]],
)
def test_share_keys_commitment_holders_must_strictly_increase(holders: list[int]) -> None:
    """A repeated or unsorted holder is refused by the decoder (canonical, duplicate-free), even
    with a valid ciphertext list."""
    body = share_keys_body([1, 4], holders)
    assert reason_of(SK, sealed_share_keys(body), CFG, SENDER) == DropReason.DECODE_FAILED


@pytest.mark.parametrize("holders", [[N], [1, 2, N], [2**32 - 1], [0, 2**31]])
def test_share_keys_commitment_holders_out_of_range(holders: list[int]) -> None:
    body = share_keys_body([1, 4], holders)
    assert reason_of(SK, sealed_share_keys(body), CFG, SENDER) == DropReason.DECODE_FAILED


def test_share_keys_at_the_size_cap() -> None:
    """n ciphertexts and n commitments is the largest ShareKeys; max_message_size covers it and
    one more byte is refused by the size cap."""
    body = share_keys_body(list(range(N)), list(range(N)))
    encoded = sealed_share_keys(body)
    assert len(encoded) == wire.max_message_size(CFG)  # ShareKeys is CFG's largest message
    assert len(SK.decode(encoded, CFG, SENDER).commitments) == N
    # The largest body: len(body) == limit, as the envelope adds exactly header and digest.
    limit = wire.max_message_size(CFG) - wire.HEADER_SIZE - wire.DIGEST_SIZE
    assert reason_of(SK, sealed_share_keys(bytes(limit + 1)), CFG, SENDER) == (
        DropReason.DECODE_FAILED
    )


@given(data=st.data())
@settings(max_examples=60)
def test_share_keys_commitment_list_garbage_fails_cleanly(data: st.DataObject) -> None:
    """A valid ciphertext list followed by garbage where the commitments go: a clean
    DECODE_FAILED, or (if the garbage happens to be a valid list) a canonical decode."""
    ct_peers = data.draw(ids, label="ct_peers")
    prompt = data.draw(bytes32, label="prompt")
    head = share_keys_body(ct_peers, [], prompt=prompt)[:-4]
    garbage = data.draw(
        st.one_of(st.binary(max_size=300), st.binary(min_size=4, max_size=4)), label="garbage"
    )
    encoded = sealed_share_keys(head + garbage)
    try:
        decoded = SK.decode(encoded, CFG, SENDER)
    except DecodeError as exc:
        assert exc.reason is DropReason.DECODE_FAILED
        return
    assert [p for p, _ in decoded.ciphertexts] == ct_peers
    assert decoded.prompt == prompt
    assert SK.encode(CFG, SENDER, decoded) == encoded


def unmask_response_body(entries: list[tuple[int, int, int]]) -> bytes:
    return (
        PROMPT
        + struct.pack(">I", len(entries))
        + b"".join(struct.pack(">IB", p, k) + v.to_bytes(33, "big") for p, k, v in entries)
    )


@pytest.mark.parametrize("value", [shamir.PRIME, shamir.PRIME + 1, 2**264 - 1, 2**257])
def test_share_not_below_p(value: int) -> None:
    codec = CODECS[MessageType.UNMASK_RESPONSE]
    body = unmask_response_body([(0, 0, 5), (1, 1, value)])
    data = wire.envelope(CFG, MessageType.UNMASK_RESPONSE, 2, SERVER_ID, body)
    assert reason_of(codec, data, CFG, 2) == DropReason.DECODE_FAILED
    ok = unmask_response_body([(0, 0, 5), (1, 1, shamir.PRIME - 1)])
    data = wire.envelope(CFG, MessageType.UNMASK_RESPONSE, 2, SERVER_ID, ok)
    assert codec.decode(data, CFG, 2) == UnmaskResponse(
        ((0, ShareKind.KEY, 5), (1, ShareKind.SELF_MASK, shamir.PRIME - 1)), PROMPT
    )


@pytest.mark.parametrize("share_kind", [2, 3, 127, 255])
def test_unknown_share_kind(share_kind: int) -> None:
    codec = CODECS[MessageType.UNMASK_RESPONSE]
    body = unmask_response_body([(0, 1, 5), (3, share_kind, 7)])
    data = wire.envelope(CFG, MessageType.UNMASK_RESPONSE, 2, SERVER_ID, body)
    assert reason_of(codec, data, CFG, 2) == DropReason.DECODE_FAILED


def test_decoded_share_kinds_are_enum_members() -> None:
    body = unmask_response_body([(0, 1, 5), (3, 0, 7)])
    data = wire.envelope(CFG, MessageType.UNMASK_RESPONSE, 2, SERVER_ID, body)
    decoded = wire.decode_unmask_response(data, CFG, 2)
    assert [type(kind) for _, kind, _ in decoded.shares] == [ShareKind, ShareKind]


# --------------------------------------------------------------------------- encoder checks


@pytest.mark.parametrize("size", [0, CT - 1, CT + 1])
def test_encoders_refuse_wrong_ciphertext_size(size: int) -> None:
    with pytest.raises(ValueError):
        wire.encode_share_keys(CFG, 1, ShareKeys(((0, bytes(size)),), (), PROMPT))
    with pytest.raises(ValueError):
        wire.encode_share_forward(CFG, 1, ShareForward(((0, bytes(size)),)))


@pytest.mark.parametrize("shape", [(DIM - 1,), (DIM + 1,), (0,), (DIM, 1), (1, DIM)])
def test_encode_masked_input_refuses_wrong_shape(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError):
        wire.encode_masked_input(CFG, 1, MaskedInput(np.zeros(shape, dtype=np.uint32), PROMPT))


# --------------------------------------------------------------------------- prompt echo

PROMPT_KINDS = [MessageType.KEY_LIST, MessageType.SHARE_FORWARD, MessageType.UNMASK_REQUEST]
"""The server prompts, in round order; REPLY_KINDS[i] answers PROMPT_KINDS[i]."""


def test_prompt_field_is_the_last_field_of_each_reply() -> None:
    for kind in REPLY_KINDS:
        cls = type(example(kind))
        assert [f.name for f in dataclasses.fields(cls)][-1] == "prompt"


@pytest.mark.parametrize("kind", REPLY_KINDS, ids=lambda k: k.name)
@given(prompt=bytes32, other=bytes32, party=st.integers(0, N - 1))
@settings(max_examples=30)
def test_prompt_echo_round_trips(
    kind: MessageType, prompt: bytes, other: bytes, party: int
) -> None:
    """Any 32 bytes go out as the first 32 body bytes and come back as ``prompt`` (bytes);
    changing the echo changes exactly those bytes and the digest, nothing else."""
    codec = CODECS[kind]
    msg = dataclasses.replace(example(kind), prompt=prompt)
    encoded = codec.encode(CFG, party, msg)
    assert encoded[wire.HEADER_SIZE : wire.HEADER_SIZE + 32] == prompt
    decoded = codec.decode(encoded, CFG, party)
    assert decoded.prompt == prompt and type(decoded.prompt) is bytes
    assert same(decoded, msg)
    assert codec.encode(CFG, party, decoded) == encoded
    changed = codec.encode(CFG, party, dataclasses.replace(msg, prompt=other))
    assert len(changed) == len(encoded)
    differing = {i for i, (a, b) in enumerate(zip(encoded, changed, strict=True)) if a != b}
    echo = range(wire.HEADER_SIZE, wire.HEADER_SIZE + 32)
    assert differing <= set(echo) | set(range(len(encoded) - 32, len(encoded)))
    assert (prompt == other) == (changed == encoded)


@pytest.mark.parametrize("kind", REPLY_KINDS, ids=lambda k: k.name)
@pytest.mark.parametrize(
    "prompt",
    [b"", bytes(1), bytes(31), bytes(33), bytes(64), "x" * 32],
    ids=["empty", "1", "31", "33", "64", "str"],
)
def test_encoders_reject_a_prompt_that_is_not_32_bytes(kind: MessageType, prompt: Any) -> None:
    with pytest.raises(ValueError):
        CODECS[kind].encode(CFG, 2, dataclasses.replace(example(kind), prompt=prompt))


@pytest.mark.parametrize("kind", REPLY_KINDS, ids=lambda k: k.name)
@pytest.mark.parametrize("size", range(33))
def test_reply_body_without_room_past_the_prompt_is_decode_failed(
    kind: MessageType, size: int
) -> None:
    """A reply body cut to its first ``size`` <= 32 bytes (resealed, so only the body rules can
    refuse it): too short for the echo, or an echo with nothing behind it."""
    codec = CODECS[kind]
    body = reference_body(example(kind), CFG)[:size]
    data = wire.envelope(CFG, kind, *codec.addresses(2), body)
    assert reason_of(codec, data, CFG, 2) == DropReason.DECODE_FAILED


@pytest.mark.parametrize("kind", REPLY_KINDS, ids=lambda k: k.name)
@given(body=st.binary(max_size=31), party=st.integers(0, N - 1))
@settings(max_examples=20)
def test_any_reply_body_shorter_than_the_prompt_is_decode_failed(
    kind: MessageType, body: bytes, party: int
) -> None:
    codec = CODECS[kind]
    data = wire.envelope(CFG, kind, *codec.addresses(party), body)
    assert reason_of(codec, data, CFG, party) == DropReason.DECODE_FAILED


@pytest.mark.parametrize("kind", REPLY_KINDS, ids=lambda k: k.name)
def test_reply_without_the_prompt_echo_is_refused(kind: MessageType) -> None:
    """The format before the echo (the same body minus its first 32 bytes) does not decode."""
    codec = CODECS[kind]
    old = reference_body(example(kind), CFG)[32:]
    data = wire.envelope(CFG, kind, *codec.addresses(2), old)
    assert reason_of(codec, data, CFG, 2) == DropReason.DECODE_FAILED


@pytest.mark.parametrize("kind", KINDS, ids=lambda k: k.name)
def test_prompt_digest_is_the_envelope_digest(kind: MessageType) -> None:
    codec = CODECS[kind]
    encoded = codec.encode(CFG, 2, example(kind))
    body = encoded[wire.HEADER_SIZE : -32]
    expected = raw_envelope(CFG.session_id, kind, *codec.addresses(2), body)[-32:]
    for form in (encoded, bytearray(encoded), memoryview(encoded)):
        digest = wire.prompt_digest(form)
        assert digest == expected == encoded[-32:]
        assert type(digest) is bytes


@pytest.mark.parametrize("kind", PROMPT_KINDS, ids=lambda k: k.name)
def test_prompt_digest_differs_per_recipient_and_session(kind: MessageType) -> None:
    """The same prompt body sent to two clients, or in two sessions, has two digests: a reply
    echoing another client's (or another session's) prompt cannot pass for this one's."""
    codec = CODECS[kind]
    msg = example(kind)
    digests = {
        wire.prompt_digest(codec.encode(cfg, v, msg))
        for cfg in (CFG, make_config(nonce=bytes(32)), make_config(threshold=4))
        for v in range(N)
    }
    assert len(digests) == 3 * N


@pytest.mark.parametrize(
    ("prompt_kind", "reply_kind"), list(zip(PROMPT_KINDS, REPLY_KINDS, strict=True))
)
def test_reply_echoes_a_prompt_digest_verbatim(
    prompt_kind: MessageType, reply_kind: MessageType
) -> None:
    prompt = CODECS[prompt_kind].encode(CFG, 3, example(prompt_kind))
    echo = wire.prompt_digest(prompt)
    reply = CODECS[reply_kind].encode(CFG, 3, dataclasses.replace(example(reply_kind), prompt=echo))
    assert reply[wire.HEADER_SIZE : wire.HEADER_SIZE + 32] == prompt[-32:]
    assert CODECS[reply_kind].decode(reply, CFG, 3).prompt == echo


def test_max_message_size_counts_the_prompt_echo() -> None:
    """Each reply type's largest body includes the 32 echo bytes: a full-size MaskedInput (the
    largest message of this config) is exactly at the cap and decodes; one more byte is refused."""
    # MaskedInput is the largest message here, and longer than 64 KiB (no 16-bit length limit).
    cfg = make_config(bits=64, dim=10_000)
    largest = {
        MessageType.SHARE_KEYS: 32 + 4 + N * (4 + CT) + 4 + N * (4 + 2 * COMMIT),
        MessageType.MASKED_INPUT: 32 + cfg.dim * cfg.width,
        MessageType.UNMASK_RESPONSE: 32 + 4 + N * (4 + 1 + 33),
    }
    cap = wire.max_message_size(cfg)
    assert cap == wire.HEADER_SIZE + max(largest.values()) + wire.DIGEST_SIZE
    assert cap == wire.HEADER_SIZE + largest[MessageType.MASKED_INPUT] + wire.DIGEST_SIZE
    vector = np.full(cfg.dim, 2**64 - 1, dtype=np.uint64)
    encoded = wire.encode_masked_input(cfg, 1, MaskedInput(vector, PROMPT))
    assert len(encoded) == cap
    decoded = wire.decode_masked_input(encoded, cfg, 1)
    assert decoded.prompt == PROMPT
    assert np.array_equal(decoded.vector, vector)
    codec = CODECS[MessageType.MASKED_INPUT]
    too_big = wire.envelope(
        cfg, MessageType.MASKED_INPUT, 1, SERVER_ID, PROMPT + bytes(cfg.dim * cfg.width + 1)
    )
    assert reason_of(codec, too_big, cfg, 1) == DropReason.DECODE_FAILED


# --------------------------------------------------------------------------- share plaintext


@given(
    sender=st.integers(0, 2**32 - 1),
    recipient=st.integers(0, 2**32 - 1),
    key_share=field,
    mask_share=field,
)
@settings(max_examples=50)
def test_share_plaintext_round_trip(
    sender: int, recipient: int, key_share: int, mask_share: int
) -> None:
    plaintext = wire.encode_share_plaintext(sender, recipient, key_share, mask_share)
    assert plaintext == struct.pack(">II", sender, recipient) + key_share.to_bytes(
        33, "big"
    ) + mask_share.to_bytes(33, "big")
    assert len(plaintext) == wire.SHARE_PLAINTEXT_SIZE
    assert wire.decode_share_plaintext(plaintext, sender, recipient) == (key_share, mask_share)


def test_share_plaintext_naming_other_parties() -> None:
    plaintext = wire.encode_share_plaintext(1, 2, 3, 4)
    for sender, recipient in ((2, 1), (1, 3), (0, 2), (1, 1)):
        with pytest.raises(DecodeError) as info:
            wire.decode_share_plaintext(plaintext, sender, recipient)
        assert info.value.reason == DropReason.BAD_CIPHERTEXT


@pytest.mark.parametrize("size", [0, 8, 73, 75, 90])
def test_share_plaintext_wrong_length(size: int) -> None:
    data = (wire.encode_share_plaintext(1, 2, 3, 4) + bytes(20))[:size]
    with pytest.raises(DecodeError) as info:
        wire.decode_share_plaintext(data, 1, 2)
    assert info.value.reason == DropReason.BAD_CIPHERTEXT


@pytest.mark.parametrize("which", [0, 1])
def test_share_plaintext_share_not_below_p(which: int) -> None:
    shares = [b"\x00" * 32 + b"\x05"] * 2
    shares[which] = shamir.PRIME.to_bytes(33, "big")
    data = struct.pack(">II", 1, 2) + b"".join(shares)
    with pytest.raises(DecodeError) as info:
        wire.decode_share_plaintext(data, 1, 2)
    assert info.value.reason == DropReason.BAD_CIPHERTEXT


def test_decode_error_carries_reason_and_no_content() -> None:
    secret_like = bytes([0xAB]) * 64
    data = wire.envelope(CFG, MessageType.ADVERTISE_KEYS, 1, SERVER_ID, secret_like + b"\x00")
    with pytest.raises(DecodeError) as info:
        wire.decode_advertise_keys(data, CFG, 1)
    assert info.value.reason == DropReason.DECODE_FAILED
    assert str(info.value).startswith("DECODE_FAILED")
    assert "abab" not in str(info.value).lower()
