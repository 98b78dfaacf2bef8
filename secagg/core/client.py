"""The client state machine: bytes in, bytes out; no I/O.

Transitions (one method call each)::

    NEW --start()--> AWAIT_KEY_LIST                 sends AdvertiseKeys (c_u^PK, s_u^PK)
    AWAIT_KEY_LIST --handle(KeyList)--> AWAIT_SHARES           sends ShareKeys {e_{u,v}}
    AWAIT_SHARES --handle(ShareForward)--> AWAIT_UNMASK_REQUEST  sends MaskedInput y_u
    AWAIT_UNMASK_REQUEST --handle(UnmaskRequest)--> COMPLETED  sends UnmaskResponse
    any state --bad or unacceptable message--> ABORTED (raises ClientAbort, sends nothing)

(A ConsistencyCheck round will sit between AWAIT_SHARES and AWAIT_UNMASK_REQUEST.)

An honest client reveals, for each peer, at most one kind of share: a share of s_v^SK only for
a peer the server says dropped, a share of b_v only for a peer the server says survived, and
it refuses a survivor list with fewer than ``t`` ids or with ids it never received shares from.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Iterable
from typing import NoReturn

import numpy as np
import numpy.typing as npt

from secagg.config import RoundConfig
from secagg.core import wire
from secagg.core.graph import COMPLETE, MaskingGraph
from secagg.crypto import aead, kdf, prg, shamir
from secagg.crypto.commit import share_commitment
from secagg.crypto.keys import KeyAgreementError, KeyPair
from secagg.crypto.prg import RingArray
from secagg.errors import AbortReason, ClientAbort, ConfigError, DecodeError, StateError


class ClientPhase(enum.Enum):
    NEW = "new"
    AWAIT_KEY_LIST = "await_key_list"
    AWAIT_SHARES = "await_shares"
    AWAIT_UNMASK_REQUEST = "await_unmask_request"
    COMPLETED = "completed"
    ABORTED = "aborted"


def rand_size(config: RoundConfig) -> int:
    """Bytes of randomness a client consumes: c_u^SK | s_u^SK | b_u (32 each), then the
    coefficients of the two sharing polynomials (2 * (t - 1) * 48)."""
    return 3 * 32 + 2 * shamir.rand_size(config.threshold)


class Client:
    """Client ``u`` of one round, holding its input x_u in Z_{2^b}^m.

    ``rand`` supplies every random byte the client uses (:func:`rand_size` of them); pass
    ``None`` to draw them from the OS. Fixed ``rand`` makes runs reproducible (test vectors).
    """

    def __init__(
        self,
        config: RoundConfig,
        client_id: int,
        x: npt.ArrayLike,
        rand: bytes | None = None,
        *,
        graph: MaskingGraph = COMPLETE,
    ) -> None:
        if not 0 <= client_id < config.num_clients:
            raise ConfigError(f"client_id must be in [0, {config.num_clients})")
        dtype = prg.ring_dtype(config.bits)
        x = np.asarray(x)
        if x.shape != (config.dim,) or x.dtype.kind != "u":
            raise ConfigError(f"x must be an unsigned integer vector of shape ({config.dim},)")
        if x.size and int(x.max()) >= config.modulus:
            raise ConfigError(f"x has elements outside Z_2^{config.bits}")
        if rand is None:
            rand = os.urandom(rand_size(config))
        if len(rand) != rand_size(config):
            raise ConfigError(f"rand must be {rand_size(config)} bytes")
        self.config = config
        self.id = client_id
        self.phase = ClientPhase.NEW
        self.abort_reason: AbortReason | None = None
        self._graph = graph
        self._x: RingArray = x.astype(dtype)
        # The key pairs are dropped once used (c after ShareKeys, s after MaskedInput); the
        # public halves stay for the checks on the key list.
        self._c: KeyPair | None = KeyPair.from_secret(rand[0:32])
        self._s: KeyPair | None = KeyPair.from_secret(rand[32:64])
        self._publics = (self._c.public, self._s.public)
        self._b = rand[64:96]
        self._share_rand = rand[96:]
        self._peers: dict[int, wire.KeyEntry] = {}
        self._u2: set[int] = set()
        self._held: dict[int, tuple[int, int]] = {}  # peer -> (share of s^SK, share of b)
        self._c_shared: dict[int, bytes] = {}  # peer -> KA.agree(c_u^SK, c_v^PK), both rounds
        self._prompt = b""  # digest of the server prompt being answered

    # ------------------------------------------------------------------ public API

    def start(self) -> bytes:
        """Round 0 (AdvertiseKeys): send (c_u^PK, s_u^PK)."""
        self._expect(ClientPhase.NEW)
        self.phase = ClientPhase.AWAIT_KEY_LIST
        msg = wire.AdvertiseKeys(*self._publics)
        return wire.encode_advertise_keys(self.config, self.id, msg)

    def handle(self, data: bytes) -> bytes:
        """Consume the server's prompt for the next round and return this client's reply.

        Raises :class:`ClientAbort` (and moves to ABORTED) when the message is malformed or
        asks for something an honest client must refuse.
        """
        try:
            if self.phase is ClientPhase.AWAIT_KEY_LIST:
                msg = wire.decode_key_list(data, self.config, self.id)
                # Echoed in the reply so the server can tell that we saw what it sent.
                self._prompt = wire.prompt_digest(data)
                reply = self._on_key_list(msg)
                self.phase = ClientPhase.AWAIT_SHARES
            elif self.phase is ClientPhase.AWAIT_SHARES:
                forward = wire.decode_share_forward(data, self.config, self.id)
                self._prompt = wire.prompt_digest(data)
                reply = self._on_shares(forward)
                self.phase = ClientPhase.AWAIT_UNMASK_REQUEST
            elif self.phase is ClientPhase.AWAIT_UNMASK_REQUEST:
                request = wire.decode_unmask_request(data, self.config, self.id)
                self._prompt = wire.prompt_digest(data)
                reply = self._on_unmask(request)
                self.phase = ClientPhase.COMPLETED
            else:
                raise StateError(f"client {self.id} cannot handle a message in {self.phase.value}")
        except DecodeError as exc:
            self._abort(AbortReason.INVALID_MESSAGE, f"undecodable server message: {exc}")
        return reply

    # ------------------------------------------------------------------ rounds

    def _on_key_list(self, msg: wire.KeyList) -> bytes:
        """Round 1 (ShareKeys): check U1, share s_u^SK and b_u, encrypt a share pair to each v."""
        cfg = self.config
        c, s = self._c, self._s
        assert c is not None and s is not None  # both live until this round ends
        peers = {e.client: e for e in msg.entries}
        if len(peers) < cfg.threshold:
            self._abort(AbortReason.BELOW_THRESHOLD, f"key list has {len(peers)} < t entries")
        mine = peers.get(self.id)
        if mine is None or (mine.c_public, mine.s_public) != self._publics:
            self._abort(AbortReason.INCONSISTENT_VIEW, "key list omits or alters this client")
        keys = [k for e in msg.entries for k in (e.c_public, e.s_public)]
        if len(set(keys)) != len(keys):
            self._abort(AbortReason.INCONSISTENT_VIEW, "key list repeats a public key")
        self._peers = peers
        # We hold a share of our own secrets too: with exactly t responders at Unmasking, a
        # survivor's own share is one of the t that reconstruct its b_u.
        holders = sorted([self.id, *self._graph.neighbors(self.id, peers)])
        key_shares, mask_shares = shamir.share(
            [s.secret, self._b], (v + 1 for v in holders), cfg.threshold, self._share_rand
        )
        self._share_rand = b""  # the polynomial coefficients must never be reused
        self._c = None  # c_u^SK is only for the share-encryption keys derived below
        out = []
        commitments = []
        for v, key_share, mask_share in zip(holders, key_shares, mask_shares, strict=True):
            commitments.append(
                (
                    v,
                    share_commitment(cfg.session_id, self.id, v, wire.ShareKind.KEY, key_share),
                    share_commitment(
                        cfg.session_id, self.id, v, wire.ShareKind.SELF_MASK, mask_share
                    ),
                )
            )
            if v == self.id:
                self._held[v] = (key_share, mask_share)
                continue
            self._c_shared[v] = self._agree(c, peers[v].c_public)
            k = kdf.share_encryption_key(
                self._c_shared[v],
                session_id=cfg.session_id,
                sender=self.id,
                recipient=v,
            )
            plaintext = wire.encode_share_plaintext(self.id, v, key_share, mask_share)
            out.append(
                (v, aead.seal(k, plaintext, aead.associated_data(cfg.session_id, self.id, v)))
            )
        self._require_distinct(c, self._c_shared.values())
        reply = wire.ShareKeys(tuple(out), tuple(commitments), self._prompt)
        return wire.encode_share_keys(cfg, self.id, reply)

    def _on_shares(self, msg: wire.ShareForward) -> bytes:
        """Round 2 (MaskedInputCollection): keep the shares for us, send
        y_u = x_u + PRG(b_u) + sum_{v in U2} Delta_{u,v} PRG(s_{u,v}),  Delta = +1 if u < v else -1.
        """
        cfg = self.config
        senders = [u for u, _ in msg.ciphertexts]
        # _c_shared holds exactly the neighbours we sent shares to (never ourselves).
        if any(u not in self._c_shared for u in senders):
            self._abort(AbortReason.INCONSISTENT_VIEW, "shares forwarded from unknown peers")
        if len(senders) + 1 < cfg.threshold:
            self._abort(AbortReason.BELOW_THRESHOLD, f"only {len(senders) + 1} < t clients left")
        for u, ciphertext in msg.ciphertexts:
            k = kdf.share_encryption_key(
                self._c_shared[u],
                session_id=cfg.session_id,
                sender=u,
                recipient=self.id,
            )
            try:
                plaintext = aead.open_(
                    k, ciphertext, aead.associated_data(cfg.session_id, u, self.id)
                )
                self._held[u] = wire.decode_share_plaintext(plaintext, u, self.id)
            except (aead.AuthenticationError, DecodeError):
                # We still mask with u (the server counts u in U2); we just hold no share of it,
                # and the server needs t shares from the others.
                continue
        self._c_shared.clear()
        self._u2 = {self.id, *senders}
        s = self._s
        assert s is not None  # live until this round ends
        y = self._x.copy()
        prg.accumulate(y, self._b, label=prg.LABEL_SELF_MASK)
        neighbors = self._graph.neighbors(self.id, senders)
        s_shared = {v: self._agree(s, self._peers[v].s_public) for v in neighbors}
        self._require_distinct(s, s_shared.values())
        for v in neighbors:
            seed = kdf.pair_mask_seed(s_shared[v], session_id=cfg.session_id, u=self.id, v=v)
            prg.accumulate(y, seed, label=prg.LABEL_PAIR_MASK, negate=self.id > v)
        prg.reduce(y, cfg.bits)
        # x_u, b_u and s_u^SK are no longer needed; keep none in the state (a fresh empty
        # array, since a slice would keep the buffer of x_u alive).
        self._x = np.empty(0, dtype=self._x.dtype)
        self._b = b""
        self._s = None
        return wire.encode_masked_input(cfg, self.id, wire.MaskedInput(y, self._prompt))

    def _on_unmask(self, msg: wire.UnmaskRequest) -> bytes:
        """Round 3 (Unmasking): shares of s_v^SK for dropped peers, of b_v for survivors."""
        survivors = set(msg.survivors)
        if self.id not in survivors:
            self._abort(AbortReason.INCONSISTENT_VIEW, "survivor list omits this client")
        if len(survivors) < self.config.threshold:
            self._abort(AbortReason.BELOW_THRESHOLD, f"survivor list has {len(survivors)} < t ids")
        if not survivors <= self._u2:
            self._abort(AbortReason.INCONSISTENT_VIEW, "survivor list names unknown peers")
        shares = []
        for peer in sorted(self._held):
            key_share, mask_share = self._held[peer]
            # _held only has peers of U2, so "not a survivor" means "dropped after ShareKeys".
            if peer in survivors:
                shares.append((peer, wire.ShareKind.SELF_MASK, mask_share))
            else:
                shares.append((peer, wire.ShareKind.KEY, key_share))
        self._held.clear()
        response = wire.UnmaskResponse(tuple(shares), self._prompt)
        return wire.encode_unmask_response(self.config, self.id, response)

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
        self.phase = ClientPhase.ABORTED
        self.abort_reason = reason
        self._held.clear()
        self._c_shared.clear()
        self._x = np.empty(0, dtype=self._x.dtype)
        self._b = self._share_rand = b""
        self._c = self._s = None
        raise ClientAbort(reason, f"client {self.id}: {detail}")
