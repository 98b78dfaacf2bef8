"""HKDF-SHA256 with domain separation.

Every derived key is bound to the protocol version, the session (``salt = session_id``, itself a
hash of all round parameters), a purpose label and the two client ids, so a key derived for one
pair, purpose or round is useless for any other.
"""

from __future__ import annotations

import struct

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from secagg.config import PROTOCOL_VERSION

KEY_SIZE = 32

PURPOSE_PAIR_MASK = b"pair-mask"
"""The AES key of PRG(s_{u,v}), the pairwise mask: symmetric in (u, v), ids as (min, max)."""
PURPOSE_SELF_MASK = b"self-mask"
"""The AES key of PRG(b_u), the self mask: bound to the session and the client id."""
PURPOSE_SHARE_ENC = b"share-enc"
"""The AES-GCM keys of the share ciphertexts between u and v, both directions from one HKDF."""


_PREFIX = b"secagg/v%d/" % PROTOCOL_VERSION


def info(purpose: bytes, *ids: int) -> bytes:
    """The HKDF ``info``: ``"secagg/v2/" || purpose || uint32(id)...``."""
    return _PREFIX + purpose + struct.pack(f">{len(ids)}I", *ids)


def derive(
    ikm: bytes,
    *,
    session_id: bytes,
    purpose: bytes,
    ids: tuple[int, ...],
    length: int = KEY_SIZE,
) -> bytes:
    """``length`` bytes of HKDF-SHA256(ikm, salt=session_id, info=info(purpose, *ids))."""
    if len(ikm) != 32 or len(session_id) != 32:
        raise ValueError("ikm and session_id must be 32 bytes")
    return HKDF(
        algorithm=hashes.SHA256(),
        length=length,
        salt=session_id,
        info=info(purpose, *ids),
    ).derive(ikm)


def pair_mask_key(shared_secret: bytes, *, session_id: bytes, u: int, v: int) -> bytes:
    """The AES key of PRG(s_{u,v}) from KA.agree(s_u^SK, s_v^PK); identical for (u, v) and
    (v, u). One derivation per pair: the HKDF output is the stream key itself."""
    return derive(
        shared_secret,
        session_id=session_id,
        purpose=PURPOSE_PAIR_MASK,
        ids=(min(u, v), max(u, v)),
    )


def self_mask_key(b_u: bytes, *, session_id: bytes, u: int) -> bytes:
    """The AES key of PRG(b_u): bound to the session and to u, so a seed b_u that ever
    repeated would still give unrelated masks in another round or for another client."""
    return derive(b_u, session_id=session_id, purpose=PURPOSE_SELF_MASK, ids=(u,))


def share_encryption_keys(
    shared_secret: bytes, *, session_id: bytes, u: int, v: int
) -> tuple[bytes, bytes]:
    """``(k_{u->v}, k_{v->u})`` from KA.agree(c_u^SK, c_v^PK), one key per direction.

    One HKDF with 64 bytes of output over the ids ``(min, max)``: the first 32 bytes are the key
    from the smaller id to the larger, the next 32 the key back. Directional keys mean each key
    encrypts exactly one message, which is what makes the fixed AES-GCM nonce in
    :mod:`secagg.crypto.aead` safe.
    """
    low, high = min(u, v), max(u, v)
    both = derive(
        shared_secret,
        session_id=session_id,
        purpose=PURPOSE_SHARE_ENC,
        ids=(low, high),
        length=2 * KEY_SIZE,
    )
    up, down = both[:KEY_SIZE], both[KEY_SIZE:]
    return (up, down) if u < v else (down, up)


def share_encryption_key(
    shared_secret: bytes, *, session_id: bytes, sender: int, recipient: int
) -> bytes:
    """k_{sender->recipient} (:func:`share_encryption_keys`)."""
    return share_encryption_keys(shared_secret, session_id=session_id, u=sender, v=recipient)[0]
