"""The parameters shared by the legacy workflow and the Message-API strategy, with Flower's
SecAgg+ names and meanings."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

from secagg.integrations.flower import adapter

# A child of Flower's logger, so these lines show in Flower's log output.
log = logging.getLogger("flwr.secagg")


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"`{name}` must be a finite int or float, got {value!r}")
    return float(value)


@dataclass(frozen=True, slots=True)
class Settings:
    """Validated secure-aggregation settings (see :class:`SecAggWorkflow` for their meaning)."""

    num_shares: int | float
    reconstruction_threshold: int | float
    max_weight: float
    clipping_range: float
    quantization_range: int
    modulus_range: int | None
    timeout: float | None
    train_timeout: float | None

    def __post_init__(self) -> None:
        shares = self.num_shares
        if isinstance(shares, bool) or not isinstance(shares, (int, float)):
            raise TypeError("`num_shares` must be an int or a float")
        if isinstance(shares, float) and not 0 < shares <= 1:
            raise ValueError("`num_shares` as a float must be in (0, 1]")
        if isinstance(shares, int) and shares < 2:
            raise ValueError("`num_shares` as an int must be at least 2")
        rt = self.reconstruction_threshold
        if isinstance(rt, bool) or not isinstance(rt, (int, float)):
            raise TypeError("`reconstruction_threshold` must be an int or a float")
        if isinstance(rt, float) and not 0 < rt <= 1:
            raise ValueError("`reconstruction_threshold` as a float must be in (0, 1]")
        if isinstance(rt, int) and rt < 1:
            raise ValueError("`reconstruction_threshold` as an int must be at least 1")
        if _number("max_weight", self.max_weight) <= 0:
            raise ValueError("`max_weight` must be greater than 0")
        object.__setattr__(self, "max_weight", float(self.max_weight))
        for name in ("timeout", "train_timeout"):
            value = getattr(self, name)
            if value is not None and _number(name, value) <= 0:
                raise ValueError(f"`{name}` must be positive or None")
        # The quantization settings are checked by the core for one client now, and again
        # for the sampled number of clients in every round.
        adapter.quantization(1, self.clipping_range, self.quantization_range, self.modulus_range)

    def threshold(self, num_nodes: int) -> int:
        """t for ``num_nodes`` sampled nodes, as Flower's SecAgg+ resolves it.

        The core masks over the complete graph (every node is every other node's neighbour);
        a ``num_shares`` below the number of nodes asks for SecAgg+'s sparse graph, which lands
        with the core's k-regular graph. Until then the complete graph is used (it costs more
        per node) with the threshold Flower would compute.
        """
        shares = self.num_shares
        if isinstance(shares, float):
            resolved = max(min(round(shares * num_nodes), num_nodes), 1)
        else:
            resolved = min(shares, num_nodes)
        if resolved < num_nodes:
            log.info(
                "secagg: num_shares=%s asks for a sparse graph; using the complete graph", shares
            )
        rt = self.reconstruction_threshold
        t = max(2, round(rt * resolved)) if isinstance(rt, float) else rt
        if t <= num_nodes // 2:
            log.warning(
                "secagg: threshold t=%d of %d nodes: fewer than half of the nodes colluding with "
                "the server could unmask an input; prefer t > n/2",
                t,
                num_nodes,
            )
        return t

    def quantization(self, num_nodes: int) -> adapter.QuantizationConfig:
        """The float-to-ring mapping for ``num_nodes`` (raises ConfigError if it could wrap)."""
        return adapter.quantization(
            num_nodes, self.clipping_range, self.quantization_range, self.modulus_range
        )
