"""The server's message loop over a Flower ``Grid``, independent of legacy or Message API.

One session: the first message to each sampled node carries the session parameters and the
wrapped app's training instructions; each node replies with its first secagg message. Then,
generically, until the session completes or aborts: the server closes the phase (nodes that
did not answer in time are dropped as TIMED_OUT), sends each prompt, and collects replies until
every prompted node answered or the stage deadline passed. Node ids map to secagg client ids
0..n-1 in sorted order. A reply that is malformed, late, from the wrong node or for another
session or step is ignored (that node times out); a refusal is recorded with its reason.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from flwr.app import ConfigRecord, Message, RecordDict
from flwr.app.message_type import MessageType
from flwr.serverapp import Grid

from secagg.integrations.flower import adapter, records, vectors
from secagg.integrations.flower.records import Header, RecordError, Setup

# A child of Flower's logger, so these lines show in Flower's log output.
log = logging.getLogger("flwr.secagg")

POLL_INTERVAL = 0.1
"""Seconds between two pulls of replies (a pull is one local gRPC call in deployment)."""
TTL_MARGIN = 30.0
"""A message outlives its stage deadline by this much, so a late node never acts on a stale
prompt long after its round ended."""


@dataclass(frozen=True, slots=True)
class NodeDrop:
    """A node left out of the aggregate: when and why (a core ``DropReason`` name)."""

    node_id: int
    client_id: int
    phase: str
    reason: str
    detail: str


@dataclass(slots=True)
class StageReport:
    """One exchange: the phase whose messages were collected, and its cost."""

    phase: str
    prompted: int
    replied: int
    refused: int
    seconds: float
    bytes_down: int
    """secagg payload bytes sent to the nodes."""
    bytes_up: int
    """secagg payload bytes received from the nodes."""


@dataclass(slots=True)
class RoundReport:
    """What one secure-aggregation round did. ``status`` is ``"completed"`` (the model was
    updated from the survivors' aggregate), ``"aborted"`` (no aggregate released, the model is
    unchanged) or ``"cancelled"`` (too few nodes to start)."""

    server_round: int
    status: str
    nodes: tuple[int, ...]
    threshold: int
    reason: str = ""
    detail: str = ""
    survivors: tuple[int, ...] = ()
    """Node ids whose updates are in the aggregate (U3)."""
    responders: tuple[int, ...] = ()
    drops: list[NodeDrop] = field(default_factory=list)
    refusals: dict[int, str] = field(default_factory=dict)
    """Node id -> the reason the node gave for stepping out."""
    stages: list[StageReport] = field(default_factory=list)
    total_weight: float = 0.0
    """sum of the survivors' weights, in units of max_weight."""
    seconds: float = 0.0

    @property
    def bytes_total(self) -> int:
        return sum(s.bytes_down + s.bytes_up for s in self.stages)

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly (ints, strings, lists) for logs and report files."""
        out = asdict(self)
        out["refusals"] = {str(k): v for k, v in self.refusals.items()}
        return out


@dataclass(slots=True)
class SessionOutcome:
    report: RoundReport
    arrays: list[npt.NDArray[np.floating]] | None
    """FedAvg's weighted mean of the survivors' arrays, or None if the round did not complete."""
    first_replies: dict[int, RecordDict]
    """Per surviving node, its first reply (the app's metrics and example count, no arrays)."""


def run_session(
    grid: Grid,
    instructions: Mapping[int, RecordDict],
    *,
    server_round: int,
    threshold: int,
    layout: vectors.Layout,
    qc: adapter.QuantizationConfig,
    max_weight: float,
    api: str,
    weight_key: str,
    timeout: float | None,
    train_timeout: float | None,
) -> SessionOutcome:
    """Run one session with the nodes of ``instructions`` (node id -> training content)."""
    start = time.monotonic()
    nodes = tuple(sorted(instructions))
    n = len(nodes)
    report = RoundReport(server_round, "cancelled", nodes, threshold)
    if n < max(2, threshold):
        report.reason = "TOO_FEW_NODES"
        report.detail = f"{n} nodes sampled, threshold {threshold} (and at least 2 needed)"
        return SessionOutcome(report, None, {})
    params = adapter.SessionParams.fresh(n, threshold, layout.dim, qc.bits)
    session = adapter.ServerSession(params)
    node_of = dict(enumerate(nodes))
    client_of = {node: cid for cid, node in node_of.items()}

    outgoing: dict[int, RecordDict] = {}
    for node in nodes:
        setup = Setup(
            client_of[node], qc.clipping_range, qc.quantization_range, max_weight, api, weight_key
        )
        values: dict[str, Any] = dict(records.header_values(Header(params.nonce, 0)))
        values.update(params.to_record())
        values.update(setup.to_values())
        values.update(layout.to_record())
        content = RecordDict()
        for key, record in instructions[node].items():
            content[key] = record
        content.config_records[records.CONFIG_KEY] = ConfigRecord(values)
        outgoing[node] = content

    first_replies: dict[int, RecordDict] = {}
    step = 0
    while True:
        phase = session.phase
        deadline = train_timeout if step == 0 else timeout
        stage = _exchange(
            grid,
            outgoing,
            session,
            client_of,
            Header(params.nonce, step),
            deadline,
            server_round,
            report,
            first_replies if step == 0 else None,
        )
        stage.phase = phase
        report.stages.append(stage)
        try:
            prompts = session.advance()
        except adapter.SessionAborted as exc:
            report.status, report.reason, report.detail = "aborted", exc.reason, exc.detail
            break
        if session.done:
            break
        step += 1
        outgoing = {
            node_of[cid]: records.prompt_content(Header(params.nonce, step), data)
            for cid, data in prompts
        }

    report.drops = [
        NodeDrop(node_of[d.client], d.client, d.phase, d.reason, d.detail) for d in session.drops
    ]
    arrays = None
    if session.completed:
        total, survivors, responders = session.result()
        report.survivors = tuple(node_of[c] for c in survivors)
        report.responders = tuple(node_of[c] for c in responders)
        try:
            arrays, report.total_weight = vectors.decode_mean(
                total, len(survivors), layout=layout, qc=qc
            )
            report.status = "completed"
        except adapter.SessionAborted as exc:
            report.status, report.reason, report.detail = "aborted", exc.reason, exc.detail
    report.seconds = time.monotonic() - start
    survivors_set = set(report.survivors)
    kept = {node: c for node, c in first_replies.items() if node in survivors_set}
    return SessionOutcome(report, arrays, kept)


def _exchange(
    grid: Grid,
    outgoing: Mapping[int, RecordDict],
    session: adapter.ServerSession,
    client_of: Mapping[int, int],
    header: Header,
    deadline: float | None,
    server_round: int,
    report: RoundReport,
    first_replies: dict[int, RecordDict] | None,
) -> StageReport:
    """Send one message per node; feed replies to the session until all came or time is up."""
    start = time.monotonic()
    ttl = None if deadline is None else deadline + TTL_MARGIN
    pending: dict[str, int] = {}
    bytes_down = 0
    for node, content in outgoing.items():
        if records.PAYLOAD_KEY in content.array_records:
            bytes_down += len(records.read_payload(content))
        message = Message(
            content=content,
            dst_node_id=node,
            message_type=MessageType.TRAIN,
            group_id=str(server_round),
            ttl=ttl,
        )
        for message_id in grid.push_messages([message]):
            pending[message_id] = node
    stage = StageReport("", len(outgoing), 0, 0, 0.0, bytes_down, 0)
    end = None if deadline is None else start + deadline
    while pending:
        for reply in grid.pull_messages(list(pending)):
            reply_to = reply.metadata.reply_to_message_id
            if reply_to not in pending or reply.metadata.src_node_id != pending[reply_to]:
                continue  # not a reply we are waiting for
            node = pending.pop(reply_to)
            stage.replied += 1
            refusal = _accept(reply, session, client_of[node], header, stage)
            if refusal is not None:
                stage.refused += 1
                report.refusals[node] = refusal
                log.info("secagg round %d: node %d stepped out: %s", server_round, node, refusal)
            elif first_replies is not None:
                first_replies[node] = reply.content
        if not pending or (end is not None and time.monotonic() >= end):
            break
        time.sleep(POLL_INTERVAL)
    stage.seconds = time.monotonic() - start
    return stage


def _accept(
    reply: Message,
    session: adapter.ServerSession,
    client: int,
    header: Header,
    stage: StageReport,
) -> str | None:
    """Feed one reply to the session; the refusal reason if the node stepped out."""
    if reply.has_error():
        return "ERROR_REPLY"
    try:
        config = reply.content.config_records.get(records.CONFIG_KEY)
        if config is None:
            return "NOT_SECAGG"
        got = records.read_header(config)
        if got != header:
            return "WRONG_SESSION_OR_STEP"
        status, reason = records.read_status(config)
        if status != records.STATUS_OK:
            return reason
        payload = records.read_payload(reply.content)
    except RecordError:
        return "MALFORMED_REPLY"
    stage.bytes_up += len(payload)
    session.receive(client, payload)  # bad bytes drop the client inside the core
    return None
