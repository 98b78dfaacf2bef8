"""The server state machine: bytes in, bytes out; no I/O.

Transitions::

    ADVERTISE_KEYS --advance()--> SHARE_KEYS        U1 = valid, distinct (signed) keys; KeyList
    SHARE_KEYS     --advance()--> SHARE_CHECK       shares accepted; ShareForward
    SHARE_CHECK    --advance()--> MASKED_INPUT      U2 = checked, minus rejected owners; MaskRequest
    MASKED_INPUT   --advance()--> UNMASKING         U3 = masked inputs summed; UnmaskRequest
        (malicious mode: --> CONSISTENCY_CHECK, ConsistencyRequest; then
    CONSISTENCY_CHECK --advance()--> UNMASKING      signers; UnmaskRequest with signatures)
    UNMASKING      --advance()--> COMPLETED         U4 = responders; rebuilds secrets, unmasks
    any phase      --advance() with < t live--> ABORTED (raises ProtocolAbort)

``receive(sender, data)`` never raises for bad bytes: the sender is dropped with a
:class:`~secagg.errors.DropReason` recorded in :attr:`Server.drops` and the round goes on. The
transport calls ``advance()`` when every expected client has answered (:attr:`Server.ready`) or
when its deadline for the phase has passed; clients that have not answered by then are dropped
as ``TIMED_OUT``.

Memory: one running sum of ``m`` ring elements, plus O(n k) shares and commitments (``k`` the
neighbours per client; ``n - 1`` for the complete graph) - never ``n`` vectors. The unmasking
regenerates every mask it removes in ``workers`` threads, each over its own range of the vector
(:func:`secagg.crypto.prg.accumulate_parallel`), bit-identical for any number of workers.
"""

from __future__ import annotations

import enum
import operator
import struct
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from secagg.config import RoundConfig
from secagg.core import wire
from secagg.core.graph import graph_for
from secagg.core.pairkeys import Dropped, pair_mask_keys
from secagg.crypto import kdf, prg, shamir
from secagg.crypto.commit import COMMITMENT_SIZE, ShareCommitments, self_mask_commitment
from secagg.crypto.keys import KeyPair, fingerprint
from secagg.crypto.prg import RingArray
from secagg.crypto.sign import verify
from secagg.errors import (
    AbortReason,
    ConfigError,
    DecodeError,
    DropReason,
    ProtocolAbort,
    StateError,
)

MAX_UNKNOWN_RECORDS = 64
"""How many messages from ids outside the roster are recorded (the rest are only ignored)."""


class ServerPhase(enum.Enum):
    ADVERTISE_KEYS = "advertise_keys"
    SHARE_KEYS = "share_keys"
    SHARE_CHECK = "share_check"
    MASKED_INPUT = "masked_input"
    CONSISTENCY_CHECK = "consistency_check"
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


@dataclass(slots=True)
class _Sharing:
    """What owner u sent in ShareKeys, as arrays (this is O(n k) for the round): the
    ciphertexts until they are forwarded, the commitments and C_b until unmasking."""

    peers: list[int]
    ciphertexts: npt.NDArray[np.uint8] | None  # (peers, 96), dropped once forwarded
    holders: list[int]
    commitments: npt.NDArray[np.uint8]  # (holders, 2, 32): C_key, C_mask
    self_mask: bytes  # C_b


_FORWARD_RECORD = np.dtype(
    [
        ("id", ">u4"),
        ("ciphertext", "u1", (wire.SHARE_CIPHERTEXT_SIZE,)),
        ("commitments", "u1", (2, COMMITMENT_SIZE)),
    ]
)


class Server:
    """The server of one round (Bonawitz et al.; Bell et al. with ``config.neighbors``)."""

    def __init__(self, config: RoundConfig, *, workers: int = 1) -> None:
        if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
            raise ConfigError(f"workers must be a positive int, got {workers!r}")
        self.config = config
        self.workers = workers
        self.phase = ServerPhase.ADVERTISE_KEYS
        self.drops: list[Drop] = []
        self.result: Aggregate | None = None
        self.abort: ProtocolAbort | None = None
        self._graph = graph_for(config)
        self._commit = ShareCommitments(config.session_id)
        self._expected: set[int] = set(range(config.num_clients))
        self._accepted: set[int] = set()
        self._unknown = 0
        self._keys: dict[int, wire.AdvertiseKeys] = {}
        self._fingerprints: dict[int, tuple[bytes, bytes]] = {}  # for the distinct-keys rule
        self._u1: list[int] = []
        self._u1set: set[int] = set()
        self._u1_array = np.zeros(0, dtype=np.int64)
        self._u3_bits = np.zeros(config.num_clients, dtype=bool)
        # Complete graph: every owner's commitments in one array, rows by owner.
        self._all_commitments: npt.NDArray[np.uint8] | None = None
        self._owner_row = np.zeros(0, dtype=np.int64)
        # Sparse graph: every (owner, holder) pair's commitments, keyed owner * n + holder.
        self._pair_keys = np.zeros(0, dtype=np.int64)
        self._pair_commitments = np.zeros((0, 2, COMMITMENT_SIZE), dtype=np.uint8)
        self._sharings: dict[int, _Sharing] = {}
        self._accused: dict[int, frozenset[int]] = {}  # holder -> owners it reported
        self._valid: dict[int, list[int]] = {}  # owner -> holders with valid shares, sorted
        self._u2: wire.IdSet | None = None
        self._u3: wire.IdSet | None = None
        self._sum: RingArray | None = None
        self._signatures: dict[int, bytes] = {}
        # client -> digest of the prompt we sent it this phase; its reply must echo it.
        self._prompts: dict[int, bytes] = {}
        # responder -> its UnmaskResponse: owners (sorted) and their shares' limbs
        self._responses: dict[int, tuple[npt.NDArray[np.int64], npt.NDArray[np.uint64]]] = {}

    # ------------------------------------------------------------------ transport-facing API

    @property
    def ready(self) -> bool:
        """True once every client expected in this phase has answered or been dropped."""
        return self._accepted >= self._expected

    @property
    def live(self) -> frozenset[int]:
        """Clients whose message of the current phase has been accepted so far."""
        return frozenset(self._accepted)

    @property
    def expected(self) -> frozenset[int]:
        """Clients the server still waits for in this phase (prompted, not yet answered)."""
        return frozenset(self._expected - self._accepted)

    def receive(self, sender: int, data: bytes) -> None:
        """Take one message from client ``sender`` (as identified by the transport)."""
        if self.phase in (ServerPhase.COMPLETED, ServerPhase.ABORTED):
            return  # late traffic after the round closed is ignored
        if isinstance(sender, bool):
            return  # True is not client 1
        try:
            # Integers of any kind (numpy's too) are ids; 0.0 == 0 must not pass for client 0.
            sender = operator.index(sender)
        except TypeError:
            return
        if not 0 <= sender < self.config.num_clients:
            if self._unknown < MAX_UNKNOWN_RECORDS:
                self._unknown += 1
                self.drops.append(
                    Drop(sender, self.phase, DropReason.UNKNOWN_CLIENT, "id outside the roster")
                )
            return
        if sender not in self._expected:
            return  # a client already dropped (or never prompted) cannot rejoin the round
        if sender in self._accepted:
            # The first message stands; a repeat (retransmission or replay) changes nothing.
            return
        try:
            handler = {
                ServerPhase.ADVERTISE_KEYS: self._on_advertise,
                ServerPhase.SHARE_KEYS: self._on_share_keys,
                ServerPhase.SHARE_CHECK: self._on_share_check,
                ServerPhase.MASKED_INPUT: self._on_masked_input,
                ServerPhase.CONSISTENCY_CHECK: self._on_consistency,
                ServerPhase.UNMASKING: self._on_unmask_response,
            }[self.phase]
            handler(sender, data)
        except DecodeError as exc:
            self._drop(sender, exc.reason, exc.detail)
            return
        self._accepted.add(sender)

    def advance(self) -> list[tuple[int, bytes]]:
        """Close the current phase; return the (recipient, bytes) prompts of the next one.

        Raises :class:`ProtocolAbort` when fewer than ``t`` clients remain, or a secret cannot
        be rebuilt (no aggregate is released then).
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
                ServerPhase.SHARE_CHECK: self._close_share_check,
                ServerPhase.MASKED_INPUT: self._close_masked_input,
                ServerPhase.CONSISTENCY_CHECK: self._close_consistency,
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
        cfg = self.config
        msg = wire.decode_advertise_keys(data, cfg, sender)
        if cfg.malicious:
            assert cfg.roster is not None
            parts = wire.advertise_signed_parts(cfg, sender, msg.c_public, msg.s_public)
            if not verify(cfg.roster[sender], msg.signature, wire.LABEL_ADVERTISE, *parts):
                raise DecodeError(DropReason.BAD_SIGNATURE, "advertisement not signed by sender")
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

    def _holders_in_u1(self, u: int) -> npt.NDArray[np.int64]:
        """H(u) cap U1, sorted: who must get u's shares and commitments."""
        if self._graph.complete:
            return self._u1_array
        return np.asarray([v for v in self._graph.holders(u) if v in self._u1set], dtype=np.int64)

    def _on_share_keys(self, sender: int, data: bytes) -> None:
        msg = wire.decode_share_keys_arrays(data, self.config, sender)
        self._check_prompt(sender, msg.prompt)
        holders = self._holders_in_u1(sender)
        if not np.array_equal(msg.peers, holders[holders != sender]):
            raise DecodeError(
                DropReason.INVALID_CONTENT, "shares do not go to exactly the neighbours in U1"
            )
        if not np.array_equal(msg.holders, holders):
            raise DecodeError(DropReason.INVALID_CONTENT, "commitments do not cover every holder")
        self._sharings[sender] = _Sharing(
            msg.peers.tolist(),
            msg.ciphertexts,
            msg.holders.tolist(),
            msg.commitments,
            msg.self_mask_commitment,
        )

    def _on_share_check(self, sender: int, data: bytes) -> None:
        msg = wire.decode_share_check(data, self.config, sender)
        self._check_prompt(sender, msg.prompt)
        forwarded = self._forwarded_to(sender)
        if any(u not in forwarded for u in msg.accused):
            raise DecodeError(
                DropReason.INVALID_CONTENT, "reports a client whose shares it was not sent"
            )
        self._accused[sender] = frozenset(msg.accused)

    def _on_masked_input(self, sender: int, data: bytes) -> None:
        msg = wire.decode_masked_input(data, self.config, sender)
        self._check_prompt(sender, msg.prompt)
        if self._sum is None:
            self._sum = np.zeros(self.config.dim, dtype=prg.ring_dtype(self.config.bits))
        np.add(self._sum, msg.vector, out=self._sum)

    def _on_consistency(self, sender: int, data: bytes) -> None:
        cfg = self.config
        msg = wire.decode_consistency_response(data, cfg, sender)
        self._check_prompt(sender, msg.prompt)
        assert cfg.roster is not None and self._u3 is not None
        parts = wire.consistency_signed_parts(cfg, self._u3)
        if not verify(cfg.roster[sender], msg.signature, wire.LABEL_CONSISTENCY, *parts):
            raise DecodeError(DropReason.BAD_SIGNATURE, "consistency signature does not verify")
        self._signatures[sender] = msg.signature

    def _on_unmask_response(self, sender: int, data: bytes) -> None:
        msg = wire.decode_unmask_response_arrays(data, self.config, sender)
        self._check_prompt(sender, msg.prompt)
        assert self._u3 is not None
        expected = np.asarray(self._held_by(sender), dtype=np.int64)
        if not np.array_equal(msg.peers, expected):
            raise DecodeError(
                DropReason.INVALID_CONTENT, "shares are not exactly those the client holds of U2"
            )
        wanted = self._u3_bits[msg.peers].astype(np.uint8)  # SELF_MASK = 1 for survivors
        wrong_kind = np.flatnonzero(msg.kinds != wanted)
        # One SHA-256 per share, compared with its owner's commitments all at once.
        committed = self._commitments_for(sender, msg.peers, msg.kinds)
        commit, size = self._commit, wire.SHARE_SIZE
        encoded = msg.encoded
        computed = b"".join(
            [
                commit(z, sender, kind, encoded[i * size : (i + 1) * size])
                for i, (z, kind) in enumerate(
                    zip(msg.peers.tolist(), msg.kinds.tolist(), strict=True)
                )
            ]
        )
        bad_share = np.zeros(0, dtype=np.int64)
        if computed != committed:
            mine = np.frombuffer(computed, dtype=np.uint8).reshape(-1, COMMITMENT_SIZE)
            theirs = np.frombuffer(committed, dtype=np.uint8).reshape(-1, COMMITMENT_SIZE)
            bad_share = np.flatnonzero((mine != theirs).any(axis=1))
        # The entries are checked in order, the kind before the commitment (SPEC 10.7).
        first_kind = int(wrong_kind[0]) if wrong_kind.size else len(msg.peers)
        first_bad = int(bad_share[0]) if bad_share.size else len(msg.peers)
        if first_kind <= first_bad and wrong_kind.size:
            peer = int(msg.peers[first_kind])
            raise DecodeError(DropReason.INVALID_CONTENT, f"wrong share kind for peer {peer}")
        if bad_share.size:
            peer = int(msg.peers[first_bad])
            raise DecodeError(DropReason.BAD_SHARE, f"share of peer {peer} fails its commitment")
        self._responses[sender] = (msg.peers, msg.limbs)

    def _commitments_for(
        self, holder: int, owners: npt.NDArray[np.int64], kinds: npt.NDArray[np.uint8]
    ) -> bytes:
        """The commitments each of ``owners`` made to the ``kinds`` share held by ``holder``,
        back to back."""
        if self._all_commitments is not None:
            # Complete graph: every owner's holders are U1, so the column is the same for all.
            rows = self._owner_row[owners]
            column = int(np.searchsorted(self._u1_array, holder))
            picked: bytes = self._all_commitments[rows, column, kinds].tobytes()
            return picked
        # Sparse graph: one search in the (owner, holder) index of _forward_sparse.
        at = np.searchsorted(self._pair_keys, owners * self.config.num_clients + holder)
        chosen: bytes = self._pair_commitments[at, kinds].tobytes()
        return chosen

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
        self._u1set = set(self._u1)
        self._u1_array = np.asarray(self._u1, dtype=np.int64)
        self._fingerprints.clear()
        self._require(len(self._u1), f"only {len(self._u1)} clients advertised distinct keys")
        # Every entry of U1 once, as the bytes a key list carries; a client's list is its
        # holders' rows (all of them for the complete graph, built once).
        table = b"".join(
            wire.key_entry_bytes(
                self.config,
                wire.KeyEntry(
                    u, self._keys[u].c_public, self._keys[u].s_public, self._keys[u].signature
                ),
            )
            for u in self._u1
        )
        rows = np.frombuffer(table, dtype=np.uint8).reshape(len(self._u1), -1)
        kind = wire.MessageType.KEY_LIST
        shared_body = struct.pack(">I", len(self._u1)) + table if self._graph.complete else b""
        out = []
        for v in self._u1:
            if self._graph.complete:
                body = shared_body
            else:
                listed = self._holders_in_u1(v)
                picked = rows[np.searchsorted(self._u1_array, listed)]
                body = struct.pack(">I", len(listed)) + picked.tobytes()
            out.append((v, wire.envelope(self.config, kind, wire.SERVER_ID, v, body)))
        self._enter(ServerPhase.SHARE_KEYS, self._u1)
        return out

    def _forwarded_to(self, v: int) -> list[int]:
        """The senders whose shares the server forwarded to ``v`` (its neighbours that shared)."""
        return [u for u in self._graph.neighbors(v) if u in self._sharings]

    def _close_share_keys(self, live: list[int]) -> list[tuple[int, bytes]]:
        # _sharings holds exactly the accepted senders: a rejected ShareKeys is never stored.
        kind = wire.MessageType.SHARE_FORWARD
        forwards = (
            self._forward_complete(live) if self._graph.complete else self._forward_sparse(live)
        )
        out = []
        for v, records in zip(live, forwards, strict=True):
            body = struct.pack(">I", len(records)) + records.tobytes()
            out.append((v, wire.envelope(self.config, kind, wire.SERVER_ID, v, body)))
        for sharing in self._sharings.values():
            sharing.ciphertexts = None  # O(n k) bytes we no longer need
        self._enter(ServerPhase.SHARE_CHECK, live)
        return out

    def _forward_sparse(self, live: list[int]) -> list[npt.NDArray[np.void]]:
        """Each client's ShareForward entries for a sparse graph: every (owner, holder) pair of
        every sharing gets the key ``owner * n + holder`` in one sorted index, so a client's
        entries are gathered with one search for all its owners."""
        n = self.config.num_clients
        peer_keys, holder_keys, ciphertexts, commitments = [], [], [], []
        for u in sorted(self._sharings):
            sharing = self._sharings[u]
            assert sharing.ciphertexts is not None
            peer_keys.append(np.asarray(sharing.peers, dtype=np.int64) + u * n)
            holder_keys.append(np.asarray(sharing.holders, dtype=np.int64) + u * n)
            ciphertexts.append(sharing.ciphertexts)
            commitments.append(sharing.commitments)
        ct_keys, commit_keys = np.concatenate(peer_keys), np.concatenate(holder_keys)
        ct_all = np.concatenate(ciphertexts)
        self._pair_commitments = np.concatenate(commitments)
        # Owners are sorted and each one's holders too, so both key arrays are sorted already.
        self._pair_keys = commit_keys
        forwards = []
        for v in live:
            senders = np.asarray(self._forwarded_to(v), dtype=np.int64)
            pairs = senders * n + v
            records = np.empty(len(senders), dtype=_FORWARD_RECORD)
            records["id"] = senders
            records["ciphertext"] = ct_all[np.searchsorted(ct_keys, pairs)]
            records["commitments"] = self._pair_commitments[np.searchsorted(commit_keys, pairs)]
            forwards.append(records)
        return forwards

    def _forward_complete(self, live: list[int]) -> list[npt.NDArray[np.void]]:
        """Each client's ShareForward entries with the complete graph, client by client in a
        few array operations: every owner sent to all of U1, so the column of v in owner u's
        lists is v's position in U1 (minus one in the ciphertexts when u comes before v)."""
        owners = np.asarray(live, dtype=np.int64)
        ciphertexts = np.stack([self._sharings[u].ciphertexts for u in live])  # type: ignore[misc]
        self._all_commitments = np.stack([self._sharings[u].commitments for u in live])
        self._owner_row = np.full(self.config.num_clients, -1, dtype=np.int64)
        self._owner_row[owners] = np.arange(len(live))
        position = np.searchsorted(self._u1_array, owners)  # each owner's place in U1
        forwards = []
        for row in range(len(live)):
            others = np.delete(np.arange(len(live)), row)
            column = position[row]
            records = np.empty(len(others), dtype=_FORWARD_RECORD)
            records["id"] = owners[others]
            records["ciphertext"] = ciphertexts[others, column - (position[others] < column)]
            records["commitments"] = self._all_commitments[others, column]
            forwards.append(records)
        return forwards

    def _close_share_check(self, live: list[int]) -> list[tuple[int, bytes]]:
        """Exclude every owner left with fewer than ``t`` holders of valid shares (itself and
        the neighbours that checked its shares without reporting it), until none is: the
        excluded are dropped before anyone masks with them, so they cannot stop the round."""
        t = self.config.threshold
        members = set(live)
        while True:
            valid = {
                u: [
                    h
                    for h in self._graph.holders(u)
                    if h == u or (h in members and u not in self._accused[h])
                ]
                for u in members
            }
            rejected = sorted(u for u in members if len(valid[u]) < t)
            if not rejected:
                break
            for u in rejected:
                self._drop(
                    u,
                    DropReason.SHARES_REJECTED,
                    f"{len(valid[u])} < t holders could use its shares",
                )
                members.discard(u)
        self._valid = valid
        u2 = sorted(members)
        self._require(len(u2), f"only {len(u2)} clients kept after the share check")
        self._u2 = wire.IdSet.of(u2, self.config.num_clients)
        kind = wire.MessageType.MASK_REQUEST
        body = self._u2.bitmap
        self._enter(ServerPhase.MASKED_INPUT, u2)
        return [(v, wire.envelope(self.config, kind, wire.SERVER_ID, v, body)) for v in u2]

    def _close_masked_input(self, live: list[int]) -> list[tuple[int, bytes]]:
        self._u3 = wire.IdSet.of(live, self.config.num_clients)
        self._u3_bits[live] = True
        body = self._u3.bitmap
        if self.config.malicious:
            kind = wire.MessageType.CONSISTENCY_REQUEST
            phase = ServerPhase.CONSISTENCY_CHECK
        else:
            kind = wire.MessageType.UNMASK_REQUEST
            phase = ServerPhase.UNMASKING
        self._enter(phase, live)
        return [(v, wire.envelope(self.config, kind, wire.SERVER_ID, v, body)) for v in live]

    def _close_consistency(self, live: list[int]) -> list[tuple[int, bytes]]:
        """Send each signer the signatures it needs: for every secret it will reveal a share
        of (its own and those it holds of U2), the ``t`` lowest-id signers among that secret's
        holders."""
        assert self._u3 is not None
        t = self.config.threshold
        signers = set(live)
        chosen: dict[int, list[int]] = {}
        out = []
        kind = wire.MessageType.UNMASK_REQUEST
        for v in live:
            picked: set[int] = set()
            for z in self._held_by(v):
                if z not in chosen:
                    chosen[z] = [h for h in self._graph.holders(z) if h in signers][:t]
                picked.update(chosen[z])
            request = wire.UnmaskRequest(
                self._u3, tuple((s, self._signatures[s]) for s in sorted(picked))
            )
            body = wire.unmask_request_body(self.config, request)
            out.append((v, wire.envelope(self.config, kind, wire.SERVER_ID, v, body)))
        self._enter(ServerPhase.UNMASKING, live)
        return out

    def _close_unmasking(self, live: list[int]) -> list[tuple[int, bytes]]:
        cfg = self.config
        assert self._sum is not None and self._u2 is not None and self._u3 is not None
        responders = set(live)
        survivors = self._u3.ids()
        dropped = [u for u in self._u2.ids() if u not in self._u3]
        sid = cfg.session_id
        b = self._rebuild(survivors, responders, "b_u")
        for u, seed in zip(survivors, b, strict=True):
            if self_mask_commitment(sid, u, seed) != self._sharings[u].self_mask:
                raise ProtocolAbort(
                    AbortReason.INCONSISTENT_SHARES,
                    f"the shares of b_u for client {u} rebuild another seed than it committed to",
                    culprit=u,
                )
        keys = [
            kdf.self_mask_key(seed, session_id=sid, u=u)
            for u, seed in zip(survivors, b, strict=True)
        ]
        negate = [True] * len(keys)
        secrets = self._rebuild(dropped, responders, "s_u^SK")
        lost = []
        for u, secret in zip(dropped, secrets, strict=True):
            pair = KeyPair.from_secret(secret)
            if pair.public != self._keys[u].s_public:
                raise ProtocolAbort(
                    AbortReason.INCONSISTENT_SHARES,
                    f"the shares of s_u^SK for client {u} do not match its public key",
                    culprit=u,
                )
            # Every v of U3 that masked with u; the keys were checked when advertised.
            survivors_of_u = [v for v in self._graph.neighbors(u) if v in self._u3]
            lost.append(
                Dropped(
                    u, pair.private_key, tuple((v, self._keys[v].s_public) for v in survivors_of_u)
                )
            )
            # v added Delta_{v,u} PRG(s_{u,v}) with Delta = +1 iff v < u; take it back out.
            negate += [v < u for v in survivors_of_u]
        keys += pair_mask_keys(sid, lost, self.workers)
        total = self._sum
        prg.accumulate_parallel(total, keys, negate, workers=self.workers)
        prg.reduce(total, cfg.bits)
        self.result = Aggregate(total, tuple(survivors), tuple(live))
        self._enter(ServerPhase.COMPLETED, [])
        self._release()
        return []

    # ------------------------------------------------------------------ helpers

    def _held_by(self, v: int) -> list[int]:
        """The owners of U2 whose valid shares ``v`` holds (itself included), sorted: exactly
        what its UnmaskResponse must cover. (v is in U2, so it checked its neighbours' shares;
        it holds those of every neighbour it did not report.)"""
        assert self._u2 is not None
        accused = self._accused.get(v, frozenset())
        if self._graph.complete:
            members = self._u2.ids()  # every holder of the complete graph is in H(v)
        else:
            members = [z for z in self._graph.holders(v) if z in self._u2]
        if not accused:
            return members
        return [z for z in members if z == v or z not in accused]

    def _rebuild(self, owners: list[int], responders: set[int], what: str) -> list[bytes]:
        """The secret of each owner from the shares of its ``t`` lowest-id responding valid
        holders, all owners at once: the shares are gathered holder by holder, and there is
        one Lagrange basis per distinct holder set."""
        t = self.config.threshold
        if not owners:
            return []
        xs = np.empty((len(owners), t), dtype=np.int64)
        # holder -> (rows, positions) of the owners it rebuilds
        uses: dict[int, tuple[list[int], list[int]]] = {}
        for row, u in enumerate(owners):
            holders = [h for h in self._valid.get(u, []) if h in responders][:t]
            if len(holders) < t:
                raise ProtocolAbort(
                    AbortReason.INSUFFICIENT_SHARES,
                    f"{len(holders)} < t shares of {what} for client {u}",
                )
            xs[row] = holders
            for j, h in enumerate(holders):
                rows, positions = uses.setdefault(h, ([], []))
                rows.append(row)
                positions.append(j)
        ys = np.empty((len(owners), t, shamir.LIMBS), dtype=np.uint64)
        wanted = np.asarray(owners, dtype=np.int64)
        for h, (rows, positions) in uses.items():
            peers, limbs = self._responses[h]
            at = np.searchsorted(peers, wanted[rows])
            ys[rows, positions] = limbs[at]
        xs += 1  # x = id + 1
        unique, inverse = np.unique(xs, axis=0, return_inverse=True)
        if len(unique) == 1:
            coefficients = shamir.lagrange_at_zero(tuple(int(x) for x in unique[0]))[None, :]
        else:
            coefficients = shamir.lagrange_batch(unique)
        limbs_out = shamir.combine(coefficients[inverse.reshape(-1)], ys)
        out = []
        for row, u in enumerate(owners):
            try:
                out.append(shamir.limbs_secret(limbs_out[row]))
            except shamir.InconsistentShares:
                raise ProtocolAbort(
                    AbortReason.INCONSISTENT_SHARES,
                    f"the shares of {what} for client {u} are not one sharing of a secret",
                    culprit=u,
                ) from None
        return out

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
        self._sharings.clear()
        self._accused.clear()
        self._valid.clear()
        self._signatures.clear()
        self._responses.clear()
        self._all_commitments = None
