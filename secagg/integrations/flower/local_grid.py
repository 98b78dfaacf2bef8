"""An in-process Flower ``Grid`` for tests and benchmarks: no SuperLink, no Ray, no sockets.

Every message and every node's ``Context`` goes through Flower's protobuf serialization on
each hop, as in the deployment runtime (where each message may run in a fresh ClientApp
process), so a mod that keeps state anywhere but ``Context.state`` breaks here too. Delivery is
synchronous: a pushed message is handled at once and its reply waits to be pulled.

``fault(node_id, message, run)`` (optional) decides what happens on a node: call ``run()`` to
handle the message normally and return its reply (or a changed one), or return ``None`` to lose
the reply (a dead or stalled node). ``bytes_sent`` / ``bytes_received`` count the serialized
messages (server's view).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence

from flwr.app import Context, Error, Message, RecordDict
from flwr.app.user_config import UserConfig
from flwr.clientapp import ClientApp
from flwr.common.serde import (
    context_from_proto,
    context_to_proto,
    message_from_proto,
    message_to_proto,
)
from flwr.proto.message_pb2 import Context as ProtoContext
from flwr.proto.message_pb2 import Message as ProtoMessage
from flwr.serverapp import Grid
from flwr.supercore.run import Run
from flwr.supercore.task_identity import TaskIdentity

Fault = Callable[[int, Message, Callable[[], Message]], Message | None]

RUN_ID = 1
SERVER_NODE_ID = 1  # Flower's id for the SuperLink side of a run
ERROR_CODE = 1  # ClientApp raised an exception (Flower reports it as an error reply)


def play_the_server_app() -> None:
    """Messages take their run and sender from the process's task identity, which Flower sets
    when it starts a ServerApp; here this process plays the ServerApp (idempotent)."""
    for name, value in (("run_id", RUN_ID), ("node_id", SERVER_NODE_ID), ("task_id", 0)):
        if getattr(TaskIdentity, f"_{name}") is None:
            setattr(TaskIdentity, name, value)


class LocalGrid(Grid):
    """``node_ids`` running ``client_app``, each with its own persistent ``Context``."""

    def __init__(
        self,
        client_app: ClientApp,
        node_ids: Sequence[int],
        *,
        node_configs: Mapping[int, UserConfig] | None = None,
        run_config: UserConfig | None = None,
        fault: Fault | None = None,
    ) -> None:
        self._app = client_app
        self._nodes = list(node_ids)
        self._fault = fault
        self._replies: dict[str, bytes] = {}
        self._contexts: dict[int, bytes] = {}
        self._run = Run.create_empty(RUN_ID)
        play_the_server_app()
        self.bytes_sent = 0
        self.bytes_received = 0
        self.messages_sent = 0
        for node in self._nodes:
            config = dict((node_configs or {}).get(node, {}))
            context = Context(RUN_ID, node, config, RecordDict(), dict(run_config or {}))
            self._contexts[node] = context_to_proto(context).SerializeToString()

    def set_run(self, run: Run) -> None:
        self._run = run

    @property
    def run(self) -> Run:
        return self._run

    def create_message(
        self,
        content: RecordDict,
        message_type: str,
        dst_node_id: int,
        group_id: str,
        ttl: float | None = None,
    ) -> Message:
        return Message(content, dst_node_id, message_type, ttl=ttl, group_id=group_id)

    def get_node_ids(self) -> Iterable[int]:
        return list(self._nodes)

    def push_messages(self, messages: Iterable[Message]) -> Iterable[str]:
        ids = []
        for message in messages:
            message_id = uuid.uuid4().hex
            message.metadata.__dict__["_message_id"] = message_id
            wire = message_to_proto(message).SerializeToString()
            self.bytes_sent += len(wire)
            self.messages_sent += 1
            ids.append(message_id)
            node = message.metadata.dst_node_id
            if node not in self._contexts:
                continue  # no such node: no reply, as for a node that left
            reply = self._deliver(node, wire)
            if reply is not None:
                reply.metadata.__dict__["_message_id"] = uuid.uuid4().hex
                self._replies[message_id] = message_to_proto(reply).SerializeToString()
        return ids

    def pull_messages(self, message_ids: Iterable[str]) -> Iterable[Message]:
        out = []
        for message_id in message_ids:
            wire = self._replies.pop(message_id, None)
            if wire is not None:
                self.bytes_received += len(wire)
                proto = ProtoMessage()
                proto.ParseFromString(wire)
                out.append(message_from_proto(proto))
        return out

    def send_and_receive(
        self, messages: Iterable[Message], *, timeout: float | None = None
    ) -> Iterable[Message]:
        return self.pull_messages(list(self.push_messages(messages)))

    def _deliver(self, node: int, wire: bytes) -> Message | None:
        proto = ProtoMessage()
        proto.ParseFromString(wire)
        message = message_from_proto(proto)

        def run() -> Message:
            stored = ProtoContext()
            stored.ParseFromString(self._contexts[node])
            context = context_from_proto(stored)
            try:
                reply = self._app(message, context)
            except Exception as exc:
                return Message(Error(ERROR_CODE, type(exc).__name__), reply_to=message)
            self._contexts[node] = context_to_proto(context).SerializeToString()
            return reply

        if self._fault is None:
            return run()
        return self._fault(node, message, run)
