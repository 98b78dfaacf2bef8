"""Who masks with whom and who holds whose shares.

SecAgg (Bonawitz et al.) uses the complete graph: every client exchanges pairwise masks and
shares with every other live client. SecAgg+ (Bell et al.) replaces it with a sparse k-regular
graph and a per-neighbourhood threshold; it slots in here as another :class:`MaskingGraph`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol


class MaskingGraph(Protocol):
    def neighbors(self, client: int, among: Iterable[int]) -> list[int]:
        """The peers of ``client`` within ``among``, sorted, never ``client`` itself."""
        ...


class CompleteGraph:
    """Every client is every other client's neighbour (SecAgg, Bonawitz et al. 2017)."""

    def neighbors(self, client: int, among: Iterable[int]) -> list[int]:
        return sorted(v for v in among if v != client)


COMPLETE = CompleteGraph()
