"""Ed25519 signatures (Bonawitz et al.'s SIG.gen / SIG.sign / SIG.ver) and the client roster.

In the malicious mode every client holds a long-term Ed25519 signing key ``d_u^SK``; the server
and every client are configured with the :class:`Roster`, the mapping from client id to
verification key ``d_u^PK``. Every signed message is ``u16(len(label)) || label || parts``,
the same unambiguous labelling as :func:`secagg.crypto.hashing.sha256`, so a signature made for
one purpose can never be taken for another. Ed25519 signing is deterministic (RFC 8032), which
keeps the known-answer vectors reproducible.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from secagg.crypto.hashing import sha256

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
SECRET_SIZE = 32


def signed_message(label: bytes, *parts: bytes | memoryview) -> bytes:
    """``u16(len(label)) || label || parts...``: what is actually signed."""
    return len(label).to_bytes(2, "big") + label + b"".join(bytes(p) for p in parts)


@dataclass(frozen=True, slots=True)
class SigningKey:
    """An Ed25519 signing key ``d_u^SK``; ``public`` is ``d_u^PK``."""

    public: bytes
    _private: Ed25519PrivateKey = field(repr=False, compare=False)

    @classmethod
    def from_secret(cls, secret: bytes) -> SigningKey:
        """SIG.gen with its randomness as an argument: 32 uniformly random bytes."""
        if not isinstance(secret, bytes):
            raise TypeError("secret must be bytes")
        if len(secret) != SECRET_SIZE:
            raise ValueError("secret must be 32 bytes")
        private = Ed25519PrivateKey.from_private_bytes(secret)
        public = private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
        return cls(public=public, _private=private)

    @classmethod
    def generate(cls) -> SigningKey:
        """A fresh key from the OS CSPRNG."""
        return cls.from_secret(os.urandom(SECRET_SIZE))

    def sign(self, label: bytes, *parts: bytes | memoryview) -> bytes:
        """SIG.sign over :func:`signed_message`; 64 bytes."""
        return self._private.sign(signed_message(label, *parts))


def verify(public: bytes, signature: bytes, label: bytes, *parts: bytes | memoryview) -> bool:
    """SIG.ver: True only for a valid 64-byte signature by ``public`` over the labelled parts.
    Any malformed key or signature is simply False."""
    if len(signature) != SIGNATURE_SIZE or len(public) != PUBLIC_KEY_SIZE:
        return False
    try:
        Ed25519PublicKey.from_public_bytes(public).verify(
            bytes(signature), signed_message(label, *parts)
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """A JSON object, refusing a key that appears twice (``json`` would keep the last)."""
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("a key appears twice in one JSON object")
    return out


_P = 2**255 - 19


def _small_order_encodings() -> frozenset[bytes]:
    """The encodings of the 8 points of small order on edwards25519 (RFC 8032), derived here:
    the identity (0, 1), (0, -1), the two points with y = 0 (x^2 = -1), and the four of order 8,
    whose doubling has y = 0, so y^2 = (-1 +- sqrt(1 + d)) / d. A key among them verifies
    forged signatures (R = identity, S = 0 passes for every message), so a roster refuses it.
    Encodings with y >= p are refused separately, as non-canonical."""
    d = -121665 * pow(121666, -1, _P) % _P
    root_minus_one = pow(2, (_P - 1) // 4, _P)

    def sqrt(a: int) -> int | None:  # p = 5 mod 8
        x = pow(a % _P, (_P + 3) // 8, _P)
        for candidate in (x, x * root_minus_one % _P):
            if candidate * candidate % _P == a % _P:
                return candidate
        return None

    points = [(0, 1), (0, _P - 1), (root_minus_one, 0), (_P - root_minus_one, 0)]
    for sign in (1, -1):
        root = sqrt(1 + d)
        assert root is not None
        y = sqrt((-1 + sign * root) * pow(d, -1, _P))
        if y is None:
            continue
        for yy in (y, _P - y):
            x = sqrt((yy * yy - 1) * pow(d * yy * yy + 1, -1, _P))
            if x is not None:
                points += [(x, yy), (_P - x, yy)]
    return frozenset((y | (x & 1) << 255).to_bytes(32, "little") for x, y in points)


_SMALL_ORDER = _small_order_encodings()


_D = -121665 * pow(121666, -1, _P) % _P


def is_usable_verification_key(public: bytes) -> bool:
    """True for a 32-byte Ed25519 key that is a point of the curve (x^2 = (y^2 - 1) /
    (d y^2 + 1) has a root), canonical (y < p; no sign bit on x = 0) and not of small order:
    the keys a roster accepts. (`cryptography` decodes a key only when it verifies.)"""
    if len(public) != PUBLIC_KEY_SIZE:
        return False
    y = int.from_bytes(public, "little") & ((1 << 255) - 1)
    if y >= _P or public in _SMALL_ORDER:
        return False
    # x = 0 only for y = +-1 (both small order); a sign bit there is a second spelling of them.
    if public[31] & 0x80 and y in (1, _P - 1):
        return False
    x2 = (y * y - 1) * pow(_D * y * y + 1, -1, _P) % _P
    return x2 == 0 or pow(x2, (_P - 1) // 2, _P) == 1  # Euler's criterion: a square mod p


class RosterError(ValueError):
    """A roster that cannot be used: unknown ids, malformed or repeated keys, bad file."""


@dataclass(frozen=True)
class Roster(Mapping[int, bytes]):
    """Client id -> Ed25519 verification key ``d_u^PK`` (32 raw bytes), for ids ``0..n-1``.

    Every key must decode as an Ed25519 public key and be distinct: two ids with one key would
    let one party sign as both. :attr:`digest` binds the roster into the session id, so parties
    configured with different rosters are in different sessions.
    """

    public_keys: tuple[bytes, ...]
    digest: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys = tuple(self.public_keys)
        if not keys:
            raise RosterError("a roster needs at least one client")
        for i, key in enumerate(keys):
            if not isinstance(key, bytes) or len(key) != PUBLIC_KEY_SIZE:
                raise RosterError(f"roster key of client {i} is not 32 bytes")
            try:
                Ed25519PublicKey.from_public_bytes(key)
            except ValueError:
                raise RosterError(f"roster key of client {i} is not an Ed25519 key") from None
            if not is_usable_verification_key(key):
                raise RosterError(
                    f"roster key of client {i} is not a curve point, is non-canonical or of small "
                    f"order: anyone could sign as that client, or no one"
                )
        if len(set(keys)) != len(keys):
            raise RosterError("roster repeats a verification key")
        object.__setattr__(self, "public_keys", keys)
        object.__setattr__(self, "digest", sha256(b"secagg/v2/roster", b"".join(keys)))

    @classmethod
    def from_mapping(cls, mapping: Mapping[int, bytes]) -> Roster:
        """From ``{id: key}`` whose ids are exactly ``0..n-1``."""
        ids = sorted(mapping)
        if ids != list(range(len(ids))):
            raise RosterError("roster ids must be exactly 0..n-1")
        return cls(tuple(mapping[i] for i in ids))

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Roster:
        """Read ``{"version": 2, "clients": {"0": "<64 hex>", ...}}`` (see :meth:`dump`)."""
        try:
            data = json.loads(Path(path).read_text(), object_pairs_hook=_unique_keys)
            clients = data["clients"]
            if data.get("version") != 2 or not isinstance(clients, dict):
                raise RosterError("roster file must have version 2 and a 'clients' object")
            # One spelling per id ("0", "1", ...): "00" or "+1" next to "0" or "1" would leave
            # which key counts to the order of the file.
            if any(str(int(k)) != k for k in clients):
                raise RosterError("roster ids must be written as plain decimal numbers")
            mapping = {int(k): bytes.fromhex(v) for k, v in clients.items()}
        except (OSError, ValueError, KeyError, TypeError, AttributeError) as exc:
            raise RosterError(f"cannot read roster file {str(path)!r}: {exc}") from None
        return cls.from_mapping(mapping)

    def dump(self, path: str | os.PathLike[str]) -> None:
        """Write the roster as JSON: public keys only, nothing secret."""
        clients = {str(i): key.hex() for i, key in enumerate(self.public_keys)}
        Path(path).write_text(json.dumps({"version": 2, "clients": clients}, indent=1) + "\n")

    def __getitem__(self, client: int) -> bytes:
        if not isinstance(client, int) or not 0 <= client < len(self.public_keys):
            raise KeyError(client)
        return self.public_keys[client]

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.public_keys)))

    def __len__(self) -> int:
        return len(self.public_keys)
