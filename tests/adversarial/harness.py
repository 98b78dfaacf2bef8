"""A malicious server with real clients.

The adversary is the server operator, possibly with ``corrupt`` clients on its side. It talks to
the honest clients - real :class:`~secagg.Client` objects, which it can only send bytes to - and
it holds every secret of the corrupt ones (their randomness, their roster signing keys, the
shares they decrypt). It may run the honest :class:`~secagg.Server` for bookkeeping and edit or
replace any prompt, or bypass it altogether.

:class:`Loot` keeps every share of an honest owner's secrets that the adversary ends up holding,
by (owner, kind, holder): the shares honest clients reveal in their UnmaskResponses, and the
shares the corrupt holders decrypted. An honest client's input is exposed when the adversary
holds ``t`` shares of both its s_u^SK and its b_u (it then rebuilds both and removes every mask
from y_u); :meth:`Loot.unmask` does exactly that, to show it where an attack succeeds.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Iterable, Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from secagg import (
    AbortReason,
    Client,
    ClientAbort,
    Roster,
    RoundConfig,
    Server,
    SigningKey,
)
from secagg.config import Security
from secagg.core import wire
from secagg.core.client import rand_size
from secagg.core.graph import graph_for
from secagg.crypto import aead, kdf, prg, shamir
from secagg.crypto.keys import KeyPair
from secagg.crypto.prg import RingArray

KEY = wire.ShareKind.KEY
SELF_MASK = wire.ShareKind.SELF_MASK


@dataclasses.dataclass
class World:
    """The parties of one session: who is honest, who is corrupt, and the secrets the
    adversary holds (those of the corrupt clients only)."""

    config: RoundConfig
    inputs: list[npt.NDArray[np.uint64]]
    rands: list[bytes]
    signing_keys: list[SigningKey] | None
    corrupt: frozenset[int]
    clients: dict[int, Client]
    """Every client, honest ones and the adversary's own (which it may run honestly)."""

    @property
    def n(self) -> int:
        return self.config.num_clients

    @property
    def t(self) -> int:
        return self.config.threshold

    @property
    def honest(self) -> list[int]:
        return [u for u in range(self.n) if u not in self.corrupt]

    def holders(self, u: int) -> list[int]:
        return graph_for(self.config).holders(u)

    def neighbors(self, u: int) -> list[int]:
        return graph_for(self.config).neighbors(u)

    def corrupt_key(self, u: int) -> SigningKey:
        """The roster key of a corrupt client: the adversary has it. (Honest ones' it has not.)"""
        assert u in self.corrupt and self.signing_keys is not None
        return self.signing_keys[u]

    def fresh(self, u: int, x: npt.ArrayLike | None = None) -> Client:
        key = self.signing_keys[u] if self.signing_keys is not None else None
        value = self.inputs[u] if x is None else x
        return Client(self.config, u, value, self.rands[u], signing_key=key)


def make_world(
    n: int,
    t: int,
    *,
    security: str = "malicious",
    neighbors: int | None = None,
    corrupt: Collection[int] = (),
    seed: int = 0,
    weak: bool = False,
    dim: int = 4,
    bits: int = 32,
    nonce: bytes | None = None,
) -> World:
    """A session of ``n`` clients. ``weak`` lifts the threshold policy (to show what it
    prevents); otherwise the policy is applied with the corrupt fraction ``len(corrupt) / n``."""
    rng = np.random.default_rng([seed, 99])
    malicious = Security(security) is Security.MALICIOUS
    keys = [SigningKey.from_secret(rng.bytes(32)) for _ in range(n)] if malicious else None
    config = RoundConfig(
        num_clients=n,
        threshold=t,
        dim=dim,
        bits=bits,
        session_nonce=nonce if nonce is not None else rng.bytes(32),
        neighbors=neighbors,
        security=Security(security),
        roster=Roster(tuple(k.public for k in keys)) if keys is not None else None,
        corrupt=len(corrupt) / n if not weak else 0.0,
        allow_weak_threshold=weak,
    )
    inputs = [rng.integers(0, 1 << bits, size=dim, dtype=np.uint64) for _ in range(n)]
    rands = [rng.bytes(rand_size(config)) for _ in range(n)]
    world = World(config, inputs, rands, keys, frozenset(corrupt), {})
    world.clients = {u: world.fresh(u) for u in range(n)}
    return world


def same_clients_new_session(world: World, nonce: bytes) -> World:
    """The same clients (inputs, roster keys) in another session: every other secret is fresh."""
    config = dataclasses.replace(world.config, session_nonce=nonce)
    rng = np.random.default_rng(list(nonce[:8]))
    rands = [rng.bytes(rand_size(config)) for _ in range(world.n)]
    other = World(config, world.inputs, rands, world.signing_keys, world.corrupt, {})
    other.clients = {u: other.fresh(u) for u in range(world.n)}
    return other


# --------------------------------------------------------------------------- talking to clients


Outcome = bytes | AbortReason


def ask(client: Client, prompt: bytes | None) -> Outcome:
    """The client's reply to ``prompt`` (None: start), or the reason it refused."""
    try:
        return client.start() if prompt is None else client.handle(prompt)
    except ClientAbort as exc:
        return exc.reason


def ask_all(world: World, prompts: Mapping[int, bytes | None]) -> dict[int, Outcome]:
    return {u: ask(world.clients[u], p) for u, p in prompts.items()}


def replies_only(outcomes: Mapping[int, Outcome]) -> dict[int, bytes]:
    return {u: o for u, o in outcomes.items() if isinstance(o, bytes)}


def drive(
    world: World,
    until: str,
    *,
    skip: Mapping[str, Collection[int]] | None = None,
    edit: Callable[[str, int, bytes], bytes] | None = None,
) -> tuple[Server, dict[int, bytes]]:
    """Run an honest server with every client (corrupt ones behaving honestly) until the server
    is in phase ``until``, its prompts made but not delivered; ``skip[round]`` stay silent in
    that round, ``edit(round, client, reply)`` may change a reply. Returns the server and its
    prompts of ``until``."""
    skip = skip or {}
    server = Server(world.config)
    prompts: dict[int, bytes | None] = dict.fromkeys(range(world.n))
    while server.phase.value != until:
        name = server.phase.value
        outcomes = ask_all(world, {u: p for u, p in prompts.items() if u not in skip.get(name, ())})
        for u, reply in replies_only(outcomes).items():
            server.receive(u, edit(name, u, reply) if edit is not None else reply)
        prompts = dict(server.advance())
    return server, {u: p for u, p in prompts.items() if p is not None}


# --------------------------------------------------------------------------- prompts


def key_list(world: World, recipient: int, entries: Iterable[wire.KeyEntry]) -> bytes:
    msg = wire.KeyList(tuple(sorted(entries, key=lambda e: e.client)))
    return wire.encode_key_list(world.config, recipient, msg)


def share_forward(world: World, recipient: int, entries: Iterable[wire.ForwardEntry]) -> bytes:
    msg = wire.ShareForward(tuple(sorted(entries, key=lambda e: e.sender)))
    return wire.encode_share_forward(world.config, recipient, msg)


def mask_request(world: World, recipient: int, u2: Iterable[int]) -> bytes:
    msg = wire.MaskRequest(wire.IdSet.of(u2, world.n))
    return wire.encode_mask_request(world.config, recipient, msg)


def consistency_request(world: World, recipient: int, u3: Iterable[int]) -> bytes:
    msg = wire.ConsistencyRequest(wire.IdSet.of(u3, world.n))
    return wire.encode_consistency_request(world.config, recipient, msg)


def unmask_request(
    world: World,
    recipient: int,
    u3: Iterable[int],
    signatures: Mapping[int, bytes] | None = None,
) -> bytes:
    ids = wire.IdSet.of(u3, world.n)
    sigs = tuple(sorted((signatures or {}).items()))
    return wire.encode_unmask_request(world.config, recipient, wire.UnmaskRequest(ids, sigs))


def consistency_signature(world: World, signer: int, u3: Iterable[int]) -> bytes:
    """A corrupt client's signature over ``u3`` (it will sign any set: it is the adversary's)."""
    parts = wire.consistency_signed_parts(world.config, wire.IdSet.of(u3, world.n))
    return world.corrupt_key(signer).sign(wire.LABEL_CONSISTENCY, *parts)


def signature_of(world: World, signer: int, reply: bytes) -> bytes:
    return wire.decode_consistency_response(reply, world.config, signer).signature


def advertised(world: World, u: int, data: bytes) -> wire.KeyEntry:
    msg = wire.decode_advertise_keys(data, world.config, u)
    return wire.KeyEntry(u, msg.c_public, msg.s_public, msg.signature)


# --------------------------------------------------------------------------- what it holds


class Loot:
    """Every share of an honest owner's secrets the adversary holds, and what it can rebuild."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.shares: dict[tuple[int, wire.ShareKind], dict[int, bytes]] = {}

    def add(self, owner: int, kind: wire.ShareKind, holder: int, share: bytes) -> None:
        self.shares.setdefault((owner, kind), {})[holder] = share

    def take_response(self, holder: int, data: bytes) -> None:
        """The shares an UnmaskResponse of ``holder`` reveals."""
        msg = wire.decode_unmask_response(data, self.world.config, holder)
        for owner, kind, share in msg.shares:
            self.add(owner, kind, holder, share)

    def take_responses(self, outcomes: Mapping[int, Outcome]) -> None:
        for v, reply in replies_only(outcomes).items():
            self.take_response(v, reply)

    def take_corrupt_holdings(self) -> None:
        """Both shares of every owner that each corrupt client holds (it decrypted them in the
        share check, as any holder does; the adversary reads its own clients' state)."""
        for c in self.world.corrupt:
            for owner, (key_share, mask_share) in self.world.clients[c]._held.items():
                self.add(owner, KEY, c, key_share)
                self.add(owner, SELF_MASK, c, mask_share)

    def count(self, owner: int, kind: wire.ShareKind) -> int:
        return len(self.shares.get((owner, kind), {}))

    def exposed(self, owner: int) -> bool:
        """t shares of both s_u^SK and b_u: the one thing the protocol must never hand out."""
        t = self.world.t
        return self.count(owner, KEY) >= t and self.count(owner, SELF_MASK) >= t

    def exposed_honest(self) -> list[int]:
        return [u for u in self.world.honest if self.exposed(u)]

    def rebuild(self, owner: int, kind: wire.ShareKind) -> bytes:
        held = sorted(self.shares[(owner, kind)].items())[: self.world.t]
        assert len(held) == self.world.t
        return shamir.reconstruct([(holder + 1, share) for holder, share in held])

    def unmask(
        self, owner: int, masked: RingArray, peers: Collection[int], s_publics: Mapping[int, bytes]
    ) -> RingArray:
        """x_u from y_u, given t shares of b_u and of s_u^SK: remove PRG(b_u) and the pairwise
        mask with every peer u masked with (``peers``, whose s^PK are ``s_publics``)."""
        cfg = self.world.config
        b_u = self.rebuild(owner, SELF_MASK)
        s_u = KeyPair.from_secret(self.rebuild(owner, KEY))
        return remove_masks(cfg, owner, masked, b_u, {v: s_u.agree(s_publics[v]) for v in peers})


def remove_masks(
    cfg: RoundConfig, owner: int, masked: RingArray, b_u: bytes, shared: Mapping[int, bytes]
) -> RingArray:
    """y_u - PRG(b_u) - sum_v Delta_{u,v} PRG(s_{u,v}): ``shared[v]`` is KA(s_u^SK, s_v^PK) (or
    the same agreement from v's side)."""
    sid = cfg.session_id
    x = np.array(masked, dtype=prg.ring_dtype(cfg.bits))
    keys = [kdf.self_mask_key(b_u, session_id=sid, u=owner)]
    keys += [kdf.pair_mask_key(s, session_id=sid, u=owner, v=v) for v, s in shared.items()]
    # u added +PRG(s_uv) for v > u and -PRG for v < u: take each back out.
    negate = [True] + [owner < v for v in shared]
    prg.accumulate_many(x, keys, negate)
    prg.reduce(x, cfg.bits)
    return x


def masked_vector(world: World, u: int, reply: bytes) -> RingArray:
    return wire.decode_masked_input(reply, world.config, u).vector


def decrypt_share(
    world: World, owner: int, holder: int, c_secret: bytes, ciphertext: bytes, c_owner_pk: bytes
) -> tuple[bytes, bytes]:
    """(share of s^SK, share of b) inside e_{owner,holder}, with the holder's c secret key."""
    shared = KeyPair.from_secret(c_secret).agree(c_owner_pk)
    sid = world.config.session_id
    k = kdf.share_encryption_key(shared, session_id=sid, sender=owner, recipient=holder)
    plaintext = aead.open_(k, ciphertext, aead.associated_data(sid, owner, holder))
    return wire.decode_share_plaintext(plaintext, owner, holder)


def assert_clean_refusal(world: World, u: int, outcome: Outcome, reasons: Collection[Any]) -> None:
    """``u`` refused (one of ``reasons``) and holds no secret."""
    assert isinstance(outcome, AbortReason), f"client {u} answered"
    assert outcome in reasons, (u, outcome)
    client = world.clients[u]
    assert client._held == {} and client._c is None and client._s is None
    assert client._b == b"" and client._share_rand == b""
