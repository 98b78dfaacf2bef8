"""The one place where the Flower integration touches secagg's protocol core.

Everything else in :mod:`secagg.integrations.flower` speaks to the core only through the
names defined here, so a change to the core API is absorbed in this module alone.

Core API used (secagg 0.2, protocol version 2):

* ``RoundConfig(num_clients, threshold, dim, bits, session_nonce, neighbors=, security=,
  roster=, corrupt=, allow_weak_threshold=)``, its 83-byte ``encode()`` and
  ``RoundConfig.decode(data, roster=, corrupt=, allow_weak_threshold=)``: the server sends the
  encoding, and a client rebuilds the configuration under **its own** policy (protocol/SPEC.md
  section 13: a server cannot lower ``t`` for a client);
* ``Server(config)``: ``receive``, ``ready``, ``advance``, ``phase``, ``result``, ``drops``,
  ``ServerPhase``, ``ProtocolAbort`` (``reason``, ``detail``);
* ``Client(config, client_id, x, rand, signing_key=)``, ``rand_size(config)``: ``start``,
  ``handle``, ``ClientAbort`` (``reason``, ``detail``);
* ``SigningKey`` and ``Roster`` (Ed25519, the malicious mode), ``crypto.sign.verify``;
* ``params.secaggplus_parameters`` and ``params.threshold_problem`` (the (k, t) finder and the
  threshold policy);
* the float layer: ``QuantizationConfig``, ``quantize``, ``dequantize_sum``;
* ``ConfigError`` for parameters the core refuses.

The protocol loop on top of this is generic: the server repeats "advance, send each prompt,
collect replies until ready or the deadline" until :attr:`ServerSession.done`; a client answers
whatever prompt comes. No round names or counts are hard-coded outside the core.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from secagg import params as core_params
from secagg.config import (
    ENCODED_SIZE,
    SESSION_NONCE_SIZE,
    RoundConfig,
    Security,
    as_security,
    ring_dtype_width,
)
from secagg.core.client import Client, ClientPhase, rand_size
from secagg.core.server import Server, ServerPhase
from secagg.crypto.hashing import sha256
from secagg.crypto.sign import Roster, RosterError, SigningKey, verify
from secagg.encoding.quantize import QuantizationConfig, dequantize_sum, quantize
from secagg.errors import ClientAbort, ConfigError, ProtocolAbort, StateError

__all__ = [
    "ENCODED_SIZE",
    "SESSION_NONCE_SIZE",
    "ClientPolicy",
    "ClientRefusal",
    "ClientSession",
    "ConfigError",
    "DropRecord",
    "QuantizationConfig",
    "ReplayDiverged",
    "Roster",
    "RosterError",
    "Security",
    "ServerSession",
    "SessionAborted",
    "SigningKey",
    "as_security",
    "default_threshold",
    "dequantize_vector",
    "find_parameters",
    "hello_message",
    "quantization",
    "quantize_vector",
    "reply_digest",
    "ring_dtype",
    "round_config",
    "sub_roster",
    "threshold_problem",
    "verify_hello",
]

RingVector = npt.NDArray[np.unsignedinteger]
InputSource = RingVector | Callable[[], RingVector]

HELLO_LABEL = b"secagg/flower/v2/hello"
"""Signature label of the identity proof a node gives in the malicious mode (distinct from
every label of the protocol, so the signature can never be taken for a protocol message)."""


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


class ReplayDiverged(ClientRefusal):
    """Rebuilding the client from its stored state did not reproduce a reply it sent."""

    def __init__(self, step: int) -> None:
        super().__init__(
            "REPLAY_DIVERGED", f"replaying the session did not reproduce the reply of step {step}"
        )


# ---------------------------------------------------------------------- parameters


def find_parameters(
    num_clients: int, *, dropout: float, corrupt: float, security: Security
) -> tuple[int | None, int]:
    """(k, t) from the core's SecAgg+ finder (k None: the complete graph)."""
    return core_params.secaggplus_parameters(
        num_clients, dropout=dropout, corrupt=corrupt, security=security.value
    )


def threshold_problem(
    num_clients: int, threshold: int, *, neighbors: int | None, corrupt: float, security: Security
) -> str | None:
    """Why the core's threshold policy refuses ``threshold``; None when it accepts it."""
    return core_params.threshold_problem(
        num_clients,
        threshold,
        neighbors=neighbors,
        corrupt=corrupt,
        malicious=security is Security.MALICIOUS,
    )


def default_threshold(
    num_clients: int, neighbors: int | None, *, corrupt: float, security: Security
) -> int:
    """The smallest ``t`` the policy accepts for this graph (secagg's default): for the complete
    graph the core's ``complete_threshold``; for ``k`` neighbours the smallest ``t > (k + 1) / 2``
    for which corrupt neighbours stay below the threshold with the policy's probability.
    Raises :class:`ConfigError` when no ``t <= k + 1`` is enough."""
    malicious = security is Security.MALICIOUS
    if neighbors is None:
        return min(
            num_clients,
            core_params.complete_threshold(num_clients, corrupt=corrupt, malicious=malicious),
        )
    for t in range(core_params.policy_threshold(neighbors + 1), neighbors + 2):
        problem = threshold_problem(
            num_clients, t, neighbors=neighbors, corrupt=corrupt, security=security
        )
        if problem is None:
            return t
    raise ConfigError(
        f"no threshold keeps {num_clients} nodes with {neighbors} neighbours each safe against "
        f"{corrupt:.0%} corrupt nodes; use more shares (num_shares) or num_shares=None"
    )


def round_config(
    *,
    num_clients: int,
    threshold: int,
    dim: int,
    bits: int,
    neighbors: int | None,
    security: Security,
    roster: Roster | None,
    corrupt: float,
    allow_weak_threshold: bool,
) -> RoundConfig:
    """A validated configuration with a fresh session nonce; raises :class:`ConfigError`
    (with the policy's reason) when the core refuses it."""
    return RoundConfig(
        num_clients=num_clients,
        threshold=threshold,
        dim=dim,
        bits=bits,
        session_nonce=os.urandom(SESSION_NONCE_SIZE),
        neighbors=neighbors,
        security=security,
        roster=roster,
        corrupt=corrupt,
        allow_weak_threshold=allow_weak_threshold,
    )


def sub_roster(roster: Roster, entries: Sequence[int]) -> Roster:
    """The roster of one round: client id ``i`` gets the key of ``roster`` entry
    ``entries[i]``. Raises :class:`RosterError` for an unknown or repeated entry."""
    try:
        return Roster(tuple(roster[e] for e in entries))
    except KeyError as exc:
        raise RosterError(f"no roster entry {exc.args[0]!r}") from None


# ---------------------------------------------------------------------- identities


def hello_message(challenge: bytes, node_id: int) -> tuple[bytes, bytes]:
    """The (label, message) a node signs to show the server which roster key it holds."""
    return HELLO_LABEL, challenge + node_id.to_bytes(8, "big", signed=False)


def verify_hello(public: bytes, signature: bytes, challenge: bytes, node_id: int) -> bool:
    label, message = hello_message(challenge, node_id)
    return verify(public, signature, label, message)


# ---------------------------------------------------------------------- server


@dataclass(frozen=True, slots=True)
class DropRecord:
    """One client the server dropped: its id, the phase, the reason code's name, a detail."""

    client: int
    phase: str
    reason: str
    detail: str


class ServerSession:
    """The server state machine of one session, behind integration-level names."""

    def __init__(self, config: RoundConfig) -> None:
        self.config = config
        self._server = Server(config)

    @property
    def encoded_config(self) -> bytes:
        """The 83 bytes every client receives (protocol/SPEC.md section 2)."""
        return self.config.encode()

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


# ---------------------------------------------------------------------- client


@dataclass(frozen=True, slots=True)
class ClientPolicy:
    """What a node accepts, decided on the node, never by the server.

    ``corrupt`` and ``allow_weak_threshold`` are the core's threshold policy
    (:meth:`RoundConfig.decode`): a configuration whose ``t`` is too low for them is refused,
    whatever the server says. With a ``signing_key`` the node takes part only in the malicious
    mode, under ``roster`` (the full roster it trusts, from a source other than the server): a
    server cannot downgrade it to the semi-honest mode nor hand it keys of its own.
    """

    corrupt: float = 0.0
    allow_weak_threshold: bool = False
    signing_key: SigningKey | None = None
    roster: Roster | None = None

    def __post_init__(self) -> None:
        if (self.signing_key is None) != (self.roster is None):
            raise ConfigError("the malicious mode needs both the node's signing key and a roster")
        if (
            self.signing_key is not None
            and self.roster is not None
            and self.signing_key.public not in self.roster.public_keys
        ):
            raise ConfigError("the node's signing key is not in its roster")

    @property
    def malicious(self) -> bool:
        return self.signing_key is not None

    def accept(self, encoded: bytes, roster_entries: Sequence[int] | None) -> RoundConfig:
        """The configuration from the server's 83 bytes, under this policy; raises
        :class:`ConfigError` (or :class:`RosterError`) when it is refused."""
        roster = None
        if self.roster is not None:
            if roster_entries is None:
                raise ConfigError(
                    "this node takes part only in the malicious mode (it has a signing key)"
                )
            roster = sub_roster(self.roster, roster_entries)
        config = RoundConfig.decode(
            encoded,
            roster=roster,
            corrupt=self.corrupt,
            allow_weak_threshold=self.allow_weak_threshold,
        )
        if self.malicious and not config.malicious:
            raise ConfigError(
                "this node takes part only in the malicious mode (it has a signing key)"
            )
        return config

    def check_identity(self, config: RoundConfig, client_id: int) -> None:
        """Raise :class:`ConfigError` unless ``client_id`` is a client of ``config`` and, in
        the malicious mode, its roster entry is this node's key."""
        if not 0 <= client_id < config.num_clients:
            raise ConfigError(f"client id {client_id} is not in [0, {config.num_clients})")
        if (
            self.signing_key is not None
            and config.roster is not None
            and config.roster[client_id] != self.signing_key.public
        ):
            raise ConfigError(f"the roster entry of client {client_id} is not this node's key")


def reply_digest(reply: bytes) -> bytes:
    """What a node keeps of each reply it sent, to check that a replay reproduces it."""
    return sha256(b"secagg/flower/v2/reply", reply)


class ClientSession:
    """The client state machine of one session, rebuilt from durable state.

    Flower may run every message of a session in a fresh process (the deployment runtime
    starts a ClientApp process per message), and a live core client cannot be copied or
    pickled (its secrets must answer each round once), so the node keeps only bytes in its
    Flower ``Context``: the configuration, its input ``x``, its ``secret`` (every random byte
    the core client uses), the prompts answered so far and a digest of each reply it sent.
    :meth:`restore` rebuilds the state machine by replaying exactly those prompts and checks
    that every replayed reply has the stored digest: the core client is deterministic given
    its randomness (fixed-nonce AES-GCM under per-pair keys, deterministic Ed25519), so the
    replay reproduces the earlier replies byte for byte and reveals nothing new.
    """

    def __init__(self, client: Client) -> None:
        self._client = client

    @staticmethod
    def new_secret(config: RoundConfig) -> bytes:
        """Fresh randomness for one client of this session (key material: never log it)."""
        return os.urandom(rand_size(config))

    @classmethod
    def create(
        cls,
        config: RoundConfig,
        client_id: int,
        x: InputSource,
        secret: bytes,
        signing_key: SigningKey | None = None,
    ) -> ClientSession:
        """A new client; raises :class:`ConfigError` for an id, input, secret or signing key
        that does not fit ``config``."""
        return cls(Client(config, client_id, x, secret, signing_key=signing_key))

    @property
    def finished(self) -> bool:
        """True once the client sent its last message of the session (or refused)."""
        return self._client.phase in (ClientPhase.COMPLETED, ClientPhase.ABORTED)

    @classmethod
    def restore(
        cls,
        config: RoundConfig,
        client_id: int,
        x: InputSource,
        secret: bytes,
        answered: Iterable[bytes],
        digests: Sequence[bytes],
        signing_key: SigningKey | None = None,
    ) -> ClientSession:
        """The client after ``start()`` and one ``handle()`` per prompt in ``answered``;
        ``digests[i]`` is the :func:`reply_digest` of the reply sent at step ``i`` (0: the
        first message). Raises :class:`ReplayDiverged` when a replayed reply differs."""
        session = cls.create(config, client_id, x, secret, signing_key)
        replies = [session.start()]
        for prompt in answered:
            replies.append(session.handle(prompt))
        if len(replies) != len(digests):
            raise ConfigError("the stored session state is inconsistent")
        for step, (reply, digest) in enumerate(zip(replies, digests, strict=True)):
            if reply_digest(reply) != digest:
                raise ReplayDiverged(step)
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


# ---------------------------------------------------------------------- float layer


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
