"""The hardware floor a round is measured against, taken in the same run.

No implementation of the protocol can avoid two costs: the AES-CTR keystream of every mask it
expands, and the X25519 agreements of every pair it masks or shares with. Both are measured
here with the same `cryptography` install the library uses, single-threaded, best of several
tries (the floor is what the machine can do, not what it did on a noisy try).
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def keystream_seconds(nbytes: int, repeats: int = 20) -> float:
    """Best-of-``repeats`` time to produce ``nbytes`` of AES-256-CTR keystream into a reused
    buffer."""
    zeros = bytes(nbytes)
    out = bytearray(nbytes + 15)
    best = float("inf")
    for _ in range(repeats):
        encryptor = Cipher(algorithms.AES(bytes(32)), modes.CTR(bytes(16))).encryptor()
        start = time.perf_counter()
        encryptor.update_into(zeros, out)
        best = min(best, time.perf_counter() - start)
    return best


def x25519_seconds(repeats: int = 2000) -> float:
    """Best time of one raw X25519 agreement with loaded keys."""
    private = X25519PrivateKey.from_private_bytes(bytes(range(32)))
    peer = X25519PrivateKey.from_private_bytes(bytes(range(1, 33))).public_key()
    best = float("inf")
    for _ in range(repeats // 100):
        start = time.perf_counter()
        for _ in range(100):
            private.exchange(peer)
        best = min(best, (time.perf_counter() - start) / 100)
    return best


@dataclass(frozen=True, slots=True)
class Floor:
    """This machine's rates: keystream bytes per second and seconds per X25519 agreement."""

    keystream_rate: float
    agreement_seconds: float

    @classmethod
    def measure(cls) -> Floor:
        chunk = 1 << 22
        return cls(chunk / keystream_seconds(chunk), x25519_seconds())

    def seconds(self, keystream_bytes: float, agreements: float) -> float:
        """The floor of a step that expands ``keystream_bytes`` and computes ``agreements``."""
        return keystream_bytes / self.keystream_rate + agreements * self.agreement_seconds
