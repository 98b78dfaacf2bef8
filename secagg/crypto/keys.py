"""X25519 key agreement (Bonawitz et al.'s KA.gen / KA.agree)."""

from __future__ import annotations

from dataclasses import dataclass, field

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

KEY_SIZE = 32
_P25519 = 2**255 - 19


class KeyAgreementError(ValueError):
    """The peer's public key is malformed, non-canonical or of low order."""


def is_canonical(public: bytes) -> bool:
    """True when ``public`` is the one encoding of its u-coordinate: 32 bytes, u < 2^255 - 19.

    X25519 ignores bit 255 and reduces u mod p, so up to four byte strings spell the same u.
    (Other u-coordinates can still act as the same key - see :func:`fingerprint` - so keys are
    compared by fingerprint, not by bytes.)
    """
    return len(public) == KEY_SIZE and int.from_bytes(public, "little") < _P25519


@dataclass(frozen=True, slots=True)
class KeyPair:
    """An X25519 key pair; ``secret`` is the 32 raw private bytes (Shamir-shared for s_u^SK)."""

    secret: bytes = field(repr=False)
    public: bytes
    # Loading a private key costs as much as an agreement, so the loaded object is kept.
    _private: X25519PrivateKey = field(repr=False, compare=False)

    @classmethod
    def from_secret(cls, secret: bytes) -> KeyPair:
        """KA.gen with its randomness as an argument: ``secret`` is 32 uniformly random bytes."""
        if not isinstance(secret, bytes):
            raise TypeError("secret must be bytes")
        if len(secret) != KEY_SIZE:
            raise ValueError("secret must be 32 bytes")
        private = X25519PrivateKey.from_private_bytes(secret)
        public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return cls(secret=secret, public=public, _private=private)

    @property
    def private_key(self) -> X25519PrivateKey:
        """The loaded private key, for callers that agree with many already-checked keys."""
        return self._private

    def agree(self, peer_public: bytes) -> bytes:
        """KA.agree: the raw 32-byte X25519 shared secret with ``peer_public``.

        Raises :class:`KeyAgreementError` for a malformed or low-order peer key.
        """
        return _exchange(self._private, peer_public)


def agree(secret: bytes, peer_public: bytes) -> bytes:
    """KA.agree(secret, peer_public); raises :class:`KeyAgreementError` on a bad peer key."""
    return _exchange(X25519PrivateKey.from_private_bytes(secret), peer_public)


def _exchange(private: X25519PrivateKey, peer_public: bytes) -> bytes:
    if not is_canonical(peer_public):
        raise KeyAgreementError("peer public key is not 32 canonically encoded bytes")
    try:
        peer = X25519PublicKey.from_public_bytes(peer_public)
        # OpenSSL refuses an all-zero result, which is what low-order points produce.
        return private.exchange(peer)
    except ValueError as exc:
        raise KeyAgreementError("X25519 agreement failed") from exc


# A fixed, public probe key: agreement with it only tests and fingerprints public keys, it never
# protects anything.
_PROBE = X25519PrivateKey.from_private_bytes(bytes(range(1, 33)))


def fingerprint(public: bytes) -> bytes | None:
    """X25519(probe, ``public``): equal for exactly the public keys that act as the same key, or
    None for a key that must be refused (not canonical, or of low order).

    Adding a point of order dividing 8 to a public key (e.g. u -> 1/u mod p, which adds the
    point of order 2) gives a different canonical u that every X25519 agreement treats as the
    original key, because X25519 clamps secrets to multiples of 8. The probe's secret is clamped
    the same way, so such aliases share a fingerprint, while different keys get different ones.
    Checking "all public keys of a round are distinct" on fingerprints therefore catches a copied
    key however it is re-spelled.
    """
    if not is_canonical(public):
        return None
    try:
        return _PROBE.exchange(X25519PublicKey.from_public_bytes(public))
    except ValueError:  # the all-zero output of a low-order point
        return None


def is_valid_public(public: bytes) -> bool:
    """True when ``public`` is 32 bytes, canonical (:func:`is_canonical`) and not a low-order
    point (agreement with one would be all zero)."""
    return fingerprint(public) is not None
