"""The masking graph (SPEC 7.2): the complete graph, and the SecAgg+ Harary graph H_{n,k} on a
ring ordered by the session's "graph" stream, re-derived here from the spec text."""

from __future__ import annotations

import itertools

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from hypothesis import given, settings
from hypothesis import strategies as st

from secagg.config import RoundConfig
from secagg.core.graph import HararyGraph, MaskingGraph, graph_for

SESSION = bytes(range(32))
sessions = st.binary(min_size=32, max_size=32)


def spec_ring_order(session_id: bytes, n: int) -> list[int]:
    """SPEC 7.2: r_i is element i of the stream prg_key(session_id, "graph") at b = 64 (w = 8):
    the AES-256-CTR keystream (counter from 0) under HKDF(session_id, no salt,
    "secagg/v2/prg/graph"), read as 8-byte little-endian integers; ids sorted by (r_i, i)."""
    key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"secagg/v2/prg/graph").derive(
        session_id
    )
    stream = Cipher(algorithms.AES(key), modes.CTR(bytes(16))).encryptor().update(bytes(8 * n))
    r = [int.from_bytes(stream[8 * i : 8 * i + 8], "little") for i in range(n)]
    return sorted(range(n), key=lambda i: (r[i], i))


def spec_neighbors(order: list[int], k: int, u: int) -> set[int]:
    """N(u) = order[(pos(u) + d) mod n] for d in {-k/2, ..., -1, 1, ..., k/2}."""
    n, pos = len(order), order.index(u)
    return {order[(pos + d) % n] for d in range(-k // 2, k // 2 + 1) if d}


@st.composite
def harary_cases(draw: st.DrawFn) -> tuple[int, int, bytes]:
    n = draw(st.integers(4, 60))
    k = 2 * draw(st.integers(1, (n - 2) // 2))
    return n, k, draw(sessions)


def config(n: int, k: int | None, t: int, nonce: bytes = SESSION) -> RoundConfig:
    return RoundConfig(num_clients=n, threshold=t, dim=4, bits=16, session_nonce=nonce, neighbors=k)


# --------------------------------------------------------------------------- complete graph


@pytest.mark.parametrize("n", [1, 2, 3, 7])
def test_complete_graph(n: int) -> None:
    g = MaskingGraph(n)
    assert g.complete
    for u in range(n):
        assert g.neighbors(u) == [v for v in range(n) if v != u]
        assert g.holders(u) == list(range(n))
        assert g.two_hop(u) == list(range(n))
        for v in range(n):
            assert g.are_neighbors(u, v) == (u != v)


# --------------------------------------------------------------------------- Harary graph


@given(harary_cases())
@settings(max_examples=60)
def test_harary_graph_is_the_spec_s(case: tuple[int, int, bytes]) -> None:
    n, k, session_id = case
    g = HararyGraph(n, k, session_id)
    assert not g.complete
    order = spec_ring_order(session_id, n)
    assert g.order.tolist() == order
    for u in range(n):
        assert int(g.position[u]) == order.index(u)
        expected = spec_neighbors(order, k, u)
        assert g.neighbors(u) == sorted(expected)
        assert g.holders(u) == sorted(expected | {u})


@given(harary_cases())
@settings(max_examples=60)
def test_harary_graph_laws(case: tuple[int, int, bytes]) -> None:
    """Symmetric, k-regular, no self loops, are_neighbors agrees with neighbors, and two_hop
    holds u, its neighbours and theirs."""
    n, k, session_id = case
    g = HararyGraph(n, k, session_id)
    neighbors = {u: set(g.neighbors(u)) for u in range(n)}
    for u in range(n):
        assert len(neighbors[u]) == k
        assert u not in neighbors[u]
        assert neighbors[u] <= set(range(n))
        for v in range(n):
            assert g.are_neighbors(u, v) == (v in neighbors[u])
            assert (v in neighbors[u]) == (u in neighbors[v])
        reach = {u} | neighbors[u] | set().union(*(neighbors[v] for v in neighbors[u]))
        assert set(g.two_hop(u)) == reach
        assert g.two_hop(u) == sorted(g.two_hop(u))
    assert sum(len(s) for s in neighbors.values()) == n * k  # n k / 2 edges


def test_harary_graph_at_k_equal_n_minus_2() -> None:
    """The densest SecAgg+ graph: each client misses exactly the one opposite it on the ring."""
    n = 10
    g = HararyGraph(n, n - 2, SESSION)
    order = spec_ring_order(SESSION, n)
    for u in range(n):
        opposite = order[(order.index(u) + n // 2) % n]
        assert set(range(n)) - set(g.neighbors(u)) == {u, opposite}


def test_harary_known_small_case() -> None:
    """n = 6, k = 2: a cycle along the ring order."""
    g = HararyGraph(6, 2, SESSION)
    order = spec_ring_order(SESSION, 6)
    edges = {frozenset((order[i], order[(i + 1) % 6])) for i in range(6)}
    got = {frozenset((u, v)) for u in range(6) for v in g.neighbors(u)}
    assert got == edges


def test_different_sessions_give_different_orders() -> None:
    orders = {tuple(HararyGraph(50, 4, bytes([s]) * 32).order.tolist()) for s in range(5)}
    assert len(orders) == 5
    assert all(sorted(o) == list(range(50)) for o in orders)
    # The order is a function of the session only.
    assert HararyGraph(50, 4, SESSION).order.tolist() == HararyGraph(50, 8, SESSION).order.tolist()


@pytest.mark.parametrize(("n", "k"), [(10, 3), (10, 0), (10, -2), (10, 9), (10, 10), (3, 2)])
def test_harary_refuses_bad_k(n: int, k: int) -> None:
    with pytest.raises(ValueError):
        HararyGraph(n, k, SESSION)


# --------------------------------------------------------------------------- graph_for


def test_graph_for_follows_the_config() -> None:
    cfg = config(30, 6, 4)
    g = graph_for(cfg)
    assert isinstance(g, HararyGraph) and g.k == 6 and g.num_clients == 30
    assert g.order.tolist() == spec_ring_order(cfg.session_id, 30)
    complete = graph_for(config(5, None, 3))
    assert complete.complete and complete.neighbors(2) == [0, 1, 3, 4]


def harary(cfg: RoundConfig) -> HararyGraph:
    g = graph_for(cfg)
    assert isinstance(g, HararyGraph)
    return g


def test_graph_for_is_cached_per_session() -> None:
    cfg = config(30, 6, 4)
    assert graph_for(cfg) is graph_for(config(30, 6, 4))  # equal configs, one session
    other_nonce = harary(config(30, 6, 4, nonce=bytes(32)))
    other_threshold = harary(config(30, 6, 5))
    assert other_nonce is not graph_for(cfg)
    assert other_threshold is not graph_for(cfg)  # t is in the session id too
    assert other_nonce.order.tolist() != harary(cfg).order.tolist()
    # The ring order comes from the session id, not the nonce alone.
    assert other_threshold.order.tolist() == spec_ring_order(config(30, 6, 5).session_id, 30)


def test_every_client_and_the_server_see_one_graph() -> None:
    """What the round relies on: v in N(u) iff u in N(v), for one graph per session."""
    g = graph_for(config(40, 8, 5))
    for u, v in itertools.combinations(range(40), 2):
        assert g.are_neighbors(u, v) == g.are_neighbors(v, u) == (v in g.neighbors(u))
