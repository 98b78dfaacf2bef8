"""A network adversary between the clients and the server, through ``intercept``, in both
security modes.

Every message type in both directions - the clients' AdvertiseKeys, ShareKeys, ShareCheck,
MaskedInput, ConsistencyResponse and UnmaskResponse, and the server's KeyList, ShareForward,
MaskRequest, ConsistencyRequest and UnmaskRequest prompts - is truncated, replaced by garbage,
replayed from an earlier round, replayed from another session, swapped for another client's
message, padded, bit-flipped or lost. Server prompts are also altered and re-sealed with a valid
digest (the digest is not a MAC), and client replies re-encoded to echo another prompt than the
one they answer. Whatever happens, the affected client is dropped with the reason the corruption
calls for (PROMPT_MISMATCH when it answered a prompt the server did not send it), or refuses the
prompt itself and goes silent, and the round either releases exactly the sum over
``result.survivors`` or aborts with a clean :class:`ProtocolAbort` when fewer than t clients
remain. Any other exception fails the test.

Runs are seeded, so a capture run with the same seed sees the very bytes the attacked run sends
up to the point of attack: that is where replayed and misaddressed messages come from.
(The malicious server itself, with real clients, is tests/adversarial/.)
"""

from __future__ import annotations

import dataclasses
import functools
import struct
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st
from replies import edit_prompt, edit_reply, re_echo

from secagg import AbortReason, DropReason, ProtocolAbort, RoundResult, simulate_round
from secagg.config import RoundConfig
from secagg.core import wire
from secagg.crypto.keys import KeyPair, is_valid_public
from secagg.runtime.simulate import rounds

N = 5
DIM = 6
BITS = 32
SEED = 11
OTHER_SEED = 12
"""Seed of the 'previous session' whose bytes are replayed into this one."""
TARGET = 2
MODES = ["semi_honest", "malicious"]

INPUTS: list[npt.NDArray[np.uint64]] = [
    np.random.default_rng(1000 + u).integers(0, 1 << BITS, size=DIM, dtype=np.uint64)
    for u in range(N)
]

Key = tuple[str, int | None, int | None]
"""(round name, sender, recipient) as seen by the intercept; the server is None."""

UP = "up"  # client -> server
DOWN = "down"  # server -> client

TYPES: dict[tuple[str, str], wire.MessageType] = {
    ("advertise_keys", UP): wire.MessageType.ADVERTISE_KEYS,
    ("share_keys", DOWN): wire.MessageType.KEY_LIST,
    ("share_keys", UP): wire.MessageType.SHARE_KEYS,
    ("share_check", DOWN): wire.MessageType.SHARE_FORWARD,
    ("share_check", UP): wire.MessageType.SHARE_CHECK,
    ("masked_input", DOWN): wire.MessageType.MASK_REQUEST,
    ("masked_input", UP): wire.MessageType.MASKED_INPUT,
    ("consistency_check", DOWN): wire.MessageType.CONSISTENCY_REQUEST,
    ("consistency_check", UP): wire.MessageType.CONSISTENCY_RESPONSE,
    ("unmasking", DOWN): wire.MessageType.UNMASK_REQUEST,
    ("unmasking", UP): wire.MessageType.UNMASK_RESPONSE,
}


def message_types(security: str) -> list[tuple[str, str]]:
    """Every message on the wire: a reply per round, a prompt per round but the first."""
    names = rounds(security)
    return [(name, UP) for name in names] + [(name, DOWN) for name in names[1:]]


def plain_sum(ids: Sequence[int]) -> list[int]:
    return [sum(int(INPUTS[u][i]) for u in ids) % (1 << BITS) for i in range(DIM)]


def run(security: str, threshold: int, **kwargs: Any) -> RoundResult:
    return simulate_round(
        INPUTS,
        threshold=threshold,
        bits=BITS,
        security=security,
        allow_weak_threshold=True,
        workers=1,
        **kwargs,
    )


@functools.cache
def capture(security: str, seed: int, threshold: int) -> tuple[dict[Key, bytes], RoundResult]:
    """Every message of an unattacked round with this seed and threshold, by (round, from, to)."""
    log: dict[Key, bytes] = {}

    def spy(name: str, sender: int | None, recipient: int | None, payload: bytes) -> bytes:
        log[(name, sender, recipient)] = payload
        return payload

    result = run(security, threshold, seed=seed, intercept=spy)
    assert result.survivors == list(range(N))
    return log, result


def config_for(security: str, threshold: int) -> RoundConfig:
    """The config of the seeded round with this threshold (the same for the attacked run)."""
    config = capture(security, SEED, threshold)[1].config
    assert config is not None
    return config


def channel(name: str, direction: str, client: int) -> Key:
    return (name, client, None) if direction == UP else (name, None, client)


# --------------------------------------------------------------------------- re-encoding


def reseal(config: RoundConfig, data: bytes, body: bytes) -> bytes:
    """``data`` with its body replaced and a fresh (valid) digest: the digest is not a MAC."""
    kind = wire.MessageType(data[5])
    sender, recipient = struct.unpack_from(">II", data, 40)
    return wire.envelope(config, kind, sender, recipient, body)


def body_of(data: bytes) -> bytes:
    return data[wire.HEADER_SIZE : -wire.DIGEST_SIZE]


# --------------------------------------------------------------------------- attacks

Replace = Callable[[bytes], bytes | None]


@dataclass(frozen=True)
class Attack:
    """One tampering of the message on channel (name, direction, client)."""

    kind: str
    replace: Replace
    reason: DropReason
    """Why the server drops the client for a tampered client message. For a tampered server
    prompt, PROMPT_MISMATCH marks one the client may not be able to tell from a genuine one (a
    re-sealed body): it either refuses it or answers it and is dropped for the echo."""


def earlier_round(security: str, name: str, direction: str) -> str | None:
    """The latest earlier round in which the same sender sent the same client a message."""
    names = rounds(security)
    index = names.index(name)
    first = 0 if direction == UP else 1
    return names[index - 1] if index - 1 >= first else None


def make_attack(
    security: str, kind: str, name: str, direction: str, client: int, threshold: int
) -> Attack:
    log, _ = capture(security, SEED, threshold)
    other_log, _ = capture(security, OTHER_SEED, threshold)
    other = (client + 1) % N
    config = config_for(security, threshold)
    if kind in ECHO_KINDS:
        # The client's genuine reply, re-encoded to echo another (real) prompt's digest.
        if kind == "echo_other_client":
            echo = wire.prompt_digest(log[channel(name, DOWN, other)])
        elif kind == "echo_earlier_prompt":
            earlier = earlier_round(security, name, DOWN)
            assert earlier is not None
            echo = wire.prompt_digest(log[channel(earlier, DOWN, client)])
        elif kind == "echo_previous_session":
            echo = wire.prompt_digest(other_log[channel(name, DOWN, client)])
        else:
            assert kind == "echo_zeros"
            echo = bytes(32)
        return Attack(
            kind, lambda b: re_echo(config, name, client, b, echo), DropReason.PROMPT_MISMATCH
        )
    if kind == "reseal_flip":
        # One byte in the middle of the prompt's body changed, with a valid digest.
        middle = len(body_of(log[channel(name, direction, client)])) // 2
        return Attack(kind, reseal_flip(config, middle, 0x01), DropReason.PROMPT_MISMATCH)
    if kind == "reseal_previous_session":
        # The same prompt of another session, re-sealed into this one for this client.
        stale_body = body_of(other_log[channel(name, direction, client)])
        return Attack(kind, lambda b: reseal(config, b, stale_body), DropReason.PROMPT_MISMATCH)
    if kind == "truncate_half":
        return Attack(kind, lambda b: b[: len(b) // 2], DropReason.DECODE_FAILED)
    if kind == "truncate_one":
        return Attack(kind, lambda b: b[:-1], DropReason.DECODE_FAILED)
    if kind == "empty":
        return Attack(kind, lambda b: b"", DropReason.DECODE_FAILED)
    if kind == "garbage":
        rng = np.random.default_rng(len(name) * 31 + client)
        return Attack(kind, lambda b: rng.bytes(len(b)), DropReason.DECODE_FAILED)
    if kind == "garbage_short":
        return Attack(kind, lambda b: b"\x00" * 7, DropReason.DECODE_FAILED)
    if kind == "replay":
        earlier = earlier_round(security, name, direction)
        assert earlier is not None
        old = log[channel(earlier, direction, client)]
        # A longer message of the earlier type fails the size cap of the expected type
        # (envelope check 2) before its type is looked at (check 6).
        too_long = len(old) > wire.max_message_size(config, TYPES[(name, direction)])
        reason = DropReason.DECODE_FAILED if too_long else DropReason.UNEXPECTED_MESSAGE
        return Attack(kind, lambda b: old, reason)
    if kind == "previous_session":
        stale = other_log[channel(name, direction, client)]
        return Attack(kind, lambda b: stale, DropReason.WRONG_SESSION)
    if kind == "misaddressed":
        swapped = log[channel(name, direction, other)]
        return Attack(kind, lambda b: swapped, DropReason.MISADDRESSED)
    if kind == "append_one":
        return Attack(kind, lambda b: b + b"\x00", DropReason.DECODE_FAILED)
    if kind == "append_huge":
        return Attack(kind, lambda b: b + b"\xff" * 100_000, DropReason.DECODE_FAILED)
    if kind == "duplicate_body":
        # Same header and digest, body sent twice: a length the decoder must refuse.
        return Attack(kind, lambda b: b[:-32] + b[48:-32] + b[-32:], DropReason.DECODE_FAILED)
    if kind == "lose":
        return Attack(kind, lambda b: None, DropReason.TIMED_OUT)
    raise AssertionError(kind)


ECHO_KINDS = ["echo_other_client", "echo_earlier_prompt", "echo_previous_session", "echo_zeros"]
"""Client replies that echo a prompt other than the one they answer."""
RESEAL_KINDS = ["reseal_flip", "reseal_previous_session"]
"""Server prompts whose body is changed and re-sealed with a valid digest."""

KINDS = [
    "truncate_half",
    "truncate_one",
    "empty",
    "garbage",
    "garbage_short",
    "replay",
    "previous_session",
    "misaddressed",
    "append_one",
    "append_huge",
    "duplicate_body",
    "lose",
    *ECHO_KINDS,
    *RESEAL_KINDS,
]

SESSION_FREE_PROMPTS = {
    ("semi_honest", "masked_input"),
    ("semi_honest", "unmasking"),
    ("malicious", "masked_input"),
    ("malicious", "consistency_check"),
}
"""Prompts whose body is a bare id set (U2 or U3, all 5 clients in both sessions): re-sealed
from another session it is byte for byte the genuine prompt, not an attack."""


def applicable(security: str, kind: str, name: str, direction: str) -> bool:
    if kind == "reseal_flip_anywhere":
        return direction == DOWN
    if kind == "replay":
        return earlier_round(security, name, direction) is not None
    if kind in ECHO_KINDS:
        # Only replies to a prompt carry an echo.
        return (
            direction == UP
            and name != "advertise_keys"
            and (kind != "echo_earlier_prompt" or earlier_round(security, name, DOWN) is not None)
        )
    if kind == "reseal_previous_session":
        return direction == DOWN and (security, name) not in SESSION_FREE_PROMPTS
    if kind in RESEAL_KINDS:
        return direction == DOWN
    return True


def flip(position: int, mask: int) -> Replace:
    def replace(b: bytes) -> bytes:
        i = position % len(b)
        return b[:i] + bytes([b[i] ^ mask]) + b[i + 1 :]

    return replace


def reseal_flip(config: RoundConfig, position: int, mask: int) -> Replace:
    """Byte ``position`` (mod the body length) of the body xor ``mask``, with a valid digest."""

    def replace(b: bytes) -> bytes:
        body = body_of(b)
        i = position % len(body)
        return reseal(config, b, body[:i] + bytes([body[i] ^ mask]) + body[i + 1 :])

    return replace


# --------------------------------------------------------------------------- runner

REFUSALS: dict[str, frozenset[AbortReason]] = {
    # KeyList: an undecodable body; fewer than t entries; this client's own entry missing or
    # altered, or a key repeated; (malicious) a signature that no longer verifies; a peer's
    # c^PK that is not a valid key, found when agreeing on the share-encryption keys.
    "share_keys": frozenset(
        {
            AbortReason.INVALID_MESSAGE,
            AbortReason.BELOW_THRESHOLD,
            AbortReason.INCONSISTENT_VIEW,
            AbortReason.KEY_AGREEMENT_FAILED,
            AbortReason.BAD_SIGNATURE,
        }
    ),
    # ShareForward: an undecodable body; a sender it sent no share to (itself, say); fewer than
    # t - 1 senders. (An unreadable entry is an accusation, not a refusal.)
    "share_check": frozenset(
        {AbortReason.INVALID_MESSAGE, AbortReason.INCONSISTENT_VIEW, AbortReason.BELOW_THRESHOLD}
    ),
    # MaskRequest: an undecodable U2; one without this client or naming a neighbour that never
    # shared; fewer than t holders.
    "masked_input": frozenset(
        {AbortReason.INVALID_MESSAGE, AbortReason.INCONSISTENT_VIEW, AbortReason.BELOW_THRESHOLD}
    ),
    # ConsistencyRequest: the survivor rules on U3.
    "consistency_check": frozenset(
        {AbortReason.INVALID_MESSAGE, AbortReason.INCONSISTENT_VIEW, AbortReason.BELOW_THRESHOLD}
    ),
    # UnmaskRequest: an undecodable body; the survivor rules (semi-honest); a U3 other than the
    # one signed, a signer outside it, a signature that does not verify, or too few signers of
    # some owner (malicious).
    "unmasking": frozenset(
        {
            AbortReason.INVALID_MESSAGE,
            AbortReason.INCONSISTENT_VIEW,
            AbortReason.BELOW_THRESHOLD,
            AbortReason.BAD_SIGNATURE,
            AbortReason.CONSISTENCY_CHECK_FAILED,
        }
    ),
}
"""Why an honest client (secagg/core/client.py) may refuse the prompt of each round that starts
with one, once the envelope checks pass (a re-sealed prompt has a valid digest)."""


def run_attacked(
    security: str, threshold: int, attacks: Mapping[tuple[str, str, int], Attack]
) -> RoundResult | None:
    """Run the seeded round with the attacks in place and check the outcome against the
    expectation: each attacked client is silent from its attacked round on. Returns the result,
    or None when the round (correctly) aborted."""
    names = rounds(security)
    seen: set[tuple[str, str, int]] = set()

    def hook(name: str, sender: int | None, recipient: int | None, payload: bytes) -> bytes | None:
        key = (name, UP, sender) if sender is not None else (name, DOWN, recipient)
        assert key[2] is not None
        attack = attacks.get((key[0], key[1], key[2]))
        if attack is None:
            return payload
        seen.add((key[0], key[1], key[2]))
        return attack.replace(payload)

    silent_from = {client: names.index(name) for (name, _, client) in attacks}
    sets = [[u for u in range(N) if silent_from.get(u, len(names)) > r] for r in range(len(names))]
    try:
        result = run(security, threshold, seed=SEED, intercept=hook)
    except ProtocolAbort as exc:
        assert min(len(s) for s in sets) < threshold, f"aborted without cause: {exc}"
        assert exc.reason is AbortReason.BELOW_THRESHOLD
        return None
    assert min(len(s) for s in sets) >= threshold, "completed with fewer than t clients"
    assert seen == set(attacks), "every attack must have hit a message"
    assert result.survivors == sets[names.index("masked_input")]
    assert result.responders == sets[-1]
    assert [int(v) for v in result.aggregate] == plain_sum(result.survivors)

    expected_drops = []
    expected_aborts = {}
    for (name, direction, client), attack in attacks.items():
        if direction == UP:
            expected_drops.append((client, name, attack.reason))
        elif attack.reason is DropReason.PROMPT_MISMATCH:
            # A re-sealed prompt: the client refused it for a reason its checks of that prompt
            # can give, or answered it and the server saw that the answer echoes a prompt it
            # did not send.
            if client in result.client_aborts:
                assert result.client_aborts[client] in REFUSALS[name], (client, name)
                expected_drops.append((client, name, DropReason.TIMED_OUT))
                expected_aborts[client] = result.client_aborts[client]
            else:
                expected_drops.append((client, name, DropReason.PROMPT_MISMATCH))
        else:
            # The client refuses the prompt (or never gets it) and goes silent: a timeout.
            expected_drops.append((client, name, DropReason.TIMED_OUT))
            if attack.kind != "lose":
                expected_aborts[client] = AbortReason.INVALID_MESSAGE
    got = sorted((d.client, d.phase.value, d.reason) for d in result.drops)
    assert got == sorted(expected_drops)
    assert result.client_aborts == expected_aborts
    return result


# --------------------------------------------------------------------------- every type x attack


CASES = [
    (security, name, direction, kind)
    for security in MODES
    for name, direction in message_types(security)
    for kind in KINDS
    if applicable(security, kind, name, direction)
]


@pytest.mark.parametrize(("security", "name", "direction", "kind"), CASES)
def test_tampered_message_drops_only_its_client(
    security: str, name: str, direction: str, kind: str
) -> None:
    attack = make_attack(security, kind, name, direction, TARGET, threshold=3)
    result = run_attacked(security, 3, {(name, direction, TARGET): attack})
    assert result is not None  # 4 of 5 clients remain, t = 3
    names = rounds(security)
    if names.index(name) > names.index("masked_input"):
        # The masked input was accepted before the attack: still in the sum, just no responder.
        assert TARGET in result.survivors
        assert TARGET not in result.responders
    else:
        assert TARGET not in result.survivors


@pytest.mark.parametrize(
    ("security", "name", "direction", "kind"),
    [c for c in CASES if c[0] == "semi_honest" or c[3] in ("garbage", "replay", "lose")],
)
def test_tampered_message_with_t_equal_n_aborts_cleanly(
    security: str, name: str, direction: str, kind: str
) -> None:
    attack = make_attack(security, kind, name, direction, TARGET, threshold=N)
    assert run_attacked(security, N, {(name, direction, TARGET): attack}) is None


@pytest.mark.parametrize(
    ("security", "name", "direction"), [(s, *m) for s in MODES for m in message_types(s)]
)
@settings(max_examples=8)
@given(position=st.integers(0, 10_000), mask=st.integers(1, 255), client=st.integers(0, N - 1))
def test_any_flipped_byte_drops_its_client(
    security: str, name: str, direction: str, position: int, mask: int, client: int
) -> None:
    log, _ = capture(security, SEED, 3)
    size = len(log[channel(name, direction, client)])
    attack = Attack("flip", flip(position % size, mask), DropReason.DECODE_FAILED)
    result = run_attacked(security, 3, {(name, direction, client): attack})
    assert result is not None


ALL_KINDS = [*KINDS, "flip", "reseal_flip_anywhere"]


@settings(max_examples=120)
@given(data=st.data(), threshold=st.integers(1, N), security=st.sampled_from(MODES))
def test_many_clients_attacked_at_once(data: st.DataObject, threshold: int, security: str) -> None:
    """Each client is attacked at most once, anywhere; the outcome follows the attacked rounds."""
    attacks: dict[tuple[str, str, int], Attack] = {}
    for client in range(N):
        if not data.draw(st.booleans(), label=f"attack {client}"):
            continue
        name, direction = data.draw(
            st.sampled_from(message_types(security)), label=f"where {client}"
        )
        kinds = [k for k in ALL_KINDS if applicable(security, k, name, direction)]
        kind = data.draw(st.sampled_from(kinds), label=f"kind {client}")
        if kind in ("flip", "reseal_flip_anywhere"):
            position = data.draw(st.integers(0, 10_000), label=f"position {client}")
            mask = data.draw(st.integers(1, 255), label=f"mask {client}")
            if kind == "flip":  # the digest no longer matches
                attack = Attack(kind, flip(position, mask), DropReason.DECODE_FAILED)
            else:  # a prompt body byte, re-sealed with a valid digest
                replace = reseal_flip(config_for(security, threshold), position, mask)
                attack = Attack(kind, replace, DropReason.PROMPT_MISMATCH)
            attacks[(name, direction, client)] = attack
        else:
            attacks[(name, direction, client)] = make_attack(
                security, kind, name, direction, client, threshold
            )
    run_attacked(security, threshold, attacks)


# --------------------------------------------------------------------------- clean aborts


@pytest.mark.parametrize("security", MODES)
def test_corrupting_a_majority_of_masked_inputs_aborts_cleanly(security: str) -> None:
    attacks = {
        ("masked_input", UP, u): make_attack(security, "garbage", "masked_input", UP, u, 3)
        for u in (0, 2, 4)
    }

    def hook(name: str, sender: int | None, recipient: int | None, payload: bytes) -> bytes | None:
        if sender is not None and (name, UP, sender) in attacks:
            return attacks[(name, UP, sender)].replace(payload)
        return payload

    with pytest.raises(ProtocolAbort) as info:
        run(security, 3, seed=SEED, intercept=hook)
    assert info.value.reason is AbortReason.BELOW_THRESHOLD
    assert "masked_input" in info.value.detail
    assert run_attacked(security, 3, attacks) is None


@pytest.mark.parametrize("security", MODES)
def test_corrupting_every_unmask_request_aborts_cleanly(security: str) -> None:
    attacks = {
        ("unmasking", DOWN, u): make_attack(security, "previous_session", "unmasking", DOWN, u, 2)
        for u in range(N)
    }
    assert run_attacked(security, 2, attacks) is None


def test_one_client_too_many_corrupted_aborts_one_fewer_completes() -> None:
    t, security = 3, "semi_honest"
    two = {
        ("share_keys", UP, u): make_attack(security, "truncate_half", "share_keys", UP, u, t)
        for u in (1, 3)
    }
    result = run_attacked(security, t, two)
    assert result is not None
    assert result.survivors == [0, 2, 4]
    three = {
        **two,
        ("share_keys", DOWN, 0): make_attack(security, "misaddressed", "share_keys", DOWN, 0, t),
    }
    assert run_attacked(security, t, three) is None


# --------------------------------------------------------------------------- well-formed tampering


def share_keys_hook(
    config: RoundConfig, owner: int, change: Callable[[wire.ShareKeys], wire.ShareKeys]
) -> Callable[[str, int | None, int | None, bytes], bytes]:
    """An intercept that rewrites ``owner``'s ShareKeys (genuine echo, valid digest)."""

    def hook(name: str, sender: int | None, recipient: int | None, payload: bytes) -> bytes:
        if (name, sender) != ("share_keys", owner):
            return payload
        return edit_reply(config, "share_keys", owner, payload, change)

    return hook


def corrupt_ciphertexts(to: Sequence[int]) -> Callable[[wire.ShareKeys], wire.ShareKeys]:
    def change(msg: wire.ShareKeys) -> wire.ShareKeys:
        cts = tuple(
            (v, bytes([ct[0] ^ 1]) + ct[1:] if v in to else ct) for v, ct in msg.ciphertexts
        )
        return dataclasses.replace(msg, ciphertexts=cts)

    return change


@pytest.mark.parametrize("security", MODES)
def test_one_undecryptable_share_is_reported_and_tolerated(security: str) -> None:
    """Client 0's ShareKeys (genuine echo, valid digest) carries a corrupted ciphertext for
    TARGET: TARGET accuses 0 in its share check and keeps none of 0's shares; 0 keeps t valid
    holders, so it stays, and the round completes exactly with nobody dropped."""
    config = config_for(security, 3)
    hook = share_keys_hook(config, 0, corrupt_ciphertexts([TARGET]))
    checks: dict[int, tuple[int, ...]] = {}

    def spy(name: str, sender: int | None, recipient: int | None, payload: bytes) -> bytes:
        if name == "share_check" and sender is not None:
            checks[sender] = wire.decode_share_check(payload, config, sender).accused
        return hook(name, sender, recipient, payload)

    result = run(security, 3, seed=SEED, intercept=spy)
    assert checks == {u: (0,) if u == TARGET else () for u in range(N)}
    assert result.survivors == list(range(N))
    assert result.drops == ()
    assert result.client_aborts == {}
    assert [int(v) for v in result.aggregate] == plain_sum(range(N))


@pytest.mark.parametrize("security", MODES)
def test_unreadable_shares_of_a_client_exclude_it_before_masking(security: str) -> None:
    """Client 0 sends a well-formed ShareKeys whose ciphertexts nobody can open: every holder
    accuses it, it is excluded (SHARES_REJECTED) before anyone masks with it, and the others
    complete exactly (in v1 this aborted the round for everyone: INSUFFICIENT_SHARES)."""
    config = config_for(security, 3)
    hook = share_keys_hook(config, 0, corrupt_ciphertexts(range(N)))
    result = run(security, 3, seed=SEED, intercept=hook)
    assert [(d.client, d.phase.value, d.reason) for d in result.drops] == [
        (0, "share_check", DropReason.SHARES_REJECTED)
    ]
    assert result.survivors == [1, 2, 3, 4]
    assert [int(v) for v in result.aggregate] == plain_sum([1, 2, 3, 4])


@pytest.mark.parametrize("bits", [1, 20, 33, 63])
def test_masked_input_outside_the_ring_is_invalid_content(bits: int) -> None:
    inputs = [x & np.uint64((1 << bits) - 1) for x in INPUTS]
    base = simulate_round(inputs, threshold=3, bits=bits, seed=SEED, workers=1)
    config = base.config
    assert config is not None
    dtype = np.dtype("<u4") if bits <= 32 else np.dtype("<u8")

    def hook(name: str, sender: int | None, recipient: int | None, payload: bytes) -> bytes:
        if (name, sender) == ("masked_input", TARGET):
            msg = wire.decode_masked_input(payload, config, TARGET)
            vector = msg.vector.astype(dtype)
            vector[-1] |= dtype.type(1 << bits)
            return reseal(config, payload, msg.prompt + vector.tobytes())
        return payload

    result = simulate_round(inputs, threshold=3, bits=bits, seed=SEED, intercept=hook, workers=1)
    assert [(d.client, d.phase.value, d.reason) for d in result.drops] == [
        (TARGET, "masked_input", DropReason.INVALID_CONTENT)
    ]
    survivors = [u for u in range(N) if u != TARGET]
    assert result.survivors == survivors
    expected = [sum(int(inputs[u][i]) for u in survivors) % (1 << bits) for i in range(DIM)]
    assert [int(v) for v in result.aggregate] == expected


# --------------------------------------------------------------------------- prompts re-sealed
# A server prompt changed in transit and re-sealed with a valid digest: the client either tells
# and refuses it, or answers it - echoing the digest of what it got, which is not what the server
# sent - and is dropped with PROMPT_MISMATCH. Either way it is out, and the others' sum is exact.

Hook = Callable[[str, int | None, int | None, bytes], bytes | None]


def prompt_hook(name: str, client: int, forge: Callable[[bytes], bytes]) -> Hook:
    """An intercept that replaces the round-``name`` prompt to ``client`` by ``forge(prompt)``."""

    def hook(rn: str, sender: int | None, recipient: int | None, payload: bytes) -> bytes:
        return forge(payload) if (rn, sender, recipient) == (name, None, client) else payload

    return hook


def assert_only_victim_out(
    security: str, result: RoundResult, name: str, client: int, refused: AbortReason | None
) -> None:
    """``client`` is out from round ``name`` on - refusing its prompt for ``refused``, or
    (``refused`` None) dropped for its echo - nobody else is, and the sum is exact."""
    assert [int(v) for v in result.aggregate] == plain_sum(result.survivors)
    if refused is None:
        assert result.client_aborts == {}
        expected = [(client, name, DropReason.PROMPT_MISMATCH)]
    else:
        assert result.client_aborts == {client: refused}
        expected = [(client, name, DropReason.TIMED_OUT)]
    assert [(d.client, d.phase.value, d.reason) for d in result.drops] == expected
    others = [u for u in range(N) if u != client]
    names = rounds(security)
    summed = names.index(name) > names.index("masked_input")
    assert result.survivors == (list(range(N)) if summed else others)
    assert result.responders == others


def forged_prompt_outcome(
    security: str, threshold: int, name: str, forge: Callable[[bytes], bytes]
) -> RoundResult | None:
    """TARGET's prompt of ``name`` forged: the result, or None if the round aborted (which
    must then be BELOW_THRESHOLD: TARGET was needed)."""
    try:
        return run(security, threshold, seed=SEED, intercept=prompt_hook(name, TARGET, forge))
    except ProtocolAbort as exc:
        assert exc.reason is AbortReason.BELOW_THRESHOLD
        assert threshold == N
        return None


FRESH_KEY = KeyPair.from_secret(bytes([7]) * 32).public
"""A valid X25519 public key that belongs to nobody in the round."""


def replace_peer_key(config: RoundConfig, field: str, key: bytes) -> Callable[[bytes], bytes]:
    """A KeyList forger: peer 0's ``field`` (c_public or s_public) set to ``key``, re-sealed."""

    def forge(payload: bytes) -> bytes:
        recipient = struct.unpack_from(">I", payload, 44)[0]

        def change(msg: wire.KeyList) -> wire.KeyList:
            entries = list(msg.entries)
            # Typed Any: mypy checks ** keywords against every field, client (an int) included.
            update: dict[str, Any] = {field: key}
            entries[0] = dataclasses.replace(entries[0], **update)
            return wire.KeyList(tuple(entries))

        return edit_prompt(config, "share_keys", recipient, payload, change)

    return forge


@pytest.mark.parametrize("security", MODES)
@pytest.mark.parametrize("field", ["s_public", "c_public"])
@pytest.mark.parametrize("threshold", [3, N])
def test_key_list_with_a_replaced_peer_key(security: str, field: str, threshold: int) -> None:
    """Peer 0's key in TARGET's KeyList replaced by another valid key. Semi-honest: TARGET
    cannot tell, and would mask with (or encrypt to) a key 0 does not hold; its ShareKeys echoes
    the forged prompt, so the server drops it and the rest add up exactly. Malicious: the key is
    not signed by 0, and TARGET refuses (BAD_SIGNATURE). With t = n the round aborts."""
    assert is_valid_public(FRESH_KEY)
    config = config_for(security, threshold)
    result = forged_prompt_outcome(
        security, threshold, "share_keys", replace_peer_key(config, field, FRESH_KEY)
    )
    if result is not None:
        refused = AbortReason.BAD_SIGNATURE if security == "malicious" else None
        assert_only_victim_out(security, result, "share_keys", TARGET, refused)


def test_key_list_with_a_peer_key_copied_from_another_peer_is_refused() -> None:
    """Peer 0's s^PK replaced by peer 1's: a repeated key, which TARGET can tell - it refuses."""
    log, _ = capture("semi_honest", SEED, 3)
    config = config_for("semi_honest", 3)
    genuine = wire.decode_key_list(log[("share_keys", None, TARGET)], config, TARGET)
    forge = replace_peer_key(config, "s_public", genuine.entries[1].s_public)
    result = forged_prompt_outcome("semi_honest", 3, "share_keys", forge)
    assert result is not None
    assert_only_victim_out(
        "semi_honest", result, "share_keys", TARGET, AbortReason.INCONSISTENT_VIEW
    )


def forge_share_forward(
    config: RoundConfig, edit: Callable[[list[wire.ForwardEntry]], list[wire.ForwardEntry]]
) -> Callable[[bytes], bytes]:
    def forge(payload: bytes) -> bytes:
        recipient = struct.unpack_from(">I", payload, 44)[0]

        def change(msg: wire.ShareForward) -> wire.ShareForward:
            return wire.ShareForward(tuple(edit(list(msg.entries))))

        return edit_prompt(config, "share_check", recipient, payload, change)

    return forge


@pytest.mark.parametrize("security", MODES)
@pytest.mark.parametrize("index", [0, -1], ids=["first", "last"])
@pytest.mark.parametrize("threshold", [3, 4, N])
def test_share_forward_with_an_entry_removed_drops_its_recipient(
    security: str, index: int, threshold: int
) -> None:
    """One entry withheld from TARGET's ShareForward: TARGET would hold no share of that peer
    (and, asked to mask with it, would refuse). Its echo gives it away and it is dropped; with
    t = n it sees too few peers and refuses, and the round aborts."""
    config = config_for(security, threshold)

    def remove(items: list[wire.ForwardEntry]) -> list[wire.ForwardEntry]:
        del items[index]
        return items

    result = forged_prompt_outcome(
        security, threshold, "share_check", forge_share_forward(config, remove)
    )
    if result is not None:
        assert_only_victim_out(security, result, "share_check", TARGET, None)


def test_share_forward_with_a_corrupted_ciphertext_drops_its_recipient() -> None:
    """One forwarded ciphertext altered in transit (valid digest): TARGET accuses its sender,
    but its ShareCheck echoes the altered prompt and is not used: the accusation cannot hurt
    the sender, and TARGET is out."""
    config = config_for("semi_honest", 3)

    def corrupt(items: list[wire.ForwardEntry]) -> list[wire.ForwardEntry]:
        first, *rest = items
        ct = first.ciphertext
        return [dataclasses.replace(first, ciphertext=bytes([ct[0] ^ 1]) + ct[1:]), *rest]

    result = forged_prompt_outcome(
        "semi_honest", 3, "share_check", forge_share_forward(config, corrupt)
    )
    assert result is not None
    assert_only_victim_out("semi_honest", result, "share_check", TARGET, None)


def test_share_forward_of_another_client_is_refused() -> None:
    """The ShareForward meant for another client, re-sealed for TARGET: it lists TARGET's own
    shares, which TARGET can tell - it refuses."""
    log, _ = capture("semi_honest", SEED, 3)
    config = config_for("semi_honest", 3)
    theirs = body_of(log[("share_check", None, (TARGET + 1) % N)])
    result = forged_prompt_outcome(
        "semi_honest", 3, "share_check", lambda payload: reseal(config, payload, theirs)
    )
    assert result is not None
    assert_only_victim_out(
        "semi_honest", result, "share_check", TARGET, AbortReason.INCONSISTENT_VIEW
    )


@pytest.mark.parametrize("security", MODES)
@pytest.mark.parametrize("threshold", [3, 4, N])
def test_survivor_set_of_another_run_drops_or_stops_its_recipient(
    security: str, threshold: int
) -> None:
    """TARGET's UnmaskRequest (semi-honest) or ConsistencyRequest (malicious) replaced by one
    naming 0..3, as a server would send if 4 had dropped before its masked input: TARGET would
    reveal its share of s_4^SK although 4 survived here. Semi-honest: its response echoes the
    replaced prompt and is dropped before its shares are looked at. Malicious: it signs that
    set, its signature is over a U3 the server did not send it - dropped for the echo first. With
    t = n TARGET refuses a set of n - 1 < t survivors and the round aborts."""
    config = config_for(security, threshold)
    name = "consistency_check" if security == "malicious" else "unmasking"
    stale = wire.IdSet.of([0, 1, 2, 3], N).bitmap
    result = forged_prompt_outcome(security, threshold, name, lambda p: reseal(config, p, stale))
    if result is not None:
        assert_only_victim_out(security, result, name, TARGET, None)


@pytest.mark.parametrize(
    ("security", "name"),
    [("semi_honest", "share_keys"), *sorted(SESSION_FREE_PROMPTS)],
)
def test_prompt_bodies_shared_by_every_client_re_seal_to_the_genuine_prompt(
    security: str, name: str
) -> None:
    """KeyList (complete graph) and id-set bodies are the same for every recipient (and id sets
    for any session with the same set): re-sealing another client's - or another session's -
    for TARGET gives the genuine bytes, so it is no attack (why ``applicable`` skips
    reseal_previous_session for them)."""
    log, _ = capture(security, SEED, 3)
    other_log, _ = capture(security, OTHER_SEED, 3)
    config = config_for(security, 3)
    genuine = log[(name, None, TARGET)]
    sources = [log[(name, None, (TARGET + 1) % N)]]
    if (security, name) in SESSION_FREE_PROMPTS:
        sources.append(other_log[(name, None, TARGET)])
    for source in sources:
        assert source != genuine
        assert reseal(config, genuine, body_of(source)) == genuine


@pytest.mark.parametrize(("security", "name"), [(s, name) for s in MODES for name in rounds(s)[1:]])
@settings(max_examples=8)
@given(
    position=st.integers(0, 10_000),
    mask=st.integers(1, 255),
    client=st.integers(0, N - 1),
    threshold=st.integers(1, N),
)
def test_any_byte_change_to_a_resealed_prompt_never_yields_a_wrong_sum(
    security: str, name: str, position: int, mask: int, client: int, threshold: int
) -> None:
    """Any single byte of any prompt body changed and re-sealed: its recipient refuses it or is
    dropped with PROMPT_MISMATCH (run_attacked checks which), nobody else is touched, and the
    round releases the exact sum over its survivors - or aborts when fewer than t remain."""
    attack = Attack(
        "reseal_flip",
        reseal_flip(config_for(security, threshold), position, mask),
        DropReason.PROMPT_MISMATCH,
    )
    result = run_attacked(security, threshold, {(name, DOWN, client): attack})
    if result is None:
        event("aborted")
    else:
        event(f"refused: {result.client_aborts[client].name}" if result.client_aborts else "echo")


# --------------------------------------------------------------------------- resealed bodies


RESEALABLE = [
    (security, name, direction)
    for security in MODES
    for name, direction in message_types(security)
    if (name, direction) != ("masked_input", UP)
]
"""Where a valid-digest body of garbage must never yield a wrong sum. (A resealed MaskedInput
*can* change the sum: masked inputs are not signed in either mode, see SPEC 13 - the float
layer refuses impossible sums. Every other reply carries the prompt echo first, and every
UnmaskResponse share is checked against its owner's commitment. A resealed server prompt gets
its recipient out of the round.)"""


@pytest.mark.parametrize(("security", "name", "direction"), RESEALABLE)
@settings(max_examples=6)
@given(data=st.data(), threshold=st.integers(1, N))
def test_resealed_garbage_body_never_yields_a_wrong_sum(
    security: str, name: str, direction: str, data: st.DataObject, threshold: int
) -> None:
    log, _ = capture(security, SEED, threshold)
    config = config_for(security, threshold)
    client = data.draw(st.integers(0, N - 1), label="client")
    original = body_of(log[channel(name, direction, client)])
    if data.draw(st.booleans(), label="same length"):
        body = data.draw(st.binary(min_size=len(original), max_size=len(original)))
    else:
        body = data.draw(st.binary(max_size=2 * len(original)))
    target = channel(name, direction, client)

    def hook(rn: str, sender: int | None, recipient: int | None, payload: bytes) -> bytes:
        return reseal(config, payload, body) if (rn, sender, recipient) == target else payload

    try:
        result = run(security, threshold, seed=SEED, intercept=hook)
    except ProtocolAbort:
        return  # a clean abort is an acceptable outcome; any other exception fails the test
    assert [int(v) for v in result.aggregate] == plain_sum(result.survivors)
    assert len(result.survivors) >= threshold
    assert len(result.responders) >= threshold
    if direction == DOWN and body != original:
        # The client refused the prompt, or answered it and was dropped for the echo.
        refused = client in result.client_aborts
        reason = DropReason.TIMED_OUT if refused else DropReason.PROMPT_MISMATCH
        assert [(d.client, d.phase.value, d.reason) for d in result.drops] == [
            (client, name, reason)
        ]


# --------------------------------------------------------------------------- share commitments


def alter_share(value: bytes) -> bytes:
    limbs = bytearray(value)
    limbs[3] ^= 1  # the low bit of limb 0: still a field element
    return bytes(limbs)


@pytest.mark.parametrize(
    ("client", "dropout"),
    [(u, None) for u in range(N)] + [(u, d) for u in range(N) for d in (0, 4) if u != d],
)
def test_altered_unmask_share_drops_its_sender_and_the_sum_is_exact(
    client: int, dropout: int | None
) -> None:
    """One share of one response changed: the sender is dropped with BAD_SHARE and the others
    unmask exactly. Without a dropout the altered share is one of b_v for the next client v;
    with one, it is the dropout's share of s^SK."""
    config = config_for("semi_honest", 3)
    drop = {} if dropout is None else {"masked_input": [dropout]}
    peer = (client + 1) % N if dropout is None else dropout
    kind = wire.ShareKind.SELF_MASK if dropout is None else wire.ShareKind.KEY

    def hook(name: str, sender: int | None, recipient: int | None, payload: bytes) -> bytes:
        if (name, sender) != ("unmasking", client):
            return payload

        def change(msg: wire.UnmaskResponse) -> wire.UnmaskResponse:
            assert [p for p, _, _ in msg.shares] == list(range(N))  # one share of each of U2
            assert msg.shares[peer][1] is kind
            shares = tuple((p, k, alter_share(v) if p == peer else v) for p, k, v in msg.shares)
            return dataclasses.replace(msg, shares=shares)

        return edit_reply(config, "unmasking", client, payload, change)

    result = run("semi_honest", 3, seed=SEED, intercept=hook, drop=drop)
    survivors = [u for u in range(N) if u != dropout]
    assert result.survivors == survivors
    assert result.responders == [u for u in survivors if u != client]
    assert [int(v) for v in result.aggregate] == plain_sum(survivors)
    unmask_drops = [(d.client, d.reason) for d in result.drops if d.phase.value == "unmasking"]
    assert unmask_drops == [(client, DropReason.BAD_SHARE)]


def forge_commitments(
    config: RoundConfig, owner: int, edit: Callable[[int, bytes, bytes], tuple[bytes, bytes]]
) -> Callable[[str, int | None, int | None, bytes], bytes]:
    """An intercept that rewrites ``owner``'s ShareKeys commitments (valid digest)."""

    def change(msg: wire.ShareKeys) -> wire.ShareKeys:
        commitments = tuple((v, *edit(v, ck, cm)) for v, ck, cm in msg.commitments)
        return dataclasses.replace(msg, commitments=commitments)

    return share_keys_hook(config, owner, change)


@pytest.mark.parametrize("security", MODES)
def test_forged_commitment_of_one_holder_is_reported_and_tolerated(security: str) -> None:
    """Client 0's commitment to holder 1's share of b_0 is replaced: holder 1's share then fails
    it at the share check, so 1 accuses 0 and holds none of 0's shares; 0 keeps t valid holders
    and the round completes exactly, nobody dropped."""
    config = config_for(security, 3)
    hook = forge_commitments(config, 0, lambda v, ck, cm: (ck, bytes(32) if v == 1 else cm))
    result = run(security, 3, seed=SEED, intercept=hook)
    assert result.survivors == list(range(N))
    assert result.responders == list(range(N))
    assert result.drops == ()
    assert [int(v) for v in result.aggregate] == plain_sum(range(N))


@pytest.mark.parametrize("swap", [False, True], ids=["zeroed", "key-and-mask-swapped"])
def test_forged_commitments_of_an_owner_exclude_it(swap: bool) -> None:
    """Every commitment of client 0 forged (or C_key and C_mask swapped): every holder's share
    fails them, every holder accuses 0, and 0 is excluded before masking (SHARES_REJECTED);
    the round completes exactly over the others."""
    config = config_for("semi_honest", 3)

    def edit(v: int, ck: bytes, cm: bytes) -> tuple[bytes, bytes]:
        return (cm, ck) if swap else (bytes(32), bytes(32))

    result = run("semi_honest", 3, seed=SEED, intercept=forge_commitments(config, 0, edit))
    assert [(d.client, d.reason) for d in result.drops] == [(0, DropReason.SHARES_REJECTED)]
    assert result.survivors == [1, 2, 3, 4]
    assert [int(v) for v in result.aggregate] == plain_sum([1, 2, 3, 4])
