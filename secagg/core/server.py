"""The server state machine: bytes in, bytes out; no I/O.

Transitions::

    ADVERTISE_KEYS --advance()--> SHARE_KEYS      U1 = clients with valid keys; sends KeyList
    SHARE_KEYS     --advance()--> MASKED_INPUT    U2 = clients that shared; sends ShareForward
    MASKED_INPUT   --advance()--> UNMASKING       U3 = masked inputs summed; sends UnmaskRequest
    UNMASKING      --advance()--> COMPLETED       U4 = responders; reconstructs, unmasks
    any phase      --advance() with < t live--> ABORTED (raises ProtocolAbort)

(A ConsistencyCheck round will sit between MASKED_INPUT and UNMASKING.)

``receive(sender, data)`` never raises for bad bytes: the sender is dropped with a
:class:`~secagg.errors.DropReason` recorded in :attr:`Server.drops` and the round goes on. The
transport calls ``advance()`` when every expected client has answered (:attr:`Server.ready`) or
its deadline passes; clients that said nothing by then are dropped as TIMED_OUT.

Masked inputs are added to one running sum as they arrive, so memory for vectors is O(m).
"""

from __future__ import annotations

import array
import bisect
import enum
import operator
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from secagg.config import RoundConfig
from secagg.core import wire
from secagg.core.graph import COMPLETE, MaskingGraph
from secagg.crypto import kdf, prg, shamir
from secagg.crypto.commit import COMMITMENT_SIZE, share_commitment
from secagg.crypto.keys import KeyAgreementError, KeyPair, fingerprint
from secagg.crypto.prg import RingArray
from secagg.errors import (
    AbortReason,
    DecodeError,
    DropReason,
    ProtocolAbort,
    StateError,
)


class ServerPhase(enum.Enum):
    ADVERTISE_KEYS = "advertise_keys"
    SHARE_KEYS = "share_keys"
    MASKED_INPUT = "masked_input"
    UNMASKING = "unmasking"
    COMPLETED = "completed"
    ABORTED = "aborted"


@dataclass(frozen=True, slots=True)
class Drop:
    """One client dropped by the server: when, why, and a human-readable detail (no secrets)."""

    client: int
    phase: ServerPhase
    reason: DropReason
    detail: str


@dataclass(frozen=True, slots=True)
class Aggregate:
    """The output of a completed round."""

    vector: RingArray
    """sum_{u in U3} x_u mod 2^b."""
    survivors: tuple[int, ...]
    """U3: the clients whose inputs are in :attr:`vector`, sorted."""
    responders: tuple[int, ...]
    """U4: the clients whose shares unmasked the sum, sorted."""


class Server:
    """The server of one round (Bonawitz et al., honest-but-curious variant)."""

    def __init__(self, config: RoundConfig, *, graph: MaskingGraph = COMPLETE) -> None:
        self.config = config
        self.phase = ServerPhase.ADVERTISE_KEYS
        self.drops: list[Drop] = []
        self.result: Aggregate | None = None
        self.abort: ProtocolAbort | None = None
        self._graph = graph
        self._expected: set[int] = set(range(config.num_clients))
        self._accepted: set[int] = set()
        self._keys: dict[int, wire.AdvertiseKeys] = {}
        self._fingerprints: dict[int, tuple[bytes, bytes]] = {}  # for the distinct-keys rule
        self._ciphertexts: dict[int, dict[int, bytes]] = {}
        self._commitments: dict[int, tuple[array.array[int], bytes]] = {}
        self._u1: list[int] = []
        self._u2: list[int] = []
        self._u3: list[int] = []
        self._sum: RingArray | None = None
        # client -> digest of the prompt we sent it this phase; its reply must echo it.
        self._prompts: dict[int, bytes] = {}
        # secret owner -> {holder: share}
        self._key_shares: dict[int, dict[int, int]] = {}
        self._mask_shares: dict[int, dict[int, int]] = {}

    # ------------------------------------------------------------------ transport-facing API

    @property
    def ready(self) -> bool:
        """True once every client expected in this phase has answered or been dropped."""
        return self._accepted >= self._expected

    @property
    def live(self) -> frozenset[int]:
        """Clients whose message of the current phase has been accepted so far."""
        return frozenset(self._accepted)

    def receive(self, sender: int, data: bytes) -> None:
        """Take one message from client ``sender`` (as identified by the transport)."""
        if self.phase in (ServerPhase.COMPLETED, ServerPhase.ABORTED):
            return  # late traffic after the round closed is ignored
        try:
            # Integers of any kind (numpy's too) are ids; 0.0 == 0 must not pass for client 0.
            sender = operator.index(sender)
        except TypeError:
            return
        if sender not in self._expected:
            return  # a client already dropped (or an unknown id) cannot rejoin the round
        if sender in self._accepted:
            # The first message stands; a repeat (retransmission or replay) changes nothing.
            return
        try:
            handler = {
                ServerPhase.ADVERTISE_KEYS: self._on_advertise,
                ServerPhase.SHARE_KEYS: self._on_share_keys,
                ServerPhase.MASKED_INPUT: self._on_masked_input,
                ServerPhase.UNMASKING: self._on_unmask_response,
            }[self.phase]
            handler(sender, data)
        except DecodeError as exc:
            self._drop(sender, exc.reason, exc.detail)
            return
        self._accepted.add(sender)

    def advance(self) -> list[tuple[int, bytes]]:
        """Close the current phase; return the (recipient, bytes) prompts of the next one.

        Raises :class:`ProtocolAbort` when fewer than ``t`` clients remain.
        """
        if self.phase in (ServerPhase.COMPLETED, ServerPhase.ABORTED):
            raise StateError(f"the round is already {self.phase.value}")
        for client in sorted(self._expected - self._accepted):
            self._drop(client, DropReason.TIMED_OUT, "no message before the round closed")
        live = sorted(self._accepted)
        try:
            self._require(len(live), f"{self.phase.value} closed with {len(live)} clients")
            closer = {
                ServerPhase.ADVERTISE_KEYS: self._close_advertise,
                ServerPhase.SHARE_KEYS: self._close_share_keys,
                ServerPhase.MASKED_INPUT: self._close_masked_input,
                ServerPhase.UNMASKING: self._close_unmasking,
            }[self.phase]
            out = closer(live)
        except ProtocolAbort as exc:
            self.phase = ServerPhase.ABORTED
            self.abort = exc
            self._release()
            raise
        self._accepted = set()
        self._prompts = {v: wire.prompt_digest(data) for v, data in out}
        return out

    # ------------------------------------------------------------------ receive handlers

    def _on_advertise(self, sender: int, data: bytes) -> None:
        msg = wire.decode_advertise_keys(data, self.config, sender)
        c_print, s_print = fingerprint(msg.c_public), fingerprint(msg.s_public)
        if c_print is None or s_print is None:
            raise DecodeError(DropReason.INVALID_CONTENT, "low-order or non-canonical key")
        self._keys[sender] = msg
        self._fingerprints[sender] = (c_print, s_print)

    def _check_prompt(self, sender: int, echoed: bytes) -> None:
        if echoed != self._prompts.get(sender):
            raise DecodeError(
                DropReason.PROMPT_MISMATCH, "reply answers a prompt the server did not send"
            )

    def _on_share_keys(self, sender: int, data: bytes) -> None:
        msg = wire.decode_share_keys(data, self.config, sender)
        self._check_prompt(sender, msg.prompt)
        recipients = [v for v, _ in msg.ciphertexts]
        if recipients != self._graph.neighbors(sender, self._u1):
            raise DecodeError(DropReason.INVALID_CONTENT, "shares do not go to exactly U1's peers")
        holders = [v for v, _, _ in msg.commitments]
        if holders != sorted([sender, *recipients]):
            raise DecodeError(DropReason.INVALID_CONTENT, "commitments do not cover every holder")
        self._ciphertexts[sender] = dict(msg.ciphertexts)
        # Kept compactly (sorted holder ids + one blob) since this is O(n^2) for the round.
        self._commitments[sender] = (
            array.array("I", holders),
            b"".join(ck + cm for _, ck, cm in msg.commitments),
        )

    def _on_masked_input(self, sender: int, data: bytes) -> None:
        msg = wire.decode_masked_input(data, self.config, sender)
        self._check_prompt(sender, msg.prompt)
        if self._sum is None:
            self._sum = np.zeros(self.config.dim, dtype=prg.ring_dtype(self.config.bits))
        np.add(self._sum, msg.vector, out=self._sum)

    def _on_unmask_response(self, sender: int, data: bytes) -> None:
        msg = wire.decode_unmask_response(data, self.config, sender)
        self._check_prompt(sender, msg.prompt)
        survivors = set(self._u3)
        holders_of = {sender, *self._graph.neighbors(sender, self._u2)}
        for peer, kind, value in msg.shares:
            if peer not in holders_of:
                raise DecodeError(DropReason.INVALID_CONTENT, f"share of unexpected peer {peer}")
            wanted = wire.ShareKind.SELF_MASK if peer in survivors else wire.ShareKind.KEY
            if kind is not wanted:
                raise DecodeError(DropReason.INVALID_CONTENT, f"wrong share kind for peer {peer}")
            if share_commitment(self.config.session_id, peer, sender, kind, value) != (
                self._commitment(peer, sender, kind)
            ):
                raise DecodeError(
                    DropReason.BAD_SHARE, f"share of peer {peer} fails its commitment"
                )
        for peer, kind, value in msg.shares:
            book = self._mask_shares if kind is wire.ShareKind.SELF_MASK else self._key_shares
            book.setdefault(peer, {})[sender] = value

    # ------------------------------------------------------------------ phase closers

    def _close_advertise(self, live: list[int]) -> list[tuple[int, bytes]]:
        # Bonawitz et al. require all public keys of a round to be distinct; a repeated key
        # means a copied or replayed advertisement, so every client involved is dropped. Keys
        # are compared by fingerprint, so a copy re-spelled as another u of the same key
        # (a small-order point added) counts as a repeat too.
        seen: dict[bytes, list[int]] = {}
        for u in live:
            for key in self._fingerprints[u]:
                seen.setdefault(key, []).append(u)
        clash = {u for owners in seen.values() if len(owners) > 1 for u in owners}
        for u in sorted(clash):
            self._drop(u, DropReason.INVALID_CONTENT, "public key repeated in this round")
        self._u1 = [u for u in live if u not in clash]
        self._fingerprints.clear()
        self._require(len(self._u1), f"only {len(self._u1)} clients advertised distinct keys")
        entries = tuple(
            wire.KeyEntry(u, self._keys[u].c_public, self._keys[u].s_public) for u in self._u1
        )
        self._enter(ServerPhase.SHARE_KEYS, self._u1)
        body = wire.key_list_body(wire.KeyList(entries))
        kind = wire.MessageType.KEY_LIST
        return [(u, wire.envelope(self.config, kind, wire.SERVER_ID, u, body)) for u in self._u1]

    def _close_share_keys(self, live: list[int]) -> list[tuple[int, bytes]]:
        self._u2 = live
        u2 = set(live)
        out = []
        for v in live:
            forwarded = tuple(
                (u, self._ciphertexts[u][v])
                for u in self._graph.neighbors(v, u2)
                if v in self._ciphertexts[u]
            )
            out.append((v, wire.encode_share_forward(self.config, v, wire.ShareForward(forwarded))))
        self._ciphertexts.clear()  # O(n^2) bytes we no longer need
        self._enter(ServerPhase.MASKED_INPUT, live)
        return out

    def _close_masked_input(self, live: list[int]) -> list[tuple[int, bytes]]:
        self._u3 = live
        body = wire.unmask_request_body(wire.UnmaskRequest(tuple(live)))
        kind = wire.MessageType.UNMASK_REQUEST
        self._enter(ServerPhase.UNMASKING, live)
        return [(v, wire.envelope(self.config, kind, wire.SERVER_ID, v, body)) for v in live]

    def _close_unmasking(self, live: list[int]) -> list[tuple[int, bytes]]:
        cfg = self.config
        assert self._sum is not None  # U3 is non-empty, so at least one input was summed
        total = self._sum
        survivors = set(self._u3)
        for u in self._u3:
            b_u = self._reconstruct(self._mask_shares.get(u, {}), u, "b_u")
            prg.accumulate(total, b_u, label=prg.LABEL_SELF_MASK, negate=True)
        for u in self._u2:
            if u in survivors:
                continue
            s_u = self._reconstruct_key(u)
            for v in self._graph.neighbors(u, survivors):
                try:
                    shared = s_u.agree(self._keys[v].s_public)
                except KeyAgreementError as exc:  # cannot happen: keys were checked in round 0
                    raise ProtocolAbort(AbortReason.KEY_AGREEMENT_FAILED, str(exc)) from exc
                seed = kdf.pair_mask_seed(shared, session_id=cfg.session_id, u=u, v=v)
                # v added Delta_{v,u} PRG(s_{u,v}) with Delta = +1 iff v < u; take it back out.
                prg.accumulate(total, seed, label=prg.LABEL_PAIR_MASK, negate=v < u)
        prg.reduce(total, cfg.bits)
        self.result = Aggregate(total, tuple(self._u3), tuple(live))
        self._enter(ServerPhase.COMPLETED, [])
        self._release()
        return []

    # ------------------------------------------------------------------ helpers

    def _commitment(self, owner: int, holder: int, kind: wire.ShareKind) -> bytes:
        holders, blob = self._commitments[owner]
        # bisect on a compact array: a numpy call per share would cost more than the search.
        i = bisect.bisect_left(holders, holder)
        if i == len(holders) or holders[i] != holder:
            # Defensive: the holder checks in ShareKeys and Unmasking make this unreachable for a
            # symmetric graph, but a share without a commitment must never match.
            return b""
        start = i * 2 * COMMITMENT_SIZE + kind * COMMITMENT_SIZE
        return blob[start : start + COMMITMENT_SIZE]

    def _reconstruct_key(self, owner: int) -> KeyPair:
        """s_u^SK of a dropped client, checked against its advertised s_u^PK so that wrong
        shares abort the round instead of yielding a wrong aggregate."""
        pair = KeyPair.from_secret(
            self._reconstruct(self._key_shares.get(owner, {}), owner, "s_u^SK")
        )
        if pair.public != self._keys[owner].s_public:
            raise ProtocolAbort(
                AbortReason.INCONSISTENT_SHARES,
                f"shares of s_u^SK for client {owner} do not match the advertised public key",
            )
        return pair

    def _reconstruct(self, shares: dict[int, int], owner: int, what: str) -> bytes:
        """The secret of ``owner`` from the ``t`` lowest-id holders (a stable holder set keeps
        the Lagrange cache hot)."""
        t = self.config.threshold
        if len(shares) < t:
            raise ProtocolAbort(
                AbortReason.INSUFFICIENT_SHARES,
                f"{len(shares)} < t shares of {what} for client {owner}",
            )
        holders = sorted(shares)[:t]
        value = shamir.reconstruct([(h + 1, shares[h]) for h in holders])
        try:
            secret = shamir.secret_bytes(value)
        except ValueError as exc:
            raise ProtocolAbort(
                AbortReason.INCONSISTENT_SHARES, f"shares of {what} for client {owner} disagree"
            ) from exc
        return secret

    def _require(self, count: int, detail: str) -> None:
        if count < self.config.threshold:
            raise ProtocolAbort(
                AbortReason.BELOW_THRESHOLD, f"{detail}; threshold t={self.config.threshold}"
            )

    def _drop(self, client: int, reason: DropReason, detail: str) -> None:
        self.drops.append(Drop(client, self.phase, reason, detail))
        self._expected.discard(client)
        self._accepted.discard(client)

    def _enter(self, phase: ServerPhase, expected: Iterable[int]) -> None:
        self.phase = phase
        self._expected = set(expected)

    def _release(self) -> None:
        self._prompts.clear()
        self._ciphertexts.clear()
        self._commitments.clear()
        self._key_shares.clear()
        self._mask_shares.clear()
