"""The PRG: a 32-byte seed expanded into ``m`` elements of Z_{2^b} by an AES-256-CTR keystream.

``PRG(seed)`` reads the keystream of AES-256-CTR, keyed by ``HKDF(seed, info="secagg/v1/prg/" ||
label)``, with a 128-bit big-endian counter starting at block 0. Element ``i`` is the
little-endian uint32 (b <= 32) or uint64 (b > 32) at byte ``4i`` (or ``8i``), reduced mod 2^b.
Because 2^b divides 2^32 (or 2^64), that reduction is uniform: no rejection sampling.

Limits: one seed and label yield at most 2^128 blocks; callers use far fewer (m <= 2^31).
Deterministic; an expansion object is not shared between threads.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from secagg.config import PROTOCOL_VERSION, ring_dtype_width

SEED_SIZE = 32
BLOCK = 16

LABEL_SELF_MASK = b"self-mask"
"""PRG(b_u): the self mask."""
LABEL_PAIR_MASK = b"pair-mask"
"""PRG(s_{u,v}): a pairwise mask."""
LABEL_ROUNDING = b"rounding"
"""The uniform draws of stochastic rounding in :mod:`secagg.encoding.quantize`."""
LABEL_DRBG = b"drbg"
"""The deterministic randomness source of :mod:`secagg.crypto.drbg`."""

RingArray = npt.NDArray[np.unsignedinteger[Any]]
"""A vector of Z_{2^b}: uint32 for b <= 32, uint64 above."""


def ring_dtype(bits: int) -> np.dtype[np.unsignedinteger[Any]]:
    """The little-endian numpy dtype that holds Z_{2^b}."""
    return np.dtype("<u4") if ring_dtype_width(bits) == 4 else np.dtype("<u8")


def prg_key(seed: bytes, label: bytes) -> bytes:
    """The AES-256 key of PRG(seed) for ``label``."""
    if not isinstance(seed, bytes):
        raise TypeError("seed must be bytes")
    if len(seed) != SEED_SIZE:
        raise ValueError("seed must be 32 bytes")
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=b"secagg/v%d/prg/" % PROTOCOL_VERSION + label,
    ).derive(seed)


ZERO_POOL_MAX = 1 << 24
"""The most zeros (16 MiB) :func:`zeros` keeps between calls; larger requests get fresh ones."""

_zero_pool = bytes(1 << 20)


def zeros(nbytes: int) -> memoryview:
    """A read-only view of ``nbytes`` zeros, from a shared pool of at most ``ZERO_POOL_MAX``.

    Encrypting zeros yields the keystream. A fresh ``bytes(n)`` is backed by untouched pages,
    and faulting them in costs several times the AES itself, so the zeros are kept around -
    up to ``ZERO_POOL_MAX`` (a mask of 2-4 million elements): a larger request gets a fresh
    buffer that is freed with the view, so one big draw does not pin its size for the life
    of the process.
    """
    global _zero_pool
    if nbytes > ZERO_POOL_MAX:
        return memoryview(bytes(nbytes))
    if len(_zero_pool) < nbytes:
        _zero_pool = bytes(min(max(nbytes, 2 * len(_zero_pool)), ZERO_POOL_MAX))
    return memoryview(_zero_pool)[:nbytes]


def keystream(key: bytes, nbytes: int, *, block_offset: int = 0) -> bytes:
    """``nbytes`` of raw AES-256-CTR keystream starting at block ``block_offset``."""
    iv = block_offset.to_bytes(BLOCK, "big")
    encryptor = Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()
    return encryptor.update(zeros(nbytes))


def _raw(seed: bytes, label: bytes, length: int, bits: int, start: int) -> RingArray:
    """Keystream elements [start, start + length) in one freshly allocated, writable buffer."""
    if length < 0 or start < 0:
        raise ValueError("length and start must be non-negative")
    width = ring_dtype_width(bits)
    first_byte = start * width
    skip = first_byte % BLOCK
    nbytes = skip + length * width
    encryptor = Cipher(
        algorithms.AES(prg_key(seed, label)),
        modes.CTR((first_byte // BLOCK).to_bytes(BLOCK, "big")),
    ).encryptor()
    # update_into wants BLOCK - 1 spare bytes; writing straight into the array saves a copy.
    buffer = np.empty(nbytes + BLOCK, dtype=np.uint8)
    encryptor.update_into(zeros(nbytes), buffer.data)
    out: RingArray = buffer[skip : skip + length * width].view(ring_dtype(bits))
    return out


def expand(seed: bytes, length: int, bits: int, *, label: bytes, start: int = 0) -> RingArray:
    """PRG(seed)[start : start + length] as a fresh writable array of Z_{2^bits}.

    Pre-conditions: ``len(seed) == 32``, ``1 <= bits <= 64``. ``start`` makes the PRG seekable, so
    a vector can be expanded in chunks.
    """
    if not 1 <= bits <= 64:
        raise ValueError("bits must be in [1, 64]")
    out = _raw(seed, label, length, bits, start)
    reduce(out, bits)
    return out


def accumulate(acc: RingArray, seed: bytes, *, label: bytes, negate: bool = False) -> None:
    """``acc += PRG(seed)`` (or ``-=``) in place, modulo the dtype width.

    The caller reduces mod 2^b once at the end (``acc &= 2^b - 1``): reducing mod 2^32 first and
    mod 2^b later gives the same result because 2^b divides 2^32.
    """
    bits = 32 if acc.dtype.itemsize == 4 else 64
    stream = _raw(seed, label, acc.shape[0], bits, 0)
    if negate:
        np.subtract(acc, stream, out=acc)
    else:
        np.add(acc, stream, out=acc)


def _mask(bits: int) -> np.unsignedinteger[Any]:
    value = (1 << bits) - 1
    return np.uint32(value) if bits <= 32 else np.uint64(value)


def reduce(acc: RingArray, bits: int) -> None:
    """``acc mod 2^bits`` in place."""
    np.bitwise_and(acc, _mask(bits), out=acc)
