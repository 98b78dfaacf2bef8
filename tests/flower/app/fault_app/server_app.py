"""ServerApp: FedAvg through SecAggWorkflow (semi-honest or malicious, from the run config);
writes every round's report and model to JSON."""

from __future__ import annotations

import json
import time
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
SETTLE_LIMIT = 150.0


class ExactlyAllNodes(FedAvg):
    """FedAvg that starts each round once exactly `num_nodes` nodes are listed, then samples
    them all. The test restarts every SuperNode it kills (under a new node id), and Flower
    lists a dead node for up to a minute (two missed 30 s heartbeats): waiting for the list
    to settle keeps n, and so the threshold, the same in every round."""

    def __init__(self, num_nodes: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.num_nodes = num_nodes

    def configure_fit(self, server_round, parameters, client_manager):  # type: ignore[no-untyped-def]
        deadline = time.monotonic() + SETTLE_LIMIT
        while client_manager.num_available() != self.num_nodes:
            if time.monotonic() > deadline:
                raise RuntimeError(
                    f"{client_manager.num_available()} nodes listed, not {self.num_nodes}"
                )
            time.sleep(1.0)
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
    strategy = ExactlyAllNodes(
        n,
        fraction_fit=1.0,
        fraction_evaluate=0.0,
        min_fit_clients=n,
        min_available_clients=n,
        initial_parameters=ndarrays_to_parameters([np.zeros(s, np.float32) for s in SHAPES]),
        on_fit_config_fn=lambda server_round: {"server_round": server_round},
        fit_metrics_aggregation_fn=record_partitions,
        evaluate_fn=lambda r, params, c: models.append([p.ravel().tolist() for p in params]),
    )
    security = str(cfg["security"])
    workflow = SecAggWorkflow(
        num_shares=1.0,
        reconstruction_threshold=None,  # secagg's default: 4 of 7 nodes
        security=security,
        roster=str(cfg["roster-path"]) if security == "malicious" else None,
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
