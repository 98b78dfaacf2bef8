"""In-process runner: n clients and one server exchanging real wire bytes, with dropouts,
message interception, cost accounting and, optionally, the clients spread over worker
processes. Used by the CLI, the tests, the benchmarks and the vectors."""

from __future__ import annotations

import dataclasses
import resource
import struct
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from secagg import params
from secagg.config import RoundConfig, Security, as_int, as_security
from secagg.core.client import Client, rand_size
from secagg.core.server import Drop, Server, ServerPhase
from secagg.crypto.drbg import Drbg, RandomSource, seed_bytes, system_random
from secagg.crypto.prg import RingArray
from secagg.crypto.sign import Roster, SigningKey
from secagg.errors import AbortReason, ConfigError
from secagg.runtime import preflight
from secagg.runtime.inputs import Inputs, PreparedInputs, prepare
from secagg.runtime.pool import InProcessRunner, ProcessRunner, available_cores

SEMI_HONEST_ROUNDS = ("advertise_keys", "share_keys", "share_check", "masked_input", "unmasking")
MALICIOUS_ROUNDS = (
    "advertise_keys",
    "share_keys",
    "share_check",
    "masked_input",
    "consistency_check",
    "unmasking",
)
ROUNDS = SEMI_HONEST_ROUNDS
"""Round names of the semi-honest mode (:func:`rounds` for either). Round r is the server's
prompt (none for advertise_keys) plus the clients' replies: share_keys starts with the key
list, share_check with the forwarded shares, masked_input with U2, consistency_check with U3
to sign, unmasking with the survivor set."""

Intercept = Callable[[str, int | None, int | None, bytes], bytes | None]
"""``(round_name, sender, recipient, payload) -> bytes | None``; the server is ``None``."""
Progress = Callable[[str, int, int], None]
"""``(round_name, done, total)``, called as the round's messages are processed."""


def _server_clock() -> float:
    """CPU seconds of this process and of the children it has waited for: the server's
    unmasking forks helpers for its key agreements (:mod:`secagg.core.pairkeys`), and their time
    is the server's. (The client workers are waited for only after the round.)"""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def rounds(security: Security | str) -> tuple[str, ...]:
    """The round names of a mode, in order."""
    return MALICIOUS_ROUNDS if as_security(security) is Security.MALICIOUS else SEMI_HONEST_ROUNDS


@dataclass(frozen=True, slots=True)
class RoundCost:
    """Traffic and CPU of one round. Bytes are as sent (before interception)."""

    name: str
    client_to_server_bytes: int = 0
    server_to_client_bytes: int = 0
    client_messages: int = 0
    server_messages: int = 0
    client_cpu_seconds: float = 0.0
    """Summed over all clients."""
    client_cpu_seconds_max: float = 0.0
    """The slowest single client."""
    server_cpu_seconds: float = 0.0

    def per_client(self) -> dict[str, float]:
        """Mean upload, download and CPU for one client that took part in this round."""
        senders = max(self.client_messages, 1)
        recipients = max(self.server_messages, 1)
        return {
            "upload_bytes": self.client_to_server_bytes / senders,
            "download_bytes": self.server_to_client_bytes / recipients,
            "cpu_seconds": self.client_cpu_seconds / senders,
        }


@dataclass(frozen=True, slots=True)
class Costs:
    rounds: tuple[RoundCost, ...]

    def __getitem__(self, name: str) -> RoundCost:
        for r in self.rounds:
            if r.name == name:
                return r
        raise KeyError(name)

    @property
    def server_cpu_seconds(self) -> float:
        return sum(r.server_cpu_seconds for r in self.rounds)

    @property
    def client_cpu_seconds(self) -> float:
        return sum(r.client_cpu_seconds for r in self.rounds)

    @property
    def total_bytes(self) -> int:
        return sum(r.client_to_server_bytes + r.server_to_client_bytes for r in self.rounds)


@dataclass(frozen=True, slots=True)
class RoundResult:
    """What one simulated round produced."""

    aggregate: RingArray = field(repr=False)
    """sum of x_u over :attr:`survivors`, mod 2^bits."""
    survivors: list[int]
    """U3, sorted: the clients whose inputs are in :attr:`aggregate`."""
    responders: list[int]
    """U4, sorted: the clients whose shares unmasked the sum."""
    costs: Costs = field(repr=False)
    drops: tuple[Drop, ...]
    """Every client the server dropped, by phase, then client id."""
    client_aborts: dict[int, AbortReason] = field(default_factory=dict)
    """Clients that refused a server message, and why."""
    config: RoundConfig | None = field(default=None, repr=False)

    def __repr__(self) -> str:
        # Never whole arrays in a repr: a summary a person can read.
        return (
            f"RoundResult(dim={self.aggregate.shape[0]}, survivors={len(self.survivors)}, "
            f"responders={len(self.responders)}, drops={len(self.drops)}, "
            f"client_aborts={len(self.client_aborts)}, server_cpu="
            f"{self.costs.server_cpu_seconds:.3f}s, client_cpu="
            f"{self.costs.client_cpu_seconds:.3f}s)"
        )


def _require_int(name: str, value: object) -> int:
    number = as_int(value)
    if number is None:
        raise ConfigError(f"{name} must be an int, got {type(value).__name__}")
    return number


def random_source(seed: object, label: bytes) -> RandomSource:
    """The Drbg for a user-facing ``seed`` (a non-negative int, numpy int or bytes), or the OS
    CSPRNG for None; any other seed raises :class:`~secagg.ConfigError`."""
    if seed is None:
        return system_random
    return Drbg(checked_seed(seed), label)


def checked_seed(seed: object) -> bytes:
    """A user-facing seed as bytes; ConfigError unless it is a non-negative int or bytes."""
    value = seed if isinstance(seed, bytes) else as_int(seed)
    if value is None:
        raise ConfigError(f"seed must be a non-negative int or bytes, got {type(seed).__name__}")
    if isinstance(value, int) and value < 0:
        raise ConfigError("seed must be a non-negative int or bytes, got a negative int")
    return seed_bytes(value)


def _silence_schedule(drop: object, n: int, names: tuple[str, ...]) -> dict[int, int]:
    if drop is None:
        return {}
    if not isinstance(drop, Mapping):
        raise ConfigError(
            "drop must be a mapping from round name to client ids, e.g. "
            f"{{'share_keys': [1]}}, got {type(drop).__name__}"
        )
    silent_from: dict[int, int] = {}
    for name, ids in drop.items():
        if not isinstance(name, str) or name not in names:
            raise ConfigError(f"unknown round {name!r} in drop; rounds are {', '.join(names)}")
        if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
            raise ConfigError(f"drop[{name!r}] must be a collection of client ids")
        r = names.index(name)
        for u in ids:
            client = as_int(u)
            if client is None or not 0 <= client < n:
                raise ConfigError(f"drop[{name!r}] names client {u!r}, not in [0, {n})")
            silent_from[client] = min(r, silent_from.get(client, r))
    return silent_from


def resolve_graph(
    n: int,
    threshold: object,
    neighbors: object,
    *,
    security: Security,
    corrupt: float,
    dropout: float,
) -> tuple[int | None, int]:
    """``(k, t)`` from the user's ``neighbors`` (None, an int, or "auto") and ``threshold``
    (an int, or None for the smallest the policy accepts / the finder's t)."""
    malicious = security is Security.MALICIOUS
    k: int | None
    if neighbors == "auto":
        try:
            found = params.search(n, dropout=dropout, corrupt=corrupt, malicious=malicious)
        except (TypeError, ValueError) as exc:
            raise ConfigError(str(exc)) from None
        k, default_t = found.neighbors, found.threshold
    elif neighbors is None:
        k = None
        default_t = params.complete_threshold(n, corrupt=corrupt, malicious=malicious)
    else:
        k = as_int(neighbors)
        if k is None:
            raise ConfigError(f"neighbors must be an int, 'auto' or None, got {neighbors!r}")
        default_t = params.policy_threshold(k + 1)
    if threshold is None:
        return k, min(default_t, n if k is None else k + 1)
    return k, _require_int("threshold", threshold)


def _client_randomness(seed: bytes | None, config: RoundConfig, u: int) -> bytes | None:
    """Client u's randomness: from (seed, session, u) when seeded, so two seeded runs whose
    parameters differ share no secret; None (the OS CSPRNG) otherwise."""
    if seed is None:
        return None
    return Drbg(seed, b"client/" + config.session_id + struct.pack(">I", u))(rand_size(config))


def simulation_signing_keys(seed: bytes | None, n: int) -> list[SigningKey]:
    """Long-term Ed25519 keys for ``n`` simulated clients (from the seed, or the OS)."""
    if seed is None:
        return [SigningKey.generate() for _ in range(n)]
    return [SigningKey.from_secret(Drbg(seed, b"signing-key/%d" % u)(32)) for u in range(n)]


def simulate_round(
    inputs: Inputs,
    *,
    threshold: int | None = None,
    bits: int = 32,
    neighbors: int | str | None = None,
    security: Security | str = Security.SEMI_HONEST,
    corrupt: float = 0.0,
    dropout: float = 0.05,
    allow_weak_threshold: bool = False,
    workers: int | None = None,
    drop: Mapping[str, Iterable[int]] | None = None,
    intercept: Intercept | None = None,
    seed: int | bytes | None = None,
    progress: Progress | None = None,
) -> RoundResult:
    """Run one secure-aggregation round over ``inputs`` (client ``u`` holds ``inputs[u]``).

    ``neighbors`` picks the graph: None for the complete graph (SecAgg), an even ``k`` for
    SecAgg+, or "auto" for the (k, t) that :func:`secagg.secaggplus_parameters` finds for
    ``dropout`` and ``corrupt``; ``threshold=None`` takes the smallest threshold the policy
    accepts (the finder's, with "auto"). ``security`` is "semi_honest" or "malicious" (signed
    keys and a consistency round; the simulation makes each client a signing key). ``workers``
    spreads the clients over that many processes (default: all cores) and the server's
    unmasking over as many threads; the result is the same for any number. ``drop[round]``
    lists clients that go silent from that round on. ``intercept`` sees every message on the
    simulated wire and may replace it or lose it (return None). ``seed`` makes the whole run
    reproducible - it then also decides every key, so never use it in production.

    Raises :class:`~secagg.ConfigError` for invalid or unsafe parameters (inputs, threshold,
    bits, graph, drop, seed, hooks, or a size that does not fit in memory) before any message
    is sent, and :class:`~secagg.ProtocolAbort` when fewer than ``threshold`` clients remain
    at any round or a secret cannot be rebuilt.
    """
    bits = _require_int("bits", bits)
    if not 1 <= bits <= 64:
        raise ConfigError(f"bits must be an int in [1, 64], got {bits!r}")
    mode = as_security(security)
    names = rounds(mode)
    for name, hook in (("intercept", intercept), ("progress", progress)):
        if hook is not None and not callable(hook):
            raise ConfigError(f"{name} must be callable or None, got {type(hook).__name__}")
    if workers is None:
        workers = available_cores()
    workers = _require_int("workers", workers)
    if workers < 1:
        raise ConfigError(f"workers must be at least 1, got {workers}")
    seed_value = None if seed is None else checked_seed(seed)
    prepared = prepare(inputs, bits)
    n = prepared.num_clients
    silent_from = _silence_schedule(drop, n, names)
    for name, value in (("corrupt", corrupt), ("dropout", dropout)):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name} must be a fraction, got {value!r}")
    k, t = resolve_graph(
        n, threshold, neighbors, security=mode, corrupt=float(corrupt), dropout=float(dropout)
    )
    preflight.require_memory(n, prepared.dim, bits, neighbors=k, workers=workers)
    keys = simulation_signing_keys(seed_value, n) if mode is Security.MALICIOUS else None
    roster = Roster(tuple(key.public for key in keys)) if keys is not None else None
    # Validated with a placeholder nonce first: the nonce label packs t and k as u32, which
    # raised struct.error (not ConfigError) for e.g. threshold=-1 or neighbors=-2.
    config = RoundConfig(
        num_clients=n,
        threshold=t,
        dim=prepared.dim,
        bits=bits,
        session_nonce=bytes(32),
        neighbors=k,
        security=mode,
        roster=roster,
        corrupt=float(corrupt),
        allow_weak_threshold=allow_weak_threshold,
    )
    nonce_label = b"session-nonce/" + struct.pack(
        ">IIIBIB", n, t, prepared.dim, bits, k or 0, mode is Security.MALICIOUS
    )
    nonce = random_source(seed_value, nonce_label)(32)
    config = dataclasses.replace(config, session_nonce=nonce)
    return _run(config, prepared, keys, seed_value, workers, silent_from, intercept, progress)


def _run(
    config: RoundConfig,
    prepared: PreparedInputs,
    keys: list[SigningKey] | None,
    seed: bytes | None,
    workers: int,
    silent_from: dict[int, int],
    intercept: Intercept | None,
    progress: Progress | None,
) -> RoundResult:
    n = config.num_clients
    names = rounds(config.security)

    def factory(u: int) -> Client:
        return Client(
            config,
            u,
            lambda: prepared.vector(u),
            _client_randomness(seed, config, u),
            signing_key=keys[u] if keys is not None else None,
        )

    server = Server(config, workers=workers)
    runner = (
        InProcessRunner(factory)
        if workers == 1 or n == 1
        else ProcessRunner(factory, min(workers, n))
    )
    aborts: dict[int, AbortReason] = {}
    costs: list[RoundCost] = []
    prompts: dict[int, bytes | None] = {u: None for u in range(n)}
    prompt_bytes = prompt_count = 0
    try:
        for r, name in enumerate(names):
            up = count = 0
            cpu_sum = cpu_max = server_cpu = 0.0
            batch = [
                (u, prompt)
                for u, prompt in prompts.items()
                if silent_from.get(u, len(names)) > r and u not in aborts
            ]
            if progress is not None:
                progress(name, 0, len(batch))
            for done, reply in enumerate(runner.run(batch), start=1):
                cpu_sum += reply.cpu_seconds
                cpu_max = max(cpu_max, reply.cpu_seconds)
                if reply.abort is not None:
                    aborts[reply.client] = reply.abort
                elif reply.message is not None:
                    up += len(reply.message)
                    count += 1
                    delivered = (
                        reply.message
                        if intercept is None
                        else intercept(name, reply.client, None, reply.message)
                    )
                    if delivered is not None:
                        start = time.process_time()
                        server.receive(reply.client, delivered)
                        server_cpu += time.process_time() - start
                if progress is not None:
                    progress(name, done, len(batch))
            start = _server_clock()
            try:
                outgoing = server.advance()
            finally:
                server_cpu += _server_clock() - start
                costs.append(
                    RoundCost(
                        name, up, prompt_bytes, count, prompt_count, cpu_sum, cpu_max, server_cpu
                    )
                )
            next_name = names[r + 1] if r + 1 < len(names) else name
            prompts = {}
            prompt_bytes = sum(len(m) for _, m in outgoing)
            prompt_count = len(outgoing)
            for v, message in outgoing:
                delivered = message if intercept is None else intercept(next_name, None, v, message)
                if delivered is not None:
                    prompts[v] = delivered
    finally:
        runner.close()

    assert server.result is not None and server.phase is ServerPhase.COMPLETED
    order = {phase: i for i, phase in enumerate(ServerPhase)}
    return RoundResult(
        aggregate=server.result.vector,
        survivors=list(server.result.survivors),
        responders=list(server.result.responders),
        costs=Costs(tuple(costs)),
        drops=tuple(sorted(server.drops, key=lambda d: (order[d.phase], d.client))),
        client_aborts=dict(sorted(aborts.items())),
        config=config,
    )
