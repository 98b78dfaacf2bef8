"""Float vectors <-> Z_{2^b}: clipping, unbiased stochastic rounding, and overflow checks.

Parameter names follow Flower's SecAgg+ so FL users recognise them:

* ``clipping_range`` c: each value is clipped to [-c, c] (clipped values are counted, never
  hidden);
* ``quantization_range`` L: [-c, c] is mapped onto the integers [0, L], step Delta = 2c / L;
* ``modulus_range`` 2^b: the ring. The sum of n clients is at most n * L, so the round is exact
  only when n * L < 2^b; :class:`QuantizationConfig` refuses anything else.

Stochastic rounding rounds v up with probability frac(v), so E[q] = v exactly (unbiased); its
uniform draws come from the AES-CTR PRG under a 32-byte seed that the caller passes in.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from secagg.config import as_int
from secagg.crypto import prg
from secagg.crypto.prg import RingArray
from secagg.errors import AbortReason, ConfigError, ProtocolAbort

MAX_QUANTIZATION_RANGE = 1 << 53
"""Above this, float64 cannot hold every level exactly."""


@dataclass(frozen=True, slots=True)
class QuantizationConfig:
    """How float updates of ``num_clients`` clients map into Z_{2^bits} without wrapping.

    Leave ``modulus_range`` as None to get the smallest power of two that is safe for
    ``num_clients``; pass it to check a ring you chose.
    """

    num_clients: int
    clipping_range: float = 8.0
    quantization_range: int = 1 << 22
    modulus_range: int | None = None

    def __post_init__(self) -> None:
        # Integer fields become Python ints: numpy ints are accepted, but n * L must not wrap.
        n = as_int(self.num_clients)
        if n is None or n < 1:
            raise ConfigError("num_clients must be a positive int")
        object.__setattr__(self, "num_clients", n)
        c = self.clipping_range
        if isinstance(c, bool) or not isinstance(c, (int, float, np.floating, np.integer)):
            raise ConfigError(f"clipping_range must be a number, got {type(c).__name__}")
        try:
            c = float(c)
        except OverflowError:  # a Python int beyond the float64 range
            raise ConfigError("clipping_range is too large for a float64") from None
        object.__setattr__(self, "clipping_range", c)
        L = as_int(self.quantization_range)  # noqa: N806 - the paper's symbol
        if L is None or not 1 <= L <= MAX_QUANTIZATION_RANGE:
            raise ConfigError(
                f"quantization_range must be an int in [1, 2^53], got {self.quantization_range!r}"
            )
        object.__setattr__(self, "quantization_range", L)
        # Both the scale L / 2c and the step 2c / L must be finite, non-zero floats, or
        # quantization would produce NaN (which no cast maps back into the ring).
        with np.errstate(over="ignore", divide="ignore"):
            scale, step = np.float64(L) / (2.0 * np.float64(c)), 2.0 * np.float64(c) / L
        if not (np.isfinite(c) and c > 0 and np.isfinite(scale) and np.isfinite(step) and step > 0):
            raise ConfigError(
                f"clipping_range must be a positive number with finite 2c/L and L/2c, got {c}"
            )
        largest_sum = self.num_clients * L
        if self.modulus_range is None:
            if largest_sum >= 1 << 64:
                # (2^64 - 1) // L >= 2047 and (2^64 - 1) // n < 2^53 here, since L <= 2^53.
                raise ConfigError(
                    f"{self.num_clients} clients x quantization_range {L} = {largest_sum} >= "
                    f"2^64: the sum cannot fit the largest ring (modulus_range 2^64). With "
                    f"quantization_range {L} at most {((1 << 64) - 1) // L} clients fit; with "
                    f"{self.num_clients} clients quantization_range can be at most "
                    f"{((1 << 64) - 1) // self.num_clients}."
                )
            object.__setattr__(self, "modulus_range", 1 << largest_sum.bit_length())
        m = as_int(self.modulus_range)
        if m is None or m < 2 or m & (m - 1) or m > 1 << 64:
            raise ConfigError(
                f"modulus_range must be a power of two in [2, 2^64], got {self.modulus_range!r}"
            )
        object.__setattr__(self, "modulus_range", m)
        if largest_sum >= m:
            raise ConfigError(
                f"{self.num_clients} clients x quantization_range {L} = {largest_sum} does not "
                f"fit in modulus_range 2^{m.bit_length() - 1}: the sum could wrap. Use a larger "
                f"modulus_range, a smaller quantization_range, or fewer clients "
                f"(at most {self.max_clients()})."
            )

    @property
    def bits(self) -> int:
        """b with modulus_range = 2^b."""
        assert self.modulus_range is not None
        return self.modulus_range.bit_length() - 1

    @property
    def step(self) -> float:
        """Delta = 2c / L, the value of one quantization level."""
        return 2.0 * self.clipping_range / self.quantization_range

    def max_clients(self) -> int:
        """The largest n whose sum n * L stays below modulus_range."""
        assert self.modulus_range is not None
        return (self.modulus_range - 1) // self.quantization_range


@dataclass(frozen=True, slots=True)
class Quantized:
    """One client's quantized update and how many of its values were clipped."""

    values: RingArray
    clipped: int


def quantize(x: npt.ArrayLike, qc: QuantizationConfig, rounding_seed: bytes) -> Quantized:
    """Clip to [-c, c], scale to [0, L] and round stochastically (unbiased) into Z_{2^b}.

    ``rounding_seed`` (32 bytes) drives the rounding draws; NaN is refused, +-inf is clipped.
    An invalid update or seed raises :class:`~secagg.ConfigError`.
    """
    if not isinstance(rounding_seed, bytes) or len(rounding_seed) != prg.SEED_SIZE:
        got = (
            f"{len(rounding_seed)} bytes"
            if isinstance(rounding_seed, bytes)
            else type(rounding_seed).__name__
        )
        raise ConfigError(f"rounding_seed must be {prg.SEED_SIZE} bytes, got {got}")
    # The messages name dtypes and shapes, never values: an update is private data.
    try:
        raw = np.asarray(x)
    except (TypeError, ValueError) as exc:  # e.g. ragged nested lists
        raise ConfigError("update is not a vector of real numbers") from exc
    if raw.dtype.kind not in "biufO":
        raise ConfigError(f"update has dtype {raw.dtype}; quantize takes real numbers")
    try:
        v = raw.astype(np.float64)
    except (TypeError, ValueError):
        # from None: numpy's message would quote the offending value.
        raise ConfigError("update holds values that are not real numbers") from None
    except OverflowError:  # a Python int beyond the float64 range, in an object array
        raise ConfigError(
            f"update has dtype {raw.dtype} with integers too large for float64"
        ) from None
    if v.ndim != 1:
        raise ConfigError("quantize takes a 1-D vector; flatten model updates first")
    if np.isnan(v).any():
        raise ConfigError("update contains NaN")
    c = qc.clipping_range
    clipped = int(np.count_nonzero((v < -c) | (v > c)))
    # (x / c + 1) * L / 2 rather than (x + c) * L / 2c: no intermediate overflows for huge c.
    scaled = (np.clip(v, -c, c) / c + 1.0) * (qc.quantization_range / 2.0)
    low = np.floor(scaled)
    # 53 uniform bits per element -> a float in [0, 1) with no rounding bias.
    draws = prg.expand_seed(rounding_seed, v.shape[0], 64, label=prg.LABEL_ROUNDING) >> np.uint64(
        11
    )
    uniform = draws.astype(np.float64) * (1.0 / (1 << 53))
    q = low + (uniform < (scaled - low))
    q = np.minimum(q, qc.quantization_range)  # float error at exactly c must not add a level
    return Quantized(q.astype(prg.ring_dtype(qc.bits)), clipped)


def dequantize_sum(
    total: npt.ArrayLike, count: int, qc: QuantizationConfig
) -> npt.NDArray[np.float64]:
    """The float sum of ``count`` clients from the ring sum: total * Delta - count * c.

    A total with an element above ``count * quantization_range`` cannot be the sum of ``count``
    quantized updates (an input was out of range, e.g. a forged masked input): it raises
    :class:`~secagg.ProtocolAbort` with ``AGGREGATE_OUT_OF_RANGE`` and no float sum is released.
    """
    t = np.asarray(total)
    if t.size and int(t.max()) > count * qc.quantization_range:
        raise ProtocolAbort(
            AbortReason.AGGREGATE_OUT_OF_RANGE,
            f"ring sum exceeds {count} x quantization_range {qc.quantization_range}: it cannot "
            f"come from the quantized updates of {count} clients",
        )
    return t.astype(np.float64) * qc.step - count * qc.clipping_range
