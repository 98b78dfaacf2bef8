"""The node side of the Flower integration, driven by hand: secagg_mod on each node with its own
Context (serialized between messages, as in deployment), and a core server whose prompts a test
can replay, alter or re-order as an attacker would.

What is checked: a node answers each step once - the same bytes again get the same reply, any
other prompt for an answered step is refused and the session erased, so no one gets two
different answers for one step (e.g. both kinds of share of one peer); the replay that rebuilds
the client replays exactly the prompts answered (a changed stored prompt is caught); the node
applies its own threshold policy, not the server's; and in the malicious mode it refuses a
downgrade, a roster entry that is not its key, and proves its key only to a signed challenge.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from flwr.app import (
    ArrayRecord,
    ConfigRecord,
    Context,
    Message,
    MetricRecord,
    RecordDict,
)
from flwr.app.message_type import MessageType
from flwr.common.serde import context_from_proto, context_to_proto

from secagg.core import wire
from secagg.integrations.flower import adapter, make_keys, make_secagg_mod, secagg_mod
from secagg.integrations.flower import records as rec
from secagg.integrations.flower.local_grid import play_the_server_app
from secagg.integrations.flower.mod import BLOBS_KEY, STATE_KEY
from secagg.integrations.flower.records import Header, SessionSetup, Setup
from secagg.integrations.flower.vectors import Layout

N = 5
NODE_IDS = [101 + i for i in range(N)]
VICTIM = 1  # client id
QC = adapter.quantization(N, 8.0, 1 << 22, None)
LAYOUT = Layout(((3,),), ("float32",))

Mod = Callable[[Message, Context, Any], Message]


def update(client: int) -> np.ndarray:
    return np.full(3, 0.25 * (client + 1), np.float32)


def train(msg: Message, ctxt: Context) -> Message:
    """A Message-API training function: a fixed update and one example."""
    client = int(ctxt.node_config["client"])
    content = RecordDict(
        {
            "arrays": ArrayRecord([update(client)]),
            "metrics": MetricRecord({"num-examples": 1}),
        }
    )
    return Message(content, reply_to=msg)


@dataclass
class Harness:
    """A core server and ``N`` nodes running a mod; every prompt goes through :meth:`send`."""

    mod: Mod = secagg_mod
    threshold: int = 3
    security: adapter.Security = adapter.Security.SEMI_HONEST
    roster: adapter.Roster | None = None
    entries: tuple[int, ...] | None = None
    allow_weak_threshold: bool = False
    node_config: Callable[[int], dict[str, Any]] = lambda i: {}
    contexts: dict[int, bytes] = field(default_factory=dict)
    first_replies: dict[int, bytes] = field(default_factory=dict)

    def __post_init__(self) -> None:
        play_the_server_app()
        self.config = adapter.round_config(
            num_clients=N,
            threshold=self.threshold,
            dim=LAYOUT.dim,
            bits=QC.bits,
            neighbors=None,
            security=self.security,
            roster=self.roster,
            corrupt=0.0,
            allow_weak_threshold=self.allow_weak_threshold,
        )
        self.server = adapter.ServerSession(self.config)
        for i, node in enumerate(NODE_IDS):
            config = {"client": i, **self.node_config(i)}
            context = Context(1, node, config, RecordDict(), {})
            self.contexts[i] = context_to_proto(context).SerializeToString()

    @property
    def nonce(self) -> bytes:
        return self.config.session_nonce

    def first_content(self, client: int, encoded: bytes | None = None) -> RecordDict:
        values: dict[str, Any] = dict(rec.header_values(Header(self.nonce, 0)))
        values.update(
            SessionSetup(encoded or self.config.encode(), client, self.entries).to_values()
        )
        values.update(Setup(8.0, 1 << 22, 1.0, rec.API_MESSAGE, "num-examples").to_values())
        values.update(LAYOUT.to_record())
        return RecordDict({rec.CONFIG_KEY: ConfigRecord(values)})

    def send(self, client: int, content: RecordDict) -> RecordDict:
        """Deliver ``content`` to node ``client`` through the mod; its reply's content."""
        context = context_from_proto(_parse(self.contexts[client]))
        msg = Message(content, NODE_IDS[client], MessageType.TRAIN)
        reply = self.mod(msg, context, train)
        self.contexts[client] = context_to_proto(context).SerializeToString()
        return reply.content

    def context(self, client: int) -> Context:
        return context_from_proto(_parse(self.contexts[client]))

    def prompt(self, step: int, data: bytes) -> RecordDict:
        return rec.prompt_content(Header(self.nonce, step), data)

    def start(self) -> list[tuple[int, bytes]]:
        """Step 0 on every node; the server's first prompts."""
        for client in range(N):
            first = payload(self.send(client, self.first_content(client)))
            self.first_replies[client] = first
            self.server.receive(client, first)
        return self.server.advance()

    def step(
        self, step: int, prompts: list[tuple[int, bytes]], skip: int | None = None
    ) -> list[tuple[int, bytes]]:
        """Deliver ``prompts`` (all but ``skip``'s) and feed the replies; the next prompts."""
        for client, data in prompts:
            if client != skip:
                self.server.receive(client, payload(self.send(client, self.prompt(step, data))))
        return self.server.advance()

    def run_to(self, step: int) -> list[tuple[int, bytes]]:
        """The prompts of ``step`` (1: key lists), every earlier step answered by all."""
        prompts = self.start()
        for s in range(1, step):
            prompts = self.step(s, prompts)
        return prompts


def _parse(data: bytes) -> Any:
    from flwr.proto.message_pb2 import Context as ProtoContext

    proto = ProtoContext()
    proto.ParseFromString(data)
    return proto


def payload(content: RecordDict) -> bytes:
    status = rec.read_status(content.config_records[rec.CONFIG_KEY])
    assert status == (rec.STATUS_OK, ""), status
    return rec.read_payload(content)


def refusal(content: RecordDict) -> str:
    status, reason = rec.read_status(content.config_records[rec.CONFIG_KEY])
    assert status == rec.STATUS_REFUSED
    assert rec.PAYLOAD_KEY not in content.array_records  # a refusal carries nothing
    return reason


def has_session(h: Harness, client: int) -> bool:
    state = h.context(client).state
    return STATE_KEY in state or BLOBS_KEY in state


def exact_mean(clients: list[int]) -> np.ndarray:
    total = np.sum([update(c).astype(np.float64) for c in clients], axis=0)
    return np.asarray(total / len(clients), dtype=np.float32)


def finish(h: Harness, step: int, prompts: list[tuple[int, bytes]]) -> np.ndarray:
    """Run the remaining steps with every node; the FedAvg mean the server unmasks."""
    while prompts:
        prompts = h.step(step, prompts)
        step += 1
    total, survivors, _ = h.server.result()
    from secagg.integrations.flower.vectors import decode_mean

    [mean], _ = decode_mean(total, len(survivors), layout=LAYOUT, qc=QC)
    return mean


# ---------------------------------------------------------------------- another prompt for a step


def altered(h: Harness, step: int, client: int, data: bytes) -> bytes:
    """A prompt for ``step`` that the server could send ``client`` instead of ``data``: well
    formed, in the session, but another view (a peer left out)."""
    cfg = h.config
    other = 4 if client != 4 else 3
    if step == 1:
        key_list = wire.decode_key_list(data, cfg, client)
        entries = tuple(e for e in key_list.entries if e.client != other)
        return wire.encode_key_list(cfg, client, wire.KeyList(entries))
    if step == 2:
        forward = wire.decode_share_forward(data, cfg, client)
        kept = tuple(e for e in forward.entries if e.sender != other)
        return wire.encode_share_forward(cfg, client, wire.ShareForward(kept))
    if step == 3:
        u2 = wire.decode_mask_request(data, cfg, client).u2
        smaller = wire.IdSet.of([v for v in u2.ids() if v != other], N)
        return wire.encode_mask_request(cfg, client, wire.MaskRequest(smaller))
    assert step == 4
    u3 = wire.decode_unmask_request(data, cfg, client).u3
    smaller = wire.IdSet.of([v for v in u3.ids() if v != other], N)
    return wire.encode_unmask_request(cfg, client, wire.UnmaskRequest(smaller, ()))


@pytest.mark.parametrize("step", [1, 2, 3, 4])
def test_a_node_answers_a_step_once_another_prompt_for_it_is_refused(step: int) -> None:
    h = Harness()
    prompts = dict(h.run_to(step))
    first = h.send(VICTIM, h.prompt(step, prompts[VICTIM]))
    payload(first)  # answered
    second = h.send(VICTIM, h.prompt(step, altered(h, step, VICTIM, prompts[VICTIM])))
    # Before the last step the session is still there and refuses to answer the step again;
    # after the last one it is gone.
    assert refusal(second) == ("STEP_REFUSED" if step < 4 else "NO_SESSION")
    assert not has_session(h, VICTIM)  # erased: nothing more comes out of this node
    nxt = h.send(VICTIM, h.prompt(step + 1, prompts[VICTIM]))
    assert refusal(nxt) == "NO_SESSION"


def test_an_attacker_cannot_get_both_kinds_of_share_of_one_peer() -> None:
    """The unmasking request names peer z as a survivor (the node reveals its share of b_z);
    a second request naming z as dropped (which would reveal its share of s_z^SK, and with t
    such shares z's input) gets nothing - in either order."""
    for z_survives_first in (True, False):
        h = Harness()
        prompts = dict(h.run_to(4))
        genuine = prompts[VICTIM]
        without_z = altered(h, 4, VICTIM, genuine)  # z = client 4 left out of U3
        order = (genuine, without_z) if z_survives_first else (without_z, genuine)
        reply = wire.decode_unmask_response(
            payload(h.send(VICTIM, h.prompt(4, order[0]))), h.config, VICTIM
        )
        kinds = {peer: kind for peer, kind, _ in reply.shares}
        want = wire.ShareKind.SELF_MASK if z_survives_first else wire.ShareKind.KEY
        assert kinds[4] is want
        assert refusal(h.send(VICTIM, h.prompt(4, order[1]))) == "NO_SESSION"


@pytest.mark.parametrize("step", [1, 2, 3])
def test_the_same_prompt_again_gets_the_same_reply_and_the_round_completes(step: int) -> None:
    h = Harness()
    prompts = dict(h.run_to(step))
    once = payload(h.send(VICTIM, h.prompt(step, prompts[VICTIM])))
    again = payload(h.send(VICTIM, h.prompt(step, prompts[VICTIM])))  # a retransmission
    assert again == once
    # The server takes the first copy; the session goes on for every node.
    for client, data in prompts.items():
        if client != VICTIM:
            h.server.receive(client, payload(h.send(client, h.prompt(step, data))))
    h.server.receive(VICTIM, once)
    np.testing.assert_array_equal(
        finish(h, step + 1, h.server.advance()), exact_mean(list(range(N)))
    )


def test_a_skipped_step_and_a_prompt_of_another_session_are_refused() -> None:
    h = Harness()
    prompts = dict(h.run_to(1))
    assert refusal(h.send(VICTIM, h.prompt(2, prompts[VICTIM]))) == "STEP_REFUSED"
    assert not has_session(h, VICTIM)
    other = Harness()  # another session (another nonce)
    stale = rec.prompt_content(Header(other.nonce, 1), prompts[2])
    assert refusal(h.send(2, stale)) == "MALFORMED_PROMPT"
    assert not has_session(h, 2)


def test_a_new_first_message_replaces_the_session_and_its_secrets() -> None:
    h = Harness()
    prompts = dict(h.run_to(3))
    old_secret = h.context(VICTIM).state.array_records[BLOBS_KEY]["secret"].data
    # The same configuration again (what a replaying server would send): a fresh session.
    restart = payload(h.send(VICTIM, h.first_content(VICTIM)))
    assert h.context(VICTIM).state.array_records[BLOBS_KEY]["secret"].data != old_secret
    assert restart != h.first_replies[VICTIM]  # fresh keys, nothing of the old secrets
    # The old session's prompts are not answered any more.
    assert refusal(h.send(VICTIM, h.prompt(3, prompts[VICTIM]))) == "STEP_REFUSED"


def test_the_replay_must_reproduce_every_reply_sent() -> None:
    """The node rebuilds its client from the stored prompts; a stored prompt that is not the
    one it answered (corrupted or swapped state) is caught by the reply digests."""
    h = Harness()
    prompts = dict(h.run_to(2))
    payload(h.send(VICTIM, h.prompt(2, prompts[VICTIM])))
    context = h.context(VICTIM)
    blobs = context.state.array_records[BLOBS_KEY]
    answered = blobs["prompt.2"].data
    forged = altered(h, 2, VICTIM, answered)
    blobs["prompt.2"] = rec.payload_record(forged)[rec.PAYLOAD_ARRAY]
    h.contexts[VICTIM] = context_to_proto(context).SerializeToString()
    nxt = dict(h.step(2, [(c, d) for c, d in prompts.items() if c != VICTIM]))
    assert VICTIM not in nxt  # the server dropped it at step 2 (it kept its reply away)
    reply = h.send(VICTIM, h.prompt(3, next(iter(nxt.values()))))
    assert refusal(reply) == "REPLAY_DIVERGED"


# ---------------------------------------------------------------------- the node's own policy


def test_a_node_refuses_a_threshold_its_policy_refuses_whatever_the_server_allows() -> None:
    h = Harness(threshold=2, allow_weak_threshold=True)  # the server opts out
    for client in range(N):
        assert refusal(h.send(client, h.first_content(client))) == "CONFIG_REFUSED"
        assert not has_session(h, client)
    # A node whose own config opts out takes part.
    weak = Harness(
        threshold=2,
        allow_weak_threshold=True,
        node_config=lambda i: {"secagg-allow-weak-threshold": "true"},
    )
    np.testing.assert_array_equal(finish(weak, 1, weak.start()), exact_mean(list(range(N))))


def test_a_configuration_not_matching_the_header_is_refused() -> None:
    h = Harness()
    other = adapter.round_config(
        num_clients=N,
        threshold=3,
        dim=LAYOUT.dim,
        bits=QC.bits,
        neighbors=None,
        security=adapter.Security.SEMI_HONEST,
        roster=None,
        corrupt=0.0,
        allow_weak_threshold=False,
    )
    reply = h.send(0, h.first_content(0, other.encode()))  # another nonce than the header's
    assert refusal(reply) == "MALFORMED_PROMPT"
    truncated = h.send(0, h.first_content(0, h.config.encode()[:-1]))
    assert refusal(truncated) == "CONFIG_REFUSED"


# ---------------------------------------------------------------------- malicious mode


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    make_keys(tmp_path, N)
    return tmp_path


def key_config(folder: Path) -> Callable[[int], dict[str, Any]]:
    return lambda i: {
        "secagg-signing-key": str(folder / f"node-{i}.key"),
        "secagg-roster": str(folder / "roster.json"),
    }


def test_the_malicious_mode_over_the_mod_gives_the_exact_mean(keys: Path) -> None:
    roster = adapter.Roster.load(keys / "roster.json")
    h = Harness(
        security=adapter.Security.MALICIOUS,
        roster=roster,
        entries=tuple(range(N)),
        node_config=key_config(keys),
    )
    np.testing.assert_array_equal(finish(h, 1, h.start()), exact_mean(list(range(N))))


@pytest.mark.parametrize("step", [4, 5])
def test_a_malicious_mode_node_answers_consistency_and_unmasking_once(
    keys: Path, step: int
) -> None:
    roster = adapter.Roster.load(keys / "roster.json")
    h = Harness(
        security=adapter.Security.MALICIOUS,
        roster=roster,
        entries=tuple(range(N)),
        node_config=key_config(keys),
    )
    prompts = dict(h.run_to(step))
    payload(h.send(VICTIM, h.prompt(step, prompts[VICTIM])))
    cfg = h.config
    if step == 4:  # sign another survivor set
        u3 = wire.decode_consistency_request(prompts[VICTIM], cfg, VICTIM).u3
        other = wire.IdSet.of([v for v in u3.ids() if v != 4], N)
        forged = wire.encode_consistency_request(cfg, VICTIM, wire.ConsistencyRequest(other))
        assert refusal(h.send(VICTIM, h.prompt(step, forged))) == "STEP_REFUSED"
    else:
        again = h.send(VICTIM, h.prompt(step, prompts[VICTIM]))
        assert refusal(again) == "NO_SESSION"


def test_a_node_with_a_signing_key_refuses_a_downgrade_to_semi_honest(keys: Path) -> None:
    h = Harness(node_config=key_config(keys))  # the server runs semi-honest
    assert refusal(h.send(0, h.first_content(0))) == "CONFIG_REFUSED"


def test_a_node_refuses_a_roster_entry_that_is_not_its_key(keys: Path) -> None:
    roster = adapter.Roster.load(keys / "roster.json")
    swapped = (1, 0, 2, 3, 4)  # client 0 is told to be roster entry 1
    h = Harness(
        security=adapter.Security.MALICIOUS,
        roster=adapter.sub_roster(roster, swapped),
        entries=swapped,
        node_config=key_config(keys),
    )
    assert refusal(h.send(0, h.first_content(0))) == "CONFIG_REFUSED"
    # A roster the node does not trust (another key at its entry) is refused too.
    foreign = adapter.Roster((adapter.SigningKey.generate().public, *roster.public_keys[1:]))
    h2 = Harness(
        security=adapter.Security.MALICIOUS,
        roster=foreign,
        entries=tuple(range(N)),
        node_config=key_config(keys),
    )
    assert refusal(h2.send(1, h2.first_content(1))) == "CONFIG_REFUSED"


def test_a_node_proves_its_key_only_by_signing_the_challenge(keys: Path) -> None:
    h = Harness(node_config=key_config(keys))
    challenge = b"\x07" * rec.CHALLENGE_SIZE
    reply = h.send(2, rec.hello_content(challenge))
    public, signature = rec.read_hello_reply(reply.config_records[rec.CONFIG_KEY], challenge)
    roster = adapter.Roster.load(keys / "roster.json")
    assert public == roster[2]
    assert adapter.verify_hello(public, signature, challenge, NODE_IDS[2])
    assert not adapter.verify_hello(public, signature, challenge, NODE_IDS[3])  # bound to it
    assert not adapter.verify_hello(public, signature, b"\x08" * 32, NODE_IDS[2])
    # A node without a key says so.
    plain = Harness()
    reply = plain.send(2, rec.hello_content(challenge))
    assert rec.read_status(reply.config_records[rec.CONFIG_KEY]) == (
        rec.STATUS_REFUSED,
        "NO_SIGNING_KEY",
    )


def test_key_files_hold_no_secret_in_the_roster_and_are_private(keys: Path) -> None:
    import os
    import stat

    roster_text = (keys / "roster.json").read_text()
    for i in range(N):
        path = keys / f"node-{i}.key"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        secret = __import__("json").loads(path.read_text())["secret"]
        assert secret not in roster_text
    with pytest.raises(FileExistsError):
        make_keys(keys, 1)  # never overwrites a key


def test_a_node_assuming_more_corrupt_nodes_refuses_what_the_server_accepts(keys: Path) -> None:
    """Malicious mode, 5 nodes, t = 3: enough for a server assuming no corrupt node; a node
    assuming 40% (2 of 5) needs 2t > n + 2, t >= 4, and refuses - set in code or in its node
    config."""
    roster = adapter.Roster.load(keys / "roster.json")

    def harness(mod: Mod, extra: dict[str, Any]) -> Harness:
        return Harness(
            mod=mod,
            security=adapter.Security.MALICIOUS,
            roster=roster,
            entries=tuple(range(N)),
            node_config=lambda i: {**key_config(keys)(i), **extra},
        )

    h = harness(secagg_mod, {})
    assert payload(h.send(0, h.first_content(0)))
    for h in (
        harness(make_secagg_mod(corrupt=0.4), {}),
        harness(secagg_mod, {"secagg-corrupt": 0.4}),
    ):
        assert refusal(h.send(0, h.first_content(0))) == "CONFIG_REFUSED"
