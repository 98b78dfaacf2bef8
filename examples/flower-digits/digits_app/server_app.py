"""ServerApp: FedAvg over the digits MLP; the fit workflow is where secure aggregation plugs in.

`aggregation` (run config) picks the fit workflow: "secagg" is this library's
`SecAggWorkflow`, "secaggplus" Flower's own `SecAggPlusWorkflow`, "plain" Flower's default
(no masking). Everything else is identical, so the three are comparable round for round.
"""

from __future__ import annotations

import json
import time
from typing import Any

import flwr.compat.common.recorddict_compat as compat
import numpy as np
from flwr.app import Context
from flwr.common import Metrics, ndarrays_to_parameters, parameters_to_ndarrays
from flwr.server import LegacyContext, ServerApp, ServerConfig
from flwr.server.strategy import FedAvg
from flwr.server.workflow import DefaultWorkflow, SecAggPlusWorkflow
from flwr.serverapp import Grid

from digits_app import task
from secagg.integrations.flower import SecAggWorkflow

app = ServerApp()


def _weighted_loss(metrics: list[tuple[int, Metrics]]) -> Metrics:
    total = sum(n for n, _ in metrics)
    return {"train_loss": sum(n * float(m["train_loss"]) for n, m in metrics) / max(total, 1)}


def make_fit_workflow(cfg: dict[str, Any]) -> Any:
    """The fit workflow for the run's `aggregation` setting (None: Flower's plain FedAvg)."""
    mode = str(cfg["aggregation"])
    threshold = float(cfg["reconstruction-threshold"])
    timeout = float(cfg["stage-timeout"]) or None
    shares = cfg.get("num-shares", 1.0)  # a float: a fraction of the nodes; an int: a count
    num_shares = shares if isinstance(shares, (int, float)) else float(shares)
    if mode == "secagg":
        security = str(cfg.get("security", "semi_honest"))
        roster = str(cfg.get("roster-path", "")) if security == "malicious" else None
        return SecAggWorkflow(
            num_shares=num_shares,
            reconstruction_threshold=threshold,
            security=security,
            roster=roster,
            timeout=timeout,
        )
    if mode == "secaggplus":
        return SecAggPlusWorkflow(
            num_shares=num_shares, reconstruction_threshold=threshold, timeout=timeout
        )
    if mode == "plain":
        return None
    raise ValueError(f"aggregation must be secagg, secaggplus or plain, not {mode!r}")


class TimedWorkflow:
    """Times each call of the fit workflow (one training round)."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.seconds: list[float] = []

    def __call__(self, grid: Grid, context: Context) -> None:
        from flwr.server.workflow.default_workflows import default_fit_workflow

        start = time.perf_counter()
        (self.inner or default_fit_workflow)(grid, context)
        self.seconds.append(time.perf_counter() - start)


def run_server(grid: Grid, context: Context) -> dict[str, Any]:
    """Run the federation; returns a summary (final weights, per-round reports)."""
    cfg = dict(context.run_config)
    n, seed = int(cfg["num-nodes"]), int(cfg["seed"])
    x_test, y_test = task.load_test(seed)
    model = task.new_model(seed, int(cfg["padding"]))

    def evaluate_fn(
        server_round: int, parameters: list[np.ndarray], config: dict[str, Any]
    ) -> tuple[float, dict[str, Any]]:
        task.set_weights(model, parameters)
        loss, accuracy = task.evaluate(model, x_test, y_test)
        return loss, {"accuracy": accuracy}

    strategy = FedAvg(
        fraction_fit=1.0,
        fraction_evaluate=0.0,
        min_fit_clients=n,
        min_available_clients=n,
        initial_parameters=ndarrays_to_parameters(task.get_weights(model)),
        evaluate_fn=evaluate_fn,
        on_fit_config_fn=lambda server_round: {"server_round": server_round},
        fit_metrics_aggregation_fn=_weighted_loss,
    )
    rounds = int(cfg["num-server-rounds"])
    legacy = LegacyContext(context, config=ServerConfig(num_rounds=rounds), strategy=strategy)
    fit = make_fit_workflow(cfg)
    timed = TimedWorkflow(fit)
    DefaultWorkflow(fit_workflow=timed)(grid, legacy)

    accuracy = dict(legacy.history.metrics_centralized.get("accuracy", []))
    reports = fit.reports if isinstance(fit, SecAggWorkflow) else []
    summary: dict[str, Any] = {"aggregation": cfg["aggregation"], "rounds": []}
    for r in range(1, rounds + 1):
        entry: dict[str, Any] = {"round": r, "accuracy": accuracy.get(r)}
        if r <= len(timed.seconds):
            entry["seconds"] = timed.seconds[r - 1]
        if r <= len(reports):
            entry["secagg"] = reports[r - 1].to_dict()
        summary["rounds"].append(entry)
    summary["weights"] = parameters_to_ndarrays(
        compat.arrayrecord_to_parameters(legacy.state.array_records["parameters"], keep_input=True)
    )
    return summary


@app.main()
def main(grid: Grid, context: Context) -> None:
    summary = run_server(grid, context)
    path = str(context.run_config.get("report-path", ""))
    if path:
        out = {k: v for k, v in summary.items() if k != "weights"}
        with open(path, "w", encoding="utf-8") as f:
            json.dump(out, f, indent=1)
