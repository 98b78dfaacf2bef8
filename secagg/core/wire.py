"""Encode and decode every protocol message; decoding treats its input as hostile.

Layout (all integers big-endian except ring elements, which are little-endian; see
protocol/SPEC.md for the byte-by-byte description)::

    envelope = magic "SAGG" | version u8 | type u8 | flags u16 (0)
             | session_id 32 | sender u32 | recipient u32
             | body
             | digest 32 = SHA-256(label "secagg/v1/digest" | everything before it)

The digest detects accidental corruption and truncation; it is *not* authentication (anyone can
recompute it). Authenticity in both directions is the transport's job until signatures arrive.

Every client reply to a server prompt (ShareKeys, MaskedInput, UnmaskResponse) starts with
``prompt 32``: the digest of the prompt envelope it answers, echoed. The server compares it with
the digest of what it sent that client, so a prompt altered or swapped in transit (a forged key
list, a withheld share ciphertext) gets the client dropped instead of skewing its masks and
silently corrupting the aggregate.

Every decoder checks lengths before it reads, caps every count by ``n``, requires ids in
``[0, n)`` in strictly increasing order (so each encoding is canonical and duplicate-free), and
raises :class:`~secagg.errors.DecodeError` with a :class:`~secagg.errors.DropReason` - never any
other exception - on bad input.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field

import numpy as np

from secagg.config import PROTOCOL_VERSION, RoundConfig
from secagg.crypto import shamir
from secagg.crypto.aead import TAG_SIZE
from secagg.crypto.hashing import sha256
from secagg.crypto.prg import RingArray, ring_dtype
from secagg.errors import DecodeError, DropReason

MAGIC = b"SAGG"
SERVER_ID = 0xFFFFFFFF
"""The server's id in the sender/recipient fields of the envelope."""

_HEADER = struct.Struct(">4sBBH32sII")
HEADER_SIZE = _HEADER.size  # 48
DIGEST_SIZE = 32
_DIGEST_LABEL = b"secagg/v%d/digest" % PROTOCOL_VERSION

PUBLIC_KEY_SIZE = 32
SHARE_PLAINTEXT_SIZE = 4 + 4 + 2 * shamir.SHARE_SIZE  # sender, recipient, s^SK share, b share
SHARE_CIPHERTEXT_SIZE = SHARE_PLAINTEXT_SIZE + TAG_SIZE  # 90

_U32 = struct.Struct(">I")
_KEY_ENTRY = struct.Struct(">I32s32s")
_CT_ENTRY_SIZE = 4 + SHARE_CIPHERTEXT_SIZE
_COMMIT_ENTRY = struct.Struct(">I32s32s")
_SHARE_ENTRY = struct.Struct(">IB33s")


class MessageType(enum.IntEnum):
    """The ``type`` byte. Values 8 and 9 are reserved for the ConsistencyCheck round."""

    ADVERTISE_KEYS = 1
    KEY_LIST = 2
    SHARE_KEYS = 3
    SHARE_FORWARD = 4
    MASKED_INPUT = 5
    UNMASK_REQUEST = 6
    UNMASK_RESPONSE = 7


class ShareKind(enum.IntEnum):
    """Which secret an unmasking share belongs to."""

    KEY = 0
    """A share of s_v^SK, revealed only for a peer v that dropped before MaskedInput."""
    SELF_MASK = 1
    """A share of b_v, revealed only for a peer v whose masked input the server accepted."""


@dataclass(frozen=True, slots=True)
class AdvertiseKeys:
    """Round 0, client u -> server: (c_u^PK, s_u^PK)."""

    c_public: bytes
    s_public: bytes


@dataclass(frozen=True, slots=True)
class KeyEntry:
    client: int
    c_public: bytes
    s_public: bytes


@dataclass(frozen=True, slots=True)
class KeyList:
    """Round 1 prompt, server -> every u in U1: the keys of all of U1, sorted by id."""

    entries: tuple[KeyEntry, ...]


@dataclass(frozen=True, slots=True)
class ShareKeys:
    """Round 1, client u -> server: e_{u,v} for every other v in U1, sorted by v, and the
    commitments (v, C(share of s_u^SK), C(share of b_u)) for every holder v, u itself included."""

    ciphertexts: tuple[tuple[int, bytes], ...]
    commitments: tuple[tuple[int, bytes, bytes], ...]
    prompt: bytes
    """The digest of the KeyList envelope this answers (:func:`prompt_digest`)."""


@dataclass(frozen=True, slots=True)
class ShareForward:
    """Round 2 prompt, server -> v in U2: e_{u,v} for every other u in U2, sorted by u."""

    ciphertexts: tuple[tuple[int, bytes], ...]


@dataclass(frozen=True, slots=True)
class MaskedInput:
    """Round 2, client u -> server: y_u = x_u + PRG(b_u) + sum_v +-PRG(s_{u,v}) mod 2^b."""

    vector: RingArray
    prompt: bytes
    """The digest of the ShareForward envelope this answers (:func:`prompt_digest`)."""


@dataclass(frozen=True, slots=True)
class UnmaskRequest:
    """Round 3 prompt, server -> v in U3: the survivor list U3, sorted."""

    survivors: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class UnmaskResponse:
    """Round 3, client v -> server: (peer, kind, share) for peers it holds shares of."""

    shares: tuple[tuple[int, ShareKind, int], ...] = field(repr=False)  # never into a log
    prompt: bytes
    """The digest of the UnmaskRequest envelope this answers (:func:`prompt_digest`)."""


# --------------------------------------------------------------------------- envelope


def envelope(
    config: RoundConfig, kind: MessageType, sender: int, recipient: int, body: bytes
) -> bytes:
    """Wrap ``body`` in the header and digest."""
    head = _HEADER.pack(MAGIC, PROTOCOL_VERSION, kind, 0, config.session_id, sender, recipient)
    return head + body + sha256(_DIGEST_LABEL, head, body)


def open_envelope(
    data: bytes, config: RoundConfig, expected: MessageType, sender: int, recipient: int
) -> memoryview:
    """Check the envelope of ``data`` and return its body.

    ``sender`` and ``recipient`` are what the channel says (the transport knows whom it talks to);
    a header that disagrees is MISADDRESSED.
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise DecodeError(DropReason.DECODE_FAILED, "message is not bytes")
    try:
        view = memoryview(data).cast("B")
    except TypeError as exc:  # e.g. a strided view: not a message we can read in place
        raise DecodeError(DropReason.DECODE_FAILED, "message buffer is not contiguous") from exc
    if len(view) < HEADER_SIZE + DIGEST_SIZE:
        raise DecodeError(DropReason.DECODE_FAILED, f"message too short ({len(view)} bytes)")
    if len(view) > max_message_size(config):
        raise DecodeError(DropReason.DECODE_FAILED, f"message too long ({len(view)} bytes)")
    magic, version, kind, flags, session_id, head_sender, head_recipient = _HEADER.unpack_from(view)
    if magic != MAGIC or version != PROTOCOL_VERSION or flags != 0:
        raise DecodeError(DropReason.DECODE_FAILED, "bad magic, version or flags")
    end = len(view) - DIGEST_SIZE
    if sha256(_DIGEST_LABEL, view[:HEADER_SIZE], view[HEADER_SIZE:end]) != bytes(view[end:]):
        raise DecodeError(DropReason.DECODE_FAILED, "digest mismatch (corrupt or truncated)")
    if session_id != config.session_id:
        raise DecodeError(DropReason.WRONG_SESSION, "message belongs to another session")
    if kind != expected:
        raise DecodeError(
            DropReason.UNEXPECTED_MESSAGE, f"expected message type {expected.name}, got {kind}"
        )
    if head_sender != sender or head_recipient != recipient:
        raise DecodeError(DropReason.MISADDRESSED, "header sender/recipient disagree with channel")
    return view[HEADER_SIZE:end]


def prompt_digest(data: bytes | bytearray | memoryview) -> bytes:
    """The digest field of an envelope the caller has already opened: what a reply echoes."""
    return bytes(memoryview(data).cast("B")[-DIGEST_SIZE:])


def _read_prompt(body: memoryview) -> tuple[bytes, memoryview]:
    if len(body) < DIGEST_SIZE:
        raise _fail("body too short for the prompt digest")
    return bytes(body[:DIGEST_SIZE]), body[DIGEST_SIZE:]


def _check_prompt(prompt: bytes) -> bytes:
    if not isinstance(prompt, bytes) or len(prompt) != DIGEST_SIZE:
        raise ValueError("prompt must be the 32-byte digest of the prompt envelope")
    return prompt


def max_message_size(config: RoundConfig) -> int:
    """The largest legitimate message of any type for ``config``; anything longer is rejected
    before its digest is computed."""
    n = config.num_clients
    body = max(
        4 + n * _KEY_ENTRY.size,
        DIGEST_SIZE + 4 + n * _CT_ENTRY_SIZE + 4 + n * _COMMIT_ENTRY.size,
        DIGEST_SIZE + config.dim * config.width,
        DIGEST_SIZE + 4 + n * _SHARE_ENTRY.size,
    )
    return HEADER_SIZE + body + DIGEST_SIZE


# --------------------------------------------------------------------------- bodies


def _fail(detail: str, reason: DropReason = DropReason.DECODE_FAILED) -> DecodeError:
    return DecodeError(reason, detail)


def _count(body: memoryview, entry_size: int, config: RoundConfig, *, more: bool = False) -> int:
    """The u32 count that opens ``body``, checked against n and against the length of the
    ``count`` entries that follow: exactly the rest of the body, or (``more``: another list
    comes after) at most the rest."""
    if len(body) < 4:
        raise _fail("body too short for a count")
    count: int = _U32.unpack_from(body)[0]
    if count > config.num_clients:
        raise _fail(f"count {count} exceeds n")
    end = 4 + count * entry_size
    if len(body) < end if more else len(body) != end:
        raise _fail(f"body length {len(body)} does not match count {count}")
    return count


def _check_ids(ids: list[int], config: RoundConfig) -> None:
    previous = -1
    for client in ids:
        if client >= config.num_clients:
            raise _fail(f"client id {client} out of range")
        if client <= previous:
            raise _fail("client ids are not strictly increasing")
        previous = client


def encode_advertise_keys(config: RoundConfig, sender: int, msg: AdvertiseKeys) -> bytes:
    return envelope(
        config, MessageType.ADVERTISE_KEYS, sender, SERVER_ID, msg.c_public + msg.s_public
    )


def decode_advertise_keys(data: bytes, config: RoundConfig, sender: int) -> AdvertiseKeys:
    body = open_envelope(data, config, MessageType.ADVERTISE_KEYS, sender, SERVER_ID)
    if len(body) != 2 * PUBLIC_KEY_SIZE:
        raise _fail("AdvertiseKeys body must be 64 bytes")
    return AdvertiseKeys(bytes(body[:32]), bytes(body[32:]))


def key_list_body(msg: KeyList) -> bytes:
    """The KeyList body, which is the same for every recipient: the server builds it once and
    wraps it per recipient with :func:`envelope` (O(n) bytes per message, not O(n) packing)."""
    parts = [_U32.pack(len(msg.entries))]
    parts += [_KEY_ENTRY.pack(e.client, e.c_public, e.s_public) for e in msg.entries]
    return b"".join(parts)


def encode_key_list(config: RoundConfig, recipient: int, msg: KeyList) -> bytes:
    return envelope(config, MessageType.KEY_LIST, SERVER_ID, recipient, key_list_body(msg))


def decode_key_list(data: bytes, config: RoundConfig, recipient: int) -> KeyList:
    body = open_envelope(data, config, MessageType.KEY_LIST, SERVER_ID, recipient)
    count = _count(body, _KEY_ENTRY.size, config)
    entries = tuple(
        KeyEntry(*_KEY_ENTRY.unpack_from(body, 4 + i * _KEY_ENTRY.size)) for i in range(count)
    )
    _check_ids([e.client for e in entries], config)
    return KeyList(entries)


def _encode_ct_list(items: tuple[tuple[int, bytes], ...]) -> bytes:
    parts = [_U32.pack(len(items))]
    for peer, ciphertext in items:
        if len(ciphertext) != SHARE_CIPHERTEXT_SIZE:
            raise ValueError("share ciphertexts are 90 bytes")
        parts.append(_U32.pack(peer) + ciphertext)
    return b"".join(parts)


def _decode_ct_list(body: memoryview, config: RoundConfig) -> tuple[tuple[int, bytes], ...]:
    count = _count(body, _CT_ENTRY_SIZE, config)
    return _read_ct_entries(body, count, config)


def _read_ct_entries(
    body: memoryview, count: int, config: RoundConfig
) -> tuple[tuple[int, bytes], ...]:
    items = []
    for i in range(count):
        offset = 4 + i * _CT_ENTRY_SIZE
        (peer,) = _U32.unpack_from(body, offset)
        items.append((peer, bytes(body[offset + 4 : offset + _CT_ENTRY_SIZE])))
    _check_ids([peer for peer, _ in items], config)
    return tuple(items)


def encode_share_keys(config: RoundConfig, sender: int, msg: ShareKeys) -> bytes:
    """Body: the prompt digest, the ciphertext list, then the commitments:
    ``count u32 | count x (holder u32 | C_key 32 | C_mask 32)``, holders strictly increasing."""
    parts = [_check_prompt(msg.prompt), _encode_ct_list(msg.ciphertexts)]
    parts.append(_U32.pack(len(msg.commitments)))
    parts += [_COMMIT_ENTRY.pack(v, ck, cm) for v, ck, cm in msg.commitments]
    return envelope(config, MessageType.SHARE_KEYS, sender, SERVER_ID, b"".join(parts))


def decode_share_keys(data: bytes, config: RoundConfig, sender: int) -> ShareKeys:
    body = open_envelope(data, config, MessageType.SHARE_KEYS, sender, SERVER_ID)
    prompt, body = _read_prompt(body)
    ct_count = _count(body, _CT_ENTRY_SIZE, config, more=True)
    ciphertexts = _read_ct_entries(body, ct_count, config)
    rest = body[4 + ct_count * _CT_ENTRY_SIZE :]
    commit_count = _count(rest, _COMMIT_ENTRY.size, config)
    commitments = tuple(
        _COMMIT_ENTRY.unpack_from(rest, 4 + i * _COMMIT_ENTRY.size) for i in range(commit_count)
    )
    _check_ids([v for v, _, _ in commitments], config)
    return ShareKeys(ciphertexts, commitments, prompt)


def encode_share_forward(config: RoundConfig, recipient: int, msg: ShareForward) -> bytes:
    return envelope(
        config, MessageType.SHARE_FORWARD, SERVER_ID, recipient, _encode_ct_list(msg.ciphertexts)
    )


def decode_share_forward(data: bytes, config: RoundConfig, recipient: int) -> ShareForward:
    body = open_envelope(data, config, MessageType.SHARE_FORWARD, SERVER_ID, recipient)
    return ShareForward(_decode_ct_list(body, config))


def encode_masked_input(config: RoundConfig, sender: int, msg: MaskedInput) -> bytes:
    vector = np.asarray(msg.vector, dtype=ring_dtype(config.bits))
    if vector.shape != (config.dim,):
        raise ValueError(f"masked input must have shape ({config.dim},)")
    body = _check_prompt(msg.prompt) + vector.tobytes()
    return envelope(config, MessageType.MASKED_INPUT, sender, SERVER_ID, body)


def decode_masked_input(data: bytes, config: RoundConfig, sender: int) -> MaskedInput:
    """The vector is a read-only view into ``data`` (no copy); every element is checked < 2^b."""
    body = open_envelope(data, config, MessageType.MASKED_INPUT, sender, SERVER_ID)
    prompt, body = _read_prompt(body)
    if len(body) != config.dim * config.width:
        raise _fail(f"masked input must be {config.dim * config.width} bytes, got {len(body)}")
    vector: RingArray = np.frombuffer(body, dtype=ring_dtype(config.bits))
    # max() scans without the temporary array that ``vector >> bits`` would allocate.
    if config.bits % 32 and vector.size and int(vector.max()) >> config.bits:
        raise _fail("masked input has elements outside Z_2^b", DropReason.INVALID_CONTENT)
    return MaskedInput(vector, prompt)


def unmask_request_body(msg: UnmaskRequest) -> bytes:
    """The UnmaskRequest body, the same for every recipient (see :func:`key_list_body`)."""
    return _U32.pack(len(msg.survivors)) + np.asarray(msg.survivors, dtype=">u4").tobytes()


def encode_unmask_request(config: RoundConfig, recipient: int, msg: UnmaskRequest) -> bytes:
    return envelope(
        config, MessageType.UNMASK_REQUEST, SERVER_ID, recipient, unmask_request_body(msg)
    )


def decode_unmask_request(data: bytes, config: RoundConfig, recipient: int) -> UnmaskRequest:
    body = open_envelope(data, config, MessageType.UNMASK_REQUEST, SERVER_ID, recipient)
    count = _count(body, 4, config)
    survivors = [_U32.unpack_from(body, 4 + 4 * i)[0] for i in range(count)]
    _check_ids(survivors, config)
    return UnmaskRequest(tuple(survivors))


def encode_unmask_response(config: RoundConfig, sender: int, msg: UnmaskResponse) -> bytes:
    parts = [_check_prompt(msg.prompt), _U32.pack(len(msg.shares))]
    parts += [
        _SHARE_ENTRY.pack(peer, kind, shamir.encode_share(value))
        for peer, kind, value in msg.shares
    ]
    return envelope(config, MessageType.UNMASK_RESPONSE, sender, SERVER_ID, b"".join(parts))


def decode_unmask_response(data: bytes, config: RoundConfig, sender: int) -> UnmaskResponse:
    body = open_envelope(data, config, MessageType.UNMASK_RESPONSE, sender, SERVER_ID)
    prompt, body = _read_prompt(body)
    count = _count(body, _SHARE_ENTRY.size, config)
    shares = []
    for i in range(count):
        peer, kind, raw = _SHARE_ENTRY.unpack_from(body, 4 + i * _SHARE_ENTRY.size)
        if kind not in (ShareKind.KEY, ShareKind.SELF_MASK):
            raise _fail(f"unknown share kind {kind}")
        try:
            value = shamir.decode_share(raw)
        except ValueError as exc:
            raise _fail("share is not a field element") from exc
        shares.append((peer, ShareKind(kind), value))
    _check_ids([peer for peer, _, _ in shares], config)
    return UnmaskResponse(tuple(shares), prompt)


# --------------------------------------------------------------------------- share plaintext


def encode_share_plaintext(sender: int, recipient: int, key_share: int, mask_share: int) -> bytes:
    """The plaintext of e_{u,v}: ``u || v || share of s_u^SK || share of b_u``."""
    return (
        struct.pack(">II", sender, recipient)
        + shamir.encode_share(key_share)
        + shamir.encode_share(mask_share)
    )


def decode_share_plaintext(data: bytes, sender: int, recipient: int) -> tuple[int, int]:
    """Check the ids inside a decrypted e_{u,v} and return (key_share, mask_share)."""
    if len(data) != SHARE_PLAINTEXT_SIZE:
        raise _fail("share plaintext has the wrong length", DropReason.BAD_CIPHERTEXT)
    inner_sender, inner_recipient = struct.unpack_from(">II", data)
    if (inner_sender, inner_recipient) != (sender, recipient):
        raise _fail("share plaintext names other parties", DropReason.BAD_CIPHERTEXT)
    try:
        return (
            shamir.decode_share(data[8 : 8 + shamir.SHARE_SIZE]),
            shamir.decode_share(data[8 + shamir.SHARE_SIZE :]),
        )
    except ValueError as exc:
        raise _fail("share is not a field element", DropReason.BAD_CIPHERTEXT) from exc
