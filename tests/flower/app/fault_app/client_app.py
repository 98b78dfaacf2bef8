"""ClientApp with a fault mod in front of secagg_mod. Node config `fault` = "KIND:ROUND:STEP":

* hang: on that step's message, write `<marker-dir>/hang-<partition>` and sleep (the test then
  kills the SuperNode with SIGKILL, so the node dies at that protocol step);
* stall: sleep `stall-seconds` (past the stage deadline), then answer late;
* tamper: answer, with one byte of the secagg payload flipped.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
from flwr.app import Context, Message
from flwr.client import Client, NumPyClient
from flwr.clientapp import ClientApp
from flwr.clientapp.typing import ClientAppCallable

from fault_app.updates import update_of
from secagg.integrations.flower import records, secagg_mod


class FixedClient(NumPyClient):
    def __init__(self, partition: int) -> None:
        self.partition = partition

    def fit(
        self, parameters: list[np.ndarray], config: dict[str, Any]
    ) -> tuple[list[np.ndarray], int, dict[str, Any]]:
        server_round = int(config["server_round"])
        return update_of(self.partition, server_round), 1, {"pid": self.partition}


def client_fn(context: Context) -> Client:
    return FixedClient(int(context.node_config["partition-id"])).to_client()


def fault_mod(msg: Message, ctxt: Context, call_next: ClientAppCallable) -> Message:
    fault = str(ctxt.node_config.get("fault", ""))
    config = msg.content.config_records.get(records.CONFIG_KEY)
    if not fault or config is None:
        return call_next(msg, ctxt)
    kind, fault_round, fault_step = fault.split(":")
    if msg.metadata.group_id != fault_round or config.get("step") != int(fault_step):
        return call_next(msg, ctxt)
    if kind == "hang":
        marker = Path(str(ctxt.node_config["marker-dir"]))
        (marker / f"hang-{ctxt.node_config['partition-id']}").write_text("x")
        time.sleep(600)
    if kind == "stall":
        time.sleep(float(ctxt.node_config["stall-seconds"]))
    reply = call_next(msg, ctxt)
    if kind == "tamper":
        data = bytearray(records.read_payload(reply.content))
        data[len(data) // 2] ^= 0x40
        reply.content.array_records[records.PAYLOAD_KEY] = records.payload_record(bytes(data))
    return reply


app = ClientApp(client_fn=client_fn, mods=[fault_mod, secagg_mod])
