"""The PRG: an AES-256-CTR keystream read as ``m`` elements of Z_{2^b}.

A PRG stream is named by its 32-byte AES key. Element ``i`` is the little-endian uint32
(b <= 32) or uint64 (b > 32) at keystream byte ``4i`` (or ``8i``), reduced mod 2^b; the
128-bit counter block is big-endian and starts at block 0. Because 2^b divides 2^32 (or 2^64),
the reduction is uniform: no rejection sampling.

The protocol's mask keys come from :mod:`secagg.crypto.kdf` (one HKDF per pairwise mask, bound
to the session and both ids; one per self mask, bound to the session and the client).
:func:`prg_key` derives a key from a 32-byte seed and a label for the other streams (stochastic
rounding, the graph permutation, the deterministic randomness source).

Limits: one key yields at most 2^128 blocks; callers use far fewer (m <= 2^31). Deterministic.
The scratch buffers are per thread, so different threads may expand different keys at once
(`cryptography` releases the GIL while it encrypts, so threads do run in parallel).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import numpy.typing as npt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, CipherContext, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from secagg.config import PROTOCOL_VERSION, ring_dtype_width

SEED_SIZE = 32
KEY_SIZE = 32
BLOCK = 16

LABEL_ROUNDING = b"rounding"
"""The uniform draws of stochastic rounding in :mod:`secagg.encoding.quantize`."""
LABEL_DRBG = b"drbg"
"""The deterministic randomness source of :mod:`secagg.crypto.drbg`."""
LABEL_GRAPH = b"graph"
"""The ring order of the SecAgg+ graph (:mod:`secagg.core.graph`), keyed by the session id."""

RingArray = npt.NDArray[np.unsignedinteger[Any]]
"""A vector of Z_{2^b}: uint32 for b <= 32, uint64 above."""

CHUNK_BYTES = 1 << 18
"""Keystream bytes produced per step when accumulating. The step touches three buffers of this
size (the zeros AES reads, the keystream it writes, the slice of the vector it is added to),
and all three stay in a 2 MB L2 cache with room to spare; 512 KiB measured a few percent
slower (1.5 MB of 2), 128 KiB too (twice the Python steps per key)."""


def ring_dtype(bits: int) -> np.dtype[np.unsignedinteger[Any]]:
    """The little-endian numpy dtype that holds Z_{2^b}."""
    return np.dtype("<u4") if ring_dtype_width(bits) == 4 else np.dtype("<u8")


def prg_key(seed: bytes, label: bytes) -> bytes:
    """``HKDF(ikm=seed, no salt, info="secagg/v2/prg/" || label)``: the AES key of a labelled
    stream that is not a mask."""
    if not isinstance(seed, bytes):
        raise TypeError("seed must be bytes")
    if len(seed) != SEED_SIZE:
        raise ValueError("seed must be 32 bytes")
    return HKDF(
        algorithm=hashes.SHA256(),
        length=KEY_SIZE,
        salt=None,
        info=b"secagg/v%d/prg/" % PROTOCOL_VERSION + label,
    ).derive(seed)


ZERO_POOL_MAX = 1 << 24
"""The most zeros (16 MiB) :func:`zeros` keeps between calls; larger requests get fresh ones."""

_zero_pool = bytes(CHUNK_BYTES)


def zeros(nbytes: int) -> memoryview:
    """A read-only view of ``nbytes`` zeros, from a shared pool of at most ``ZERO_POOL_MAX``.

    Encrypting zeros yields the keystream. A fresh ``bytes(n)`` is backed by untouched pages,
    and faulting them in costs several times the AES itself, so the zeros are kept around -
    up to ``ZERO_POOL_MAX``: a larger request gets a fresh buffer that is freed with the view.
    """
    global _zero_pool
    if nbytes > ZERO_POOL_MAX:
        return memoryview(bytes(nbytes))
    if len(_zero_pool) < nbytes:
        _zero_pool = bytes(min(max(nbytes, 2 * len(_zero_pool)), ZERO_POOL_MAX))
    return memoryview(_zero_pool)[:nbytes]


_local = threading.local()


def _scratch() -> npt.NDArray[np.uint8]:
    """This thread's keystream buffer: one chunk plus the BLOCK - 1 bytes update_into wants."""
    buffer: npt.NDArray[np.uint8] | None = getattr(_local, "scratch", None)
    if buffer is None or buffer.shape[0] < CHUNK_BYTES + BLOCK:
        buffer = np.empty(CHUNK_BYTES + BLOCK, dtype=np.uint8)
        _local.scratch = buffer
    return buffer


_CTR_AT_ZERO = modes.CTR(bytes(BLOCK))
"""The counter mode of every stream read from its start (immutable, so shared: building it
per key is a tenth of the key setup)."""


def _encryptor(key: bytes, first_byte: int) -> CipherContext:
    """AES-256-CTR positioned at the block holding ``first_byte``."""
    if not isinstance(key, bytes) or len(key) != KEY_SIZE:
        raise ValueError("a PRG key is 32 bytes")
    block = first_byte // BLOCK
    mode = _CTR_AT_ZERO if block == 0 else modes.CTR(block.to_bytes(BLOCK, "big"))
    return Cipher(algorithms.AES(key), mode).encryptor()


def keystream(key: bytes, nbytes: int, *, block_offset: int = 0) -> bytes:
    """``nbytes`` of raw AES-256-CTR keystream starting at block ``block_offset``."""
    return _encryptor(key, block_offset * BLOCK).update(zeros(nbytes))


def expand(key: bytes, length: int, bits: int, *, start: int = 0) -> RingArray:
    """Elements ``[start, start + length)`` of the stream ``key``, as a fresh writable array of
    Z_{2^bits}. Pre-conditions: ``1 <= bits <= 64``, ``length, start >= 0``."""
    if not 1 <= bits <= 64:
        raise ValueError("bits must be in [1, 64]")
    if length < 0 or start < 0:
        raise ValueError("length and start must be non-negative")
    width = ring_dtype_width(bits)
    first_byte = start * width
    skip = first_byte % BLOCK
    nbytes = skip + length * width
    buffer = np.empty(nbytes + BLOCK, dtype=np.uint8)
    _encryptor(key, first_byte).update_into(zeros(nbytes), buffer.data)
    out: RingArray = buffer[skip : skip + length * width].view(ring_dtype(bits))
    reduce(out, bits)
    return out


def expand_seed(seed: bytes, length: int, bits: int, *, label: bytes, start: int = 0) -> RingArray:
    """``expand(prg_key(seed, label), ...)``: a labelled stream from a 32-byte seed."""
    return expand(prg_key(seed, label), length, bits, start=start)


def accumulate(acc: RingArray, key: bytes, *, negate: bool = False, start: int = 0) -> None:
    """``acc += stream[start : start + len(acc)]`` (or ``-=``) in place, modulo the dtype width.

    The caller reduces mod 2^b once at the end (:func:`reduce`): reducing mod 2^32 first and
    mod 2^b later gives the same result because 2^b divides 2^32.
    """
    accumulate_many(acc, [key], [negate], start=start)


def accumulate_many(
    acc: RingArray, keys: Sequence[bytes], negate: Sequence[bool], *, start: int = 0
) -> None:
    """``acc += sum_i (-1)^negate[i] stream_i[start : start + len(acc)]`` in place.

    Chunk by chunk: for each :data:`CHUNK_BYTES` slice of ``acc``, every stream's keystream for
    that slice goes through a per-thread scratch buffer and is added while both are in cache, so
    ``acc`` crosses the memory bus once, not once per key, and nothing vector-sized is
    allocated.
    """
    if acc.ndim != 1 or acc.dtype.kind != "u" or acc.dtype.itemsize not in (4, 8):
        raise ValueError("acc must be a 1-D uint32 or uint64 array")
    if len(keys) != len(negate):
        raise ValueError("keys and negate must have the same length")
    if not keys:
        return
    width = acc.dtype.itemsize
    first_byte = start * width
    skip = first_byte % BLOCK
    scratch = _scratch()
    encryptors = [_encryptor(key, first_byte) for key in keys]
    if skip:
        # An unaligned start: discard the head of the first block.
        for encryptor in encryptors:
            encryptor.update_into(zeros(skip), scratch.data)
    ops = [np.subtract if n else np.add for n in negate]
    per_chunk = CHUNK_BYTES // width
    for begin in range(0, acc.shape[0], per_chunk):
        end = min(begin + per_chunk, acc.shape[0])
        nbytes = (end - begin) * width
        source = zeros(nbytes)
        stream = scratch[:nbytes].view(acc.dtype)
        target = acc[begin:end]
        for encryptor, op in zip(encryptors, ops, strict=True):
            encryptor.update_into(source, scratch.data)
            op(target, stream, out=target)


def accumulate_parallel(
    acc: RingArray, keys: Sequence[bytes], negate: Sequence[bool], *, workers: int = 1
) -> None:
    """:func:`accumulate_many` over ``workers`` threads.

    A long vector is split into contiguous ranges, each thread seeking every stream to its own
    range (CTR mode starts at any block), so nothing vector-sized is allocated. A vector shorter
    than a chunk per thread is not split; the keys are, each thread adding its share of the
    streams into a private vector that is then added to ``acc``. Either way the result is
    bit-identical for any number of workers: addition mod 2^32 (or 2^64) is associative and
    commutative. Threads run in parallel because `cryptography` and numpy release the GIL while
    they encrypt and add.
    """
    m = acc.shape[0]
    per_chunk = CHUNK_BYTES // acc.dtype.itemsize
    split_ranges = m >= workers * per_chunk
    if not split_ranges:
        workers = min(workers, len(keys))
    if workers <= 1:
        accumulate_many(acc, keys, negate)
        return
    with ThreadPoolExecutor(workers) as pool:
        if split_ranges:
            bounds = [m * i // workers for i in range(workers + 1)]
            futures = [
                pool.submit(accumulate_many, acc[a:b], keys, negate, start=a)
                for a, b in itertools.pairwise(bounds)
            ]
            for future in futures:
                future.result()
            return
        parts = [np.zeros_like(acc) for _ in range(workers - 1)]
        cuts = [len(keys) * i // workers for i in range(workers + 1)]
        targets = [acc, *parts]
        futures = [
            pool.submit(accumulate_many, target, keys[a:b], negate[a:b])
            for target, (a, b) in zip(targets, itertools.pairwise(cuts), strict=True)
        ]
        for future in futures:
            future.result()
    for part in parts:
        np.add(acc, part, out=acc)


def _mask(bits: int) -> np.unsignedinteger[Any]:
    value = (1 << bits) - 1
    return np.uint32(value) if bits <= 32 else np.uint64(value)


def reduce(acc: RingArray, bits: int) -> None:
    """``acc mod 2^bits`` in place."""
    if bits % 32:
        np.bitwise_and(acc, _mask(bits), out=acc)
