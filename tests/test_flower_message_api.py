"""SecAggFedAvg: Flower's Message-API FedAvg (flwr.serverapp.strategy) with secagg sessions for
training, over LocalGrid, with a Message-API ClientApp (@app.train / @app.evaluate)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from flower_support import malicious_nodes, step_of
from flwr.app import ArrayRecord, ConfigRecord, Context, Message, MetricRecord, RecordDict
from flwr.clientapp import ClientApp

from secagg.integrations.flower import SecAggFedAvg, secagg_mod
from secagg.integrations.flower.local_grid import LocalGrid

NODES = (501, 502, 503, 504, 505)
SHAPES = ((2, 3), (3,))


def update_of(partition: int, server_round: int) -> list[np.ndarray]:
    """On the 1/4 grid (exact under the default quantization), as in test_flower."""
    base = (partition + 1) * 0.25 + server_round * 0.5
    return [np.full(s, base + 0.25 * k, np.float32) for k, s in enumerate(SHAPES)]


def mean_of(partitions: list[int], server_round: int) -> list[np.ndarray]:
    updates = [update_of(p, server_round) for p in partitions]
    return [
        np.mean([u[k].astype(np.float64) for u in updates], axis=0).astype(np.float32)
        for k in range(len(SHAPES))
    ]


def client_app() -> ClientApp:
    app = ClientApp(mods=[secagg_mod])

    @app.train()
    def train(msg: Message, context: Context) -> Message:
        partition = int(context.node_config["partition-id"])
        server_round = msg.content.config_records["config"]["server-round"]
        assert isinstance(server_round, int)
        content = RecordDict(
            {
                "arrays": ArrayRecord(update_of(partition, server_round)),
                "metrics": MetricRecord({"num-examples": 1, "loss": float(partition)}),
            }
        )
        return Message(content, reply_to=msg)

    @app.evaluate()
    def evaluate(msg: Message, context: Context) -> Message:
        partition = int(context.node_config["partition-id"])
        content = RecordDict({"metrics": MetricRecord({"num-examples": 1, "acc": partition})})
        return Message(content, reply_to=msg)

    return app


def grid_for(fault=None, node_config=None) -> LocalGrid:  # type: ignore[no-untyped-def]
    configs = {}
    for i, node in enumerate(NODES):
        configs[node] = {"partition-id": i, **(node_config(i) if node_config else {})}
    return LocalGrid(client_app(), NODES, node_configs=configs, fault=fault)


def initial() -> ArrayRecord:
    return ArrayRecord([np.zeros(s, np.float32) for s in SHAPES])


def strategy(**kwargs: object) -> SecAggFedAvg:
    options: dict[str, object] = {
        "num_shares": 1.0,
        "reconstruction_threshold": 3,
        "max_weight": 1.0,
        "timeout": 0.3,
        "min_available_nodes": len(NODES),
    }
    options.update(kwargs)
    return SecAggFedAvg(**options)  # type: ignore[arg-type]


def test_secagg_fedavg_gives_the_exact_mean_and_fedavgs_metrics() -> None:
    grid = grid_for()
    s = strategy()
    result = s.start(grid=grid, initial_arrays=initial(), num_rounds=2)
    for got, want in zip(
        result.arrays.to_numpy_ndarrays(), mean_of(list(range(5)), 2), strict=True
    ):
        np.testing.assert_array_equal(got, want)
    assert [r.status for r in s.reports] == ["completed", "completed"]
    assert all(r.survivors == NODES for r in s.reports)
    # FedAvg's weighted metric aggregation still runs on the nodes' metrics: mean of 0..4.
    assert result.train_metrics_clientapp[2]["loss"] == pytest.approx(2.0)
    # Evaluation is not secure aggregation: it goes to the nodes as plain messages.
    assert result.evaluate_metrics_clientapp[2]["acc"] == pytest.approx(2.0)


@pytest.mark.parametrize("step", [1, 4])  # before (share_keys) and after the masked input
def test_a_node_lost_mid_session_leaves_the_mean_of_the_others(step: int) -> None:
    victim = NODES[2]

    def fault(node, message, run):  # type: ignore[no-untyped-def]
        s = step_of(message)
        if node == victim and message.metadata.group_id == "1" and s is not None and s >= step:
            return None
        return run()

    grid = grid_for(fault)
    s = strategy(fraction_evaluate=0.0)
    result = s.start(grid=grid, initial_arrays=initial(), num_rounds=1)
    report = s.reports[-1]
    assert report.status == "completed"
    [drop] = report.drops
    assert (drop.node_id, drop.reason) == (victim, "TIMED_OUT")
    survivors = [0, 1, 3, 4] if step <= 3 else [0, 1, 2, 3, 4]
    for got, want in zip(result.arrays.to_numpy_ndarrays(), mean_of(survivors, 1), strict=True):
        np.testing.assert_array_equal(got, want)


def test_an_aborted_round_keeps_the_arrays_and_the_next_round_works() -> None:
    def fault(node, message, run):  # type: ignore[no-untyped-def]
        s = step_of(message)
        lost = node in NODES[:3] and message.metadata.group_id == "1"
        return None if lost and s is not None and s >= 2 else run()

    grid = grid_for(fault)
    s = strategy(fraction_evaluate=0.0)
    result = s.start(grid=grid, initial_arrays=initial(), num_rounds=2)
    assert [(r.status, r.reason) for r in s.reports] == [
        ("aborted", "BELOW_THRESHOLD"),
        ("completed", ""),
    ]
    assert 1 not in result.train_metrics_clientapp  # nothing aggregated in round 1
    for got, want in zip(
        result.arrays.to_numpy_ndarrays(), mean_of(list(range(5)), 2), strict=True
    ):
        np.testing.assert_array_equal(got, want)


def test_secagg_fedavg_in_the_malicious_mode_on_a_sparse_graph(tmp_path: Path) -> None:
    grid = grid_for(node_config=malicious_nodes(tmp_path))
    s = strategy(
        num_shares=3,
        reconstruction_threshold=None,
        security="malicious",
        roster=tmp_path / "roster.json",
        fraction_evaluate=0.0,
    )
    result = s.start(grid=grid, initial_arrays=initial(), num_rounds=1)
    report = s.reports[-1]
    assert (report.status, report.security, report.neighbors) == ("completed", "malicious", 2)
    assert [st.phase for st in report.stages][-2:] == ["consistency_check", "unmasking"]
    for got, want in zip(
        result.arrays.to_numpy_ndarrays(), mean_of(list(range(5)), 1), strict=True
    ):
        np.testing.assert_array_equal(got, want)


def test_training_replies_never_carry_the_nodes_arrays() -> None:
    seen: list[RecordDict] = []

    def fault(node, message, run):  # type: ignore[no-untyped-def]
        reply = run()
        if message.metadata.message_type == "train":
            seen.append(reply.content)
        return reply

    grid = grid_for(fault)
    strategy(fraction_evaluate=0.0).start(grid=grid, initial_arrays=initial(), num_rounds=1)
    assert seen
    for content in seen:
        for record in content.array_records.values():
            assert set(record.keys()) <= {"bytes"}  # the secagg payload only (or empty)


def test_a_configuration_without_the_server_round_is_refused() -> None:
    s = strategy()
    message = Message(
        RecordDict({"arrays": initial(), "config": ConfigRecord()}), NODES[0], "train"
    )
    with pytest.raises(ValueError, match="server round"):
        s.secure_train(grid_for(), [message])
