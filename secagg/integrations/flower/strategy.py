"""The ServerApp side on Flower's Message API: :class:`SecAggFedAvg`, a
``flwr.serverapp.strategy.FedAvg`` whose training aggregation runs a secagg session.

Flower's Message-API strategies drive a round as ``configure_train`` -> ``grid.send_and_receive``
-> ``aggregate_train`` inside ``Strategy.start``, and have no secure-aggregation hook. This
strategy keeps FedAvg's own sampling, configuration, evaluation and ``start`` loop, and hands
``start`` a grid whose ``send_and_receive`` runs the training messages through a secagg session
instead of collecting plain replies; every other message (evaluation, queries) goes to the real
grid untouched. ``aggregate_train`` then returns the unmasked mean directly and aggregates the
nodes' training metrics as FedAvg does. Pair it with ``ClientApp(mods=[secagg_mod])`` and a
``@app.train()`` function that returns one ``ArrayRecord`` and one ``MetricRecord`` (with the
``weighted_by_key`` count, ``"num-examples"`` by default), as FedAvg expects.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable

from flwr.app import ArrayRecord, ConfigRecord, Message, MetricRecord, RecordDict
from flwr.app.message_type import MessageType
from flwr.serverapp import Grid
from flwr.serverapp.strategy import FedAvg, Result
from flwr.supercore.run import Run

from secagg.integrations.flower import records, vectors
from secagg.integrations.flower.adapter import Roster, Security
from secagg.integrations.flower.driver import Identities, RoundReport, SessionOutcome, run_session
from secagg.integrations.flower.settings import DEFAULT_CORRUPT, DEFAULT_DROPOUT
from secagg.integrations.flower.workflow import log_report, settings_from

log = logging.getLogger("flwr.secagg")

MetricsAggregation = Callable[[list[RecordDict], str], MetricRecord]


class SecAggFedAvg(FedAvg):
    """FedAvg on Flower's Message API with secure aggregation of the trained arrays.

    ``strategy = SecAggFedAvg(num_shares=..., reconstruction_threshold=..., fraction_train=...)``
    then ``strategy.start(grid=grid, initial_arrays=..., num_rounds=...)`` as with
    ``flwr.serverapp.strategy.FedAvg``. The secure-aggregation parameters are those of
    :class:`~secagg.integrations.flower.SecAggWorkflow` (``num_shares``,
    ``reconstruction_threshold``, ``security``, ``roster``, ``corrupt``, ``dropout``,
    ``allow_weak_threshold``, ``max_weight``, ``clipping_range``, ``quantization_range``,
    ``modulus_range``, ``timeout``, ``train_timeout``); the rest are FedAvg's.

    Each training round's arrays are the survivors' weighted mean (weights: the
    ``weighted_by_key`` metric, capped at ``max_weight``); an aborted or cancelled round leaves
    the arrays as they were. ``reports`` holds one :class:`RoundReport` per round.
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
        fraction_train: float = 1.0,
        fraction_evaluate: float = 1.0,
        min_train_nodes: int = 2,
        min_evaluate_nodes: int = 2,
        min_available_nodes: int = 2,
        weighted_by_key: str = "num-examples",
        arrayrecord_key: str = "arrays",
        configrecord_key: str = "config",
        train_metrics_aggr_fn: MetricsAggregation | None = None,
        evaluate_metrics_aggr_fn: MetricsAggregation | None = None,
    ) -> None:
        super().__init__(
            fraction_train=fraction_train,
            fraction_evaluate=fraction_evaluate,
            min_train_nodes=min_train_nodes,
            min_evaluate_nodes=min_evaluate_nodes,
            min_available_nodes=min_available_nodes,
            weighted_by_key=weighted_by_key,
            arrayrecord_key=arrayrecord_key,
            configrecord_key=configrecord_key,
            train_metrics_aggr_fn=train_metrics_aggr_fn,
            evaluate_metrics_aggr_fn=evaluate_metrics_aggr_fn,
        )
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
        self._outcomes: dict[int, SessionOutcome] = {}

    def summary(self) -> None:
        super().summary()
        s = self.settings
        log.info(
            "\t└──> secagg: %s, num_shares=%s, reconstruction_threshold=%s",
            s.security.value,
            s.num_shares,
            s.reconstruction_threshold,
        )

    def start(
        self,
        grid: Grid,
        initial_arrays: ArrayRecord,
        num_rounds: int = 3,
        timeout: float = 3600,
        train_config: ConfigRecord | None = None,
        evaluate_config: ConfigRecord | None = None,
        evaluate_fn: Callable[[int, ArrayRecord], MetricRecord | None] | None = None,
    ) -> Result:
        """FedAvg's ``start``, with the training replies produced by secagg sessions."""
        return super().start(
            _SecureTrainGrid(grid, self),
            initial_arrays,
            num_rounds=num_rounds,
            timeout=timeout,
            train_config=train_config,
            evaluate_config=evaluate_config,
            evaluate_fn=evaluate_fn,
        )

    def secure_train(self, grid: Grid, messages: list[Message]) -> list[Message]:
        """Run one secagg session over the training ``messages``; one reply per survivor,
        carrying the unmasked mean (the same for all) and the node's own metrics."""
        instructions = {m.metadata.dst_node_id: m.content for m in messages}
        if len(instructions) != len(messages):
            raise ValueError("one training message per node")
        first = messages[0].content
        server_round = _server_round(first, self.configrecord_key)
        layout = vectors.Layout.of(first.array_records[self.arrayrecord_key].to_numpy_ndarrays())
        outcome = run_session(
            grid,
            instructions,
            server_round=server_round,
            settings=self.settings,
            layout=layout,
            api=records.API_MESSAGE,
            weight_key=self.weighted_by_key,
            identities=self.identities,
        )
        self.reports.append(outcome.report)
        log_report(outcome.report)
        self._outcomes[server_round] = outcome
        if outcome.arrays is None:
            return []
        by_node = {m.metadata.dst_node_id: m for m in messages}
        replies = []
        for node, content in sorted(outcome.first_replies.items()):
            reply = RecordDict()
            reply[self.arrayrecord_key] = ArrayRecord(list(outcome.arrays))
            for key, record in content.metric_records.items():
                reply[key] = record
            replies.append(Message(reply, reply_to=by_node[node]))
        return replies

    def aggregate_train(
        self, server_round: int, replies: Iterable[Message]
    ) -> tuple[ArrayRecord | None, MetricRecord | None]:
        """The unmasked mean of this round's session, and FedAvg's metric aggregation over the
        survivors' metrics. Never aggregates arrays in the clear: without a completed session
        for ``server_round`` the arrays stay as they were."""
        outcome = self._outcomes.pop(server_round, None)
        if outcome is None or outcome.arrays is None:
            return None, None
        contents = []
        for reply in replies:
            metrics = list(reply.content.metric_records.values())
            if len(metrics) == 1 and self.weighted_by_key in metrics[0]:
                contents.append(RecordDict({"metrics": metrics[0]}))
        aggregated = (
            self.train_metrics_aggr_fn(contents, self.weighted_by_key) if contents else None
        )
        return ArrayRecord(list(outcome.arrays)), aggregated


def _server_round(content: RecordDict, configrecord_key: str) -> int:
    config = content.config_records.get(configrecord_key)
    value = config.get("server-round") if config is not None else None
    if not isinstance(value, int) or isinstance(value, bool):
        raise ValueError("training messages must carry the server round (FedAvg sets it)")
    return value


class _SecureTrainGrid(Grid):
    """The grid FedAvg's ``start`` talks to: training goes through secagg, the rest through
    the real grid."""

    def __init__(self, grid: Grid, strategy: SecAggFedAvg) -> None:
        self._grid = grid
        self._strategy = strategy

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        batch = list(messages)
        if batch and all(m.metadata.message_type == MessageType.TRAIN for m in batch):
            return self._strategy.secure_train(self._grid, batch)
        if any(m.metadata.message_type == MessageType.TRAIN for m in batch):
            raise ValueError("training messages cannot be mixed with others")
        return self._grid.send_and_receive(batch, timeout=timeout)

    def set_run(self, run: Run) -> None:
        self._grid.set_run(run)

    @property
    def run(self) -> Run:
        return self._grid.run

    def create_message(
        self,
        content: RecordDict,
        message_type: str,
        dst_node_id: int,
        group_id: str,
        ttl: float | None = None,
    ) -> Message:
        return self._grid.create_message(content, message_type, dst_node_id, group_id, ttl)

    def get_node_ids(self) -> Iterable[int]:
        return self._grid.get_node_ids()

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        return self._grid.push_messages(messages)

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        return self._grid.pull_messages(message_ids)
