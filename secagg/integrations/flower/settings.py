"""The parameters shared by the legacy workflow and the Message-API strategy, with Flower's
SecAgg+ names and meanings, and how they become one round's :class:`RoundConfig`."""

from __future__ import annotations

import logging
import math
import os
from dataclasses import dataclass

from secagg.integrations.flower import adapter

# A child of Flower's logger, so these lines show in Flower's log output.
log = logging.getLogger("flwr.secagg")

DEFAULT_DROPOUT = 0.05
DEFAULT_CORRUPT = 0.05


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"`{name}` must be a finite int or float, got {value!r}")
    return float(value)


def _fraction(name: str, value: object, upper: float) -> float:
    out = _number(name, value)
    if not 0.0 <= out < upper:
        raise ValueError(f"`{name}` must be in [0, {upper:g}), got {value!r}")
    return out


class WeakThresholdError(adapter.ConfigError):
    """The resolved threshold is one the core's policy refuses, and the user did not opt out
    (``allow_weak_threshold=True``)."""


@dataclass(frozen=True, slots=True)
class Plan:
    """One round's graph and threshold."""

    neighbors: int | None
    threshold: int

    @property
    def graph(self) -> str:
        return "complete" if self.neighbors is None else f"k={self.neighbors}"


@dataclass(frozen=True, slots=True)
class Settings:
    """Validated secure-aggregation settings (see :class:`SecAggWorkflow` for their meaning)."""

    num_shares: int | float | None
    reconstruction_threshold: int | float | None
    max_weight: float
    clipping_range: float
    quantization_range: int
    modulus_range: int | None
    timeout: float | None
    train_timeout: float | None
    security: adapter.Security = adapter.Security.SEMI_HONEST
    roster: adapter.Roster | None = None
    corrupt: float = DEFAULT_CORRUPT
    dropout: float = DEFAULT_DROPOUT
    allow_weak_threshold: bool = False

    def __post_init__(self) -> None:
        shares = self.num_shares
        if shares is not None:
            if isinstance(shares, bool) or not isinstance(shares, (int, float)):
                raise TypeError("`num_shares` must be an int, a float or None")
            if shares == 1 and isinstance(shares, int):
                object.__setattr__(self, "num_shares", 1.0)  # Flower: 1 means every node
            elif isinstance(shares, float) and not 0 < shares <= 1:
                raise ValueError("`num_shares` as a float must be in (0, 1]")
            elif isinstance(shares, int) and shares <= 2:
                raise ValueError("`num_shares` as an int must be 1 (every node) or at least 3")
        rt = self.reconstruction_threshold
        if rt is not None:
            if isinstance(rt, bool) or not isinstance(rt, (int, float)):
                raise TypeError("`reconstruction_threshold` must be an int, a float or None")
            if isinstance(rt, float) and not 0 < rt <= 1:
                raise ValueError("`reconstruction_threshold` as a float must be in (0, 1]")
            if isinstance(rt, int) and rt < 1:
                raise ValueError("`reconstruction_threshold` as an int must be at least 1")
            if isinstance(rt, int) and isinstance(self.num_shares, int) and rt > self.num_shares:
                raise ValueError("`reconstruction_threshold` cannot exceed `num_shares`")
        if _number("max_weight", self.max_weight) <= 0:
            raise ValueError("`max_weight` must be greater than 0")
        object.__setattr__(self, "max_weight", float(self.max_weight))
        for name in ("timeout", "train_timeout"):
            value = getattr(self, name)
            if value is not None and _number(name, value) <= 0:
                raise ValueError(f"`{name}` must be positive or None")
        object.__setattr__(self, "security", adapter.as_security(self.security))
        object.__setattr__(self, "corrupt", _fraction("corrupt", self.corrupt, 0.5))
        object.__setattr__(self, "dropout", _fraction("dropout", self.dropout, 1.0))
        if not isinstance(self.allow_weak_threshold, bool):
            raise TypeError("`allow_weak_threshold` must be a bool")
        roster = self.roster
        if self.security is adapter.Security.MALICIOUS:
            if isinstance(roster, (str, os.PathLike)):
                roster = adapter.Roster.load(roster)
            if not isinstance(roster, adapter.Roster):
                raise ValueError(
                    "security='malicious' needs `roster`: the nodes' Ed25519 public keys (a "
                    "roster JSON file or a secagg.Roster; see secagg.integrations.flower.keys)"
                )
            object.__setattr__(self, "roster", roster)
        elif roster is not None:
            raise ValueError("`roster` is only used with security='malicious'")
        # The quantization settings are checked by the core for one client now, and again
        # for the sampled number of clients in every round.
        adapter.quantization(1, self.clipping_range, self.quantization_range, self.modulus_range)

    @property
    def malicious(self) -> bool:
        return self.security is adapter.Security.MALICIOUS

    def holders(self, num_nodes: int) -> int | None:
        """How many nodes hold shares of each node's secrets (Flower's resolved
        ``num_shares``, the node itself included); None: left to the finder."""
        shares = self.num_shares
        if shares is None:
            return None
        if isinstance(shares, float):
            # Flower's SecAgg+ resolution of a fraction.
            resolved = round(shares * num_nodes)
            if resolved < num_nodes and resolved % 2 == 0:
                resolved += 1
            return num_nodes if resolved <= 2 else resolved
        return shares

    def plan(self, num_nodes: int) -> Plan:
        """The graph and threshold for ``num_nodes`` sampled nodes.

        Graph: ``num_shares`` holders (Flower's count, the node itself included) means
        ``k = num_shares - 1`` neighbours, rounded up to an even number; a ``k`` in
        ``[2, n - 2]`` is SecAgg+'s sparse graph, anything else the complete graph.
        ``num_shares=None`` takes ``k`` from secagg's finder
        (:func:`secagg.secaggplus_parameters` with ``dropout``, ``corrupt`` and the mode).

        Threshold: an int is ``t``; a float a fraction of the holders, rounded and at least 2,
        as Flower computes it; None is secagg's default: the finder's ``t`` when it chose the
        graph, else the smallest ``t`` the threshold policy accepts for the graph.
        """
        n = num_nodes
        holders = self.holders(n)
        found: tuple[int | None, int] | None = None
        if holders is None:
            found = adapter.find_parameters(
                n, dropout=self.dropout, corrupt=self.corrupt, security=self.security
            )
            neighbors = found[0]
        else:
            k = holders - 1
            k += k % 2
            neighbors = k if 2 <= k <= n - 2 else None
        h = n if neighbors is None else neighbors + 1
        rt = self.reconstruction_threshold
        if rt is None:
            if found is not None:
                threshold = found[1]
            else:
                threshold = adapter.default_threshold(
                    n, neighbors, corrupt=self.corrupt, security=self.security
                )
        elif isinstance(rt, float):
            threshold = max(round(rt * h), 2)
        else:
            threshold = rt
        return Plan(neighbors, threshold)

    def check_plan(self, num_nodes: int, plan: Plan) -> None:
        """Raise :class:`WeakThresholdError` when the policy refuses ``plan`` and the user did
        not opt out; with the opt-out, log a warning instead."""
        problem = adapter.threshold_problem(
            num_nodes,
            plan.threshold,
            neighbors=plan.neighbors,
            corrupt=self.corrupt,
            security=self.security,
        )
        if problem is None:
            return
        if self.allow_weak_threshold:
            log.warning("secagg: weak threshold accepted (allow_weak_threshold=True): %s", problem)
            return
        raise WeakThresholdError(
            f"secagg refuses the threshold for {num_nodes} nodes ({plan.graph}, "
            f"t={plan.threshold}): {problem}. Leave reconstruction_threshold=None for secagg's "
            f"default, or pass allow_weak_threshold=True to accept it for experiments."
        )

    def quantization(self, num_nodes: int) -> adapter.QuantizationConfig:
        """The float-to-ring mapping for ``num_nodes`` (raises ConfigError if it could wrap)."""
        return adapter.quantization(
            num_nodes, self.clipping_range, self.quantization_range, self.modulus_range
        )
