"""Helpers for the Flower integration tests: deterministic clients, one round at a time."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from flwr.app import Context, Message, RecordDict
from flwr.app.user_config import UserConfig
from flwr.client import Client, NumPyClient
from flwr.clientapp import ClientApp
from flwr.common import ndarrays_to_parameters
from flwr.server import LegacyContext, ServerConfig
from flwr.server.compat.grid_client_proxy import GridClientProxy
from flwr.server.strategy import FedAvg
from flwr.server.workflow.constant import MAIN_CONFIGS_RECORD, MAIN_PARAMS_RECORD, Key

from secagg.integrations.flower import make_keys, secagg_mod
from secagg.integrations.flower.local_grid import Fault, LocalGrid
from secagg.integrations.flower.records import CONFIG_KEY

Arrays = list[npt.NDArray[np.float32]]
SHAPES = ((3, 2), (4,))
NODES = (9001, 17, 4242, 23, 560)  # deliberately unsorted: client ids follow sorted node ids


def update_of(partition: int, server_round: int) -> Arrays:
    """What node `partition` returns in `server_round`: values on the 1/4 grid, which the
    default quantization (c = 8, L = 2^22) represents exactly, so sums can be compared exactly."""
    base = (partition + 1) * 0.25 + server_round * 0.5
    return [
        np.full(shape, base + 0.25 * k, dtype=np.float32) * (-1) ** k
        for k, shape in enumerate(SHAPES)
    ]


class FixedClient(NumPyClient):
    """Returns `update_of(partition, round)` and one example, whatever it receives; raises in
    round `fail_round`."""

    def __init__(self, partition: int, fail_round: int = -1) -> None:
        self.partition = partition
        self.fail_round = fail_round

    def fit(self, parameters: Arrays, config: dict[str, Any]) -> tuple[Arrays, int, dict[str, Any]]:
        server_round = int(config["server_round"])
        if server_round == self.fail_round:
            raise RuntimeError("training failed")
        return update_of(self.partition, server_round), 1, {"pid": self.partition}


def client_app(mods: Sequence[Any] = (secagg_mod,)) -> ClientApp:
    def client_fn(context: Context) -> Client:
        config = context.node_config
        fail_round = int(config.get("fail-round", -1))
        return FixedClient(int(config["partition-id"]), fail_round).to_client()

    return ClientApp(client_fn=client_fn, mods=list(mods))


def local_grid(
    fault: Fault | None = None,
    nodes: Sequence[int] = NODES,
    app: ClientApp | None = None,
    fail_round: dict[int, int] | None = None,
    node_config: Callable[[int], UserConfig] | None = None,
) -> LocalGrid:
    """`nodes` running `app` (default: FixedClient behind secagg_mod); node `k` of
    `fail_round` raises in training round `fail_round[k]`; `node_config(partition)` adds to
    each node's config (e.g. its signing key and roster)."""
    configs: dict[int, UserConfig] = {}
    for i, node in enumerate(nodes):
        configs[node] = {"partition-id": i, "fail-round": (fail_round or {}).get(node, -1)}
        if node_config is not None:
            configs[node].update(node_config(i))
    return LocalGrid(
        app if app is not None else client_app(), nodes, node_configs=configs, fault=fault
    )


def legacy_context(grid: LocalGrid, initial: Arrays | None = None) -> LegacyContext:
    """A ServerApp context with every node of `grid` registered, as DefaultWorkflow does."""
    init = initial if initial is not None else [np.zeros(s, np.float32) for s in SHAPES]
    n = len(list(grid.get_node_ids()))
    strategy = FedAvg(
        fraction_fit=1.0,
        fraction_evaluate=0.0,
        min_fit_clients=n,
        min_available_clients=n,
        initial_parameters=ndarrays_to_parameters(init),
        on_fit_config_fn=lambda server_round: {"server_round": server_round},
    )
    context = LegacyContext(
        Context(1, 0, {}, RecordDict(), {}), config=ServerConfig(num_rounds=1), strategy=strategy
    )
    for node in grid.get_node_ids():
        context.client_manager.register(GridClientProxy(node, grid, 1))
    from flwr.compat.common import recorddict_compat as compat

    context.state.array_records[MAIN_PARAMS_RECORD] = compat.parameters_to_arrayrecord(
        ndarrays_to_parameters(init), keep_input=True
    )
    return context


def run_round(
    workflow: Callable[[Any, Any], None], grid: LocalGrid, context: LegacyContext, server_round: int
) -> Arrays:
    """Run one fit round; return the global model after it."""
    from flwr.app import ConfigRecord

    context.state.config_records[MAIN_CONFIGS_RECORD] = ConfigRecord(
        {Key.CURRENT_ROUND: server_round, Key.START_TIME: 0.0}
    )
    workflow(grid, context)
    return [a.copy() for a in context.state.array_records[MAIN_PARAMS_RECORD].to_numpy_ndarrays()]


def mean_of(partitions: Sequence[int], server_round: int) -> Arrays:
    """FedAvg of equally weighted fixed updates, computed as the workflow does (float64)."""
    updates = [update_of(p, server_round) for p in partitions]
    return [
        (np.stack([u[k] for u in updates]).astype(np.float64).sum(0) / len(updates)).astype(
            np.float32
        )
        for k in range(len(SHAPES))
    ]


def malicious_nodes(folder: Path, count: int = len(NODES)) -> Callable[[int], UserConfig]:
    """Key files for `count` nodes in `folder`; the node config that points node `i` at its
    own key and the roster."""
    make_keys(folder, count)

    def config(partition: int) -> UserConfig:
        return {
            "secagg-signing-key": str(folder / f"node-{partition}.key"),
            "secagg-roster": str(folder / "roster.json"),
        }

    return config


def step_of(message: Message) -> int | None:
    """The secagg step of a server message (0 = first message with training), or None."""
    config = message.content.config_records.get(CONFIG_KEY)
    if config is None:
        return None
    step = config.get("step")
    return step if isinstance(step, int) else None
