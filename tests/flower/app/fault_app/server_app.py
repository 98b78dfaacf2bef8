"""ServerApp: FedAvg through SecAggWorkflow; writes every round's report and model to JSON."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from flwr.app import Context
from flwr.common import Metrics, ndarrays_to_parameters
from flwr.server import LegacyContext, ServerApp, ServerConfig
from flwr.server.strategy import FedAvg
from flwr.server.workflow import DefaultWorkflow
from flwr.serverapp import Grid

from fault_app.updates import SHAPES
from secagg.integrations.flower import SecAggWorkflow

app = ServerApp()


class AllNodesFirst(FedAvg):
    """FedAvg that waits for every node before round 1 (so each fault has its node), then
    samples whoever is connected (dead nodes drop out of the list as Flower notices them)."""

    def __init__(self, num_nodes: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_nodes = num_nodes

    def configure_fit(self, server_round, parameters, client_manager):  # type: ignore[no-untyped-def]
        if server_round == 1:
            client_manager.wait_for(self.num_nodes, timeout=120)
        return super().configure_fit(server_round, parameters, client_manager)


@app.main()
def main(grid: Grid, context: Context) -> None:
    cfg = context.run_config
    n, rounds = int(cfg["num-nodes"]), int(cfg["num-server-rounds"])
    survivors: list[list[int]] = []  # partition ids of each completed round, in order

    def record_partitions(metrics: list[tuple[int, Metrics]]) -> Metrics:
        survivors.append(sorted(int(m["pid"]) for _, m in metrics))
        return {}

    models: list[list[list[float]]] = []
    strategy = AllNodesFirst(
        n,
        fraction_fit=1.0,
        fraction_evaluate=0.0,
        min_fit_clients=2,
        min_available_clients=2,
        initial_parameters=ndarrays_to_parameters([np.zeros(s, np.float32) for s in SHAPES]),
        on_fit_config_fn=lambda server_round: {"server_round": server_round},
        fit_metrics_aggregation_fn=record_partitions,
        evaluate_fn=lambda r, params, c: models.append([p.ravel().tolist() for p in params]),
    )
    workflow = SecAggWorkflow(
        num_shares=1.0,
        reconstruction_threshold=int(cfg["threshold"]),
        max_weight=1.0,
        timeout=float(cfg["stage-timeout"]),
        train_timeout=float(cfg["train-timeout"]),
    )
    legacy = LegacyContext(context, config=ServerConfig(num_rounds=rounds), strategy=strategy)
    DefaultWorkflow(fit_workflow=workflow)(grid, legacy)

    out: list[dict[str, Any]] = []
    completed = iter(survivors)
    for report, model in zip(workflow.reports, models[1:], strict=False):
        entry = report.to_dict()
        entry["partitions"] = next(completed) if report.status == "completed" else []
        entry["model"] = model
        out.append(entry)
    with open(str(cfg["report-path"]), "w", encoding="utf-8") as f:
        json.dump(out, f)
