"""ClientApp: trains on this node's partition. The only secagg-specific line is the mod."""

from __future__ import annotations

from typing import Any

import numpy as np
from flwr.app import Context, Message
from flwr.client import Client, NumPyClient
from flwr.client.mod import secaggplus_mod
from flwr.clientapp import ClientApp
from flwr.clientapp.typing import ClientAppCallable

from digits_app import task
from secagg.integrations.flower import secagg_mod


class DigitsClient(NumPyClient):
    def __init__(self, context: Context) -> None:
        cfg, node = context.run_config, context.node_config
        self.partition = int(node["partition-id"])
        self.seed = int(cfg["seed"])
        self.x, self.y = task.load_partition(self.partition, int(node["num-partitions"]), self.seed)
        self.model = task.new_model(self.seed, int(cfg["padding"]))
        self.epochs, self.lr = int(cfg["local-epochs"]), float(cfg["learning-rate"])
        self.batch_size = int(cfg["batch-size"])

    def fit(
        self, parameters: list[np.ndarray], config: dict[str, Any]
    ) -> tuple[list[np.ndarray], int, dict[str, Any]]:
        task.set_weights(self.model, parameters)
        # The same seed for a node and round in every variant, so runs are comparable.
        round_seed = self.seed * 100_003 + self.partition * 1_009 + int(config["server_round"])
        loss = task.train(
            self.model,
            self.x,
            self.y,
            epochs=self.epochs,
            lr=self.lr,
            batch_size=self.batch_size,
            seed=round_seed,
        )
        return task.get_weights(self.model), len(self.y), {"train_loss": loss}


def client_fn(context: Context) -> Client:
    return DigitsClient(context).to_client()


def aggregation_mod(msg: Message, ctxt: Context, call_next: ClientAppCallable) -> Message:
    """Picks the mod that the run's `aggregation` setting needs, so one app serves the three
    variants the benchmark compares. A real app lists `secagg_mod` alone."""
    mode = ctxt.run_config.get("aggregation", "secagg")
    if mode == "secagg":
        return secagg_mod(msg, ctxt, call_next)
    if mode == "secaggplus":
        return secaggplus_mod(msg, ctxt, call_next)
    return call_next(msg, ctxt)


app = ClientApp(client_fn=client_fn, mods=[aggregation_mod])
