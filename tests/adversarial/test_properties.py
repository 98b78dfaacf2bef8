"""Property tests on every state handler and decoder, with arbitrary or mutated bytes.

* ``Client.handle`` in every phase and mode, on both graphs: it returns a reply (and moves one
  phase on) or raises :class:`ClientAbort`, after which it holds no secret; nothing else escapes.
* ``Server.receive`` in every phase: it never raises; a message it drops leaves every other
  part of its state - the running sum, the sets, the shares and commitments it holds -
  byte for byte as it was (only the drop is recorded); a message it ignores changes nothing;
  and the phase still closes with prompts or a typed :class:`ProtocolAbort`.
* Every decoder: only :class:`DecodeError` (:class:`ConfigError` for a configuration).

"Mutated" messages start from the genuine bytes of a seeded round: raw bit flips, truncations
and splices (caught by the digest), and the same edits to the body re-sealed under a valid
header and digest, which reach the body decoders and the content rules.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from secagg import (
    ClientAbort,
    ClientPhase,
    ConfigError,
    DecodeError,
    ProtocolAbort,
    RoundConfig,
    Server,
    ServerPhase,
    StateError,
)
from secagg.core import wire

from .harness import World, ask_all, make_world, replies_only

CASES = [
    ("semi_honest", None, 3),
    ("malicious", None, 3),
    ("semi_honest", 2, 2),
    ("malicious", 2, 2),
]
"""(mode, neighbors, t) with n = 5: the complete graph and SecAgg+ with k = 2."""
N = 5


@dataclass
class Recording:
    """A genuine, seeded round: every prompt and reply, and the server as it entered each
    phase (before any reply of that phase)."""

    world: World
    names: list[str]
    prompts: dict[str, dict[int, bytes]]
    replies: dict[str, dict[int, bytes]]
    servers: dict[str, Server]


@functools.cache
def recording(security: str, neighbors: int | None, t: int) -> Recording:
    world = make_world(N, t, security=security, neighbors=neighbors, weak=True, dim=3)
    server = Server(world.config)
    names: list[str] = []
    prompts: dict[str, dict[int, bytes]] = {}
    replies: dict[str, dict[int, bytes]] = {}
    servers: dict[str, Server] = {}
    asked: dict[int, bytes | None] = dict.fromkeys(range(N))
    while server.phase is not ServerPhase.COMPLETED:
        name = server.phase.value
        names.append(name)
        servers[name] = copy.deepcopy(server)
        replies[name] = replies_only(ask_all(world, asked))
        assert sorted(replies[name]) == list(range(N))
        for u, reply in replies[name].items():
            server.receive(u, reply)
        out = dict(server.advance())
        if out:
            prompts[server.phase.value] = out
        asked = dict(out)
    assert server.result is not None and not server.drops
    return Recording(world, names, prompts, replies, servers)


def replayed_client(rec: Recording, u: int, phase: str) -> Any:
    """A fresh client ``u`` that has answered every round before ``phase`` (deterministic
    replay of the recorded prompts: a live client cannot be copied)."""
    client = rec.world.fresh(u)
    assert client.start() == rec.replies["advertise_keys"][u]
    for name in rec.names[1 : rec.names.index(phase)]:
        assert client.handle(rec.prompts[name][u]) == rec.replies[name][u]
    return client


def header_of(data: bytes) -> tuple[wire.MessageType, int, int]:
    return (
        wire.MessageType(data[5]),
        int.from_bytes(data[40:44], "big"),
        int.from_bytes(data[44:48], "big"),
    )


@st.composite
def mutated(draw: st.DrawFn, config: RoundConfig, genuine: bytes, others: list[bytes]) -> bytes:
    """Arbitrary bytes, or ``genuine`` edited raw or in its body (re-sealed with a valid
    digest), or another genuine message's body under this one's header."""
    kind, sender, recipient = header_of(genuine)
    body = genuine[wire.HEADER_SIZE : -wire.DIGEST_SIZE]

    def reseal(new_body: bytes) -> bytes:
        return wire.envelope(config, kind, sender, recipient, new_body)

    def edit(data: bytes, same_length: bool = False) -> bytes:
        kinds = ["flip", "set"] if same_length else ["truncate", "insert", "delete", "splice"]
        how = draw(st.sampled_from(kinds))
        if not data:
            return draw(st.binary(max_size=64))
        i = draw(st.integers(0, len(data) - 1))
        if how == "flip":
            return data[:i] + bytes([data[i] ^ draw(st.integers(1, 255))]) + data[i + 1 :]
        if how == "set":
            value = draw(st.sampled_from([0, 1, 0x7F, 0x80, 0xFF]))
            width = min(draw(st.integers(1, 8)), len(data) - i)
            return data[:i] + bytes([value]) * width + data[i + width :]
        if how == "truncate":
            return data[:i]
        if how == "insert":
            return data[:i] + draw(st.binary(min_size=1, max_size=40)) + data[i:]
        if how == "delete":
            return data[:i] + data[i + draw(st.integers(1, 40)) :]
        other = draw(st.sampled_from(others)) if others else data
        j = draw(st.integers(0, len(other)))
        return data[:i] + other[j:]

    choice = draw(
        st.sampled_from(
            ["arbitrary", "raw", "body", "in_place", "in_place", "in_place_twice", "other_body"]
        )
    )
    if choice == "arbitrary":
        return draw(st.binary(max_size=2 * len(genuine)))
    if choice == "raw":
        return edit(genuine, same_length=draw(st.booleans()))
    if choice == "body":
        return reseal(edit(body))
    if choice == "in_place":  # same length, valid digest: reaches the content rules
        return reseal(edit(body, same_length=True))
    if choice == "in_place_twice":
        return reseal(edit(edit(body, same_length=True), same_length=True))
    other = draw(st.sampled_from(others)) if others else genuine
    return reseal(other[wire.HEADER_SIZE : -wire.DIGEST_SIZE])


def prompt_cases() -> list[tuple[str, int | None, int, str]]:
    out = []
    for security, neighbors, t in CASES:
        names = ["share_keys", "share_check", "masked_input", "unmasking"]
        if security == "malicious":
            names.insert(3, "consistency_check")
        out += [(security, neighbors, t, name) for name in names]
    return out


def assert_no_secrets(client: Any) -> None:
    assert client.phase is ClientPhase.ABORTED
    assert client._held == {} and client._inbound == {}
    assert client._c is None and client._s is None
    assert client._b == b"" and client._share_rand == b""
    assert getattr(client._x, "size", None) == 0


@pytest.mark.parametrize(("security", "neighbors", "t", "phase"), prompt_cases())
@settings(max_examples=60)
@given(data=st.data())
def test_client_handle_only_raises_client_abort_and_forgets_on_abort(
    security: str, neighbors: int | None, t: int, phase: str, data: st.DataObject
) -> None:
    rec = recording(security, neighbors, t)
    u = data.draw(st.integers(0, N - 1), label="client")
    client = replayed_client(rec, u, phase)
    before = client.phase
    genuine = rec.prompts[phase][u]
    others = [p for name in rec.prompts for p in rec.prompts[name].values() if p != genuine]
    message = data.draw(mutated(rec.world.config, genuine, others), label="message")
    try:
        reply = client.handle(message)
    except ClientAbort as exc:
        event(f"refused: {exc.reason.name}")
        assert_no_secrets(client)
        with pytest.raises(StateError):
            client.handle(genuine)  # an aborted client answers nothing any more
        return
    event("answered" if message != genuine else "genuine")
    assert isinstance(reply, bytes)
    assert client.phase is not before and client.phase is not ClientPhase.ABORTED
    if message == genuine:
        assert reply == rec.replies[phase][u]


@pytest.mark.parametrize("security", ["semi_honest", "malicious"])
def test_client_outside_a_round_raises_state_error(security: str) -> None:
    rec = recording(security, None, 3)
    client = rec.world.fresh(0)
    with pytest.raises(StateError):
        client.handle(rec.prompts["share_keys"][0])
    client.start()
    with pytest.raises(StateError):
        client.start()


# --------------------------------------------------------------------------- server


IGNORED_STATE = ("drops", "_expected", "_accepted", "_unknown", "config", "_graph", "_commit")


def state_of(server: Server) -> bytes:
    """Everything the server holds but its drop records and its per-phase bookkeeping."""
    kept = {k: v for k, v in vars(server).items() if k not in IGNORED_STATE}
    return pickle.dumps(kept)


def server_cases() -> list[tuple[str, int | None, int, str]]:
    out = []
    for security, neighbors, t in CASES:
        names = ["advertise_keys", "share_keys", "share_check", "masked_input", "unmasking"]
        if security == "malicious":
            names.insert(4, "consistency_check")
        out += [(security, neighbors, t, name) for name in names]
    return out


@pytest.mark.parametrize(("security", "neighbors", "t", "phase"), server_cases())
@settings(max_examples=60)
@given(data=st.data())
def test_server_receive_never_raises_and_a_drop_changes_nothing_else(
    security: str, neighbors: int | None, t: int, phase: str, data: st.DataObject
) -> None:
    rec = recording(security, neighbors, t)
    server = copy.deepcopy(rec.servers[phase])
    replies = rec.replies[phase]
    sender = data.draw(
        st.one_of(st.integers(0, N - 1), st.sampled_from([-1, N, N + 7, 2**32 - 1])),
        label="sender",
    )
    # Some of the others' genuine replies first, so that there is state to keep intact.
    first = data.draw(st.sets(st.sampled_from([v for v in range(N) if v != sender])), label="first")
    for v in sorted(first):
        server.receive(v, replies[v])
    genuine = replies[sender if 0 <= sender < N else 0]
    others = [r for name in rec.replies for r in rec.replies[name].values() if r != genuine]
    message = data.draw(mutated(rec.world.config, genuine, others), label="message")
    before_state = state_of(server)
    before_drops = list(server.drops)
    before_live = server.live
    server.receive(sender, message)  # never raises
    new_drops = server.drops[len(before_drops) :]
    assert server.drops[: len(before_drops)] == before_drops
    if not 0 <= sender < N:
        assert all(d.client == sender for d in new_drops)
        assert state_of(server) == before_state and server.live == before_live
    elif new_drops:
        event(f"dropped: {new_drops[0].reason.name}")
        assert [d.client for d in new_drops] == [sender]
        assert sender not in server.live and sender not in server.expected
        assert server.live == before_live
        assert state_of(server) == before_state  # the sum, the sets, the shares: untouched
    elif sender in server.live:
        event("accepted")
        assert server.live == before_live | {sender}
    else:
        pytest.fail("a message from an expected client was neither accepted nor dropped")
    # The rest answer; the phase closes with prompts or a typed abort, nothing else.
    for v in range(N):
        if v != sender and v not in first:
            server.receive(v, replies[v])
    try:
        out = server.advance()
    except ProtocolAbort:
        assert server.phase is ServerPhase.ABORTED and server.result is None
        return
    assert all(isinstance(m, bytes) for _, m in out)


# --------------------------------------------------------------------------- decoders


def decoders(config: RoundConfig) -> list[tuple[str, Callable[[bytes], object], bytes]]:
    """Every decoder with the channel it expects, and a genuine message for it."""
    rec = recording(config.security.value, config.neighbors, config.threshold)
    up, down = rec.replies, rec.prompts
    table: list[tuple[str, Callable[[bytes], object], bytes]] = [
        (
            "advertise_keys",
            lambda b: wire.decode_advertise_keys(b, config, 0),
            up["advertise_keys"][0],
        ),
        ("key_list", lambda b: wire.decode_key_list(b, config, 0), down["share_keys"][0]),
        ("share_keys", lambda b: wire.decode_share_keys(b, config, 0), up["share_keys"][0]),
        (
            "share_forward",
            lambda b: wire.decode_share_forward(b, config, 0),
            down["share_check"][0],
        ),
        ("share_check", lambda b: wire.decode_share_check(b, config, 0), up["share_check"][0]),
        ("mask_request", lambda b: wire.decode_mask_request(b, config, 0), down["masked_input"][0]),
        ("masked_input", lambda b: wire.decode_masked_input(b, config, 0), up["masked_input"][0]),
        (
            "unmask_request",
            lambda b: wire.decode_unmask_request(b, config, 0),
            down["unmasking"][0],
        ),
        (
            "unmask_response",
            lambda b: wire.decode_unmask_response(b, config, 0),
            up["unmasking"][0],
        ),
    ]
    if config.malicious:
        table += [
            (
                "consistency_request",
                lambda b: wire.decode_consistency_request(b, config, 0),
                down["consistency_check"][0],
            ),
            (
                "consistency_response",
                lambda b: wire.decode_consistency_response(b, config, 0),
                up["consistency_check"][0],
            ),
        ]
    return table


@pytest.mark.parametrize(("security", "neighbors", "t"), CASES)
@settings(max_examples=200)
@given(data=st.data())
def test_every_decoder_raises_only_decode_error(
    security: str, neighbors: int | None, t: int, data: st.DataObject
) -> None:
    config = recording(security, neighbors, t).world.config
    table = decoders(config)
    name, decode, genuine = data.draw(st.sampled_from(table), label="decoder")
    others = [g for _, _, g in table if g != genuine]
    message = data.draw(mutated(config, genuine, others), label="message")
    with contextlib.suppress(DecodeError):
        decode(message)
    assert decode(genuine) is not None, name


@settings(max_examples=60)
@given(data=st.binary(max_size=120), n=st.integers(1, 20), use_roster=st.booleans())
def test_config_and_plaintext_decoders_raise_only_typed_errors(
    data: bytes, n: int, use_roster: bool
) -> None:
    config = recording("malicious", None, 3).world.config
    with contextlib.suppress(ConfigError):
        RoundConfig.decode(data, roster=config.roster if use_roster else None)
    with contextlib.suppress(DecodeError):
        wire.IdSet.decode(data, n)
    with contextlib.suppress(DecodeError):
        wire.decode_share_plaintext(data, 0, 1)
