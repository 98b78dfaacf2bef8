"""The server's message loop over a Flower ``Grid``, independent of legacy or Message API.

One session: in the malicious mode, nodes the server has not seen yet first prove which roster
key they hold (:class:`Identities`). The first message to each sampled node carries the
encoded configuration and the wrapped app's training instructions; each node replies with its
first secagg message. Then, generically, until the session completes or aborts: the server
closes the phase (nodes that did not answer in time are dropped as TIMED_OUT), sends each
prompt, and collects replies until every prompted node answered or the stage deadline passed.
Node ids map to secagg client ids 0..n-1 in sorted order. A reply that is malformed, late,
from the wrong node or for another session or step is ignored (that node times out); a
refusal is recorded with its reason.
"""

from __future__ import annotations

import logging
import os
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
from secagg.integrations.flower.records import Header, RecordError, SessionSetup, Setup
from secagg.integrations.flower.settings import Plan, Settings

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
    neighbors: int | None = None
    """k of SecAgg+'s sparse graph; None: the complete graph."""
    security: str = "semi_honest"
    reason: str = ""
    detail: str = ""
    survivors: tuple[int, ...] = ()
    """Node ids whose updates are in the aggregate (U3)."""
    responders: tuple[int, ...] = ()
    drops: list[NodeDrop] = field(default_factory=list)
    refusals: dict[int, str] = field(default_factory=dict)
    """Node id -> the reason the node gave for stepping out."""
    hello: StageReport | None = None
    """Malicious mode: the identity exchange with nodes the server had not seen yet."""
    stages: list[StageReport] = field(default_factory=list)
    total_weight: float = 0.0
    """sum of the survivors' weights, in units of max_weight."""
    seconds: float = 0.0

    @property
    def bytes_total(self) -> int:
        hello = [self.hello] if self.hello is not None else []
        return sum(s.bytes_down + s.bytes_up for s in [*hello, *self.stages])

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


class Identities:
    """Malicious mode: which roster entry each Flower node holds.

    Flower numbers nodes by itself, so the server asks every node it has not seen yet to sign
    a fresh challenge with its roster key (one extra exchange, only for new nodes) and keeps
    the answer for later rounds. A node that cannot sign for a roster key is left out of the
    round. A key proven again by a new node id (a restarted SuperNode) moves to that id.
    """

    def __init__(self, roster: adapter.Roster) -> None:
        self.roster = roster
        self._index = {key: i for i, key in enumerate(roster.public_keys)}
        self._entry: dict[int, int] = {}  # node id -> roster entry

    def known(self, node: int) -> int | None:
        return self._entry.get(node)

    def resolve(
        self,
        grid: Grid,
        nodes: tuple[int, ...],
        *,
        deadline: float | None,
        server_round: int,
        report: RoundReport,
    ) -> dict[int, int]:
        """Node id -> roster entry for the nodes of ``nodes`` that proved a roster key."""
        unknown = [node for node in nodes if node not in self._entry]
        if unknown:
            challenges = {node: os.urandom(records.CHALLENGE_SIZE) for node in unknown}
            contents = {node: records.hello_content(c) for node, c in challenges.items()}
            replies, stage = _send_and_collect(grid, contents, deadline, server_round)
            stage.phase = "hello"
            report.hello = stage
            for node in unknown:
                reason = self._check(replies.get(node), node, challenges[node])
                if reason is not None:
                    report.refusals[node] = reason
                    stage.refused += 1
                    log.info(
                        "secagg round %d: node %d not identified: %s", server_round, node, reason
                    )
        return {node: self._entry[node] for node in nodes if node in self._entry}

    def _check(self, reply: Message | None, node: int, challenge: bytes) -> str | None:
        if reply is None:
            return "TIMED_OUT"
        if reply.has_error():
            return "ERROR_REPLY"
        config = reply.content.config_records.get(records.CONFIG_KEY)
        if config is None:
            return "NOT_SECAGG"
        try:
            public, signature = records.read_hello_reply(config, challenge)
        except RecordError as exc:
            return str(exc)[:64]
        entry = self._index.get(public)
        if entry is None:
            return "NOT_IN_ROSTER"
        if not adapter.verify_hello(public, signature, challenge, node):
            return "BAD_SIGNATURE"
        for other, e in list(self._entry.items()):
            if e == entry:
                del self._entry[other]  # the key moved to a new node id
        self._entry[node] = entry
        return None


def run_session(
    grid: Grid,
    instructions: Mapping[int, RecordDict],
    *,
    server_round: int,
    settings: Settings,
    layout: vectors.Layout,
    api: str,
    weight_key: str,
    identities: Identities | None = None,
) -> SessionOutcome:
    """Run one session with the nodes of ``instructions`` (node id -> training content).

    Raises :class:`~secagg.integrations.flower.settings.WeakThresholdError` when the round's
    threshold is one the policy refuses (and the user did not opt out), and
    :class:`~secagg.ConfigError` for other settings the core refuses (e.g. a ring too small).
    """
    start = time.monotonic()
    nodes = tuple(sorted(instructions))
    report = RoundReport(server_round, "cancelled", nodes, 0, security=settings.security.value)
    entries: dict[int, int] = {}
    if len(nodes) >= 3:  # refuse a weak setting before any message (again below for the
        settings.check_plan(len(nodes), settings.plan(len(nodes)))  # identified nodes)
    if settings.malicious:
        if identities is None:
            raise ValueError("the malicious mode needs the nodes' identities")
        # A hello is a node's first contact: it may start cold, like the training stage.
        entries = identities.resolve(
            grid, nodes, deadline=settings.train_timeout, server_round=server_round, report=report
        )
        nodes = tuple(node for node in nodes if node in entries)
    n = len(nodes)
    plan = settings.plan(n) if n >= 1 else Plan(None, 1)
    report.threshold, report.neighbors = plan.threshold, plan.neighbors
    if n < plan.threshold or (n < 3 and not settings.allow_weak_threshold) or n < 1:
        report.reason = "TOO_FEW_NODES"
        report.detail = (
            f"{n} nodes, threshold {plan.threshold} (and at least 3 nodes are needed: with "
            f"fewer, the sum reveals each input to anyone who knows the others')"
        )
        report.seconds = time.monotonic() - start
        return SessionOutcome(report, None, {})
    settings.check_plan(n, plan)
    qc = settings.quantization(n)
    roster = None
    if settings.malicious:
        assert settings.roster is not None
        roster = adapter.sub_roster(settings.roster, [entries[node] for node in nodes])
    config = adapter.round_config(
        num_clients=n,
        threshold=plan.threshold,
        dim=layout.dim,
        bits=qc.bits,
        neighbors=plan.neighbors,
        security=settings.security,
        roster=roster,
        corrupt=settings.corrupt,
        allow_weak_threshold=settings.allow_weak_threshold,
    )
    session = adapter.ServerSession(config)
    nonce = config.session_nonce
    node_of = dict(enumerate(nodes))
    client_of = {node: cid for cid, node in node_of.items()}

    outgoing: dict[int, RecordDict] = {}
    for node in nodes:
        setup = Setup(
            qc.clipping_range, qc.quantization_range, settings.max_weight, api, weight_key
        )
        session_setup = SessionSetup(
            session.encoded_config,
            client_of[node],
            tuple(entries[v] for v in nodes) if settings.malicious else None,
        )
        values: dict[str, Any] = dict(records.header_values(Header(nonce, 0)))
        values.update(session_setup.to_values())
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
        deadline = settings.train_timeout if step == 0 else settings.timeout
        stage = _exchange(
            grid,
            outgoing,
            session,
            client_of,
            Header(nonce, step),
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
            node_of[cid]: records.prompt_content(Header(nonce, step), data) for cid, data in prompts
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


def _send_and_collect(
    grid: Grid,
    outgoing: Mapping[int, RecordDict],
    deadline: float | None,
    server_round: int,
) -> tuple[dict[int, Message], StageReport]:
    """Send one message per node; the replies that came from the right node before the
    deadline (or once all came)."""
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
    replies: dict[int, Message] = {}
    while pending:
        for reply in grid.pull_messages(list(pending)):
            reply_to = reply.metadata.reply_to_message_id
            if reply_to not in pending or reply.metadata.src_node_id != pending[reply_to]:
                continue  # not a reply we are waiting for
            replies[pending.pop(reply_to)] = reply
            stage.replied += 1
        if not pending or (end is not None and time.monotonic() >= end):
            break
        time.sleep(POLL_INTERVAL)
    stage.seconds = time.monotonic() - start
    return replies, stage


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
    """One protocol stage: send the prompts, feed the replies to the session."""
    replies, stage = _send_and_collect(grid, outgoing, deadline, server_round)
    for node, reply in sorted(replies.items()):
        refusal = _accept(reply, session, client_of[node], header, stage)
        if refusal is not None:
            stage.refused += 1
            report.refusals[node] = refusal
            log.info("secagg round %d: node %d stepped out: %s", server_round, node, refusal)
        elif first_replies is not None:
            first_replies[node] = reply.content
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
