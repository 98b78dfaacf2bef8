"""Shared helpers: the hardware limit we compare against is the raw AES-256-CTR keystream of the
same `cryptography` install, measured in the same run."""

from __future__ import annotations

import time
from typing import Any

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def keystream_seconds(nbytes: int, repeats: int = 20) -> float:
    """Best-of-``repeats`` time to produce ``nbytes`` of AES-256-CTR keystream into a reused
    buffer: the floor any AES-CTR PRG on this machine can reach."""
    zeros = bytes(nbytes)
    out = bytearray(nbytes + 15)
    best = float("inf")
    for _ in range(repeats):
        encryptor = Cipher(algorithms.AES(bytes(32)), modes.CTR(bytes(16))).encryptor()
        start = time.perf_counter()
        encryptor.update_into(zeros, out)
        best = min(best, time.perf_counter() - start)
    return best


def x25519_seconds(repeats: int = 200) -> float:
    """Best time of one raw X25519 agreement (fixed public test keys): the other cost that no
    implementation of the protocol can avoid, two agreements per ordered pair of clients."""
    private = X25519PrivateKey.from_private_bytes(bytes(range(32)))
    peer = X25519PrivateKey.from_private_bytes(bytes(range(1, 33))).public_key()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        private.exchange(peer)
        best = min(best, time.perf_counter() - start)
    return best


_RATIOS: list[str] = []


def report_ratio(line: str) -> None:
    """Record one "N.NNx the keystream floor" line for the summary at the end of the run (pytest
    captures prints, and the ratio is the figure that matters, not the raw time)."""
    _RATIOS.append(line)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _RATIOS:
        terminalreporter.section("speed relative to the raw AES-CTR keystream of this machine")
        for line in _RATIOS:
            terminalreporter.write_line(line)
