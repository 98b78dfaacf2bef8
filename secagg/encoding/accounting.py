"""Privacy accounting for distributed DP across rounds with client sampling (Renyi DP).

What ``dp-accounting`` (Google's library) covers is used from it: the conversion of an RDP curve
to (epsilon, delta) (:func:`dp_accounting.rdp.rdp_privacy_accountant.compute_epsilon`, Canonne-
Kamath-Steinke 2020 / Asoodeh et al. 2020) and the Poisson-subsampled *continuous* Gaussian
(the reference :func:`gaussian_epsilon`). What it lacks is written here, each with its source:

* the RDP of the Skellam sum (:func:`skellam_rdp`),
* the RDP of the distributed discrete Gaussian sum (:func:`ddgauss_rdp`),
* amplification by Poisson subsampling for a mechanism given only by its RDP curve
  (:func:`poisson_subsampled_rdp`); dp-accounting amplifies only Gaussian events.

All quantities are in the integer units of :class:`~secagg.encoding.dp.DistributedDpConfig`
(after scaling and rounding). A round's noise is that of the survivors *except one*: the client
whose privacy is measured may be absent from the neighbouring run, and its share with it.
Aborted rounds release nothing and cost nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
from dp_accounting import GaussianDpEvent, PoissonSampledDpEvent
from dp_accounting.rdp import rdp_privacy_accountant

from secagg.encoding.dp.params import DistributedDpConfig, Mechanism
from secagg.errors import ConfigError

FloatArray = npt.NDArray[np.float64]
RdpCurve = Callable[[npt.NDArray[np.int64]], FloatArray]
"""Integer orders alpha >= 2 -> epsilon(alpha) of one (unsampled) release."""

ORDERS: tuple[int, ...] = (*range(2, 65), *range(72, 257, 8))
"""Integer RDP orders: Poisson amplification below is stated for integer alpha."""


def skellam_rdp(orders: npt.ArrayLike, l2: float, l1: float, variance: float) -> FloatArray:
    """RDP of the Skellam mechanism: adding Sk with total variance mu to an integer query of
    L2 / L1 sensitivity Delta_2 / Delta_1, at integer alpha > 1:

        eps(alpha) = alpha Delta_2^2 / (2 mu)
                     + min( ((2 alpha - 1) Delta_2^2 + 6 Delta_1) / (4 mu^2), 3 Delta_1 / (2 mu) )

    Agarwal, Kairouz, Liu, "The Skellam Mechanism for Differentially Private Federated
    Learning", NeurIPS 2021 (arXiv:2110.04995), Theorem 3.5, with mu the variance of the sum.
    """
    a = np.asarray(orders, dtype=np.float64)
    if variance <= 0:
        return np.full(a.shape, np.inf)
    mu = variance
    first = a * l2 * l2 / (2.0 * mu)
    second = np.minimum(
        ((2.0 * a - 1.0) * l2 * l2 + 6.0 * l1) / (4.0 * mu * mu), 3.0 * l1 / (2.0 * mu)
    )
    out: FloatArray = first + second
    return out


def ddgauss_tau(local_sigma: float, shares: int) -> float:
    """tau = 10 sum_{k=1}^{m-1} exp(-2 pi^2 sigma^2 k / (k + 1)): how far the sum of m discrete
    Gaussians N_Z(0, sigma^2) is from one discrete Gaussian (Kairouz, Liu, Steinke, ICML 2021,
    arXiv:2102.06387, Theorem 1)."""
    k = np.arange(1, max(shares, 1), dtype=np.float64)
    return float(10.0 * np.sum(np.exp(-2.0 * math.pi**2 * local_sigma**2 * k / (k + 1.0))))


def ddgauss_rdp(
    orders: npt.ArrayLike, l2: float, l1: float, local_sigma: float, shares: int, dim: int
) -> FloatArray:
    """RDP of the sum of ``shares`` discrete Gaussian shares N_Z(0, sigma^2) added to an integer
    query of sensitivity Delta_2 / Delta_1 in ``dim`` coordinates. With the total scale
    sigma_tot = sqrt(m) sigma, a = Delta_2 / sigma_tot, b = Delta_1 / sigma_tot and tau of
    :func:`ddgauss_tau`:

        eps(alpha) = min( alpha a^2 / 2 + tau d,
                          alpha (a^2 + 2 b tau + tau^2 d) / 2,
                          alpha (a + sqrt(d) tau)^2 / 2 )

    Kairouz, Liu, Steinke, "The Distributed Discrete Gaussian Mechanism for Federated Learning
    with Secure Aggregation", ICML 2021 (arXiv:2102.06387), Proposition 14 with Theorem 1's tau
    (the form used by Google's distributed_dp accounting code).
    """
    alpha = np.asarray(orders, dtype=np.float64)
    if shares < 1 or local_sigma <= 0:
        return np.full(alpha.shape, np.inf)
    sigma_total = math.sqrt(shares) * local_sigma
    a, b = l2 / sigma_total, l1 / sigma_total
    tau = ddgauss_tau(local_sigma, shares)
    term_1 = alpha / 2.0 * a * a + tau * dim
    term_2 = alpha / 2.0 * (a * a + 2.0 * b * tau + tau * tau * dim)
    term_3 = alpha / 2.0 * (a + math.sqrt(dim) * tau) ** 2
    out: FloatArray = np.minimum(np.minimum(term_1, term_2), term_3)
    return out


def _log_binomials(alpha: int) -> FloatArray:
    ell = np.arange(alpha + 1)
    lg = np.array([math.lgamma(i + 1.0) for i in range(alpha + 1)])
    out: FloatArray = lg[alpha] - lg[ell] - lg[alpha - ell]
    return out


def _logsumexp(values: FloatArray) -> float:
    top = float(np.max(values))
    if not math.isfinite(top):
        return top
    return top + math.log(float(np.sum(np.exp(values - top))))


def poisson_subsampled_rdp(q: float, rdp: RdpCurve, orders: Sequence[int] = ORDERS) -> FloatArray:
    """RDP of a mechanism run on a Poisson sample (each client kept with probability q), from
    its RDP curve eps(.) alone, at integer alpha >= 2:

        eps'(alpha) <= 1/(alpha-1) log( (1-q)^(alpha-1) (alpha q - q + 1)
                        + C(alpha, 2) q^2 (1-q)^(alpha-2) e^{eps(2)}
                        + 3 sum_{l=3}^{alpha} C(alpha, l) q^l (1-q)^(alpha-l) e^{(l-1) eps(l)} )

    Zhu, Wang, "Poisson Subsampled Renyi Differential Privacy", ICML 2019, Theorem 6 (the
    general upper bound, any mechanism). The unamplified eps(alpha) is also a bound; the
    smaller of the two is returned.
    """
    if not 0.0 <= q <= 1.0:
        raise ConfigError(f"sampling rate must be in [0, 1], got {q!r}")
    alphas = np.asarray(orders, dtype=np.int64)
    if alphas.min() < 2:
        raise ConfigError("Poisson amplification is stated for integer orders >= 2")
    plain = rdp(alphas)
    if q == 0.0:
        return np.zeros(alphas.shape)
    if q == 1.0:
        return plain
    largest = int(alphas.max())
    eps = rdp(np.arange(0, largest + 1, dtype=np.int64).clip(min=2))  # eps[l] for l >= 2
    log_q, log_1q = math.log(q), math.log1p(-q)
    out = np.empty(alphas.shape)
    for i, alpha in enumerate(alphas.tolist()):
        if not math.isfinite(float(eps[alpha])):
            out[i] = plain[i]
            continue
        lb = _log_binomials(alpha)
        ell = np.arange(3, alpha + 1)
        terms = [
            (alpha - 1) * log_1q + math.log(alpha * q - q + 1.0),
            float(lb[2]) + 2 * log_q + (alpha - 2) * log_1q + float(eps[2]),
        ]
        rest = (
            math.log(3.0)
            + lb[3:]
            + ell * log_q
            + (alpha - ell) * log_1q
            + (ell - 1) * eps[3 : alpha + 1]
        )
        total = _logsumexp(np.concatenate((np.array(terms), rest)))
        out[i] = min(total / (alpha - 1), float(plain[i]))
    return out


def round_rdp_curve(config: DistributedDpConfig, survivors: int) -> RdpCurve:
    """The unsampled RDP curve of one round whose sum holds ``survivors`` clients' shares, of
    which ``survivors - 1`` are counted."""
    shares = survivors - 1
    l2, l1 = config.l2_sensitivity, config.l1_sensitivity

    def curve(alphas: npt.NDArray[np.int64]) -> FloatArray:
        if shares < 1:
            return np.full(alphas.shape, np.inf)
        if config.mechanism is Mechanism.SKELLAM:
            return skellam_rdp(alphas, l2, l1, shares * config.local_variance)
        return ddgauss_rdp(
            alphas, l2, l1, math.sqrt(config.local_variance), shares, config.padded_dim
        )

    return curve


def epsilon_from_rdp(rdp: npt.ArrayLike, delta: float, orders: Sequence[int] = ORDERS) -> float:
    """The smallest epsilon at ``delta`` over the orders (dp-accounting's conversion)."""
    if not 0.0 < delta < 1.0:
        raise ConfigError(f"delta must be in (0, 1), got {delta!r}")
    eps, _ = rdp_privacy_accountant.compute_epsilon(list(orders), list(np.asarray(rdp)), delta)
    return float(eps)


class PrivacyAccountant:
    """Composes the rounds of a training run: sum of per-round (Poisson-subsampled) RDP curves.

    ``sampling_rate`` q is the probability with which each client is picked for a round,
    independently (Poisson sampling); q = 1 means every client takes part every round.
    """

    def __init__(self, sampling_rate: float, orders: Sequence[int] = ORDERS) -> None:
        if not 0.0 < sampling_rate <= 1.0:
            raise ConfigError(f"sampling_rate must be in (0, 1], got {sampling_rate!r}")
        self.sampling_rate = float(sampling_rate)
        self.orders = tuple(orders)
        self.rdp: FloatArray = np.zeros(len(self.orders))
        self.rounds = 0
        self._cache: dict[tuple[DistributedDpConfig, int], FloatArray] = {}

    def round_rdp(self, config: DistributedDpConfig, survivors: int) -> FloatArray:
        """The RDP one round adds (cached: configs and survivor counts repeat)."""
        key = (config, survivors)
        if key not in self._cache:
            self._cache[key] = poisson_subsampled_rdp(
                self.sampling_rate, round_rdp_curve(config, survivors), self.orders
            )
        return self._cache[key]

    def record(self, config: DistributedDpConfig, survivors: int) -> None:
        """Account one released aggregate over ``survivors`` clients (|U3|)."""
        self.rdp = self.rdp + self.round_rdp(config, survivors)
        self.rounds += 1

    def epsilon(self, delta: float) -> float:
        """epsilon at ``delta`` for everything recorded so far (0 before any round)."""
        if self.rounds == 0:
            return 0.0
        return epsilon_from_rdp(self.rdp, delta, self.orders)


def planned_epsilon(
    config: DistributedDpConfig, sampling_rate: float, rounds: int, delta: float
) -> float:
    """epsilon after ``rounds`` rounds if each ends with the expected survivors
    (``config.noise_shares + 1``): what a run is planned for, before dropouts are known."""
    accountant = PrivacyAccountant(sampling_rate)
    per_round = accountant.round_rdp(config, config.noise_shares + 1)
    return epsilon_from_rdp(per_round * rounds, delta, accountant.orders)


def calibrate_noise_multiplier(
    target_epsilon: float,
    delta: float,
    sampling_rate: float,
    rounds: int,
    make_config: Callable[[float], DistributedDpConfig],
) -> DistributedDpConfig:
    """The configuration with the smallest noise multiplier z whose planned epsilon is at most
    ``target_epsilon`` (bisection on log z; epsilon falls as z grows, since the scale s then
    shrinks only as fast as the noise grows). ``make_config(z)`` builds the candidates."""
    if not target_epsilon > 0:
        raise ConfigError(f"target epsilon must be positive, got {target_epsilon!r}")

    def eps(z: float) -> float:
        return planned_epsilon(make_config(z), sampling_rate, rounds, delta)

    low, high = 1e-2, 1e3
    if eps(high) > target_epsilon:
        raise ConfigError(
            f"epsilon {target_epsilon} at delta {delta} is out of reach over {rounds} rounds even "
            f"with noise multiplier {high:g}: the ring is too coarse (rounding dominates the "
            "sensitivity). Use more bits, fewer rounds or a larger epsilon."
        )
    for _ in range(50):
        mid = math.sqrt(low * high)
        if eps(mid) > target_epsilon:
            low = mid
        else:
            high = mid
        if high / low < 1.001:
            break
    return make_config(high)


def gaussian_epsilon(
    noise_multiplier: float, sampling_rate: float, rounds: int, delta: float
) -> float:
    """The reference: the Poisson-subsampled continuous Gaussian mechanism with the same z,
    entirely from dp-accounting. The distributed mechanisms approach it as b grows."""
    accountant = rdp_privacy_accountant.RdpAccountant(list(ORDERS))
    event = PoissonSampledDpEvent(sampling_rate, GaussianDpEvent(noise_multiplier))
    accountant.compose(event, rounds)
    return float(accountant.get_epsilon(delta))
