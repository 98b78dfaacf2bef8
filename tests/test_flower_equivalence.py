"""FedAvg with secagg's workflow, with Flower's own SecAgg+ and with no masking reach the same
model (within quantization error) on the same seeds and the same data.

The client trains a softmax regression with numpy (deterministic for a node and a round), so
the three runs differ only in how the server aggregates.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from flower_support import legacy_context, run_round
from flwr.app import Context
from flwr.client import Client, NumPyClient
from flwr.client.mod import secaggplus_mod
from flwr.clientapp import ClientApp
from flwr.server.workflow import SecAggPlusWorkflow
from flwr.server.workflow.default_workflows import default_fit_workflow

from secagg.integrations.flower import SecAggWorkflow, secagg_mod
from secagg.integrations.flower.local_grid import LocalGrid

NODES = (11, 12, 13, 14)
FEATURES, CLASSES, ROUNDS = 8, 3, 3
Arrays = list[np.ndarray]


def node_data(partition: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(1000 + partition)
    n = 40 + 15 * partition  # unequal sizes: FedAvg's weights matter
    x = rng.normal(size=(n, FEATURES))
    y = (x[:, 0] + 0.5 * x[:, 1] > 0).astype(int) + (x[:, 2] > 1).astype(int)
    return x, y


def sgd(weights: Arrays, x: np.ndarray, y: np.ndarray, seed: int) -> Arrays:
    w, b = weights[0].astype(np.float64), weights[1].astype(np.float64)
    rng = np.random.default_rng(seed)
    for idx in np.array_split(rng.permutation(len(y)), 4):
        logits = x[idx] @ w + b
        p = np.exp(logits - logits.max(1, keepdims=True))
        p /= p.sum(1, keepdims=True)
        p[np.arange(len(idx)), y[idx]] -= 1
        w -= 0.5 * x[idx].T @ p / len(idx)
        b -= 0.5 * p.mean(0)
    return [w.astype(np.float32), b.astype(np.float32)]


class RegressionClient(NumPyClient):
    def __init__(self, partition: int) -> None:
        self.partition = partition
        self.x, self.y = node_data(partition)

    def fit(self, parameters: Arrays, config: dict[str, Any]) -> tuple[Arrays, int, dict[str, Any]]:
        seed = 7 * self.partition + int(config["server_round"])
        return sgd(parameters, self.x, self.y, seed), len(self.y), {}


def train(mode: str) -> Arrays:

    def client_fn(context: Context) -> Client:
        return RegressionClient(int(context.node_config["partition-id"])).to_client()

    if mode.startswith("secagg-") or mode == "secagg":
        app = ClientApp(client_fn=client_fn, mods=[secagg_mod])
    elif mode.startswith("secaggplus"):
        app = ClientApp(client_fn=client_fn, mods=[secaggplus_mod])
    else:
        app = ClientApp(client_fn=client_fn)
    grid = LocalGrid(app, NODES, node_configs={n: {"partition-id": i} for i, n in enumerate(NODES)})
    initial = [np.zeros((FEATURES, CLASSES), np.float32), np.zeros(CLASSES, np.float32)]
    context = legacy_context(grid, initial)
    # max_weight 100 >= every node's example count; the same quantization for both protocols.
    workflow: Any = {
        "secagg": SecAggWorkflow(num_shares=1.0, reconstruction_threshold=3, max_weight=100.0),
        "secaggplus": SecAggPlusWorkflow(
            num_shares=1.0, reconstruction_threshold=3, max_weight=100.0
        ),
        # Sparse graphs: 3 shares per node, each node with 2 neighbours (of 4 nodes).
        "secagg-sparse": SecAggWorkflow(num_shares=3, reconstruction_threshold=2, max_weight=100.0),
        "secaggplus-sparse": SecAggPlusWorkflow(
            num_shares=3, reconstruction_threshold=2, max_weight=100.0
        ),
        "plain": default_fit_workflow,
    }[mode]
    model = initial
    for server_round in range(1, ROUNDS + 1):
        model = run_round(workflow, grid, context, server_round)
    if isinstance(workflow, SecAggWorkflow):  # the graph asked for is the graph used
        assert {r.neighbors for r in workflow.reports} == {2 if "sparse" in mode else None}
        assert all(r.status == "completed" for r in workflow.reports)
    return model


@pytest.mark.parametrize("graph", ["complete", "sparse"])
def test_secagg_secaggplus_and_plain_fedavg_reach_the_same_model(graph: str) -> None:
    suffix = "" if graph == "complete" else "-sparse"
    plain = train("plain")
    ours, flowers = train("secagg" + suffix), train("secaggplus" + suffix)
    assert any(np.abs(a).max() > 0.1 for a in plain)  # the model did train
    # Per value and round the aggregate is off by at most n quantization steps of the weighted
    # update (2c / L = 3.8e-6 each), divided by the summed weight; three rounds of training
    # carry that forward. 2e-4 is far above it and far below any training step.
    for p, o, f in zip(plain, ours, flowers, strict=True):
        np.testing.assert_allclose(o, p, atol=2e-4)
        np.testing.assert_allclose(f, p, atol=2e-4)
