"""The client state machine: bytes in, bytes out; no I/O.

Transitions (one method call each)::

    NEW --start()--> AWAIT_KEY_LIST                      sends AdvertiseKeys (c_u^PK, s_u^PK)
    AWAIT_KEY_LIST --handle(KeyList)--> AWAIT_SHARES            sends ShareKeys {e_{u,v}}
    AWAIT_SHARES --handle(ShareForward)--> AWAIT_MASK_REQUEST   sends ShareCheck (complaints)
    AWAIT_MASK_REQUEST --handle(MaskRequest)--> AWAIT_UNMASK_REQUEST   sends MaskedInput y_u
        (malicious mode: --> AWAIT_CONSISTENCY, then
    AWAIT_CONSISTENCY --handle(ConsistencyRequest)--> AWAIT_UNMASK_REQUEST  signs U3)
    AWAIT_UNMASK_REQUEST --handle(UnmaskRequest)--> COMPLETED   sends UnmaskResponse
    any state --bad or unacceptable message--> ABORTED (raises ClientAbort, sends nothing)

Rules an honest client keeps in every mode (protocol/SPEC.md section 10): it reveals, for each
peer, at most one kind of share - a share of s_z^SK only for a peer of U2 the server says
dropped, a share of b_z only for a peer it says survived - and nothing for a peer outside U2;
it requires U3 within U2 within its key list, each with at least ``t`` of its holders; it
answers each round once; and a live client cannot be copied or pickled, so its state cannot
be restored to answer a round twice.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Iterable
from typing import Any, NoReturn

import numpy as np
import numpy.typing as npt

from secagg.config import RoundConfig
from secagg.core import wire
from secagg.core.graph import graph_for
from secagg.crypto import aead, kdf, prg, shamir
from secagg.crypto.commit import ShareCommitments, self_mask_commitment
from secagg.crypto.keys import KeyAgreementError, KeyPair
from secagg.crypto.prg import RingArray
from secagg.crypto.sign import SigningKey, verify
from secagg.errors import AbortReason, ClientAbort, ConfigError, DecodeError, StateError

InputSource = npt.ArrayLike | Callable[[], npt.ArrayLike]
"""x_u, or a function returning it: called once, when the client masks (so a simulation, or a
device that is still training, need not hold x_u while keys are exchanged)."""


class ClientPhase(enum.Enum):
    NEW = "new"
    AWAIT_KEY_LIST = "await_key_list"
    AWAIT_SHARES = "await_shares"
    AWAIT_MASK_REQUEST = "await_mask_request"
    AWAIT_CONSISTENCY = "await_consistency"
    AWAIT_UNMASK_REQUEST = "await_unmask_request"
    COMPLETED = "completed"
    ABORTED = "aborted"


def rand_size(config: RoundConfig) -> int:
    """Bytes of randomness a client consumes: c_u^SK | s_u^SK | b_u (32 each), then the
    coefficients of the polynomials sharing s_u^SK and b_u (:func:`shamir.rand_size`)."""
    return 3 * 32 + shamir.rand_size(config.threshold, 2)


def check_input(x: npt.ArrayLike, config: RoundConfig) -> RingArray:
    """x_u as a fresh ring array, or ConfigError (naming shapes and dtypes, never values)."""
    array = np.asarray(x)
    if array.shape != (config.dim,) or array.dtype.kind != "u":
        raise ConfigError(f"x must be an unsigned integer vector of shape ({config.dim},)")
    if array.size and int(array.max()) >= config.modulus:
        raise ConfigError(f"x has elements outside Z_2^{config.bits}")
    out: RingArray = array.astype(prg.ring_dtype(config.bits))
    return out


class Client:
    """Client ``u`` of one round, holding its input x_u in Z_{2^b}^m.

    ``rand`` supplies every random byte the client uses (:func:`rand_size` of them); pass
    ``None`` to draw them from the OS. Fixed ``rand`` makes runs reproducible (test vectors).
    In the malicious mode ``signing_key`` is the client's long-term Ed25519 key d_u^SK, whose
    public half must be the roster's entry for ``client_id``.
    """

    def __init__(
        self,
        config: RoundConfig,
        client_id: int,
        x: InputSource,
        rand: bytes | None = None,
        *,
        signing_key: SigningKey | None = None,
    ) -> None:
        if not isinstance(client_id, int) or not 0 <= client_id < config.num_clients:
            raise ConfigError(f"client_id must be in [0, {config.num_clients})")
        if rand is None:
            rand = os.urandom(rand_size(config))
        if len(rand) != rand_size(config):
            raise ConfigError(f"rand must be {rand_size(config)} bytes")
        if config.malicious:
            assert config.roster is not None  # RoundConfig requires it
            if not isinstance(signing_key, SigningKey):
                raise ConfigError("the malicious mode needs the client's signing_key")
            if signing_key.public != config.roster[client_id]:
                raise ConfigError(f"signing_key is not the roster's key for client {client_id}")
        self.config = config
        self.id = client_id
        self.phase = ClientPhase.NEW
        self.abort_reason: AbortReason | None = None
        self._graph = graph_for(config)
        self._x: RingArray | Callable[[], npt.ArrayLike] = (
            x if callable(x) else check_input(x, config)
        )
        self._signer = signing_key if config.malicious else None
        # The key pairs are dropped once used (c after ShareCheck, s after MaskedInput); the
        # public halves stay for the checks on the key list.
        self._c: KeyPair | None = KeyPair.from_secret(rand[0:32])
        self._s: KeyPair | None = KeyPair.from_secret(rand[32:64])
        self._publics = (self._c.public, self._s.public)
        self._b = rand[64:96]
        self._share_rand = rand[96:]
        self._peers: dict[int, wire.KeyEntry] = {}
        self._inbound: dict[int, bytes] = {}  # peer v -> k_{v->u}, for the next round
        self._commit = ShareCommitments(config.session_id)
        self._forwarded: set[int] = set()  # senders whose shares were forwarded to us
        self._held: dict[int, tuple[bytes, bytes]] = {}  # owner -> (s^SK share, b share)
        self._u2: wire.IdSet | None = None
        self._u3: wire.IdSet | None = None
        self._prompt = b""  # digest of the server prompt being answered

    # A live client holds secrets that must be used once. A copy (or a pickled and restored
    # state) could answer a round a second time, e.g. reveal the other kind of share.
    def __copy__(self) -> NoReturn:
        raise StateError("a client cannot be copied: its secrets must answer each round once")

    def __deepcopy__(self, memo: dict[int, Any]) -> NoReturn:
        raise StateError("a client cannot be copied: its secrets must answer each round once")

    def __reduce_ex__(self, protocol: Any) -> NoReturn:
        raise StateError("a client cannot be pickled: its secrets must answer each round once")

    # ------------------------------------------------------------------ public API

    def start(self) -> bytes:
        """Round advertise_keys: send (c_u^PK, s_u^PK), signed in the malicious mode."""
        self._expect(ClientPhase.NEW)
        self.phase = ClientPhase.AWAIT_KEY_LIST
        c_public, s_public = self._publics
        signature = b""
        if self._signer is not None:
            parts = wire.advertise_signed_parts(self.config, self.id, c_public, s_public)
            signature = self._signer.sign(wire.LABEL_ADVERTISE, *parts)
        msg = wire.AdvertiseKeys(c_public, s_public, signature)
        return wire.encode_advertise_keys(self.config, self.id, msg)

    def handle(self, data: bytes) -> bytes:
        """Consume the server's prompt for the next round and return this client's reply.

        Raises :class:`ClientAbort` (and moves to ABORTED) when the message is malformed or
        asks for something an honest client must refuse; :class:`StateError` when the client
        expects no prompt (not started, completed or aborted).
        """
        cfg, phase = self.config, self.phase
        try:
            if phase is ClientPhase.AWAIT_KEY_LIST:
                key_list = wire.decode_key_list(data, cfg, self.id)
                # Echoed in the reply so the server can tell that we saw what it sent.
                self._prompt = wire.prompt_digest(data)
                reply = self._on_key_list(key_list)
                self.phase = ClientPhase.AWAIT_SHARES
            elif phase is ClientPhase.AWAIT_SHARES:
                forward = wire.decode_share_forward(data, cfg, self.id)
                self._prompt = wire.prompt_digest(data)
                reply = self._on_share_forward(forward)
                self.phase = ClientPhase.AWAIT_MASK_REQUEST
            elif phase is ClientPhase.AWAIT_MASK_REQUEST:
                request = wire.decode_mask_request(data, cfg, self.id)
                self._prompt = wire.prompt_digest(data)
                reply = self._on_mask_request(request)
                self.phase = (
                    ClientPhase.AWAIT_CONSISTENCY
                    if cfg.malicious
                    else ClientPhase.AWAIT_UNMASK_REQUEST
                )
            elif phase is ClientPhase.AWAIT_CONSISTENCY:
                check = wire.decode_consistency_request(data, cfg, self.id)
                self._prompt = wire.prompt_digest(data)
                reply = self._on_consistency(check)
                self.phase = ClientPhase.AWAIT_UNMASK_REQUEST
            elif phase is ClientPhase.AWAIT_UNMASK_REQUEST:
                unmask = wire.decode_unmask_request(data, cfg, self.id)
                self._prompt = wire.prompt_digest(data)
                reply = self._on_unmask(unmask)
                self.phase = ClientPhase.COMPLETED
            else:
                raise StateError(f"client {self.id} cannot handle a message in {phase.value}")
        except DecodeError as exc:
            self._abort(AbortReason.INVALID_MESSAGE, f"undecodable server message: {exc}")
        return reply

    # ------------------------------------------------------------------ rounds

    def _on_key_list(self, msg: wire.KeyList) -> bytes:
        """Round share_keys: check the key list, share s_u^SK and b_u among the holders it
        names, encrypt a share pair to each neighbour and commit to every share."""
        cfg = self.config
        c, s = self._c, self._s
        assert c is not None and s is not None  # both live until their rounds end
        ids = [e.client for e in msg.entries]
        allowed = set(self._graph.holders(self.id))
        if any(v not in allowed for v in ids):
            self._abort(AbortReason.INCONSISTENT_VIEW, "key list names a non-neighbour")
        if len(ids) < cfg.threshold:
            self._abort(AbortReason.BELOW_THRESHOLD, f"key list has {len(ids)} < t entries")
        entries = {e.client: e for e in msg.entries}
        mine = entries.get(self.id)
        if mine is None or (mine.c_public, mine.s_public) != self._publics:
            self._abort(AbortReason.INCONSISTENT_VIEW, "key list omits or alters this client")
        if cfg.malicious:
            assert cfg.roster is not None
            for e in msg.entries:
                parts = wire.advertise_signed_parts(cfg, e.client, e.c_public, e.s_public)
                if not verify(cfg.roster[e.client], e.signature, wire.LABEL_ADVERTISE, *parts):
                    self._abort(AbortReason.BAD_SIGNATURE, f"key of client {e.client} unsigned")
        keys = [k for e in msg.entries for k in (e.c_public, e.s_public)]
        if len(set(keys)) != len(keys):
            self._abort(AbortReason.INCONSISTENT_VIEW, "key list repeats a public key")
        self._peers = {v: e for v, e in entries.items() if v != self.id}
        # We hold a share of our own secrets too: with exactly t responders at unmasking, a
        # survivor's own share is one of the t that rebuild its b_u.
        holders = sorted(ids)
        xs = [v + 1 for v in holders]
        ys = shamir.share([s.secret, self._b], xs, cfg.threshold, self._share_rand)
        self._share_rand = b""  # the polynomial coefficients must never be reused
        key_shares = shamir.encode_shares(ys[0])
        mask_shares = shamir.encode_shares(ys[1])
        sid = cfg.session_id
        commit = self._commit
        out = []
        commitments = []
        agreements = []
        for v, key_share, mask_share in zip(holders, key_shares, mask_shares, strict=True):
            commitments.append(
                (
                    v,
                    commit(self.id, v, wire.ShareKind.KEY, key_share),
                    commit(self.id, v, wire.ShareKind.SELF_MASK, mask_share),
                )
            )
            if v == self.id:
                self._held[v] = (key_share, mask_share)
                continue
            shared = self._agree(c, self._peers[v].c_public)
            agreements.append(shared)
            outbound, self._inbound[v] = kdf.share_encryption_keys(
                shared, session_id=sid, u=self.id, v=v
            )
            plaintext = wire.encode_share_plaintext(self.id, v, key_share, mask_share)
            out.append((v, aead.seal(outbound, plaintext, aead.associated_data(sid, self.id, v))))
        self._require_distinct(c, agreements)
        self._c = None  # c_u^SK only served the share-encryption keys
        c_b = self_mask_commitment(sid, self.id, self._b)
        reply = wire.ShareKeys(c_b, tuple(out), tuple(commitments), self._prompt)
        return wire.encode_share_keys(cfg, self.id, reply)

    def _on_share_forward(self, msg: wire.ShareForward) -> bytes:
        """Round share_check: open the shares forwarded to us and report every sender whose
        ciphertext fails or whose shares differ from the commitments it made for us."""
        cfg = self.config
        senders = [e.sender for e in msg.entries]
        # _inbound holds exactly the neighbours we sent shares to (never ourselves).
        if any(u not in self._inbound for u in senders):
            self._abort(AbortReason.INCONSISTENT_VIEW, "shares forwarded from unknown peers")
        if len(senders) + 1 < cfg.threshold:
            self._abort(AbortReason.BELOW_THRESHOLD, f"only {len(senders) + 1} < t clients left")
        sid = cfg.session_id
        commit = self._commit
        accused = []
        for e in msg.entries:
            u = e.sender
            ad = aead.associated_data(sid, u, self.id)
            try:
                plaintext = aead.open_(self._inbound[u], e.ciphertext, ad)
                key_share, mask_share = wire.decode_share_plaintext(plaintext, u, self.id)
            except (aead.AuthenticationError, DecodeError):
                accused.append(u)
                continue
            if (
                commit(u, self.id, wire.ShareKind.KEY, key_share) != e.key_commitment
                or commit(u, self.id, wire.ShareKind.SELF_MASK, mask_share) != e.mask_commitment
            ):
                accused.append(u)
                continue
            self._held[u] = (key_share, mask_share)
        self._inbound.clear()
        self._forwarded = set(senders)
        return wire.encode_share_check(cfg, self.id, wire.ShareCheck(tuple(accused), self._prompt))

    def _on_mask_request(self, msg: wire.MaskRequest) -> bytes:
        """Round masked_input: check U2, then send
        y_u = x_u + PRG(b_u) + sum_{v in N(u) cap U2} Delta_{u,v} PRG(s_{u,v}),
        Delta = +1 if u < v else -1."""
        cfg = self.config
        u2 = msg.u2
        if self.id not in u2:
            self._abort(AbortReason.INCONSISTENT_VIEW, "U2 omits this client")
        peers = [v for v in self._graph.neighbors(self.id) if v in u2]
        if any(v not in self._forwarded for v in peers):
            self._abort(AbortReason.INCONSISTENT_VIEW, "U2 names a neighbour that never shared")
        if len(peers) + 1 < cfg.threshold:
            self._abort(AbortReason.BELOW_THRESHOLD, f"U2 has {len(peers) + 1} < t holders")
        s = self._s
        assert s is not None  # live until this round ends
        shared = {v: self._agree(s, self._peers[v].s_public) for v in peers}
        self._require_distinct(s, shared.values())
        x = self._take_input()
        sid = cfg.session_id
        keys = [kdf.self_mask_key(self._b, session_id=sid, u=self.id)]
        keys += [kdf.pair_mask_key(shared[v], session_id=sid, u=self.id, v=v) for v in peers]
        negate = [False] + [self.id > v for v in peers]
        prg.accumulate_many(x, keys, negate)
        prg.reduce(x, cfg.bits)
        # b_u and s_u^SK are no longer needed (x_u was consumed by the masking itself).
        self._b = b""
        self._s = None
        self._u2 = u2
        return wire.encode_masked_input(cfg, self.id, wire.MaskedInput(x, self._prompt))

    def _take_input(self) -> RingArray:
        source = self._x
        self._x = np.empty(0, dtype=prg.ring_dtype(self.config.bits))
        if callable(source):
            try:
                return check_input(source(), self.config)
            except ConfigError:
                # The caller's own input is wrong, not the server's prompt: a usage error, not a
                # protocol abort. The client still goes silent and forgets its secrets.
                self._forget(AbortReason.INVALID_MESSAGE)
                raise
        assert isinstance(source, np.ndarray)
        return source

    def _check_survivors(self, u3: wire.IdSet) -> None:
        """U3 must hold this client, lie within U2 and leave ``t`` of its holders."""
        assert self._u2 is not None
        if self.id not in u3:
            self._abort(AbortReason.INCONSISTENT_VIEW, "survivor set omits this client")
        if not u3.issubset(self._u2):
            self._abort(AbortReason.INCONSISTENT_VIEW, "survivor set names clients outside U2")
        count = u3.count_in(self._graph.holders(self.id))
        if count < self.config.threshold:
            self._abort(AbortReason.BELOW_THRESHOLD, f"survivor set has {count} < t holders")

    def _on_consistency(self, msg: wire.ConsistencyRequest) -> bytes:
        """Round consistency_check (malicious mode): sign (session, U3) once."""
        self._check_survivors(msg.u3)
        self._u3 = msg.u3
        assert self._signer is not None
        parts = wire.consistency_signed_parts(self.config, msg.u3)
        signature = self._signer.sign(wire.LABEL_CONSISTENCY, *parts)
        response = wire.ConsistencyResponse(signature, self._prompt)
        return wire.encode_consistency_response(self.config, self.id, response)

    def _on_unmask(self, msg: wire.UnmaskRequest) -> bytes:
        """Round unmasking: shares of s_z^SK for peers of U2 outside U3, of b_z for peers of
        U3; in the malicious mode only after ``t`` holders of each such z signed this U3."""
        cfg = self.config
        assert self._u2 is not None
        if cfg.malicious:
            assert self._u3 is not None and cfg.roster is not None
            if msg.u3.bitmap != self._u3.bitmap:
                self._abort(AbortReason.INCONSISTENT_VIEW, "survivor set differs from the signed")
            parts = wire.consistency_signed_parts(cfg, msg.u3)
            for signer, signature in msg.signatures:
                if signer not in msg.u3:
                    self._abort(AbortReason.INCONSISTENT_VIEW, f"signer {signer} is not in U3")
                if not verify(cfg.roster[signer], signature, wire.LABEL_CONSISTENCY, *parts):
                    self._abort(AbortReason.BAD_SIGNATURE, f"signature of {signer} is invalid")
        else:
            self._check_survivors(msg.u3)
        reveal = sorted(z for z in self._held if z in self._u2)
        if cfg.malicious:
            signers = {signer for signer, _ in msg.signatures}
            for z in reveal:
                count = sum(1 for h in self._graph.holders(z) if h in signers)
                if count < cfg.threshold:
                    self._abort(
                        AbortReason.CONSISTENCY_CHECK_FAILED,
                        f"{count} < t holders of client {z} signed the survivor set",
                    )
        shares = []
        for z in reveal:
            key_share, mask_share = self._held[z]
            if z in msg.u3:
                shares.append((z, wire.ShareKind.SELF_MASK, mask_share))
            else:
                shares.append((z, wire.ShareKind.KEY, key_share))
        self._held.clear()
        response = wire.UnmaskResponse(tuple(shares), self._prompt)
        return wire.encode_unmask_response(cfg, self.id, response)

    # ------------------------------------------------------------------ helpers

    def _agree(self, pair: KeyPair, peer_public: bytes) -> bytes:
        try:
            return pair.agree(peer_public)
        except KeyAgreementError:
            self._abort(AbortReason.KEY_AGREEMENT_FAILED, "a peer's public key is invalid")

    def _require_distinct(self, pair: KeyPair, agreements: Iterable[bytes]) -> None:
        """Abort unless the agreements of ``pair`` with the peers' keys differ from each other
        and from ``pair``'s agreement with its own public key.

        Equal agreements mean two peers advertised the same key (possibly re-spelled with a
        small-order point added, which byte comparison misses) or a peer copied ours. The
        agreements are computed anyway, so this costs one exchange.
        """
        seen = {pair.agree(pair.public)}
        for shared in agreements:
            if shared in seen:
                self._abort(AbortReason.INCONSISTENT_VIEW, "key list repeats a public key")
            seen.add(shared)

    def _expect(self, phase: ClientPhase) -> None:
        if self.phase is not phase:
            raise StateError(f"client {self.id} is in {self.phase.value}, not {phase.value}")

    def _abort(self, reason: AbortReason, detail: str) -> NoReturn:
        self._forget(reason)
        raise ClientAbort(reason, f"client {self.id}: {detail}")

    def _forget(self, reason: AbortReason) -> None:
        """Go to ABORTED holding no secret."""
        self.phase = ClientPhase.ABORTED
        self.abort_reason = reason
        self._held.clear()
        self._inbound.clear()
        self._x = np.empty(0, dtype=prg.ring_dtype(self.config.bits))
        self._b = self._share_rand = b""
        self._c = self._s = None
