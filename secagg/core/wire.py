"""Encode and decode every protocol message; decoding treats its input as hostile.

Layout (all integers big-endian except ring elements, which are little-endian; see
protocol/SPEC.md for the byte-by-byte description)::

    envelope = magic "SAGG" | version u8 | type u8 | flags u16 (0)
             | session_id 32 | sender u32 | recipient u32
             | body
             | digest 32 = SHA-256(label "secagg/v2/digest" | everything before it)

The digest detects accidental corruption and truncation; it is *not* authentication (anyone can
recompute it). Every client reply to a server prompt starts with ``prompt 32``: the digest of
the prompt envelope it answers, echoed, so the server can tell that the client acted on what it
was sent.

Every decoder checks the length against the largest message of its type before anything is
hashed, caps every count by what the configuration allows, requires ids in ``[0, n)`` in
strictly increasing order (so each encoding is canonical and duplicate-free), and raises
:class:`~secagg.errors.DecodeError` with a :class:`~secagg.errors.DropReason` - never any
other exception - on bad input.
"""

from __future__ import annotations

import enum
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from secagg.config import PROTOCOL_VERSION, RoundConfig
from secagg.crypto import shamir
from secagg.crypto.aead import TAG_SIZE
from secagg.crypto.hashing import sha256
from secagg.crypto.prg import RingArray, ring_dtype
from secagg.crypto.sign import SIGNATURE_SIZE
from secagg.errors import DecodeError, DropReason

MAGIC = b"SAGG"
SERVER_ID = 0xFFFFFFFF
"""The server's id in the sender/recipient fields of the envelope."""

_HEADER = struct.Struct(">4sBBH32sII")
HEADER_SIZE = _HEADER.size  # 48
DIGEST_SIZE = 32
_DIGEST_LABEL = b"secagg/v%d/digest" % PROTOCOL_VERSION

PUBLIC_KEY_SIZE = 32
COMMITMENT_SIZE = 32
SHARE_SIZE = shamir.SHARE_SIZE  # 36
SHARE_PLAINTEXT_SIZE = 4 + 4 + 2 * SHARE_SIZE  # sender, recipient, s^SK share, b share: 80
SHARE_CIPHERTEXT_SIZE = SHARE_PLAINTEXT_SIZE + TAG_SIZE  # 96

_U32 = struct.Struct(">I")
_KEY_ENTRY_SIZE = 4 + 2 * PUBLIC_KEY_SIZE  # 68, plus a 64-byte signature when malicious
_CT_ENTRY_SIZE = 4 + SHARE_CIPHERTEXT_SIZE  # 100
_COMMIT_ENTRY = struct.Struct(">I32s32s")  # 68
_FORWARD_ENTRY_SIZE = _CT_ENTRY_SIZE + 2 * COMMITMENT_SIZE  # 164
_SIGNER_ENTRY_SIZE = 4 + SIGNATURE_SIZE  # 68
_SHARE_ENTRY_SIZE = 4 + 1 + SHARE_SIZE  # 41

# The same entries as numpy records, for decoding a list in one step instead of entry by entry.
_CT_RECORD = np.dtype([("id", ">u4"), ("ciphertext", "u1", (SHARE_CIPHERTEXT_SIZE,))])
_COMMIT_RECORD = np.dtype([("id", ">u4"), ("commitments", "u1", (2, COMMITMENT_SIZE))])
_SHARE_RECORD = np.dtype([("id", ">u4"), ("kind", "u1"), ("limbs", ">u4", (shamir.LIMBS,))])


class MessageType(enum.IntEnum):
    """The ``type`` byte, in the order the messages flow."""

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


class ShareKind(enum.IntEnum):
    """Which secret an unmasking share belongs to."""

    KEY = 0
    """A share of s_v^SK, revealed only for a peer v that dropped before MaskedInput."""
    SELF_MASK = 1
    """A share of b_v, revealed only for a peer v whose masked input the server accepted."""


# --------------------------------------------------------------------------- id sets


@dataclass(frozen=True, slots=True)
class IdSet:
    """A set of client ids as a bitmap of ``ceil(n / 8)`` bytes: id ``i`` is bit ``7 - i % 8``
    of byte ``i // 8`` (most significant bit first); the bits past ``n`` are zero."""

    bitmap: bytes
    num_clients: int
    _bits: npt.NDArray[np.bool_] = field(repr=False, compare=False)

    @classmethod
    def of(cls, ids: Iterable[int], num_clients: int) -> IdSet:
        members = np.fromiter(ids, dtype=np.int64)
        if members.size and (members.min() < 0 or members.max() >= num_clients):
            raise ValueError(f"ids must be in [0, {num_clients})")
        bits = np.zeros(num_clients, dtype=bool)
        bits[members] = True
        bits.setflags(write=False)
        return cls(np.packbits(bits).tobytes(), num_clients, bits)

    @classmethod
    def decode(cls, data: bytes | memoryview, num_clients: int) -> IdSet:
        if len(data) != (num_clients + 7) // 8:
            raise _fail(f"a set of {num_clients} ids is {(num_clients + 7) // 8} bytes")
        unpacked = np.unpackbits(np.frombuffer(data, dtype=np.uint8))
        if unpacked[num_clients:].any():
            raise _fail("bits past the last client id are set")
        bits = unpacked[:num_clients].astype(bool)
        bits.setflags(write=False)
        return cls(bytes(data), num_clients, bits)

    def __contains__(self, client: object) -> bool:
        return (
            isinstance(client, int) and 0 <= client < self.num_clients and bool(self._bits[client])
        )

    def __len__(self) -> int:
        return int(np.count_nonzero(self._bits))

    def ids(self) -> list[int]:
        """The members, sorted."""
        members: list[int] = np.flatnonzero(self._bits).tolist()
        return members

    def issubset(self, other: IdSet) -> bool:
        return not bool(np.any(self._bits & ~other._bits))

    def count_in(self, ids: Iterable[int]) -> int:
        """How many of ``ids`` are members."""
        return sum(1 for i in ids if i in self)


# --------------------------------------------------------------------------- messages


@dataclass(frozen=True, slots=True)
class AdvertiseKeys:
    """Round advertise_keys, client u -> server: (c_u^PK, s_u^PK), and in the malicious mode
    the signature of d_u^SK over them (:func:`advertise_signed_parts`)."""

    c_public: bytes
    s_public: bytes
    signature: bytes = b""


@dataclass(frozen=True, slots=True)
class KeyEntry:
    client: int
    c_public: bytes
    s_public: bytes
    signature: bytes = b""


@dataclass(frozen=True, slots=True)
class KeyList:
    """Round share_keys prompt, server -> v: the keys of v's holders in U1, sorted by id."""

    entries: tuple[KeyEntry, ...]


@dataclass(frozen=True, slots=True)
class ShareKeys:
    """Round share_keys, client u -> server: the commitment C_b to b_u; e_{u,v} for every
    neighbour v of the key list, sorted by v; and the commitments (v, C(share of s_u^SK),
    C(share of b_u)) for every holder v, u itself included."""

    self_mask_commitment: bytes
    ciphertexts: tuple[tuple[int, bytes], ...]
    commitments: tuple[tuple[int, bytes, bytes], ...]
    prompt: bytes
    """The digest of the KeyList envelope this answers (:func:`prompt_digest`)."""


@dataclass(frozen=True, slots=True)
class ForwardEntry:
    """e_{u,v} for the recipient v, with u's commitments to the two shares inside it."""

    sender: int
    ciphertext: bytes
    key_commitment: bytes
    mask_commitment: bytes


@dataclass(frozen=True, slots=True)
class ShareForward:
    """Round share_check prompt, server -> v: an entry for every neighbour u of v whose
    ShareKeys was accepted, sorted by u."""

    entries: tuple[ForwardEntry, ...]


@dataclass(frozen=True, slots=True)
class ShareCheck:
    """Round share_check, client v -> server: the senders whose shares v could not use
    (ciphertext or plaintext invalid, or shares not matching the forwarded commitments)."""

    accused: tuple[int, ...]
    prompt: bytes


@dataclass(frozen=True, slots=True)
class MaskRequest:
    """Round masked_input prompt, server -> v: U2, the clients every member masks with."""

    u2: IdSet


@dataclass(frozen=True, slots=True)
class MaskedInput:
    """Round masked_input, client u -> server:
    y_u = x_u + PRG(b_u) + sum_v +-PRG(s_{u,v}) mod 2^b."""

    vector: RingArray
    prompt: bytes


@dataclass(frozen=True, slots=True)
class ConsistencyRequest:
    """Round consistency_check prompt (malicious mode), server -> v: U3, to be signed."""

    u3: IdSet


@dataclass(frozen=True, slots=True)
class ConsistencyResponse:
    """Round consistency_check, client v -> server: v's signature over (session, U3)."""

    signature: bytes
    prompt: bytes


@dataclass(frozen=True, slots=True)
class UnmaskRequest:
    """Round unmasking prompt, server -> v: U3 and, in the malicious mode, the consistency
    signatures (signer, signature) v needs, sorted by signer."""

    u3: IdSet
    signatures: tuple[tuple[int, bytes], ...] = ()


@dataclass(frozen=True, slots=True)
class UnmaskResponse:
    """Round unmasking, client v -> server: (peer, kind, share) for every peer of U2 whose
    shares it holds (itself included), sorted by peer."""

    shares: tuple[tuple[int, ShareKind, bytes], ...] = field(repr=False)  # never into a log
    prompt: bytes


# --------------------------------------------------------------------------- sizes


def max_body_size(config: RoundConfig, kind: MessageType) -> int:
    """The largest legitimate body of a message of type ``kind`` for ``config``."""
    h, n, b = config.holders, config.num_clients, config.bitmap_size
    sig = SIGNATURE_SIZE if config.malicious else 0
    sizes = {
        MessageType.ADVERTISE_KEYS: 2 * PUBLIC_KEY_SIZE + sig,
        MessageType.KEY_LIST: 4 + h * (_KEY_ENTRY_SIZE + sig),
        MessageType.SHARE_KEYS: DIGEST_SIZE
        + COMMITMENT_SIZE
        + 4
        + (h - 1) * _CT_ENTRY_SIZE
        + 4
        + h * _COMMIT_ENTRY.size,
        MessageType.SHARE_FORWARD: 4 + (h - 1) * _FORWARD_ENTRY_SIZE,
        MessageType.SHARE_CHECK: DIGEST_SIZE + 4 + (h - 1) * 4,
        MessageType.MASK_REQUEST: b,
        MessageType.MASKED_INPUT: DIGEST_SIZE + config.dim * config.width,
        MessageType.CONSISTENCY_REQUEST: b,
        MessageType.CONSISTENCY_RESPONSE: DIGEST_SIZE + SIGNATURE_SIZE,
        MessageType.UNMASK_REQUEST: b + (4 + n * _SIGNER_ENTRY_SIZE if config.malicious else 0),
        MessageType.UNMASK_RESPONSE: DIGEST_SIZE + 4 + h * _SHARE_ENTRY_SIZE,
    }
    return sizes[kind]


def max_message_size(config: RoundConfig, kind: MessageType) -> int:
    """The largest legitimate message of type ``kind``; anything longer is rejected before its
    digest is computed."""
    return HEADER_SIZE + max_body_size(config, kind) + DIGEST_SIZE


# --------------------------------------------------------------------------- envelope


def envelope(
    config: RoundConfig,
    kind: MessageType,
    sender: int,
    recipient: int,
    *body: bytes | memoryview,
) -> bytes:
    """Wrap the body (given in parts, which are hashed and joined without concatenating them
    first: a masked vector is copied once) in the header and digest."""
    head = _HEADER.pack(MAGIC, PROTOCOL_VERSION, kind, 0, config.session_id, sender, recipient)
    return b"".join([head, *body, sha256(_DIGEST_LABEL, head, *body)])


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
    if len(view) > max_message_size(config, expected):
        raise DecodeError(
            DropReason.DECODE_FAILED, f"message too long for {expected.name} ({len(view)} bytes)"
        )
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


# --------------------------------------------------------------------------- lists


def _fail(detail: str, reason: DropReason = DropReason.DECODE_FAILED) -> DecodeError:
    return DecodeError(reason, detail)


def _count(body: memoryview, entry_size: int, cap: int, *, more: bool = False) -> int:
    """The u32 count that opens ``body``, checked against ``cap`` and against the length of the
    ``count`` entries that follow: exactly the rest of the body, or (``more``: something comes
    after) at most the rest."""
    if len(body) < 4:
        raise _fail("body too short for a count")
    count: int = _U32.unpack_from(body)[0]
    if count > cap:
        raise _fail(f"count {count} exceeds {cap}")
    end = 4 + count * entry_size
    if len(body) < end if more else len(body) != end:
        raise _fail(f"body length {len(body)} does not match count {count}")
    return count


def _ids_at(body: memoryview, count: int, entry_size: int, config: RoundConfig) -> list[int]:
    """The u32 id opening each of ``count`` entries after the count; range and order checked."""
    ids = [_U32.unpack_from(body, 4 + i * entry_size)[0] for i in range(count)]
    _check_ids(ids, config)
    return ids


def _records(
    body: memoryview, count: int, dtype: np.dtype[np.void], config: RoundConfig
) -> npt.NDArray[np.void]:
    """The ``count`` entries after a list's count as records; ids checked in range and order
    (the rule of :func:`_check_ids`, applied to the whole array at once)."""
    records = np.frombuffer(body, dtype=dtype, count=count, offset=4)
    ids = records["id"].astype(np.int64)
    if count and int(ids.max()) >= config.num_clients:
        raise _fail(f"client id {int(ids.max())} out of range")
    if count > 1 and not bool(np.all(ids[1:] > ids[:-1])):
        raise _fail("client ids are not strictly increasing")
    return records


def _check_ids(ids: list[int], config: RoundConfig) -> None:
    previous = -1
    for client in ids:
        if client >= config.num_clients:
            raise _fail(f"client id {client} out of range")
        if client <= previous:
            raise _fail("client ids are not strictly increasing")
        previous = client


def _id_list(ids: Iterable[int]) -> bytes:
    items = list(ids)
    return _U32.pack(len(items)) + np.asarray(items, dtype=">u4").tobytes()


# --------------------------------------------------------------------------- advertise_keys


def advertise_signed_parts(
    config: RoundConfig, sender: int, c_public: bytes, s_public: bytes
) -> tuple[bytes, ...]:
    """What d_u^SK signs in the malicious mode, after the label "secagg/v2/advertise":
    ``session_id || u32(u) || c_u^PK || s_u^PK``."""
    return (config.session_id, _U32.pack(sender), c_public, s_public)


LABEL_ADVERTISE = b"secagg/v%d/advertise" % PROTOCOL_VERSION
LABEL_CONSISTENCY = b"secagg/v%d/consistency" % PROTOCOL_VERSION


def _check_signature(config: RoundConfig, signature: bytes) -> bytes:
    """The signature field as the mode wants it: 64 bytes when malicious, absent otherwise."""
    if not config.malicious:
        if signature:
            raise ValueError("the semi-honest mode carries no signatures")
        return b""
    if len(signature) != SIGNATURE_SIZE:
        raise ValueError("the malicious mode needs a 64-byte signature")
    return signature


def _check_fixed(value: bytes, size: int, what: str) -> bytes:
    if len(value) != size:
        raise ValueError(f"{what} must be {size} bytes")
    return value


def encode_advertise_keys(config: RoundConfig, sender: int, msg: AdvertiseKeys) -> bytes:
    body = (
        _check_fixed(msg.c_public, PUBLIC_KEY_SIZE, "a public key")
        + _check_fixed(msg.s_public, PUBLIC_KEY_SIZE, "a public key")
        + _check_signature(config, msg.signature)
    )
    return envelope(config, MessageType.ADVERTISE_KEYS, sender, SERVER_ID, body)


def decode_advertise_keys(data: bytes, config: RoundConfig, sender: int) -> AdvertiseKeys:
    body = open_envelope(data, config, MessageType.ADVERTISE_KEYS, sender, SERVER_ID)
    if len(body) != max_body_size(config, MessageType.ADVERTISE_KEYS):
        raise _fail(
            f"AdvertiseKeys body must be {max_body_size(config, MessageType.ADVERTISE_KEYS)} bytes"
        )
    return AdvertiseKeys(bytes(body[:32]), bytes(body[32:64]), bytes(body[64:]))


# --------------------------------------------------------------------------- share_keys


def _key_entry_size(config: RoundConfig) -> int:
    return _KEY_ENTRY_SIZE + (SIGNATURE_SIZE if config.malicious else 0)


def key_entry_bytes(config: RoundConfig, entry: KeyEntry) -> bytes:
    """One KeyList entry: ``u32(client) || c_public || s_public [|| signature]``."""
    return (
        _U32.pack(entry.client)
        + _check_fixed(entry.c_public, PUBLIC_KEY_SIZE, "a public key")
        + _check_fixed(entry.s_public, PUBLIC_KEY_SIZE, "a public key")
        + _check_signature(config, entry.signature)
    )


def key_list_body(config: RoundConfig, msg: KeyList) -> bytes:
    return _U32.pack(len(msg.entries)) + b"".join(key_entry_bytes(config, e) for e in msg.entries)


def encode_key_list(config: RoundConfig, recipient: int, msg: KeyList) -> bytes:
    return envelope(config, MessageType.KEY_LIST, SERVER_ID, recipient, key_list_body(config, msg))


def decode_key_list(data: bytes, config: RoundConfig, recipient: int) -> KeyList:
    body = open_envelope(data, config, MessageType.KEY_LIST, SERVER_ID, recipient)
    size = _key_entry_size(config)
    count = _count(body, size, config.holders)
    _ids_at(body, count, size, config)
    entries = []
    for i in range(count):
        at = 4 + i * size
        entries.append(
            KeyEntry(
                _U32.unpack_from(body, at)[0],
                bytes(body[at + 4 : at + 36]),
                bytes(body[at + 36 : at + 68]),
                bytes(body[at + 68 : at + size]),
            )
        )
    return KeyList(tuple(entries))


def encode_share_keys(config: RoundConfig, sender: int, msg: ShareKeys) -> bytes:
    """Body: prompt, C_b, the ciphertext list, then the commitment list."""
    if len(msg.self_mask_commitment) != COMMITMENT_SIZE:
        raise ValueError("the self-mask commitment is 32 bytes")
    parts = [_check_prompt(msg.prompt), msg.self_mask_commitment, _U32.pack(len(msg.ciphertexts))]
    for peer, ciphertext in msg.ciphertexts:
        if len(ciphertext) != SHARE_CIPHERTEXT_SIZE:
            raise ValueError(f"share ciphertexts are {SHARE_CIPHERTEXT_SIZE} bytes")
        parts.append(_U32.pack(peer) + ciphertext)
    parts.append(_U32.pack(len(msg.commitments)))
    for v, ck, cm in msg.commitments:
        _check_fixed(ck, COMMITMENT_SIZE, "a commitment")
        _check_fixed(cm, COMMITMENT_SIZE, "a commitment")
        parts.append(_COMMIT_ENTRY.pack(v, ck, cm))
    return envelope(config, MessageType.SHARE_KEYS, sender, SERVER_ID, b"".join(parts))


@dataclass(frozen=True, slots=True)
class ShareKeysArrays:
    """A decoded ShareKeys as arrays (what the server keeps): the recipients and their
    ciphertexts ``(c, 96)``, the holders and their commitments ``(k, 2, 32)``: C_key, C_mask."""

    self_mask_commitment: bytes
    peers: npt.NDArray[np.int64]
    ciphertexts: npt.NDArray[np.uint8]
    holders: npt.NDArray[np.int64]
    commitments: npt.NDArray[np.uint8]
    prompt: bytes


def decode_share_keys_arrays(data: bytes, config: RoundConfig, sender: int) -> ShareKeysArrays:
    body = open_envelope(data, config, MessageType.SHARE_KEYS, sender, SERVER_ID)
    prompt, body = _read_prompt(body)
    if len(body) < COMMITMENT_SIZE:
        raise _fail("body too short for the self-mask commitment")
    c_b, body = bytes(body[:COMMITMENT_SIZE]), body[COMMITMENT_SIZE:]
    ct_count = _count(body, _CT_ENTRY_SIZE, config.holders - 1, more=True)
    cts = _records(body, ct_count, _CT_RECORD, config)
    rest = body[4 + ct_count * _CT_ENTRY_SIZE :]
    commit_count = _count(rest, _COMMIT_ENTRY.size, config.holders)
    commits = _records(rest, commit_count, _COMMIT_RECORD, config)
    return ShareKeysArrays(
        c_b,
        cts["id"].astype(np.int64),
        np.ascontiguousarray(cts["ciphertext"]),
        commits["id"].astype(np.int64),
        np.ascontiguousarray(commits["commitments"]),
        prompt,
    )


def decode_share_keys(data: bytes, config: RoundConfig, sender: int) -> ShareKeys:
    msg = decode_share_keys_arrays(data, config, sender)
    ciphertexts = tuple(
        (int(peer), ct.tobytes()) for peer, ct in zip(msg.peers, msg.ciphertexts, strict=True)
    )
    commitments = tuple(
        (int(holder), c[0].tobytes(), c[1].tobytes())
        for holder, c in zip(msg.holders, msg.commitments, strict=True)
    )
    return ShareKeys(msg.self_mask_commitment, ciphertexts, commitments, msg.prompt)


# --------------------------------------------------------------------------- share_check


def share_forward_body(msg: ShareForward) -> bytes:
    parts = [_U32.pack(len(msg.entries))]
    for e in msg.entries:
        parts.append(
            _U32.pack(e.sender)
            + _check_fixed(e.ciphertext, SHARE_CIPHERTEXT_SIZE, "a share ciphertext")
            + _check_fixed(e.key_commitment, COMMITMENT_SIZE, "a commitment")
            + _check_fixed(e.mask_commitment, COMMITMENT_SIZE, "a commitment")
        )
    return b"".join(parts)


def encode_share_forward(config: RoundConfig, recipient: int, msg: ShareForward) -> bytes:
    return envelope(
        config, MessageType.SHARE_FORWARD, SERVER_ID, recipient, share_forward_body(msg)
    )


def decode_share_forward(data: bytes, config: RoundConfig, recipient: int) -> ShareForward:
    body = open_envelope(data, config, MessageType.SHARE_FORWARD, SERVER_ID, recipient)
    count = _count(body, _FORWARD_ENTRY_SIZE, config.holders - 1)
    senders = _ids_at(body, count, _FORWARD_ENTRY_SIZE, config)
    entries = []
    for i, sender in enumerate(senders):
        at = 4 + i * _FORWARD_ENTRY_SIZE + 4
        ct_end = at + SHARE_CIPHERTEXT_SIZE
        entries.append(
            ForwardEntry(
                sender,
                bytes(body[at:ct_end]),
                bytes(body[ct_end : ct_end + COMMITMENT_SIZE]),
                bytes(body[ct_end + COMMITMENT_SIZE : ct_end + 2 * COMMITMENT_SIZE]),
            )
        )
    return ShareForward(tuple(entries))


def encode_share_check(config: RoundConfig, sender: int, msg: ShareCheck) -> bytes:
    body = _check_prompt(msg.prompt) + _id_list(msg.accused)
    return envelope(config, MessageType.SHARE_CHECK, sender, SERVER_ID, body)


def decode_share_check(data: bytes, config: RoundConfig, sender: int) -> ShareCheck:
    body = open_envelope(data, config, MessageType.SHARE_CHECK, sender, SERVER_ID)
    prompt, body = _read_prompt(body)
    count = _count(body, 4, config.holders - 1)
    return ShareCheck(tuple(_ids_at(body, count, 4, config)), prompt)


# --------------------------------------------------------------------------- masked_input


def encode_mask_request(config: RoundConfig, recipient: int, msg: MaskRequest) -> bytes:
    return envelope(config, MessageType.MASK_REQUEST, SERVER_ID, recipient, msg.u2.bitmap)


def decode_mask_request(data: bytes, config: RoundConfig, recipient: int) -> MaskRequest:
    body = open_envelope(data, config, MessageType.MASK_REQUEST, SERVER_ID, recipient)
    return MaskRequest(IdSet.decode(body, config.num_clients))


def encode_masked_input(config: RoundConfig, sender: int, msg: MaskedInput) -> bytes:
    vector = np.ascontiguousarray(msg.vector, dtype=ring_dtype(config.bits))
    if vector.shape != (config.dim,):
        raise ValueError(f"masked input must have shape ({config.dim},)")
    prompt = _check_prompt(msg.prompt)
    return envelope(
        config, MessageType.MASKED_INPUT, sender, SERVER_ID, prompt, vector.data.cast("B")
    )


def decode_masked_input(data: bytes, config: RoundConfig, sender: int) -> MaskedInput:
    """The vector is a read-only view into ``data`` (no copy); every element is checked < 2^b."""
    body = open_envelope(data, config, MessageType.MASKED_INPUT, sender, SERVER_ID)
    prompt, body = _read_prompt(body)
    if len(body) != config.dim * config.width:
        raise _fail(f"masked input must be {config.dim * config.width} bytes, got {len(body)}")
    vector: RingArray = np.frombuffer(body, dtype=ring_dtype(config.bits))
    vector.flags.writeable = False  # a view into the caller's buffer, which may be mutable
    # max() scans without the temporary array that ``vector >> bits`` would allocate.
    if config.bits % 32 and vector.size and int(vector.max()) >> config.bits:
        raise _fail("masked input has elements outside Z_2^b", DropReason.INVALID_CONTENT)
    return MaskedInput(vector, prompt)


# --------------------------------------------------------------------------- consistency_check


def encode_consistency_request(
    config: RoundConfig, recipient: int, msg: ConsistencyRequest
) -> bytes:
    return envelope(config, MessageType.CONSISTENCY_REQUEST, SERVER_ID, recipient, msg.u3.bitmap)


def decode_consistency_request(
    data: bytes, config: RoundConfig, recipient: int
) -> ConsistencyRequest:
    body = open_envelope(data, config, MessageType.CONSISTENCY_REQUEST, SERVER_ID, recipient)
    return ConsistencyRequest(IdSet.decode(body, config.num_clients))


def consistency_signed_parts(config: RoundConfig, u3: IdSet) -> tuple[bytes, ...]:
    """What d_v^SK signs, after the label "secagg/v2/consistency": ``session_id || U3``."""
    return (config.session_id, u3.bitmap)


def encode_consistency_response(
    config: RoundConfig, sender: int, msg: ConsistencyResponse
) -> bytes:
    if len(msg.signature) != SIGNATURE_SIZE:
        raise ValueError("a signature is 64 bytes")
    body = _check_prompt(msg.prompt) + msg.signature
    return envelope(config, MessageType.CONSISTENCY_RESPONSE, sender, SERVER_ID, body)


def decode_consistency_response(
    data: bytes, config: RoundConfig, sender: int
) -> ConsistencyResponse:
    body = open_envelope(data, config, MessageType.CONSISTENCY_RESPONSE, sender, SERVER_ID)
    prompt, body = _read_prompt(body)
    if len(body) != SIGNATURE_SIZE:
        raise _fail("ConsistencyResponse carries one 64-byte signature")
    return ConsistencyResponse(bytes(body), prompt)


# --------------------------------------------------------------------------- unmasking


def unmask_request_body(config: RoundConfig, msg: UnmaskRequest) -> bytes:
    if not config.malicious:
        return msg.u3.bitmap
    parts = [msg.u3.bitmap, _U32.pack(len(msg.signatures))]
    parts += [_U32.pack(signer) + sig for signer, sig in msg.signatures]
    return b"".join(parts)


def encode_unmask_request(config: RoundConfig, recipient: int, msg: UnmaskRequest) -> bytes:
    body = unmask_request_body(config, msg)
    return envelope(config, MessageType.UNMASK_REQUEST, SERVER_ID, recipient, body)


def decode_unmask_request(data: bytes, config: RoundConfig, recipient: int) -> UnmaskRequest:
    body = open_envelope(data, config, MessageType.UNMASK_REQUEST, SERVER_ID, recipient)
    size = config.bitmap_size
    if not config.malicious:
        return UnmaskRequest(IdSet.decode(body, config.num_clients))
    if len(body) < size:
        raise _fail("body too short for the survivor set")
    u3 = IdSet.decode(body[:size], config.num_clients)
    rest = body[size:]
    count = _count(rest, _SIGNER_ENTRY_SIZE, config.num_clients)
    signers = _ids_at(rest, count, _SIGNER_ENTRY_SIZE, config)
    signatures = tuple(
        (signer, bytes(rest[4 + i * _SIGNER_ENTRY_SIZE + 4 : 4 + (i + 1) * _SIGNER_ENTRY_SIZE]))
        for i, signer in enumerate(signers)
    )
    return UnmaskRequest(u3, signatures)


def encode_unmask_response(config: RoundConfig, sender: int, msg: UnmaskResponse) -> bytes:
    parts = [_check_prompt(msg.prompt), _U32.pack(len(msg.shares))]
    for peer, kind, value in msg.shares:
        if len(value) != SHARE_SIZE:
            raise ValueError(f"a share is {SHARE_SIZE} bytes")
        parts.append(_U32.pack(peer) + bytes([kind]) + value)
    return envelope(config, MessageType.UNMASK_RESPONSE, sender, SERVER_ID, b"".join(parts))


@dataclass(frozen=True, slots=True)
class ShareList:
    """A decoded UnmaskResponse as arrays (what the server keeps): the owners (sorted), the
    kinds, and the shares as field elements ``(count, LIMBS)``."""

    peers: npt.NDArray[np.int64]
    kinds: npt.NDArray[np.uint8]
    limbs: npt.NDArray[np.uint64]
    encoded: bytes = field(repr=False)
    """The shares' 36-byte encodings, back to back (what the commitments hash)."""
    prompt: bytes


def decode_unmask_response_arrays(data: bytes, config: RoundConfig, sender: int) -> ShareList:
    body = open_envelope(data, config, MessageType.UNMASK_RESPONSE, sender, SERVER_ID)
    prompt, body = _read_prompt(body)
    count = _count(body, _SHARE_ENTRY_SIZE, config.holders)
    records = _records(body, count, _SHARE_RECORD, config)
    kinds = np.ascontiguousarray(records["kind"])
    if count and int(kinds.max()) > ShareKind.SELF_MASK:
        raise _fail(f"unknown share kind {int(kinds.max())}")
    limbs = np.ascontiguousarray(records["limbs"]).astype(np.uint64)
    if count and int(limbs.max()) >= shamir.PRIME:
        raise _fail("share is not a field element")
    encoded = np.ascontiguousarray(records["limbs"]).tobytes()
    return ShareList(records["id"].astype(np.int64), kinds, limbs, encoded, prompt)


def decode_unmask_response(data: bytes, config: RoundConfig, sender: int) -> UnmaskResponse:
    msg = decode_unmask_response_arrays(data, config, sender)
    shares = tuple(
        (int(peer), ShareKind(int(kind)), msg.encoded[i * SHARE_SIZE : (i + 1) * SHARE_SIZE])
        for i, (peer, kind) in enumerate(zip(msg.peers, msg.kinds, strict=True))
    )
    return UnmaskResponse(shares, msg.prompt)


# --------------------------------------------------------------------------- share plaintext


def encode_share_plaintext(
    sender: int, recipient: int, key_share: bytes, mask_share: bytes
) -> bytes:
    """The plaintext of e_{u,v}: ``u || v || share of s_u^SK || share of b_u``."""
    return struct.pack(">II", sender, recipient) + key_share + mask_share


def decode_share_plaintext(data: bytes, sender: int, recipient: int) -> tuple[bytes, bytes]:
    """Check the ids inside a decrypted e_{u,v} and return (key_share, mask_share)."""
    if len(data) != SHARE_PLAINTEXT_SIZE:
        raise _fail("share plaintext has the wrong length", DropReason.BAD_CIPHERTEXT)
    inner_sender, inner_recipient = struct.unpack_from(">II", data)
    if (inner_sender, inner_recipient) != (sender, recipient):
        raise _fail("share plaintext names other parties", DropReason.BAD_CIPHERTEXT)
    key_share, mask_share = data[8 : 8 + SHARE_SIZE], data[8 + SHARE_SIZE :]
    if not (shamir.is_share(key_share) and shamir.is_share(mask_share)):
        raise _fail("share is not a field element", DropReason.BAD_CIPHERTEXT)
    return key_share, mask_share
