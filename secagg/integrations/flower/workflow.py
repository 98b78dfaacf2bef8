"""The ServerApp side on Flower's legacy path: :class:`SecAggWorkflow`, in place of Flower's
``SecAggPlusWorkflow`` inside ``DefaultWorkflow(fit_workflow=...)``."""

from __future__ import annotations

import logging
import os
from typing import cast

import flwr.compat.common.recorddict_compat as compat
from flwr.app import Context
from flwr.common import Code, FitRes, ndarrays_to_parameters
from flwr.server.client_proxy import ClientProxy
from flwr.server.compat.legacy_context import LegacyContext
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD, Key
from flwr.serverapp import Grid

from secagg.integrations.flower import records, vectors
from secagg.integrations.flower.adapter import Roster, Security
from secagg.integrations.flower.driver import Identities, RoundReport, run_session
from secagg.integrations.flower.settings import DEFAULT_CORRUPT, DEFAULT_DROPOUT, Settings

# A child of Flower's logger, so these lines show in Flower's log output.
log = logging.getLogger("flwr.secagg")


def settings_from(
    num_shares: int | float | None,
    reconstruction_threshold: int | float | None,
    *,
    security: str | Security,
    roster: Roster | str | os.PathLike[str] | None,
    corrupt: float,
    dropout: float,
    allow_weak_threshold: bool,
    max_weight: float,
    clipping_range: float,
    quantization_range: int,
    modulus_range: int | None,
    timeout: float | None,
    train_timeout: float | None,
) -> Settings:
    return Settings(
        num_shares,
        reconstruction_threshold,
        max_weight,
        clipping_range,
        quantization_range,
        modulus_range,
        timeout,
        train_timeout if train_timeout is not None else timeout,
        security=security,  # type: ignore[arg-type]  # a name is converted
        roster=roster,  # type: ignore[arg-type]  # a path is loaded
        corrupt=corrupt,
        dropout=dropout,
        allow_weak_threshold=allow_weak_threshold,
    )


class SecAggWorkflow:
    """Secure FedAvg for one round per call, with secagg's protocol (Bonawitz et al. 2017;
    SecAgg+ sparse graphs, Bell et al. 2020; optionally the malicious mode).

    Drop-in for Flower's ``SecAggPlusWorkflow``: ``DefaultWorkflow(fit_workflow=SecAggWorkflow(
    num_shares, reconstruction_threshold, ...))`` in the ServerApp and ``secagg_mod`` in the
    ClientApp's mods. The strategy's ``configure_fit`` picks the nodes and their instructions;
    each node trains, and only the sum of ``[w * params, w]`` over the nodes that finished is
    unmasked (``w`` = ``num_examples / max_weight``); the strategy's ``aggregate_fit`` then sees
    one result per survivor, each carrying that weighted mean, so its metrics aggregation runs
    as usual and FedAvg returns the mean.

    Parameters (Flower's names and meanings where Flower has them):
    num_shares: int, float or None (default None)
        How many nodes hold shares of each node's secrets, the node itself included (Flower's
        count); a float is a fraction of the sampled nodes, resolved as Flower does. It sets
        SecAgg+'s sparse graph: ``k = num_shares - 1`` neighbours per node, rounded up to an
        even number; a ``k`` outside ``[2, n - 2]`` means the complete graph (every node is
        every other's neighbour). None: secagg's finder picks ``k`` (and ``t``, if
        ``reconstruction_threshold`` is None too) for ``dropout`` and ``corrupt``
        (:func:`secagg.secaggplus_parameters`).
    reconstruction_threshold: int, float or None (default None)
        t, the shares needed to rebuild a secret; a float is a fraction of the holders
        (rounded, at least 2), as in Flower. None: secagg's default, the smallest t that the
        threshold policy accepts (the finder's t when it also chose the graph). A round
        completes while every surviving node keeps t holders; a t that the policy refuses
        (at most half the holders, fewer than 3 nodes, or too low for ``corrupt``) raises
        :class:`~secagg.integrations.flower.settings.WeakThresholdError` unless
        ``allow_weak_threshold=True``.
    security: "semi_honest" or "malicious" (default "semi_honest")
        The malicious mode signs every node's keys under ``roster`` and adds the
        ConsistencyCheck round, so a server that deviates cannot unmask a node. Each node
        needs its Ed25519 signing key and the same roster (``secagg-signing-key`` and
        ``secagg-roster`` in its node config; ``python -m secagg.integrations.flower.keys``
        writes them).
    roster: path, secagg.Roster or None
        The nodes' public keys (``roster.json``), malicious mode only.
    corrupt: float (default 0.05)
        The fraction of nodes assumed to collude with the server: the threshold policy and
        the finder use it.
    dropout: float (default 0.05)
        The fraction of nodes expected to drop during a round (the finder uses it).
    allow_weak_threshold: bool (default False)
        Accept a threshold the policy refuses (with a warning). Each node applies its own
        policy too, and refuses such a round unless its node config allows it.
    max_weight: float (default 1000.0)
        The example count that counts as weight 1; larger counts are capped to it.
    clipping_range: float (default 8.0)
        Each weighted parameter is clipped to [-clipping_range, clipping_range].
    quantization_range: int (default 2**22)
        [-c, c] maps onto the integers [0, quantization_range].
    modulus_range: int or None (default None)
        The ring 2**b. None picks the smallest power of two for which the sum cannot wrap;
        a value that could wrap for the sampled number of nodes is refused.
    timeout: float or None (default 60.0)
        Seconds each protocol stage waits for replies; a node that has not answered is dropped
        (TIMED_OUT) and the round goes on while t remain. None waits forever.
    train_timeout: float or None (default None, meaning ``timeout``)
        The deadline of the first stage, which includes local training.

    After each call, :attr:`reports` ends with that round's :class:`RoundReport`. An aborted
    round leaves the global model as it was; the next round starts afresh.
    """

    def __init__(
        self,
        num_shares: int | float | None = None,
        reconstruction_threshold: int | float | None = None,
        *,
        security: str | Security = "semi_honest",
        roster: Roster | str | os.PathLike[str] | None = None,
        corrupt: float = DEFAULT_CORRUPT,
        dropout: float = DEFAULT_DROPOUT,
        allow_weak_threshold: bool = False,
        max_weight: float = 1000.0,
        clipping_range: float = 8.0,
        quantization_range: int = 1 << 22,
        modulus_range: int | None = None,
        timeout: float | None = 60.0,
        train_timeout: float | None = None,
    ) -> None:
        self.settings = settings_from(
            num_shares,
            reconstruction_threshold,
            security=security,
            roster=roster,
            corrupt=corrupt,
            dropout=dropout,
            allow_weak_threshold=allow_weak_threshold,
            max_weight=max_weight,
            clipping_range=clipping_range,
            quantization_range=quantization_range,
            modulus_range=modulus_range,
            timeout=timeout,
            train_timeout=train_timeout,
        )
        roster_ = self.settings.roster
        self.identities = Identities(roster_) if roster_ is not None else None
        self.reports: list[RoundReport] = []

    def __call__(self, grid: Grid, context: Context) -> None:
        """Run one secure FedAvg round (the current round of ``context``)."""
        if not isinstance(context, LegacyContext):
            raise TypeError(f"Expect a LegacyContext, but get {type(context).__name__}.")
        current_round = cast(
            int, context.state.config_records[MAIN_CONFIGS_RECORD][Key.CURRENT_ROUND]
        )
        parameters = compat.arrayrecord_to_parameters(
            context.state.array_records[MAIN_PARAMS_RECORD], keep_input=True
        )
        instructions = context.strategy.configure_fit(
            current_round, parameters, context.client_manager
        )
        if not instructions:
            log.info("configure_fit: no clients selected, cancel")
            return
        proxies: dict[int, ClientProxy] = {proxy.node_id: proxy for proxy, _ in instructions}
        contents = {
            proxy.node_id: compat.fitins_to_recorddict(ins, True) for proxy, ins in instructions
        }
        layout = vectors.Layout.of(
            context.state.array_records[MAIN_PARAMS_RECORD].to_numpy_ndarrays()
        )
        outcome = run_session(
            grid,
            contents,
            server_round=current_round,
            settings=self.settings,
            layout=layout,
            api=records.API_LEGACY,
            weight_key="num_examples",
            identities=self.identities,
        )
        report = outcome.report
        self.reports.append(report)
        log_report(report)
        if outcome.arrays is None:
            return  # aborted or cancelled: the model stays as it was

        aggregated = ndarrays_to_parameters(outcome.arrays)
        results: list[tuple[ClientProxy, FitRes]] = []
        for node, content in sorted(outcome.first_replies.items()):
            try:
                fitres = compat.recorddict_to_fitres(content, keep_input=True)
            except (KeyError, TypeError, ValueError):
                continue  # an unreadable metrics record only costs that node's metrics
            if fitres.status.code == Code.OK:
                fitres.parameters = aggregated
                results.append((proxies[node], fitres))
        if not results:  # every survivor's metrics were unreadable: still apply the mean
            results = [(proxies[report.survivors[0]], _plain_fitres(aggregated))]
        parameters_aggregated, metrics = context.strategy.aggregate_fit(current_round, results, [])
        if parameters_aggregated is not None:
            context.state.array_records[MAIN_PARAMS_RECORD] = compat.parameters_to_arrayrecord(
                parameters_aggregated, True
            )
            context.history.add_metrics_distributed_fit(server_round=current_round, metrics=metrics)


def _plain_fitres(parameters: object) -> FitRes:
    from flwr.common import Status

    return FitRes(Status(Code.OK, ""), parameters, 1, {})  # type: ignore[arg-type]


def log_report(report: RoundReport) -> None:
    """One INFO line per round: outcome, survivors, drops with reasons, time and bytes."""
    drops = ", ".join(f"{d.node_id}:{d.phase}:{d.reason}" for d in report.drops) or "none"
    graph = "complete" if report.neighbors is None else f"k={report.neighbors}"
    log.info(
        "secagg round %d %s%s: %d of %d nodes in the aggregate (%s, %s, t=%d); drops: %s; "
        "%.2f s, %d B",
        report.server_round,
        report.status,
        f" ({report.reason}: {report.detail})" if report.reason else "",
        len(report.survivors),
        len(report.nodes),
        report.security,
        graph,
        report.threshold,
        drops,
        report.seconds,
        report.bytes_total,
    )
