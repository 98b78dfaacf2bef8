"""Coverage-guided fuzzing of every decoder and state handler, for runs longer than CI's.

Needs atheris (not in any extra: it is only run by hand)::

    .venv/bin/python -m pip install atheris
    .venv/bin/python sim/fuzz_protocol.py -max_total_time=300 -print_final_stats=1

(Any libFuzzer flag works: ``-runs=N``, ``-jobs=2``, a corpus folder as the last argument.)

Each input picks a target and a way to build the message from the fuzzer's bytes:

* targets: every ``wire.decode_*`` (and ``RoundConfig.decode``); ``Client.handle`` in every
  phase; ``Server.receive`` in every phase - for both security modes, on the complete graph and
  on a SecAgg+ graph (n = 5, k = 2);
* messages: the fuzzer's bytes as they are; as a body under the right header with a valid
  digest; or as a patch (offset, value pairs) over a genuine message's body, re-sealed - so that
  mutations near real messages get past the digest and the length checks into the content rules.

What counts as a crash: any exception other than the library's typed ones (DecodeError from a
decoder, ConfigError from RoundConfig.decode, ClientAbort from a client; nothing at all from
the server), a client that aborts but still holds a secret, or a server that drops a message
and changes anything but its drop record (its running sum, sets, shares and commitments are
compared byte for byte). The fuzzer stops at the first one and writes the input to a file.
"""

from __future__ import annotations

import contextlib
import copy
import pickle
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import atheris  # type: ignore[import-untyped, import-not-found, unused-ignore]

with atheris.instrument_imports():
    import numpy as np

    from secagg import (
        Client,
        ClientAbort,
        ConfigError,
        DecodeError,
        Roster,
        RoundConfig,
        Server,
        ServerPhase,
        SigningKey,
    )
    from secagg.config import Security
    from secagg.core import wire
    from secagg.core.client import rand_size

N = 5
CASES = [
    ("semi_honest", None, 3),
    ("malicious", None, 3),
    ("semi_honest", 2, 2),
    ("malicious", 2, 2),
]


@dataclass
class Recording:
    """A genuine seeded round: the prompts and replies of every round, and the server as it
    entered each phase."""

    config: RoundConfig
    keys: list[SigningKey] | None
    inputs: list[Any]
    rands: list[bytes]
    names: list[str]
    prompts: dict[str, dict[int, bytes]]
    replies: dict[str, dict[int, bytes]]
    servers: dict[str, Server]

    def client(self, u: int) -> Client:
        key = self.keys[u] if self.keys is not None else None
        return Client(self.config, u, self.inputs[u], self.rands[u], signing_key=key)

    def client_at(self, u: int, phase: str) -> Client:
        """A fresh client u that has answered every round before ``phase`` (replayed)."""
        client = self.client(u)
        client.start()
        for name in self.names[1 : self.names.index(phase)]:
            client.handle(self.prompts[name][u])
        return client


def record(security: str, neighbors: int | None, t: int) -> Recording:
    rng = np.random.default_rng([7, t, neighbors or 0])
    malicious = Security(security) is Security.MALICIOUS
    keys = [SigningKey.from_secret(rng.bytes(32)) for _ in range(N)] if malicious else None
    config = RoundConfig(
        num_clients=N,
        threshold=t,
        dim=3,
        bits=32,
        session_nonce=rng.bytes(32),
        neighbors=neighbors,
        security=Security(security),
        roster=Roster(tuple(k.public for k in keys)) if keys is not None else None,
        allow_weak_threshold=True,
    )
    inputs = [rng.integers(0, 1 << 32, size=3, dtype=np.uint64) for _ in range(N)]
    rands = [rng.bytes(rand_size(config)) for _ in range(N)]
    rec = Recording(config, keys, inputs, rands, [], {}, {}, {})
    clients = [rec.client(u) for u in range(N)]
    server = Server(config)
    prompts: dict[int, bytes] = {}
    while server.phase is not ServerPhase.COMPLETED:
        name = server.phase.value
        rec.names.append(name)
        rec.servers[name] = copy.deepcopy(server)
        replies = {
            u: c.start() if name == "advertise_keys" else c.handle(prompts[u])
            for u, c in enumerate(clients)
        }
        rec.replies[name] = replies
        for u, reply in replies.items():
            server.receive(u, reply)
        prompts = dict(server.advance())
        if prompts:
            rec.prompts[server.phase.value] = prompts
    assert server.result is not None
    return rec


RECORDINGS = [record(*case) for case in CASES]


def decoders(rec: Recording) -> list[tuple[Callable[[bytes], object], bytes]]:
    cfg, up, down = rec.config, rec.replies, rec.prompts
    table: list[tuple[Callable[[bytes], object], bytes]] = [
        (lambda b: wire.decode_advertise_keys(b, cfg, 0), up["advertise_keys"][0]),
        (lambda b: wire.decode_key_list(b, cfg, 0), down["share_keys"][0]),
        (lambda b: wire.decode_share_keys(b, cfg, 0), up["share_keys"][0]),
        (lambda b: wire.decode_share_forward(b, cfg, 0), down["share_check"][0]),
        (lambda b: wire.decode_share_check(b, cfg, 0), up["share_check"][0]),
        (lambda b: wire.decode_mask_request(b, cfg, 0), down["masked_input"][0]),
        (lambda b: wire.decode_masked_input(b, cfg, 0), up["masked_input"][0]),
        (lambda b: wire.decode_unmask_request(b, cfg, 0), down["unmasking"][0]),
        (lambda b: wire.decode_unmask_response(b, cfg, 0), up["unmasking"][0]),
    ]
    if cfg.malicious:
        table += [
            (lambda b: wire.decode_consistency_request(b, cfg, 0), down["consistency_check"][0]),
            (lambda b: wire.decode_consistency_response(b, cfg, 0), up["consistency_check"][0]),
        ]
    return table


DECODERS = [decoders(rec) for rec in RECORDINGS]
IGNORED_STATE = ("drops", "_expected", "_accepted", "_unknown", "config", "_graph")


def state_of(server: Server) -> bytes:
    return pickle.dumps({k: v for k, v in vars(server).items() if k not in IGNORED_STATE})


def build(fdp: Any, config: RoundConfig, genuine: bytes) -> bytes:
    """The message to feed: raw bytes, a re-sealed body, or a patched genuine body."""
    how = fdp.ConsumeIntInRange(0, 2)
    if how == 0:
        data: bytes = fdp.ConsumeBytes(fdp.remaining_bytes())
        return data
    kind = wire.MessageType(genuine[5])
    sender = int.from_bytes(genuine[40:44], "big")
    recipient = int.from_bytes(genuine[44:48], "big")
    if how == 1:
        body = fdp.ConsumeBytes(fdp.remaining_bytes())
    else:
        body_array = bytearray(genuine[wire.HEADER_SIZE : -wire.DIGEST_SIZE])
        while fdp.remaining_bytes() >= 3 and body_array:
            at = fdp.ConsumeIntInRange(0, len(body_array) - 1)
            body_array[at] = fdp.ConsumeIntInRange(0, 255)
        body = bytes(body_array)
    return wire.envelope(config, kind, sender, recipient, body)


def test_one_input(data: bytes) -> None:
    fdp = atheris.FuzzedDataProvider(data)
    index = fdp.ConsumeIntInRange(0, len(RECORDINGS) - 1)
    rec = RECORDINGS[index]
    target = fdp.ConsumeIntInRange(0, 3)
    u = fdp.ConsumeIntInRange(0, N - 1)
    if target == 0:  # a decoder
        decode, genuine = DECODERS[index][fdp.ConsumeIntInRange(0, len(DECODERS[index]) - 1)]
        with contextlib.suppress(DecodeError):
            decode(build(fdp, rec.config, genuine))
    elif target == 1:  # a configuration
        with contextlib.suppress(ConfigError):
            RoundConfig.decode(fdp.ConsumeBytes(fdp.remaining_bytes()), roster=rec.config.roster)
    elif target == 2:  # a client in some phase
        phase = rec.names[fdp.ConsumeIntInRange(1, len(rec.names) - 1)]
        client = rec.client_at(u, phase)
        try:
            client.handle(build(fdp, rec.config, rec.prompts[phase][u]))
        except ClientAbort:
            if client._held or client._c is not None or client._s is not None or client._b:
                raise AssertionError("an aborted client still holds a secret") from None
    else:  # the server in some phase
        phase = rec.names[fdp.ConsumeIntInRange(0, len(rec.names) - 1)]
        server = copy.deepcopy(rec.servers[phase])
        for v in range(N):
            if v != u and fdp.ConsumeBool():
                server.receive(v, rec.replies[phase][v])
        before, drops = state_of(server), len(server.drops)
        server.receive(u, build(fdp, rec.config, rec.replies[phase][u]))
        if len(server.drops) > drops and state_of(server) != before:
            raise AssertionError("a dropped message changed the server's state")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
