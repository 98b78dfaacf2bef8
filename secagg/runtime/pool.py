"""Where the simulated clients run: in this process, or spread over worker processes.

A runner owns the :class:`~secagg.core.client.Client` objects (made on first use by a factory)
and turns a batch of prompts into a stream of replies. :class:`ProcessRunner` forks ``workers``
processes; client ``u`` lives in worker ``u mod workers`` for the whole round. Each worker gets
its whole batch in one message, then streams back one reply per client as it goes, so the
server (in the parent) takes replies while the workers compute.

Only bytes cross the process boundary, in a framing of our own (no pickle): the factory and
the inputs reach the workers through ``fork``, so the fork start method is required (Linux).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import struct
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any

from secagg.core.client import Client
from secagg.errors import AbortReason, ClientAbort, ConfigError, SecAggError

ClientFactory = Callable[[int], Client]

_ITEM = struct.Struct(">IBQ")  # client, has prompt, prompt length
_REPLY = struct.Struct(">cIBdQ")  # tag, client, status, cpu seconds, payload length

OK, ABORTED, ERROR, CONFIG_ERROR = 0, 1, 2, 3


@dataclass(frozen=True, slots=True)
class Reply:
    """What one client did with its prompt: a message, a refusal, or nothing (lost prompt)."""

    client: int
    message: bytes | None
    abort: AbortReason | None
    cpu_seconds: float


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _step(client: Client, prompt: bytes | None) -> tuple[int, bytes, float]:
    """Run one client on its prompt (None: start); status, payload, CPU seconds."""
    start = time.process_time()
    try:
        message = client.start() if prompt is None else client.handle(prompt)
        status, payload = OK, message
    except ClientAbort as exc:
        status, payload = ABORTED, bytes([exc.reason])
    return status, payload, time.process_time() - start


class InProcessRunner:
    """All clients in this process, run one after another."""

    def __init__(self, factory: ClientFactory) -> None:
        self._factory = factory
        self._clients: dict[int, Client] = {}

    def run(self, batch: Sequence[tuple[int, bytes | None]]) -> Iterator[Reply]:
        for u, prompt in batch:
            client = self._clients.get(u)
            if client is None:
                client = self._clients[u] = self._factory(u)
            status, payload, cpu = _step(client, prompt)
            if status == ABORTED:
                yield Reply(u, None, AbortReason(payload[0]), cpu)
            else:
                yield Reply(u, payload, None, cpu)

    def close(self) -> None:
        self._clients.clear()


def _worker_main(conn: Connection, factory: ClientFactory) -> None:
    """A worker: take a batch, answer it client by client, until told to stop."""
    # Ctrl-C goes to the whole process group: the parent handles it and stops us.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    clients: dict[int, Client] = {}
    while True:
        data = conn.recv_bytes()
        if data == b"S":
            return
        view = memoryview(data)
        offset = 0
        while offset < len(view):
            u, has_prompt, length = _ITEM.unpack_from(view, offset)
            offset += _ITEM.size
            prompt = bytes(view[offset : offset + length]) if has_prompt else None
            offset += length
            try:
                client = clients.get(u)
                if client is None:
                    client = clients[u] = factory(u)
                status, payload, cpu = _step(client, prompt)
            except ConfigError as exc:
                status, payload, cpu = CONFIG_ERROR, str(exc).encode(), 0.0
            except Exception as exc:  # reported to the parent, which raises it
                status, payload, cpu = ERROR, f"{type(exc).__name__}: {exc}".encode(), 0.0
            # Header and payload as two messages: a masked vector is not copied to be framed.
            conn.send_bytes(_REPLY.pack(b"R", u, status, cpu, len(payload)))
            conn.send_bytes(payload)
            if status in (CONFIG_ERROR, ERROR):
                clients.pop(u, None)
        conn.send_bytes(b"E")


class ProcessRunner:
    """Clients spread over ``workers`` forked processes (client u in worker u mod workers)."""

    def __init__(self, factory: ClientFactory, workers: int) -> None:
        context = multiprocessing.get_context("fork")
        self._conns: list[Connection] = []
        self._procs: list[Any] = []
        for _ in range(workers):
            parent, child = context.Pipe()
            proc = context.Process(target=_worker_main, args=(child, factory), daemon=True)
            proc.start()
            child.close()
            self._conns.append(parent)
            self._procs.append(proc)

    def run(self, batch: Sequence[tuple[int, bytes | None]]) -> Iterator[Reply]:
        workers = len(self._conns)
        parts: list[list[bytes]] = [[] for _ in range(workers)]
        for u, prompt in batch:
            data = b"" if prompt is None else prompt
            parts[u % workers].append(_ITEM.pack(u, prompt is not None, len(data)) + data)
        busy = []
        for conn, items in zip(self._conns, parts, strict=True):
            if items:
                conn.send_bytes(b"".join(items))
                busy.append(conn)
        while busy:
            for ready in wait(busy):
                assert isinstance(ready, Connection)
                conn = ready
                data = conn.recv_bytes()
                if data == b"E":
                    busy.remove(conn)
                    continue
                _, u, status, cpu, _length = _REPLY.unpack_from(data)
                payload = conn.recv_bytes()
                if status == OK:
                    yield Reply(u, payload, None, cpu)
                elif status == ABORTED:
                    yield Reply(u, None, AbortReason(payload[0]), cpu)
                elif status == CONFIG_ERROR:
                    raise ConfigError(payload.decode())
                else:
                    raise SecAggError(f"a simulation worker failed: {payload.decode()}")

    def close(self) -> None:
        for conn in self._conns:
            with contextlib.suppress(OSError):  # the worker may be gone already
                conn.send_bytes(b"S")
        for proc in self._procs:
            proc.join(timeout=5)
            if proc.is_alive():
                proc.terminate()
                proc.join()
        for conn in self._conns:
            conn.close()
