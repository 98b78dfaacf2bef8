"""A deterministic randomness source for reproducible runs and known-answer vectors.

``Drbg(seed, label)`` reads the AES-256-CTR keystream (counter from block 0) keyed by
``prg_key(labeled_sha256("secagg/drbg-seed", seed), "drbg/" || label)``, i.e. HKDF with info
``"secagg/v2/prg/drbg/" || label`` over the hashed seed (any seed length works). It is
cryptographically strong *given a secret seed*; with a seed that others know (a test vector,
``--seed`` on the command line) everything it produces is public. Production callers leave
the seed out and get ``os.urandom``.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from secagg.crypto.hashing import sha256
from secagg.crypto.prg import BLOCK, LABEL_DRBG, prg_key, zeros

# Not versioned: the DRBG is not part of the exchange, only the source of the vectors' fixed
# randomness, and changing it would re-deal every recorded round (SPEC 7.1 gives it exactly).
_SEED_LABEL = b"secagg/drbg-seed"

RandomSource = Callable[[int], bytes]
"""``rand(n) -> n random bytes``: how randomness enters every function that needs it."""


def system_random(n: int) -> bytes:
    """The production source: the OS CSPRNG."""
    return os.urandom(n)


class Drbg:
    """An append-only stream of deterministic bytes. Not thread-safe."""

    def __init__(self, seed: bytes, label: bytes = b"") -> None:
        # prg_key wants exactly 32 bytes: hash a seed of any length down to that.
        key = prg_key(sha256(_SEED_LABEL, seed), LABEL_DRBG + b"/" + label)
        self._encryptor = Cipher(algorithms.AES(key), modes.CTR(bytes(BLOCK))).encryptor()

    def __call__(self, n: int) -> bytes:
        if n < 0:
            raise ValueError("n must be non-negative")
        return self._encryptor.update(zeros(n))

    def child(self, label: bytes) -> Drbg:
        """An independent stream: seeded by 32 bytes of this one, tagged with ``label``."""
        return Drbg(self(32), label)


def seed_bytes(seed: int | bytes) -> bytes:
    """A user-facing seed (a non-negative int or bytes) as bytes."""
    if isinstance(seed, bool):
        raise TypeError("seed must be an int or bytes")
    if isinstance(seed, int):
        if seed < 0:
            raise ValueError("seed must be non-negative")
        return seed.to_bytes(max(16, (seed.bit_length() + 7) // 8), "big")
    if isinstance(seed, bytes):
        return seed
    raise TypeError("seed must be an int or bytes")
