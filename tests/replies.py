"""Shared helpers of the round-level tests: re-encode a client's reply with one field altered,
and step n real clients and one server of a round (any mode, any graph) by hand.

The replies that answer a prompt (SPEC.md 5.3) are ShareKeys, ShareCheck, MaskedInput,
ConsistencyResponse and UnmaskResponse; each starts with the echo of the prompt's digest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from secagg import Client, Roster, RoundConfig, Server, ServerPhase, SigningKey
from secagg.config import Security
from secagg.core import wire
from secagg.core.client import rand_size
from secagg.core.graph import graph_for
from secagg.runtime.simulate import rounds

REPLY_CODECS: dict[str, tuple[Callable[..., Any], Callable[..., bytes]]] = {
    "share_keys": (wire.decode_share_keys, wire.encode_share_keys),
    "share_check": (wire.decode_share_check, wire.encode_share_check),
    "masked_input": (wire.decode_masked_input, wire.encode_masked_input),
    "consistency_check": (wire.decode_consistency_response, wire.encode_consistency_response),
    "unmasking": (wire.decode_unmask_response, wire.encode_unmask_response),
}
"""(decode, encode) of the client's reply in each round that answers a prompt; the keys are
the round names, which are also the server's phase values."""

PROMPT_CODECS: dict[str, tuple[Callable[..., Any], Callable[..., bytes]]] = {
    "share_keys": (wire.decode_key_list, wire.encode_key_list),
    "share_check": (wire.decode_share_forward, wire.encode_share_forward),
    "masked_input": (wire.decode_mask_request, wire.encode_mask_request),
    "consistency_check": (wire.decode_consistency_request, wire.encode_consistency_request),
    "unmasking": (wire.decode_unmask_request, wire.encode_unmask_request),
}
"""(decode, encode) of the server's prompt that opens each round (none for advertise_keys)."""


def edit_reply(
    config: RoundConfig, round_name: str, sender: int, reply: bytes, change: Callable[[Any], Any]
) -> bytes:
    """Client ``sender``'s ``reply`` in ``round_name``, decoded, passed through ``change`` (a
    message in, a message out) and encoded again."""
    decode, encode = REPLY_CODECS[round_name]
    return encode(config, sender, change(decode(reply, config, sender)))


def re_echo(
    config: RoundConfig, round_name: str, sender: int, reply: bytes, prompt: bytes
) -> bytes:
    """Client ``sender``'s ``reply`` in ``round_name``, re-encoded to echo ``prompt``."""
    return edit_reply(
        config, round_name, sender, reply, lambda msg: dataclasses.replace(msg, prompt=prompt)
    )


def edit_prompt(
    config: RoundConfig,
    round_name: str,
    recipient: int,
    prompt: bytes,
    change: Callable[[Any], Any],
) -> bytes:
    """The server's ``prompt`` to ``recipient`` opening ``round_name``, decoded, changed and
    re-encoded (a valid digest: the digest is no MAC)."""
    decode, encode = PROMPT_CODECS[round_name]
    return encode(config, recipient, change(decode(prompt, config, recipient)))


def plain_sum(inputs: Sequence[Any], ids: Collection[int], bits: int) -> list[int]:
    """sum_{u in ids} x_u mod 2^bits with Python integers (no numpy wrap-around involved)."""
    dim = len(inputs[0])
    return [sum(int(inputs[u][i]) for u in ids) % (1 << bits) for i in range(dim)]


def signing_keys(n: int, seed: int) -> list[SigningKey]:
    rng = np.random.default_rng([seed, 7])
    return [SigningKey.from_secret(rng.bytes(32)) for _ in range(n)]


def make_config(
    n: int,
    t: int,
    *,
    dim: int = 4,
    bits: int = 32,
    neighbors: int | None = None,
    security: str | Security = "semi_honest",
    seed: int = 0,
    weak: bool = True,
    keys: list[SigningKey] | None = None,
) -> RoundConfig:
    """A round configuration; ``weak`` accepts any threshold (the policy is tested apart)."""
    malicious = Security(security) is Security.MALICIOUS
    if malicious and keys is None:
        keys = signing_keys(n, seed)
    roster = Roster(tuple(k.public for k in keys)) if malicious and keys is not None else None
    return RoundConfig(
        num_clients=n,
        threshold=t,
        dim=dim,
        bits=bits,
        session_nonce=np.random.default_rng([seed, 1]).bytes(32),
        neighbors=neighbors,
        security=Security(security),
        roster=roster,
        allow_weak_threshold=weak,
    )


class Round:
    """n real clients and the server of one round, stepped by hand.

    Everything is seeded: two rounds built with the same arguments send the same bytes, and
    :meth:`fresh_client` rebuilds a client that behaves exactly like the original.
    """

    def __init__(
        self,
        n: int = 5,
        t: int = 3,
        *,
        dim: int = 4,
        bits: int = 32,
        neighbors: int | None = None,
        security: str | Security = "semi_honest",
        seed: int = 0,
        weak: bool = True,
        workers: int = 1,
        config: RoundConfig | None = None,
    ) -> None:
        self.keys = signing_keys(n, seed) if Security(security) is Security.MALICIOUS else None
        self.config = config or make_config(
            n,
            t,
            dim=dim,
            bits=bits,
            neighbors=neighbors,
            security=security,
            seed=seed,
            weak=weak,
            keys=self.keys,
        )
        cfg = self.config
        rng = np.random.default_rng([seed, 2])
        self.inputs: list[npt.NDArray[np.uint64]] = [
            rng.integers(0, 1 << cfg.bits, size=cfg.dim, dtype=np.uint64) for _ in range(n)
        ]
        self.rands = [rng.bytes(rand_size(cfg)) for _ in range(n)]
        self.names = rounds(cfg.security)
        self.clients: list[Client] = [self.fresh_client(u) for u in range(n)]
        self.server = Server(cfg, workers=workers)
        self.prompts: dict[int, bytes] = {}

    @property
    def n(self) -> int:
        return self.config.num_clients

    @property
    def t(self) -> int:
        return self.config.threshold

    def fresh_client(self, u: int) -> Client:
        """A new client ``u`` with the same input, randomness and signing key."""
        key = self.keys[u] if self.keys is not None else None
        return Client(self.config, u, self.inputs[u], self.rands[u], signing_key=key)

    def holders(self, u: int) -> list[int]:
        return graph_for(self.config).holders(u)

    def replies(self, skip: Collection[int] = ()) -> dict[int, bytes]:
        """The next message of every client that has a prompt (all clients in round 0)."""
        if self.server.phase is ServerPhase.ADVERTISE_KEYS:
            return {u: c.start() for u, c in enumerate(self.clients) if u not in skip}
        return {u: self.clients[u].handle(p) for u, p in self.prompts.items() if u not in skip}

    def deliver(self, messages: Mapping[int, bytes]) -> None:
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
        """One round: replies (optionally edited) delivered, then the server closes it."""
        messages = self.replies(skip)
        if edit is not None:
            messages = {u: edit(u, m) for u, m in messages.items()}
        self.deliver(messages)
        return self.close()

    def run_to(self, phase: str, skips: Mapping[str, Collection[int]] | None = None) -> None:
        """Step until the server is in ``phase`` (its prompts sent), silencing ``skips[round]``
        in that round."""
        skips = skips or {}
        while self.server.phase.value != phase:
            self.step(skip=skips.get(self.server.phase.value, ()))

    def finish(self) -> None:
        while self.server.phase is not ServerPhase.COMPLETED:
            self.step()

    def plain_sum(self, ids: Collection[int]) -> list[int]:
        return plain_sum(self.inputs, ids, self.config.bits)

    def result_sum(self) -> list[int]:
        assert self.server.result is not None
        return [int(v) for v in self.server.result.vector]
