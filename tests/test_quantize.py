"""The float layer (SPEC 12): the overflow guarantee, clipping, quantization against a
step-by-step reference of 12.2, dequantization (12.3), round-trip error and unbiased rounding."""

from __future__ import annotations

import hashlib
import math
import re
from typing import Any

import numpy as np
import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg.crypto import prg
from secagg.encoding.quantize import (
    MAX_QUANTIZATION_RANGE,
    QuantizationConfig,
    Quantized,
    dequantize_sum,
    quantize,
)
from secagg.errors import AbortReason, ConfigError, ProtocolAbort, SecAggError

SEED = bytes(range(32))


def seed(i: int) -> bytes:
    return hashlib.sha256(b"quantize-test-%d" % i).digest()


def ring_sum(vectors: list[Quantized], bits: int) -> np.ndarray[Any, np.dtype[Any]]:
    """Sum in the ring exactly as the server does: wrap-around in the dtype, then mask."""
    total = np.zeros_like(vectors[0].values)
    for q in vectors:
        np.add(total, q.values, out=total)
    prg.reduce(total, bits)
    return total


# --------------------------------------------------------------------------- configuration


@given(n=st.integers(1, 10_000), L=st.integers(1, 1 << 40))
def test_default_modulus_is_the_smallest_safe_power_of_two(n: int, L: int) -> None:  # noqa: N803
    qc = QuantizationConfig(num_clients=n, quantization_range=L)
    m = qc.modulus_range
    assert m is not None
    assert m & (m - 1) == 0
    assert n * L < m  # safe
    assert m // 2 <= n * L  # and no smaller power of two would be
    assert qc.bits == m.bit_length() - 1
    assert qc.max_clients() >= n


@given(n=st.integers(1, 5000), L=st.integers(1, 1 << 30), bits=st.integers(1, 64))
def test_config_refuses_exactly_the_settings_that_can_wrap(n: int, L: int, bits: int) -> None:  # noqa: N803
    kwargs: dict[str, Any] = {"num_clients": n, "quantization_range": L, "modulus_range": 1 << bits}
    if n * L >= 1 << bits:
        with pytest.raises(ConfigError) as info:
            QuantizationConfig(**kwargs)
        assert isinstance(info.value, ValueError)
    else:
        qc = QuantizationConfig(**kwargs)
        assert qc.bits == bits
        assert qc.max_clients() >= n


def test_refusal_boundary() -> None:
    assert QuantizationConfig(num_clients=3, quantization_range=341, modulus_range=1024).bits == 10
    with pytest.raises(ConfigError):
        QuantizationConfig(num_clients=4, quantization_range=256, modulus_range=1024)  # 1024
    with pytest.raises(ConfigError):
        QuantizationConfig(num_clients=1, quantization_range=1024, modulus_range=1024)
    assert QuantizationConfig(num_clients=1, quantization_range=1023, modulus_range=1024).bits == 10


@given(L=st.integers(1, 1 << 20), bits=st.integers(2, 64))
def test_max_clients_is_exactly_the_limit(L: int, bits: int) -> None:  # noqa: N803
    m = 1 << bits
    if m <= L:
        return
    top = QuantizationConfig(num_clients=1, quantization_range=L, modulus_range=m).max_clients()
    assert top * L < m <= (top + 1) * L
    qc = QuantizationConfig(num_clients=top, quantization_range=L, modulus_range=m)
    assert qc.num_clients == top
    with pytest.raises(ConfigError):
        QuantizationConfig(num_clients=top + 1, quantization_range=L, modulus_range=m)


@pytest.mark.parametrize("modulus", [0, 1, 3, 6, 1000, (1 << 32) + 1, 1 << 65, -8, 2.0**20, True])
def test_modulus_must_be_a_power_of_two_in_range(modulus: Any) -> None:
    with pytest.raises(ConfigError):
        QuantizationConfig(num_clients=1, quantization_range=1, modulus_range=modulus)


@pytest.mark.parametrize("bits", [1, 2, 32, 33, 64])
def test_power_of_two_moduli_are_accepted(bits: int) -> None:
    qc = QuantizationConfig(num_clients=1, quantization_range=1, modulus_range=1 << bits)
    assert qc.bits == bits


def test_default_modulus_above_2_64_is_refused() -> None:
    with pytest.raises(ConfigError) as info:
        QuantizationConfig(num_clients=1 << 12, quantization_range=MAX_QUANTIZATION_RANGE)
    assert str(info.value) == (
        "4096 clients x quantization_range 9007199254740992 = 36893488147419103232 >= 2^64: the "
        "sum cannot fit the largest ring (modulus_range 2^64). With quantization_range "
        "9007199254740992 at most 2047 clients fit; with 4096 clients quantization_range can be "
        "at most 4503599627370495."
    )


@pytest.mark.parametrize(
    ("n", "L"),  # just past the largest ring, for small and large n
    [(1 << 11, 1 << 53), (3000, (1 << 53) - 1), (1 << 20, 1 << 44), (1 << 20, (1 << 44) + 1)],
)
def test_default_modulus_limits_in_the_message_are_exact(n: int, L: int) -> None:  # noqa: N803
    with pytest.raises(ConfigError) as info:
        QuantizationConfig(num_clients=n, quantization_range=L)
    message = str(info.value)
    assert "power of two" not in message
    max_n, max_l = ((1 << 64) - 1) // L, ((1 << 64) - 1) // n
    assert f"at most {max_n} clients fit" in message
    assert f"quantization_range can be at most {max_l}." in message
    # Both limits are tight: they fit the largest ring, one more does not.
    assert QuantizationConfig(num_clients=max_n, quantization_range=L).bits == 64
    assert QuantizationConfig(num_clients=n, quantization_range=max_l).bits == 64
    with pytest.raises(ConfigError):
        QuantizationConfig(num_clients=max_n + 1, quantization_range=L)
    with pytest.raises(ConfigError):
        QuantizationConfig(num_clients=n, quantization_range=max_l + 1)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"num_clients": 0},
        {"num_clients": -1},
        {"num_clients": 2.0},
        {"num_clients": 1, "clipping_range": 0.0},
        {"num_clients": 1, "clipping_range": -1.0},
        {"num_clients": 1, "clipping_range": float("nan")},
        {"num_clients": 1, "clipping_range": float("inf")},
        {"num_clients": 1, "quantization_range": 0},
        {"num_clients": 1, "quantization_range": -5},
        {"num_clients": 1, "quantization_range": 2.0**10},
        {"num_clients": 1, "quantization_range": MAX_QUANTIZATION_RANGE + 1},
    ],
)
def test_bad_parameters(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        QuantizationConfig(**kwargs)


@pytest.mark.parametrize("kind", [np.int64, np.int32, np.uint64, np.uint16])
def test_numpy_integers_are_accepted_as_python_ints(kind: type[np.integer[Any]]) -> None:
    given: dict[str, Any] = {"num_clients": kind(3), "quantization_range": kind(100)}
    qc = QuantizationConfig(**{**given, "modulus_range": kind(1024)})
    assert qc == QuantizationConfig(num_clients=3, quantization_range=100, modulus_range=1024)
    assert {type(qc.num_clients), type(qc.quantization_range), type(qc.modulus_range)} == {int}
    assert qc.bits == 10 and qc.max_clients() == 10
    # The default modulus is computed from the converted values.
    assert QuantizationConfig(**given).bits == 9


def test_numpy_integers_do_not_wrap_in_the_overflow_check() -> None:
    # 2^20 x 2^53 wraps to 0 in int64 arithmetic; the check must still see 2^73 >= 2^64.
    given: dict[str, Any] = {
        "num_clients": np.int64(1 << 20),
        "quantization_range": np.int64(1 << 53),
    }
    with pytest.raises(ConfigError, match=r"= 9444732965739290427392 >= 2\^64"):
        QuantizationConfig(**given)


@pytest.mark.parametrize(
    ("field", "bad"),
    [
        (field, bad)
        for field in ("num_clients", "quantization_range", "modulus_range")
        for bad in (True, np.True_, np.float64(4.0), np.float32(4.0), 4.0, "4", None)
        if (field, bad) != ("modulus_range", None)  # None asks for the default modulus
    ],
)
def test_integer_fields_refuse_bools_floats_and_others(field: str, bad: Any) -> None:
    kwargs: dict[str, Any] = {"num_clients": 1, "quantization_range": 1, "modulus_range": 4}
    kwargs[field] = bad
    with pytest.raises(ConfigError, match=field):
        QuantizationConfig(**kwargs)


def test_clipping_range_beyond_float64_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="clipping_range is too large for a float64"):
        QuantizationConfig(num_clients=1, clipping_range=10**400)


def test_step() -> None:
    qc = QuantizationConfig(num_clients=1, clipping_range=2.0, quantization_range=8)
    assert qc.step == 0.5


# --------------------------------------------------------------------------- no wrap at the limit


@pytest.mark.parametrize(
    ("L", "modulus"), [(1 << 10, 1 << 16), (1000, 1 << 12), (3, 1 << 8), (1, 2), (255, 256)]
)
def test_sum_of_max_clients_all_max_vectors_does_not_wrap(L: int, modulus: int) -> None:  # noqa: N803
    probe = QuantizationConfig(num_clients=1, quantization_range=L, modulus_range=modulus)
    n = probe.max_clients()
    qc = QuantizationConfig(
        num_clients=n, clipping_range=1.5, quantization_range=L, modulus_range=modulus
    )
    x = np.array([1.5, 2.0, 1e30, np.inf])
    vectors = [quantize(x, qc, seed(i)) for i in range(n)]
    assert all(np.all(q.values == L) for q in vectors)
    total = ring_sum(vectors, qc.bits)
    assert total.tolist() == [n * L] * 4
    np.testing.assert_allclose(dequantize_sum(total, n, qc), [n * 1.5] * 4, rtol=1e-12)


@pytest.mark.parametrize("bits", [33, 53, 64])
def test_wide_rings_do_not_wrap_at_max_clients(bits: int) -> None:
    L = 1 << 20  # noqa: N806
    probe = QuantizationConfig(num_clients=1, quantization_range=L, modulus_range=1 << bits)
    n = probe.max_clients()
    qc = QuantizationConfig(
        num_clients=n, clipping_range=4.0, quantization_range=L, modulus_range=1 << bits
    )
    q = quantize(np.full(6, 4.0), qc, SEED)
    assert q.values.dtype == np.dtype("<u8")
    # n copies summed in the ring (n is too large to loop over): n * q mod 2^b, in the dtype.
    total = q.values * np.uint64(n)
    prg.reduce(total, bits)
    assert total.tolist() == [n * L] * 6
    np.testing.assert_allclose(dequantize_sum(total, n, qc), [n * 4.0] * 6, rtol=1e-12)


def test_dequantize_sum_refuses_impossible_totals() -> None:
    qc = QuantizationConfig(num_clients=4, quantization_range=100)
    with pytest.raises(ProtocolAbort) as info:
        dequantize_sum(np.array([0, 201], dtype=np.uint32), 2, qc)
    assert isinstance(info.value, SecAggError)
    assert info.value.reason is AbortReason.AGGREGATE_OUT_OF_RANGE
    assert info.value.detail == (
        "ring sum exceeds 2 x quantization_range 100: it cannot come from the quantized updates "
        "of 2 clients"
    )
    assert "201" not in str(info.value)  # no element of the sum in the message
    assert dequantize_sum(np.array([0, 200], dtype=np.uint32), 2, qc).tolist() == [-16.0, 16.0]
    assert dequantize_sum(np.array([], dtype=np.uint32), 2, qc).shape == (0,)


# --------------------------------------------------------------------------- SPEC 12.2 reference


def spec_uniforms(rounding_seed: bytes, m: int) -> list[float]:
    """SPEC 12.2 step 3: r_i is element i of the stream prg_key(rounding_seed, "rounding") at
    b = 64 (SPEC 7.1: AES-256-CTR from block 0 under HKDF(seed, no salt,
    "secagg/v2/prg/rounding"), 8-byte little-endian words), shifted right by 11 bits;
    u_i = r_i * 2^-53."""
    key = HKDF(
        algorithm=hashes.SHA256(), length=32, salt=None, info=b"secagg/v2/prg/rounding"
    ).derive(rounding_seed)
    stream = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor().update(bytes(8 * m))
    return [
        (int.from_bytes(stream[8 * i : 8 * i + 8], "little") >> 11) * 2.0**-53 for i in range(m)
    ]


def spec_quantize(x: list[float], c: float, L: int, rounding_seed: bytes) -> tuple[list[int], int]:  # noqa: N803
    """SPEC 12.2 with Python floats (IEEE float64), step by step."""
    assert not any(math.isnan(v) for v in x)
    clipped = sum(1 for v in x if v < -c or v > c)  # step 1: count, then clip
    u = spec_uniforms(rounding_seed, len(x))
    q = []
    for i, v in enumerate(x):
        s = (max(-c, min(c, v)) / c + 1.0) * (L / 2)  # step 2
        low = math.floor(s)
        qi = low + (1 if u[i] < s - low else 0)  # step 4
        q.append(min(qi, L))
    return q, clipped


@st.composite
def spec_cases(draw: st.DrawFn) -> tuple[QuantizationConfig, list[float], bytes]:
    c = draw(st.sampled_from([1.0, 0.5, 3.0, 8.0, 1e-3, 1e6, 0.1]) | st.floats(1e-6, 1e9))
    L = draw(st.sampled_from([1, 2, 3, 10, 255, 1 << 22, 1 << 53]) | st.integers(1, 1 << 40))  # noqa: N806
    n = draw(st.integers(1, 4))
    bits = draw(st.sampled_from([None, 64]))
    if L == 1 << 53 and n > 1:
        n = 1
    qc = QuantizationConfig(
        num_clients=n,
        clipping_range=c,
        quantization_range=L,
        modulus_range=None if bits is None else 1 << bits,
    )
    levels = st.integers(0, L).map(lambda k: k * (2 * c / L) - c)  # exactly on (or near) a level
    elements = st.one_of(
        st.floats(-2 * c, 2 * c),
        levels,
        st.sampled_from([c, -c, np.inf, -np.inf, 0.0, -0.0, np.nextafter(c, 0), 5e-324]),
        st.floats(allow_nan=False),
    )
    x = draw(st.lists(elements, max_size=40))
    return qc, x, draw(st.binary(min_size=32, max_size=32))


@given(spec_cases())
@settings(max_examples=200)
def test_quantize_is_spec_12_2_step_by_step(
    case: tuple[QuantizationConfig, list[float], bytes],
) -> None:
    qc, x, rounding_seed = case
    got = quantize(np.array(x, dtype=np.float64), qc, rounding_seed)
    expected, clipped = spec_quantize(x, qc.clipping_range, qc.quantization_range, rounding_seed)
    assert got.values.tolist() == expected
    assert got.clipped == clipped
    assert got.values.dtype == (np.dtype("<u4") if qc.bits <= 32 else np.dtype("<u8"))


def test_quantize_known_rounding_draws() -> None:
    """With L = 2 and c = 1, x = -0.5 is s = 0.5: it rounds up exactly when u_i < 0.5, i.e. when
    the top bit of the 64-bit word r_i is 0."""
    qc = QuantizationConfig(num_clients=1, clipping_range=1.0, quantization_range=2)
    u = spec_uniforms(SEED, 64)
    got = quantize(np.full(64, -0.5), qc, SEED).values.tolist()
    assert got == [1 if ui < 0.5 else 0 for ui in u]
    assert 0 < sum(got) < 64


def test_quantize_rounds_up_only_when_u_is_strictly_below_the_fraction() -> None:
    """SPEC 12.2 step 4 "u_i < s_i - floor(s_i)": with c = 1 and L = 2, x_i = u_i - 1 (exact
    in float64, u_i being a multiple of 2^-53) gives s_i = u_i, a tie, which rounds down;
    2^-53 more rounds up."""
    qc = QuantizationConfig(num_clients=1, clipping_range=1.0, quantization_range=2)
    u = spec_uniforms(SEED, 64)
    ties = np.array([ui - 1.0 for ui in u])
    assert [(xi + 1.0) for xi in ties.tolist()] == u
    assert quantize(ties, qc, SEED).values.tolist() == [0] * 64
    above = ties + 2.0**-53
    assert [(xi + 1.0) - ui for xi, ui in zip(above.tolist(), u, strict=True)] == [2.0**-53] * 64
    assert quantize(above, qc, SEED).values.tolist() == [1] * 64


@given(
    count=st.integers(1, 50),
    c=st.floats(1e-3, 1e6),
    L=st.integers(1, 1 << 30),
    data=st.data(),
)
@settings(max_examples=100)
def test_dequantize_sum_is_spec_12_3(count: int, c: float, L: int, data: st.DataObject) -> None:  # noqa: N803
    """T_i * (2c / L) - count * c in float64, and every T_i <= count * L, else refused."""
    qc = QuantizationConfig(num_clients=count, clipping_range=c, quantization_range=L)
    dtype = prg.ring_dtype(qc.bits)
    total = data.draw(st.lists(st.integers(0, count * L), max_size=10))
    got = dequantize_sum(np.array(total, dtype=dtype), count, qc)
    assert got.dtype == np.float64
    assert got.tolist() == [t * (2.0 * c / L) - count * c for t in total]
    over = [*total, count * L + 1]
    with pytest.raises(ProtocolAbort) as info:
        dequantize_sum(np.array(over, dtype=dtype), count, qc)
    assert info.value.reason is AbortReason.AGGREGATE_OUT_OF_RANGE


# --------------------------------------------------------------------------- round trip


@st.composite
def quantization_cases(draw: st.DrawFn) -> tuple[QuantizationConfig, np.ndarray[Any, Any], bytes]:
    c = draw(st.floats(1e-3, 1e6))
    L = draw(st.integers(1, 1 << 24))  # noqa: N806
    n = draw(st.integers(1, 16))
    bits = draw(st.sampled_from([None, 64]))
    qc = QuantizationConfig(
        num_clients=n,
        clipping_range=c,
        quantization_range=L,
        modulus_range=None if bits is None else 1 << bits,
    )
    # Values inside, at and beyond the range, including infinities and huge magnitudes.
    elements = st.one_of(
        st.floats(-2 * c, 2 * c),
        st.sampled_from([c, -c, np.inf, -np.inf, 0.0, -0.0]),
        st.floats(allow_nan=False),
    )
    x = np.array(draw(st.lists(elements, max_size=24)), dtype=np.float64)
    return qc, x, draw(st.binary(min_size=32, max_size=32))


@given(quantization_cases())
@settings(max_examples=200)
def test_round_trip_error_is_at_most_one_step(
    case: tuple[QuantizationConfig, np.ndarray[Any, Any], bytes],
) -> None:
    qc, x, rounding_seed = case
    c, L = qc.clipping_range, qc.quantization_range  # noqa: N806
    q = quantize(x, qc, rounding_seed)
    assert q.values.dtype == prg.ring_dtype(qc.bits)
    assert q.values.shape == x.shape
    assert q.clipped == int(np.sum(np.abs(x) > c))
    values = q.values.astype(np.float64)
    assert np.all(values >= 0)
    assert np.all(values <= L)
    # Only the two nearest levels are ever chosen.
    exact = (np.clip(x, -c, c) + c) / qc.step
    assert np.all(np.abs(values - exact) < 1 + 1e-9)
    recovered = dequantize_sum(q.values, 1, qc)
    error = np.abs(recovered - np.clip(x, -c, c))
    # One step, plus float64 rounding of values of magnitude ~c.
    assert np.all(error <= qc.step * (1 + 1e-9) + 8 * np.finfo(np.float64).eps * c)


@given(quantization_cases())
@settings(max_examples=50)
def test_quantize_is_deterministic_in_the_seed(
    case: tuple[QuantizationConfig, np.ndarray[Any, Any], bytes],
) -> None:
    qc, x, rounding_seed = case
    a = quantize(x, qc, rounding_seed)
    b = quantize(x.tolist(), qc, rounding_seed)
    assert np.array_equal(a.values, b.values)
    assert a.clipped == b.clipped


def test_levels_are_exact() -> None:
    qc = QuantizationConfig(num_clients=2, clipping_range=1.0, quantization_range=8)
    levels = np.linspace(-1.0, 1.0, 9)
    for i in range(20):
        q = quantize(levels, qc, seed(i))
        assert q.values.tolist() == list(range(9))
        assert q.clipped == 0


def test_clipping_count_and_infinities() -> None:
    qc = QuantizationConfig(num_clients=2, clipping_range=2.0, quantization_range=100)
    x = np.array([np.inf, -np.inf, 2.0, -2.0, 2.0000001, -1e300, 0.5, np.nextafter(2.0, 3.0)])
    q = quantize(x, qc, SEED)
    assert q.clipped == 5
    assert q.values[[0, 2, 4, 7]].tolist() == [100] * 4
    assert q.values[[1, 3, 5]].tolist() == [0] * 3


@pytest.mark.parametrize("x", [[np.nan], [0.0, np.nan, 1.0], [float("nan")] * 3, [np.inf, -np.nan]])
def test_nan_is_refused(x: list[float]) -> None:
    qc = QuantizationConfig(num_clients=2)
    with pytest.raises(ConfigError, match="update contains NaN"):
        quantize(np.array(x), qc, SEED)


def test_non_vectors_are_refused() -> None:
    qc = QuantizationConfig(num_clients=2)
    with pytest.raises(ConfigError, match="1-D"):
        quantize(np.zeros((2, 2)), qc, SEED)
    with pytest.raises(ConfigError, match="1-D"):
        quantize(np.float64(1.0), qc, SEED)


@pytest.mark.parametrize(
    ("x", "message"),
    [
        (np.array(["1.5", "2"]), "dtype <U3"),  # numpy would happily parse these as floats
        (np.array([b"1"]), "dtype |S1"),
        (np.array([1 + 2j, 0j]), "dtype complex128"),
        ([0.5, {}], "not real numbers"),
        ([[0.5], [1.0, 2.0]], "not a vector of real numbers"),
    ],
)
def test_non_real_updates_are_refused(x: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        quantize(x, QuantizationConfig(num_clients=2), SEED)
    assert "1.5" not in str(info.value)  # no value of the update in the message


@pytest.mark.parametrize(
    ("x", "dtype"),
    [([10**400, 0.0], "object"), (np.array([0.5, -(10**309)], dtype=object), "object")],
)
def test_integers_beyond_float64_are_a_config_error(x: Any, dtype: str) -> None:
    with pytest.raises(ConfigError) as info:
        quantize(x, QuantizationConfig(num_clients=3), SEED)
    assert str(info.value) == f"update has dtype {dtype} with integers too large for float64"
    assert info.value.__cause__ is None and info.value.__suppress_context__


@pytest.mark.parametrize(
    ("rounding_seed", "got"),
    [
        (bytes(16), "16 bytes"),
        (bytes(33), "33 bytes"),
        (b"", "0 bytes"),
        (bytearray(32), "bytearray"),
        ("0" * 32, "str"),
        (None, "NoneType"),
        (12345, "int"),
    ],
)
def test_bad_rounding_seed(rounding_seed: Any, got: str) -> None:
    qc = QuantizationConfig(num_clients=2)
    with pytest.raises(ConfigError) as info:
        quantize(np.zeros(3), qc, rounding_seed)
    assert str(info.value) == f"rounding_seed must be 32 bytes, got {got}"
    # Checked before the update: a bad seed is reported even for a bad update.
    with pytest.raises(ConfigError, match="rounding_seed"):
        quantize([np.nan], qc, rounding_seed)


# --------------------------------------------------------------------------- unbiasedness


@pytest.mark.parametrize("value", [0.3, -1.234567, 7.99, -7.9999999, 0.0001, 5.3125 + 1e-9])
def test_stochastic_rounding_is_unbiased(value: float) -> None:
    # 50 seeds x 2000 elements = 1e5 independent roundings of the same value. Seeds are fixed,
    # so the outcome is deterministic; the bound is 6 standard errors of the mean regardless.
    qc = QuantizationConfig(num_clients=4, clipping_range=8.0, quantization_range=1 << 10)
    scaled = (value + qc.clipping_range) / qc.step
    frac = scaled - np.floor(scaled)
    draws = np.concatenate(
        [quantize(np.full(2000, value), qc, seed(i)).values for i in range(50)]
    ).astype(np.float64)
    assert set(np.unique(draws).tolist()) <= {np.floor(scaled), np.floor(scaled) + 1}
    mean = float(draws.mean()) * qc.step - qc.clipping_range
    standard_error = qc.step * np.sqrt(frac * (1 - frac) / draws.size)
    assert abs(mean - value) <= 6 * standard_error + 1e-12
    # Rounding up happens with probability frac (the same statement, in levels).
    assert (
        abs(float(np.mean(draws == np.floor(scaled) + 1)) - frac)
        <= 6 * np.sqrt(frac * (1 - frac) / draws.size) + 1e-12
    )


def test_different_seeds_round_differently() -> None:
    qc = QuantizationConfig(num_clients=4, clipping_range=1.0, quantization_range=10)
    x = np.full(256, 0.1)  # half-way between levels 5 and 6
    a = quantize(x, qc, seed(1)).values
    b = quantize(x, qc, seed(2)).values
    assert not np.array_equal(a, b)
    assert set(a.tolist()) == {5, 6}
    assert 64 < int(np.sum(a == 6)) < 192


def test_sum_of_clients_is_close_to_the_float_sum() -> None:
    rng = np.random.default_rng(11)
    n = 20
    qc = QuantizationConfig(num_clients=n, clipping_range=4.0, quantization_range=1 << 16)
    xs = [rng.normal(0, 1.5, size=64) for _ in range(n)]
    quantized = [quantize(x, qc, seed(i)) for i, x in enumerate(xs)]
    total = ring_sum(quantized, qc.bits)
    recovered = dequantize_sum(total, n, qc)
    exact = np.sum([np.clip(x, -4.0, 4.0) for x in xs], axis=0)
    assert np.all(np.abs(recovered - exact) <= n * qc.step + 1e-9)
    assert sum(q.clipped for q in quantized) == sum(int(np.sum(np.abs(x) > 4.0)) for x in xs)


# --------------------------------------------------------------------------- extreme ranges


@pytest.mark.parametrize("c", [1e308, 1e300, 1e-300, 1e-310, 5e-324])
def test_extreme_clipping_ranges_are_refused_or_exact(c: float) -> None:
    """A clipping range that QuantizationConfig accepts must quantize into [0, L] with the usual
    one-step error; if float64 cannot represent the scaling (2c or L/2c overflows), the config
    must refuse it instead."""
    try:
        qc = QuantizationConfig(num_clients=2, clipping_range=c, quantization_range=1 << 10)
    except ConfigError:
        return
    x = np.array([-c, -c / 2, 0.0, c / 2, 0.9 * c, c])
    with np.errstate(all="ignore"):
        q = quantize(x, qc, SEED)
    assert np.all(q.values <= qc.quantization_range), q.values.tolist()
    assert np.isfinite(qc.step) and qc.step > 0
    error = np.abs(q.values.astype(np.float64) * qc.step - c - x)
    assert np.all(error <= qc.step * (1 + 1e-9) + 8 * np.finfo(np.float64).eps * c)
