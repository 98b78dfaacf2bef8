"""SHA-256 from `cryptography`, over a label and any number of byte strings."""

from __future__ import annotations

from cryptography.hazmat.primitives import hashes


def sha256(label: bytes, *parts: bytes | memoryview) -> bytes:
    """SHA-256 of ``len(label) || label || parts...``.

    The length prefix keeps the label unambiguous; callers pass parts whose lengths are fixed or
    self-delimiting, so the concatenation is injective.
    """
    h = hashes.Hash(hashes.SHA256())
    h.update(len(label).to_bytes(2, "big"))
    h.update(label)
    for part in parts:
        h.update(part)
    return h.finalize()
