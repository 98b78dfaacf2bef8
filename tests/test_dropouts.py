"""Dropouts at every round: the round completes with exactly the survivors' sum, or aborts cleanly.

The expectation is computed here, independently of the library: a client silenced from round r
is in U1..U_r and not after (U1 = advertised keys, U2 = shared keys, U3 = masked input,
U4 = unmasking response). The round must abort with BELOW_THRESHOLD exactly when one of U1..U4
has fewer than t members; otherwise the aggregate is sum_{u in U3} x_u mod 2^b, the survivors are
U3 and the responders U4, and every silenced client is dropped as TIMED_OUT in its round.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import secagg
from secagg import AbortReason, DropReason, ProtocolAbort, simulate_round
from secagg.simulate import ROUNDS

NEVER = len(ROUNDS)
"""A silence round index meaning: the client never drops."""


def make_inputs(n: int, dim: int, bits: int, seed: int) -> list[npt.NDArray[np.uint64]]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 1 << bits, size=dim, dtype=np.uint64) for _ in range(n)]


def plain_sum(inputs: Sequence[npt.NDArray[np.uint64]], ids: Sequence[int], bits: int) -> list[int]:
    """sum_{u in ids} x_u mod 2^bits with Python integers (no numpy wrap-around involved)."""
    dim = len(inputs[0])
    return [sum(int(inputs[u][i]) for u in ids) % (1 << bits) for i in range(dim)]


def expected_sets(silent_from: Mapping[int, int], n: int) -> list[list[int]]:
    """[U1, U2, U3, U4] for clients silenced from the given round index (NEVER if absent)."""
    return [[u for u in range(n) if silent_from.get(u, NEVER) > r] for r in range(len(ROUNDS))]


def drop_map(silent_from: Mapping[int, int]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for u, r in silent_from.items():
        if r < NEVER:
            out.setdefault(ROUNDS[r], []).append(u)
    return out


def check_round(
    inputs: Sequence[npt.NDArray[np.uint64]],
    silent_from: Mapping[int, int],
    threshold: int,
    bits: int,
    seed: int | None,
) -> bool:
    """Run one round and check it against the independent expectation; True if it completed."""
    n = len(inputs)
    sets = expected_sets(silent_from, n)
    should_abort = min(len(s) for s in sets) < threshold
    drop = drop_map(silent_from)
    if should_abort:
        with pytest.raises(ProtocolAbort) as info:
            simulate_round(inputs, threshold=threshold, bits=bits, drop=drop, seed=seed)
        assert info.value.reason is AbortReason.BELOW_THRESHOLD, (silent_from, threshold)
        return False
    result = simulate_round(inputs, threshold=threshold, bits=bits, drop=drop, seed=seed)
    u3, u4 = sets[2], sets[3]
    assert result.survivors == u3, (silent_from, threshold)
    assert result.responders == u4, (silent_from, threshold)
    assert result.aggregate.dtype == (np.uint32 if bits <= 32 else np.uint64)
    assert result.aggregate.shape == (len(inputs[0]),)
    assert [int(v) for v in result.aggregate] == plain_sum(inputs, u3, bits)
    assert result.client_aborts == {}
    expected_drops = sorted((u, ROUNDS[r]) for u, r in silent_from.items() if r < NEVER)
    assert sorted((d.client, d.phase.value) for d in result.drops) == expected_drops
    assert all(d.reason is DropReason.TIMED_OUT for d in result.drops)
    return True


def thresholds_for(n: int) -> list[int]:
    return sorted({1, n // 2 + 1, n - 1 if n > 2 else 1, n})


# --------------------------------------------------------------------------- exhaustive


@pytest.mark.parametrize("n", [2, 3, 4, 5, 6])
@pytest.mark.parametrize("round_index", range(len(ROUNDS)))
def test_every_subset_dropped_at_one_round(n: int, round_index: int) -> None:
    """Every subset of clients silenced at one round, for t in {1, ~n/2, n-1, n}."""
    bits = 13
    inputs = make_inputs(n, 6, bits, seed=100 * n + round_index)
    completed = aborted = 0
    for t in thresholds_for(n):
        for size in range(n + 1):
            for subset in itertools.combinations(range(n), size):
                silent = dict.fromkeys(subset, round_index)
                if check_round(inputs, silent, t, bits, seed=size):
                    completed += 1
                else:
                    aborted += 1
    # Both outcomes occur for every n and round (nobody dropped completes; all dropped aborts).
    assert completed > 0
    assert aborted > 0


@pytest.mark.parametrize("n", [2, 3, 4])
def test_every_mixed_assignment(n: int) -> None:
    """Every map client -> {never, advertise_keys, share_keys, masked_input, unmasking}."""
    bits = 32
    inputs = make_inputs(n, 4, bits, seed=n)
    outcomes = {True: 0, False: 0}
    for t in sorted({1, n // 2 + 1, n}):
        for assignment in itertools.product(range(NEVER + 1), repeat=n):
            silent = {u: r for u, r in enumerate(assignment) if r < NEVER}
            outcomes[check_round(inputs, silent, t, bits, seed=7)] += 1
    assert outcomes[True] > 0
    assert outcomes[False] > 0


# --------------------------------------------------------------------------- threshold edge


@pytest.mark.parametrize("round_index", range(len(ROUNDS)))
@pytest.mark.parametrize("n", [3, 5, 8])
def test_threshold_exactly_met_succeeds_one_fewer_aborts(n: int, round_index: int) -> None:
    bits = 20
    inputs = make_inputs(n, 8, bits, seed=n + round_index)
    name = ROUNDS[round_index]
    for t in range(1, n + 1):
        # Exactly t clients left after `name`: completes with exactly those t.
        dropped = list(range(n - t))
        result = simulate_round(inputs, threshold=t, bits=bits, drop={name: dropped}, seed=t)
        remaining = list(range(n - t, n))
        u3 = remaining if round_index <= 2 else list(range(n))
        assert result.survivors == u3
        assert result.responders == remaining
        assert [int(v) for v in result.aggregate] == plain_sum(inputs, u3, bits)
        # t - 1 clients left: aborts, and in that very round.
        if t >= 2:
            with pytest.raises(ProtocolAbort) as info:
                simulate_round(
                    inputs, threshold=t, bits=bits, drop={name: list(range(n - t + 1))}, seed=t
                )
            assert info.value.reason is AbortReason.BELOW_THRESHOLD
            assert name in info.value.detail


def test_threshold_one_with_a_single_survivor_reveals_only_its_input() -> None:
    """t = 1 lets a round finish with one client: its input is the sum (documented hazard)."""
    inputs = make_inputs(4, 5, 16, seed=3)
    result = simulate_round(
        inputs, threshold=1, bits=16, drop={"share_keys": [0, 1], "masked_input": [3]}, seed=1
    )
    assert result.survivors == [2]
    assert [int(v) for v in result.aggregate] == [int(v) for v in inputs[2]]


def test_earliest_round_wins_when_a_client_is_named_twice() -> None:
    inputs = make_inputs(5, 4, 32, seed=9)
    result = simulate_round(
        inputs,
        threshold=3,
        drop={"unmasking": [1], "share_keys": [1], "masked_input": [2]},
        seed=2,
    )
    assert result.survivors == [0, 3, 4]
    assert result.responders == [0, 3, 4]
    assert [(d.client, d.phase.value) for d in result.drops] == [
        (1, "share_keys"),
        (2, "masked_input"),
    ]
    assert [int(v) for v in result.aggregate] == plain_sum(inputs, [0, 3, 4], 32)


def test_unseeded_round_with_dropouts_is_correct() -> None:
    """Production randomness (os.urandom) gives the same guarantees as the seeded runs."""
    inputs = make_inputs(6, 10, 64, seed=4)
    for _ in range(3):
        silent = {0: 1, 2: 2, 5: 3}
        assert check_round(inputs, silent, 3, 64, seed=None)


# --------------------------------------------------------------------------- property


BITS = st.one_of(st.sampled_from([1, 7, 31, 32, 33, 63, 64]), st.integers(1, 64))


@settings(max_examples=60)
@given(
    n=st.integers(7, 20),
    data=st.data(),
    bits=BITS,
    dim=st.integers(1, 16),
    input_seed=st.integers(0, 2**32 - 1),
    round_seed=st.integers(0, 2**32 - 1),
)
def test_random_mixed_dropouts(
    n: int, data: st.DataObject, bits: int, dim: int, input_seed: int, round_seed: int
) -> None:
    assignment = data.draw(
        st.lists(
            # Weighted towards "never" so that most examples complete rather than abort.
            st.one_of(st.just(NEVER), st.integers(0, NEVER)),
            min_size=n,
            max_size=n,
        ),
        label="assignment",
    )
    t = data.draw(st.integers(1, n), label="threshold")
    silent = {u: r for u, r in enumerate(assignment) if r < NEVER}
    inputs = make_inputs(n, dim, bits, seed=input_seed)
    check_round(inputs, silent, t, bits, seed=round_seed)


@settings(max_examples=25)
@given(
    n=st.integers(7, 14),
    bits=BITS,
    data=st.data(),
)
def test_random_dropouts_with_threshold_at_the_edge(n: int, bits: int, data: st.DataObject) -> None:
    """t = |U4| (completes) and t = |U4| + 1 (aborts) for a random drop pattern."""
    assignment = data.draw(st.lists(st.integers(0, NEVER), min_size=n, max_size=n))
    silent = {u: r for u, r in enumerate(assignment) if r < NEVER}
    u4 = expected_sets(silent, n)[3]
    inputs = make_inputs(n, 3, bits, seed=n)
    if u4:
        assert check_round(inputs, silent, len(u4), bits, seed=1)
    if len(u4) < n:
        assert not check_round(inputs, silent, len(u4) + 1, bits, seed=1)


def test_public_names_match_the_rounds() -> None:
    assert secagg.ROUNDS == ("advertise_keys", "share_keys", "masked_input", "unmasking")
