"""The Client and Server state machines driven directly, with hand-made (malicious or buggy)
messages: what an honest client refuses, what the server drops, what it excludes and what it
aborts on, in both security modes and on both graphs.

A refusing client raises ClientAbort, returns no bytes, forgets its secrets, and from then on
can produce none; the server never raises for bad client bytes (it drops the sender with a
DropReason) and never releases a wrong aggregate when shares reconstruct wrongly.
"""

from __future__ import annotations

import array
import copy
import dataclasses
import functools
import pickle
from collections.abc import Callable, Collection, Iterator, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from replies import REPLY_CODECS, Round, edit_prompt, edit_reply, re_echo

from secagg import (
    AbortReason,
    Client,
    ClientAbort,
    ClientPhase,
    ConfigError,
    DropReason,
    ProtocolAbort,
    RoundConfig,
    ServerPhase,
    SigningKey,
    StateError,
)
from secagg.core import wire
from secagg.core.client import rand_size
from secagg.crypto import shamir
from secagg.crypto.commit import share_commitment
from secagg.crypto.keys import KeyPair, fingerprint, is_valid_public
from secagg.crypto.prg import ring_dtype

LOW_ORDER_KEYS = [bytes(32), (1).to_bytes(32, "little")]
MODES = ["semi_honest", "malicious"]


def assert_refuses(client: Client, data: bytes, reason: AbortReason) -> None:
    """The client raises ClientAbort(reason), returns nothing, holds no secret any more, and
    can never answer again."""
    with pytest.raises(ClientAbort) as info:
        client.handle(data)
    assert info.value.reason is reason, info.value
    assert_aborted_clean(client, reason)
    with pytest.raises(StateError):
        client.handle(data)


def assert_aborted_clean(client: Client, reason: AbortReason) -> None:
    assert client.phase is ClientPhase.ABORTED
    assert client.abort_reason is reason
    assert client._held == {}  # no shares kept around to leak later
    assert client._inbound == {}
    assert isinstance(client._x, np.ndarray) and client._x.size == 0
    assert client._b == b"" and client._share_rand == b""
    assert client._c is None and client._s is None


def to_unmasking(
    r: Round,
    *,
    share_skip: Collection[int] = (),
    check_skip: Collection[int] = (),
    masked_skip: Collection[int] = (),
) -> None:
    """Run the round until the server has sent its unmask requests."""
    r.run_to(
        "unmasking",
        {"share_keys": share_skip, "share_check": check_skip, "masked_input": masked_skip},
    )


def request_for(r: Round, u: int, survivors: Sequence[int]) -> bytes:
    """An UnmaskRequest for ``u`` naming ``survivors`` (semi-honest mode)."""
    u3 = wire.IdSet.of(survivors, r.n)
    return wire.encode_unmask_request(r.config, u, wire.UnmaskRequest(u3))


def decode_response(r: Round, u: int, data: bytes) -> wire.UnmaskResponse:
    return wire.decode_unmask_response(data, r.config, u)


def key_list_for(r: Round, u: int) -> wire.KeyList:
    return wire.decode_key_list(r.prompts[u], r.config, u)


def forged_key_list(r: Round, u: int, entries: list[wire.KeyEntry]) -> bytes:
    return wire.encode_key_list(r.config, u, wire.KeyList(tuple(entries)))


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


# --------------------------------------------------------------------------- client: unmasking


def test_unmask_request_with_fewer_than_t_survivors_is_refused() -> None:
    r = Round()
    to_unmasking(r)
    assert_refuses(r.clients[0], request_for(r, 0, [0, 1]), AbortReason.BELOW_THRESHOLD)


@pytest.mark.parametrize("survivors", [(0, 1, 4), (0, 1, 2, 3, 4)])
def test_unmask_request_naming_a_peer_outside_u2_is_refused(survivors: tuple[int, ...]) -> None:
    r = Round()
    to_unmasking(r, share_skip=[4])  # client 4 never sent shares: U2 = {0, 1, 2, 3}
    assert_refuses(r.clients[0], request_for(r, 0, survivors), AbortReason.INCONSISTENT_VIEW)
    # Its peers still answer the honest request.
    assert decode_response(r, 1, r.clients[1].handle(r.prompts[1])).shares


def test_unmask_request_omitting_the_client_is_refused() -> None:
    r = Round()
    to_unmasking(r)
    assert_refuses(r.clients[0], request_for(r, 0, [1, 2, 3, 4]), AbortReason.INCONSISTENT_VIEW)


def test_undecodable_unmask_request_is_refused() -> None:
    r = Round()
    to_unmasking(r)
    assert_refuses(r.clients[0], r.prompts[1], AbortReason.INVALID_MESSAGE)  # addressed to 1
    assert_refuses(r.clients[2], r.prompts[2][:-1], AbortReason.INVALID_MESSAGE)


@pytest.mark.parametrize("security", MODES)
def test_response_reveals_one_kind_of_share_per_peer(security: str) -> None:
    r = Round(n=6, t=3, security=security)
    to_unmasking(r, share_skip=[5], masked_skip=[3, 4])  # U2 = 0..4, U3 = {0, 1, 2}
    for u in (0, 1, 2):
        response = decode_response(r, u, r.clients[u].handle(r.prompts[u]))
        by_kind: dict[wire.ShareKind, set[int]] = {k: set() for k in wire.ShareKind}
        for peer, kind, _ in response.shares:
            by_kind[kind].add(peer)
        assert by_kind[wire.ShareKind.SELF_MASK] == {0, 1, 2}
        assert by_kind[wire.ShareKind.KEY] == {3, 4}
        assert len(response.shares) == 5
        # Answered once, never again (a second request cannot pry the other kind loose).
        with pytest.raises(StateError):
            r.clients[u].handle(request_for(r, u, [0, 1, 2, 3, 4]))
        assert r.clients[u].phase is ClientPhase.COMPLETED


@settings(max_examples=30)
@given(n=st.integers(3, 7), data=st.data())
def test_no_request_unlocks_both_shares_of_a_peer(n: int, data: st.DataObject) -> None:
    """Whatever survivor set a server sends, the client reveals at most one kind per peer, only
    for peers of U2, KEY only for peers outside the set and SELF_MASK only for peers in it."""
    t = data.draw(st.integers(1, n), label="t")
    share_skip = data.draw(st.sets(st.integers(0, n - 1), max_size=n - t), label="share_skip")
    r = Round(n=n, t=t, seed=n)
    r.run_to("masked_input", {"share_keys": share_skip})
    r.step()
    u2 = sorted(set(range(n)) - share_skip)
    u = data.draw(st.sampled_from(u2), label="client")
    survivors = sorted(data.draw(st.sets(st.integers(0, n - 1)), label="survivors"))
    request = request_for(r, u, survivors)
    acceptable = u in survivors and len(survivors) >= t and set(survivors) <= set(u2)
    if not acceptable:
        with pytest.raises(ClientAbort):
            r.clients[u].handle(request)
        assert r.clients[u].phase is ClientPhase.ABORTED
        return
    response = decode_response(r, u, r.clients[u].handle(request))
    peers = [peer for peer, _, _ in response.shares]
    assert len(peers) == len(set(peers))
    assert set(peers) == set(u2)
    for peer, kind, _ in response.shares:
        expected = wire.ShareKind.SELF_MASK if peer in survivors else wire.ShareKind.KEY
        assert kind is expected


# --------------------------------------------------------------------------- client: key list


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
    r = Round()
    r.step()
    u = 1
    entries = list(key_list_for(r, u).entries)
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
    assert_refuses(r.clients[u], forged_key_list(r, u, entries), reason)


@pytest.mark.parametrize(
    "case", ["peer_key_replaced", "signature_zeroed", "signature_of_another", "own_signature_bad"]
)
def test_malicious_key_list_needs_every_roster_signature(case: str) -> None:
    """Malicious mode: each entry must carry its owner's signature over (session, id, keys);
    a key the server swapped in, or any signature that does not verify, is BAD_SIGNATURE."""
    r = Round(security="malicious")
    r.step()
    u = 1
    entries = list(key_list_for(r, u).entries)
    if case == "peer_key_replaced":
        entries[3] = dataclasses.replace(entries[3], s_public=fresh_public(7))
    elif case == "signature_zeroed":
        entries[0] = dataclasses.replace(entries[0], signature=bytes(64))
    elif case == "signature_of_another":
        entries[2] = dataclasses.replace(entries[2], signature=entries[3].signature)
    else:
        entries[u] = dataclasses.replace(entries[u], signature=entries[0].signature)
    assert_refuses(r.clients[u], forged_key_list(r, u, entries), AbortReason.BAD_SIGNATURE)


def test_secaggplus_key_list_naming_a_non_neighbour_is_refused() -> None:
    r = Round(n=8, t=3, neighbors=4, seed=1)
    r.step()
    u = 0
    entries = list(key_list_for(r, u).entries)
    assert [e.client for e in entries] == r.holders(u)
    outsider = next(v for v in range(8) if v not in r.holders(u))
    other = key_list_for(r, next(v for v in range(8) if outsider in r.holders(v)))
    extra = next(e for e in other.entries if e.client == outsider)
    # In place of a neighbour (the list holds at most k + 1 entries).
    kept = [e for e in entries if e.client == u or e.client != entries[-1].client]
    forged = sorted([*kept, extra], key=lambda e: e.client)
    assert_refuses(r.clients[u], forged_key_list(r, u, forged), AbortReason.INCONSISTENT_VIEW)


def echo_into(r: Round, u: int, reply: bytes, prompt_sent: bytes) -> bytes:
    """``u``'s reply re-encoded to echo the prompt the server did send (as an adversary on the
    wire could: the echo is no authentication), so that the round goes on with it."""
    return re_echo(r.config, r.server.phase.value, u, reply, wire.prompt_digest(prompt_sent))


@pytest.mark.parametrize("case", ["alias_across_peers", "alias_own", "low_order"])
def test_bad_mask_key_is_refused_before_masking(case: str) -> None:
    """An s^PK re-spelled as another u of the same key, or of low order, passes every check of
    the key list (the c keys are fine, so the client shares as usual); the client catches it
    when its mask agreements collide or fail, before it sends a masked input."""
    r = Round()
    r.step()
    u = 1
    entries = list(key_list_for(r, u).entries)
    if case == "low_order":
        entries[3] = dataclasses.replace(entries[3], s_public=LOW_ORDER_KEYS[0])
        reason = AbortReason.KEY_AGREEMENT_FAILED
    else:
        source = entries[u] if case == "alias_own" else entries[2]
        entries[3] = dataclasses.replace(entries[3], s_public=inverse_alias(source.s_public))
        reason = AbortReason.INCONSISTENT_VIEW
    reply = r.clients[u].handle(forged_key_list(r, u, entries))
    r.deliver({**r.replies(skip=[u]), u: echo_into(r, u, reply, r.prompts[u])})
    r.close()
    r.step()
    assert r.server.drops == [] and r.server.phase is ServerPhase.MASKED_INPUT
    assert_refuses(r.clients[u], r.prompts[u], reason)


# --------------------------------------------------------------------------- client: shares


@pytest.mark.parametrize("peer", [4, 0])  # 4 is not in U1; 0 is the recipient itself
def test_shares_forwarded_from_unknown_peer_are_refused(peer: int) -> None:
    r = Round(n=5, t=2)
    r.step(skip=[4])  # client 4 is not in U1
    r.step()
    forward = wire.decode_share_forward(r.prompts[0], r.config, 0)
    junk = wire.ForwardEntry(peer, bytes(96), bytes(32), bytes(32))
    items = sorted([*forward.entries, junk], key=lambda e: e.sender)
    data = wire.encode_share_forward(r.config, 0, wire.ShareForward(tuple(items)))
    assert_refuses(r.clients[0], data, AbortReason.INCONSISTENT_VIEW)


def test_share_forward_with_fewer_than_t_clients_is_refused() -> None:
    r = Round(n=5, t=4)
    r.step()
    r.step()
    forward = wire.decode_share_forward(r.prompts[0], r.config, 0)
    forged = wire.ShareForward(forward.entries[:2])  # 0 plus two peers: 3 < t
    data = wire.encode_share_forward(r.config, 0, forged)
    assert_refuses(r.clients[0], data, AbortReason.BELOW_THRESHOLD)


FORWARD_EDITS: dict[str, Callable[[wire.ForwardEntry], wire.ForwardEntry]] = {
    "ciphertext_flipped": lambda e: dataclasses.replace(
        e, ciphertext=bytes([e.ciphertext[0] ^ 1]) + e.ciphertext[1:]
    ),
    "ciphertext_zeros": lambda e: dataclasses.replace(e, ciphertext=bytes(96)),
    "key_commitment": lambda e: dataclasses.replace(e, key_commitment=bytes(32)),
    "mask_commitment": lambda e: dataclasses.replace(e, mask_commitment=bytes(32)),
    "commitments_swapped": lambda e: dataclasses.replace(
        e, key_commitment=e.mask_commitment, mask_commitment=e.key_commitment
    ),
}


@pytest.mark.parametrize("edit", list(FORWARD_EDITS))
def test_client_accuses_senders_whose_shares_it_cannot_use(edit: str) -> None:
    """A forwarded entry that does not decrypt, or whose shares differ from the commitments
    forwarded with it: the client accuses that sender in its ShareCheck, keeps none of its
    shares, and accuses nobody else."""
    r = Round()
    r.step()
    r.step()
    u = 0
    forward = wire.decode_share_forward(r.prompts[u], r.config, u)
    entries = [FORWARD_EDITS[edit](e) if e.sender == 3 else e for e in forward.entries]
    data = wire.encode_share_forward(r.config, u, wire.ShareForward(tuple(entries)))
    check = wire.decode_share_check(r.clients[u].handle(data), r.config, u)
    assert check.accused == (3,)
    assert sorted(r.clients[u]._held) == [0, 1, 2, 4]
    genuine = wire.decode_share_check(r.clients[1].handle(r.prompts[1]), r.config, 1)
    assert genuine.accused == ()


# --------------------------------------------------------------------------- client: U2, U3


@pytest.mark.parametrize(
    ("u2", "reason"),
    [
        ([1, 2, 3, 4], AbortReason.INCONSISTENT_VIEW),  # omits the client
        ([0, 1], AbortReason.BELOW_THRESHOLD),
        ([0, 1, 2, 4], None),  # a plausible U2: it masks with those peers
    ],
)
def test_mask_request_rules(u2: list[int], reason: AbortReason | None) -> None:
    r = Round()
    r.run_to("masked_input")
    u = 0
    data = wire.encode_mask_request(r.config, u, wire.MaskRequest(wire.IdSet.of(u2, r.n)))
    if reason is None:
        assert len(r.clients[u].handle(data)) == 48 + 32 + 4 * 4 + 32
    else:
        assert_refuses(r.clients[u], data, reason)


def test_mask_request_naming_a_neighbour_that_never_shared_is_refused() -> None:
    r = Round()
    r.run_to("masked_input", {"share_keys": [4]})  # 4 sent no shares, so none were forwarded
    data = wire.encode_mask_request(r.config, 0, wire.MaskRequest(wire.IdSet.of(range(5), r.n)))
    assert_refuses(r.clients[0], data, AbortReason.INCONSISTENT_VIEW)


@pytest.mark.parametrize(
    ("u3", "reason"),
    [
        ([1, 2, 3, 4], AbortReason.INCONSISTENT_VIEW),
        ([0, 1, 2, 3, 4], AbortReason.INCONSISTENT_VIEW),  # 4 is outside U2
        ([0, 1], AbortReason.BELOW_THRESHOLD),
    ],
)
def test_consistency_request_survivor_rules(u3: list[int], reason: AbortReason) -> None:
    r = Round(security="malicious")
    r.run_to("consistency_check", {"share_check": [4]})
    data = wire.encode_consistency_request(
        r.config, 0, wire.ConsistencyRequest(wire.IdSet.of(u3, r.n))
    )
    assert_refuses(r.clients[0], data, reason)


def signed_unmask_request(
    r: Round, u: int, u3: Sequence[int], signers: Sequence[int], *, sign_over: Sequence[int] = ()
) -> bytes:
    """An UnmaskRequest for ``u`` naming ``u3``, with the signatures of ``signers`` over
    ``sign_over`` (default: ``u3``) made with their real roster keys."""
    assert r.keys is not None
    ids = wire.IdSet.of(u3, r.n)
    over = wire.IdSet.of(sign_over or u3, r.n)
    parts = wire.consistency_signed_parts(r.config, over)
    sigs = tuple((v, r.keys[v].sign(wire.LABEL_CONSISTENCY, *parts)) for v in sorted(signers))
    return wire.encode_unmask_request(r.config, u, wire.UnmaskRequest(ids, sigs))


@pytest.mark.parametrize(
    "case",
    [
        "other_u3",
        "signer_outside_u3",
        "signature_over_other_set",
        "signature_zeroed",
        "too_few_signers",
        "genuine",
    ],
)
def test_malicious_unmask_request_rules(case: str) -> None:
    """The unmasking request must repeat the U3 the client signed, byte for byte, and carry t
    valid signatures over it from the holders of every owner it reveals a share of."""
    r = Round(n=5, t=3, security="malicious")
    r.run_to("unmasking", {"consistency_check": [4]})  # U3 = 0..4, signers 0..3
    u = 0
    u3 = [0, 1, 2, 3, 4]
    expected: AbortReason | None
    if case == "other_u3":
        data = signed_unmask_request(r, u, [0, 1, 2, 3], [0, 1, 2, 3])
        expected = AbortReason.INCONSISTENT_VIEW
    elif case == "signer_outside_u3":
        r2 = Round(n=5, t=3, security="malicious")
        r2.run_to("unmasking", {"masked_input": [4]})  # U3 = 0..3
        r, u3 = r2, [0, 1, 2, 3]
        data = signed_unmask_request(r, u, u3, [0, 1, 2, 4], sign_over=u3)
        expected = AbortReason.INCONSISTENT_VIEW
    elif case == "signature_over_other_set":
        data = signed_unmask_request(r, u, u3, [0, 1, 2], sign_over=[0, 1, 2, 3])
        expected = AbortReason.BAD_SIGNATURE
    elif case == "signature_zeroed":
        genuine = wire.decode_unmask_request(r.prompts[u], r.config, u)
        sigs = list(genuine.signatures)
        sigs[1] = (sigs[1][0], bytes(64))
        data = wire.encode_unmask_request(r.config, u, wire.UnmaskRequest(genuine.u3, tuple(sigs)))
        expected = AbortReason.BAD_SIGNATURE
    elif case == "too_few_signers":
        data = signed_unmask_request(r, u, u3, [0, 1])
        expected = AbortReason.CONSISTENCY_CHECK_FAILED
    else:
        data = r.prompts[u]
        expected = None
    if expected is None:
        response = decode_response(r, u, r.clients[u].handle(data))
        assert [p for p, _, _ in response.shares] == u3
    else:
        assert_refuses(r.clients[u], data, expected)


def test_a_client_signs_one_survivor_set_only() -> None:
    """Once it signed U3, a client answers no second consistency request (it would sign a
    second set: the split view the round exists to stop)."""
    r = Round(security="malicious")
    r.run_to("consistency_check")
    first = r.clients[0].handle(r.prompts[0])
    assert len(first) == 48 + 32 + 64 + 32
    other = wire.encode_consistency_request(
        r.config, 0, wire.ConsistencyRequest(wire.IdSet.of([0, 1, 2, 3], r.n))
    )
    with pytest.raises(ClientAbort) as info:
        r.clients[0].handle(other)  # now it awaits an UnmaskRequest: undecodable as one
    assert info.value.reason is AbortReason.INVALID_MESSAGE


# --------------------------------------------------------------------------- client: lifecycle


@pytest.mark.parametrize("security", MODES)
def test_client_phases_and_wrong_phase_calls(security: str) -> None:
    r = Round(security=security)
    c = r.clients[0]

    def phase() -> ClientPhase:  # a call, so that mypy does not narrow c.phase between steps
        return c.phase

    assert phase() is ClientPhase.NEW
    with pytest.raises(StateError):
        c.handle(b"anything")  # nothing to handle before start()
    r.deliver(r.replies())
    assert phase() is ClientPhase.AWAIT_KEY_LIST
    with pytest.raises(StateError):
        c.start()
    r.close()
    expected = [
        ClientPhase.AWAIT_SHARES,
        ClientPhase.AWAIT_MASK_REQUEST,
        ClientPhase.AWAIT_CONSISTENCY,
        ClientPhase.AWAIT_UNMASK_REQUEST,
        ClientPhase.COMPLETED,
    ]
    if security == "semi_honest":
        expected.remove(ClientPhase.AWAIT_CONSISTENCY)
    for want in expected:
        r.step()
        assert phase() is want
    with pytest.raises(StateError):
        c.start()
    with pytest.raises(StateError):
        c.handle(b"")


@pytest.mark.parametrize("security", MODES)
def test_a_live_client_cannot_be_copied_or_pickled_in_any_phase(security: str) -> None:
    """A copy could answer a round a second time (say, reveal the other kind of share): copy,
    deepcopy and pickle all refuse with StateError, whatever the phase."""
    r = Round(security=security)
    seen = []
    while True:
        c = r.clients[2]
        seen.append(c.phase)
        for clone in (copy.copy, copy.deepcopy, pickle.dumps):
            with pytest.raises(StateError):
                clone(c)
        if r.server.phase is ServerPhase.COMPLETED:
            break
        r.step()
    assert seen[0] is ClientPhase.NEW and seen[-1] is ClientPhase.COMPLETED
    assert len(seen) == len(r.names) + 1


def test_client_rejects_bad_construction() -> None:
    r = Round()
    config, x, rand = r.config, r.inputs[0], r.rands[0]
    assert rand_size(config) == 3 * 32 + 2 * (config.threshold - 1) * 9 * 16
    assert len(rand) == rand_size(config)
    bads: list[Callable[[], Client]] = [
        lambda: Client(config, 0, x, rand[:-1]),
        lambda: Client(config, 0, x, rand + b"\x00"),
        lambda: Client(config, config.num_clients, x, rand),
        lambda: Client(config, -1, x, rand),
        lambda: Client(config, 0, x[:-1], rand),
        lambda: Client(config, 0, x.astype(np.float64), rand),
        lambda: Client(config, 0, x.astype(np.int64), rand),
    ]
    for bad in bads:
        with pytest.raises(ConfigError):
            bad()
    small = RoundConfig(num_clients=3, threshold=2, dim=2, bits=5, session_nonce=bytes(32))
    with pytest.raises(ConfigError):
        Client(small, 0, np.array([3, 32], dtype=np.uint64), bytes(rand_size(small)))
    assert Client(small, 0, np.array([3, 31], dtype=np.uint64), bytes(rand_size(small)))


def test_malicious_client_needs_its_roster_key() -> None:
    r = Round(security="malicious")
    config, x, rand = r.config, r.inputs[0], r.rands[0]
    assert r.keys is not None
    with pytest.raises(ConfigError, match="needs the client's signing_key"):
        Client(config, 0, x, rand)
    with pytest.raises(ConfigError, match="not the roster's key for client 0"):
        Client(config, 0, x, rand, signing_key=r.keys[1])
    with pytest.raises(ConfigError, match="not the roster's key"):
        Client(config, 0, x, rand, signing_key=SigningKey.from_secret(bytes(32)))


def test_fixed_rand_makes_the_client_deterministic() -> None:
    r = Round()
    twin = Client(r.config, 0, r.inputs[0], r.rands[0])
    assert twin.start() == r.clients[0].start()


@pytest.mark.parametrize("security", MODES)
def test_client_forgets_each_secret_once_it_is_used(security: str) -> None:
    """The sharing coefficients and c_u^SK go with the key list (both share-encryption keys of
    every pair are derived then), the inbound keys after the share check, x_u, b_u and
    s_u^SK after MaskedInput (the buffer of x_u too, not just a view of it), the held shares
    after unmasking."""
    r = Round(security=security)
    c = r.clients[0]
    x_buffer = c._x
    r.step()
    r.step()
    assert c._share_rand == b"" and c._b != b""
    assert c._c is None and c._inbound  # k_{v->u}, needed to open the forwarded shares
    r.step()
    assert c._inbound == {} and c._s is not None
    assert sorted(c._held) == list(range(5))
    r.step()
    assert isinstance(c._x, np.ndarray)
    assert c._x.size == 0 and c._x.base is None and not np.shares_memory(c._x, x_buffer)
    assert c._b == b"" and c._s is None and c._held
    r.finish()
    assert c.phase is ClientPhase.COMPLETED and c._held == {}
    assert r.result_sum() == r.plain_sum(range(5))


# --------------------------------------------------------------------------- server


@pytest.mark.parametrize("security", MODES)
def test_server_phases_and_advance_after_completion(security: str) -> None:
    r = Round(security=security)
    s = r.server
    assert s.phase is ServerPhase.ADVERTISE_KEYS
    assert not s.ready
    r.deliver(r.replies())
    assert s.ready
    assert s.live == frozenset(range(5))
    for name in r.names[1:]:
        r.close()
        assert s.phase.value == name
        assert s.expected == frozenset(range(5))
        r.deliver(r.replies())
    assert r.close() == {}
    assert s.phase is ServerPhase.COMPLETED
    assert r.result_sum() == r.plain_sum(range(5))
    with pytest.raises(StateError):
        s.advance()
    # Late traffic is ignored, neither raising nor recorded as a drop.
    s.receive(0, b"late")
    s.receive(99, b"late")
    assert s.drops == []
    assert s.phase is ServerPhase.COMPLETED


def test_server_below_threshold_aborts_stays_aborted_and_forgets() -> None:
    r = Round(n=5, t=4)
    r.run_to("masked_input")
    r.deliver(r.replies(skip=[0, 1]))
    with pytest.raises(ProtocolAbort) as info:
        r.server.advance()
    assert info.value.reason is AbortReason.BELOW_THRESHOLD
    assert r.server.phase is ServerPhase.ABORTED
    assert r.server.abort is info.value
    assert r.server.result is None
    assert r.server._sharings == {} and r.server._prompts == {}
    with pytest.raises(StateError):
        r.server.advance()
    r.server.receive(2, b"late")  # ignored


def test_server_timeouts_are_recorded() -> None:
    r = Round()
    r.deliver(r.replies(skip=[3]))
    assert not r.server.ready
    assert r.server.expected == frozenset({3})
    r.close()
    assert [(d.client, d.phase, d.reason) for d in r.server.drops] == [
        (3, ServerPhase.ADVERTISE_KEYS, DropReason.TIMED_OUT)
    ]
    assert sorted(r.prompts) == [0, 1, 2, 4]


def test_server_keeps_the_first_message_of_a_client() -> None:
    r = Round()
    first = r.replies()
    impostor = Client(r.config, 0, r.inputs[0], bytes(rand_size(r.config))).start()
    assert impostor != first[0]
    r.deliver(first)
    r.server.receive(0, impostor)  # a valid but different second advertisement
    r.server.receive(1, b"garbage after a good message")
    r.server.receive(2, first[2])  # a plain retransmission
    r.close()
    assert r.server.drops == []
    entries = key_list_for(r, 3).entries
    advertised = wire.decode_advertise_keys(first[0], r.config, 0)
    assert (entries[0].c_public, entries[0].s_public) == (advertised.c_public, advertised.s_public)

    r.step()
    r.step()
    masked = r.replies()
    r.deliver(masked)
    zeros = np.zeros(r.config.dim, dtype=ring_dtype(r.config.bits))
    echo = wire.decode_masked_input(masked[0], r.config, 0).prompt  # the genuine echo
    forged = wire.encode_masked_input(r.config, 0, wire.MaskedInput(zeros, echo))
    r.server.receive(0, forged)  # would change the sum if it counted
    r.server.receive(1, masked[1])  # counted once only
    r.close()
    responses = r.replies()
    r.deliver(responses)
    r.server.receive(2, responses[2][:10])  # a broken repeat after a good response
    r.close()
    assert r.server.drops == []
    assert r.result_sum() == r.plain_sum(range(5))


def test_sender_ids_must_be_integers_and_in_range() -> None:
    """0.0 == 0, but a float id is a transport bug and must not speak for client 0; numpy
    integers are ids like any other; ids outside [0, n) are recorded (up to 64) and ignored."""
    r = Round()
    messages = r.replies()
    r.server.receive(0.0, messages[0])  # type: ignore[arg-type]
    r.server.receive("1", messages[1])  # type: ignore[arg-type]
    assert r.server.live == frozenset() and r.server.drops == []
    for stranger in range(5, 105):
        r.server.receive(stranger, messages[0])
    unknown = [d for d in r.server.drops if d.reason is DropReason.UNKNOWN_CLIENT]
    assert [d.client for d in unknown] == list(range(5, 69))  # the first 64 only
    r.server.drops.clear()
    r.server.receive(np.int64(0), messages[0])  # type: ignore[arg-type]
    r.deliver({u: m for u, m in messages.items() if u != 0})
    assert r.server.live == frozenset(range(5)) and r.server.ready
    assert all(type(u) is int for u in r.server.live)
    r.close()
    r.finish()
    assert r.result_sum() == r.plain_sum(range(5))


def test_unmask_response_repr_hides_the_shares() -> None:
    r = Round()
    to_unmasking(r)
    msg = decode_response(r, 0, r.replies()[0])
    assert msg.shares
    assert all(str(value) not in repr(msg) for _, _, value in msg.shares)
    assert "shares" not in repr(msg)


def test_a_dropped_client_cannot_rejoin() -> None:
    r = Round()
    good = r.replies()
    r.server.receive(0, b"junk")
    r.deliver(good)  # 0's valid message now comes too late
    r.close()
    assert [(d.client, d.reason) for d in r.server.drops] == [(0, DropReason.DECODE_FAILED)]
    assert sorted(r.prompts) == [1, 2, 3, 4]
    r.server.receive(0, good[0])  # neither accepted nor dropped again
    assert 0 not in r.server.live
    assert len(r.server.drops) == 1


def test_message_for_another_phase_is_unexpected() -> None:
    r = Round()
    adverts = r.replies()
    r.deliver(adverts)
    r.close()
    r.server.receive(0, adverts[0])  # AdvertiseKeys replayed into SHARE_KEYS
    assert [(d.client, d.phase, d.reason) for d in r.server.drops] == [
        (0, ServerPhase.SHARE_KEYS, DropReason.UNEXPECTED_MESSAGE)
    ]


def test_server_drops_clients_with_repeated_public_keys() -> None:
    r = Round(n=6, t=4)
    # Clients 1 and 4 are built from the same randomness: identical keys.
    r.clients[4] = Client(r.config, 4, r.inputs[4], r.rands[1])
    r.step()
    drops = sorted((d.client, d.phase, d.reason) for d in r.server.drops)
    assert drops == [
        (1, ServerPhase.ADVERTISE_KEYS, DropReason.INVALID_CONTENT),
        (4, ServerPhase.ADVERTISE_KEYS, DropReason.INVALID_CONTENT),
    ]
    assert sorted(r.prompts) == [0, 2, 3, 5]
    assert [e.client for e in key_list_for(r, 0).entries] == [0, 2, 3, 5]
    r.finish()
    assert r.server.result is not None
    assert list(r.server.result.survivors) == [0, 2, 3, 5]
    assert r.result_sum() == r.plain_sum([0, 2, 3, 5])


@pytest.mark.parametrize(
    "which",
    ["same_key_twice", "low_order_c", "low_order_s", "copied", "copied_top_bit", "copied_alias"],
)
def test_server_drops_bad_advertisements(which: str) -> None:
    r = Round(n=6, t=3)
    messages = r.replies()
    good = wire.decode_advertise_keys(messages[2], r.config, 2)
    other = wire.decode_advertise_keys(messages[3], r.config, 3)
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
    messages[2] = wire.encode_advertise_keys(r.config, 2, bad)
    r.deliver(messages)
    r.close()
    dropped = {d.client for d in r.server.drops}
    assert all(d.reason is DropReason.INVALID_CONTENT for d in r.server.drops)
    assert all(d.phase is ServerPhase.ADVERTISE_KEYS for d in r.server.drops)
    # A copied key drops both owners: the server cannot tell which one is the original.
    assert dropped == ({2, 3} if which in ("copied", "copied_alias") else {2})
    r.finish()
    survivors = sorted(set(range(6)) - dropped)
    assert r.result_sum() == r.plain_sum(survivors)


@pytest.mark.parametrize("which", ["omit_peer", "include_self", "include_outsider", "empty"])
def test_server_drops_share_keys_not_covering_u1(which: str) -> None:
    r = Round(n=6, t=3)
    r.step(skip=[5])  # U1 = 0..4
    messages = r.replies()
    msg = wire.decode_share_keys(messages[0], r.config, 0)
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
    messages[0] = wire.encode_share_keys(
        r.config, 0, dataclasses.replace(msg, ciphertexts=tuple(items))
    )
    r.deliver(messages)
    r.close()
    assert_only_sender_dropped_at_share_keys(r, DropReason.INVALID_CONTENT)


def assert_only_sender_dropped_at_share_keys(r: Round, reason: DropReason) -> None:
    """Client 0 (of U1 = 0..4) was dropped at ShareKeys for ``reason``; nobody is sent its
    ciphertexts and the round completes exactly over 1..4."""
    share_drops = [(d.client, d.reason) for d in r.server.drops if d.phase.value == "share_keys"]
    assert share_drops == [(0, reason)]
    assert sorted(r.prompts) == [1, 2, 3, 4]
    for v in r.prompts:
        forward = wire.decode_share_forward(r.prompts[v], r.config, v)
        assert 0 not in [e.sender for e in forward.entries]
    r.finish()
    assert r.result_sum() == r.plain_sum([1, 2, 3, 4])


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
    "repeat_self": (lambda cs: [cs[0], *cs], DropReason.DECODE_FAILED),
    "unsorted": (lambda cs: [cs[1], cs[0], *cs[2:]], DropReason.DECODE_FAILED),
    "id_out_of_range": (lambda cs: _outsider(cs, 6), DropReason.DECODE_FAILED),  # n = 6
}


@pytest.mark.parametrize("which", list(COMMITMENT_EDITS))
def test_server_drops_share_keys_with_wrong_commitment_holders(which: str) -> None:
    """The ciphertexts go to exactly U1's peers, but the commitment list does not name exactly
    the holders {u} + peers: the sender is dropped at ShareKeys and the round goes on."""
    edit, reason = COMMITMENT_EDITS[which]
    r = Round(n=6, t=3)
    r.step(skip=[5])  # U1 = 0..4
    messages = r.replies()
    msg = wire.decode_share_keys(messages[0], r.config, 0)
    assert [v for v, _, _ in msg.commitments] == [0, 1, 2, 3, 4]
    commitments = edit(list(msg.commitments))
    assert commitments != list(msg.commitments)
    messages[0] = wire.encode_share_keys(
        r.config, 0, dataclasses.replace(msg, commitments=tuple(commitments))
    )
    r.deliver(messages)
    r.close()
    assert_only_sender_dropped_at_share_keys(r, reason)


def test_client_commits_to_exactly_the_shares_it_sends() -> None:
    """Each client's ShareKeys commits, for every holder in U1 (itself included), to the very
    share of s^SK and of b that the holder decrypts (or, for itself, keeps)."""
    r = Round(n=5, t=3)
    r.step(skip=[4])  # U1 = 0..3
    share_keys = r.replies()
    r.deliver(share_keys)
    r.close()
    r.deliver(r.replies())  # the clients open their forwarded shares here
    sid = r.config.session_id
    for u, data in share_keys.items():
        msg = wire.decode_share_keys(data, r.config, u)
        assert [v for v, _, _ in msg.commitments] == [0, 1, 2, 3]
        for v, c_key, c_mask in msg.commitments:
            key_share, mask_share = r.clients[v]._held[u]
            assert c_key == share_commitment(sid, u, v, wire.ShareKind.KEY, key_share)
            assert c_mask == share_commitment(sid, u, v, wire.ShareKind.SELF_MASK, mask_share)
            assert c_key != c_mask


# --------------------------------------------------------------------------- share check


def test_server_drops_an_accusation_of_a_client_it_did_not_forward() -> None:
    r = Round(n=6, t=3)
    r.run_to("share_check", {"share_keys": [5]})  # 5 sent no shares: nobody got any of its
    replies = r.replies()
    check = wire.decode_share_check(replies[0], r.config, 0)
    replies[0] = wire.encode_share_check(r.config, 0, dataclasses.replace(check, accused=(5,)))
    r.deliver(replies)
    assert [(d.client, d.reason) for d in r.server.drops if d.phase.value == "share_check"] == [
        (0, DropReason.INVALID_CONTENT)
    ]
    r.close()
    r.finish()
    assert r.result_sum() == r.plain_sum([1, 2, 3, 4])


def junk_ciphertexts(r: Round, owner: int, to: Collection[int]) -> Callable[[int, bytes], bytes]:
    """An edit of the ShareKeys replies: ``owner``'s ciphertexts for ``to`` replaced by zeros
    (well-formed, genuine echo: only the recipients can tell)."""

    def edit(u: int, data: bytes) -> bytes:
        if u != owner:
            return data

        def change(msg: wire.ShareKeys) -> wire.ShareKeys:
            cts = tuple((v, bytes(96) if v in to else ct) for v, ct in msg.ciphertexts)
            return dataclasses.replace(msg, ciphertexts=cts)

        return edit_reply(r.config, "share_keys", u, data, change)

    return edit


@pytest.mark.parametrize("security", MODES)
@pytest.mark.parametrize("accusers", [1, 2, 3])
def test_share_check_excludes_an_owner_left_with_fewer_than_t_valid_holders(
    security: str, accusers: int
) -> None:
    """n = 5, t = 3: owner 4 hands undecryptable shares to ``accusers`` holders. With 3 valid
    holders left ({4} and two others) it stays and the accusers hold none of its shares; with
    fewer it is excluded (SHARES_REJECTED) before anyone masks with it. Either way the round
    completes exactly."""
    r = Round(n=5, t=3, security=security)
    r.step()
    r.step(edit=junk_ciphertexts(r, 4, range(accusers)))
    replies = r.replies()
    for v in range(accusers):
        assert wire.decode_share_check(replies[v], r.config, v).accused == (4,)
    r.deliver(replies)
    r.close()
    excluded = 5 - accusers < 3
    rejected = [(d.client, d.reason) for d in r.server.drops]
    assert rejected == ([(4, DropReason.SHARES_REJECTED)] if excluded else [])
    u2 = wire.decode_mask_request(r.prompts[0], r.config, 0).u2
    assert (4 in u2) is not excluded
    r.finish()
    survivors = [0, 1, 2, 3] if excluded else [0, 1, 2, 3, 4]
    assert r.server.result is not None
    assert list(r.server.result.survivors) == survivors
    assert r.result_sum() == r.plain_sum(survivors)


def test_secaggplus_exclusion_cascades() -> None:
    """SecAgg+ n = 8, k = 2, t = 2 (three holders each): owner z's two neighbours accuse it, so z
    is excluded; a neighbour of z that lost its other neighbour earlier then has fewer than t
    valid holders, and is excluded in the next pass. The rest completes exactly."""
    r = Round(n=8, t=2, neighbors=2, seed=4)
    z = 0
    a, b = (v for v in r.holders(z) if v != z)
    # a's other neighbour goes silent before the share check: a's valid holders are {a, z}.
    other = next(v for v in r.holders(a) if v not in (a, z))
    r.step()
    r.step(edit=junk_ciphertexts(r, z, [a, b]))
    r.deliver(r.replies(skip=[other]))
    r.close()
    drops = [(d.client, d.reason) for d in r.server.drops]
    assert (other, DropReason.TIMED_OUT) in drops
    assert (z, DropReason.SHARES_REJECTED) in drops
    assert (a, DropReason.SHARES_REJECTED) in drops
    excluded = {d.client for d in r.server.drops}
    # Every remaining owner has t valid holders among the remaining clients.
    first = min(r.prompts)
    u2 = wire.decode_mask_request(r.prompts[first], r.config, first).u2.ids()
    assert set(u2) == set(range(8)) - excluded
    for u in u2:
        assert len(set(r.holders(u)) & set(u2)) >= 2
    r.finish()
    assert r.result_sum() == r.plain_sum(u2)


# --------------------------------------------------------------------------- unmasking: server


def reencode_response(
    r: Round,
    u: int,
    data: bytes,
    edit: Callable[[int, wire.ShareKind, bytes], tuple[int, wire.ShareKind, bytes]],
) -> bytes:
    def change(msg: wire.UnmaskResponse) -> wire.UnmaskResponse:
        return dataclasses.replace(msg, shares=tuple(edit(*s) for s in msg.shares))

    return edit_reply(r.config, "unmasking", u, data, change)


def bump(value: bytes, delta: int = 1) -> bytes:
    """A share with its first limb changed by ``delta`` (mod p): still a valid encoding."""
    limbs = shamir.decode_share(value).copy()
    limbs[0] = (int(limbs[0]) + delta) % shamir.PRIME
    return shamir.encode_share(limbs)


@pytest.mark.parametrize(
    "which", ["key_for_survivor", "mask_for_dropped", "unexpected_peer", "omitted_peer"]
)
def test_server_drops_unmask_response_with_wrong_owners_or_kinds(which: str) -> None:
    r = Round(n=6, t=3)
    to_unmasking(r, share_skip=[5], masked_skip=[4])  # U2 = 0..4, U3 = 0..3
    responses = r.replies()
    if which == "key_for_survivor":
        responses[0] = reencode_response(
            r, 0, responses[0], lambda p, k, v: (p, wire.ShareKind.KEY if p == 1 else k, v)
        )
    elif which == "mask_for_dropped":
        responses[0] = reencode_response(
            r, 0, responses[0], lambda p, k, v: (p, wire.ShareKind.SELF_MASK if p == 4 else k, v)
        )
    elif which == "unexpected_peer":

        def add(msg: wire.UnmaskResponse) -> wire.UnmaskResponse:
            extra = (5, wire.ShareKind.KEY, msg.shares[0][2])  # 5 never shared with anyone
            return dataclasses.replace(msg, shares=(*msg.shares, extra))

        responses[0] = edit_reply(r.config, "unmasking", 0, responses[0], add)
    else:

        def omit(msg: wire.UnmaskResponse) -> wire.UnmaskResponse:
            return dataclasses.replace(msg, shares=tuple(s for s in msg.shares if s[0] != 4))

        responses[0] = edit_reply(r.config, "unmasking", 0, responses[0], omit)
    r.deliver(responses)
    r.close()
    last = r.server.drops[-1]
    assert (last.client, last.phase, last.reason) == (
        0,
        ServerPhase.UNMASKING,
        DropReason.INVALID_CONTENT,
    )
    assert r.server.result is not None
    assert list(r.server.result.survivors) == [0, 1, 2, 3]
    assert list(r.server.result.responders) == [1, 2, 3]
    assert r.result_sum() == r.plain_sum([0, 1, 2, 3])


# --------------------------------------------------------------------------- prompt echo
# Every reply starts with the digest of the prompt it answers; the server drops (PROMPT_MISMATCH)
# a reply that echoes anything but the digest of the prompt it sent that client this phase.


def reply_echo(r: Round, u: int, data: bytes) -> bytes:
    """The prompt echo of client ``u``'s reply ``data`` in the server's current phase."""
    decode, _ = REPLY_CODECS[r.server.phase.value]
    echo: bytes = decode(data, r.config, u).prompt
    return echo


@pytest.mark.parametrize("security", MODES)
def test_client_echoes_the_digest_of_each_prompt_it_answers(security: str) -> None:
    r = Round(security=security)
    r.step()
    for name in r.names[1:]:
        assert r.server.phase.value == name
        replies = r.replies()
        echoes = {u: reply_echo(r, u, data) for u, data in replies.items()}
        for u, echo in echoes.items():
            assert echo == wire.prompt_digest(r.prompts[u]) == r.prompts[u][-32:]
        assert len(set(echoes.values())) == len(echoes)  # one digest per recipient
        r.deliver(replies)
        r.close()
    assert r.server.drops == []
    assert r.result_sum() == r.plain_sum(range(5))


ECHO_SOURCES = [
    (security, phase, source)
    for security in MODES
    for phase in Round(security=security).names[1:]
    for source in ("other_client", "previous_prompt", "zeros", "own_reply")
    if not (phase == "share_keys" and source == "previous_prompt")
]


@pytest.mark.parametrize(("security", "phase", "source"), ECHO_SOURCES, ids=str)
def test_server_drops_a_reply_echoing_another_prompt(
    security: str, phase: str, source: str
) -> None:
    """Client 1's genuine reply re-encoded to echo the digest of the prompt sent to client 2,
    of its own prompt of the previous round, 32 zeros, or its own previous reply: dropped with
    PROMPT_MISMATCH, and the round completes exactly without it."""
    r = Round(n=6, t=4, security=security)
    previous: dict[int, bytes] = {}
    earlier_replies = r.replies()  # the AdvertiseKeys
    r.deliver(earlier_replies)
    r.close()
    while r.server.phase.value != phase:
        previous = r.prompts
        earlier_replies = r.replies()
        r.deliver(earlier_replies)
        r.close()
    victim = 1
    if source == "other_client":
        echo = wire.prompt_digest(r.prompts[2])
    elif source == "previous_prompt":
        echo = wire.prompt_digest(previous[victim])
    elif source == "zeros":
        echo = bytes(32)
    else:
        echo = wire.prompt_digest(earlier_replies[victim])
    assert echo != wire.prompt_digest(r.prompts[victim])
    replies = r.replies()
    replies[victim] = re_echo(r.config, phase, victim, replies[victim], echo)
    r.deliver(replies)
    assert [(d.client, d.phase.value, d.reason) for d in r.server.drops] == [
        (victim, phase, DropReason.PROMPT_MISMATCH)
    ]
    assert r.server.ready and victim not in r.server.live
    r.close()
    r.finish()
    assert r.server.result is not None
    summed = r.names.index(phase) > r.names.index("masked_input")
    survivors = list(range(6)) if summed else [0, 2, 3, 4, 5]
    assert list(r.server.result.survivors) == survivors
    assert list(r.server.result.responders) == [0, 2, 3, 4, 5]
    assert r.result_sum() == r.plain_sum(survivors)


@pytest.mark.parametrize("which", ["uncovered_peer", "bad_share", "wrong_kind"])
def test_echo_is_checked_before_the_content(which: str) -> None:
    """A reply with bad content is dropped for its content when it echoes the right prompt,
    and with PROMPT_MISMATCH when it also echoes a wrong one: the echo is checked first."""
    phase = "share_keys" if which == "uncovered_peer" else "unmasking"
    content_reason = DropReason.BAD_SHARE if which == "bad_share" else DropReason.INVALID_CONTENT

    def spoil(msg: Any, echo: bytes | None) -> Any:
        """``msg`` with bad content, and echoing ``echo`` instead if one is given."""
        if which == "uncovered_peer":
            bad = dataclasses.replace(msg, ciphertexts=msg.ciphertexts[:-1])
        elif which == "bad_share":
            bad = dataclasses.replace(msg, shares=tuple((p, k, bump(v)) for p, k, v in msg.shares))
        else:
            shares = [(p, wire.ShareKind.KEY, v) for p, _, v in msg.shares]
            bad = dataclasses.replace(msg, shares=tuple(shares))
        return bad if echo is None else dataclasses.replace(bad, prompt=echo)

    outcomes = []
    for echo_ok in (True, False):
        r = Round(n=5, t=3, seed=3)
        r.run_to(phase, {"masked_input": [4]})
        replies = r.replies()
        echo = None if echo_ok else wire.prompt_digest(r.prompts[1])
        change = functools.partial(spoil, echo=echo)  # binds this pass's echo (ruff B023)
        r.server.receive(0, edit_reply(r.config, phase, 0, replies[0], change))
        outcomes.append(
            [(d.client, d.phase.value, d.reason) for d in r.server.drops if d.client == 0]
        )
    assert outcomes == [[(0, phase, content_reason)], [(0, phase, DropReason.PROMPT_MISMATCH)]]


def forged_prompt(r: Round, u: int) -> bytes:
    """A prompt for ``u`` in the server's current phase that an honest client cannot tell from
    a genuine one, but that the server did not send: in the KeyList peer 3's s^PK is another
    valid key, the ShareForward lacks its first entry, the MaskRequest omits client 4 from U2,
    the UnmaskRequest omits survivor 3."""
    phase = r.server.phase.value

    def change(msg: Any) -> Any:
        if phase == "share_keys":
            entries = list(msg.entries)
            entries[3] = dataclasses.replace(entries[3], s_public=fresh_public(7))
            return dataclasses.replace(msg, entries=tuple(entries))
        if phase == "share_check":
            return dataclasses.replace(msg, entries=msg.entries[1:])
        if phase == "masked_input":
            return wire.MaskRequest(wire.IdSet.of([v for v in msg.u2.ids() if v != 4], r.n))
        assert phase == "unmasking"
        return wire.UnmaskRequest(wire.IdSet.of([v for v in msg.u3.ids() if v != 3], r.n))

    return edit_prompt(r.config, phase, u, r.prompts[u], change)


@pytest.mark.parametrize("phase", ["share_keys", "share_check", "masked_input", "unmasking"])
def test_client_answering_an_altered_prompt_is_dropped_and_the_sum_is_exact(phase: str) -> None:
    """Client 0 gets an altered prompt it accepts, answers it echoing what it got, and is
    dropped with PROMPT_MISMATCH; the others' sum is exact (0's input too, if already summed)."""
    r = Round(n=6, t=4)
    r.run_to(phase)
    forged = forged_prompt(r, 0)
    assert forged != r.prompts[0]
    replies = r.replies(skip=[0])
    replies[0] = r.clients[0].handle(forged)  # accepted: nothing the client can check
    assert reply_echo(r, 0, replies[0]) == wire.prompt_digest(forged)
    r.deliver(replies)
    assert [(d.client, d.phase.value, d.reason) for d in r.server.drops] == [
        (0, phase, DropReason.PROMPT_MISMATCH)
    ]
    r.close()
    r.finish()
    assert r.server.result is not None
    survivors = range(6) if phase == "unmasking" else range(1, 6)
    assert list(r.server.result.survivors) == list(survivors)
    assert list(r.server.result.responders) == [1, 2, 3, 4, 5]
    assert r.result_sum() == r.plain_sum(survivors)


@settings(max_examples=40)
@given(n=st.integers(4, 6), data=st.data())
def test_only_the_genuine_unmask_request_gets_an_answer_used(n: int, data: st.DataObject) -> None:
    """Any survivor set sent to one client of U3 in place of the genuine one: the client
    refuses it, or answers and is dropped with PROMPT_MISMATCH - unless the set is U3 itself,
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
    r = Round(n=n, t=t, seed=n)
    to_unmasking(r, share_skip=share_skip, masked_skip=masked_skip)
    u3 = sorted(r.prompts)
    u = data.draw(st.sampled_from(u3), label="client")
    # u and at least t - 1 other ids of U2: sets the client accepts.
    plausible = st.sets(st.sampled_from(u2), min_size=t - 1).map(lambda xs: sorted(xs | {u}))
    survivors = data.draw(
        st.one_of(st.just(u3), plausible, st.sets(st.integers(0, n - 1)).map(sorted)),
        label="survivors",
    )
    request = request_for(r, u, survivors)
    genuine = survivors == u3
    assert (request == r.prompts[u]) == genuine
    replies = r.replies(skip=[u])
    try:
        replies[u] = r.clients[u].handle(request)
    except ClientAbort:
        assert not genuine
        outcome = "refused"
    else:
        outcome = "genuine" if genuine else "answered"
    event(outcome)
    r.deliver(replies)
    drops = [(d.client, d.reason) for d in r.server.drops if d.phase is ServerPhase.UNMASKING]
    assert drops == ([(u, DropReason.PROMPT_MISMATCH)] if outcome == "answered" else [])
    responders = u3 if genuine else [v for v in u3 if v != u]
    try:
        r.server.advance()
    except ProtocolAbort as exc:
        assert len(responders) < t
        assert exc.reason is AbortReason.BELOW_THRESHOLD
        return
    assert r.server.result is not None
    assert list(r.server.result.survivors) == u3
    assert list(r.server.result.responders) == responders
    assert r.result_sum() == r.plain_sum(u3)


# --------------------------------------------------------------------------- unmasking shares

Tweak = Callable[[npt.NDArray[np.uint64]], npt.NDArray[np.uint64]]
"""Edits ``ys[k, j, limb]``: the share of secret k (0: s^SK, 1: b) for the j-th holder in id
order, before the owner commits to it and encrypts it."""


class InconsistentOwner(Client):
    """A client that commits to - and sends - shares that are not all on one polynomial. Its
    commitments match what it sends, so every holder accepts its shares and every share passes
    the server's check."""

    def __init__(
        self,
        config: RoundConfig,
        client_id: int,
        x: npt.ArrayLike,
        rand: bytes,
        tweak: Tweak,
    ) -> None:
        super().__init__(config, client_id, x, rand)
        self._tweak = tweak

    def _on_key_list(self, msg: wire.KeyList) -> bytes:
        honest = shamir.share

        def share(
            secrets: Sequence[bytes], xs: Sequence[int], threshold: int, rand: bytes
        ) -> npt.NDArray[np.uint64]:
            return self._tweak(honest(secrets, xs, threshold, rand))

        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(shamir, "share", share)
            return super()._on_key_list(msg)


def _dropped_key_round(owner: int | None = None, tweak: Tweak | None = None) -> Round:
    """n = 5, t = 3; client 4 drops after sharing, so the server must rebuild its s^SK from
    the t lowest-id responders 0, 1, 2 (x = 1, 2, 3). With ``tweak``, client ``owner`` is an
    :class:`InconsistentOwner`. Returns the round with the unmask requests sent."""
    r = Round(n=5, t=3, seed=3)
    if owner is not None:
        assert tweak is not None
        r.clients[owner] = InconsistentOwner(
            r.config, owner, r.inputs[owner], r.rands[owner], tweak
        )
    to_unmasking(r, masked_skip=[4])
    assert [(d.client, d.reason) for d in r.server.drops] == [(4, DropReason.TIMED_OUT)]
    return r


LAMBDA_0 = int(shamir.lagrange_at_zero((1, 2, 3))[0])
"""Holder 0's Lagrange coefficient in the reconstructing set {0, 1, 2}."""


def limbs_of(secret: int) -> list[int]:
    return [(secret >> (30 * j)) & ((1 << 30) - 1) for j in range(shamir.LIMBS)]


def steer(secret: int, target_limbs: Sequence[int]) -> list[int]:
    """The change to holder 0's share (per limb) that makes {0, 1, 2} reconstruct limbs
    ``target_limbs`` instead of those of ``secret``."""
    inverse = pow(LAMBDA_0, -1, shamir.PRIME)
    return [
        (target - limb) * inverse % shamir.PRIME
        for limb, target in zip(limbs_of(secret), target_limbs, strict=True)
    ]


def add_limbs(value: bytes, delta: Sequence[int]) -> bytes:
    limbs = shamir.decode_share(value)
    return shamir.encode_share(
        [(int(a) + d) % shamir.PRIME for a, d in zip(limbs, delta, strict=True)]
    )


def key_secret(r: Round, u: int) -> int:
    return int.from_bytes(r.rands[u][32:64], "big")  # s_u^SK, known to the test only


def mask_secret(r: Round, u: int) -> int:
    return int.from_bytes(r.rands[u][64:96], "big")  # b_u


def assert_dropped_for_bad_share(r: Round, responders: Collection[int]) -> None:
    unmask_drops = sorted(
        (d.client, d.reason) for d in r.server.drops if d.phase is ServerPhase.UNMASKING
    )
    assert unmask_drops == [(u, DropReason.BAD_SHARE) for u in sorted(responders)]
    for d in r.server.drops:
        if d.reason is DropReason.BAD_SHARE:
            assert "commitment" in d.detail


def assert_exact(r: Round, responders: list[int]) -> None:
    assert r.server.result is not None
    assert r.server.abort is None
    assert list(r.server.result.survivors) == [0, 1, 2, 3]
    assert list(r.server.result.responders) == responders
    assert r.result_sum() == r.plain_sum([0, 1, 2, 3])


@pytest.mark.parametrize(
    ("responder", "peer"),
    [(0, 4), (0, 1), (0, 0), (1, 4), (2, 3), (3, 4)],
    ids=["key-of-dropped", "mask-of-peer", "own-mask", "key-by-1", "mask-by-2", "key-by-3"],
)
def test_altered_share_drops_its_responder_and_the_sum_is_exact(responder: int, peer: int) -> None:
    """A responder that returns a share other than the one its owner committed to is dropped
    with BAD_SHARE, none of its shares is used, and the t others still unmask exactly - whether
    or not the altered share was among the t lowest-id holders the server would have used."""
    r = _dropped_key_round()
    responses = r.replies()
    responses[responder] = reencode_response(
        r, responder, responses[responder], lambda p, k, v: (p, k, bump(v) if p == peer else v)
    )
    r.deliver(responses)
    assert r.server.ready
    assert responder not in r.server.live
    assert_dropped_for_bad_share(r, [responder])
    r.close()
    assert_exact(r, [u for u in range(4) if u != responder])


def above_2_256() -> list[int]:
    """Limbs that are valid field elements but no 32-byte secret: the top limb >= 2^16."""
    return [5, 0, 0, 0, 0, 0, 0, 0, 1 << 17]


@pytest.mark.parametrize("target", ["key_other_secret", "key_above_2_256", "mask_above_2_256"])
def test_steered_shares_are_rejected_not_reconstructed(target: str) -> None:
    """Shares crafted (by a responder who knows the secret) so that the t lowest holders would
    reconstruct another valid key, or no 32-byte value: they never reach Lagrange interpolation
    - the responder is dropped (BAD_SHARE) and the result is exact."""
    r = _dropped_key_round()
    responses = r.replies()
    if target == "mask_above_2_256":
        peer, delta = 1, steer(mask_secret(r, 1), above_2_256())
    elif target == "key_above_2_256":
        peer, delta = 4, steer(key_secret(r, 4), above_2_256())
    else:
        peer, delta = 4, steer(key_secret(r, 4), limbs_of(key_secret(r, 0)))
    responses[0] = reencode_response(
        r, 0, responses[0], lambda p, k, v: (p, k, add_limbs(v, delta) if p == peer else v)
    )
    r.deliver(responses)
    assert_dropped_for_bad_share(r, [0])
    r.close()
    assert_exact(r, [1, 2, 3])


def test_bad_shares_leaving_fewer_than_t_responders_abort_below_threshold() -> None:
    r = _dropped_key_round()
    responses = r.replies()
    for u in (0, 3):
        responses[u] = reencode_response(r, u, responses[u], lambda p, k, v: (p, k, bump(v, 7)))
    r.deliver(responses)
    assert_dropped_for_bad_share(r, [0, 3])
    with pytest.raises(ProtocolAbort) as info:
        r.server.advance()
    assert info.value.reason is AbortReason.BELOW_THRESHOLD
    assert r.server.phase is ServerPhase.ABORTED
    assert r.server.result is None


def test_accused_owner_with_t_holders_left_needs_them_all_at_unmasking() -> None:
    """Owner 4 hands junk to holders 2 and 3: it keeps t = 3 valid holders {0, 1, 4} and stays.
    If 4 then falls silent at unmasking, only 0 and 1 hold shares of b_4 - fewer than t - and
    the server aborts INSUFFICIENT_SHARES naming no wrong aggregate."""
    r = Round(n=5, t=3, seed=3)
    r.step()
    r.step(edit=junk_ciphertexts(r, 4, [2, 3]))
    r.step()
    assert r.server.drops == []  # 4 was accused by two holders but kept three valid ones
    r.step()
    r.deliver(r.replies(skip=[4]))
    with pytest.raises(ProtocolAbort) as info:
        r.server.advance()
    assert info.value.reason is AbortReason.INSUFFICIENT_SHARES
    assert "client 4" in info.value.detail
    assert r.server.result is None


def test_accused_owner_with_t_holders_left_completes_when_they_answer() -> None:
    r = Round(n=5, t=3, seed=3)
    r.step()
    r.step(edit=junk_ciphertexts(r, 4, [2, 3]))
    r.run_to("unmasking")
    replies = r.replies()
    # 2 and 3 hold nothing of 4: their responses leave it out, as the server expects.
    for v in (2, 3):
        assert 4 not in [p for p, _, _ in decode_response(r, v, replies[v]).shares]
    r.deliver(replies)
    r.close()
    assert r.server.drops == []
    assert r.result_sum() == r.plain_sum(range(5))


# --------------------------------------------------------------------------- inconsistent owner
# An owner that commits to the shares it sends, but whose shares are not on one polynomial, is
# the one case the share check cannot catch: the server catches it after rebuilding.


def shift(k: int, j: int, delta: Sequence[int]) -> Tweak:
    def tweak(values: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
        out = values.copy()
        out[k, j] = (out[k, j] + np.asarray(delta, dtype=np.uint64)) % np.uint64(shamir.PRIME)
        return out

    return tweak


ONE = [1] + [0] * (shamir.LIMBS - 1)


def test_inconsistent_owner_shares_pass_their_commitments() -> None:
    """The tweak really reaches the wire: holder 0's share of s_4^SK differs from the honest
    one, holder 0 accepts it at the share check, and the server accepts it at unmasking."""
    honest_round = _dropped_key_round()
    honest = honest_round.replies()
    r = _dropped_key_round(4, shift(0, 0, ONE))
    responses = r.replies()

    def share_of_4(rr: Round, data: bytes) -> bytes:
        return next(v for p, _, v in decode_response(rr, 0, data).shares if p == 4)

    assert share_of_4(r, responses[0]) == bump(share_of_4(honest_round, honest[0]))
    r.deliver(responses)
    assert r.server.ready
    assert r.server.live == frozenset(range(4))
    assert [d.client for d in r.server.drops] == [4]


@pytest.mark.parametrize(
    ("owner", "k", "target", "detail"),
    [
        (4, 0, None, "do not match its public key"),  # another 32-byte value: the wrong key
        (4, 0, "above", "s_u^SK"),  # not a 32-byte value at all
        (1, 1, None, "than it committed to"),  # a survivor's self-mask seed, another value
        (1, 1, "above", "b_u"),
    ],
    ids=["key-wrong", "key-not-a-secret", "mask-wrong", "mask-not-a-secret"],
)
def test_owner_with_inconsistent_shares_aborts_naming_it(
    owner: int, k: int, target: str | None, detail: str
) -> None:
    """An owner that commits to shares not on one polynomial: every share passes its commitment,
    so nobody is dropped, but the t lowest holders rebuild something that is not the owner's
    secret - the server aborts INCONSISTENT_SHARES naming the owner instead of releasing a wrong
    aggregate."""
    probe = Round(n=5, t=3, seed=3)  # same seed: the owner's secrets, to steer towards target
    secret = (key_secret if k == 0 else mask_secret)(probe, owner)
    delta = ONE if target is None else steer(secret, above_2_256())
    r = _dropped_key_round(owner, shift(k, 0, delta))
    r.deliver(r.replies())
    assert r.server.ready
    assert [d.client for d in r.server.drops] == [4]  # no BAD_SHARE: the shares are as committed
    with pytest.raises(ProtocolAbort) as info:
        r.server.advance()
    assert info.value.reason is AbortReason.INCONSISTENT_SHARES
    assert info.value.culprit == owner
    assert detail in info.value.detail
    assert f"client {owner}" in info.value.detail
    assert r.server.phase is ServerPhase.ABORTED
    assert r.server.result is None


def test_inconsistent_share_outside_the_reconstructing_set_is_harmless() -> None:
    """Holder 3's share of s_4^SK is off the polynomial, but the server rebuilds from holders
    0, 1, 2: the key matches s_4^PK and the aggregate is exact."""
    r = _dropped_key_round(4, shift(0, 3, ONE))
    r.deliver(r.replies())
    r.close()
    assert [d.client for d in r.server.drops] == [4]
    assert_exact(r, [0, 1, 2, 3])


# --------------------------------------------------------------------------- tampered responses


@settings(max_examples=40)
@given(n=st.integers(4, 7), data=st.data())
def test_altered_shares_never_yield_a_wrong_aggregate(n: int, data: st.DataObject) -> None:
    """Any share values in any responses altered (re-encoded with a valid digest), while other
    responders may omit shares or stay silent: each altering responder is dropped (BAD_SHARE),
    each omitting one too (INVALID_CONTENT: a responder cannot choose what to withhold), and the
    round releases exactly sum(U3) if t responders remain, else aborts BELOW_THRESHOLD."""
    t = data.draw(st.one_of(st.integers(1, n - 2), st.integers(1, n)), label="t")
    share_skip = data.draw(
        st.sets(st.integers(0, n - 1), max_size=min(1, n - t)), label="share_skip"
    )
    u2 = sorted(set(range(n)) - share_skip)
    masked_skip = data.draw(
        st.sets(st.sampled_from(u2), max_size=min(1, len(u2) - t)), label="masked_skip"
    )
    u3 = sorted(set(u2) - masked_skip)
    r = Round(n=n, t=t, seed=n)
    to_unmasking(r, share_skip=share_skip, masked_skip=masked_skip)
    responses = r.replies()
    assert sorted(responses) == u3

    role = st.sampled_from(["honest", "honest", "honest", "alter", "omit", "silent"])
    roles = {u: data.draw(role, label=f"role of {u}") for u in u3}
    if "alter" not in roles.values():
        roles[data.draw(st.sampled_from(u3), label="forced alterer")] = "alter"
    for u in u3:
        msg = decode_response(r, u, responses[u])
        shares = list(msg.shares)
        if roles[u] == "alter":
            which = data.draw(
                st.sets(st.integers(0, len(shares) - 1), min_size=1), label=f"altered by {u}"
            )
            for i in sorted(which):
                p, k, v = shares[i]
                delta = data.draw(st.integers(1, shamir.PRIME - 1), label=f"{u}: delta of {p}")
                shares[i] = (p, k, bump(v, delta))
        elif roles[u] == "omit":
            kept = data.draw(
                st.lists(st.booleans(), min_size=len(shares), max_size=len(shares)).filter(
                    lambda ks: not all(ks)
                )
            )
            shares = [s for s, keep in zip(shares, kept, strict=True) if keep]
        if roles[u] != "silent":
            response = dataclasses.replace(msg, shares=tuple(shares))
            r.server.receive(u, wire.encode_unmask_response(r.config, u, response))

    live = sorted(u for u in u3 if roles[u] == "honest")
    assert sorted(r.server.live) == live
    expected = None if len(live) >= t else AbortReason.BELOW_THRESHOLD
    event(f"outcome: {'exact' if expected is None else expected.name}")
    try:
        r.server.advance()
    except ProtocolAbort as exc:
        assert exc.reason is expected
        assert r.server.phase is ServerPhase.ABORTED
        assert r.server.result is None
    else:
        assert expected is None
        assert r.server.result is not None
        assert list(r.server.result.survivors) == u3
        assert list(r.server.result.responders) == live
        assert r.result_sum() == r.plain_sum(u3)
    unmask_drops = sorted(
        (d.client, d.reason) for d in r.server.drops if d.phase is ServerPhase.UNMASKING
    )
    reasons = {
        "alter": DropReason.BAD_SHARE,
        "omit": DropReason.INVALID_CONTENT,
        "silent": DropReason.TIMED_OUT,
    }
    assert unmask_drops == sorted((u, reasons[roles[u]]) for u in u3 if roles[u] in reasons)


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


@pytest.mark.parametrize(("bits", "neighbors"), [(17, None), (32, None), (64, 2)])
def test_server_holds_one_running_sum(bits: int, neighbors: int | None) -> None:
    n, dim = 6, 256
    r = Round(n=n, t=3 if neighbors is None else 2, dim=dim, bits=bits, neighbors=neighbors)
    r.run_to("masked_input")
    width = r.config.width
    h = r.config.holders
    # Each owner's commitments: its holder ids and one (holders, 2, 32) array, all smaller than
    # a masked vector.
    assert h * 2 * 32 < dim * width
    for u, data in r.replies().items():
        r.server.receive(u, data)
        state = list(_walk(vars(r.server), set()))
        # The running sum is the only ring vector (metadata arrays are uint8 or ids).
        vectors = [
            o
            for o in state
            if isinstance(o, np.ndarray) and o.dtype == ring_dtype(bits) and o.size >= dim
        ]
        assert len(vectors) == 1, f"after client {u}"
        assert vectors[0] is r.server._sum
        assert r.server._sum.shape == (dim,)
        assert r.server._sum.flags.owndata and r.server._sum.flags.writeable
        assert sorted(r.server._sharings) == list(range(n))
        for owner, sharing in r.server._sharings.items():
            assert sharing.holders == r.holders(owner)
            assert sharing.commitments.shape == (h, 2, 32)
            assert sharing.ciphertexts is None  # released once forwarded
        # No received vector kept as raw bytes either.
        big = [
            o
            for o in state
            if isinstance(o, (bytes, bytearray, memoryview)) and len(o) >= dim * width
        ]
        assert big == []
    r.close()
    r.finish()
    assert r.result_sum() == r.plain_sum(range(n))
    # The round is over: the per-owner commitments are released with the shares, and no
    # holder-id array is left anywhere in the server's state.
    assert r.server._sharings == {}
    assert not any(isinstance(o, array.array) for o in _walk(vars(r.server), set()))
