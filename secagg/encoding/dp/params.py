"""Distributed-DP parameters, chosen together and validated before any message is sent.

The inputs are what a deployment knows: n (the most clients whose inputs one sum can hold), the
expected participation and dropout, the L2 clip norm c, the noise multiplier z (the noise in the
aggregate is z * c per coordinate, in float units, over the expected survivors), the ring Z_2^b
and the vector length d. From them (Kairouz, Liu, Steinke, ICML 2021, Section 4.4; TensorFlow
Federated's DistributedDpSumFactory):

* the padded length D = 2^ceil(log2 d) of the randomized Hadamard transform;
* the number of noise shares the noise is calibrated to: m = expected survivors - 1. The
  accountant counts every survivor *but one* (the client whose privacy is measured contributes
  its own share on one side of a neighbouring pair only), so one share is never relied on;
* the local noise variance v = (z c s)^2 / m per coordinate, in integer units;
* the scale s (integer levels per float unit), the largest for which the aggregate of n clients
  stays inside [-2^(b-1), 2^(b-1)) with a per-coordinate wrap-around probability of at most
  ``max_wrap_probability``. After rotation each coordinate of the sum is sub-Gaussian with
  variance proxy  s^2 c^2 n^2 / D  (signal: n clipped vectors, worst case aligned)
  + n v (noise shares) + n / 4 (rounding), so with k = sqrt(2 ln(2 / p)) standard deviations
  in the half-range the tail bound 2 exp(-k^2 / 2) is p. (For Skellam shares this treats the
  noise as Gaussian, which it approaches at the variances used here - as TFF does.)
  A ring too small for that even as s -> 0 is refused with the reason;
* the sensitivities the accountant uses: Delta_2 = the conditional-rounding bound of c * s
  (:func:`~secagg.encoding.dp.rounding.rounded_l2_bound`) and
  Delta_1 = Delta_2 min(sqrt D, Delta_2).

Wrap-around is a utility loss, not a privacy one: modular reduction is post-processing of the
noisy sum. It is bounded because a wrapped coordinate comes back with the wrong sign.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field

from secagg.config import as_int
from secagg.encoding.dp.rotation import padded_dim
from secagg.encoding.dp.rounding import DEFAULT_BETA, rounded_l1_bound, rounded_l2_bound
from secagg.errors import ConfigError

MAX_BITS = 62
"""Client shares are formed in int64 before the reduction mod 2^b; 62 bits leave headroom."""


class Mechanism(enum.Enum):
    """Which integer noise the clients add."""

    SKELLAM = "skellam"
    """Agarwal, Kairouz, Liu (NeurIPS 2021): Poisson(v/2) - Poisson(v/2)."""
    DGAUSS = "dgauss"
    """Kairouz, Liu, Steinke (ICML 2021): the distributed discrete Gaussian N_Z(0, v)."""


def _positive_float(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ConfigError(f"{name} must be a number, got {type(value).__name__}")
    number = float(value)
    if not (math.isfinite(number) and number > 0):
        raise ConfigError(f"{name} must be a positive finite number, got {value!r}")
    return number


@dataclass(frozen=True, slots=True)
class DistributedDpConfig:
    """Everything clients and server agree on for one distributed-DP sum.

    Attributes (inputs):
        mechanism: :class:`Mechanism` (or its value, ``"skellam"`` / ``"dgauss"``).
        dim: d, the length of a client's float vector.
        clients: n, the most clients whose inputs one sum can hold (sizes the ring).
        clip: c, the L2 norm every client vector is clipped to.
        noise_multiplier: z; the aggregate's noise is z * c per coordinate over m shares.
        bits: b, the ring Z_2^b (2 <= b <= 62).
        expected_dropout: the fraction of participants expected to drop before their masked
            input arrives (their noise share is then missing from the sum).
        expected_clients: how many clients are expected to take part (default ``clients``;
            with Poisson sampling, the population times the sampling rate).
        beta: conditional rounding's failure probability bound per draw.
        max_wrap_probability: p, the per-coordinate wrap-around probability allowed.
    """

    mechanism: Mechanism
    dim: int
    clients: int
    clip: float
    noise_multiplier: float
    bits: int
    expected_dropout: float = 0.0
    expected_clients: float | None = None
    beta: float = DEFAULT_BETA
    max_wrap_probability: float = 1e-5
    padded_dim: int = field(init=False)
    """D, the Hadamard length."""
    noise_shares: int = field(init=False)
    """m: the shares the noise is calibrated to (expected survivors - 1)."""
    k_stddevs: float = field(init=False)
    """k = sqrt(2 ln(2/p)): standard deviations of the aggregate inside the half-range."""
    scale: float = field(init=False)
    """s: integer levels per float unit."""
    local_variance: float = field(init=False)
    """v: each client's noise variance per coordinate, in integer units."""
    l2_sensitivity: float = field(init=False)
    """Delta_2 in integer units (after scaling and conditional rounding)."""
    l1_sensitivity: float = field(init=False)
    """Delta_1 in integer units."""

    def __post_init__(self) -> None:
        set_ = object.__setattr__
        try:
            set_(self, "mechanism", Mechanism(self.mechanism))
        except ValueError:
            raise ConfigError(
                f"mechanism must be one of {[m.value for m in Mechanism]}, got {self.mechanism!r}"
            ) from None
        for name, low, high in (
            ("dim", 1, 1 << 31),
            ("clients", 1, 1 << 20),
            ("bits", 2, MAX_BITS),
        ):
            value = as_int(getattr(self, name))
            if value is None or not low <= value <= high:
                raise ConfigError(
                    f"{name} must be an int in [{low}, {high}], got {getattr(self, name)!r}"
                )
            set_(self, name, value)
        set_(self, "clip", _positive_float("clip", self.clip))
        set_(self, "noise_multiplier", _positive_float("noise_multiplier", self.noise_multiplier))
        dropout = self.expected_dropout
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, (int, float))
            or not (0.0 <= dropout < 1.0)
        ):
            raise ConfigError(f"expected_dropout must be in [0, 1), got {dropout!r}")
        expected = self.clients if self.expected_clients is None else self.expected_clients
        expected = _positive_float("expected_clients", expected)
        if expected > self.clients:
            raise ConfigError(
                f"expected_clients {expected} exceeds clients {self.clients}, "
                "the most one sum holds"
            )
        set_(self, "expected_clients", expected)
        if not 0.0 <= self.beta < 1.0:
            raise ConfigError(f"beta must be in [0, 1), got {self.beta!r}")
        p = self.max_wrap_probability
        if not 0.0 < p < 1.0:
            raise ConfigError(f"max_wrap_probability must be in (0, 1), got {p!r}")

        survivors = math.floor(expected * (1.0 - dropout))
        if survivors < 2:
            raise ConfigError(
                f"{expected:g} expected clients with {dropout:.0%} expected dropout leave "
                f"{survivors} expected survivor(s): the accountant counts the noise of every "
                "survivor but the one measured, so at least 2 must be expected to survive"
            )
        m = survivors - 1
        set_(self, "noise_shares", m)
        big_d = padded_dim(self.dim)
        set_(self, "padded_dim", big_d)
        k = math.sqrt(2.0 * math.log(2.0 / p))
        set_(self, "k_stddevs", k)
        n, c, z = self.clients, self.clip, self.noise_multiplier
        half_range_sq = (2.0 ** (self.bits - 1) / k) ** 2
        rounding = n / 4.0
        if half_range_sq <= rounding:
            raise ConfigError(
                f"{self.bits} bits cannot hold the sum of {n} clients: their rounding alone has "
                f"a standard deviation of {math.sqrt(rounding):.3g} levels, and {k:.2f} of them "
                f"(wrap-around probability {p:g} per coordinate) exceed the half-range "
                f"2^{self.bits - 1}. Use more bits, fewer clients or a larger "
                "max_wrap_probability."
            )
        # Per unit of s^2: signal (n vectors of norm c spread over D coordinates) and noise.
        per_scale = c * c * (n * n / big_d + n * z * z / m)
        scale = math.sqrt((half_range_sq - rounding) / per_scale)
        set_(self, "scale", scale)
        set_(self, "local_variance", (z * c * scale) ** 2 / m)
        l2 = rounded_l2_bound(c * scale, big_d, self.beta)
        set_(self, "l2_sensitivity", l2)
        set_(self, "l1_sensitivity", rounded_l1_bound(l2, big_d))

    def aggregate_stddev(self, clients: int | None = None) -> float:
        """The sub-Gaussian scale of one coordinate of the sum of ``clients`` (default n)
        encoded vectors, in integer units: signal, noise shares and rounding."""
        n = self.clients if clients is None else clients
        signal = (self.clip * self.scale) ** 2 * n * n / self.padded_dim
        return math.sqrt(signal + n * self.local_variance + n / 4.0)

    def wrap_probability(self, clients: int | None = None) -> float:
        """The per-coordinate bound 2 exp(-k^2 / 2) on wrap-around for a sum of ``clients``."""
        k = 2.0 ** (self.bits - 1) / self.aggregate_stddev(clients)
        return min(1.0, 2.0 * math.exp(-k * k / 2.0))

    @property
    def rounding_inflation(self) -> float:
        """Delta_2 / (c s): how much rounding to the ring's grid grows the sensitivity (and so
        the noise needed for the same epsilon); near 1 when b is large enough."""
        return self.l2_sensitivity / (self.clip * self.scale)

    def central_stddev(self, survivors: int) -> float:
        """The standard deviation of the aggregate's noise counted for ``survivors`` clients
        (all but one of their shares), in float units."""
        return math.sqrt(max(survivors - 1, 0) * self.local_variance) / self.scale
