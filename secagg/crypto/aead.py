"""AES-256-GCM for the share ciphertexts of ShareKeys.

Associated data binds each ciphertext to (version, session, sender, recipient), so a ciphertext
forwarded to the wrong client, or replayed from another session, fails to authenticate.
"""

from __future__ import annotations

import struct

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from secagg.config import PROTOCOL_VERSION

TAG_SIZE = 16

# Each key k_{u->v} encrypts exactly one plaintext (see kdf.share_encryption_key), so a fixed
# nonce never repeats under one key.
_NONCE = bytes(12)


class AuthenticationError(ValueError):
    """A ciphertext did not authenticate. Deliberately says nothing more."""


def associated_data(session_id: bytes, sender: int, recipient: int) -> bytes:
    """``"secagg/v2/share" || session_id || uint32(sender) || uint32(recipient)``."""
    return (
        b"secagg/v%d/share" % PROTOCOL_VERSION + session_id + struct.pack(">II", sender, recipient)
    )


def seal(key: bytes, plaintext: bytes, ad: bytes) -> bytes:
    """AES-256-GCM encryption; returns ciphertext || 16-byte tag."""
    return AESGCM(key).encrypt(_NONCE, plaintext, ad)


def open_(key: bytes, ciphertext: bytes, ad: bytes) -> bytes:
    """AES-256-GCM decryption; raises :class:`AuthenticationError` on any failure."""
    try:
        return AESGCM(key).decrypt(_NONCE, ciphertext, ad)
    except InvalidTag as exc:
        raise AuthenticationError("share ciphertext failed to authenticate") from exc
