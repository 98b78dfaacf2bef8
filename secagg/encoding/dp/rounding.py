"""Conditional randomized rounding onto the integers, and the norm bounds it guarantees.

Randomized rounding (round v up with probability frac(v)) is unbiased but can grow a vector's L2
norm by up to sqrt(d). Kairouz, Liu, Steinke (ICML 2021, Theorem 1 / Section 4.1) therefore
*condition* the rounding: draw again until the rounded vector's norm is at most

    Delta_2 = min( sqrt(c^2 + d/4 + sqrt(2 ln(1/beta)) * (c + sqrt(d)/2)),  c + sqrt(d) )

for an input of norm <= c (in integer units, i.e. after scaling). A draw passes with probability
at least 1 - beta, so the expected number of draws is at most 1 / (1 - beta), and the bound is
deterministic: it is the L2 sensitivity the privacy accountant uses. For integer vectors also
||v||_1 <= ||v||_2^2, so the L1 sensitivity is Delta_1 = Delta_2 * min(sqrt(d), Delta_2).
"""

from __future__ import annotations

import math

import numpy as np
import numpy.typing as npt

from secagg.errors import SecAggError

DEFAULT_BETA = math.exp(-0.5)
"""beta as in TensorFlow Federated's DistributedDpSumFactory: at most 1/(1 - e^-0.5) ~ 2.5
draws on average, for a small inflation of Delta_2."""

MAX_DRAWS = 1000
"""Each draw fails with probability <= beta < 1; 1000 failures in a row (beta^1000) do not
happen with a valid bound, so running out of draws means the bound was wrong."""

IntArray = npt.NDArray[np.int64]


def rounded_l2_bound(norm: float, dim: int, beta: float = DEFAULT_BETA) -> float:
    """Delta_2: the L2 norm the conditionally rounded vector is guaranteed to stay under."""
    if not 0.0 <= beta < 1.0:
        raise ValueError("beta must be in [0, 1)")
    trivial = norm + math.sqrt(dim)
    if beta == 0.0:
        return trivial
    squared = (
        norm**2 + dim / 4.0 + math.sqrt(2.0 * math.log(1.0 / beta)) * (norm + math.sqrt(dim) / 2.0)
    )
    return min(trivial, math.sqrt(squared))


def rounded_l1_bound(l2_bound: float, dim: int) -> float:
    """Delta_1 for an integer vector of L2 norm <= Delta_2: min(sqrt(d), Delta_2) * Delta_2."""
    return l2_bound * min(math.sqrt(dim), l2_bound)


def conditional_round(
    x: npt.NDArray[np.float64], bound: float, gen: np.random.Generator
) -> IntArray:
    """Randomized rounding of ``x``, redrawn until ``||result||_2 <= bound``.

    Unbiased per draw; conditioning shifts the mean only by the (at most beta) mass it rejects.
    """
    low = np.floor(x)
    frac = x - low
    base = low.astype(np.int64)
    limit = bound * bound
    for _ in range(MAX_DRAWS):
        rounded = base + (gen.random(x.shape[0]) < frac)
        # Integer sum of squares: exact, no float error at the boundary.
        if float(np.dot(rounded, rounded)) <= limit:
            return rounded
    raise SecAggError(
        f"conditional rounding failed {MAX_DRAWS} times: the norm bound {bound:.6g} is below "
        "what randomized rounding can reach for this input (a bug in the caller's bound)"
    )
