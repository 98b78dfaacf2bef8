"""Dropouts at every round: the round completes with exactly the survivors' sum, or aborts cleanly.

The expectation is computed here, independently of the library: a client silenced from round r
is in U1..U_r and not after (U1 = advertised keys, U2 = shared keys, U3 = masked input,
U4 = unmasking response). The round must abort with BELOW_THRESHOLD exactly when one of U1..U4
has fewer than t members; otherwise the aggregate is sum_{u in U3} x_u mod 2^b, the survivors are
U3 and the responders U4, and every silenced client is dropped as TIMED_OUT in its round.
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Mapping, Sequence
from typing import TypeVar

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import secagg
from secagg import (
    AbortReason,
    Client,
    Drop,
    DropReason,
    ProtocolAbort,
    RoundConfig,
    Server,
    simulate_round,
)
from secagg.core.client import rand_size
from secagg.crypto.prg import RingArray
from secagg.runtime.simulate import ROUNDS

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


def short_round(sets: Sequence[Sequence[int]], threshold: int) -> int | None:
    """The first round index whose set has fewer than ``threshold`` members, or None."""
    return next((r for r, members in enumerate(sets) if len(members) < threshold), None)


def check_drops(drops: Sequence[Drop], silent_from: Mapping[int, int], up_to: int) -> None:
    """Exactly the clients silenced in rounds 0..up_to were dropped, as TIMED_OUT, in that round."""
    expected = sorted((u, ROUNDS[r]) for u, r in silent_from.items() if r <= up_to)
    assert sorted((d.client, d.phase.value) for d in drops) == expected, silent_from
    assert all(d.reason is DropReason.TIMED_OUT for d in drops), silent_from


def check_completed(
    inputs: Sequence[npt.NDArray[np.uint64]],
    silent_from: Mapping[int, int],
    bits: int,
    *,
    aggregate: RingArray,
    survivors: Sequence[int],
    responders: Sequence[int],
    drops: Sequence[Drop],
) -> None:
    """A completed round: U3 summed, U4 responded, every silenced client dropped in its round."""
    u3, u4 = expected_sets(silent_from, len(inputs))[2:]
    assert list(survivors) == u3, silent_from
    assert list(responders) == u4, silent_from
    assert aggregate.dtype == (np.uint32 if bits <= 32 else np.uint64)
    assert aggregate.shape == (len(inputs[0]),)
    assert [int(v) for v in aggregate] == plain_sum(inputs, u3, bits), silent_from
    check_drops(drops, silent_from, NEVER - 1)


def check_round(
    inputs: Sequence[npt.NDArray[np.uint64]],
    silent_from: Mapping[int, int],
    threshold: int,
    bits: int,
    seed: int | None,
) -> bool:
    """Run one round and check it against the independent expectation; True if it completed."""
    sets = expected_sets(silent_from, len(inputs))
    drop = drop_map(silent_from)
    if short_round(sets, threshold) is not None:
        with pytest.raises(ProtocolAbort) as info:
            simulate_round(inputs, threshold=threshold, bits=bits, drop=drop, seed=seed)
        assert info.value.reason is AbortReason.BELOW_THRESHOLD, (silent_from, threshold)
        return False
    result = simulate_round(inputs, threshold=threshold, bits=bits, drop=drop, seed=seed)
    assert result.client_aborts == {}
    check_completed(
        inputs,
        silent_from,
        bits,
        aggregate=result.aggregate,
        survivors=result.survivors,
        responders=result.responders,
        drops=result.drops,
    )
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


@pytest.mark.parametrize("n", [2, 3])
def test_every_mixed_assignment(n: int) -> None:
    """Every map client -> {never, advertise_keys, share_keys, masked_input, unmasking}, through
    simulate_round; the forked test below covers every such map for n <= 6 at every t on the
    state machines, so this only keeps the public entry point in the exhaustive loop."""
    bits = 32
    inputs = make_inputs(n, 4, bits, seed=n)
    outcomes = {True: 0, False: 0}
    for t in sorted({1, n // 2 + 1, n}):
        for assignment in itertools.product(range(NEVER + 1), repeat=n):
            silent = {u: r for u, r in enumerate(assignment) if r < NEVER}
            outcomes[check_round(inputs, silent, t, bits, seed=7)] += 1
    assert outcomes[True] > 0
    assert outcomes[False] > 0


# --------------------------------------------------------------------------- exhaustive, forked
#
# 5^6 = 15625 patterns through simulate_round would take ~50 s per threshold (3-4 ms a run,
# mostly X25519), so the patterns are run as a tree instead: every pattern that agrees on who
# went silent in rounds 0..r shares the state of rounds 0..r, and the Client/Server state
# machines are copied (deep, so branches cannot interfere) where the patterns part. Each
# completed pattern still goes through all four rounds on its own copies; patterns that differ
# only in silences after the round aborted share that one run (nothing happens after an abort).
# Every pattern is checked on its own against the independent expectation.

Pattern = tuple[int, ...]
"""pattern[u]: the round index client u is silent from, or NEVER."""

T = TypeVar("T")


def fork(state: T, config: RoundConfig) -> T:
    """An independent copy of protocol state; only the (frozen) round config is shared."""
    return copy.deepcopy(state, {id(config): config})


def run_every_assignment(
    inputs: Sequence[npt.NDArray[np.uint64]], threshold: int, bits: int, seed: int
) -> dict[Pattern, bool]:
    """Run and check every pattern in {0, .., NEVER}^n; return pattern -> completed."""
    n = len(inputs)
    rng = np.random.default_rng(seed)
    config = RoundConfig(
        num_clients=n,
        threshold=threshold,
        dim=len(inputs[0]),
        bits=bits,
        session_nonce=rng.bytes(32),
    )
    clients = {u: Client(config, u, inputs[u], rng.bytes(rand_size(config))) for u in range(n)}
    outcomes: dict[Pattern, bool] = {}

    def record(silent_from: Mapping[int, int], completed: bool) -> None:
        pattern = tuple(silent_from.get(u, NEVER) for u in range(n))
        assert pattern not in outcomes, pattern
        expected_abort = short_round(expected_sets(silent_from, n), threshold)
        assert completed == (expected_abort is None), (pattern, threshold)
        outcomes[pattern] = completed

    def descend(
        r: int,
        server: Server,
        clients: dict[int, Client],
        prompts: Mapping[int, bytes],
        silent_from: Mapping[int, int],
    ) -> None:
        """Play round r from ``server`` and ``clients`` (the ones not yet silent), which this
        call owns, for every subset of ``clients`` going silent now."""
        # A reply depends only on the prompt, so it is computed once and then delivered or lost;
        # the server cannot tell a lost reply from one that was never computed.
        replies = {u: c.start() if r == 0 else c.handle(prompts[u]) for u, c in clients.items()}
        alive = sorted(clients)
        for size in range(len(alive) + 1):
            for silenced in itertools.combinations(alive, size):
                answering = [u for u in alive if u not in silenced]
                here = {**silent_from, **dict.fromkeys(silenced, r)}
                branch = fork(server, config)
                for u in answering:
                    branch.receive(u, replies[u])
                try:
                    out = branch.advance()
                except ProtocolAbort as exc:
                    assert exc.reason is AbortReason.BELOW_THRESHOLD, (here, threshold)
                    assert short_round(expected_sets(here, n), threshold) == r, (here, threshold)
                    check_drops(branch.drops, here, r)
                    # Nothing runs after an abort, so this one run is the whole run of every
                    # pattern that also silences some of `answering` in a later round.
                    for later in itertools.product(range(r + 1, NEVER + 1), repeat=len(answering)):
                        record({**here, **dict(zip(answering, later, strict=True))}, False)
                    continue
                if r == NEVER - 1:
                    assert out == []
                    assert branch.result is not None
                    check_completed(
                        inputs,
                        here,
                        bits,
                        aggregate=branch.result.vector,
                        survivors=branch.result.survivors,
                        responders=branch.result.responders,
                        drops=branch.drops,
                    )
                    record(here, True)
                    continue
                assert sorted(v for v, _ in out) == answering, here
                still_up = fork({u: clients[u] for u in answering}, config)
                descend(r + 1, branch, still_up, dict(out), here)

    descend(0, Server(config), clients, {}, {})
    return outcomes


@pytest.mark.parametrize(
    ("n", "threshold"), [(n, t) for n in (2, 3, 4, 5, 6) for t in range(1, n + 1)]
)
def test_every_mixed_assignment_every_threshold(n: int, threshold: int) -> None:
    """All 5^n maps client -> {never, advertise_keys, .., unmasking}, for every t in 1..n, on
    forked Client/Server state machines (n = 6: 15625 patterns per t)."""
    # Both ring storage widths for every n: uint32 with a reduction mod 2^31, wrapping uint64.
    bits = 64 if threshold % 2 else 31
    inputs = make_inputs(n, 4, bits, seed=10 * n + threshold)
    outcomes = run_every_assignment(inputs, threshold, bits, seed=threshold)
    assert len(outcomes) == (NEVER + 1) ** n
    # U4 is the smallest set, so a pattern completes iff at least t clients never go silent.
    completing = sum(math.comb(n, k) * NEVER ** (n - k) for k in range(threshold, n + 1))
    assert sum(outcomes.values()) == completing


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
