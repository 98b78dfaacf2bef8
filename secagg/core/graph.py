"""Who masks with whom and who holds whose shares.

SecAgg (Bonawitz et al.) uses the complete graph: every client exchanges pairwise masks and
shares with every other client. SecAgg+ (Bell et al., CCS 2020) replaces it with a sparse
``k``-regular graph: here the Harary graph H_{n,k}, the ``n`` clients on a ring with each one
joined to the ``k/2`` nearest on either side, in a ring order that every party derives from
the session (protocol/SPEC.md section 7.2):

    r = PRG(prg_key(session_id, "graph"))[0 : n] as uint64 (b = 64)
    ring order = the ids sorted by (r[id], id)

Client ``u``'s *holders* are ``u`` itself and its neighbours: the clients its Shamir shares go
to, ``t`` of which rebuild its secrets. The graph is over all ``n`` invited ids; which of them
take part is decided round by round (the sets U1..U4).
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import numpy.typing as npt

from secagg.config import RoundConfig
from secagg.crypto import prg


class MaskingGraph:
    """The complete graph on ``n`` clients; :class:`HararyGraph` overrides the neighbourhoods."""

    complete = True

    def __init__(self, num_clients: int) -> None:
        self.num_clients = num_clients

    def neighbors(self, u: int) -> list[int]:
        """The neighbours of ``u`` among all ``n`` ids, sorted; never ``u`` itself."""
        return [v for v in range(self.num_clients) if v != u]

    def holders(self, u: int) -> list[int]:
        """``u`` and its neighbours, sorted: who holds shares of ``u``'s secrets."""
        return list(range(self.num_clients))

    def are_neighbors(self, u: int, v: int) -> bool:
        return u != v

    def two_hop(self, u: int) -> list[int]:
        """Every client within two hops of ``u`` (``u`` included), sorted."""
        return self.holders(u)


class HararyGraph(MaskingGraph):
    """H_{n,k} over a ring order drawn from the session: ``k`` even, ``2 <= k <= n - 2``."""

    complete = False

    def __init__(self, num_clients: int, k: int, session_id: bytes) -> None:
        super().__init__(num_clients)
        if k % 2 or not 2 <= k <= num_clients - 2:
            raise ValueError("k must be even and in [2, n - 2]")
        self.k = k
        draws = prg.expand(prg.prg_key(session_id, prg.LABEL_GRAPH), num_clients, 64)
        ids = np.arange(num_clients, dtype=np.int64)
        self.order: npt.NDArray[np.int64] = np.lexsort((ids, draws)).astype(np.int64)
        self.position: npt.NDArray[np.int64] = np.empty(num_clients, dtype=np.int64)
        self.position[self.order] = ids
        half = k // 2
        self._offsets = np.concatenate([np.arange(-half, 0), np.arange(1, half + 1)])
        self._two_hop = np.arange(-k, k + 1)

    def _around(self, u: int, offsets: npt.NDArray[np.int64]) -> list[int]:
        at = (self.position[u] + offsets) % self.num_clients
        return sorted(set(self.order[at].tolist()))

    def neighbors(self, u: int) -> list[int]:
        return self._around(u, self._offsets)

    def holders(self, u: int) -> list[int]:
        return sorted([u, *self.neighbors(u)])

    def are_neighbors(self, u: int, v: int) -> bool:
        d = int(self.position[u] - self.position[v]) % self.num_clients
        return u != v and min(d, self.num_clients - d) <= self.k // 2

    def two_hop(self, u: int) -> list[int]:
        return self._around(u, self._two_hop)


@lru_cache(maxsize=64)
def _graph(num_clients: int, neighbors: int | None, session_id: bytes) -> MaskingGraph:
    if neighbors is None:
        return MaskingGraph(num_clients)
    return HararyGraph(num_clients, neighbors, session_id)


def graph_for(config: RoundConfig) -> MaskingGraph:
    """The round's graph (cached per session: every client and the server of a simulated round
    share one)."""
    return _graph(config.num_clients, config.neighbors, config.session_id)
