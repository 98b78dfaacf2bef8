"""The AES-CTR PRG of SPEC 7.1: the stream layout against a raw AES-256-CTR reference, seeking,
the labelled stream keys, multi-key chunked accumulation, the threaded variant and the zero
pool."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg.crypto import prg
from secagg.crypto.drbg import Drbg

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
BITS = [1, 7, 31, 32, 33, 63, 64]
keys32 = st.binary(min_size=32, max_size=32)


def reference_stream(key: bytes, nbytes: int) -> bytes:
    """SPEC 7.1: AES-256-CTR under K, 128-bit big-endian counter block from 0, over zeros."""
    encryptor = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
    return encryptor.update(bytes(nbytes)) + encryptor.finalize()


def reference_expand(key: bytes, length: int, bits: int, start: int = 0) -> list[int]:
    """SPEC 7.1: element i is the w-byte little-endian integer at keystream offset i w, mod 2^b."""
    width = 4 if bits <= 32 else 8
    stream = reference_stream(key, (start + length) * width)
    return [
        int.from_bytes(stream[i * width : (i + 1) * width], "little") % (1 << bits)
        for i in range(start, start + length)
    ]


def reference_prg_key(seed: bytes, label: bytes) -> bytes:
    """SPEC 7.1: HKDF(ikm = seed, no salt, info = "secagg/v2/prg/" || label)."""
    return HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"secagg/v2/prg/" + label
    ).derive(seed)


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """CHUNK_BYTES = 48 so that short vectors cross many chunk boundaries (48 is 12 uint32 or
    6 uint64 and not a multiple of the 16-byte AES block). The per-thread scratch buffer is
    sized from CHUNK_BYTES on first use, so it is dropped before and after."""
    if hasattr(prg._local, "scratch"):
        del prg._local.scratch
    monkeypatch.setattr(prg, "CHUNK_BYTES", 48)
    yield
    if hasattr(prg._local, "scratch"):
        del prg._local.scratch


# --------------------------------------------------------------------------- the stream


@pytest.mark.parametrize("bits", BITS)
def test_expand_matches_raw_aes_ctr(bits: int) -> None:
    out = prg.expand(KEY, 37, bits)
    assert out.tolist() == reference_expand(KEY, 37, bits)
    assert out.dtype == (np.dtype("<u4") if bits <= 32 else np.dtype("<u8"))
    assert out.dtype == prg.ring_dtype(bits)


def test_expand_is_the_keystream_read_as_little_endian_words() -> None:
    stream = reference_stream(KEY, 4 * 1000)
    assert np.array_equal(prg.expand(KEY, 1000, 32), np.frombuffer(stream, dtype="<u4"))
    assert prg.expand(KEY, 1000, 32).tobytes() == stream
    stream64 = reference_stream(KEY, 8 * 500)
    assert np.array_equal(prg.expand(KEY, 500, 64), np.frombuffer(stream64, dtype="<u8"))


@given(key=keys32, bits=st.sampled_from(BITS), start=st.integers(0, 300), length=st.integers(0, 40))
@settings(max_examples=120)
def test_expand_at_any_start_matches_the_reference(
    key: bytes, bits: int, start: int, length: int
) -> None:
    """Elements [s, s + L) start at block floor(s w / 16), skipping (s w) mod 16 bytes."""
    chunk = prg.expand(key, length, bits, start=start)
    assert chunk.shape == (length,)
    assert chunk.tolist() == reference_expand(key, length, bits, start)
    assert np.array_equal(chunk, prg.expand(key, start + length, bits)[start:])


@pytest.mark.parametrize(("start", "bits"), [(123_457, 32), (123_457, 64), (2**31 - 3, 32)])
def test_far_start_offsets(start: int, bits: int) -> None:
    """The counter is the block index, not the element index, and it is big-endian."""
    width = 4 if bits <= 32 else 8
    first = start * width
    encryptor = Cipher(algorithms.AES(KEY), modes.CTR((first // 16).to_bytes(16, "big")))
    stream = encryptor.encryptor().update(bytes(16 * 3))[first % 16 :]
    expected = [int.from_bytes(stream[i * width : (i + 1) * width], "little") for i in range(3)]
    assert prg.expand(KEY, 3, bits, start=start).tolist() == expected


@given(nbytes=st.integers(0, 200), block_offset=st.integers(0, 20))
@settings(max_examples=40)
def test_keystream_matches_raw_aes_ctr(nbytes: int, block_offset: int) -> None:
    full = reference_stream(KEY, nbytes + 16 * block_offset)
    assert prg.keystream(KEY, nbytes, block_offset=block_offset) == full[16 * block_offset :]
    assert prg.keystream(KEY, nbytes) == full[:nbytes]


@pytest.mark.parametrize("bits", BITS)
def test_deterministic_and_key_sensitive(bits: int) -> None:
    out = prg.expand(KEY, 64, bits)
    assert np.array_equal(out, prg.expand(KEY, 64, bits))
    assert not np.array_equal(out, prg.expand(OTHER_KEY, 64, bits))


@pytest.mark.parametrize("bits", BITS)
def test_values_are_in_range(bits: int) -> None:
    out = prg.expand(KEY, 4096, bits)
    assert int(out.max()) < 1 << bits
    # The top bit of the range is used (it fails with probability 2^-4096).
    assert int(out.max()) >= 1 << (bits - 1)


def test_output_is_fresh_and_writable() -> None:
    out = prg.expand(KEY, 16, 32)
    assert out.flags.writeable
    before = out.copy()
    out[:] = 0
    assert np.array_equal(prg.expand(KEY, 16, 32), before)


def test_zero_length() -> None:
    out = prg.expand(KEY, 0, 33, start=5)
    assert out.shape == (0,) and out.dtype == np.dtype("<u8")
    assert prg.keystream(KEY, 0) == b""


@pytest.mark.parametrize("bits", [0, -1, 65, 128])
def test_bad_bits(bits: int) -> None:
    with pytest.raises(ValueError):
        prg.expand(KEY, 4, bits)


def test_bad_length_or_start() -> None:
    with pytest.raises(ValueError):
        prg.expand(KEY, -1, 32)
    with pytest.raises(ValueError):
        prg.expand(KEY, 4, 32, start=-1)


@pytest.mark.parametrize("key", [b"", bytes(16), bytes(31), bytes(33), bytearray(32), "k" * 32])
def test_bad_keys(key: Any) -> None:
    with pytest.raises((TypeError, ValueError)):
        prg.expand(key, 4, 32)
    with pytest.raises((TypeError, ValueError)):
        prg.keystream(key, 16)
    with pytest.raises((TypeError, ValueError)):
        prg.accumulate(np.zeros(4, dtype=np.uint32), key)


def test_crude_uniformity() -> None:
    # Fixed keys, so the outcome is deterministic; the bounds are ~10 standard errors anyway.
    n = 100_000
    ones = prg.expand(KEY, n, 1)
    assert abs(float(ones.mean()) - 0.5) < 0.016  # sd of the mean: 0.0016
    words = prg.expand(KEY, n, 32)
    bit_means = np.unpackbits(words.view(np.uint8)).reshape(n, 32).mean(axis=0)
    assert np.all(np.abs(bit_means - 0.5) < 0.016)
    wide = prg.expand(OTHER_KEY, n, 64)
    assert abs(float((wide >> np.uint64(63)).mean()) - 0.5) < 0.016
    counts = np.bincount(prg.expand(OTHER_KEY, n, 3), minlength=8)  # sd ~ 105
    assert np.all(np.abs(counts - n / 8) < 1100)
    u = prg.expand(OTHER_KEY, n, 32).astype(np.float64)
    assert abs(float(np.corrcoef(u[:-1], u[1:])[0, 1])) < 0.03


# --------------------------------------------------------------------------- labelled streams


def test_labels_are_the_spec_s() -> None:
    assert prg.LABEL_GRAPH == b"graph"
    assert prg.LABEL_ROUNDING == b"rounding"
    assert prg.LABEL_DRBG == b"drbg"


@given(seed=keys32, label=st.sampled_from([b"graph", b"rounding", b"drbg/x", b""]))
@settings(max_examples=40)
def test_prg_key_is_hkdf_without_salt(seed: bytes, label: bytes) -> None:
    assert prg.prg_key(seed, label) == reference_prg_key(seed, label)
    # SPEC 1: "no salt" is the RFC's default, 32 zero bytes.
    explicit = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=bytes(32), info=b"secagg/v2/prg/" + label
    ).derive(seed)
    assert prg.prg_key(seed, label) == explicit


def test_prg_keys_are_separated_by_label_and_seed() -> None:
    labels = [prg.LABEL_GRAPH, prg.LABEL_ROUNDING, prg.LABEL_DRBG, b"drbg/", b"graph\x00"]
    assert len({prg.prg_key(KEY, label) for label in labels}) == len(labels)
    assert prg.prg_key(KEY, b"graph") != prg.prg_key(OTHER_KEY, b"graph")


def test_prg_key_refuses_bad_seeds() -> None:
    for bad in (b"", bytes(31), bytes(33)):
        with pytest.raises(ValueError):
            prg.prg_key(bad, b"graph")
    for wrong in (bytearray(32), "x" * 32, None):
        with pytest.raises(TypeError):
            prg.prg_key(wrong, b"graph")  # type: ignore[arg-type]


@given(seed=keys32, bits=st.sampled_from(BITS), start=st.integers(0, 50))
@settings(max_examples=30)
def test_expand_seed_is_expand_of_prg_key(seed: bytes, bits: int, start: int) -> None:
    out = prg.expand_seed(seed, 20, bits, label=b"rounding", start=start)
    assert out.tolist() == reference_expand(reference_prg_key(seed, b"rounding"), 20, bits, start)


# --------------------------------------------------------------------------- accumulation


def reference_sum(
    initial: list[int], keys: list[bytes], negate: list[bool], width: int, start: int = 0
) -> list[int]:
    """initial + sum_i (-1)^negate_i stream_i[start : start + m] mod 2^(8 width), in ints."""
    bits, m = 8 * width, len(initial)
    out = list(initial)
    for key, neg in zip(keys, negate, strict=True):
        stream = reference_expand(key, m, bits, start)
        out = [(a - s if neg else a + s) % (1 << bits) for a, s in zip(out, stream, strict=True)]
    return out


@pytest.mark.usefixtures("small_chunks")
@given(
    dtype=st.sampled_from([np.uint32, np.uint64]),
    start=st.integers(0, 100),
    length=st.integers(0, 60),
    negate=st.booleans(),
    key=keys32,
)
@settings(max_examples=120)
def test_accumulate_equals_expand_at_any_offset_and_chunking(
    dtype: Any, start: int, length: int, negate: bool, key: bytes
) -> None:
    width = np.dtype(dtype).itemsize
    rng = np.random.default_rng(start * 1000 + length)
    initial = rng.integers(0, np.iinfo(dtype).max, size=length, dtype=dtype, endpoint=True)
    acc = initial.copy()
    prg.accumulate(acc, key, negate=negate, start=start)
    assert acc.dtype == dtype
    expected = reference_sum(initial.tolist(), [key], [negate], width, start)
    assert acc.tolist() == expected
    stream = prg.expand(key, length, 8 * width, start=start)
    assert np.array_equal(acc, initial - stream if negate else initial + stream)


@pytest.mark.parametrize("chunk", [16, 24, 48, 1 << 17])
@pytest.mark.parametrize("dtype", [np.uint32, np.uint64])
def test_accumulate_across_chunk_sizes(
    chunk: int, dtype: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    if hasattr(prg._local, "scratch"):
        del prg._local.scratch
    monkeypatch.setattr(prg, "CHUNK_BYTES", chunk)
    try:
        for start in (0, 1, 3, 5, 17):
            acc = np.zeros(101, dtype=dtype)
            prg.accumulate(acc, KEY, start=start)
            bits = 8 * np.dtype(dtype).itemsize
            assert acc.tolist() == reference_expand(KEY, 101, bits, start)
    finally:
        if hasattr(prg._local, "scratch"):
            del prg._local.scratch


@pytest.mark.parametrize("dtype", [np.uint32, np.uint64])
def test_accumulate_then_negate_restores(dtype: Any) -> None:
    rng = np.random.default_rng(7)
    original = rng.integers(0, np.iinfo(dtype).max, size=333, dtype=dtype, endpoint=True)
    acc = original.copy()
    prg.accumulate(acc, KEY)
    assert not np.array_equal(acc, original)
    prg.accumulate(acc, OTHER_KEY, start=3)
    prg.accumulate(acc, KEY, negate=True)
    prg.accumulate(acc, OTHER_KEY, negate=True, start=3)
    assert np.array_equal(acc, original)


@pytest.mark.usefixtures("small_chunks")
@given(
    dtype=st.sampled_from([np.uint32, np.uint64]),
    keys=st.lists(keys32, max_size=6),
    data=st.data(),
    length=st.integers(0, 50),
    start=st.integers(0, 20),
)
@settings(max_examples=80)
def test_many_keys_at_once_equal_the_sum_of_single_expansions(
    dtype: Any, keys: list[bytes], data: st.DataObject, length: int, start: int
) -> None:
    negate = data.draw(st.lists(st.booleans(), min_size=len(keys), max_size=len(keys)))
    initial = np.arange(length, dtype=dtype) * dtype(0x9E3779B9)
    acc = initial.copy()
    prg.accumulate_many(acc, keys, negate, start=start)
    width = np.dtype(dtype).itemsize
    assert acc.tolist() == reference_sum(initial.tolist(), keys, negate, width, start)
    one_by_one = initial.copy()
    for key, neg in zip(keys, negate, strict=True):
        prg.accumulate(one_by_one, key, negate=neg, start=start)
    assert np.array_equal(acc, one_by_one)


@pytest.mark.usefixtures("small_chunks")
@given(
    dtype=st.sampled_from([np.uint32, np.uint64]),
    length=st.integers(0, 120),
    keys=st.lists(keys32, min_size=1, max_size=4),
    data=st.data(),
)
@settings(max_examples=60)
def test_accumulate_parallel_is_bit_identical_for_any_worker_count(
    dtype: Any, length: int, keys: list[bytes], data: st.DataObject
) -> None:
    """With 48-byte chunks, lengths up to 120 split into up to 5 ranges (10 or 20 chunks)."""
    negate = data.draw(st.lists(st.booleans(), min_size=len(keys), max_size=len(keys)))
    initial = np.arange(length, dtype=dtype) * dtype(2654435761)
    expected = reference_sum(initial.tolist(), keys, negate, np.dtype(dtype).itemsize)
    for workers in range(1, 6):
        acc = initial.copy()
        prg.accumulate_parallel(acc, keys, negate, workers=workers)
        assert acc.dtype == dtype
        assert acc.tolist() == expected, workers


def test_accumulate_parallel_really_splits(monkeypatch: pytest.MonkeyPatch) -> None:
    """Workers each seek every stream to their own range: record the ranges they get."""
    if hasattr(prg._local, "scratch"):
        del prg._local.scratch
    monkeypatch.setattr(prg, "CHUNK_BYTES", 16)
    calls: list[tuple[int, int]] = []
    original = prg.accumulate_many

    def spy(acc: prg.RingArray, keys: Any, negate: Any, *, start: int = 0) -> None:
        calls.append((start, acc.shape[0]))
        original(acc, keys, negate, start=start)

    monkeypatch.setattr(prg, "accumulate_many", spy)
    acc = np.zeros(50, dtype=np.uint32)
    prg.accumulate_parallel(acc, [KEY], [False], workers=5)
    assert sorted(calls) == [(0, 10), (10, 10), (20, 10), (30, 10), (40, 10)]
    assert acc.tolist() == reference_expand(KEY, 50, 32)
    if hasattr(prg._local, "scratch"):
        del prg._local.scratch


def test_accumulate_parallel_at_the_default_chunk_size() -> None:
    """Real chunks (128 KiB): 3 workers over a 100,000-element uint32 vector, three keys."""
    keys, negate = [KEY, OTHER_KEY, bytes(32)], [False, True, False]
    serial = np.zeros(100_000, dtype=np.uint32)
    prg.accumulate_many(serial, keys, negate)
    parallel = np.zeros(100_000, dtype=np.uint32)
    prg.accumulate_parallel(parallel, keys, negate, workers=3)
    assert np.array_equal(serial, parallel)
    expected = prg.expand(KEY, 100_000, 32) - prg.expand(OTHER_KEY, 100_000, 32)
    expected += prg.expand(bytes(32), 100_000, 32)
    assert np.array_equal(serial, expected)


def test_accumulate_with_no_keys_changes_nothing() -> None:
    acc = np.arange(10, dtype=np.uint32)
    prg.accumulate_many(acc, [], [])
    prg.accumulate_parallel(acc, [], [], workers=3)
    assert acc.tolist() == list(range(10))


@pytest.mark.parametrize(
    "acc",
    [
        np.zeros(4, dtype=np.int32),
        np.zeros(4, dtype=np.uint16),
        np.zeros(4, dtype=np.float64),
        np.zeros((2, 2), dtype=np.uint32),
    ],
)
def test_accumulate_refuses_other_arrays(acc: Any) -> None:
    with pytest.raises(ValueError):
        prg.accumulate(acc, KEY)


def test_accumulate_many_needs_one_sign_per_key() -> None:
    with pytest.raises(ValueError):
        prg.accumulate_many(np.zeros(4, dtype=np.uint32), [KEY, OTHER_KEY], [False])


@pytest.mark.parametrize("bits", BITS)
def test_accumulate_then_reduce_is_the_ring_sum(bits: int) -> None:
    """The ring Z_{2^b}: accumulate in the dtype, reduce once, as client and server do."""
    dtype = prg.ring_dtype(bits)
    rng = np.random.default_rng(bits)
    x = rng.integers(0, 1 << bits, size=200, dtype=np.uint64).astype(dtype)
    for negate in (False, True):
        acc = x.copy()
        prg.accumulate(acc, KEY, negate=negate)
        prg.reduce(acc, bits)
        stream = reference_expand(KEY, 200, bits)
        sign = -1 if negate else 1
        mask = (1 << bits) - 1
        assert acc.tolist() == [(int(a) + sign * s) & mask for a, s in zip(x, stream, strict=True)]


@pytest.mark.parametrize("bits", BITS)
def test_reduce(bits: int) -> None:
    dtype = prg.ring_dtype(bits)
    top = int(np.iinfo(dtype).max)
    acc = np.array([0, 1, (1 << bits) - 1, top, 1 << (bits - 1)], dtype=dtype)
    prg.reduce(acc, bits)
    mask = (1 << bits) - 1
    assert acc.tolist() == [0, 1, mask, top & mask, 1 << (bits - 1)]


def test_uint64_ring_uses_all_64_bits() -> None:
    """b > 32: 8 keystream bytes per element; a sum that wraps 2^64 wraps exactly there."""
    acc = np.full(8, np.iinfo(np.uint64).max, dtype=np.uint64)
    prg.accumulate(acc, KEY)
    stream = reference_expand(KEY, 8, 64)
    assert acc.tolist() == [(2**64 - 1 + s) % 2**64 for s in stream]
    assert prg.ring_dtype(33) == np.dtype("<u8") and prg.ring_dtype(32) == np.dtype("<u4")


# --------------------------------------------------------------------------- the zero pool


def test_zeros_are_read_only_zeros() -> None:
    small = prg.zeros(10)
    assert bytes(small) == bytes(10) and small.readonly
    assert len(prg.zeros(0)) == 0


def test_zero_pool_stays_bounded() -> None:
    """Requests up to ZERO_POOL_MAX share (and grow) one pool, never past the bound; larger
    ones get fresh zeros, and the streams above the bound still match the reference."""
    assert prg.ZERO_POOL_MAX == 1 << 24
    whole = Drbg(b"seed", b"label")(40_000_000)
    assert len(prg._zero_pool) <= prg.ZERO_POOL_MAX
    chunked = Drbg(b"seed", b"label")
    assert whole == b"".join(chunked(4_000_000) for _ in range(10))

    big = prg.zeros(prg.ZERO_POOL_MAX + 5)
    assert len(big) == prg.ZERO_POOL_MAX + 5 and big.readonly
    assert not any(bytes(big[-100:]))
    assert big.obj is not prg._zero_pool  # a fresh buffer, freed with the view
    del big
    assert len(prg._zero_pool) <= prg.ZERO_POOL_MAX

    length = prg.ZERO_POOL_MAX // 4 + 1000
    stream = reference_stream(KEY, 4 * length)
    assert prg.expand(KEY, length, 32).tobytes() == stream
    assert prg.keystream(KEY, 4 * length) == stream
    assert prg.expand(KEY, length - 3, 32, start=3).tobytes() == stream[12:]
    assert len(prg._zero_pool) <= prg.ZERO_POOL_MAX

    top = prg.zeros(prg.ZERO_POOL_MAX)
    assert len(top) == prg.ZERO_POOL_MAX
    assert len(prg._zero_pool) == prg.ZERO_POOL_MAX
    assert top.obj is prg._zero_pool
    assert prg.zeros(100).obj is prg._zero_pool
