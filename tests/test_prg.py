"""The AES-CTR PRG: determinism, seekability, range, dtype, keystream layout, accumulate."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg.crypto import prg
from secagg.crypto.drbg import Drbg

SEED = bytes(range(32))
OTHER_SEED = bytes(range(1, 33))
LABEL = prg.LABEL_PAIR_MASK
BITS = [1, 7, 31, 32, 33, 63, 64]


def reference_stream(seed: bytes, label: bytes, nbytes: int) -> bytes:
    """The documented construction, computed directly: AES-256-CTR from block 0, keyed by
    HKDF-SHA256(seed, salt=None, info="secagg/v1/prg/" || label)."""
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"secagg/v1/prg/" + label
    ).derive(seed)
    encryptor = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor()
    return encryptor.update(bytes(nbytes)) + encryptor.finalize()


def reference_expand(seed: bytes, label: bytes, length: int, bits: int) -> list[int]:
    width = 4 if bits <= 32 else 8
    stream = reference_stream(seed, label, length * width)
    return [
        int.from_bytes(stream[i * width : (i + 1) * width], "little") % (1 << bits)
        for i in range(length)
    ]


@pytest.mark.parametrize("bits", BITS)
def test_matches_raw_aes_ctr_keystream(bits: int) -> None:
    out = prg.expand(SEED, 37, bits, label=LABEL)
    assert out.tolist() == reference_expand(SEED, LABEL, 37, bits)


def test_matches_raw_keystream_with_numpy_little_endian_words() -> None:
    stream = reference_stream(SEED, prg.LABEL_SELF_MASK, 4 * 1000)
    words = np.frombuffer(stream, dtype="<u4")
    assert np.array_equal(prg.expand(SEED, 1000, 32, label=prg.LABEL_SELF_MASK), words)
    stream64 = reference_stream(SEED, prg.LABEL_SELF_MASK, 8 * 500)
    words64 = np.frombuffer(stream64, dtype="<u8")
    assert np.array_equal(prg.expand(SEED, 500, 64, label=prg.LABEL_SELF_MASK), words64)


def test_prg_key_matches_hkdf() -> None:
    expected = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"secagg/v1/prg/rounding"
    ).derive(SEED)
    assert prg.prg_key(SEED, prg.LABEL_ROUNDING) == expected


@given(
    nbytes=st.integers(0, 200),
    block_offset=st.integers(0, 20),
)
@settings(max_examples=30)
def test_keystream_block_offset(nbytes: int, block_offset: int) -> None:
    key = prg.prg_key(SEED, LABEL)
    full = prg.keystream(key, nbytes + 16 * block_offset)
    assert prg.keystream(key, nbytes, block_offset=block_offset) == full[16 * block_offset :]
    assert len(full) == nbytes + 16 * block_offset


@pytest.mark.parametrize("bits", BITS)
def test_deterministic_and_sensitive_to_seed_and_label(bits: int) -> None:
    out = prg.expand(SEED, 64, bits, label=LABEL)
    assert np.array_equal(out, prg.expand(SEED, 64, bits, label=LABEL))
    assert not np.array_equal(out, prg.expand(OTHER_SEED, 64, bits, label=LABEL))
    assert not np.array_equal(out, prg.expand(SEED, 64, bits, label=prg.LABEL_SELF_MASK))
    assert not np.array_equal(out, prg.expand(SEED, 64, bits, label=LABEL + b"x"))


def test_labels_are_distinct() -> None:
    labels = [prg.LABEL_SELF_MASK, prg.LABEL_PAIR_MASK, prg.LABEL_ROUNDING, prg.LABEL_DRBG]
    assert len(set(labels)) == len(labels)
    keys = {prg.prg_key(SEED, label) for label in labels}
    assert len(keys) == len(labels)


@given(
    bits=st.sampled_from(BITS),
    start=st.integers(0, 400),
    length=st.integers(0, 70),
    seed=st.binary(min_size=32, max_size=32),
)
@settings(max_examples=120)
def test_start_offset_is_a_slice_of_the_longer_expansion(
    bits: int, start: int, length: int, seed: bytes
) -> None:
    longer = prg.expand(seed, start + length, bits, label=LABEL)
    chunk = prg.expand(seed, length, bits, label=LABEL, start=start)
    assert chunk.shape == (length,)
    assert chunk.dtype == longer.dtype
    assert np.array_equal(chunk, longer[start:])


def test_far_start_offset_matches_reference() -> None:
    # Elements far into the stream: the CTR counter must be the block index, not the element.
    start = 123_457
    out = prg.expand(SEED, 5, 32, label=LABEL, start=start)
    stream = reference_stream(SEED, LABEL, 4 * (start + 5))
    assert out.tolist() == [
        int.from_bytes(stream[4 * i : 4 * i + 4], "little") for i in range(start, start + 5)
    ]


@pytest.mark.parametrize("bits", BITS)
def test_values_are_in_range_and_dtype_is_right(bits: int) -> None:
    out = prg.expand(SEED, 4096, bits, label=LABEL)
    assert out.dtype == (np.dtype("<u4") if bits <= 32 else np.dtype("<u8"))
    assert out.dtype == prg.ring_dtype(bits)
    assert int(out.max()) < 1 << bits
    # The top bit of the range is actually used (probability 2^-4096 of failing otherwise).
    assert int(out.max()) >= 1 << (bits - 1)


def test_output_is_fresh_and_writable() -> None:
    out = prg.expand(SEED, 16, 32, label=LABEL)
    assert out.flags.writeable
    before = out.copy()
    out[:] = 0
    assert np.array_equal(prg.expand(SEED, 16, 32, label=LABEL), before)


def test_zero_length() -> None:
    out = prg.expand(SEED, 0, 33, label=LABEL, start=5)
    assert out.shape == (0,)
    assert out.dtype == np.dtype("<u8")


@pytest.mark.parametrize("bits", [0, -1, 65, 128])
def test_bad_bits(bits: int) -> None:
    with pytest.raises(ValueError):
        prg.expand(SEED, 4, bits, label=LABEL)


def test_bad_seed_length_and_type() -> None:
    for bad in (b"", bytes(31), bytes(33)):
        with pytest.raises(ValueError):
            prg.expand(bad, 4, 32, label=LABEL)
    for wrong in (bytearray(32), "x" * 32):
        with pytest.raises(TypeError):
            prg.expand(wrong, 4, 32, label=LABEL)  # type: ignore[arg-type]


def test_negative_length_or_start() -> None:
    with pytest.raises(ValueError):
        prg.expand(SEED, -1, 32, label=LABEL)
    with pytest.raises(ValueError):
        prg.expand(SEED, 4, 32, label=LABEL, start=-1)


@pytest.mark.parametrize("dtype", [np.uint32, np.uint64])
def test_accumulate_then_negate_restores(dtype: type[np.unsignedinteger[npt.NBitBase]]) -> None:
    rng = np.random.default_rng(7)
    original = rng.integers(0, np.iinfo(dtype).max, size=333, dtype=dtype, endpoint=True)
    acc = original.copy()
    prg.accumulate(acc, SEED, label=LABEL)
    assert not np.array_equal(acc, original)
    prg.accumulate(acc, OTHER_SEED, label=LABEL)
    prg.accumulate(acc, SEED, label=LABEL, negate=True)
    prg.accumulate(acc, OTHER_SEED, label=LABEL, negate=True)
    assert np.array_equal(acc, original)
    assert acc.dtype == dtype


@pytest.mark.parametrize("bits", BITS)
def test_accumulate_agrees_with_expand_mod_2b(bits: int) -> None:
    dtype = prg.ring_dtype(bits)
    rng = np.random.default_rng(bits)
    x = rng.integers(0, 1 << bits, size=200, dtype=np.uint64).astype(dtype)
    acc = x.copy()
    prg.accumulate(acc, SEED, label=LABEL)
    prg.reduce(acc, bits)
    mask = (1 << bits) - 1
    stream = prg.expand(SEED, 200, bits, label=LABEL).tolist()
    expected = [(int(a) + b) & mask for a, b in zip(x.tolist(), stream, strict=True)]
    assert acc.tolist() == expected
    acc = x.copy()
    prg.accumulate(acc, SEED, label=LABEL, negate=True)
    prg.reduce(acc, bits)
    expected = [(int(a) - b) & mask for a, b in zip(x.tolist(), stream, strict=True)]
    assert acc.tolist() == expected


@pytest.mark.parametrize("bits", BITS)
def test_reduce(bits: int) -> None:
    dtype = prg.ring_dtype(bits)
    acc = np.array([0, 1, (1 << bits) - 1, np.iinfo(dtype).max], dtype=dtype)
    prg.reduce(acc, bits)
    assert acc.tolist() == [0, 1, (1 << bits) - 1, np.iinfo(dtype).max & ((1 << bits) - 1)]


def test_crude_uniformity() -> None:
    # Fixed seeds, so the outcome is deterministic; the bounds are ~10 standard errors anyway.
    n = 100_000
    ones = prg.expand(SEED, n, 1, label=LABEL)
    assert abs(float(ones.mean()) - 0.5) < 0.016  # sd of the mean: 0.0016
    words = prg.expand(SEED, n, 32, label=prg.LABEL_SELF_MASK)
    bit_means = np.unpackbits(words.view(np.uint8)).reshape(n, 32).mean(axis=0)
    assert np.all(np.abs(bit_means - 0.5) < 0.016)
    wide = prg.expand(SEED, n, 64, label=prg.LABEL_ROUNDING)
    assert abs(float((wide >> np.uint64(63)).mean()) - 0.5) < 0.016
    # Each residue of Z_8 appears about n/8 times (sd ~ 105).
    counts = np.bincount(prg.expand(OTHER_SEED, n, 3, label=LABEL), minlength=8)
    assert np.all(np.abs(counts - n / 8) < 1100)
    # Consecutive elements are not correlated.
    u = prg.expand(OTHER_SEED, n, 32, label=LABEL).astype(np.float64)
    assert abs(float(np.corrcoef(u[:-1], u[1:])[0, 1])) < 0.03


def test_zeros_pool() -> None:
    small = prg.zeros(10)
    assert bytes(small) == bytes(10)
    big = prg.zeros((1 << 21) + 3)
    assert len(big) == (1 << 21) + 3
    assert not any(bytes(big[-100:]))
    assert big.readonly


def zero_pool_size() -> int:
    """The size of the zero buffer the PRG keeps between calls."""
    return len(prg._zero_pool)


def test_zeros_pool_stays_bounded_after_large_draws() -> None:
    """A draw above ZERO_POOL_MAX (16 MiB) gets fresh zeros instead of growing the shared pool
    for the life of the process (it used to keep 40 MB after the default ``--seed`` CLI run);
    the outputs are the same bytes either way."""
    # The Drbg draw of the default CLI scenario: 100 clients x 100000 values x 4 bytes.
    whole = Drbg(b"seed", b"label")(40_000_000)
    assert zero_pool_size() <= 1 << 24
    chunked = Drbg(b"seed", b"label")
    assert whole == b"".join(chunked(4_000_000) for _ in range(10))

    assert prg.ZERO_POOL_MAX <= 1 << 24
    big = prg.zeros(3 * prg.ZERO_POOL_MAX + 5)
    assert len(big) == 3 * prg.ZERO_POOL_MAX + 5 and big.readonly
    assert not any(bytes(big[-100:]))
    del big
    assert zero_pool_size() <= 1 << 24

    # PRG expansions and raw keystream above the bound still match the reference.
    length = prg.ZERO_POOL_MAX // 4 + 1000
    words = prg.expand(SEED, length, 32, label=LABEL)
    stream = reference_stream(SEED, LABEL, 4 * length)
    assert words.tobytes() == stream
    assert prg.keystream(prg.prg_key(SEED, LABEL), 4 * length) == stream
    shifted = prg.expand(SEED, length - 3, 32, label=LABEL, start=3)
    assert shifted.tobytes() == stream[12:]
    assert zero_pool_size() <= 1 << 24

    # Requests up to the bound still share (and grow) the pool, never past the bound.
    assert len(prg.zeros(prg.ZERO_POOL_MAX)) == prg.ZERO_POOL_MAX
    assert zero_pool_size() == prg.ZERO_POOL_MAX
