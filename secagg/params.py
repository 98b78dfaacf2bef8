"""Security parameters: the SecAgg+ (k, t) finder and the threshold policy of every mode.

The sparse graph of SecAgg+ (Bell et al., CCS 2020) is a Harary graph H_{n,k} laid on a ring
in an order drawn from the session (:mod:`secagg.core.graph`): each client's ``k`` neighbours
are the ``k/2`` clients on each side of it. Because the order is uniformly random, a client's
neighbourhood is marginally a uniformly random ``k``-subset of the other ``n - 1`` clients, so
the number of corrupt (or dropped) neighbours is hypergeometric. With ``C = floor(corrupt * n)``
corrupt and ``D = ceil(dropout * n)`` dropped clients, the finder bounds four events by a union
bound over the ``n`` clients, with exact hypergeometric tails:

* **correctness** (``2^-correctness_bits``): a client whose secret must be rebuilt has fewer
  than ``t`` responding holders among its ``k + 1``. Non-responders are the dropped clients,
  and in the malicious mode also the corrupt ones (which may refuse to answer):
  ``n * P[Hyp(n-1, D(+C), k) >= k - t + 1]``;
* **privacy against corrupt neighbours** (``2^-security_bits``): in the semi-honest mode the
  corrupt neighbours of an honest client alone hold ``t`` shares of a secret the server does not
  get from the honest ones: ``n * P[Hyp(n-1, C, k) >= t]``; in the malicious mode the server can
  also split the honest holders between the two secrets (a split view), which succeeds when
  ``2t <= k + 1 + c`` with ``c`` corrupt neighbours: ``n * P[Hyp(n-1, C, k) >= 2t - k - 1]``;
* **connectivity** (``2^-security_bits``): the honest clients that survive stay connected, so
  the server learns only their total. The ring splits only where ``k/2`` consecutive clients
  are all corrupt or dropped, and it takes two such runs to disconnect it:
  ``n * C(C + D, k/2) / C(n, k/2)`` bounds the probability of even one.

In the malicious mode the server chooses the session nonce and so the ring order; it could try
many nonces to place corrupt clients where they hurt. The finder charges for that: the security
events must also stay below ``2^-security_bits`` after ``2^grinding_bits`` tries.

Every mode also keeps ``2t > holders`` (``holders = n`` for the complete graph, ``k + 1`` for
SecAgg+) unless the caller opts out: with ``t`` at most half the holders, two disjoint halves of
the holders can each rebuild one of a client's two secrets.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

SECURITY_BITS = 40
CORRECTNESS_BITS = 20
GRINDING_BITS = 40


def _check_fraction(name: str, value: float, upper: float = 1.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f"{name} must be a number")
    value = float(value)
    if not 0.0 <= value < upper:
        raise ValueError(f"{name} must be in [0, {upper:g}), got {value!r}")
    return value


def corrupt_count(n: int, corrupt: float) -> int:
    """``C = floor(corrupt * n)``: the clients assumed corrupt."""
    return math.floor(corrupt * n + 1e-9)


def dropout_count(n: int, dropout: float) -> int:
    """``D = ceil(dropout * n)``: the clients expected to drop."""
    return math.ceil(dropout * n - 1e-9)


@lru_cache(maxsize=4096)
def _pmf(population: int, successes: int, draws: int) -> tuple[float, ...]:
    """P[X = x] for x = 0..draws, X ~ Hypergeometric(population, successes, draws)."""
    total = math.comb(population, draws)
    return tuple(
        math.comb(successes, x) * math.comb(population - successes, draws - x) / total
        for x in range(draws + 1)
    )


def tail(population: int, successes: int, draws: int, at_least: int) -> float:
    """P[X >= at_least] for X ~ Hypergeometric(population, successes, draws)."""
    if at_least <= 0:
        return 1.0
    if at_least > min(successes, draws):
        return 0.0
    return min(1.0, math.fsum(_pmf(population, successes, draws)[at_least:]))


@dataclass(frozen=True, slots=True)
class Risk:
    """Union-bound probabilities of the events in the module docstring, for one (n, k, t)."""

    correctness: float
    privacy: float
    connectivity: float

    @staticmethod
    def bits(p: float) -> float:
        """-log2(p): the bits of security a probability amounts to (inf for 0)."""
        return math.inf if p <= 0.0 else -math.log2(p)


def risk(
    n: int,
    k: int,
    t: int,
    *,
    dropout: float,
    corrupt: float,
    malicious: bool,
) -> Risk:
    """The three failure probabilities of SecAgg+ with ``k`` neighbours and threshold ``t``."""
    c, d = corrupt_count(n, corrupt), dropout_count(n, dropout)
    absent = min(n - 1, d + c if malicious else d)
    correctness = n * tail(n - 1, absent, k, k - t + 1)
    privacy_at = 2 * t - k - 1 if malicious else t
    privacy = n * tail(n - 1, min(c, n - 1), k, privacy_at) if c else 0.0
    half, bad = k // 2, min(c + d, n)
    connectivity = n * math.comb(bad, half) / math.comb(n, half) if half <= bad else 0.0
    return Risk(min(1.0, correctness), min(1.0, privacy), min(1.0, connectivity))


def policy_threshold(holders: int) -> int:
    """The smallest ``t`` with ``2t > holders``."""
    return holders // 2 + 1


def malicious_threshold(n: int, corrupt: float) -> int:
    """The smallest ``t`` with ``2t > n + n_C`` (complete graph, malicious mode): two views of
    the survivors that each gather ``t`` signatures would need more than ``n`` signers."""
    return (n + corrupt_count(n, corrupt)) // 2 + 1


def complete_threshold(n: int, *, corrupt: float = 0.0, malicious: bool = False) -> int:
    """The default ``t`` of the complete graph: the smallest the policy allows."""
    t = malicious_threshold(n, corrupt) if malicious else policy_threshold(n)
    return max(t, corrupt_count(n, corrupt) + 1)


@dataclass(frozen=True, slots=True)
class SecAggPlusParameters:
    """What :func:`secaggplus_parameters` found: ``neighbors`` (None: the complete graph)."""

    neighbors: int | None
    threshold: int
    risk: Risk | None


def _security_bits(security_bits: int, grinding_bits: int, malicious: bool) -> int:
    return security_bits + (grinding_bits if malicious else 0)


def search(
    n: int,
    *,
    dropout: float = 0.05,
    corrupt: float = 0.05,
    malicious: bool = False,
    security_bits: int = SECURITY_BITS,
    correctness_bits: int = CORRECTNESS_BITS,
    grinding_bits: int = GRINDING_BITS,
) -> SecAggPlusParameters:
    """The smallest even ``k`` (and for it the smallest ``t``) meeting every bound; the
    complete graph when no ``k <= n - 2`` does."""
    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
        raise ValueError("n must be a positive int")
    dropout = _check_fraction("dropout", dropout)
    corrupt = _check_fraction("corrupt", corrupt, 0.5)
    sec = 2.0 ** -_security_bits(security_bits, grinding_bits, malicious)
    cor = 2.0**-correctness_bits
    for k in range(2, n - 1, 2):
        t = policy_threshold(k + 1)
        while t <= k + 1:
            r = risk(n, k, t, dropout=dropout, corrupt=corrupt, malicious=malicious)
            if r.connectivity > sec or r.correctness > cor:
                break  # a larger t only raises the correctness risk; try a larger k
            if r.privacy <= sec:
                return SecAggPlusParameters(k, t, r)
            t += 1
    t = complete_threshold(n, corrupt=corrupt, malicious=malicious)
    return SecAggPlusParameters(None, min(t, n), None)


def secaggplus_parameters(
    n: int,
    *,
    dropout: float = 0.05,
    corrupt: float = 0.05,
    security: str = "semi_honest",
    security_bits: int = SECURITY_BITS,
    correctness_bits: int = CORRECTNESS_BITS,
    grinding_bits: int = GRINDING_BITS,
) -> tuple[int | None, int]:
    """``(k, t)`` for SecAgg+ with ``n`` clients: ``k`` neighbours per client (even) and the
    per-neighbourhood threshold ``t``; ``k`` is None when the complete graph is needed (small
    ``n``, or rates so high that no sparse graph meets the bounds).

    ``dropout`` is the expected fraction of clients lost during a round, ``corrupt`` the
    fraction that may collude with the server, ``security`` "semi_honest" or "malicious".
    The bounds are in this module's docstring; e.g. for 5% / 5%, semi-honest:
    ``secaggplus_parameters(1000) == (30, 17)`` and ``secaggplus_parameters(10_000) == (34, 20)``.
    """
    if security not in ("semi_honest", "malicious"):
        raise ValueError(f"security must be 'semi_honest' or 'malicious', got {security!r}")
    found = search(
        n,
        dropout=dropout,
        corrupt=corrupt,
        malicious=security == "malicious",
        security_bits=security_bits,
        correctness_bits=correctness_bits,
        grinding_bits=grinding_bits,
    )
    return found.neighbors, found.threshold


def threshold_problem(
    n: int,
    t: int,
    *,
    neighbors: int | None,
    corrupt: float,
    malicious: bool,
    security_bits: int = SECURITY_BITS,
    grinding_bits: int = GRINDING_BITS,
) -> str | None:
    """Why ``t`` is too weak for this setting, in words a user can act on; None when it is not.

    Used by :class:`~secagg.config.RoundConfig` to refuse weak settings unless the caller
    explicitly opts out (``allow_weak_threshold=True``).
    """
    c = corrupt_count(n, corrupt)
    if n < 3:
        return (
            f"with {n} client(s) the aggregate reveals each input to anyone who knows the "
            f"others' (one client: the server learns it outright); use at least 3 clients"
        )
    holders = n if neighbors is None else neighbors + 1
    if 2 * t <= holders:
        where = "clients" if neighbors is None else "holders of each client's shares (k + 1)"
        return (
            f"threshold t={t} is not more than half of the {holders} {where}: two disjoint "
            f"groups of {t} could then each rebuild one of a client's two secrets, and a server "
            f"that tells them different stories learns that client's input; use t >= "
            f"{policy_threshold(holders)}"
        )
    if neighbors is None:
        need = complete_threshold(n, corrupt=corrupt, malicious=malicious)
        if t < need:
            why = (
                f"a malicious server with {c} corrupt clients needs 2t > n + {c} to stop split "
                f"views"
                if malicious
                else f"{c} corrupt clients could pool their shares"
            )
            return f"threshold t={t} is too low: {why}; use t >= {need}"
        return None
    r = risk(n, neighbors, t, dropout=0.0, corrupt=corrupt, malicious=malicious)
    bits = _security_bits(security_bits, grinding_bits, malicious)
    if r.privacy > 2.0**-bits:
        return (
            f"with k={neighbors} neighbours and t={t}, corrupt neighbours ({corrupt:.0%} of "
            f"clients) reach the threshold with probability 2^-{Risk.bits(r.privacy):.1f} "
            f"(needed: 2^-{bits}); raise t or k, or use secaggplus_parameters()"
        )
    return None
