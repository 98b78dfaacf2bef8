"""Flower's own SecAgg+ at a benchmark point, in process: the peer column of ``secagg bench``.

Flower's ``SecAggPlusWorkflow`` (server) and ``secaggplus_mod`` (nodes) run over
:class:`~secagg.integrations.flower.local_grid.LocalGrid` - Flower's serialization on every hop,
no network - with ``n`` nodes that each return one vector of ``m`` values. The nodes chosen to
drop go silent at Flower's ``collect_masked_vectors`` stage, i.e. after sharing their keys, the
same place as the bench's ``drop_round="masked_input"``. Every node's work runs inside the grid's
delivery, so it is timed there and subtracted: what is left is the server's.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import numpy as np
from flwr.app import ConfigRecord, Context, Message, RecordDict
from flwr.client import Client, NumPyClient
from flwr.client.mod import secaggplus_mod
from flwr.clientapp import ClientApp
from flwr.common import ndarrays_to_parameters
from flwr.common.secure_aggregation.secaggplus_constants import RECORD_KEY_CONFIGS, Key, Stage
from flwr.server import LegacyContext, ServerConfig
from flwr.server.compat.grid_client_proxy import GridClientProxy
from flwr.server.strategy import FedAvg
from flwr.server.workflow import SecAggPlusWorkflow
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD
from flwr.server.workflow.constant import Key as WorkflowKey

from secagg.config import as_security
from secagg.runtime.bench import Point, dropped_clients
from secagg.runtime.simulate import resolve_graph

from .local_grid import LocalGrid

PEER_POINTS: tuple[Point, ...] = (
    Point(100, 100_000, 0.3, workers=1),
    Point(100, 100_000, 0.3, graph="secagg+", neighbors=14, threshold=5, workers=1),
    Point(100, 100_000, 0.0, graph="secagg+", neighbors=14, threshold=5, workers=1),
    Point(200, 10_000, 0.1, graph="secagg+", neighbors=20, workers=1),
)
"""The issue's measured peer point (n = 100, m = 100,000, 30% dropout, Flower's num_shares = 15,
i.e. k = 14; at 30% dropout a neighbourhood keeps t holders only for a t as low as Flower lets
it be, 5, which secagg's policy refuses: it runs here for the comparison), the same without
dropout, on the complete graph, and a larger n at a smaller m."""


class _FixedClient(NumPyClient):
    def __init__(self, dim: int, value: float) -> None:
        self.dim, self.value = dim, value

    def fit(
        self, parameters: list[Any], config: dict[str, Any]
    ) -> tuple[list[Any], int, dict[str, Any]]:
        return [np.full(self.dim, self.value, dtype=np.float32)], 1, {}


def run_flower_secaggplus(point: Point) -> dict[str, Any]:
    """One round of Flower's SecAgg+ at ``point``: CPU seconds of the server, of the nodes, and
    of the server's unmasking stage, plus the bytes the grid carried."""
    n, m = point.clients, point.dim
    k, t = resolve_graph(
        n,
        point.threshold,
        point.neighbors if point.graph == "secagg+" else None,
        security=as_security(point.security),
        corrupt=0.0,
        dropout=max(point.dropout, 0.05),
    )
    num_shares = n if k is None else k + 1
    nodes = [1000 + i for i in range(n)]  # node i plays client i
    silent = {nodes[u] for u in dropped_clients(point)}
    node_seconds = {"total": 0.0, Stage.UNMASK: 0.0}

    def fault(node: int, message: Message, run: Callable[[], Message]) -> Message | None:
        config = message.content.config_records.get(RECORD_KEY_CONFIGS)
        stage = config.get(Key.STAGE) if config is not None else None
        if node in silent and stage == Stage.COLLECT_MASKED_VECTORS:
            return None
        start = time.process_time()
        reply = run()
        spent = time.process_time() - start
        node_seconds["total"] += spent
        if stage == Stage.UNMASK:
            node_seconds[Stage.UNMASK] += spent
        return reply

    def client_fn(context: Context) -> Client:
        return _FixedClient(m, float(context.node_config["partition-id"]) / n).to_client()

    app = ClientApp(client_fn=client_fn, mods=[secaggplus_mod])
    grid = LocalGrid(
        app, nodes, node_configs={v: {"partition-id": i} for i, v in enumerate(nodes)}, fault=fault
    )
    initial = [np.zeros(m, dtype=np.float32)]
    strategy = FedAvg(
        fraction_fit=1.0,
        fraction_evaluate=0.0,
        min_fit_clients=n,
        min_available_clients=n,
        initial_parameters=ndarrays_to_parameters(initial),
    )
    context = LegacyContext(
        Context(1, 0, {}, RecordDict(), {}), config=ServerConfig(num_rounds=1), strategy=strategy
    )
    for node in nodes:
        context.client_manager.register(GridClientProxy(node, grid, 1))
    from flwr.compat.common import recorddict_compat as compat

    context.state.array_records[MAIN_PARAMS_RECORD] = compat.parameters_to_arrayrecord(
        ndarrays_to_parameters(initial), keep_input=True
    )
    context.state.config_records[MAIN_CONFIGS_RECORD] = ConfigRecord(
        {WorkflowKey.CURRENT_ROUND: 1, WorkflowKey.START_TIME: 0.0}
    )
    workflow = SecAggPlusWorkflow(num_shares=num_shares, reconstruction_threshold=t, timeout=None)
    unmask_seconds = [0.0]
    original = workflow.unmask_stage

    def timed_unmask(*args: Any, **kwargs: Any) -> bool:
        start = time.process_time()
        try:
            return bool(original(*args, **kwargs))
        finally:
            unmask_seconds[0] += time.process_time() - start

    workflow.unmask_stage = timed_unmask  # type: ignore[method-assign]
    start = time.process_time()
    workflow(grid, context)
    total = time.process_time() - start
    if unmask_seconds[0] == 0.0:
        raise RuntimeError("Flower's SecAgg+ did not reach its unmasking stage (it aborted)")
    return {
        "flower_total_cpu_seconds": total,
        "flower_server_cpu_seconds": total - node_seconds["total"],
        "flower_unmasking_seconds": unmask_seconds[0] - node_seconds[Stage.UNMASK],
        "flower_bytes": grid.bytes_sent + grid.bytes_received,
        "neighbors": k,
        "threshold": t,
    }


def compare(point: Point, ours: dict[str, Any]) -> dict[str, Any]:
    """Flower's figures at ``point`` beside this library's row for the same point."""
    theirs = run_flower_secaggplus(point)
    secagg_total = ours["client_cpu_seconds_mean"] * point.clients + ours["server_cpu_seconds"]
    return {
        "clients": point.clients,
        "dim": point.dim,
        "dropout": point.dropout,
        **theirs,
        "secagg_total_cpu_seconds": secagg_total,
        "secagg_server_cpu_seconds": ours["server_cpu_seconds"],
        "secagg_unmasking_seconds": ours["server_unmasking_cpu_seconds"],
        "unmasking_ratio": theirs["flower_unmasking_seconds"]
        / max(ours["server_unmasking_cpu_seconds"], 1e-9),
        "total_ratio": theirs["flower_total_cpu_seconds"] / max(secagg_total, 1e-9),
    }
