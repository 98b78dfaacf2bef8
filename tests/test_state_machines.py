"""The Client and Server state machines driven directly, with hand-made (malicious or buggy)
messages: what an honest client refuses, what the server drops, and what it aborts on.

A refusing client raises ClientAbort and returns no bytes, and from then on can produce none;
the server never raises for bad client bytes (it drops the sender with a DropReason) and never
releases a wrong aggregate when shares reconstruct wrongly.
"""

from __future__ import annotations

import array
import dataclasses
import functools
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from replies import REPLY_CODECS, edit_reply, re_echo

from secagg import (
    AbortReason,
    Client,
    ClientAbort,
    ClientPhase,
    ConfigError,
    DropReason,
    ProtocolAbort,
    Server,
    ServerPhase,
    StateError,
)
from secagg.config import RoundConfig
from secagg.core import wire
from secagg.core.client import rand_size
from secagg.crypto import shamir
from secagg.crypto.commit import share_commitment
from secagg.crypto.keys import KeyPair, fingerprint, is_valid_public
from secagg.crypto.prg import ring_dtype

LOW_ORDER_KEYS = [bytes(32), (1).to_bytes(32, "little")]


class Harness:
    """n clients and a server of one round, stepped by hand."""

    def __init__(self, n: int = 5, t: int = 3, dim: int = 4, bits: int = 32, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.config = RoundConfig(
            num_clients=n, threshold=t, dim=dim, bits=bits, session_nonce=rng.bytes(32)
        )
        self.inputs: list[npt.NDArray[np.uint64]] = [
            rng.integers(0, 1 << bits, size=dim, dtype=np.uint64) for _ in range(n)
        ]
        self.rands = [rng.bytes(rand_size(self.config)) for _ in range(n)]
        self.clients = [Client(self.config, u, self.inputs[u], self.rands[u]) for u in range(n)]
        self.server = Server(self.config)
        self.prompts: dict[int, bytes] = {}

    def replies(self, skip: Collection[int] = ()) -> dict[int, bytes]:
        """The next message of every client that has a prompt (all clients in round 0)."""
        if self.server.phase is ServerPhase.ADVERTISE_KEYS:
            return {u: c.start() for u, c in enumerate(self.clients) if u not in skip}
        return {u: self.clients[u].handle(p) for u, p in self.prompts.items() if u not in skip}

    def deliver(self, messages: dict[int, bytes]) -> None:
        for u, data in messages.items():
            self.server.receive(u, data)

    def close(self) -> dict[int, bytes]:
        self.prompts = dict(self.server.advance())
        return self.prompts

    def step(
        self,
        skip: Collection[int] = (),
        edit: Callable[[int, bytes], bytes] | None = None,
    ) -> dict[int, bytes]:
        """One round: replies (optionally edited) delivered, then the server closes the round."""
        messages = self.replies(skip)
        if edit is not None:
            messages = {u: edit(u, m) for u, m in messages.items()}
        self.deliver(messages)
        return self.close()

    def plain_sum(self, ids: Collection[int]) -> list[int]:
        dim, bits = self.config.dim, self.config.bits
        return [sum(int(self.inputs[u][i]) for u in ids) % (1 << bits) for i in range(dim)]


def to_unmasking(
    h: Harness, *, share_skip: Collection[int] = (), masked_skip: Collection[int] = ()
) -> None:
    """Run the harness until the server has sent its unmask requests."""
    h.step()
    h.step(skip=share_skip)
    h.step(skip=masked_skip)
    assert h.server.phase is ServerPhase.UNMASKING


def assert_refuses(client: Client, data: bytes, reason: AbortReason) -> None:
    """The client raises ClientAbort(reason), returns nothing, and can never answer again."""
    with pytest.raises(ClientAbort) as info:
        client.handle(data)
    assert info.value.reason is reason
    assert client.phase is ClientPhase.ABORTED
    assert client.abort_reason is reason
    assert client._held == {}  # no shares kept around to leak later
    assert client._x.size == 0 and client._b == b"" and client._share_rand == b""
    assert client._c is None and client._s is None
    with pytest.raises(StateError):
        client.handle(data)


# --------------------------------------------------------------------------- client: unmask request


def test_unmask_request_with_fewer_than_t_survivors_is_refused() -> None:
    h = Harness()
    to_unmasking(h)
    request = wire.encode_unmask_request(h.config, 0, wire.UnmaskRequest((0, 1)))
    assert_refuses(h.clients[0], request, AbortReason.BELOW_THRESHOLD)


@pytest.mark.parametrize("survivors", [(0, 1, 4), (0, 1, 2, 3, 4)])
def test_unmask_request_naming_a_peer_without_shares_is_refused(
    survivors: tuple[int, ...],
) -> None:
    h = Harness()
    to_unmasking(h, share_skip=[4])  # client 4 never sent shares: U2 = {0, 1, 2, 3}
    request = wire.encode_unmask_request(h.config, 0, wire.UnmaskRequest(survivors))
    assert_refuses(h.clients[0], request, AbortReason.INCONSISTENT_VIEW)
    # Its peers still answer the honest request.
    assert decode_response(h, 1, h.clients[1].handle(h.prompts[1])).shares


def test_unmask_request_omitting_the_client_is_refused() -> None:
    h = Harness()
    to_unmasking(h)
    request = wire.encode_unmask_request(h.config, 0, wire.UnmaskRequest((1, 2, 3, 4)))
    assert_refuses(h.clients[0], request, AbortReason.INCONSISTENT_VIEW)


def test_undecodable_unmask_request_is_refused() -> None:
    h = Harness()
    to_unmasking(h)
    assert_refuses(h.clients[0], h.prompts[1], AbortReason.INVALID_MESSAGE)  # addressed to 1
    assert_refuses(h.clients[2], h.prompts[2][:-1], AbortReason.INVALID_MESSAGE)


def decode_response(h: Harness, u: int, data: bytes) -> wire.UnmaskResponse:
    return wire.decode_unmask_response(data, h.config, u)


def test_response_reveals_one_kind_of_share_per_peer() -> None:
    h = Harness(n=6, t=3)
    to_unmasking(h, share_skip=[5], masked_skip=[3, 4])  # U2 = 0..4, U3 = {0, 1, 2}
    for u in (0, 1, 2):
        response = decode_response(h, u, h.clients[u].handle(h.prompts[u]))
        by_kind: dict[wire.ShareKind, set[int]] = {k: set() for k in wire.ShareKind}
        for peer, kind, _ in response.shares:
            by_kind[kind].add(peer)
        assert by_kind[wire.ShareKind.SELF_MASK] == {0, 1, 2}
        assert by_kind[wire.ShareKind.KEY] == {3, 4}
        assert len(response.shares) == 5
        # Answered once, never again (a second request cannot pry the other kind loose).
        other = wire.encode_unmask_request(h.config, u, wire.UnmaskRequest((0, 1, 2, 3, 4)))
        with pytest.raises(StateError):
            h.clients[u].handle(other)
        assert h.clients[u].phase is ClientPhase.COMPLETED


@settings(max_examples=30)
@given(
    n=st.integers(3, 7),
    data=st.data(),
)
def test_no_request_unlocks_both_shares_of_a_peer(n: int, data: st.DataObject) -> None:
    """Whatever survivor list a server sends, the client reveals at most one kind per peer, only
    for peers of U2, KEY only for peers off the list and SELF_MASK only for peers on it."""
    t = data.draw(st.integers(1, n), label="t")
    share_skip = data.draw(st.sets(st.integers(0, n - 1), max_size=n - t), label="share_skip")
    h = Harness(n=n, t=t, seed=n)
    h.step()
    h.step(skip=share_skip)
    h.step()
    u2 = sorted(set(range(n)) - share_skip)
    u = data.draw(st.sampled_from(u2), label="client")
    survivors = tuple(sorted(data.draw(st.sets(st.integers(0, n - 1)), label="survivors")))
    request = wire.encode_unmask_request(h.config, u, wire.UnmaskRequest(survivors))
    acceptable = u in survivors and len(survivors) >= t and set(survivors) <= set(u2)
    if not acceptable:
        with pytest.raises(ClientAbort):
            h.clients[u].handle(request)
        assert h.clients[u].phase is ClientPhase.ABORTED
        return
    response = decode_response(h, u, h.clients[u].handle(request))
    peers = [peer for peer, _, _ in response.shares]
    assert len(peers) == len(set(peers))
    assert set(peers) == set(u2)
    for peer, kind, _ in response.shares:
        expected = wire.ShareKind.SELF_MASK if peer in survivors else wire.ShareKind.KEY
        assert kind is expected


# --------------------------------------------------------------------------- client: key list


def key_list_for(h: Harness, u: int) -> wire.KeyList:
    return wire.decode_key_list(h.prompts[u], h.config, u)


def forged_key_list(h: Harness, u: int, entries: list[wire.KeyEntry]) -> bytes:
    return wire.encode_key_list(h.config, u, wire.KeyList(tuple(entries)))


def fresh_public(i: int) -> bytes:
    return KeyPair.from_secret(bytes([i]) * 32).public


def inverse_alias(public: bytes) -> bytes:
    """u -> 1/u mod p: the same X25519 key plus the point of order 2, a different canonical
    encoding that every agreement treats as the original key."""
    p = 2**255 - 19
    alias = pow(int.from_bytes(public, "little"), p - 2, p).to_bytes(32, "little")
    assert alias != public and is_valid_public(alias)
    assert fingerprint(alias) == fingerprint(public)
    return alias


@pytest.mark.parametrize(
    ("case", "reason"),
    [
        ("omit_self", AbortReason.INCONSISTENT_VIEW),
        ("alter_own_c", AbortReason.INCONSISTENT_VIEW),
        ("alter_own_s", AbortReason.INCONSISTENT_VIEW),
        ("swap_own_keys", AbortReason.INCONSISTENT_VIEW),
        ("repeat_key_across_peers", AbortReason.INCONSISTENT_VIEW),
        ("repeat_own_key_for_peer", AbortReason.INCONSISTENT_VIEW),
        ("repeat_key_within_entry", AbortReason.INCONSISTENT_VIEW),
        ("alias_c_across_peers", AbortReason.INCONSISTENT_VIEW),
        ("alias_own_c_for_peer", AbortReason.INCONSISTENT_VIEW),
        ("below_threshold", AbortReason.BELOW_THRESHOLD),
        ("low_order_zero", AbortReason.KEY_AGREEMENT_FAILED),
        ("low_order_one", AbortReason.KEY_AGREEMENT_FAILED),
    ],
)
def test_bad_key_list_is_refused(case: str, reason: AbortReason) -> None:
    h = Harness()
    h.step()
    u = 1
    entries = list(key_list_for(h, u).entries)
    mine = entries[u]
    assert mine.client == u
    if case == "omit_self":
        entries.pop(u)
    elif case == "alter_own_c":
        entries[u] = dataclasses.replace(mine, c_public=fresh_public(7))
    elif case == "alter_own_s":
        entries[u] = dataclasses.replace(mine, s_public=fresh_public(7))
    elif case == "swap_own_keys":
        entries[u] = dataclasses.replace(mine, c_public=mine.s_public, s_public=mine.c_public)
    elif case == "repeat_key_across_peers":
        entries[3] = dataclasses.replace(entries[3], s_public=entries[2].c_public)
    elif case == "repeat_own_key_for_peer":
        entries[4] = dataclasses.replace(entries[4], c_public=mine.c_public)
    elif case == "repeat_key_within_entry":
        entries[0] = dataclasses.replace(entries[0], s_public=entries[0].c_public)
    elif case == "alias_c_across_peers":
        entries[3] = dataclasses.replace(entries[3], c_public=inverse_alias(entries[2].c_public))
    elif case == "alias_own_c_for_peer":
        entries[4] = dataclasses.replace(entries[4], c_public=inverse_alias(mine.c_public))
    elif case == "below_threshold":
        entries = entries[:2]  # clients 0 and 1, t = 3
    elif case == "low_order_zero":
        entries[3] = dataclasses.replace(entries[3], c_public=LOW_ORDER_KEYS[0])
    elif case == "low_order_one":
        entries[3] = dataclasses.replace(entries[3], c_public=LOW_ORDER_KEYS[1])
    assert_refuses(h.clients[u], forged_key_list(h, u, entries), reason)


@pytest.mark.parametrize("own", [False, True], ids=["across_peers", "own_key"])
def test_mask_key_alias_is_refused_before_masking(own: bool) -> None:
    """An s^PK re-spelled as another u of the same key passes every byte check of the key list;
    the client catches it when its mask agreements collide, before it sends a masked input."""
    h = Harness()
    h.step()
    u = 1
    entries = list(key_list_for(h, u).entries)
    source = entries[u] if own else entries[2]
    entries[3] = dataclasses.replace(entries[3], s_public=inverse_alias(source.s_public))
    client = h.clients[u]
    client.handle(forged_key_list(h, u, entries))  # c keys are fine: it shares as usual
    assert client.phase is ClientPhase.AWAIT_SHARES
    junk = bytes(wire.SHARE_CIPHERTEXT_SIZE)  # unreadable shares are tolerated, aliases are not
    forward = wire.ShareForward(tuple((v, junk) for v in (0, 2, 3, 4)))
    assert_refuses(
        client,
        wire.encode_share_forward(h.config, u, forward),
        AbortReason.INCONSISTENT_VIEW,
    )


def test_low_order_mask_key_is_refused_before_masking() -> None:
    """A peer's s^PK of low order passes the key-list checks but the client refuses to mask.

    The forged key list reaches client 0 only; for 0 to get a ShareForward at all, its reply's
    echo is forged too (to the digest of the key list the server did send it), as an adversary
    on the wire could do: the prompt echo is no authentication."""
    h = Harness()
    h.step()
    u = 0
    entries = list(key_list_for(h, u).entries)
    entries[2] = dataclasses.replace(entries[2], s_public=LOW_ORDER_KEYS[0])
    reply = h.clients[u].handle(forged_key_list(h, u, entries))
    genuine = wire.prompt_digest(h.prompts[u])
    assert wire.decode_share_keys(reply, h.config, u).prompt != genuine
    reply = re_echo(h.config, h.server.phase.value, u, reply, genuine)
    h.deliver({**h.replies(skip=[u]), u: reply})
    h.close()
    assert h.server.drops == []
    assert_refuses(h.clients[u], h.prompts[u], AbortReason.KEY_AGREEMENT_FAILED)


@pytest.mark.parametrize("peer", [4, 0])  # 4 is not in U1; 0 is the recipient itself
def test_shares_forwarded_from_unknown_peer_are_refused(peer: int) -> None:
    h = Harness(n=5, t=2)
    h.step(skip=[4])  # client 4 is not in U1
    h.step()
    forward = wire.decode_share_forward(h.prompts[0], h.config, 0)
    items = sorted([*forward.ciphertexts, (peer, bytes(wire.SHARE_CIPHERTEXT_SIZE))])
    data = wire.encode_share_forward(h.config, 0, wire.ShareForward(tuple(items)))
    assert_refuses(h.clients[0], data, AbortReason.INCONSISTENT_VIEW)


def test_share_forward_with_fewer_than_t_clients_is_refused() -> None:
    h = Harness(n=5, t=4)
    h.step()
    h.step()
    forward = wire.decode_share_forward(h.prompts[0], h.config, 0)
    forged = wire.ShareForward(forward.ciphertexts[:2])  # 0 plus two peers: 3 < t
    data = wire.encode_share_forward(h.config, 0, forged)
    assert_refuses(h.clients[0], data, AbortReason.BELOW_THRESHOLD)


# --------------------------------------------------------------------------- client: phases


def test_client_phases_and_wrong_phase_calls() -> None:
    h = Harness()
    c = h.clients[0]

    def phase() -> ClientPhase:  # a call, so that mypy does not narrow c.phase between steps
        return c.phase

    assert phase() is ClientPhase.NEW
    with pytest.raises(StateError):
        c.handle(b"anything")  # nothing to handle before start()
    h.deliver(h.replies())
    assert phase() is ClientPhase.AWAIT_KEY_LIST
    with pytest.raises(StateError):
        c.start()
    h.close()
    h.step()
    assert phase() is ClientPhase.AWAIT_SHARES
    h.step()
    assert phase() is ClientPhase.AWAIT_UNMASK_REQUEST
    h.step()
    assert phase() is ClientPhase.COMPLETED
    with pytest.raises(StateError):
        c.start()
    with pytest.raises(StateError):
        c.handle(b"")


def test_client_rejects_bad_construction() -> None:
    h = Harness()
    config, x, rand = h.config, h.inputs[0], h.rands[0]
    assert rand_size(config) == 3 * 32 + 2 * (config.threshold - 1) * 48
    assert len(rand) == rand_size(config)
    with pytest.raises(ConfigError):
        Client(config, 0, x, rand[:-1])
    with pytest.raises(ConfigError):
        Client(config, 0, x, rand + b"\x00")
    with pytest.raises(ConfigError):
        Client(config, config.num_clients, x, rand)
    with pytest.raises(ConfigError):
        Client(config, -1, x, rand)
    with pytest.raises(ConfigError):
        Client(config, 0, x[:-1], rand)
    with pytest.raises(ConfigError):
        Client(config, 0, x.astype(np.float64), rand)
    with pytest.raises(ConfigError):
        Client(config, 0, x.astype(np.int64), rand)
    small = RoundConfig(num_clients=3, threshold=2, dim=2, bits=5, session_nonce=bytes(32))
    with pytest.raises(ConfigError):
        Client(small, 0, np.array([3, 32], dtype=np.uint64), bytes(rand_size(small)))
    assert Client(small, 0, np.array([3, 31], dtype=np.uint64), bytes(rand_size(small)))


def test_fixed_rand_makes_the_client_deterministic() -> None:
    h = Harness()
    twin = Client(h.config, 0, h.inputs[0], h.rands[0])
    assert twin.start() == h.clients[0].start()


def test_client_forgets_each_secret_once_it_is_used() -> None:
    """The sharing coefficients and c_u^SK go after ShareKeys, x_u, b_u and s_u^SK after
    MaskedInput (the buffer of x_u too, not just a view of it), the held shares after Unmasking."""
    h = Harness()
    c = h.clients[0]
    x_buffer = c._x
    h.step()
    h.step()
    assert c._share_rand == b"" and c._b != b""
    assert c._c is None and c._s is not None  # c_u^SK only keys the share encryption
    h.step()
    assert c._x.size == 0 and c._x.base is None and not np.shares_memory(c._x, x_buffer)
    assert c._b == b"" and c._s is None and c._held
    h.step()
    assert c.phase is ClientPhase.COMPLETED and c._held == {}
    assert h.server.result is not None
    assert h.server.result.vector.tolist() == h.plain_sum(range(5))


# --------------------------------------------------------------------------- server


def test_server_phases_and_advance_after_completion() -> None:
    h = Harness()
    s = h.server
    assert s.phase is ServerPhase.ADVERTISE_KEYS
    assert not s.ready
    h.deliver(h.replies())
    assert s.ready
    assert s.live == frozenset(range(5))
    for phase in (ServerPhase.SHARE_KEYS, ServerPhase.MASKED_INPUT, ServerPhase.UNMASKING):
        h.close()
        assert s.phase is phase
        h.deliver(h.replies())
    assert h.close() == {}
    assert s.phase is ServerPhase.COMPLETED
    assert s.result is not None
    assert [int(v) for v in s.result.vector] == h.plain_sum(range(5))
    with pytest.raises(StateError):
        s.advance()
    # Late traffic is ignored, neither raising nor recorded as a drop.
    s.receive(0, b"late")
    s.receive(99, b"late")
    assert s.drops == []
    assert s.phase is ServerPhase.COMPLETED


def test_server_below_threshold_aborts_and_stays_aborted() -> None:
    h = Harness(n=5, t=4)
    h.step()
    h.deliver(h.replies(skip=[0, 1]))
    with pytest.raises(ProtocolAbort) as info:
        h.server.advance()
    assert info.value.reason is AbortReason.BELOW_THRESHOLD
    assert h.server.phase is ServerPhase.ABORTED
    assert h.server.abort is info.value
    assert h.server.result is None
    with pytest.raises(StateError):
        h.server.advance()
    h.server.receive(2, b"late")  # ignored


def test_server_timeouts_are_recorded() -> None:
    h = Harness()
    h.deliver(h.replies(skip=[3]))
    assert not h.server.ready
    h.close()
    assert [(d.client, d.phase, d.reason) for d in h.server.drops] == [
        (3, ServerPhase.ADVERTISE_KEYS, DropReason.TIMED_OUT)
    ]
    assert sorted(h.prompts) == [0, 1, 2, 4]


def test_server_keeps_the_first_message_of_a_client() -> None:
    h = Harness()
    first = h.replies()
    impostor = Client(h.config, 0, h.inputs[0], bytes(rand_size(h.config))).start()
    assert impostor != first[0]
    h.deliver(first)
    h.server.receive(0, impostor)  # a valid but different second advertisement
    h.server.receive(1, b"garbage after a good message")
    h.server.receive(2, first[2])  # a plain retransmission
    h.close()
    assert h.server.drops == []
    entries = key_list_for(h, 3).entries
    advertised = wire.decode_advertise_keys(first[0], h.config, 0)
    assert (entries[0].c_public, entries[0].s_public) == (advertised.c_public, advertised.s_public)

    h.step()
    masked = h.replies()
    h.deliver(masked)
    zeros = np.zeros(h.config.dim, dtype=ring_dtype(h.config.bits))
    echo = wire.decode_masked_input(masked[0], h.config, 0).prompt  # the genuine echo
    forged = wire.encode_masked_input(h.config, 0, wire.MaskedInput(zeros, echo))
    h.server.receive(0, forged)  # would change the sum if it counted
    h.server.receive(1, masked[1])  # counted once only
    h.close()
    responses = h.replies()
    h.deliver(responses)
    h.server.receive(2, responses[2][:10])  # a broken repeat after a good response
    h.close()
    assert h.server.drops == []
    assert h.server.result is not None
    assert [int(v) for v in h.server.result.vector] == h.plain_sum(range(5))


def test_sender_ids_must_be_integers() -> None:
    """0.0 == 0, but a float id is a transport bug and must not speak for client 0; numpy
    integers are ids like any other."""
    h = Harness()
    messages = h.replies()
    h.server.receive(0.0, messages[0])  # type: ignore[arg-type]
    h.server.receive("1", messages[1])  # type: ignore[arg-type]
    assert h.server.live == frozenset() and h.server.drops == []
    h.server.receive(np.int64(0), messages[0])  # type: ignore[arg-type]
    h.deliver({u: m for u, m in messages.items() if u != 0})
    assert h.server.live == frozenset(range(5)) and h.server.ready
    assert all(type(u) is int for u in h.server.live)
    h.close()
    finish(h)
    assert h.server.result is not None
    assert h.server.result.vector.tolist() == h.plain_sum(range(5))


def test_unmask_response_repr_hides_the_shares() -> None:
    h = Harness()
    to_unmasking(h)
    response = h.replies()[0]
    msg = wire.decode_unmask_response(response, h.config, 0)
    assert msg.shares
    assert all(str(value) not in repr(msg) for _, _, value in msg.shares)
    assert "shares" not in repr(msg)


def test_a_dropped_client_cannot_rejoin() -> None:
    h = Harness()
    good = h.replies()
    h.server.receive(0, b"junk")
    h.deliver(good)  # 0's valid message now comes too late
    h.close()
    assert [(d.client, d.reason) for d in h.server.drops] == [(0, DropReason.DECODE_FAILED)]
    assert sorted(h.prompts) == [1, 2, 3, 4]
    h.server.receive(0, good[0])  # neither accepted nor dropped again
    assert 0 not in h.server.live
    assert len(h.server.drops) == 1


def test_message_for_another_phase_is_unexpected() -> None:
    h = Harness()
    adverts = h.replies()
    h.deliver(adverts)
    h.close()
    h.server.receive(0, adverts[0])  # AdvertiseKeys replayed into SHARE_KEYS
    assert [(d.client, d.phase, d.reason) for d in h.server.drops] == [
        (0, ServerPhase.SHARE_KEYS, DropReason.UNEXPECTED_MESSAGE)
    ]


def test_server_drops_clients_with_repeated_public_keys() -> None:
    h = Harness(n=6, t=3)
    # Clients 1 and 4 are built from the same randomness: identical keys.
    h.clients[4] = Client(h.config, 4, h.inputs[4], h.rands[1])
    h.step()
    drops = sorted((d.client, d.phase, d.reason) for d in h.server.drops)
    assert drops == [
        (1, ServerPhase.ADVERTISE_KEYS, DropReason.INVALID_CONTENT),
        (4, ServerPhase.ADVERTISE_KEYS, DropReason.INVALID_CONTENT),
    ]
    assert sorted(h.prompts) == [0, 2, 3, 5]
    assert [e.client for e in key_list_for(h, 0).entries] == [0, 2, 3, 5]
    finish(h)
    assert h.server.result is not None
    assert list(h.server.result.survivors) == [0, 2, 3, 5]
    assert [int(v) for v in h.server.result.vector] == h.plain_sum([0, 2, 3, 5])


@pytest.mark.parametrize(
    "which",
    ["same_key_twice", "low_order_c", "low_order_s", "copied", "copied_top_bit", "copied_alias"],
)
def test_server_drops_bad_advertisements(which: str) -> None:
    h = Harness(n=5, t=3)
    messages = h.replies()
    good = wire.decode_advertise_keys(messages[2], h.config, 2)
    other = wire.decode_advertise_keys(messages[3], h.config, 3)
    if which == "same_key_twice":
        bad = wire.AdvertiseKeys(good.c_public, good.c_public)
    elif which == "low_order_c":
        bad = wire.AdvertiseKeys(LOW_ORDER_KEYS[1], good.s_public)
    elif which == "low_order_s":
        bad = wire.AdvertiseKeys(good.c_public, LOW_ORDER_KEYS[0])
    elif which == "copied":
        bad = wire.AdvertiseKeys(other.c_public, good.s_public)  # copies 3's key
    elif which == "copied_top_bit":
        # 3's key with bit 255 set: the same X25519 point spelled differently, refused as
        # non-canonical (the byte-level distinctness check alone would let it through).
        alias = other.s_public[:31] + bytes([other.s_public[31] | 0x80])
        bad = wire.AdvertiseKeys(good.c_public, alias)
    else:
        # 3's key with the order-2 point added: canonical and valid, but the same key to X25519,
        # so it is a copy; only the fingerprint comparison tells.
        bad = wire.AdvertiseKeys(good.c_public, inverse_alias(other.s_public))
    messages[2] = wire.encode_advertise_keys(h.config, 2, bad)
    h.deliver(messages)
    h.close()
    dropped = {d.client for d in h.server.drops}
    assert all(d.reason is DropReason.INVALID_CONTENT for d in h.server.drops)
    assert all(d.phase is ServerPhase.ADVERTISE_KEYS for d in h.server.drops)
    # A copied key drops both owners: the server cannot tell which one is the original.
    # (The top-bit spelling is refused as non-canonical before keys are compared: 3 stays.)
    assert dropped == ({2, 3} if which in ("copied", "copied_alias") else {2})
    finish(h)
    assert h.server.result is not None
    survivors = sorted(set(range(5)) - dropped)
    assert [int(v) for v in h.server.result.vector] == h.plain_sum(survivors)


@pytest.mark.parametrize("which", ["omit_peer", "include_self", "include_outsider", "empty"])
def test_server_drops_share_keys_not_covering_u1(which: str) -> None:
    h = Harness(n=6, t=3)
    h.step(skip=[5])  # U1 = 0..4
    messages = h.replies()
    msg = wire.decode_share_keys(messages[0], h.config, 0)
    items = list(msg.ciphertexts)
    assert [v for v, _ in items] == [1, 2, 3, 4]
    filler = bytes(wire.SHARE_CIPHERTEXT_SIZE)
    if which == "omit_peer":
        items = items[:-1]
    elif which == "include_self":
        items = [(0, filler), *items]
    elif which == "include_outsider":
        items = [*items, (5, filler)]
    else:
        items = []
    # The commitments are left as they were: only the ciphertext list is wrong.
    forged = wire.ShareKeys(tuple(items), msg.commitments, msg.prompt)
    messages[0] = wire.encode_share_keys(h.config, 0, forged)
    h.deliver(messages)
    h.close()
    assert_only_sender_dropped_at_share_keys(h, DropReason.INVALID_CONTENT)


def assert_only_sender_dropped_at_share_keys(h: Harness, reason: DropReason) -> None:
    """Client 0 (of U1 = 0..4) was dropped at ShareKeys for ``reason``; nobody is sent its
    ciphertexts and the round completes exactly over 1..4."""
    share_drops = [
        (d.client, d.reason) for d in h.server.drops if d.phase is ServerPhase.SHARE_KEYS
    ]
    assert share_drops == [(0, reason)]
    assert sorted(h.prompts) == [1, 2, 3, 4]
    for v in h.prompts:
        forward = wire.decode_share_forward(h.prompts[v], h.config, v)
        assert 0 not in [u for u, _ in forward.ciphertexts]
    h.step()
    h.step()
    assert h.server.result is not None
    assert [int(v) for v in h.server.result.vector] == h.plain_sum([1, 2, 3, 4])


Commitment = tuple[int, bytes, bytes]


def _outsider(cs: list[Commitment], v: int) -> list[Commitment]:
    return sorted([*cs, (v, bytes(32), bytes(32))])


COMMITMENT_EDITS: dict[str, tuple[Callable[[list[Commitment]], list[Commitment]], DropReason]] = {
    # Well-formed lists naming the wrong holders: the server's rule (holders == {u} + peers).
    "omit_peer": (lambda cs: [c for c in cs if c[0] != 3], DropReason.INVALID_CONTENT),
    "omit_last_peer": (lambda cs: cs[:-1], DropReason.INVALID_CONTENT),
    "omit_self": (lambda cs: [c for c in cs if c[0] != 0], DropReason.INVALID_CONTENT),
    "only_self": (lambda cs: cs[:1], DropReason.INVALID_CONTENT),
    "empty": (lambda cs: [], DropReason.INVALID_CONTENT),
    "add_outsider": (lambda cs: _outsider(cs, 5), DropReason.INVALID_CONTENT),  # 5 is not in U1
    "swap_peer_for_outsider": (
        lambda cs: _outsider([c for c in cs if c[0] != 2], 5),
        DropReason.INVALID_CONTENT,
    ),
    # Repeated or unsorted holders never get past the decoder, which requires strictly
    # increasing ids in every list (one canonical encoding per message).
    "repeat_peer": (lambda cs: sorted([*cs, cs[2]]), DropReason.DECODE_FAILED),
    "repeat_instead_of_peer": (
        lambda cs: sorted([*(c for c in cs if c[0] != 3), cs[2]]),
        DropReason.DECODE_FAILED,
    ),
    "repeat_self": (lambda cs: [cs[0], *cs], DropReason.DECODE_FAILED),
    "unsorted": (lambda cs: [cs[1], cs[0], *cs[2:]], DropReason.DECODE_FAILED),
    "id_out_of_range": (lambda cs: _outsider(cs, 6), DropReason.DECODE_FAILED),  # n = 6
}


@pytest.mark.parametrize("which", list(COMMITMENT_EDITS))
def test_server_drops_share_keys_with_wrong_commitment_holders(which: str) -> None:
    """The ciphertexts go to exactly U1's peers, but the commitment list does not name exactly
    the holders {u} + peers: the sender is dropped at ShareKeys and the round goes on."""
    edit, reason = COMMITMENT_EDITS[which]
    h = Harness(n=6, t=3)
    h.step(skip=[5])  # U1 = 0..4
    messages = h.replies()
    msg = wire.decode_share_keys(messages[0], h.config, 0)
    assert [v for v, _, _ in msg.commitments] == [0, 1, 2, 3, 4]
    commitments = edit(list(msg.commitments))
    assert commitments != list(msg.commitments)
    forged = wire.ShareKeys(msg.ciphertexts, tuple(commitments), msg.prompt)
    messages[0] = wire.encode_share_keys(h.config, 0, forged)
    h.deliver(messages)
    h.close()
    assert_only_sender_dropped_at_share_keys(h, reason)


def test_client_commits_to_exactly_the_shares_it_sends() -> None:
    """Each client's ShareKeys commits, for every holder in U1 (itself included), to the very
    share of s^SK and of b that the holder decrypts (or, for itself, keeps)."""
    h = Harness(n=5, t=3)
    h.step(skip=[4])  # U1 = 0..3
    share_keys = h.replies()
    h.deliver(share_keys)
    h.close()
    h.deliver(h.replies())  # the clients open their forwarded shares here
    sid = h.config.session_id
    for u, data in share_keys.items():
        msg = wire.decode_share_keys(data, h.config, u)
        assert [v for v, _, _ in msg.commitments] == [0, 1, 2, 3]
        for v, c_key, c_mask in msg.commitments:
            key_share, mask_share = h.clients[v]._held[u]
            assert c_key == share_commitment(sid, u, v, wire.ShareKind.KEY, key_share)
            assert c_mask == share_commitment(sid, u, v, wire.ShareKind.SELF_MASK, mask_share)
            assert c_key != c_mask


def reencode_response(
    h: Harness,
    u: int,
    data: bytes,
    edit: Callable[[int, wire.ShareKind, int], tuple[int, wire.ShareKind, int]],
) -> bytes:
    msg = decode_response(h, u, data)
    shares = tuple(edit(*share) for share in msg.shares)
    return wire.encode_unmask_response(h.config, u, wire.UnmaskResponse(shares, msg.prompt))


@pytest.mark.parametrize("which", ["key_for_survivor", "mask_for_dropped", "unexpected_peer"])
def test_server_drops_unmask_response_with_wrong_share(which: str) -> None:
    h = Harness(n=6, t=3)
    to_unmasking(h, share_skip=[5], masked_skip=[4])  # U2 = 0..4, U3 = 0..3
    responses = h.replies()
    if which == "key_for_survivor":

        def edit(p: int, k: wire.ShareKind, v: int) -> tuple[int, wire.ShareKind, int]:
            return (p, wire.ShareKind.KEY if p == 1 else k, v)

        responses[0] = reencode_response(h, 0, responses[0], edit)
    elif which == "mask_for_dropped":

        def edit(p: int, k: wire.ShareKind, v: int) -> tuple[int, wire.ShareKind, int]:
            return (p, wire.ShareKind.SELF_MASK if p == 4 else k, v)

        responses[0] = reencode_response(h, 0, responses[0], edit)
    else:
        msg = decode_response(h, 0, responses[0])
        shares = (*msg.shares, (5, wire.ShareKind.KEY, 1))  # 5 never shared with anyone
        forged = wire.UnmaskResponse(shares, msg.prompt)
        responses[0] = wire.encode_unmask_response(h.config, 0, forged)
    h.deliver(responses)
    h.close()
    last = h.server.drops[-1]
    assert (last.client, last.phase, last.reason) == (
        0,
        ServerPhase.UNMASKING,
        DropReason.INVALID_CONTENT,
    )
    assert h.server.result is not None
    assert list(h.server.result.survivors) == [0, 1, 2, 3]
    assert list(h.server.result.responders) == [1, 2, 3]
    assert [int(v) for v in h.server.result.vector] == h.plain_sum([0, 1, 2, 3])


# --------------------------------------------------------------------------- prompt echo
# Every reply starts with the digest of the prompt it answers; the server drops (PROMPT_MISMATCH)
# a reply that echoes anything but the digest of the prompt it sent that client this phase.

PROMPTED_PHASES = [ServerPhase.SHARE_KEYS, ServerPhase.MASKED_INPUT, ServerPhase.UNMASKING]
"""The server phases whose replies answer a prompt, in round order."""


def reply_echo(h: Harness, u: int, data: bytes) -> bytes:
    """The prompt echo of client ``u``'s reply ``data`` in the server's current phase."""
    decode, _ = REPLY_CODECS[h.server.phase.value]
    echo: bytes = decode(data, h.config, u).prompt
    return echo


def finish(h: Harness) -> None:
    """Run the harness to the end of the round."""
    while h.server.phase is not ServerPhase.COMPLETED:
        h.step()


def test_client_echoes_the_digest_of_each_prompt_it_answers() -> None:
    h = Harness()
    h.step()
    for phase in PROMPTED_PHASES:
        assert h.server.phase is phase
        replies = h.replies()
        echoes = {u: reply_echo(h, u, data) for u, data in replies.items()}
        for u, echo in echoes.items():
            assert echo == wire.prompt_digest(h.prompts[u]) == h.prompts[u][-32:]
        assert len(set(echoes.values())) == len(echoes)  # one digest per recipient
        h.deliver(replies)
        h.close()
    assert h.server.drops == []
    assert h.server.result is not None
    assert [int(v) for v in h.server.result.vector] == h.plain_sum(range(5))


ECHO_SOURCES = [
    (phase, source)
    for phase in PROMPTED_PHASES
    for source in ("other_client", "previous_prompt", "zeros", "own_reply")
    if not (phase is ServerPhase.SHARE_KEYS and source == "previous_prompt")
]


@pytest.mark.parametrize(("phase", "source"), ECHO_SOURCES, ids=str)
def test_server_drops_a_reply_echoing_another_prompt(phase: ServerPhase, source: str) -> None:
    """Client 1's genuine reply re-encoded to echo the digest of the prompt sent to client 2,
    of its own prompt of the previous round, 32 zeros, or its own previous reply: dropped with
    PROMPT_MISMATCH, and the round completes exactly without it."""
    h = Harness()
    previous: dict[int, bytes] = {}
    earlier_replies = h.replies()  # the AdvertiseKeys
    h.deliver(earlier_replies)
    h.close()
    while h.server.phase is not phase:
        previous = h.prompts
        earlier_replies = h.replies()
        h.deliver(earlier_replies)
        h.close()
    victim = 1
    if source == "other_client":
        echo = wire.prompt_digest(h.prompts[2])
    elif source == "previous_prompt":
        echo = wire.prompt_digest(previous[victim])
    elif source == "zeros":
        echo = bytes(32)
    else:
        echo = wire.prompt_digest(earlier_replies[victim])
    assert echo != wire.prompt_digest(h.prompts[victim])
    replies = h.replies()
    replies[victim] = re_echo(h.config, h.server.phase.value, victim, replies[victim], echo)
    h.deliver(replies)
    assert [(d.client, d.phase, d.reason) for d in h.server.drops] == [
        (victim, phase, DropReason.PROMPT_MISMATCH)
    ]
    assert h.server.ready and victim not in h.server.live
    h.close()
    finish(h)
    assert h.server.result is not None
    survivors = range(5) if phase is ServerPhase.UNMASKING else [0, 2, 3, 4]
    assert list(h.server.result.survivors) == list(survivors)
    assert list(h.server.result.responders) == [0, 2, 3, 4]
    assert [int(v) for v in h.server.result.vector] == h.plain_sum(survivors)


def _to_phase_with_replies(phase: ServerPhase) -> tuple[Harness, dict[int, bytes]]:
    """n = 5, t = 3; client 4 drops before its masked input (so shares of s_4^SK are wanted).
    Deterministic: two calls give the same round, message for message."""
    h = Harness(n=5, t=3, seed=3)
    h.step()
    if phase is not ServerPhase.SHARE_KEYS:
        h.step()
        h.step(skip=[4])
    assert h.server.phase is phase
    return h, h.replies()


@pytest.mark.parametrize("which", ["uncovered_peer", "bad_share", "wrong_kind"])
def test_echo_is_checked_before_the_content(which: str) -> None:
    """A reply with bad content is dropped for its content when it echoes the right prompt,
    and with PROMPT_MISMATCH when it also echoes a wrong one: the echo is checked first."""
    phase = ServerPhase.SHARE_KEYS if which == "uncovered_peer" else ServerPhase.UNMASKING
    content_reason = DropReason.BAD_SHARE if which == "bad_share" else DropReason.INVALID_CONTENT

    def spoil(msg: Any, echo: bytes | None) -> Any:
        """``msg`` with bad content, and echoing ``echo`` instead if one is given."""
        if which == "uncovered_peer":
            bad = dataclasses.replace(msg, ciphertexts=msg.ciphertexts[:-1])
        elif which == "bad_share":
            shares = [(p, k, (v + 1) % shamir.PRIME) for p, k, v in msg.shares]
            bad = dataclasses.replace(msg, shares=tuple(shares))
        else:
            shares = [(p, wire.ShareKind.KEY, v) for p, _, v in msg.shares]
            bad = dataclasses.replace(msg, shares=tuple(shares))
        return bad if echo is None else dataclasses.replace(bad, prompt=echo)

    outcomes = []
    for echo_ok in (True, False):
        h, replies = _to_phase_with_replies(phase)
        echo = None if echo_ok else wire.prompt_digest(h.prompts[1])
        change = functools.partial(spoil, echo=echo)  # binds this pass's echo (ruff B023)
        h.server.receive(0, edit_reply(h.config, h.server.phase.value, 0, replies[0], change))
        outcomes.append([(d.client, d.phase, d.reason) for d in h.server.drops if d.client == 0])
    assert outcomes == [[(0, phase, content_reason)], [(0, phase, DropReason.PROMPT_MISMATCH)]]


def forged_prompt(h: Harness, u: int) -> bytes:
    """A prompt for ``u`` in the server's current phase that an honest client cannot tell from
    a genuine one, but that the server did not send: in the KeyList peer 3's s^PK is another
    valid key, the ShareForward lacks its first ciphertext, the UnmaskRequest omits survivor 3."""
    phase = h.server.phase
    if phase is ServerPhase.SHARE_KEYS:
        entries = list(key_list_for(h, u).entries)
        entries[3] = dataclasses.replace(entries[3], s_public=fresh_public(7))
        return forged_key_list(h, u, entries)
    if phase is ServerPhase.MASKED_INPUT:
        forward = wire.decode_share_forward(h.prompts[u], h.config, u)
        return wire.encode_share_forward(h.config, u, wire.ShareForward(forward.ciphertexts[1:]))
    assert phase is ServerPhase.UNMASKING
    request = wire.decode_unmask_request(h.prompts[u], h.config, u)
    survivors = tuple(v for v in request.survivors if v != 3)
    return wire.encode_unmask_request(h.config, u, wire.UnmaskRequest(survivors))


@pytest.mark.parametrize("phase", PROMPTED_PHASES, ids=lambda p: p.value)
def test_client_answering_an_altered_prompt_is_dropped_and_the_sum_is_exact(
    phase: ServerPhase,
) -> None:
    """Client 0 gets an altered prompt it accepts (a replaced peer key, a withheld ciphertext,
    a survivor list short of a survivor), answers it echoing what it got, and is dropped with
    PROMPT_MISMATCH; the others' sum is exact (0's input too, if it was already summed)."""
    h = Harness(n=5, t=3)
    h.step()
    while h.server.phase is not phase:
        h.step()
    forged = forged_prompt(h, 0)
    assert forged != h.prompts[0]
    replies = h.replies(skip=[0])
    replies[0] = h.clients[0].handle(forged)  # accepted: nothing the client can check
    assert reply_echo(h, 0, replies[0]) == wire.prompt_digest(forged)
    h.deliver(replies)
    assert [(d.client, d.phase, d.reason) for d in h.server.drops] == [
        (0, phase, DropReason.PROMPT_MISMATCH)
    ]
    h.close()
    finish(h)
    assert h.server.result is not None
    survivors = range(5) if phase is ServerPhase.UNMASKING else range(1, 5)
    assert list(h.server.result.survivors) == list(survivors)
    assert list(h.server.result.responders) == [1, 2, 3, 4]
    assert [int(v) for v in h.server.result.vector] == h.plain_sum(survivors)


@settings(max_examples=60)
@given(n=st.integers(4, 6), data=st.data())
def test_only_the_genuine_unmask_request_gets_an_answer_used(n: int, data: st.DataObject) -> None:
    """Any survivor list sent to one client of U3 in place of the genuine one: the client
    refuses it, or answers and is dropped with PROMPT_MISMATCH - unless the list is U3 itself,
    which re-encodes to the genuine prompt byte for byte. The round then releases exactly
    sum(U3), or aborts with BELOW_THRESHOLD when fewer than t responders remain."""
    t = data.draw(st.integers(1, n - 1), label="t")
    share_skip = data.draw(
        st.sets(st.integers(0, n - 1), max_size=min(1, n - t)), label="share_skip"
    )
    u2 = sorted(set(range(n)) - share_skip)
    masked_skip = data.draw(
        st.sets(st.sampled_from(u2), max_size=min(1, len(u2) - t)), label="masked_skip"
    )
    h = Harness(n=n, t=t, seed=n)
    to_unmasking(h, share_skip=share_skip, masked_skip=masked_skip)
    u3 = sorted(h.prompts)
    u = data.draw(st.sampled_from(u3), label="client")
    # u and at least t - 1 other ids of U2: lists the client accepts.
    plausible = st.sets(st.sampled_from(u2), min_size=t - 1).map(lambda xs: sorted(xs | {u}))
    survivors = data.draw(
        st.one_of(st.just(u3), plausible, st.sets(st.integers(0, n - 1)).map(sorted)),
        label="survivors",
    )
    request = wire.encode_unmask_request(h.config, u, wire.UnmaskRequest(tuple(survivors)))
    genuine = survivors == u3
    assert (request == h.prompts[u]) == genuine
    replies = h.replies(skip=[u])
    try:
        replies[u] = h.clients[u].handle(request)
    except ClientAbort:
        assert not genuine
        outcome = "refused"
    else:
        outcome = "genuine" if genuine else "answered"
    event(outcome)
    h.deliver(replies)
    drops = [(d.client, d.reason) for d in h.server.drops if d.phase is ServerPhase.UNMASKING]
    assert drops == ([(u, DropReason.PROMPT_MISMATCH)] if outcome == "answered" else [])
    responders = u3 if genuine else [v for v in u3 if v != u]
    try:
        h.server.advance()
    except ProtocolAbort as exc:
        assert len(responders) < t
        assert exc.reason is AbortReason.BELOW_THRESHOLD
        return
    assert h.server.result is not None
    assert list(h.server.result.survivors) == u3
    assert list(h.server.result.responders) == responders
    assert [int(v) for v in h.server.result.vector] == h.plain_sum(u3)


# --------------------------------------------------------------------------- unmasking shares

Tweak = Callable[[list[list[int]]], list[list[int]]]
"""Edits ``values[k][j]``: the share of secret k (0: s^SK, 1: b) for the j-th holder in id
order, before the owner commits to it and encrypts it."""


class InconsistentOwner(Client):
    """A client that commits to - and sends - shares that are not all on one polynomial. Its
    commitments match what it sends, so every holder's share passes the server's check."""

    def __init__(
        self, config: RoundConfig, client_id: int, x: npt.ArrayLike, rand: bytes, tweak: Tweak
    ) -> None:
        super().__init__(config, client_id, x, rand)
        self._tweak = tweak

    def _on_key_list(self, msg: wire.KeyList) -> bytes:
        honest = shamir.share

        def share(
            secrets: Sequence[bytes], xs: Iterable[int], threshold: int, rand: bytes
        ) -> list[list[int]]:
            return self._tweak(honest(secrets, xs, threshold, rand))

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(shamir, "share", share)
            return super()._on_key_list(msg)


def _dropped_key_harness(
    owner: int | None = None, tweak: Tweak | None = None
) -> tuple[Harness, dict[int, bytes]]:
    """n = 5, t = 3; client 4 drops after sharing, so the server must rebuild its s^SK from
    the t lowest-id responders 0, 1, 2 (x = 1, 2, 3). With ``tweak``, client ``owner`` is an
    :class:`InconsistentOwner`."""
    h = Harness(n=5, t=3, seed=3)
    if owner is not None:
        assert tweak is not None
        h.clients[owner] = InconsistentOwner(
            h.config, owner, h.inputs[owner], h.rands[owner], tweak
        )
    to_unmasking(h, masked_skip=[4])
    assert [(d.client, d.reason) for d in h.server.drops] == [(4, DropReason.TIMED_OUT)]
    return h, h.replies()


# Shares are checked against their owner's ShareKeys commitments before they are used: one that
# does not match drops its responder (BAD_SHARE), and none of that responder's shares counts.

LAMBDA_0 = shamir.lagrange_at_zero((1, 2, 3))[0]
"""Holder 0's Lagrange coefficient in the reconstructing set {0, 1, 2}."""


def steer(secret: int, target: int) -> int:
    """The change to holder 0's share that makes {0, 1, 2} reconstruct ``target``."""
    return (target - secret) * pow(LAMBDA_0, -1, shamir.PRIME) % shamir.PRIME


def key_secret(h: Harness, u: int) -> int:
    return int.from_bytes(h.rands[u][32:64], "big")  # s_u^SK, known to the test only


def mask_secret(h: Harness, u: int) -> int:
    return int.from_bytes(h.rands[u][64:96], "big")  # b_u


def assert_dropped_for_bad_share(h: Harness, responders: Collection[int]) -> None:
    unmask_drops = sorted(
        (d.client, d.reason) for d in h.server.drops if d.phase is ServerPhase.UNMASKING
    )
    assert unmask_drops == [(u, DropReason.BAD_SHARE) for u in sorted(responders)]
    for d in h.server.drops:
        if d.reason is DropReason.BAD_SHARE:
            assert "commitment" in d.detail


def assert_exact(h: Harness, responders: list[int]) -> None:
    assert h.server.result is not None
    assert h.server.abort is None
    assert list(h.server.result.survivors) == [0, 1, 2, 3]
    assert list(h.server.result.responders) == responders
    assert [int(v) for v in h.server.result.vector] == h.plain_sum([0, 1, 2, 3])


@pytest.mark.parametrize(
    ("responder", "peer"),
    [(0, 4), (0, 1), (0, 0), (1, 4), (2, 3), (3, 4)],
    ids=["key-of-dropped", "mask-of-peer", "own-mask", "key-by-1", "mask-by-2", "key-by-3"],
)
def test_altered_share_drops_its_responder_and_the_sum_is_exact(responder: int, peer: int) -> None:
    """A responder that returns a share other than the one its owner committed to is dropped
    with BAD_SHARE, none of its shares is used, and the t others still unmask exactly - whether
    or not the altered share was among the t lowest-id holders the server would have used."""
    h, responses = _dropped_key_harness()

    def edit(p: int, k: wire.ShareKind, v: int) -> tuple[int, wire.ShareKind, int]:
        return (p, k, (v + 1) % shamir.PRIME if p == peer else v)

    responses[responder] = reencode_response(h, responder, responses[responder], edit)
    h.deliver(responses)
    assert h.server.ready
    assert responder not in h.server.live
    assert_dropped_for_bad_share(h, [responder])
    h.close()
    assert_exact(h, [u for u in range(4) if u != responder])


@pytest.mark.parametrize(
    "target",
    ["key_other_secret", "key_above_2_256", "key_p_minus_1", "mask_above_2_256"],
)
def test_steered_shares_are_rejected_not_reconstructed(target: str) -> None:
    """Shares crafted (by a responder who knows the secret) so that the t lowest holders would
    reconstruct another valid key, or a field element >= 2^256: they no longer reach Lagrange
    interpolation at all - the responder is dropped and the result is exact."""
    h, responses = _dropped_key_harness()
    if target == "mask_above_2_256":
        peer, delta = 1, steer(mask_secret(h, 1), (1 << 256) + 1)
    else:
        goal = {
            "key_other_secret": key_secret(h, 0),  # a real secret key, just not 4's
            "key_above_2_256": (1 << 256) + 5,
            "key_p_minus_1": shamir.PRIME - 1,
        }[target]
        peer, delta = 4, steer(key_secret(h, 4), goal)

    def edit(p: int, k: wire.ShareKind, v: int) -> tuple[int, wire.ShareKind, int]:
        return (p, k, (v + delta) % shamir.PRIME if p == peer else v)

    responses[0] = reencode_response(h, 0, responses[0], edit)
    h.deliver(responses)
    assert_dropped_for_bad_share(h, [0])
    h.close()
    assert_exact(h, [1, 2, 3])


def test_bad_shares_leaving_fewer_than_t_responders_abort_below_threshold() -> None:
    h, responses = _dropped_key_harness()

    def edit(p: int, k: wire.ShareKind, v: int) -> tuple[int, wire.ShareKind, int]:
        return (p, k, shamir.PRIME - 1 - v)

    for u in (0, 3):
        responses[u] = reencode_response(h, u, responses[u], edit)
    h.deliver(responses)
    assert_dropped_for_bad_share(h, [0, 3])
    with pytest.raises(ProtocolAbort) as info:
        h.server.advance()
    assert info.value.reason is AbortReason.BELOW_THRESHOLD
    assert h.server.phase is ServerPhase.ABORTED
    assert h.server.result is None


def test_bad_share_leaving_fewer_than_t_shares_aborts_insufficient_shares() -> None:
    """t responders remain after the BAD_SHARE drop, but one of them never could read the
    dropped client's share: only t - 1 valid shares of s_4^SK, so the server must abort."""
    h = Harness(n=5, t=3, seed=3)
    h.step()

    def junk_to_3(u: int, data: bytes) -> bytes:
        if u != 4:
            return data
        msg = wire.decode_share_keys(data, h.config, 4)
        cts = tuple(
            (v, bytes(wire.SHARE_CIPHERTEXT_SIZE) if v == 3 else ct) for v, ct in msg.ciphertexts
        )
        return wire.encode_share_keys(h.config, 4, wire.ShareKeys(cts, msg.commitments, msg.prompt))

    h.step(edit=junk_to_3)
    h.step(skip=[4])
    responses = h.replies()
    assert 4 not in [p for p, _, _ in decode_response(h, 3, responses[3]).shares]

    def edit(p: int, k: wire.ShareKind, v: int) -> tuple[int, wire.ShareKind, int]:
        return (p, k, (v + 1) % shamir.PRIME if p == 4 else v)

    responses[0] = reencode_response(h, 0, responses[0], edit)
    h.deliver(responses)
    assert_dropped_for_bad_share(h, [0])
    assert h.server.live == frozenset({1, 2, 3})
    with pytest.raises(ProtocolAbort) as info:
        h.server.advance()
    assert info.value.reason is AbortReason.INSUFFICIENT_SHARES
    assert "client 4" in info.value.detail
    assert h.server.result is None


def test_too_few_shares_of_a_secret_abort_insufficient_shares() -> None:
    """Responders that withhold shares of the dropped client: t responders, < t shares."""
    h, responses = _dropped_key_harness()
    for u in (0, 1):
        msg = decode_response(h, u, responses[u])
        kept = tuple(s for s in msg.shares if s[0] != 4)
        responses[u] = wire.encode_unmask_response(
            h.config, u, wire.UnmaskResponse(kept, msg.prompt)
        )
    h.deliver(responses)
    assert [d.client for d in h.server.drops] == [4]  # withholding is not a bad share
    with pytest.raises(ProtocolAbort) as info:
        h.server.advance()
    assert info.value.reason is AbortReason.INSUFFICIENT_SHARES
    assert h.server.result is None


# --------------------------------------------------------------------------- inconsistent owner
# An owner that commits to the shares it sends, but whose shares are not on one polynomial, is
# the one case left where the shares the server accepts can reconstruct a wrong secret.


def shift(k: int, j: int, delta: int) -> Tweak:
    def tweak(values: list[list[int]]) -> list[list[int]]:
        out = [list(row) for row in values]
        out[k][j] = (out[k][j] + delta) % shamir.PRIME
        return out

    return tweak


def test_inconsistent_owner_shares_pass_their_commitments() -> None:
    """The tweak really reaches the wire: holder 0's share of s_4^SK differs from the honest
    one, and the server accepts it (it matches 4's commitment)."""
    honest_h, honest = _dropped_key_harness()
    h, responses = _dropped_key_harness(4, shift(0, 0, 1))

    def share_of_4(hh: Harness, data: bytes) -> int:
        return next(v for p, _, v in decode_response(hh, 0, data).shares if p == 4)

    assert share_of_4(h, responses[0]) == (share_of_4(honest_h, honest[0]) + 1) % shamir.PRIME
    h.deliver(responses)
    assert h.server.ready
    assert h.server.live == frozenset(range(4))
    assert [d.client for d in h.server.drops] == [4]


@pytest.mark.parametrize(
    ("owner", "k", "target", "detail"),
    [
        (4, 0, None, "advertised public key"),  # another 32-byte value: the wrong key
        (4, 0, (1 << 256) + 5, "s_u^SK"),  # not a 32-byte value at all
        (4, 0, shamir.PRIME - 1, "s_u^SK"),
        (1, 1, (1 << 256) + 1, "b_u"),  # a survivor's self-mask seed
    ],
    ids=["key-wrong", "key-above-2_256", "key-p-minus-1", "mask-above-2_256"],
)
def test_owner_with_inconsistent_shares_aborts_inconsistent_shares(
    owner: int, k: int, target: int | None, detail: str
) -> None:
    """An owner that commits to shares not on one polynomial: every share passes its commitment,
    so nobody is dropped, but the t lowest holders reconstruct something that is not the
    owner's secret - the server aborts instead of releasing a wrong aggregate."""
    probe = Harness(n=5, t=3, seed=3)  # same seed: the owner's secrets, to steer towards target
    secret = (key_secret if k == 0 else mask_secret)(probe, owner)
    delta = 1 if target is None else steer(secret, target)
    h, responses = _dropped_key_harness(owner, shift(k, 0, delta))
    h.deliver(responses)
    assert h.server.ready
    assert [d.client for d in h.server.drops] == [4]  # no BAD_SHARE: the shares are as committed
    with pytest.raises(ProtocolAbort) as info:
        h.server.advance()
    assert info.value.reason is AbortReason.INCONSISTENT_SHARES
    assert detail in info.value.detail
    assert f"client {owner}" in info.value.detail
    assert h.server.phase is ServerPhase.ABORTED
    assert h.server.result is None


def test_inconsistent_share_outside_the_reconstructing_set_is_harmless() -> None:
    """Holder 3's share of s_4^SK is off the polynomial, but the server rebuilds from holders
    0, 1, 2: the key matches s_4^PK and the aggregate is exact."""
    h, responses = _dropped_key_harness(4, shift(0, 3, 1))
    h.deliver(responses)
    h.close()
    assert [d.client for d in h.server.drops] == [4]
    assert_exact(h, [0, 1, 2, 3])


# --------------------------------------------------------------------------- tampered responses


@st.composite
def altered_value(draw: st.DrawFn, old: int) -> int:
    new = draw(
        st.one_of(
            st.integers(0, shamir.PRIME - 1),
            st.sampled_from([0, 1, (1 << 256) - 1, shamir.PRIME - 1]),
            st.integers(-3, 3).map(lambda d: (old + d) % shamir.PRIME),
        )
    )
    return new if new != old else (old + 1) % shamir.PRIME


@settings(max_examples=60)
@given(n=st.integers(4, 7), data=st.data())
def test_altered_shares_never_yield_a_wrong_aggregate(n: int, data: st.DataObject) -> None:
    """Any share values in any responses altered (and re-encoded with a valid digest), while
    other responders may withhold shares or stay silent: each altering responder is dropped with
    BAD_SHARE, and the round releases exactly sum(U3) if t valid shares of every needed secret
    remain, else aborts with BELOW_THRESHOLD (< t responders) or INSUFFICIENT_SHARES."""
    t = data.draw(st.one_of(st.integers(1, n - 2), st.integers(1, n)), label="t")
    # At most one client lost before each of MaskedInput and Unmasking (so that U3 stays
    # larger than t more often than not), and both kinds of secrets are needed.
    share_skip = data.draw(
        st.sets(st.integers(0, n - 1), max_size=min(1, n - t)), label="share_skip"
    )
    u2 = sorted(set(range(n)) - share_skip)
    masked_skip = data.draw(
        st.sets(st.sampled_from(u2), max_size=min(1, len(u2) - t)), label="masked_skip"
    )
    u3 = sorted(set(u2) - masked_skip)
    h = Harness(n=n, t=t, seed=n)
    to_unmasking(h, share_skip=share_skip, masked_skip=masked_skip)
    responses = h.replies()
    assert sorted(responses) == u3

    role = st.sampled_from(
        ["honest", "honest", "honest", "alter", "withhold", "withhold", "silent"]
    )
    roles = {u: data.draw(role, label=f"role of {u}") for u in u3}
    if "alter" not in roles.values():
        roles[data.draw(st.sampled_from(u3), label="forced alterer")] = "alter"
    counted: dict[int, set[int]] = {}  # needed secret -> responders whose share of it counts
    for u in u3:
        msg = decode_response(h, u, responses[u])
        shares = list(msg.shares)
        if roles[u] == "alter":
            which = data.draw(
                st.sets(st.integers(0, len(shares) - 1), min_size=1), label=f"altered by {u}"
            )
            for i in sorted(which):
                p, k, v = shares[i]
                shares[i] = (p, k, data.draw(altered_value(v), label=f"{u}: share of {p}"))
        elif roles[u] == "withhold":
            kept = data.draw(st.lists(st.booleans(), min_size=len(shares), max_size=len(shares)))
            shares = [s for s, keep in zip(shares, kept, strict=True) if keep]
        if roles[u] in ("honest", "withhold"):
            for p, _, _ in shares:
                counted.setdefault(p, set()).add(u)
        if roles[u] != "silent":
            response = wire.UnmaskResponse(tuple(shares), msg.prompt)
            h.server.receive(u, wire.encode_unmask_response(h.config, u, response))

    alterers = [u for u in u3 if roles[u] == "alter"]
    assert_dropped_for_bad_share(h, alterers)
    live = sorted(u for u in u3 if roles[u] in ("honest", "withhold"))
    assert sorted(h.server.live) == live
    if len(live) < t:
        expected: AbortReason | None = AbortReason.BELOW_THRESHOLD
    elif any(len(counted.get(p, ())) < t for p in u2):
        expected = AbortReason.INSUFFICIENT_SHARES
    else:
        expected = None
    event(f"outcome: {'exact' if expected is None else expected.name}")
    try:
        h.server.advance()
    except ProtocolAbort as exc:
        assert exc.reason is expected
        assert h.server.phase is ServerPhase.ABORTED
        assert h.server.result is None
    else:
        assert expected is None
        assert h.server.result is not None
        assert list(h.server.result.survivors) == u3
        assert list(h.server.result.responders) == live
        assert [int(v) for v in h.server.result.vector] == h.plain_sum(u3)
    # Every alterer was dropped for its bad share, every silent one timed out, no one else.
    unmask_drops = sorted(
        (d.client, d.reason) for d in h.server.drops if d.phase is ServerPhase.UNMASKING
    )
    assert unmask_drops == sorted(
        [(u, DropReason.BAD_SHARE) for u in alterers]
        + [(u, DropReason.TIMED_OUT) for u in u3 if roles[u] == "silent"]
    )


# --------------------------------------------------------------------------- server memory


def _walk(obj: Any, seen: set[int]) -> Iterator[Any]:
    if id(obj) in seen:
        return
    seen.add(id(obj))
    yield obj
    if isinstance(obj, dict):
        for k, v in obj.items():
            yield from _walk(k, seen)
            yield from _walk(v, seen)
    elif isinstance(obj, (list, tuple, set, frozenset)):
        for v in obj:
            yield from _walk(v, seen)
    elif dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        for f in dataclasses.fields(obj):
            yield from _walk(getattr(obj, f.name), seen)


@pytest.mark.parametrize("bits", [17, 32, 64])
def test_server_holds_one_running_sum(bits: int) -> None:
    n, dim = 6, 128
    h = Harness(n=n, t=3, dim=dim, bits=bits)
    h.step()
    h.step()
    width = h.config.width
    # Each owner's commitments: a compact array of holder ids and one 64-byte-per-holder blob,
    # all smaller than a masked vector.
    assert n * 2 * 32 < dim * width
    for u, data in h.replies().items():
        h.server.receive(u, data)
        state = list(_walk(vars(h.server), set()))
        # The holder ids are array.array, not numpy: the running sum is the only ndarray.
        arrays = [o for o in state if isinstance(o, np.ndarray)]
        assert len(arrays) == 1, f"after client {u}"
        assert arrays[0] is h.server._sum
        assert h.server._sum.shape == (dim,)
        assert h.server._sum.dtype == ring_dtype(bits)
        assert h.server._sum.flags.owndata and h.server._sum.flags.writeable
        assert sorted(h.server._commitments) == list(range(n))
        for holders, blob in h.server._commitments.values():
            assert list(holders) == list(range(n)) and holders.itemsize == 4
            assert len(blob) == n * 2 * 32
        # No received vector kept as raw bytes either.
        big = [
            o
            for o in state
            if isinstance(o, (bytes, bytearray, memoryview)) and len(o) >= dim * width
        ]
        assert big == []
    h.close()
    h.step()
    assert h.server.result is not None
    assert [int(v) for v in h.server.result.vector] == h.plain_sum(range(n))
    # The round is over: the per-owner commitments are released with the shares, and no
    # holder-id array is left anywhere else in the server's state either.
    assert h.server._commitments == {}
    assert not any(isinstance(o, array.array) for o in _walk(vars(h.server), set()))
