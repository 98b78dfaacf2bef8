"""The one place where the Flower integration touches secagg's protocol core.

Everything else in :mod:`secagg.integrations.flower` speaks to the core only through the
names defined here, so a change to the core API (new rounds, ``RoundConfig`` fields such as
``neighbors`` or ``security``, signing keys, a roster) is absorbed in this module alone.

Core API used (secagg 0.1):

* ``RoundConfig(num_clients, threshold, dim, bits, session_nonce)`` and ``SESSION_NONCE_SIZE``;
* ``Server(config)``: ``receive``, ``ready``, ``advance``, ``phase``, ``result``, ``drops``,
  ``ServerPhase``, ``ProtocolAbort`` (``reason``, ``detail``);
* ``Client(config, client_id, x, rand)``, ``rand_size(config)``: ``start``, ``handle``,
  ``ClientAbort`` (``reason``, ``detail``);
* the float layer: ``QuantizationConfig``, ``quantize``, ``dequantize_sum``;
* ``ConfigError`` for parameters the core refuses.

The protocol loop on top of this is generic: the server repeats "advance, send each prompt,
collect replies until ready or the deadline" until :attr:`ServerSession.done`; a client answers
whatever prompt comes. No round names or counts are hard-coded outside the core.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from secagg.config import SESSION_NONCE_SIZE, RoundConfig, ring_dtype_width
from secagg.core.client import Client, ClientPhase, rand_size
from secagg.core.server import Server, ServerPhase
from secagg.encoding.quantize import QuantizationConfig, dequantize_sum, quantize
from secagg.errors import ClientAbort, ConfigError, ProtocolAbort, StateError

__all__ = [
    "SESSION_NONCE_SIZE",
    "ClientRefusal",
    "ClientSession",
    "ConfigError",
    "DropRecord",
    "QuantizationConfig",
    "ServerSession",
    "SessionAborted",
    "SessionParams",
    "dequantize_vector",
    "quantization",
    "quantize_vector",
    "ring_dtype",
]

RingVector = npt.NDArray[np.unsignedinteger]


class SessionAborted(Exception):
    """The server side of a session aborted: no aggregate is released."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class ClientRefusal(Exception):
    """A client refused a prompt (it stays silent for the rest of the session)."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass(frozen=True, slots=True)
class SessionParams:
    """What the server tells every client in the first message of a session.

    ``num_clients`` n, ``threshold`` t, ``dim`` m, ``bits`` b, ``nonce`` (32 fresh random
    bytes). New core parameters (graph degree, security mode, roster) are added here and in
    :meth:`to_record` / :meth:`from_record`.
    """

    num_clients: int
    threshold: int
    dim: int
    bits: int
    nonce: bytes

    def round_config(self) -> RoundConfig:
        """The core's validated configuration; raises :class:`ConfigError` when invalid."""
        return RoundConfig(
            num_clients=self.num_clients,
            threshold=self.threshold,
            dim=self.dim,
            bits=self.bits,
            session_nonce=self.nonce,
        )

    def to_record(self) -> dict[str, int | bytes]:
        """Flat values a Flower ``ConfigRecord`` can carry."""
        return {
            "n": self.num_clients,
            "t": self.threshold,
            "m": self.dim,
            "b": self.bits,
            "nonce": self.nonce,
        }

    @classmethod
    def from_record(cls, record: Mapping[str, object]) -> SessionParams:
        """Parse untrusted values; raises :class:`ConfigError` for anything malformed."""
        ints = {}
        for key in ("n", "t", "m", "b"):
            value = record.get(key)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"session field {key!r} must be an int")
            ints[key] = value
        nonce = record.get("nonce")
        if not isinstance(nonce, bytes):
            raise ConfigError("session field 'nonce' must be bytes")
        params = cls(ints["n"], ints["t"], ints["m"], ints["b"], nonce)
        params.round_config()  # validates every field
        return params

    @classmethod
    def fresh(cls, num_clients: int, threshold: int, dim: int, bits: int) -> SessionParams:
        """Parameters for a new session with a fresh random nonce."""
        params = cls(num_clients, threshold, dim, bits, os.urandom(SESSION_NONCE_SIZE))
        params.round_config()
        return params


@dataclass(frozen=True, slots=True)
class DropRecord:
    """One client the server dropped: its id, the phase, the reason code's name, a detail."""

    client: int
    phase: str
    reason: str
    detail: str


class ServerSession:
    """The server state machine of one session, behind integration-level names."""

    def __init__(self, params: SessionParams) -> None:
        self.params = params
        self._server = Server(params.round_config())

    @property
    def phase(self) -> str:
        """The current phase's name (for reports and logs)."""
        return self._server.phase.value

    @property
    def done(self) -> bool:
        """True once the session completed or aborted."""
        return self._server.phase in (ServerPhase.COMPLETED, ServerPhase.ABORTED)

    @property
    def completed(self) -> bool:
        return self._server.phase is ServerPhase.COMPLETED

    @property
    def ready(self) -> bool:
        """Every client expected in this phase has answered (or was dropped)."""
        return self._server.ready

    def start_prompts(self) -> list[int]:
        """The clients that send the first message unprompted (all n)."""
        return list(range(self.params.num_clients))

    def receive(self, client: int, data: bytes) -> None:
        """Feed one client's message; bad bytes drop that client, never raise."""
        self._server.receive(client, data)

    def advance(self) -> list[tuple[int, bytes]]:
        """Close the phase; the next prompts, or [] when the session completed.

        Raises :class:`SessionAborted` when the session cannot complete.
        """
        try:
            return self._server.advance()
        except ProtocolAbort as exc:
            raise SessionAborted(exc.reason.name, exc.detail) from None

    def result(self) -> tuple[RingVector, tuple[int, ...], tuple[int, ...]]:
        """(sum of the survivors' ring vectors, survivors U3, responders) once completed."""
        result = self._server.result
        if result is None:
            raise RuntimeError("the session has not completed")
        return result.vector, result.survivors, result.responders

    @property
    def drops(self) -> list[DropRecord]:
        return [
            DropRecord(d.client, d.phase.value, d.reason.name, d.detail) for d in self._server.drops
        ]


class ClientSession:
    """The client state machine of one session, rebuilt from durable state.

    Flower may run every message of a session in a fresh process (the deployment runtime
    starts a ClientApp process per message), so the client keeps only bytes in its Flower
    ``Context``: its input ``x``, its ``secret`` (every random byte the core client uses) and
    the prompts answered so far. :meth:`restore` rebuilds the state machine by replaying those
    prompts; the core client is deterministic given its randomness, so a replay reproduces the
    earlier replies exactly and reveals nothing new. (A state export in the core would remove
    the replay; until then it costs the client its earlier rounds' CPU once more.)
    """

    def __init__(self, client: Client) -> None:
        self._client = client

    @staticmethod
    def new_secret(params: SessionParams) -> bytes:
        """Fresh randomness for one client of this session (key material: never log it)."""
        return os.urandom(rand_size(params.round_config()))

    @classmethod
    def create(
        cls, params: SessionParams, client_id: int, x: RingVector, secret: bytes
    ) -> ClientSession:
        """A new client; raises :class:`ConfigError` for an id, input or secret that does not
        fit ``params``."""
        return cls(Client(params.round_config(), client_id, x, secret))

    @property
    def finished(self) -> bool:
        """True once the client sent its last message of the session (or refused)."""
        return self._client.phase in (ClientPhase.COMPLETED, ClientPhase.ABORTED)

    @classmethod
    def restore(
        cls,
        params: SessionParams,
        client_id: int,
        x: RingVector,
        secret: bytes,
        answered: Iterable[bytes],
    ) -> ClientSession:
        """The client after ``start()`` and one ``handle()`` per prompt in ``answered``.

        Raises :class:`ConfigError` for inconsistent state and :class:`ClientRefusal` if a
        stored prompt is refused (which cannot happen for prompts answered before).
        """
        session = cls.create(params, client_id, x, secret)
        session.start()
        for prompt in answered:
            session.handle(prompt)
        return session

    def start(self) -> bytes:
        """The client's first message (sent with the training result)."""
        return self._client.start()

    def handle(self, prompt: bytes) -> bytes:
        """The reply to one server prompt; raises :class:`ClientRefusal` if refused."""
        try:
            return self._client.handle(prompt)
        except ClientAbort as exc:
            raise ClientRefusal(exc.reason.name, exc.detail) from None
        except StateError as exc:  # a prompt after the session ended for this client
            raise ClientRefusal("UNEXPECTED_PROMPT", str(exc)) from None


def quantization(
    num_clients: int, clipping_range: float, quantization_range: int, modulus_range: int | None
) -> QuantizationConfig:
    """The validated float-to-ring mapping; raises :class:`ConfigError` if the sum could wrap."""
    return QuantizationConfig(
        num_clients=num_clients,
        clipping_range=clipping_range,
        quantization_range=quantization_range,
        modulus_range=modulus_range,
    )


def quantize_vector(
    values: npt.NDArray[np.float64], qc: QuantizationConfig, rounding_seed: bytes
) -> tuple[RingVector, int]:
    """(ring vector, number of clipped values); raises :class:`ConfigError` (e.g. for NaN)."""
    q = quantize(values, qc, rounding_seed)
    return q.values, q.clipped


def dequantize_vector(
    total: RingVector, count: int, qc: QuantizationConfig
) -> npt.NDArray[np.float64]:
    """The float sum of ``count`` quantized vectors; a ring sum that ``count`` in-range inputs
    cannot produce raises :class:`SessionAborted` (``AGGREGATE_OUT_OF_RANGE``)."""
    try:
        return dequantize_sum(total, count, qc)
    except ProtocolAbort as exc:
        raise SessionAborted(exc.reason.name, exc.detail) from None


def ring_dtype(bits: int) -> np.dtype[np.unsignedinteger]:
    """The numpy dtype of ring vectors in Z_2^bits (how ``x`` is stored between messages)."""
    return np.dtype(np.uint32) if ring_dtype_width(bits) == 4 else np.dtype(np.uint64)
