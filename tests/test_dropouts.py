"""Dropouts at every round: the round completes with exactly the survivors' sum, or aborts
cleanly, in both security modes and on both graphs.

The expectation is computed here (:func:`expect`), independently of the library, from the
rules of protocol/SPEC.md section 10: a client silenced from round r sends nothing from round r
on; an honest client refuses a prompt that leaves it fewer than t holders; the server drops
whoever did not answer (TIMED_OUT), excludes owners left with fewer than t holders of valid
shares (SHARES_REJECTED), aborts BELOW_THRESHOLD when fewer than t clients answered a round and
INSUFFICIENT_SHARES when fewer than t holders returned a needed secret's shares. Otherwise the
aggregate is sum_{u in U3} x_u mod 2^b.
"""

from __future__ import annotations

import copy
import dataclasses
import itertools
import math
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from replies import Round, make_config, plain_sum

import secagg
from secagg import (
    AbortReason,
    Client,
    ClientAbort,
    DropReason,
    ProtocolAbort,
    RoundConfig,
    Server,
    simulate_round,
)
from secagg.core.graph import graph_for
from secagg.runtime.simulate import rounds

Pattern = tuple[int, ...]
"""pattern[u]: the index of the round client u is silent from, or len(rounds) (never)."""


def make_inputs(n: int, dim: int, bits: int, seed: int) -> list[npt.NDArray[np.uint64]]:
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 1 << bits, size=dim, dtype=np.uint64) for _ in range(n)]


# --------------------------------------------------------------------------- the expectation


@dataclass
class Expected:
    """What a round with one dropout pattern must do."""

    abort: tuple[str, AbortReason] | None = None
    """(round name, reason) when the server aborts."""
    survivors: list[int] = field(default_factory=list)
    responders: list[int] = field(default_factory=list)
    drops: list[tuple[int, str, DropReason]] = field(default_factory=list)
    client_aborts: dict[int, AbortReason] = field(default_factory=dict)


def expect(pattern: Sequence[int], config: RoundConfig) -> Expected:
    """The outcome SPEC section 10 prescribes for ``pattern``; independent of the library
    except for the masking graph (whose neighbourhoods are tested on their own)."""
    n, t = config.num_clients, config.threshold
    names = rounds(config.security)
    graph = graph_for(config)
    holders = {u: set(graph.holders(u)) for u in range(n)}
    out = Expected()

    def answers(
        prompted: set[int], r: int, refuses: Callable[[int], AbortReason | None]
    ) -> set[int]:
        """Who of ``prompted`` answers round ``r``: not silent, and not refusing the prompt."""
        answered = set()
        for u in sorted(prompted):
            if pattern[u] <= r:
                continue
            reason = refuses(u)
            if reason is None:
                answered.add(u)
            else:
                out.client_aborts[u] = reason
        out.drops += [(u, names[r], DropReason.TIMED_OUT) for u in sorted(prompted - answered)]
        return answered

    def short(members: set[int], r: int) -> bool:
        if len(members) < t:
            out.abort = (names[r], AbortReason.BELOW_THRESHOLD)
            return True
        return False

    def fewer_than_t_holders(members: set[int]) -> Callable[[int], AbortReason | None]:
        return lambda u: AbortReason.BELOW_THRESHOLD if len(holders[u] & members) < t else None

    u1 = answers(set(range(n)), 0, lambda u: None)
    if short(u1, 0):
        return out
    s1 = answers(u1, 1, fewer_than_t_holders(u1))  # the key list lists H(u) within U1
    if short(s1, 1):
        return out
    checked = answers(s1, 2, fewer_than_t_holders(s1))  # shares forwarded from N(v) within S1
    if short(checked, 2):
        return out
    u2 = set(checked)  # the exclusion step: owners need t valid holders
    while rejected := sorted(u for u in u2 if len(holders[u] & u2) < t):
        out.drops += [(u, names[2], DropReason.SHARES_REJECTED) for u in rejected]
        u2 -= set(rejected)
    if short(u2, 2):
        return out
    u3 = answers(u2, 3, fewer_than_t_holders(u2))
    if short(u3, 3):
        return out
    r = 4
    unmaskers = u3
    if config.malicious:
        unmaskers = answers(u3, r, fewer_than_t_holders(u3))  # the survivor rules, then sign
        if short(unmaskers, r):
            return out
        r += 1

    def unmask_refusal(v: int) -> AbortReason | None:
        if not config.malicious:
            return fewer_than_t_holders(u3)(v)
        # Every owner v would reveal a share of needs t signatures from its own holders.
        if any(len(holders[z] & unmaskers) < t for z in holders[v] & u2):
            return AbortReason.CONSISTENCY_CHECK_FAILED
        return None

    u4 = answers(unmaskers, r, unmask_refusal)
    if short(u4, r):
        return out
    if any(len(holders[z] & u4) < t for z in u2):
        out.abort = (names[r], AbortReason.INSUFFICIENT_SHARES)
        return out
    out.survivors, out.responders = sorted(u3), sorted(u4)
    return out


# --------------------------------------------------------------------------- exhaustive tree
#
# Every pattern in {0, .., R}^n (R rounds; R: never silent) is played on real Client and Server
# state machines as a tree: the patterns that agree on who went silent in rounds 0..r share the
# run of rounds 0..r. The server is forked (deep-copied) where the patterns part. A live Client
# refuses to be copied (it could then answer a round twice), so a branch that needs a client
# the first branch already moved on is given a fresh one, rebuilt from the same randomness and
# replayed through the same prompts (deterministic replay; its replies are checked to be the
# very bytes recorded the first time). Patterns that differ only after the round aborted, or
# in the silences of a client that had already refused a prompt, share one run. Every pattern
# is checked on its own against :func:`expect`.


@dataclass
class Handle:
    """One client of a branch: the prompts it has handled and the replies it sent, and the live
    object if no other branch has taken it."""

    history: tuple[tuple[bytes, bytes], ...]
    live: Client | None


@dataclass
class Observed:
    abort: tuple[str, AbortReason] | None
    survivors: list[int]
    responders: list[int]
    drops: list[tuple[int, str, DropReason]]
    client_aborts: dict[int, AbortReason]
    aggregate: list[int] | None


def frozen_parts(root: object) -> dict[int, object]:
    """A deepcopy memo mapping every frozen dataclass instance reachable from ``root`` (and
    the bytes-only containers around them) to itself: they are immutable, so forks of a
    server may share them, which makes a fork several times cheaper."""
    memo: dict[int, object] = {}
    stack = [root]
    seen: set[int] = set()
    while stack:
        obj = stack.pop()
        if id(obj) in seen:
            continue
        seen.add(id(obj))
        if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
            if type(obj).__dataclass_params__.frozen:  # type: ignore[attr-defined]
                memo[id(obj)] = obj
                continue
            stack += [getattr(obj, f.name) for f in dataclasses.fields(obj)]
        elif isinstance(obj, dict):
            stack += list(obj.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack += list(obj)
        elif hasattr(obj, "__dict__") and not isinstance(obj, type):
            stack += list(vars(obj).values())
    return memo


class Explorer:
    """Plays every pattern whose silences fall in ``silent_rounds`` (default: any round)."""

    def __init__(self, rnd: Round, silent_rounds: Collection[int] | None = None) -> None:
        self.rnd = rnd
        self.config = rnd.config
        self.names = rnd.names
        self.never = len(self.names)
        self.silent_rounds = set(range(self.never) if silent_rounds is None else silent_rounds)
        self.values = sorted(self.silent_rounds | {self.never})
        graph = graph_for(self.config)
        self.memo = {id(self.config): self.config, id(graph): graph}
        self.outcomes: dict[Pattern, bool] = {}
        self.replays = 0

    def client(self, u: int, handle: Handle) -> Client:
        if handle.live is not None:
            return handle.live
        self.replays += 1
        client = self.rnd.fresh_client(u)
        client.start()
        for i, (prompt, reply) in enumerate(handle.history):
            assert client.handle(prompt) == reply, f"client {u} replayed round {i + 1} differently"
        return client

    def record(self, fixed: Mapping[int, int], free: Mapping[int, int], seen: Observed) -> None:
        """Check ``seen`` against every pattern it stands for: ``fixed`` values, and each client
        of ``free`` silent from any round at or after its value (it does not matter when)."""
        n = self.config.num_clients
        loose = sorted(free)
        ranges = [[v for v in self.values if v >= free[u]] for u in loose]
        for values in itertools.product(*ranges):
            pattern = dict(fixed)
            pattern.update(zip(loose, values, strict=True))
            key = tuple(pattern.get(u, self.never) for u in range(n))
            assert key not in self.outcomes, key
            want = expect(key, self.config)
            assert seen.abort == want.abort, (key, seen.abort, want.abort)
            assert sorted(seen.drops) == sorted(want.drops), key
            assert seen.client_aborts == want.client_aborts, key
            if want.abort is None:
                assert seen.survivors == want.survivors, key
                assert seen.responders == want.responders, key
                assert seen.aggregate == self.rnd.plain_sum(want.survivors), key
            self.outcomes[key] = want.abort is None

    def run(self) -> dict[Pattern, bool]:
        n = self.config.num_clients
        handles = {u: Handle((), self.rnd.fresh_client(u)) for u in range(n)}
        self.descend(0, Server(self.config), handles, {}, {}, {}, {})
        assert len(self.outcomes) == len(self.values) ** n
        return self.outcomes

    def descend(
        self,
        r: int,
        server: Server,
        handles: dict[int, Handle],
        prompts: Mapping[int, bytes],
        fixed: Mapping[int, int],
        free: Mapping[int, int],
        refused: Mapping[int, AbortReason],
    ) -> None:
        """Play round ``r`` from ``server`` for every subset of the clients of ``handles`` going
        silent now; this call owns ``server`` and the handles."""
        replies: dict[int, bytes] = {}
        refusals: dict[int, AbortReason] = {}
        live: dict[int, Client] = {}
        for u, handle in handles.items():
            client = self.client(u, handle)
            try:
                replies[u] = client.start() if r == 0 else client.handle(prompts[u])
            except ClientAbort as exc:
                refusals[u] = exc.reason
                continue
            live[u] = client
        alive = sorted(handles)
        memo = {**self.memo, **frozen_parts(server)}
        sizes = range(len(alive) + 1) if r in self.silent_rounds else [0]
        for size in sizes:
            for silenced in itertools.combinations(alive, size):
                here = {**fixed, **dict.fromkeys(silenced, r)}
                refusing = {u: refusals[u] for u in alive if u in refusals and u not in silenced}
                gone = {**refused, **refusing}
                # A client that refused is out whenever it would have gone silent later.
                loose = {**free, **dict.fromkeys(refusing, r + 1)}
                answering = [u for u in alive if u not in silenced and u in replies]
                last = size == sizes[-1]  # the last branch may take the server itself
                branch = server if last else copy.deepcopy(server, dict(memo))
                for u in answering:
                    branch.receive(u, replies[u])
                drops = [(d.client, d.phase.value, d.reason) for d in branch.drops]
                try:
                    out = branch.advance()
                except ProtocolAbort as exc:
                    drops = [(d.client, d.phase.value, d.reason) for d in branch.drops]
                    # Nothing runs after an abort: this run stands for every later silence.
                    later = {**loose, **dict.fromkeys(answering, r + 1)}
                    seen = Observed((self.names[r], exc.reason), [], [], drops, gone, None)
                    self.record(here, later, seen)
                    continue
                drops = [(d.client, d.phase.value, d.reason) for d in branch.drops]
                if r == self.never - 1:
                    assert out == [] and branch.result is not None
                    seen = Observed(
                        None,
                        list(branch.result.survivors),
                        list(branch.result.responders),
                        drops,
                        gone,
                        [int(v) for v in branch.result.vector],
                    )
                    self.record(here, loose, seen)
                    continue
                prompted = dict(out)
                # Excluded owners (SHARES_REJECTED) get no prompt: out, like a refusal.
                loose.update(dict.fromkeys((u for u in answering if u not in prompted), r + 1))
                child = {
                    u: Handle(
                        (*handles[u].history, (prompts[u], replies[u])) if r else (),
                        live.pop(u, None),
                    )
                    for u in sorted(prompted)
                }
                self.descend(r + 1, branch, child, prompted, here, loose, gone)


EXHAUSTIVE = [
    (security, neighbors, n, t)
    for security, neighbors, n, thresholds in [
        ("semi_honest", None, 2, None),
        ("semi_honest", None, 3, None),
        ("semi_honest", None, 4, None),
        ("semi_honest", None, 5, None),
        ("malicious", None, 2, None),
        ("malicious", None, 3, None),
        ("malicious", None, 4, None),
        ("malicious", None, 5, None),
        ("semi_honest", 2, 4, None),
        ("semi_honest", 2, 5, None),
        ("malicious", 2, 4, None),
        ("malicious", 2, 5, None),
        ("semi_honest", 4, 6, (3, 4, 5)),
    ]
    for t in thresholds or range(1, (n if neighbors is None else neighbors + 1) + 1)
]
"""Every dropout pattern at every t: the complete graph up to n = 5 in both modes, SecAgg+ with
k = 2 at n = 4 and 5 in both modes, and with k = 4 at n = 6 (6^6 patterns per t) at the
thresholds the policy accepts (t >= 3 of 5 holders). The rest of k = 4 at n = 6 - the weak
thresholds, and the malicious mode (7^6 patterns per t, minutes with replayed clients) - is
covered by every subset at each round below and by the random patterns."""


@pytest.mark.parametrize(
    ("security", "neighbors", "n", "t"),
    EXHAUSTIVE,
    ids=[f"{s}-k{k}-n{n}-t{t}" for s, k, n, t in EXHAUSTIVE],
)
def test_every_dropout_pattern_every_threshold(
    security: str, neighbors: int | None, n: int, t: int
) -> None:
    """All (R + 1)^n maps client -> {silent from round 0, .., silent from round R - 1, never}
    on real state machines, each checked against the independent expectation."""
    # Both ring storage widths: uint32 with a reduction mod 2^31, and wrapping uint64.
    bits = 64 if t % 2 else 31
    rnd = Round(n, t, dim=3, bits=bits, neighbors=neighbors, security=security, seed=10 * n + t)
    explorer = Explorer(rnd)
    outcomes = explorer.run()
    never = len(rnd.names)
    completing = sum(outcomes.values())
    if neighbors is None:
        # On the complete graph no honest client refuses and every holder holds every share:
        # a pattern completes iff at least t clients never go silent.
        assert completing == sum(math.comb(n, k) * never ** (n - k) for k in range(t, n + 1))
    else:
        assert 0 < completing < len(outcomes)
    # Nobody silent completes; everybody silent from the start aborts.
    assert outcomes[(never,) * n]
    assert not outcomes[(0,) * n]
    if n > 2 and 1 < t < n:
        assert explorer.replays > 0  # branches did need rebuilt clients


ONE_ROUND = [
    (security, t, at)
    for security, thresholds in (("semi_honest", (1, 2)), ("malicious", (1, 2, 3, 4, 5)))
    for t in thresholds
    for at in range(len(rounds(security)))
]


@pytest.mark.parametrize(("security", "t", "at"), ONE_ROUND)
def test_secaggplus_k4_every_subset_silent_at_one_round(security: str, t: int, at: int) -> None:
    """n = 6, k = 4 (five holders per client): every subset of clients silent from one round,
    at every t, on real state machines against the independent expectation."""
    rnd = Round(6, t, dim=2, neighbors=4, security=security, seed=t)
    outcomes = Explorer(rnd, silent_rounds={at}).run()
    assert len(outcomes) == 2**6
    assert outcomes[(len(rnd.names),) * 6]


# --------------------------------------------------------------------------- simulate_round


def config_of(inputs: Sequence[npt.NDArray[np.uint64]], **kwargs: Any) -> RoundConfig:
    """The configuration simulate_round uses for these arguments (the session nonce depends on
    the seed and the parameters, not on the drops)."""
    kwargs = {k: v for k, v in kwargs.items() if k not in ("drop", "workers")}
    result = simulate_round(inputs, workers=1, **kwargs)
    assert result.config is not None
    return result.config


def drop_map(pattern: Sequence[int], names: Sequence[str]) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for u, r in enumerate(pattern):
        if r < len(names):
            out.setdefault(names[r], []).append(u)
    return out


def check_round(
    inputs: Sequence[npt.NDArray[np.uint64]],
    pattern: Sequence[int],
    config: RoundConfig,
    **kwargs: Any,
) -> bool:
    """Run simulate_round with ``pattern`` and check it against :func:`expect`; True if the
    round completed."""
    names = rounds(config.security)
    want = expect(pattern, config)
    drop = drop_map(pattern, names)
    if want.abort is not None:
        with pytest.raises(ProtocolAbort) as info:
            simulate_round(inputs, drop=drop, **kwargs)
        assert info.value.reason is want.abort[1], (pattern, info.value)
        return False
    result = simulate_round(inputs, drop=drop, **kwargs)
    assert result.config is not None
    if kwargs.get("seed") is not None:
        assert result.config == config
    else:  # a fresh nonce (and roster): the same parameters in another session
        assert result.config.encode()[:-64] == config.encode()[:-64]
    assert result.survivors == want.survivors, pattern
    assert result.responders == want.responders, pattern
    assert [int(v) for v in result.aggregate] == plain_sum(inputs, want.survivors, config.bits)
    assert result.aggregate.dtype == (np.uint32 if config.bits <= 32 else np.uint64)
    got = [(d.client, d.phase.value, d.reason) for d in result.drops]
    order = {name: i for i, name in enumerate(names)}
    assert got == sorted(want.drops, key=lambda d: (order[d[1]], d[0])), pattern
    assert result.client_aborts == want.client_aborts, pattern
    return True


BITS = st.one_of(st.sampled_from([1, 7, 31, 32, 33, 63, 64]), st.integers(1, 64))


@settings(max_examples=40)
@given(
    n=st.integers(7, 16),
    data=st.data(),
    bits=BITS,
    dim=st.integers(1, 8),
    security=st.sampled_from(["semi_honest", "malicious"]),
    sparse=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_random_mixed_dropouts(
    n: int, data: st.DataObject, bits: int, dim: int, security: str, sparse: bool, seed: int
) -> None:
    """Random patterns at larger n, both modes, both graphs, through simulate_round."""
    names = rounds(security)
    k = data.draw(st.sampled_from([2, 4])) if sparse else None
    h = n if k is None else k + 1
    t = data.draw(st.integers(1, h), label="threshold")
    pattern = data.draw(
        st.lists(
            # Weighted towards "never" so that many examples complete rather than abort.
            st.one_of(st.just(len(names)), st.integers(0, len(names))),
            min_size=n,
            max_size=n,
        ),
        label="pattern",
    )
    inputs = make_inputs(n, dim, bits, seed=seed)
    kwargs: dict[str, Any] = {
        "threshold": t,
        "bits": bits,
        "neighbors": k,
        "security": security,
        "allow_weak_threshold": True,
        "seed": seed,
        "workers": 1,
    }
    check_round(inputs, pattern, config_of(inputs, **kwargs), **kwargs)


@pytest.mark.parametrize("security", ["semi_honest", "malicious"])
@pytest.mark.parametrize("n", [3, 6])
def test_threshold_exactly_met_succeeds_one_fewer_aborts(security: str, n: int) -> None:
    """Complete graph: exactly t clients left after any round completes with exactly those;
    t - 1 left aborts BELOW_THRESHOLD in that very round."""
    bits = 20
    names = rounds(security)
    inputs = make_inputs(n, 5, bits, seed=n)
    kwargs: dict[str, Any] = {
        "bits": bits,
        "security": security,
        "allow_weak_threshold": True,
        "workers": 1,
    }
    for r, name in enumerate(names):
        for t in range(1, n + 1):
            remaining = list(range(n - t, n))
            result = simulate_round(
                inputs, threshold=t, drop={name: range(n - t)}, seed=t, **kwargs
            )
            u3 = remaining if r <= names.index("masked_input") else list(range(n))
            assert result.survivors == u3
            assert result.responders == remaining
            assert [int(v) for v in result.aggregate] == plain_sum(inputs, u3, bits)
            if t >= 2:
                with pytest.raises(ProtocolAbort) as info:
                    simulate_round(
                        inputs, threshold=t, drop={name: range(n - t + 1)}, seed=t, **kwargs
                    )
                assert info.value.reason is AbortReason.BELOW_THRESHOLD
                assert name in info.value.detail


@pytest.mark.parametrize("security", ["semi_honest", "malicious"])
def test_secaggplus_needs_t_holders_of_each_dropped_client(security: str) -> None:
    """SecAgg+ n = 8, k = 4, t = 3: client z drops after sharing, so its s_z^SK must be rebuilt
    from its holders. With exactly t of its neighbours answering the unmasking the round
    completes; with t - 1 (and every other client's t holders intact) it aborts
    INSUFFICIENT_SHARES - a neighbourhood threshold, although far more than t clients
    answered."""
    n, t, k, bits = 8, 3, 4, 32
    inputs = make_inputs(n, 4, bits, seed=5)
    kwargs: dict[str, Any] = {
        "threshold": t,
        "neighbors": k,
        "bits": bits,
        "security": security,
        "seed": 3,
        "workers": 1,
    }
    config = config_of(inputs, **kwargs)
    graph = graph_for(config)
    names = rounds(security)
    z = 0
    neighbours = graph.neighbors(z)
    outcomes = []
    for silent_holders in (k - t, k - t + 1):
        pattern = [len(names)] * n
        pattern[z] = names.index("masked_input")
        for v in neighbours[:silent_holders]:
            pattern[v] = names.index("unmasking")
        want = expect(pattern, config)
        outcomes.append(want.abort)
        check_round(inputs, pattern, config, **kwargs)
    assert outcomes == [None, ("unmasking", AbortReason.INSUFFICIENT_SHARES)]


def test_threshold_one_with_a_single_survivor_reveals_only_its_input() -> None:
    """t = 1 (refused by the policy unless the caller opts out) lets a round finish with one
    client: its input is the sum (the documented hazard)."""
    inputs = make_inputs(4, 5, 16, seed=3)
    result = simulate_round(
        inputs,
        threshold=1,
        bits=16,
        drop={"share_keys": [0, 1], "masked_input": [3]},
        allow_weak_threshold=True,
        seed=1,
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
        workers=1,
    )
    assert result.survivors == [0, 3, 4]
    assert result.responders == [0, 3, 4]
    assert [(d.client, d.phase.value) for d in result.drops] == [
        (1, "share_keys"),
        (2, "masked_input"),
    ]
    assert [int(v) for v in result.aggregate] == plain_sum(inputs, [0, 3, 4], 32)


@pytest.mark.parametrize("security", ["semi_honest", "malicious"])
def test_unseeded_round_with_dropouts_is_correct(security: str) -> None:
    """Production randomness (os.urandom, fresh signing keys) gives the same guarantees: a
    round with dropouts in two rounds completes with exactly the survivors' sum."""
    inputs = make_inputs(6, 10, 64, seed=4)
    names = rounds(security)
    pattern = [len(names)] * 6
    pattern[1] = names.index("unmasking")
    pattern[2] = names.index("masked_input")
    config = make_config(6, 4, dim=10, bits=64, security=security, weak=False)
    assert expect(pattern, config).abort is None
    for _ in range(2):
        assert check_round(inputs, pattern, config, threshold=4, bits=64, security=security)


# --------------------------------------------------------------------------- workers


WORKER_CASES = [
    ("semi_honest", None, {"share_keys": [3], "masked_input": [5], "unmasking": [0]}),
    ("malicious", None, {"share_check": [2], "consistency_check": [4], "unmasking": [7]}),
    ("semi_honest", 4, {"advertise_keys": [1], "masked_input": [6]}),
    # Two neighbours of a client silent early: it refuses its key list (fewer than t holders).
    ("malicious", 2, {"share_keys": [2, 3]}),
]


@pytest.mark.parametrize(("security", "neighbors", "drop"), WORKER_CASES)
def test_one_worker_and_two_workers_give_the_same_round(
    security: str, neighbors: int | None, drop: dict[str, list[int]]
) -> None:
    """Clients in one process or spread over two: the same aggregate, survivors, responders,
    drops and refusals, and the same bytes on the wire (seeded)."""
    n = 10
    inputs = make_inputs(n, 40, 32, seed=11)
    runs: list[tuple[Any, ...]] = []
    for workers in (1, 2):
        log: list[tuple[str, int | None, int | None, bytes]] = []

        def spy(name: str, s: int | None, r: int | None, payload: bytes) -> bytes:
            log.append((name, s, r, payload))  # noqa: B023 - called within this iteration
            return payload

        def key(item: tuple[str, int | None, int | None, bytes]) -> tuple[str, int, int]:
            return (item[0], -1 if item[1] is None else item[1], -1 if item[2] is None else item[2])

        try:
            result = simulate_round(
                inputs,
                threshold=None if neighbors != 2 else 2,
                neighbors=neighbors,
                security=security,
                drop=drop,
                workers=workers,
                seed=17,
                intercept=spy,
            )
        except ProtocolAbort as exc:
            runs.append(("abort", exc.reason, sorted(log, key=key)))
            continue
        runs.append(
            (
                result.aggregate.tolist(),
                result.survivors,
                result.responders,
                result.drops,
                result.client_aborts,
                sorted(log, key=key),
            )
        )
    assert runs[0] == runs[1]
    assert runs[0][0] != "abort"


def test_public_names_match_the_rounds() -> None:
    assert secagg.ROUNDS == (
        "advertise_keys",
        "share_keys",
        "share_check",
        "masked_input",
        "unmasking",
    )
    assert secagg.rounds("semi_honest") == secagg.ROUNDS
    assert secagg.rounds(secagg.Security.MALICIOUS) == (
        "advertise_keys",
        "share_keys",
        "share_check",
        "masked_input",
        "consistency_check",
        "unmasking",
    )
