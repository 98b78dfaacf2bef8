"""The wire format of protocol version 2 (protocol/SPEC.md sections 1-6 and 11).

Every expected byte string here is re-derived from the SPEC with ``struct`` and ``hashlib``,
independently of :mod:`secagg.core.wire`: the session id from the 83-byte configuration
encoding (section 2), the envelope and its labeled digest (section 4), each body (section 5),
the id-set bitmaps (section 3) and the signed messages (section 6.3). A change of a single byte
in the library's encoding fails a test instead of passing as a self-consistent round trip.

Then the rejections, each with its exact ``DropReason``: the envelope checks 1-7 in order and in
combination (so the precedence shows), the per-type size cap at its exact boundary, the list
rules of 5.2 for every list, the SHARE_KEYS two-list layout, bitmaps, the ring range, share
kinds and limbs, and the share plaintext (6.4). ``protocol/wire-schema.json`` is checked against
the library and against these references at the end. The hypothesis properties (round trips of
random messages, hostile bytes) are in ``test_wire_properties.py``, which imports the reference
from here.
"""

from __future__ import annotations

import ast
import dataclasses
import enum
import functools
import hashlib
import itertools
import json
import struct
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from secagg.config import ENCODED_SIZE, MAX_CLIENTS, MAX_DIM, RoundConfig, Security
from secagg.core import wire
from secagg.core.wire import (
    AdvertiseKeys,
    ConsistencyRequest,
    ConsistencyResponse,
    ForwardEntry,
    IdSet,
    KeyEntry,
    KeyList,
    MaskedInput,
    MaskRequest,
    MessageType,
    ShareCheck,
    ShareForward,
    ShareKeys,
    ShareKind,
    UnmaskRequest,
    UnmaskResponse,
)
from secagg.crypto import aead, commit, kdf, keys, prg, shamir
from secagg.crypto.hashing import sha256 as library_sha256
from secagg.crypto.sign import SIGNATURE_SIZE, Roster, verify
from secagg.errors import AbortReason, DecodeError, DropReason

# --------------------------------------------------------------------------- SPEC constants

VERSION = 2
MAGIC = b"SAGG"
SERVER = 0xFFFFFFFF
HEADER = 48
DIGEST = 32
PRIME = 2**31 - 1
LIMBS = 9
NONCE = bytes(range(100, 132))

# Section 5.1, by value: the tests name types by the SPEC's numbers, not by the library's enum.
ADVERTISE_KEYS = 1
KEY_LIST = 2
SHARE_KEYS = 3
SHARE_FORWARD = 4
SHARE_CHECK = 5
MASK_REQUEST = 6
MASKED_INPUT = 7
CONSISTENCY_REQUEST = 8
CONSISTENCY_RESPONSE = 9
UNMASK_REQUEST = 10
UNMASK_RESPONSE = 11
TYPE_NAMES = {
    1: "ADVERTISE_KEYS",
    2: "KEY_LIST",
    3: "SHARE_KEYS",
    4: "SHARE_FORWARD",
    5: "SHARE_CHECK",
    6: "MASK_REQUEST",
    7: "MASKED_INPUT",
    8: "CONSISTENCY_REQUEST",
    9: "CONSISTENCY_RESPONSE",
    10: "UNMASK_REQUEST",
    11: "UNMASK_RESPONSE",
}
MALICIOUS_ONLY = {CONSISTENCY_REQUEST, CONSISTENCY_RESPONSE}
REPLIES = {SHARE_KEYS: KEY_LIST, SHARE_CHECK: SHARE_FORWARD, MASKED_INPUT: MASK_REQUEST}
REPLIES |= {CONSISTENCY_RESPONSE: CONSISTENCY_REQUEST, UNMASK_RESPONSE: UNMASK_REQUEST}
"""Section 5.3: each client reply and the server prompt it answers."""


def u8(value: int) -> bytes:
    return struct.pack(">B", value)


def u16(value: int) -> bytes:
    return struct.pack(">H", value)


def u32(value: int) -> bytes:
    return struct.pack(">I", value)


def labeled(label: bytes, *parts: bytes) -> bytes:
    """Section 1: ``u16(len(label)) || label || parts``."""
    return u16(len(label)) + label + b"".join(parts)


def labeled_sha256(label: bytes, *parts: bytes) -> bytes:
    return hashlib.sha256(labeled(label, *parts)).digest()


def blob(tag: int, size: int) -> bytes:
    """Recognisable filler bytes, different for every tag."""
    block = hashlib.sha256(b"blob" + tag.to_bytes(8, "big")).digest()
    return (block * (size // 32 + 1))[:size]


def bitmap(ids: Iterable[int], n: int) -> bytes:
    """Section 3: client i is bit 7 - (i mod 8) of byte floor(i / 8)."""
    out = bytearray((n + 7) // 8)
    for i in ids:
        out[i // 8] |= 0x80 >> (i % 8)
    return bytes(out)


def share_bytes(limbs: Sequence[int]) -> bytes:
    """Section 8.2: 9 limbs, u32 big-endian each."""
    assert len(limbs) == LIMBS
    return b"".join(u32(limb) for limb in limbs)


def limbs_of(tag: int) -> list[int]:
    """Nine field elements, the extremes 0 and p - 1 among them."""
    limbs = [(tag * 7919 + j * 104729 + 1) % PRIME for j in range(LIMBS)]
    limbs[tag % LIMBS] = PRIME - 1
    limbs[(tag + 4) % LIMBS] = 0
    return limbs


@functools.cache
def signing_key(client: int) -> Ed25519PrivateKey:
    return Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"d_sk" + u32(client)).digest())


def verification_key(client: int) -> bytes:
    return signing_key(client).public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)


@functools.cache
def roster(n: int) -> Roster:
    return Roster(tuple(verification_key(i) for i in range(n)))


@dataclass(frozen=True)
class Params:
    """The round parameters of section 2, and what the SPEC derives from them."""

    name: str
    n: int
    t: int
    m: int
    b: int
    k: int | None = None
    malicious: bool = False
    nonce: bytes = NONCE

    @property
    def h(self) -> int:
        return self.n if self.k is None else self.k + 1

    @property
    def w(self) -> int:
        return 4 if self.b <= 32 else 8

    @property
    def S(self) -> int:
        return 64 if self.malicious else 0

    @property
    def B(self) -> int:
        return (self.n + 7) // 8

    @property
    def mode(self) -> str:
        return "malicious" if self.malicious else "semi_honest"

    @property
    def roster_digest(self) -> bytes:
        if not self.malicious:
            return bytes(32)
        keys = b"".join(verification_key(i) for i in range(self.n))
        return labeled_sha256(b"secagg/v2/roster", keys)

    @property
    def encoding(self) -> bytes:
        head = struct.pack(
            ">BBIIIBI", VERSION, int(self.malicious), self.n, self.t, self.m, self.b, self.k or 0
        )
        return head + self.roster_digest + self.nonce

    @functools.cached_property
    def session_id(self) -> bytes:
        return labeled_sha256(b"secagg/v2/session", self.encoding)

    @functools.cached_property
    def config(self) -> RoundConfig:
        return RoundConfig(
            num_clients=self.n,
            threshold=self.t,
            dim=self.m,
            bits=self.b,
            session_nonce=self.nonce,
            neighbors=self.k,
            security=Security.MALICIOUS if self.malicious else Security.SEMI_HONEST,
            roster=roster(self.n) if self.malicious else None,
            allow_weak_threshold=True,  # the threshold policy is not on the wire
        )

    def but(self, **changes: Any) -> Params:
        return dataclasses.replace(self, **changes)

    def max_body(self, kind: int) -> int:
        """The table of section 5.1."""
        h, n, bitmap_size, sig = self.h, self.n, self.B, self.S  # SPEC: h, n, B, S
        return {
            ADVERTISE_KEYS: 64 + sig,
            KEY_LIST: 4 + h * (68 + sig),
            SHARE_KEYS: 32 + 32 + 4 + 100 * (h - 1) + 4 + 68 * h,
            SHARE_FORWARD: 4 + 164 * (h - 1),
            SHARE_CHECK: 32 + 4 + 4 * (h - 1),
            MASK_REQUEST: bitmap_size,
            MASKED_INPUT: 32 + self.m * self.w,
            CONSISTENCY_REQUEST: bitmap_size,
            CONSISTENCY_RESPONSE: 32 + 64,
            UNMASK_REQUEST: bitmap_size + 4 + 68 * n if self.malicious else bitmap_size,
            UNMASK_RESPONSE: 32 + 4 + 41 * h,
        }[kind]

    def kinds(self) -> list[int]:
        """The types a party can expect in this mode (8 and 9 only in the malicious mode)."""
        return [k for k in TYPE_NAMES if self.malicious or k not in MALICIOUS_ONLY]


BASES = [
    Params("semi-complete", n=11, t=6, m=5, b=20),
    Params("semi-plus", n=16, t=3, m=4, b=20, k=4),
    Params("mal-complete", n=9, t=7, m=3, b=20, malicious=True),
    Params("mal-plus", n=8, t=4, m=6, b=20, k=4, malicious=True),
]
"""Both modes, the complete graph and SecAgg+; n a multiple of 8 and not."""
WIDE = [p.but(name=p.name + "-w8", b=40) for p in BASES]
CONFIGS = BASES + WIDE
"""Both ring widths (w = 4 and w = 8) for every base."""
PARTY = 3
"""The client at the other end of the channel in the examples."""


def raw_envelope(
    session_id: bytes,
    kind: int,
    sender: int,
    recipient: int,
    body: bytes,
    *,
    magic: bytes = MAGIC,
    version: int = VERSION,
    flags: int = 0,
) -> bytes:
    """Section 4: ``header (48) || body || labeled_sha256("secagg/v2/digest", header || body)``."""
    head = magic + u8(version) + u8(kind) + u16(flags) + session_id + u32(sender) + u32(recipient)
    assert len(head) == HEADER
    return head + body + labeled_sha256(b"secagg/v2/digest", head, body)


# --------------------------------------------------------------------------- codecs


@dataclass(frozen=True)
class Codec:
    kind: int
    encode: Callable[[RoundConfig, int, Any], bytes]
    decode: Callable[[Any, RoundConfig, int], Any]
    to_server: bool

    def channel(self, party: int) -> tuple[int, int]:
        """(sender, recipient) of a message on ``party``'s channel."""
        return (party, SERVER) if self.to_server else (SERVER, party)


CODECS = {
    ADVERTISE_KEYS: Codec(1, wire.encode_advertise_keys, wire.decode_advertise_keys, True),
    KEY_LIST: Codec(2, wire.encode_key_list, wire.decode_key_list, False),
    SHARE_KEYS: Codec(3, wire.encode_share_keys, wire.decode_share_keys, True),
    SHARE_FORWARD: Codec(4, wire.encode_share_forward, wire.decode_share_forward, False),
    SHARE_CHECK: Codec(5, wire.encode_share_check, wire.decode_share_check, True),
    MASK_REQUEST: Codec(6, wire.encode_mask_request, wire.decode_mask_request, False),
    MASKED_INPUT: Codec(7, wire.encode_masked_input, wire.decode_masked_input, True),
    CONSISTENCY_REQUEST: Codec(
        8, wire.encode_consistency_request, wire.decode_consistency_request, False
    ),
    CONSISTENCY_RESPONSE: Codec(
        9, wire.encode_consistency_response, wire.decode_consistency_response, True
    ),
    UNMASK_REQUEST: Codec(10, wire.encode_unmask_request, wire.decode_unmask_request, False),
    UNMASK_RESPONSE: Codec(11, wire.encode_unmask_response, wire.decode_unmask_response, True),
}


def reason_of(kind: int, data: Any, p: Params, party: int = PARTY) -> DropReason:
    """The DropReason the decoder of ``kind`` refuses ``data`` with (it must refuse it)."""
    with pytest.raises(DecodeError) as info:
        CODECS[kind].decode(data, p.config, party)
    assert type(info.value.reason) is DropReason
    return info.value.reason


def sealed(p: Params, kind: int, body: bytes, party: int = PARTY) -> bytes:
    """``body`` in a valid envelope of ``kind`` on ``party``'s channel."""
    return raw_envelope(p.session_id, kind, *CODECS[kind].channel(party), body)


def norm(value: object) -> object:
    """A message as nested plain values, types included (bytes must be bytes, ids Python ints,
    kinds ShareKind, sequences tuples), so that equality also checks what the decoder returns."""
    if isinstance(value, np.ndarray):
        return ("ndarray", value.dtype.str, value.shape, value.tolist())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = dataclasses.fields(value)
        items = tuple((f.name, norm(getattr(value, f.name))) for f in fields if f.compare)
        return (type(value).__name__, items)
    if type(value) is tuple:
        return ("tuple", tuple(norm(item) for item in value))
    if isinstance(value, enum.Enum):
        return (type(value).__name__, value.value)
    if type(value) in (bytes, int):
        return (type(value).__name__, value)
    raise AssertionError(f"unexpected {type(value).__name__} in a message")


# --------------------------------------------------------------------------- samples


@dataclass(frozen=True)
class Sample:
    """One message three ways: the library's object, the SPEC's body bytes, and its fields as
    wire-schema.json names them."""

    kind: int
    msg: Any
    body: bytes
    fields: dict[str, Any]


def spread(count: int, n: int) -> list[int]:
    """``count <= n`` strictly increasing ids in ``[0, n)``, from 0 up to n - 1."""
    if count <= 1:
        return [n - 1][:count]
    ids = [i * (n - 1) // (count - 1) for i in range(count)]
    assert len(set(ids)) == count
    return ids


def ring_values(p: Params) -> list[int]:
    top = (1 << p.b) - 1
    values = [(i * 0x9E3779B97F4A7C15 + 0x1234567) & top for i in range(p.m)]
    values[0] = top
    if p.m > 1:
        values[1] = 0
    return values


def prompt_for(kind: int) -> bytes:
    return blob(9000 + kind, 32)


def sample(p: Params, kind: int, size: str = "typical") -> Sample:
    """A message of ``kind`` for ``p``: ``size`` is "empty" (no list entries, empty id sets),
    "typical" (a few) or "full" (every list at its cap, id sets full: exactly max_body)."""
    assert size in ("empty", "typical", "full")
    mal = p.malicious

    def count(cap: int, typical: int = 2) -> int:
        return {"empty": 0, "typical": min(typical, cap), "full": cap}[size]

    def sig(tag: int) -> bytes:
        return blob(tag, 64) if mal else b""

    prompt = prompt_for(kind)
    if kind == ADVERTISE_KEYS:
        c, s, signature = blob(1, 32), blob(2, 32), sig(3)
        fields: dict[str, Any] = {"c_public": c, "s_public": s}
        if mal:
            fields["signature"] = signature
        return Sample(kind, AdvertiseKeys(c, s, signature), c + s + signature, fields)
    if kind == KEY_LIST:
        ids = spread(count(p.h, 3), p.n)
        keys = [(i, blob(10 + i, 32), blob(100 + i, 32), sig(200 + i)) for i in ids]
        body = u32(len(keys)) + b"".join(u32(i) + c + s + g for i, c, s, g in keys)
        entries = []
        for i, c, s, g in keys:
            entry = {"client": i, "c_public": c, "s_public": s}
            entries.append(entry | ({"signature": g} if mal else {}))
        key_list = KeyList(tuple(KeyEntry(i, c, s, g) for i, c, s, g in keys))
        return Sample(kind, key_list, body, {"entries": entries})
    if kind == SHARE_KEYS:
        c_b = blob(8, 32)
        cts = [(i, blob(300 + i, 96)) for i in spread(count(p.h - 1), p.n)]
        commits = [(i, blob(400 + i, 32), blob(500 + i, 32)) for i in spread(count(p.h, 3), p.n)]
        body = (
            prompt
            + c_b
            + u32(len(cts))
            + b"".join(u32(i) + e for i, e in cts)
            + u32(len(commits))
            + b"".join(u32(i) + ck + cm for i, ck, cm in commits)
        )
        fields = {
            "prompt": prompt,
            "self_mask_commitment": c_b,
            "ciphertexts": [{"peer": i, "ciphertext": e} for i, e in cts],
            "commitments": [{"holder": i, "c_key": ck, "c_mask": cm} for i, ck, cm in commits],
        }
        return Sample(kind, ShareKeys(c_b, tuple(cts), tuple(commits), prompt), body, fields)
    if kind == SHARE_FORWARD:
        ids = spread(count(p.h - 1), p.n)
        rows = [(i, blob(600 + i, 96), blob(700 + i, 32), blob(800 + i, 32)) for i in ids]
        body = u32(len(rows)) + b"".join(u32(i) + e + ck + cm for i, e, ck, cm in rows)
        forward = ShareForward(tuple(ForwardEntry(*row) for row in rows))
        names = ("sender", "ciphertext", "c_key", "c_mask")
        entries = [dict(zip(names, row, strict=True)) for row in rows]
        return Sample(kind, forward, body, {"entries": entries})
    if kind == SHARE_CHECK:
        ids = spread(count(p.h - 1), p.n)
        body = prompt + u32(len(ids)) + b"".join(u32(i) for i in ids)
        fields = {"prompt": prompt, "accused": [{"accused": i} for i in ids]}
        return Sample(kind, ShareCheck(tuple(ids), prompt), body, fields)
    if kind in (MASK_REQUEST, CONSISTENCY_REQUEST):
        ids = spread(count(p.n, 4), p.n)
        id_set = IdSet.of(ids, p.n)
        if kind == MASK_REQUEST:
            return Sample(kind, MaskRequest(id_set), bitmap(ids, p.n), {"u2": ids})
        return Sample(kind, ConsistencyRequest(id_set), bitmap(ids, p.n), {"u3": ids})
    if kind == MASKED_INPUT:
        values = ring_values(p)
        body = prompt + b"".join(v.to_bytes(p.w, "little") for v in values)
        vector = np.array(values, dtype="<u4" if p.w == 4 else "<u8")
        return Sample(kind, MaskedInput(vector, prompt), body, {"prompt": prompt, "vector": values})
    if kind == CONSISTENCY_RESPONSE:
        signature = blob(900, 64)
        fields = {"prompt": prompt, "signature": signature}
        return Sample(kind, ConsistencyResponse(signature, prompt), prompt + signature, fields)
    if kind == UNMASK_REQUEST:
        u3 = spread(count(p.n, 4), p.n)
        body, fields = bitmap(u3, p.n), {"u3": u3}
        signatures: list[tuple[int, bytes]] = []
        if mal:
            signatures = [(i, blob(1000 + i, 64)) for i in spread(count(p.n), p.n)]
            body += u32(len(signatures)) + b"".join(u32(i) + g for i, g in signatures)
            fields["signatures"] = [{"signer": i, "signature": g} for i, g in signatures]
        return Sample(kind, UnmaskRequest(IdSet.of(u3, p.n), tuple(signatures)), body, fields)
    assert kind == UNMASK_RESPONSE
    rows3 = [(i, (i + 1) % 2, share_bytes(limbs_of(i))) for i in spread(count(p.h), p.n)]
    body = prompt + u32(len(rows3)) + b"".join(u32(i) + u8(c) + y for i, c, y in rows3)
    response = UnmaskResponse(tuple((i, ShareKind(c), y) for i, c, y in rows3), prompt)
    shares = [{"peer": i, "kind": c, "share": y} for i, c, y in rows3]
    return Sample(kind, response, body, {"prompt": prompt, "shares": shares})


def cases(params: Sequence[Params] = CONFIGS, kinds: Iterable[int] | None = None) -> list[Any]:
    """pytest params (p, kind) for every type each configuration's mode can expect."""
    out = []
    for p in params:
        for kind in p.kinds() if kinds is None else kinds:
            if kind in p.kinds():
                out.append(pytest.param(p, kind, id=f"{p.name}-{TYPE_NAMES[kind]}"))
    return out


# --------------------------------------------------------------------------- constants, codes


def test_constants_and_reason_codes_are_the_spec_tables() -> None:
    assert (wire.MAGIC, wire.SERVER_ID) == (MAGIC, SERVER)
    assert (wire.HEADER_SIZE, wire.DIGEST_SIZE) == (HEADER, DIGEST)
    assert (wire.SHARE_SIZE, wire.SHARE_PLAINTEXT_SIZE, wire.SHARE_CIPHERTEXT_SIZE) == (36, 80, 96)
    assert {t.name: t.value for t in MessageType} == {v: k for k, v in TYPE_NAMES.items()}
    assert {k.name: k.value for k in ShareKind} == {"KEY": 0, "SELF_MASK": 1}
    # Section 11.1 and 11.2.
    assert {r.name: r.value for r in DropReason} == {
        "DECODE_FAILED": 1,
        "UNEXPECTED_MESSAGE": 2,
        "WRONG_SESSION": 3,
        "MISADDRESSED": 4,
        "BAD_CIPHERTEXT": 5,
        "INVALID_CONTENT": 6,
        "TIMED_OUT": 7,
        "BAD_SHARE": 8,
        "PROMPT_MISMATCH": 9,
        "BAD_SIGNATURE": 10,
        "SHARES_REJECTED": 11,
        "UNKNOWN_CLIENT": 12,
    }
    assert {r.name: r.value for r in AbortReason} == {
        "BELOW_THRESHOLD": 1,
        "INCONSISTENT_VIEW": 2,
        "INSUFFICIENT_SHARES": 3,
        "INCONSISTENT_SHARES": 4,
        "INVALID_MESSAGE": 5,
        "KEY_AGREEMENT_FAILED": 6,
        "AGGREGATE_OUT_OF_RANGE": 7,
        "BAD_SIGNATURE": 8,
        "CONSISTENCY_CHECK_FAILED": 9,
    }


EXTRA = [
    Params("n1", n=1, t=1, m=1, b=1),
    Params("n4-k2", n=4, t=2, m=2, b=32, k=2),
    Params("n100-k10", n=100, t=6, m=1000, b=64, k=10),
    Params("mal-n1", n=1, t=1, m=7, b=33, malicious=True),
    Params("mal-n33-k6", n=33, t=4, m=2, b=63, k=6, malicious=True),
]


@pytest.mark.parametrize("p", CONFIGS + EXTRA, ids=lambda p: p.name)
def test_session_id_hashes_the_83_byte_configuration(p: Params) -> None:
    """Section 2: the configuration encoding, and the session id every header carries."""
    assert len(p.encoding) == 83
    assert p.config.encode() == p.encoding
    assert p.config.session_id == p.session_id


@pytest.mark.parametrize("p", CONFIGS + EXTRA, ids=lambda p: p.name)
def test_max_body_is_the_table_of_5_1(p: Params) -> None:
    for kind in TYPE_NAMES:
        if kind in p.kinds():
            assert wire.max_body_size(p.config, MessageType(kind)) == p.max_body(kind)
            assert wire.max_message_size(p.config, MessageType(kind)) == 80 + p.max_body(kind)


# --------------------------------------------------------------------------- layouts


@pytest.mark.parametrize("size", ["empty", "typical", "full"])
@pytest.mark.parametrize(("p", "kind"), cases())
def test_encoding_is_the_spec_layout_and_decodes_to_its_fields(
    p: Params, kind: int, size: str
) -> None:
    s = sample(p, kind, size)
    codec = CODECS[kind]
    encoded = codec.encode(p.config, PARTY, s.msg)
    assert encoded == sealed(p, kind, s.body)
    for form in (encoded, bytearray(encoded), memoryview(encoded)):
        assert norm(codec.decode(form, p.config, PARTY)) == norm(s.msg)
    if size == "full":  # every list at its cap: exactly the largest body, still accepted
        assert len(s.body) == p.max_body(kind)
    assert len(s.body) <= p.max_body(kind)


@pytest.mark.parametrize("kind", sorted(REPLIES))
def test_reply_starts_with_the_prompt_digest(kind: int) -> None:
    """Section 5.3: the echo is the last 32 bytes of the prompt envelope, as received."""
    p = BASES[2]
    prompt_kind = REPLIES[kind]
    prompt = CODECS[prompt_kind].encode(p.config, PARTY, sample(p, prompt_kind).msg)
    echo = wire.prompt_digest(prompt)
    assert echo == prompt[-32:] and type(echo) is bytes
    reply = dataclasses.replace(sample(p, kind).msg, prompt=echo)
    encoded = CODECS[kind].encode(p.config, PARTY, reply)
    assert encoded[HEADER : HEADER + 32] == echo
    assert CODECS[kind].decode(encoded, p.config, PARTY).prompt == echo


@pytest.mark.parametrize("kind", sorted(REPLIES))
@pytest.mark.parametrize("p", BASES[2:], ids=lambda p: p.name)
def test_reply_body_shorter_than_the_prompt_is_decode_failed(p: Params, kind: int) -> None:
    for size in range(32):
        body = sample(p, kind).body[:size]
        assert reason_of(kind, sealed(p, kind, body), p) == DropReason.DECODE_FAILED, size


# --------------------------------------------------------------------------- signatures


@pytest.mark.parametrize("p", [p for p in CONFIGS if p.malicious], ids=lambda p: p.name)
def test_advertise_signature_is_over_the_spec_message(p: Params) -> None:
    """Section 5.4: labeled("secagg/v2/advertise", session_id || u32(u) || c_u^PK || s_u^PK)."""
    c, s = blob(1, 32), blob(2, 32)
    message = labeled(b"secagg/v2/advertise", p.session_id, u32(PARTY), c, s)
    signature = signing_key(PARTY).sign(message)
    parts = wire.advertise_signed_parts(p.config, PARTY, c, s)
    assert labeled(wire.LABEL_ADVERTISE, *parts) == message
    assert verify(verification_key(PARTY), signature, wire.LABEL_ADVERTISE, *parts)
    other = wire.advertise_signed_parts(p.config, PARTY + 1, c, s)
    assert not verify(verification_key(PARTY), signature, wire.LABEL_ADVERTISE, *other)
    # The signature travels as the last 64 bytes of the body.
    encoded = wire.encode_advertise_keys(p.config, PARTY, AdvertiseKeys(c, s, signature))
    assert encoded[HEADER:-DIGEST] == c + s + signature


@pytest.mark.parametrize("p", [p for p in CONFIGS if p.malicious], ids=lambda p: p.name)
def test_consistency_signature_is_over_the_spec_message(p: Params) -> None:
    """Section 5.11: labeled("secagg/v2/consistency", session_id || U3 bitmap (B))."""
    u3 = spread(3, p.n)
    message = labeled(b"secagg/v2/consistency", p.session_id, bitmap(u3, p.n))
    signature = signing_key(PARTY).sign(message)
    parts = wire.consistency_signed_parts(p.config, IdSet.of(u3, p.n))
    assert labeled(wire.LABEL_CONSISTENCY, *parts) == message
    assert verify(verification_key(PARTY), signature, wire.LABEL_CONSISTENCY, *parts)
    other = wire.consistency_signed_parts(p.config, IdSet.of(u3[:-1], p.n))
    assert not verify(verification_key(PARTY), signature, wire.LABEL_CONSISTENCY, *other)
    response = ConsistencyResponse(signature, prompt_for(CONSISTENCY_RESPONSE))
    encoded = wire.encode_consistency_response(p.config, PARTY, response)
    assert encoded[HEADER:-DIGEST] == prompt_for(CONSISTENCY_RESPONSE) + signature


# --------------------------------------------------------------------------- envelope checks

OTHER_NONCE = bytes(range(200, 232))


def forge(
    p: Params,
    kind: int,
    *,
    length: str = "ok",
    header: str = "ok",
    digest: bool = False,
    session: bool = False,
    type_: bool = False,
    address: bool = False,
) -> bytes:
    """A message of ``kind`` on PARTY's channel that breaks the chosen envelope checks:
    ``length`` "short" (79 bytes, check 1) or "long" (one byte over the cap, check 2),
    ``header`` "magic", "version" or "flags" (check 3), ``digest`` (check 4), ``session``
    (check 5), ``type_`` (check 6), ``address`` (check 7)."""
    codec = CODECS[kind]
    body = bytes(p.max_body(kind) + 1) if length == "long" else sample(p, kind).body
    sender, recipient = codec.channel(PARTY)
    if address:
        if codec.to_server:
            sender = PARTY + 1
        else:
            recipient = PARTY + 1
    data = raw_envelope(
        p.but(nonce=OTHER_NONCE).session_id if session else p.session_id,
        kind % 11 + 1 if type_ else kind,
        sender,
        recipient,
        body,
        magic=b"SAGH" if header == "magic" else MAGIC,
        version=1 if header == "version" else VERSION,
        flags=1 if header == "flags" else 0,
    )
    if digest:
        data = data[:-1] + bytes([data[-1] ^ 0x01])
    if length == "short":
        data = data[: HEADER + DIGEST - 1]
    return data


@pytest.mark.parametrize(("p", "kind"), cases())
def test_envelope_checks_apply_in_order(p: Params, kind: int) -> None:
    """Section 4: every combination of broken checks; the first broken one decides."""
    combos = itertools.product(
        ("ok", "short", "long"),
        ("ok", "magic", "version", "flags"),
        itertools.product((False, True), repeat=4),
    )
    for length, header, (digest, session, type_, address) in combos:
        data = forge(
            p,
            kind,
            length=length,
            header=header,
            digest=digest,
            session=session,
            type_=type_,
            address=address,
        )
        if length != "ok" or header != "ok" or digest:
            expected = DropReason.DECODE_FAILED  # checks 1-4
        elif session:
            expected = DropReason.WRONG_SESSION
        elif type_:
            expected = DropReason.UNEXPECTED_MESSAGE
        elif address:
            expected = DropReason.MISADDRESSED
        else:
            decoded = CODECS[kind].decode(data, p.config, PARTY)
            assert norm(decoded) == norm(sample(p, kind).msg)
            continue
        breaks = (length, header, digest, session, type_, address)
        assert reason_of(kind, data, p) == expected, breaks


@pytest.mark.parametrize(("p", "kind"), cases(BASES))
def test_length_rules_at_their_exact_boundaries(p: Params, kind: int) -> None:
    """Checks 1 and 2 at the boundary: a message of another session shows which side of each
    length rule it is on (WRONG_SESSION: it passed them; DECODE_FAILED: it did not)."""
    other = p.but(nonce=OTHER_NONCE).session_id
    channel = CODECS[kind].channel(PARTY)
    cap = p.max_body(kind)
    assert len(raw_envelope(other, kind, *channel, b"")) == 80
    assert reason_of(kind, raw_envelope(other, kind, *channel, b""), p) == (
        DropReason.WRONG_SESSION
    )
    assert reason_of(kind, raw_envelope(other, kind, *channel, b"")[:79], p) == (
        DropReason.DECODE_FAILED
    )
    at_cap = raw_envelope(other, kind, *channel, blob(7, cap))
    assert len(at_cap) == HEADER + cap + DIGEST
    assert reason_of(kind, at_cap, p) == DropReason.WRONG_SESSION
    over = raw_envelope(other, kind, *channel, blob(7, cap + 1))
    assert reason_of(kind, over, p) == DropReason.DECODE_FAILED
    for size in range(80):
        assert reason_of(kind, bytes(size), p) == DropReason.DECODE_FAILED


@pytest.mark.parametrize(("p", "kind"), cases(BASES))
def test_size_cap_is_checked_before_any_hashing(
    p: Params, kind: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Check 2 "before any hashing": an over-long message is refused without computing its
    digest (the spy counts the library's SHA-256 calls), a message at the cap is hashed."""
    calls: list[int] = []

    def spy(label: bytes, *parts: bytes | memoryview) -> bytes:
        calls.append(sum(len(part) for part in parts))
        return library_sha256(label, *parts)

    monkeypatch.setattr(wire, "sha256", spy)
    for body_size in (p.max_body(kind) + 1, p.max_body(kind) + 1000, 1 << 20):
        assert reason_of(kind, sealed(p, kind, bytes(body_size)), p) == DropReason.DECODE_FAILED
    assert calls == []
    with pytest.raises(DecodeError):  # zeros at the cap: hashed, then refused by the body rules
        CODECS[kind].decode(sealed(p, kind, blob(5, p.max_body(kind)))[:-1] + b"\x00", p.config, 3)
    assert calls == [HEADER + p.max_body(kind)]


@pytest.mark.parametrize("p", BASES, ids=lambda p: p.name)
def test_another_type_fails_the_size_cap_when_longer_else_the_type_check(p: Params) -> None:
    """Check 2 uses the *expected* type: a larger message of another type fails check 2
    (DECODE_FAILED), not check 6; one that fits fails check 6 (UNEXPECTED_MESSAGE)."""
    outcomes = set()
    for expected, actual in itertools.permutations(p.kinds(), 2):
        for size in ("empty", "typical", "full"):
            body = sample(p, actual, size).body
            data = raw_envelope(p.session_id, actual, *CODECS[expected].channel(PARTY), body)
            too_long = len(body) > p.max_body(expected)
            want = DropReason.DECODE_FAILED if too_long else DropReason.UNEXPECTED_MESSAGE
            assert reason_of(expected, data, p) == want, (expected, actual, size)
            outcomes.add(too_long)
    assert outcomes == {True, False}


@pytest.mark.parametrize("type_byte", [0, 12, 13, 64, 128, 255])
@pytest.mark.parametrize(("p", "kind"), cases(BASES))
def test_unknown_type_values_fail_the_type_check(p: Params, kind: int, type_byte: int) -> None:
    data = raw_envelope(p.session_id, type_byte, *CODECS[kind].channel(PARTY), sample(p, kind).body)
    assert reason_of(kind, data, p) == DropReason.UNEXPECTED_MESSAGE


@pytest.mark.parametrize("p", [p for p in BASES if not p.malicious], ids=lambda p: p.name)
def test_semi_honest_party_never_expects_consistency_types(p: Params) -> None:
    """Types 8 and 9 occur only in the malicious mode; in the semi-honest mode they are just
    other types (check 6)."""
    for kind in p.kinds():
        for type_byte in (CONSISTENCY_REQUEST, CONSISTENCY_RESPONSE):
            body = sample(p, kind, "empty").body
            data = raw_envelope(p.session_id, type_byte, *CODECS[kind].channel(PARTY), body)
            assert reason_of(kind, data, p) == DropReason.UNEXPECTED_MESSAGE


HEADER_BREAKS = [
    {"magic": b"SAGH"},
    {"magic": b"sagg"},
    {"magic": bytes(4)},
    {"version": 0},
    {"version": 1},
    {"version": 3},
    {"version": 255},
    {"flags": 1},
    {"flags": 0x0100},
    {"flags": 0x8000},
    {"flags": 0xFFFF},
]


@pytest.mark.parametrize("header", HEADER_BREAKS, ids=str)
@pytest.mark.parametrize(("p", "kind"), cases(BASES))
def test_bad_magic_version_or_flags(p: Params, kind: int, header: dict[str, Any]) -> None:
    """Check 3, with a valid digest; also before the session check."""
    for session in (p.session_id, p.but(nonce=OTHER_NONCE).session_id):
        channel = CODECS[kind].channel(PARTY)
        data = raw_envelope(session, kind, *channel, sample(p, kind).body, **header)
        assert reason_of(kind, data, p) == DropReason.DECODE_FAILED


@pytest.mark.parametrize(("p", "kind"), cases(BASES))
def test_any_corrupted_or_truncated_byte_is_decode_failed(p: Params, kind: int) -> None:
    """Check 4: one flipped bit anywhere, in the header included (a flipped session, type or
    sender byte fails the digest before checks 5-7), or any truncation, is DECODE_FAILED."""
    encoded = CODECS[kind].encode(p.config, PARTY, sample(p, kind).msg)
    for i in range(len(encoded)):
        for bit in (0x01, 0x80):
            flipped = encoded[:i] + bytes([encoded[i] ^ bit]) + encoded[i + 1 :]
            assert reason_of(kind, flipped, p) == DropReason.DECODE_FAILED, (i, bit)
    for cut in range(len(encoded)):
        assert reason_of(kind, encoded[:cut], p) == DropReason.DECODE_FAILED, cut
    assert reason_of(kind, encoded + b"\x00", p) == DropReason.DECODE_FAILED


def session_variants(p: Params) -> list[tuple[str, RoundConfig]]:
    """Configurations that share ``p``'s nonce (or not) but differ in one parameter."""
    out = [
        ("nonce", p.but(nonce=OTHER_NONCE).config),
        ("t", p.but(t=p.t - 1).config),
        ("m", p.but(m=p.m - 1).config),
        ("b", p.but(b=p.b + 1).config),
        ("k", p.but(k=(p.n - 2) // 2 * 2 if p.k is None else None).config),
        ("mode", p.but(malicious=not p.malicious).config),
    ]
    if p.malicious:
        keys = tuple(verification_key(i + 1) for i in range(p.n))
        out.append(("roster", dataclasses.replace(p.config, roster=Roster(keys))))
    return out


@pytest.mark.parametrize(("p", "kind"), cases(BASES))
def test_wrong_session(p: Params, kind: int) -> None:
    """Check 5: the same nonce with other parameters is another session (section 2)."""
    for name, other in session_variants(p):
        assert other.session_id != p.session_id, name
        modes = {other.malicious, p.malicious}
        if kind in MALICIOUS_ONLY and modes != {True}:
            continue
        body = sample(p, kind, "empty").body
        data = raw_envelope(other.session_id, kind, *CODECS[kind].channel(PARTY), body)
        assert reason_of(kind, data, p) == DropReason.WRONG_SESSION, name


@pytest.mark.parametrize(("p", "kind"), cases(BASES))
def test_misaddressed(p: Params, kind: int) -> None:
    """Check 7: the header's sender and recipient must be the channel's."""
    codec = CODECS[kind]
    s = sample(p, kind)
    encoded = codec.encode(p.config, PARTY, s.msg)
    assert reason_of(kind, encoded, p, party=PARTY + 1) == DropReason.MISADDRESSED
    assert reason_of(kind, encoded, p, party=0) == DropReason.MISADDRESSED
    if codec.to_server:
        headers = [(PARTY, 0), (PARTY, PARTY), (PARTY + 1, SERVER), (SERVER, SERVER)]
        headers += [(SERVER, PARTY), (PARTY, SERVER - 1), (PARTY + 2**16, SERVER)]
    else:
        headers = [(0, PARTY), (PARTY, PARTY), (SERVER, PARTY + 1), (SERVER, SERVER)]
        headers += [(PARTY, SERVER), (SERVER - 1, PARTY), (SERVER, PARTY + 2**16)]
    for header in headers:
        data = raw_envelope(p.session_id, kind, *header, s.body)
        assert reason_of(kind, data, p) == DropReason.MISADDRESSED, header


# --------------------------------------------------------------------------- ADVERTISE_KEYS


@pytest.mark.parametrize("p", BASES, ids=lambda p: p.name)
def test_advertise_keys_body_is_exactly_64_plus_s(p: Params) -> None:
    """Section 5.4: any body length but 64 + S is DECODE_FAILED (a semi-honest body with a
    signature, a malicious one without)."""
    for size in range(p.max_body(ADVERTISE_KEYS) + 66):
        body = blob(size, size)
        data = sealed(p, ADVERTISE_KEYS, body)
        if size != 64 + p.S:
            assert reason_of(ADVERTISE_KEYS, data, p) == DropReason.DECODE_FAILED, size
            continue
        decoded = wire.decode_advertise_keys(data, p.config, PARTY)
        assert norm(decoded) == norm(AdvertiseKeys(body[:32], body[32:64], body[64:]))


# --------------------------------------------------------------------------- lists (5.2)


@dataclass(frozen=True)
class ListSpec:
    """One list of one message type: what comes before its count and after its entries in a
    valid body, its cap and entry size (section 5), and where its ids are in the decoded
    message."""

    name: str
    kind: int
    cap: Callable[[Params], int]
    entry_size: Callable[[Params], int]
    rest: Callable[[Params, int], bytes]
    """An entry's bytes after its u32 id (valid content)."""
    ids: Callable[[Any], list[int]]
    before: Callable[[Params], bytes] = lambda p: b""
    after: Callable[[Params], bytes] = lambda p: b""
    malicious_only: bool = False

    def body(
        self, p: Params, ids: Sequence[int], count: int | None = None, *, cut: int = 0
    ) -> bytes:
        """A body whose list has ``ids`` (entries valid but for their ids), ``count`` in its
        count field (default: the number of entries), its entries minus the last ``cut``
        bytes."""
        entries = b"".join(u32(i) + self.rest(p, i) for i in ids)
        assert all(len(self.rest(p, i)) + 4 == self.entry_size(p) for i in ids)
        entries = entries[: len(entries) - cut]
        head = self.before(p) + u32(len(ids) if count is None else count)
        return head + entries + self.after(p)

    def decode_ids(self, p: Params, body: bytes) -> list[int]:
        return self.ids(CODECS[self.kind].decode(sealed(p, self.kind, body), p.config, PARTY))


def _share_keys_head(p: Params) -> bytes:
    return prompt_for(SHARE_KEYS) + blob(8, 32)


LISTS = [
    ListSpec(
        "KEY_LIST.entries",
        KEY_LIST,
        cap=lambda p: p.h,
        entry_size=lambda p: 68 + p.S,
        rest=lambda p, i: blob(10 + i, 32) + blob(100 + i, 32) + blob(200 + i, p.S),
        ids=lambda m: [e.client for e in m.entries],
    ),
    ListSpec(
        "SHARE_KEYS.ciphertexts",
        SHARE_KEYS,
        cap=lambda p: p.h - 1,
        entry_size=lambda p: 100,
        rest=lambda p, i: blob(300 + i, 96),
        ids=lambda m: [peer for peer, _ in m.ciphertexts],
        before=_share_keys_head,
        after=lambda p: u32(1) + u32(0) + blob(400, 64),
    ),
    ListSpec(
        "SHARE_KEYS.commitments",
        SHARE_KEYS,
        cap=lambda p: p.h,
        entry_size=lambda p: 68,
        rest=lambda p, i: blob(400 + i, 64),
        ids=lambda m: [holder for holder, _, _ in m.commitments],
        before=lambda p: _share_keys_head(p) + u32(1) + u32(0) + blob(300, 96),
    ),
    ListSpec(
        "SHARE_FORWARD.entries",
        SHARE_FORWARD,
        cap=lambda p: p.h - 1,
        entry_size=lambda p: 164,
        rest=lambda p, i: blob(600 + i, 160),
        ids=lambda m: [e.sender for e in m.entries],
    ),
    ListSpec(
        "SHARE_CHECK.accused",
        SHARE_CHECK,
        cap=lambda p: p.h - 1,
        entry_size=lambda p: 4,
        rest=lambda p, i: b"",
        ids=lambda m: list(m.accused),
        before=lambda p: prompt_for(SHARE_CHECK),
    ),
    ListSpec(
        "UNMASK_REQUEST.signatures",
        UNMASK_REQUEST,
        cap=lambda p: p.n,
        entry_size=lambda p: 68,
        rest=lambda p, i: blob(1000 + i, 64),
        ids=lambda m: [signer for signer, _ in m.signatures],
        before=lambda p: bitmap(spread(3, p.n), p.n),
        malicious_only=True,
    ),
    ListSpec(
        "UNMASK_RESPONSE.shares",
        UNMASK_RESPONSE,
        cap=lambda p: p.h,
        entry_size=lambda p: 41,
        rest=lambda p, i: u8(i % 2) + share_bytes(limbs_of(i)),
        ids=lambda m: [peer for peer, _, _ in m.shares],
        before=lambda p: prompt_for(UNMASK_RESPONSE),
    ),
]


def list_cases() -> list[Any]:
    return [
        pytest.param(spec, p, id=f"{spec.name}-{p.name}")
        for spec in LISTS
        for p in BASES
        if p.malicious or not spec.malicious_only
    ]


@pytest.mark.parametrize(("spec", "p"), list_cases())
def test_list_count_at_the_cap_decodes(spec: ListSpec, p: Params) -> None:
    """Rule 2 boundary: exactly ``cap`` entries (and none) is accepted."""
    for ids in (spread(spec.cap(p), p.n), []):
        body = spec.body(p, ids)
        assert len(body) <= p.max_body(spec.kind)
        assert spec.decode_ids(p, body) == ids


@pytest.mark.parametrize(("spec", "p"), list_cases())
def test_list_count_one_above_the_cap_is_decode_failed(spec: ListSpec, p: Params) -> None:
    """Rule 2: cap + 1 entries, or a count of cap + 1 (or far more) over ``cap`` entries.
    (For every list but SHARE_KEYS', cap + 1 entries are also longer than max_body, so the size
    cap refuses them first - with the same reason; see test_share_keys_count_cap_alone.)"""
    cap = spec.cap(p)
    over = spread(cap + 1, p.n) if cap + 1 <= p.n else [*range(cap), p.n]
    assert reason_of(spec.kind, sealed(p, spec.kind, spec.body(p, over)), p) == (
        DropReason.DECODE_FAILED
    )
    at_cap = spread(cap, p.n)
    for count in (cap + 1, cap + 2, 2**31, 2**32 - 1):
        body = spec.body(p, at_cap, count)
        assert reason_of(spec.kind, sealed(p, spec.kind, body), p) == DropReason.DECODE_FAILED


@pytest.mark.parametrize(("spec", "p"), list_cases())
def test_list_without_room_for_its_count_is_decode_failed(spec: ListSpec, p: Params) -> None:
    """Rule 1: fewer than 4 bytes where the count goes (the body ends there)."""
    for size in range(4):
        body = spec.before(p) + b"\x00" * size
        assert reason_of(spec.kind, sealed(p, spec.kind, body), p) == DropReason.DECODE_FAILED


@pytest.mark.parametrize(("spec", "p"), list_cases())
def test_list_length_must_match_its_count(spec: ListSpec, p: Params) -> None:
    """Rule 3: a count one off, entries a byte short or long, entries behind a zero count."""
    ids = [0, p.n - 1]
    assert spec.decode_ids(p, spec.body(p, ids)) == ids
    bad = [spec.body(p, ids, count) for count in (0, 1, 3, 4)]
    bad.append(spec.body(p, ids, cut=1))
    bad.append(spec.body(p, ids, cut=spec.entry_size(p)))  # count 2, one entry
    longer = spec.body(p, ids)
    tail_at = len(longer) - len(spec.after(p))
    bad.append(longer[:tail_at] + b"\x00" + longer[tail_at:])  # one byte more
    bad.append(longer[:tail_at] + u32(5) + longer[tail_at:])  # part of a third entry
    for body in bad:
        assert reason_of(spec.kind, sealed(p, spec.kind, body), p) == DropReason.DECODE_FAILED


BAD_IDS: list[Callable[[int], list[int]]] = [
    lambda n: [1, 1],  # repeated
    lambda n: [0, 2, 2],
    lambda n: [2, 1],  # decreasing
    lambda n: [0, 3, 1],
    lambda n: [n],  # >= n
    lambda n: [0, n],
    lambda n: [n + 1],
    lambda n: [2**31],
    lambda n: [SERVER],
    lambda n: [n - 1, n - 1],
]


@pytest.mark.parametrize(("spec", "p"), list_cases())
def test_list_ids_must_be_below_n_and_strictly_increasing(spec: ListSpec, p: Params) -> None:
    """Rule 4, every list; the boundaries 0 and n - 1 are valid ids."""
    for make in BAD_IDS:
        ids = make(p.n)
        body = spec.body(p, ids)
        assert reason_of(spec.kind, sealed(p, spec.kind, body), p) == DropReason.DECODE_FAILED, ids
    for ids in ([0], [p.n - 1], [0, 1], [p.n - 2, p.n - 1]):
        assert spec.decode_ids(p, spec.body(p, ids)) == ids


# --------------------------------------------------------------------------- SHARE_KEYS (5.6)


def share_keys_body(
    p: Params,
    peers: Sequence[int],
    holders: Sequence[int],
    *,
    peer_count: int | None = None,
    holder_count: int | None = None,
    c_b: bool = True,
) -> bytes:
    return (
        prompt_for(SHARE_KEYS)
        + (blob(8, 32) if c_b else b"")
        + u32(len(peers) if peer_count is None else peer_count)
        + b"".join(u32(i) + blob(300 + i, 96) for i in peers)
        + u32(len(holders) if holder_count is None else holder_count)
        + b"".join(u32(i) + blob(400 + i, 64) for i in holders)
    )


def share_keys_reason(p: Params, body: bytes) -> DropReason:
    return reason_of(SHARE_KEYS, sealed(p, SHARE_KEYS, body), p)


@pytest.mark.parametrize("p", BASES, ids=lambda p: p.name)
def test_share_keys_count_cap_alone(p: Params) -> None:
    """Rule 2 where nothing else is broken: h ciphertexts (cap h - 1) fit in max_body when
    there are at most h - 2 commitments, and so do h + 1 commitments (cap h) next to at most
    h - 2 ciphertexts; both are refused by the count cap alone."""
    h = p.h
    fine = share_keys_body(p, spread(h - 1, p.n), spread(h - 2, p.n))
    assert wire.decode_share_keys(sealed(p, SHARE_KEYS, fine), p.config, PARTY)
    body = share_keys_body(p, spread(h, p.n), spread(h - 2, p.n))
    assert len(body) <= p.max_body(SHARE_KEYS)
    assert share_keys_reason(p, body) == DropReason.DECODE_FAILED
    if h + 1 <= p.n:  # SecAgg+: h + 1 distinct valid ids exist
        body = share_keys_body(p, spread(h - 2, p.n), spread(h + 1, p.n))
        assert len(body) <= p.max_body(SHARE_KEYS)
        assert share_keys_reason(p, body) == DropReason.DECODE_FAILED


@pytest.mark.parametrize("p", BASES, ids=lambda p: p.name)
def test_share_keys_ciphertext_count_running_into_the_commitments(p: Params) -> None:
    """The ciphertext count decides where the commitment list starts: a count one or two
    above the entries reads commitment bytes as ciphertexts ("at least" in rule 3 holds), one
    below reads a ciphertext as the commitment count; none of these decodes."""
    peers, holders = [1, 2], [0, 1, 2]
    assert wire.decode_share_keys(
        sealed(p, SHARE_KEYS, share_keys_body(p, peers, holders)), p.config, PARTY
    ).commitments
    for peer_count in (0, 1, 3, 4):
        body = share_keys_body(p, peers, holders, peer_count=peer_count)
        assert share_keys_reason(p, body) == DropReason.DECODE_FAILED, peer_count
    # Ciphertext ids that happen to increase across the boundary: the swallowed commitment
    # count (3) is read as a peer id above 2, and what is left is not a commitment list.
    body = share_keys_body(p, peers, holders, peer_count=3)
    assert int.from_bytes(body[64 + 4 + 200 : 64 + 4 + 204], "big") == 3
    assert share_keys_reason(p, body) == DropReason.DECODE_FAILED
    # The commitment count off by one either way.
    for holder_count in (0, 2, 4):
        body = share_keys_body(p, peers, holders, holder_count=holder_count)
        assert share_keys_reason(p, body) == DropReason.DECODE_FAILED


@pytest.mark.parametrize("p", BASES, ids=lambda p: p.name)
def test_share_keys_prompt_c_b_and_both_lists_are_required(p: Params) -> None:
    """In order: the prompt, C_b, the ciphertext list's count, the commitment list's count;
    and the body ends exactly after the commitments."""
    full = share_keys_body(p, [1, 2], [0, 1, 2])
    assert wire.decode_share_keys(sealed(p, SHARE_KEYS, full), p.config, PARTY).ciphertexts
    for body in (
        full[:31],  # no room for the prompt
        full[:32],  # prompt only
        full[:63],  # C_b one byte short
        full[:64],  # no ciphertext count
        full[:67],
        prompt_for(SHARE_KEYS) + blob(8, 32) + u32(0),  # no commitment list
        prompt_for(SHARE_KEYS) + blob(8, 32) + u32(0) + u32(0)[:3],
        share_keys_body(p, [1, 2], [0, 1, 2], c_b=False),  # C_b missing
        share_keys_body(p, [], [0, 1, 2], c_b=False),
        full + b"\x00",  # trailing bytes
        full + u32(0),
        full + bytes(68),
    ):
        assert share_keys_reason(p, body) == DropReason.DECODE_FAILED, len(body)
    for cut in range(len(full)):
        assert share_keys_reason(p, full[:cut]) == DropReason.DECODE_FAILED, cut


# --------------------------------------------------------------------------- id sets (3)

BITMAP_PARAMS = [
    Params(f"n{n}-{'mal' if malicious else 'semi'}", n=n, t=1, m=2, b=8, malicious=malicious)
    for n in (1, 7, 8, 9, 15, 16, 17, 24)
    for malicious in (False, True)
]


def bitmap_body(p: Params, kind: int, set_bytes: bytes) -> bytes:
    """A body of a bitmap prompt whose id set is ``set_bytes`` (in the malicious mode the
    UNMASK_REQUEST's signature list follows, empty)."""
    if kind == UNMASK_REQUEST and p.malicious:
        return set_bytes + u32(0)
    return set_bytes


BITMAP_KINDS = [MASK_REQUEST, CONSISTENCY_REQUEST, UNMASK_REQUEST]


def id_set_of(kind: int, msg: Any) -> IdSet:
    id_set = msg.u2 if kind == MASK_REQUEST else msg.u3
    assert isinstance(id_set, IdSet)
    return id_set


def bitmap_cases() -> list[Any]:
    return cases(BITMAP_PARAMS, BITMAP_KINDS)


@pytest.mark.parametrize(("p", "kind"), bitmap_cases())
def test_id_set_bitmap_layout(p: Params, kind: int) -> None:
    """Section 3: member i is bit 7 - (i mod 8) of byte i // 8; every subset for n <= 9, the
    singletons, the full and the empty set otherwise."""
    codec = CODECS[kind]
    subsets: Iterable[Sequence[int]]
    if p.n <= 9:
        subsets = itertools.chain.from_iterable(
            itertools.combinations(range(p.n), r) for r in range(p.n + 1)
        )
    else:
        subsets = [(), tuple(range(p.n)), *[(i,) for i in range(p.n)], tuple(range(0, p.n, 3))]
    for ids in subsets:
        id_set = IdSet.of(ids, p.n)
        assert id_set.bitmap == bitmap(ids, p.n)
        msg = {
            MASK_REQUEST: MaskRequest(id_set),
            CONSISTENCY_REQUEST: ConsistencyRequest(id_set),
            UNMASK_REQUEST: UnmaskRequest(id_set),
        }[kind]
        encoded = codec.encode(p.config, PARTY, msg)
        assert encoded == sealed(p, kind, bitmap_body(p, kind, bitmap(ids, p.n)))
        decoded = id_set_of(kind, codec.decode(encoded, p.config, PARTY))
        assert decoded.ids() == list(ids)
        assert len(decoded) == len(ids)
        assert [i for i in range(-1, p.n + 2) if i in decoded] == list(ids)


@pytest.mark.parametrize(("p", "kind"), bitmap_cases())
def test_id_set_padding_bits_must_be_zero(p: Params, kind: int) -> None:
    """The 8B - n bits after the last client, each one alone, with or without members."""
    assert (p.n % 8 == 0) == (p.n == 8 * p.B)
    for bit in range(p.n, 8 * p.B):
        for members in ([], list(range(p.n))):
            raw = bytearray(bitmap(members, p.n))
            raw[bit // 8] |= 0x80 >> (bit % 8)
            body = bitmap_body(p, kind, bytes(raw))
            assert reason_of(kind, sealed(p, kind, body), p) == DropReason.DECODE_FAILED, bit
    # n a multiple of 8: no padding, the all-ones bitmap is every client.
    if p.n % 8 == 0:
        body = bitmap_body(p, kind, b"\xff" * p.B)
        decoded = CODECS[kind].decode(sealed(p, kind, body), p.config, PARTY)
        assert id_set_of(kind, decoded).ids() == list(range(p.n))


@pytest.mark.parametrize(("p", "kind"), bitmap_cases())
def test_id_set_of_another_length_is_decode_failed(p: Params, kind: int) -> None:
    """Exactly B bytes (in the malicious UNMASK_REQUEST, a body shorter than B; a longer one
    is the set followed by a broken signer list)."""
    for size in sorted({0, p.B - 1, p.B + 1, p.B + 2, 2 * p.B} - {p.B}):
        body = bitmap(range(min(size, p.n)), p.n)[:size].ljust(size, b"\x00")
        assert reason_of(kind, sealed(p, kind, body), p) == DropReason.DECODE_FAILED, size


# --------------------------------------------------------------------------- MASKED_INPUT (5.10)


def masked_body(p: Params, values: Sequence[int], width: int | None = None) -> bytes:
    w = p.w if width is None else width
    return prompt_for(MASKED_INPUT) + b"".join(v.to_bytes(w, "little") for v in values)


@pytest.mark.parametrize("bits", [1, 7, 20, 31, 33, 40, 63])
def test_masked_input_element_outside_the_ring_is_invalid_content(bits: int) -> None:
    """An element >= 2^b, at any position, is INVALID_CONTENT; 2^b - 1 is fine."""
    p = BASES[0].but(b=bits, m=4)
    top = (1 << bits) - 1
    fine = masked_body(p, [top] * p.m)
    vector = wire.decode_masked_input(sealed(p, MASKED_INPUT, fine), p.config, PARTY).vector
    assert vector.tolist() == [top] * p.m
    for index in range(p.m):
        for bad in (top + 1, top + 2, 2 ** (8 * p.w) - 1, 1 << (8 * p.w - 1)):
            if bad <= top:
                continue
            values = [0] * p.m
            values[index] = bad
            data = sealed(p, MASKED_INPUT, masked_body(p, values))
            assert reason_of(MASKED_INPUT, data, p) == DropReason.INVALID_CONTENT, (index, bad)


@pytest.mark.parametrize("bits", [32, 64])
def test_masked_input_full_width_ring_accepts_every_element(bits: int) -> None:
    p = BASES[0].but(b=bits, m=3)
    body = masked_body(p, [2**bits - 1, 0, 2 ** (bits - 1)])
    decoded = wire.decode_masked_input(sealed(p, MASKED_INPUT, body), p.config, PARTY)
    assert decoded.vector.tolist() == [2**bits - 1, 0, 2 ** (bits - 1)]
    assert decoded.vector.dtype.str == ("<u4" if bits == 32 else "<u8")


@pytest.mark.parametrize("bits", [7, 32, 33, 64])
def test_masked_input_length_is_exactly_m_w(bits: int) -> None:
    """Any other length is DECODE_FAILED, also when an element is out of range (the length
    rule comes first) and when the other ring width would fit."""
    p = BASES[0].but(b=bits, m=4)
    out = 1 << bits if bits % 32 else 0
    prompt = prompt_for(MASKED_INPUT)
    for body in (
        masked_body(p, [0] * (p.m - 1)),
        masked_body(p, [0] * (p.m - 1))[:-1],
        masked_body(p, [0] * p.m)[:-1],
        masked_body(p, [0] * p.m) + b"\x00",
        masked_body(p, [0] * p.m, width=12 - p.w),  # the other width
        masked_body(p, [out] * (p.m - 1)),
        prompt,
        prompt[:31],
    ):
        data = sealed(p, MASKED_INPUT, body)
        assert reason_of(MASKED_INPUT, data, p) == DropReason.DECODE_FAILED, len(body)


# --------------------------------------------------------------------------- consistency (5.11)


@pytest.mark.parametrize("p", [p for p in BASES if p.malicious], ids=lambda p: p.name)
def test_consistency_response_is_exactly_96_bytes(p: Params) -> None:
    for size in range(98):
        body = blob(size, size)
        data = sealed(p, CONSISTENCY_RESPONSE, body)
        if size != 96:
            assert reason_of(CONSISTENCY_RESPONSE, data, p) == DropReason.DECODE_FAILED, size
            continue
        decoded = wire.decode_consistency_response(data, p.config, PARTY)
        assert norm(decoded) == norm(ConsistencyResponse(body[32:], body[:32]))


# --------------------------------------------------------------------------- UNMASK_REQUEST (5.12)


@pytest.mark.parametrize("p", [p for p in BASES if p.malicious], ids=lambda p: p.name)
def test_malicious_unmask_request_is_u3_then_the_signer_list(p: Params) -> None:
    u3 = bitmap(spread(3, p.n), p.n)
    signers = [(i, blob(1000 + i, 64)) for i in (0, p.n - 1)]
    listed = u32(2) + b"".join(u32(i) + g for i, g in signers)
    decoded = wire.decode_unmask_request(sealed(p, UNMASK_REQUEST, u3 + listed), p.config, PARTY)
    assert norm(decoded) == norm(UnmaskRequest(IdSet.of(spread(3, p.n), p.n), tuple(signers)))
    empty = wire.decode_unmask_request(sealed(p, UNMASK_REQUEST, u3 + u32(0)), p.config, 3)
    assert empty.signatures == () and empty.u3.ids() == spread(3, p.n)
    for body in (
        *[u3[:size] for size in range(p.B)],  # shorter than B
        u3,  # no count
        u3 + u32(0)[:1],
        u3 + u32(0)[:3],
        u3 + listed[:-1],
        u3 + listed + b"\x00",
        listed,  # the set missing
    ):
        assert reason_of(UNMASK_REQUEST, sealed(p, UNMASK_REQUEST, body), p) == (
            DropReason.DECODE_FAILED
        )


@pytest.mark.parametrize("p", [p for p in BASES if not p.malicious], ids=lambda p: p.name)
def test_semi_honest_unmask_request_is_u3_alone(p: Params) -> None:
    """A malicious-shaped body (U3 then a signer list) is longer than B: the size cap."""
    u3 = bitmap(spread(3, p.n), p.n)
    for body in (u3 + u32(0), u3 + b"\x00", u3[:-1]):
        assert reason_of(UNMASK_REQUEST, sealed(p, UNMASK_REQUEST, body), p) == (
            DropReason.DECODE_FAILED
        )


# --------------------------------------------------------------------------- UNMASK_RESPONSE (5.13)


def unmask_response_body(entries: Sequence[tuple[int, int, Sequence[int]]]) -> bytes:
    return (
        prompt_for(UNMASK_RESPONSE)
        + u32(len(entries))
        + b"".join(u32(i) + u8(kind) + share_bytes(limbs) for i, kind, limbs in entries)
    )


@pytest.mark.parametrize("p", BASES, ids=lambda p: p.name)
def test_unmask_response_share_kind_must_be_0_or_1(p: Params) -> None:
    fine = unmask_response_body([(0, 0, limbs_of(0)), (2, 1, limbs_of(2))])
    decoded = wire.decode_unmask_response(sealed(p, UNMASK_RESPONSE, fine), p.config, PARTY)
    assert [(peer, kind) for peer, kind, _ in decoded.shares] == [
        (0, ShareKind.KEY),
        (2, ShareKind.SELF_MASK),
    ]
    assert all(type(kind) is ShareKind for _, kind, _ in decoded.shares)
    for bad in (2, 3, 127, 128, 255):
        for position in (0, 1):
            kinds = [0, 1]
            kinds[position] = bad
            body = unmask_response_body([(0, kinds[0], limbs_of(0)), (2, kinds[1], limbs_of(2))])
            assert reason_of(UNMASK_RESPONSE, sealed(p, UNMASK_RESPONSE, body), p) == (
                DropReason.DECODE_FAILED
            )


@pytest.mark.parametrize("p", BASES, ids=lambda p: p.name)
def test_unmask_response_share_limbs_must_be_below_p(p: Params) -> None:
    """Section 8.2: each of the 9 limbs < p = 2^31 - 1; p - 1 is fine."""
    top = [PRIME - 1] * LIMBS
    body = unmask_response_body([(1, 1, top)])
    decoded = wire.decode_unmask_response(sealed(p, UNMASK_RESPONSE, body), p.config, PARTY)
    assert decoded.shares == ((1, ShareKind.SELF_MASK, share_bytes(top)),)
    for limb in range(LIMBS):
        for bad in (PRIME, PRIME + 1, 2**31, 2**32 - 1):
            limbs = limbs_of(limb)
            limbs[limb] = bad
            body = unmask_response_body([(0, 0, limbs_of(0)), (1, 1, limbs)])
            assert reason_of(UNMASK_RESPONSE, sealed(p, UNMASK_RESPONSE, body), p) == (
                DropReason.DECODE_FAILED
            ), (limb, bad)


# --------------------------------------------------------------------------- share plaintext (6.4)


def plaintext(sender: int, recipient: int, key: Sequence[int], mask: Sequence[int]) -> bytes:
    return u32(sender) + u32(recipient) + share_bytes(key) + share_bytes(mask)


def test_share_plaintext_layout() -> None:
    """``u32(u) || u32(v) || share of s_u^SK (36) || share of b_u (36)``, 80 bytes."""
    key, mask = share_bytes(limbs_of(1)), share_bytes(limbs_of(2))
    data = plaintext(4, 9, limbs_of(1), limbs_of(2))
    assert len(data) == 80
    assert wire.encode_share_plaintext(4, 9, key, mask) == data
    shares = wire.decode_share_plaintext(data, 4, 9)
    assert shares == (key, mask)
    assert all(type(share) is bytes for share in shares)
    top = [PRIME - 1] * LIMBS
    assert wire.decode_share_plaintext(plaintext(0, 0, top, top), 0, 0) == (
        share_bytes(top),
        share_bytes(top),
    )


def plaintext_reason(data: bytes, sender: int, recipient: int) -> DropReason:
    with pytest.raises(DecodeError) as info:
        wire.decode_share_plaintext(data, sender, recipient)
    assert type(info.value.reason) is DropReason
    return info.value.reason


def test_share_plaintext_refusals_are_bad_ciphertext() -> None:
    """Section 6.4: a plaintext that does not name (u, v), or with a limb >= p, is a ciphertext
    the recipient cannot use: BAD_CIPHERTEXT (11.1), never DECODE_FAILED."""
    data = plaintext(4, 9, limbs_of(1), limbs_of(2))
    for sender, recipient in ((9, 4), (4, 8), (5, 9), (4, 4), (9, 9), (4, SERVER)):
        assert plaintext_reason(data, sender, recipient) == DropReason.BAD_CIPHERTEXT
    for size in (0, 8, 44, 79, 81, 96):
        longer = data + blob(0, 16)
        assert plaintext_reason(longer[:size], 4, 9) == DropReason.BAD_CIPHERTEXT, size
    for which in (0, 1):
        for limb in range(LIMBS):
            for bad in (PRIME, 2**32 - 1):
                shares = [limbs_of(1), limbs_of(2)]
                shares[which][limb] = bad
                data = plaintext(4, 9, *shares)
                assert plaintext_reason(data, 4, 9) == DropReason.BAD_CIPHERTEXT


# --------------------------------------------------------------------------- wire-schema.json

SCHEMA_PATH = Path(__file__).resolve().parents[1] / "protocol" / "wire-schema.json"
_OPERATORS: dict[type, Callable[[int, int], int]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
}


@functools.cache
def schema() -> dict[str, Any]:
    data: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return data


def symbols(p: Params) -> dict[str, int]:
    """conventions.symbols for ``p``."""
    return {"n": p.n, "t": p.t, "m": p.m, "b": p.b, "k": p.k or 0, "h": p.h, "w": p.w} | {
        "S": p.S,
        "B": p.B,
    }


def evaluate(expression: int | str, p: Params) -> int:
    """A size of the schema: an int, or an expression over the symbols with + - * ()."""
    if isinstance(expression, int):
        return expression

    def value(node: ast.AST) -> int:
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.Name):
            return symbols(p)[node.id]
        if isinstance(node, ast.BinOp) and type(node.op) in _OPERATORS:
            return _OPERATORS[type(node.op)](value(node.left), value(node.right))
        raise AssertionError(f"not a size expression: {expression!r}")

    return value(ast.parse(expression, mode="eval").body)


def present(element: dict[str, Any], p: Params) -> bool:
    modes: list[str] = element.get("modes", ["semi_honest", "malicious"])
    return p.mode in modes


def field_size(f: dict[str, Any], p: Params) -> int:
    fixed = {"u8": 1, "u16": 2, "u32": 4}
    return fixed[f["type"]] if f["type"] in fixed else evaluate(f["size"], p)


def struct_size(name: str, p: Params) -> int:
    struct_ = schema()["structs"][name]
    size = sum(field_size(f, p) for f in struct_["fields"] if present(f, p))
    assert size == evaluate(struct_["size"], p), name
    return size


def read_fields(
    fields: list[dict[str, Any]], data: bytes, offset: int, p: Params
) -> tuple[dict[str, Any], int]:
    """Read ``fields`` (those present in ``p``'s mode) from ``data`` at ``offset``."""
    out: dict[str, Any] = {}
    for f in fields:
        if not present(f, p):
            continue
        size = field_size(f, p)
        raw = data[offset : offset + size]
        assert len(raw) == size, f["name"]
        if f["type"] == "id_set":
            ids = [i for i in range(8 * size) if raw[i // 8] & (0x80 >> (i % 8))]
            assert all(i < p.n for i in ids)
            out[f["name"]] = ids
        elif f["type"] == "bytes":
            out[f["name"]] = raw
        else:
            out[f["name"]] = int.from_bytes(raw, "big")
        if "value" in f:
            want = f["value"]
            assert (raw.hex() if isinstance(want, str) else out[f["name"]]) == want, f["name"]
        offset += size
    return out, offset


def schema_parse(p: Params, name: str, body: bytes) -> dict[str, Any]:
    """The body of a message of type ``name``, parsed with nothing but the schema."""
    spec = schema()["message_types"][name]["body"]
    out, offset = read_fields(spec["prefix"], body, 0, p)
    layout = spec["layout"] if present(spec, p) else "none"
    if layout == "struct":
        assert len(body) - offset == evaluate(spec["size"], p)
        fields, offset = read_fields(spec["fields"], body, offset, p)
        out |= fields
    elif layout == "ring_vector":
        length = evaluate(spec["length"], p)
        raw = body[offset : offset + length * p.w]
        assert len(raw) == length * p.w
        values = [int.from_bytes(raw[i : i + p.w], "little") for i in range(0, len(raw), p.w)]
        assert all(v < 1 << p.b for v in values)
        out[spec["field"]] = values
        offset += len(raw)
    elif layout in ("list", "lists"):
        for list_spec in spec["lists"] if layout == "lists" else [spec]:
            entry = schema()["structs"][list_spec["entry"]]
            count = int.from_bytes(body[offset : offset + 4], "big")
            assert count <= evaluate(list_spec["cap"], p)
            offset += 4
            items = []
            for _ in range(count):
                item, offset = read_fields(entry["fields"], body, offset, p)
                items.append(item)
            ids = [item[list_spec["id"]] for item in items]
            assert all(i < p.n for i in ids) and ids == sorted(set(ids))
            out[list_spec["field"]] = items
    else:
        assert layout == "none"
    assert offset == len(body)
    return out


def schema_max_body(p: Params, name: str) -> int:
    max_body = schema()["message_types"][name]["max_body"]
    return evaluate(max_body[p.mode] if isinstance(max_body, dict) else max_body, p)


def structural_max_body(p: Params, name: str) -> int:
    """The largest body the schema's layout of ``name`` allows: prefix, then every list at
    its cap."""
    spec = schema()["message_types"][name]["body"]
    size = sum(field_size(f, p) for f in spec["prefix"] if present(f, p))
    layout = spec["layout"] if present(spec, p) else "none"
    if layout == "struct":
        fields = sum(field_size(f, p) for f in spec["fields"] if present(f, p))
        assert fields == evaluate(spec["size"], p)
        size += fields
    elif layout == "ring_vector":
        size += evaluate(spec["length"], p) * p.w
        assert evaluate(spec["size"], p) == evaluate(spec["length"], p) * p.w
    elif layout in ("list", "lists"):
        for list_spec in spec["lists"] if layout == "lists" else [spec]:
            size += 4 + evaluate(list_spec["cap"], p) * struct_size(list_spec["entry"], p)
    return size


def test_schema_constants_and_labels_match_the_library() -> None:
    s = schema()
    c, labels = s["constants"], s["labels"]
    assert s["version"] == c["protocol_version"] == VERSION
    assert bytes.fromhex(c["magic"]) == wire.MAGIC
    assert c["server_id"] == wire.SERVER_ID
    assert (c["header_size"], c["digest_size"]) == (wire.HEADER_SIZE, wire.DIGEST_SIZE)
    assert c["min_message_size"] == wire.HEADER_SIZE + wire.DIGEST_SIZE
    assert c["public_key_size"] == wire.PUBLIC_KEY_SIZE
    assert c["signature_size"] == SIGNATURE_SIZE
    assert (c["share_limbs"], c["share_limb_bits"]) == (shamir.LIMBS, shamir.LIMB_BITS)
    assert c["share_size"] == shamir.SHARE_SIZE == wire.SHARE_SIZE
    assert c["commitment_size"] == wire.COMMITMENT_SIZE
    assert c["share_plaintext_size"] == wire.SHARE_PLAINTEXT_SIZE
    assert c["share_ciphertext_size"] == wire.SHARE_CIPHERTEXT_SIZE
    assert c["aead_tag_size"] == aead.TAG_SIZE
    assert c["session_nonce_size"] == 32
    assert c["round_config_size"] == ENCODED_SIZE
    assert (c["max_clients"], c["max_dim"]) == (MAX_CLIENTS, MAX_DIM)
    assert c["field_prime"] == shamir.PRIME
    key, plain, sid = blob(1, 32), blob(2, 80), blob(3, 32)
    ad = aead.associated_data(sid, 5, 7)
    assert ad == labels["share_associated_data"].encode() + sid + u32(5) + u32(7)
    assert len(ad) == c["share_associated_data_size"]
    assert aead.seal(key, plain, ad) == AESGCM(key).encrypt(
        bytes.fromhex(c["aead_nonce"]), plain, ad
    )
    probe = X25519PrivateKey.from_private_bytes(bytes.fromhex(c["fingerprint_probe"]))
    public = X25519PrivateKey.from_private_bytes(blob(4, 32)).public_key()
    assert keys.fingerprint(public.public_bytes_raw()) == probe.exchange(public)
    # Labels.
    p = BASES[3]
    assert labeled_sha256(labels["session_id"].encode(), p.config.encode()) == (p.config.session_id)
    all_keys = b"".join(verification_key(i) for i in range(p.n))
    assert labeled_sha256(labels["roster"].encode(), all_keys) == roster(p.n).digest
    encoded = wire.encode_mask_request(p.config, 1, sample(p, MASK_REQUEST).msg)
    assert labeled_sha256(labels["digest"].encode(), encoded[:-32]) == encoded[-32:]
    assert labels["advertise_signature"].encode() == wire.LABEL_ADVERTISE
    assert labels["consistency_signature"].encode() == wire.LABEL_CONSISTENCY
    share = share_bytes(limbs_of(5))
    assert commit.share_commitment(sid, 5, 7, 1, share) == labeled_sha256(
        labels["share_commitment"].encode(), sid, u32(5), u32(7), u8(1), share
    )
    assert commit.self_mask_commitment(sid, 5, key) == labeled_sha256(
        labels["self_mask_commitment"].encode(), sid, u32(5), key
    )
    prefix = labels["hkdf_info_prefix"].encode()
    for purpose, library in (
        ("hkdf_purpose_share_encryption_key", kdf.PURPOSE_SHARE_ENC),
        ("hkdf_purpose_pair_mask", kdf.PURPOSE_PAIR_MASK),
        ("hkdf_purpose_self_mask", kdf.PURPOSE_SELF_MASK),
    ):
        assert kdf.info(library, 3, 4) == prefix + labels[purpose].encode() + u32(3) + u32(4)
    for label in ("prg_label_graph", "prg_label_rounding"):
        info = labels["prg_info_prefix"].encode() + labels[label].encode()
        hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=info)
        assert prg.prg_key(key, labels[label].encode()) == hkdf.derive(key)
    assert labels["prg_label_drbg_prefix"].encode() == prg.LABEL_DRBG + b"/"


def test_schema_enumerations_match_the_library() -> None:
    s = schema()
    assert {k: v["value"] for k, v in s["message_types"].items()} == {
        t.name: t.value for t in MessageType
    }
    assert s["share_kinds"] == {k.name: k.value for k in ShareKind}
    assert s["drop_reasons"] == {r.name: r.value for r in DropReason}
    assert s["abort_reasons"] == {r.name: r.value for r in AbortReason}
    assert s["conventions"]["modes"] == {m.value: m.code for m in Security}
    # Every reason the schema names is a DropReason.
    reasons = [check["reason"] for check in s["envelope"]["checks"]]
    for spec in s["message_types"].values():
        reasons += [rule["reason"] for rule in spec.get("content_rules", [])]
        body = spec["body"]
        reasons += [body[key] for key in ("violation", "element_violation") if key in body]
    reasons += [s["id_set"]["violation"], s["list_rules"]["violation"]]
    reasons.append(s["prompt_echo"]["server_violation"])
    assert set(reasons) <= set(s["drop_reasons"])
    assert [check["order"] for check in s["envelope"]["checks"]] == list(range(1, 8))
    # The prompt echo: every reply and only the replies start with it.
    for name, spec in s["message_types"].items():
        kind = spec["value"]
        prefix = [f["name"] for f in spec["body"]["prefix"]]
        if kind in REPLIES:
            assert spec["answers"] == TYPE_NAMES[REPLIES[kind]]
            assert prefix[0] == "prompt"
            assert spec["content_rules"][0]["reason"] == "PROMPT_MISMATCH"
        else:
            assert "answers" not in spec and "prompt" not in prefix, name
        assert (spec["from"] == "client") == CODECS[kind].to_server
        assert ("semi_honest" in spec["modes"]) == (kind not in MALICIOUS_ONLY)


@pytest.mark.parametrize("p", CONFIGS + EXTRA, ids=lambda p: p.name)
def test_schema_sizes_match_the_library(p: Params) -> None:
    """Per type and mode: the schema's max_body expression, the size its layout allows with
    every list at its cap, SPEC 5.1 and ``wire.max_body_size`` agree; and so do the sizes of
    the round configuration, the header and every struct."""
    s = schema()
    for name, spec in s["message_types"].items():
        if not present(spec, p):
            continue
        library = wire.max_body_size(p.config, MessageType[name])
        assert schema_max_body(p, name) == structural_max_body(p, name) == library, name
        assert library == p.max_body(spec["value"])
    for struct_name in s["structs"]:
        struct_size(struct_name, p)
    assert sum(field_size(f, p) for f in s["envelope"]["header"]) == HEADER
    assert evaluate(s["id_set"]["size"], p) == p.B
    config = s["round_config"]
    fields, offset = read_fields(config["fields"], p.config.encode(), 0, p)
    assert offset == config["size"] == ENCODED_SIZE
    assert fields == {
        "version": VERSION,
        "mode": int(p.malicious),
        "num_clients": p.n,
        "threshold": p.t,
        "dim": p.m,
        "bits": p.b,
        "neighbors": p.k or 0,
        "roster_digest": p.roster_digest,
        "session_nonce": p.nonce,
    }


@pytest.mark.parametrize("size", ["empty", "typical", "full"])
@pytest.mark.parametrize(("p", "kind"), cases())
def test_schema_parses_every_message(p: Params, kind: int, size: str) -> None:
    """A library-encoded message, read with nothing but the schema: header values, digest,
    and every body field."""
    s = sample(p, kind, size)
    encoded = CODECS[kind].encode(p.config, PARTY, s.msg)
    header, offset = read_fields(schema()["envelope"]["header"], encoded, 0, p)
    assert offset == HEADER
    sender, recipient = CODECS[kind].channel(PARTY)
    assert header == {
        "magic": MAGIC,
        "version": VERSION,
        "type": kind,
        "flags": 0,
        "session_id": p.session_id,
        "sender": sender,
        "recipient": recipient,
    }
    digest_label = schema()["labels"]["digest"].encode()
    assert labeled_sha256(digest_label, encoded[:-DIGEST]) == encoded[-DIGEST:]
    assert schema_parse(p, TYPE_NAMES[kind], encoded[HEADER:-DIGEST]) == s.fields
