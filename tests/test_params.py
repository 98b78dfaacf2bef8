"""Security parameters (`secagg.params`): hypergeometric tails, the SecAgg+ risk bounds, the
(k, t) finder and the threshold policy of SPEC 2 and 14. References are computed here with
exact fractions from the formulas the module states."""

from __future__ import annotations

import math
from fractions import Fraction
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg import params
from secagg.params import (
    CORRECTNESS_BITS,
    GRINDING_BITS,
    SECURITY_BITS,
    Risk,
    risk,
    search,
    secaggplus_parameters,
    tail,
    threshold_problem,
)

percents = st.integers(0, 49)


def brute_tail(population: int, successes: int, draws: int, at_least: int) -> Fraction:
    """P[X >= at_least] by enumerating every draw: items 0..successes-1 are the successes."""
    hits = total = 0
    for chosen in combinations(range(population), draws):
        total += 1
        hits += sum(1 for item in chosen if item < successes) >= at_least
    return Fraction(hits, total)


def exact_tail(population: int, successes: int, draws: int, at_least: int) -> Fraction:
    """The hypergeometric tail as an exact fraction."""
    top = min(successes, draws)
    return Fraction(
        sum(
            math.comb(successes, x) * math.comb(population - successes, draws - x)
            for x in range(max(at_least, 0), top + 1)
        ),
        math.comb(population, draws),
    )


def reference_risk(
    n: int, k: int, t: int, dropout_pct: int, corrupt_pct: int, malicious: bool
) -> tuple[float, float, float]:
    """The module docstring's union bounds, with C = floor(corrupt n), D = ceil(dropout n)
    computed exactly from the percentages."""
    c = math.floor(Fraction(corrupt_pct * n, 100))
    d = math.ceil(Fraction(dropout_pct * n, 100))
    absent = min(n - 1, d + c if malicious else d)
    correctness = n * exact_tail(n - 1, absent, k, k - t + 1)
    at = 2 * t - k - 1 if malicious else t
    privacy = n * exact_tail(n - 1, min(c, n - 1), k, at) if c else Fraction(0)
    half, bad = k // 2, min(c + d, n)
    connectivity = Fraction(n * math.comb(bad, half), math.comb(n, half))
    c_, p_, k_ = (float(min(Fraction(1), p)) for p in (correctness, privacy, connectivity))
    return c_, p_, k_


def close(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=0.0)


# --------------------------------------------------------------------------- tails and counts


@given(st.integers(1, 10), st.data())
@settings(max_examples=150)
def test_tail_equals_brute_force_enumeration(population: int, data: st.DataObject) -> None:
    successes = data.draw(st.integers(0, population))
    draws = data.draw(st.integers(0, population))
    at_least = data.draw(st.integers(-1, draws + 1))
    expected = brute_tail(population, successes, draws, at_least)
    assert close(tail(population, successes, draws, at_least), float(expected))


@given(st.integers(50, 5000), st.data())
@settings(max_examples=60)
def test_tail_equals_the_exact_fraction_on_large_populations(
    population: int, data: st.DataObject
) -> None:
    successes = data.draw(st.integers(0, population))
    draws = data.draw(st.integers(0, min(population, 120)))
    at_least = data.draw(st.integers(0, draws + 1))
    got = tail(population, successes, draws, at_least)
    assert close(got, float(exact_tail(population, successes, draws, at_least)))


def test_tail_edges() -> None:
    assert tail(10, 3, 4, 0) == 1.0
    assert tail(10, 3, 4, -5) == 1.0
    assert tail(10, 3, 4, 4) == 0.0  # only 3 successes
    assert tail(10, 5, 2, 3) == 0.0  # only 2 draws
    assert tail(10, 10, 4, 4) == 1.0
    assert close(tail(4, 2, 2, 2), 1 / 6)


@given(n=st.integers(1, 1 << 20), pct=st.integers(0, 100))
def test_counts_are_exact_floor_and_ceil_of_the_percentage(n: int, pct: int) -> None:
    """C = floor(corrupt n), D = ceil(dropout n), exact although pct / 100 is not a float."""
    assert params.corrupt_count(n, pct / 100) == (pct * n) // 100
    assert params.dropout_count(n, pct / 100) == -((-pct * n) // 100)


def test_published_counts() -> None:
    assert params.corrupt_count(1000, 0.05) == 50
    assert params.dropout_count(1000, 0.05) == 50
    assert params.corrupt_count(100, 0.29) == 29  # 0.29 * 100 = 28.999999999999996
    assert params.dropout_count(100, 0.07) == 7  # 0.07 * 100 = 7.000000000000001


# --------------------------------------------------------------------------- risk


@st.composite
def settings_(draw: st.DrawFn) -> tuple[int, int, int, int, int, bool]:
    n = draw(st.integers(5, 3000))
    k = 2 * draw(st.integers(1, min(n - 2, 80) // 2))
    t = draw(st.integers(1, k + 1))
    return n, k, t, draw(percents), draw(percents), draw(st.booleans())


@given(settings_())
@settings(max_examples=150)
def test_risk_equals_the_documented_bounds(case: tuple[int, int, int, int, int, bool]) -> None:
    n, k, t, dropout, corrupt, malicious = case
    r = risk(n, k, t, dropout=dropout / 100, corrupt=corrupt / 100, malicious=malicious)
    expected = reference_risk(n, k, t, dropout, corrupt, malicious)
    assert close(r.correctness, expected[0])
    assert close(r.privacy, expected[1])
    assert close(r.connectivity, expected[2])
    assert all(0.0 <= p <= 1.0 for p in (r.correctness, r.privacy, r.connectivity))


@given(settings_())
@settings(max_examples=150)
def test_risk_monotonicity(case: tuple[int, int, int, int, int, bool]) -> None:
    """A larger t: more holders must answer (correctness risk up), more corrupt holders are
    needed (privacy risk down). A larger k: longer runs must be corrupt or dropped to cut the
    ring (connectivity risk down)."""
    n, k, t, dropout, corrupt, malicious = case

    def at(k_: int, t_: int) -> Risk:
        return risk(n, k_, t_, dropout=dropout / 100, corrupt=corrupt / 100, malicious=malicious)

    here = at(k, t)
    if t + 1 <= k + 1:
        up = at(k, t + 1)
        assert up.correctness >= here.correctness
        assert up.privacy <= here.privacy
        assert up.connectivity == here.connectivity
    if k + 2 <= n - 2:
        wider = at(k + 2, t)
        assert wider.connectivity <= here.connectivity


def test_malicious_privacy_is_the_split_view_bound() -> None:
    """Malicious: c >= 2t - k - 1 corrupt neighbours let the server split the honest holders;
    semi-honest: c >= t corrupt neighbours pool their shares."""
    n, k, t = 1000, 30, 20
    semi = risk(n, k, t, dropout=0.05, corrupt=0.05, malicious=False)
    mal = risk(n, k, t, dropout=0.05, corrupt=0.05, malicious=True)
    assert close(semi.privacy, n * float(exact_tail(n - 1, 50, k, t)))
    assert close(mal.privacy, n * float(exact_tail(n - 1, 50, k, 2 * t - k - 1)))
    assert mal.privacy > semi.privacy
    # Malicious non-responders are the dropped and the corrupt: D + C of them.
    assert close(mal.correctness, n * float(exact_tail(n - 1, 100, k, k - t + 1)))


def test_no_corrupt_clients_no_privacy_risk() -> None:
    assert risk(100, 10, 6, dropout=0.1, corrupt=0.0, malicious=True).privacy == 0.0


def test_risk_bits() -> None:
    assert Risk.bits(0.0) == math.inf
    assert Risk.bits(2.0**-40) == 40.0
    assert Risk.bits(1.0) == 0.0


# --------------------------------------------------------------------------- thresholds


def test_policy_thresholds_are_the_smallest_allowed() -> None:
    for h in range(1, 200):
        t = params.policy_threshold(h)
        assert 2 * t > h >= 2 * (t - 1)
    for n in range(1, 300):
        for pct in (0, 5, 20, 49):
            c = (pct * n) // 100
            t = params.malicious_threshold(n, pct / 100)
            assert 2 * t > n + c >= 2 * (t - 1)  # SPEC 14: 2t > n + n_C
            semi = params.complete_threshold(n, corrupt=pct / 100)
            assert semi == max(n // 2 + 1, c + 1)
            assert params.complete_threshold(n, corrupt=pct / 100, malicious=True) == max(t, c + 1)


# --------------------------------------------------------------------------- the finder


def bounds(malicious: bool) -> tuple[float, float]:
    """(security bound, correctness bound) with the default bits."""
    return 2.0 ** -(SECURITY_BITS + (GRINDING_BITS if malicious else 0)), 2.0**-CORRECTNESS_BITS


def meets(n: int, k: int, t: int, dropout: float, corrupt: float, malicious: bool) -> bool:
    sec, cor = bounds(malicious)
    r = risk(n, k, t, dropout=dropout, corrupt=corrupt, malicious=malicious)
    return r.correctness <= cor and r.privacy <= sec and r.connectivity <= sec


def check_found(n: int, dropout: float, corrupt: float, malicious: bool) -> None:
    """The finder's answer meets every bound it claims, no smaller k meets them with any policy
    threshold, and no smaller t meets them with that k."""
    found = search(n, dropout=dropout, corrupt=corrupt, malicious=malicious)
    assert secaggplus_parameters(
        n,
        dropout=dropout,
        corrupt=corrupt,
        security="malicious" if malicious else "semi_honest",
    ) == (found.neighbors, found.threshold)
    k, t = found.neighbors, found.threshold
    last_k = n - 2 if k is None else k - 2
    for smaller in range(2, last_k + 1, 2):
        for t_ in range(params.policy_threshold(smaller + 1), smaller + 2):
            assert not meets(n, smaller, t_, dropout, corrupt, malicious), (smaller, t_)
    if k is None:
        assert found.risk is None
        assert t == min(params.complete_threshold(n, corrupt=corrupt, malicious=malicious), n)
        return
    sec, cor = bounds(malicious)
    assert k % 2 == 0 and 2 <= k <= n - 2
    assert 2 * t > k + 1 and t <= k + 1
    r = risk(n, k, t, dropout=dropout, corrupt=corrupt, malicious=malicious)
    assert found.risk == r
    assert r.correctness <= cor and r.privacy <= sec and r.connectivity <= sec
    if t - 1 >= params.policy_threshold(k + 1):
        assert not meets(n, k, t - 1, dropout, corrupt, malicious)
    # The policy accepts what the finder found.
    assert threshold_problem(n, t, neighbors=k, corrupt=corrupt, malicious=malicious) is None


@given(n=st.integers(1, 400), dropout=st.integers(0, 30), corrupt=st.integers(0, 30))
@settings(max_examples=40)
def test_search_results_satisfy_their_bounds_and_are_minimal(
    n: int, dropout: int, corrupt: int
) -> None:
    check_found(n, dropout / 100, corrupt / 100, malicious=False)


@given(n=st.integers(1, 300), dropout=st.integers(0, 20), corrupt=st.integers(0, 20))
@settings(max_examples=25)
def test_malicious_search_results_satisfy_their_bounds_and_are_minimal(
    n: int, dropout: int, corrupt: int
) -> None:
    check_found(n, dropout / 100, corrupt / 100, malicious=True)


@pytest.mark.parametrize(("n", "expected"), [(1000, (30, 17)), (10_000, (34, 20))])
def test_published_production_figures(n: int, expected: tuple[int, int]) -> None:
    """5% corrupt, 5% dropout, semi-honest (the figures in the docs and the lead's runs)."""
    assert secaggplus_parameters(n) == expected
    assert secaggplus_parameters(n, dropout=0.05, corrupt=0.05, security="semi_honest") == expected
    check_found(n, 0.05, 0.05, malicious=False)


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_small_n_falls_back_to_the_complete_graph(n: int) -> None:
    found = search(n)
    assert found.neighbors is None and found.risk is None
    assert found.threshold == min(n // 2 + 1, n)
    check_found(n, 0.05, 0.05, malicious=False)


@pytest.mark.parametrize("malicious", [False, True])
def test_high_rates_fall_back_to_the_complete_graph(malicious: bool) -> None:
    found = search(100, dropout=0.45, corrupt=0.45, malicious=malicious)
    assert found.neighbors is None
    assert found.threshold == (73 if malicious else 51)  # 2t > 100 + 45, or 2t > 100
    check_found(100, 0.45, 0.45, malicious)


def test_stricter_bits_never_give_a_sparser_graph() -> None:
    base = search(2000)
    strict = search(2000, security_bits=60)
    loose = search(2000, correctness_bits=10)
    assert base.neighbors is not None and strict.neighbors is not None
    assert strict.neighbors >= base.neighbors
    assert loose.neighbors is not None and loose.neighbors <= base.neighbors


def test_module_constants() -> None:
    assert (SECURITY_BITS, CORRECTNESS_BITS, GRINDING_BITS) == (40, 20, 40)


# --------------------------------------------------------------------------- argument validation


@pytest.mark.parametrize("n", [0, -1, 1.5, "10", None, True])
def test_search_refuses_bad_n(n: object) -> None:
    with pytest.raises(ValueError):
        search(n)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        secaggplus_parameters(n)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"dropout": -0.01}, ValueError),
        ({"dropout": 1.0}, ValueError),
        ({"dropout": float("nan")}, ValueError),
        ({"corrupt": 0.5}, ValueError),
        ({"corrupt": -0.1}, ValueError),
        ({"corrupt": float("inf")}, ValueError),
        ({"dropout": "0.05"}, TypeError),
        ({"corrupt": None}, TypeError),
        ({"dropout": True}, TypeError),
        ({"security": "honest"}, ValueError),
        ({"security": "MALICIOUS"}, ValueError),
    ],
)
def test_secaggplus_parameters_refuses_bad_arguments(
    kwargs: dict[str, object], error: type[Exception]
) -> None:
    with pytest.raises(error):
        secaggplus_parameters(1000, **kwargs)  # type: ignore[arg-type]


def test_integral_rates_are_accepted() -> None:
    assert secaggplus_parameters(1000, dropout=0, corrupt=0) == secaggplus_parameters(
        1000, dropout=0.0, corrupt=0.0
    )


# --------------------------------------------------------------------------- threshold_problem


@pytest.mark.parametrize("n", [1, 2])
def test_problem_too_few_clients(n: int) -> None:
    message = threshold_problem(n, n, neighbors=None, corrupt=0.0, malicious=False)
    assert message is not None
    assert f"with {n} client(s)" in message and "use at least 3 clients" in message


@pytest.mark.parametrize(("n", "t"), [(3, 1), (4, 2), (10, 5), (11, 5), (100, 50)])
def test_problem_half_of_the_clients(n: int, t: int) -> None:
    message = threshold_problem(n, t, neighbors=None, corrupt=0.0, malicious=False)
    assert message is not None
    assert f"threshold t={t} is not more than half of the {n} clients" in message
    assert f"use t >= {n // 2 + 1}" in message
    assert threshold_problem(n, n // 2 + 1, neighbors=None, corrupt=0.0, malicious=False) is None


def test_problem_half_of_the_holders() -> None:
    message = threshold_problem(100, 5, neighbors=10, corrupt=0.0, malicious=False)
    assert message is not None
    assert "not more than half of the 11 holders of each client's shares (k + 1)" in message
    assert "use t >= 6" in message


def test_problem_malicious_complete_graph_needs_2t_above_n_plus_corrupt() -> None:
    # n = 10, 20% corrupt: n_C = 2, 2t > 12 needs t >= 7; t = 6 passes the 2t > n rule.
    message = threshold_problem(10, 6, neighbors=None, corrupt=0.2, malicious=True)
    assert message == (
        "threshold t=6 is too low: a malicious server with 2 corrupt clients needs 2t > n + 2 "
        "to stop split views; use t >= 7"
    )
    assert threshold_problem(10, 7, neighbors=None, corrupt=0.2, malicious=True) is None
    assert threshold_problem(10, 6, neighbors=None, corrupt=0.2, malicious=False) is None


def test_problem_semi_honest_complete_graph_corrupt_pool() -> None:
    """t corrupt clients could pool their shares. Below 50% corrupt the 2t > n rule already
    implies t > n_C, so only a fraction of at least one half reaches this message (RoundConfig
    refuses such fractions before asking)."""
    message = threshold_problem(10, 6, neighbors=None, corrupt=0.6, malicious=False)
    assert (
        message == "threshold t=6 is too low: 6 corrupt clients could pool their shares; use t >= 7"
    )
    for n in range(3, 200):
        for pct in range(0, 50):
            t = n // 2 + 1
            assert (
                threshold_problem(n, t, neighbors=None, corrupt=pct / 100, malicious=False) is None
            )


def test_problem_secaggplus_privacy_risk() -> None:
    n, k, t, corrupt = 1000, 30, 16, 0.05
    message = threshold_problem(n, t, neighbors=k, corrupt=corrupt, malicious=False)
    # The risk that t corrupt neighbours (50 of 1000 clients corrupt) gather: dropout 0.
    p = n * float(exact_tail(n - 1, 50, k, t))
    assert p > 2.0**-40
    assert message == (
        f"with k=30 neighbours and t=16, corrupt neighbours (5% of clients) reach the threshold "
        f"with probability 2^-{-math.log2(p):.1f} (needed: 2^-40); raise t or k, or use "
        f"secaggplus_parameters()"
    )
    assert threshold_problem(n, 17, neighbors=k, corrupt=corrupt, malicious=False) is None


def test_problem_secaggplus_malicious_uses_the_grinding_bits() -> None:
    n, k, corrupt = 1000, 96, 0.05
    t = 67  # what the finder picks for 1000 malicious clients
    assert search(n, malicious=True).neighbors == k
    assert threshold_problem(n, t, neighbors=k, corrupt=corrupt, malicious=True) is None
    message = threshold_problem(n, t - 1, neighbors=k, corrupt=corrupt, malicious=True)
    assert message is not None and "(needed: 2^-80)" in message
    p = n * float(exact_tail(n - 1, 50, k, 2 * (t - 1) - k - 1))
    assert f"probability 2^-{-math.log2(p):.1f}" in message


def test_problem_secaggplus_ignores_dropout() -> None:
    """The policy bounds privacy only; dropout enters the finder, not the refusal."""
    assert threshold_problem(10_000, 20, neighbors=34, corrupt=0.05, malicious=False) is None
