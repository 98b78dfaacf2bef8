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

PURPOSE_MASK = b"pair-mask-seed"
"""s_{u,v}: the pairwise mask seed, symmetric in (u, v): the ids are passed as (min, max)."""
PURPOSE_SHARE_ENC = b"share-enc"
"""The AES-GCM key for the shares u sends to v: directional, ids passed as (sender, recipient)."""


def info(purpose: bytes, first: int, second: int) -> bytes:
    """The HKDF ``info``: ``"secagg/v1/" || purpose || uint32(first) || uint32(second)``."""
    return b"secagg/v%d/" % PROTOCOL_VERSION + purpose + struct.pack(">II", first, second)


def derive(
    shared_secret: bytes, *, session_id: bytes, purpose: bytes, first: int, second: int
) -> bytes:
    """32 bytes of HKDF-SHA256(ikm=shared_secret, salt=session_id, info=info(...))."""
    if len(shared_secret) != 32 or len(session_id) != 32:
        raise ValueError("shared_secret and session_id must be 32 bytes")
    return HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_SIZE,
        salt=session_id,
        info=info(purpose, first, second),
    ).derive(shared_secret)


def pair_mask_seed(shared_secret: bytes, *, session_id: bytes, u: int, v: int) -> bytes:
    """s_{u,v} = HKDF(KA.agree(s_u^SK, s_v^PK)); identical for (u, v) and (v, u)."""
    return derive(
        shared_secret,
        session_id=session_id,
        purpose=PURPOSE_MASK,
        first=min(u, v),
        second=max(u, v),
    )


def share_encryption_key(
    shared_secret: bytes, *, session_id: bytes, sender: int, recipient: int
) -> bytes:
    """k_{u->v} = HKDF(KA.agree(c_u^SK, c_v^PK)), one key per direction.

    Directional keys mean each key encrypts exactly one message, which is what makes the fixed
    AES-GCM nonce in :mod:`secagg.crypto.aead` safe.
    """
    return derive(
        shared_secret,
        session_id=session_id,
        purpose=PURPOSE_SHARE_ENC,
        first=sender,
        second=recipient,
    )
