"""In-process runner: n clients and one server exchanging real wire bytes, with dropouts,
message interception and cost accounting. Used by the CLI, the tests and the vectors."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from secagg.config import RoundConfig, as_int
from secagg.core.client import Client, rand_size
from secagg.core.server import Drop, Server
from secagg.crypto.drbg import Drbg, RandomSource, seed_bytes, system_random
from secagg.crypto.prg import RingArray, ring_dtype
from secagg.errors import AbortReason, ClientAbort, ConfigError

ROUNDS = ("advertise_keys", "share_keys", "masked_input", "unmasking")
"""Round names. Round r is the server's prompt (none for advertise_keys) plus the clients'
replies: share_keys starts with the key list, masked_input with the forwarded share
ciphertexts, unmasking with the survivor list."""

Intercept = Callable[[str, int | None, int | None, bytes], bytes | None]
"""``(round_name, sender, recipient, payload) -> bytes | None``; the server is ``None``."""
Progress = Callable[[str, int, int], None]
"""``(round_name, done, total)``, called as the round's messages are processed."""


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

    aggregate: RingArray
    """sum of x_u over :attr:`survivors`, mod 2^bits."""
    survivors: list[int]
    """U3, sorted: the clients whose inputs are in :attr:`aggregate`."""
    responders: list[int]
    """U4, sorted: the clients whose shares unmasked the sum."""
    costs: Costs
    drops: tuple[Drop, ...]
    """Every client the server dropped, with the phase and reason."""
    client_aborts: dict[int, AbortReason] = field(default_factory=dict)
    """Clients that refused a server message, and why."""
    config: RoundConfig | None = None


def _as_ring_inputs(
    inputs: Sequence[npt.ArrayLike] | npt.NDArray[Any], bits: int
) -> list[RingArray]:
    """The inputs checked and cast to the ring's dtype (uint32 for bits <= 32), copied only if
    that cast needs it: :class:`Client` copies its input anyway."""
    if isinstance(inputs, np.ndarray):
        if inputs.ndim != 2:
            raise ConfigError(
                f"inputs as one array must be 2-D (a row per client), got shape {inputs.shape}"
            )
        rows: Iterable[npt.ArrayLike] = list(inputs)
    elif isinstance(inputs, (str, bytes)) or not isinstance(inputs, Iterable):
        raise ConfigError(
            f"inputs must be a sequence of 1-D integer arrays, got {type(inputs).__name__}"
        )
    else:
        rows = inputs
    try:
        arrays = [np.asarray(x) for x in rows]
    except (TypeError, ValueError) as exc:  # e.g. a ragged nested list
        raise ConfigError("inputs must be a sequence of 1-D integer arrays") from exc
    if not arrays:
        raise ConfigError("inputs must hold at least one client's vector")
    dim = arrays[0].shape
    for i, x in enumerate(arrays):
        if x.ndim != 1 or x.shape != dim:
            raise ConfigError(f"input {i} has shape {x.shape}; all must be 1-D of shape {dim}")
        if x.dtype.kind not in "ui":
            raise ConfigError(f"input {i} has dtype {x.dtype}; inputs must be unsigned integers")
        if x.size and (int(x.min()) < 0 or int(x.max()) >= 1 << bits):
            raise ConfigError(f"input {i} has values outside [0, 2**{bits})")
    dtype = ring_dtype(bits)
    return [x.astype(dtype, copy=False) for x in arrays]


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
    value = seed if isinstance(seed, bytes) else as_int(seed)
    if value is None:
        raise ConfigError(f"seed must be a non-negative int or bytes, got {type(seed).__name__}")
    if isinstance(value, int) and value < 0:
        raise ConfigError("seed must be a non-negative int or bytes, got a negative int")
    return Drbg(seed_bytes(value), label)


def _silence_schedule(drop: object, n: int) -> dict[int, int]:
    if drop is None:
        return {}
    if not isinstance(drop, Mapping):
        raise ConfigError(
            "drop must be a mapping from round name to client ids, e.g. "
            f"{{'share_keys': [1]}}, got {type(drop).__name__}"
        )
    silent_from: dict[int, int] = {}
    for name, ids in drop.items():
        if not isinstance(name, str) or name not in ROUNDS:
            raise ConfigError(f"unknown round {name!r} in drop; rounds are {', '.join(ROUNDS)}")
        if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
            raise ConfigError(f"drop[{name!r}] must be a collection of client ids")
        r = ROUNDS.index(name)
        for u in ids:
            client = as_int(u)
            if client is None or not 0 <= client < n:
                raise ConfigError(f"drop[{name!r}] names client {u!r}, not in [0, {n})")
            silent_from[client] = min(r, silent_from.get(client, r))
    return silent_from


def simulate_round(
    inputs: Sequence[npt.ArrayLike] | npt.NDArray[Any],
    *,
    threshold: int,
    bits: int = 32,
    drop: Mapping[str, Iterable[int]] | None = None,
    intercept: Intercept | None = None,
    seed: int | bytes | None = None,
    progress: Progress | None = None,
) -> RoundResult:
    """Run one secure-aggregation round over ``inputs`` (client ``u`` holds ``inputs[u]``).

    ``drop[round]`` lists clients that go silent from that round on. ``intercept`` sees every
    message on the simulated wire and may replace it or lose it (return None). ``seed`` makes the
    whole run reproducible - it then also decides every key, so never use it in production.

    Raises :class:`~secagg.ConfigError` for invalid parameters (inputs, threshold, bits, drop,
    seed, hooks) before any message is sent, and :class:`~secagg.ProtocolAbort` when fewer than
    ``threshold`` clients remain at any round.
    """
    bits, threshold = _require_int("bits", bits), _require_int("threshold", threshold)
    if not 1 <= bits <= 64:
        raise ConfigError(f"bits must be an int in [1, 64], got {bits!r}")
    for name, hook in (("intercept", intercept), ("progress", progress)):
        if hook is not None and not callable(hook):
            raise ConfigError(f"{name} must be callable or None, got {type(hook).__name__}")
    rng = random_source(seed, b"simulate")
    xs = _as_ring_inputs(inputs, bits)
    n = len(xs)
    silent_from = _silence_schedule(drop, n)
    config = RoundConfig(
        num_clients=n, threshold=threshold, dim=xs[0].shape[0], bits=bits, session_nonce=rng(32)
    )
    clients = [Client(config, u, xs[u], rng(rand_size(config))) for u in range(n)]
    server = Server(config)
    aborts: dict[int, AbortReason] = {}
    costs: list[RoundCost] = []
    prompts: dict[int, bytes] = {}
    prompt_bytes = prompt_count = 0

    for r, name in enumerate(ROUNDS):
        up = count = 0
        cpu_sum = cpu_max = server_cpu = 0.0
        for u, client in enumerate(clients):
            if progress is not None:
                progress(name, u, n)
            if silent_from.get(u, len(ROUNDS)) <= r or u in aborts:
                continue
            if r > 0 and u not in prompts:
                continue  # never prompted (dropped by the server, or the prompt was lost)
            start = time.process_time()
            try:
                message = client.start() if r == 0 else client.handle(prompts[u])
            except ClientAbort as exc:
                aborts[u] = exc.reason
                continue
            finally:
                spent = time.process_time() - start
                cpu_sum += spent
                cpu_max = max(cpu_max, spent)
            up += len(message)
            count += 1
            delivered = message if intercept is None else intercept(name, u, None, message)
            if delivered is not None:
                start = time.process_time()
                server.receive(u, delivered)
                server_cpu += time.process_time() - start
        if progress is not None:
            progress(name, n, n)
        start = time.process_time()
        try:
            outgoing = server.advance()
        finally:
            server_cpu += time.process_time() - start
            costs.append(
                RoundCost(name, up, prompt_bytes, count, prompt_count, cpu_sum, cpu_max, server_cpu)
            )
        next_name = ROUNDS[r + 1] if r + 1 < len(ROUNDS) else name
        prompts = {}
        prompt_bytes = sum(len(m) for _, m in outgoing)
        prompt_count = len(outgoing)
        for v, message in outgoing:
            delivered = message if intercept is None else intercept(next_name, None, v, message)
            if delivered is not None:
                prompts[v] = delivered

    assert server.result is not None
    return RoundResult(
        aggregate=server.result.vector,
        survivors=list(server.result.survivors),
        responders=list(server.result.responders),
        costs=Costs(tuple(costs)),
        drops=tuple(server.drops),
        client_aborts=aborts,
        config=config,
    )
