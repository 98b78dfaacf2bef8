"""Round parameters, validated once at construction.

Symbols follow Bonawitz et al. (CCS 2017): ``n`` clients with ids ``0..n-1``, reconstruction
threshold ``t``, vectors of ``m`` elements of the ring Z_{2^b}; and Bell et al. (CCS 2020) for
SecAgg+: each client has ``k`` neighbours and its secrets are shared among its ``k + 1``
holders (itself and its neighbours), ``t`` of which rebuild them.
"""

from __future__ import annotations

import enum
import operator
import struct
from dataclasses import dataclass, field
from typing import SupportsIndex

from secagg import params
from secagg.crypto.hashing import sha256
from secagg.crypto.sign import Roster
from secagg.errors import ConfigError

PROTOCOL_VERSION = 2
"""Wire and key-derivation version; bumps whenever a byte of the protocol changes."""

MAX_CLIENTS = 1 << 20
"""Upper bound on ``n``: ids travel as uint32 and the server id is 0xFFFFFFFF."""

MAX_DIM = 1 << 31
"""Upper bound on ``m``: the PRG's 128-bit counter is far from this, the wire length is not."""

SESSION_NONCE_SIZE = 32

_ENCODING = struct.Struct(">BBIIIBI")
ENCODED_SIZE = _ENCODING.size + 32 + SESSION_NONCE_SIZE  # 83


class Security(enum.Enum):
    """What the round protects against (protocol/SPEC.md section 13)."""

    SEMI_HONEST = "semi_honest"
    """An honest-but-curious server: it follows the protocol and tries to learn from what it
    sees. No signatures; four prompts per round."""
    MALICIOUS = "malicious"
    """A server that may deviate: advertised keys are signed under a roster of Ed25519 keys and
    a ConsistencyCheck round makes clients agree on the survivors before they unmask."""

    @property
    def code(self) -> int:
        """The byte that stands for the mode in the configuration's encoding."""
        return 0 if self is Security.SEMI_HONEST else 1


def as_int(value: object) -> int | None:
    """``value`` as a Python int when it is an integer, Python's or numpy's, else None.

    Bools are refused (``True`` is not a client count), and so are floats, even integral ones.
    The result is a Python int, so arithmetic on it (e.g. ``n * L``) cannot wrap.
    """
    if isinstance(value, bool) or not isinstance(value, SupportsIndex):
        return None
    try:
        return operator.index(value)
    except TypeError:  # numpy bools, and 0-d float arrays (ndarray has __index__ but refuses)
        return None


def ring_dtype_width(bits: int) -> int:
    """Bytes per ring element on the wire and in memory: 4 for b <= 32, else 8."""
    return 4 if bits <= 32 else 8


def as_security(value: object) -> Security:
    """A :class:`Security` from itself or its name ("semi_honest", "malicious")."""
    if isinstance(value, Security):
        return value
    for mode in Security:
        if value == mode.value:
            return mode
    raise ConfigError(f"security must be 'semi_honest' or 'malicious', got {value!r}")


@dataclass(frozen=True, slots=True)
class RoundConfig:
    """Everything the server and every client must agree on before a round starts.

    Attributes:
        num_clients: ``n``, the number of clients invited; ids are ``0..n-1``.
        threshold: ``t``, the Shamir reconstruction threshold, per neighbourhood for SecAgg+.
        dim: ``m``, the length of each client's input vector.
        bits: ``b``, inputs live in Z_{2^b}; ``1 <= b <= 64``.
        session_nonce: 32 fresh random bytes chosen by the server for this round. Keys, masks,
            the SecAgg+ graph and message headers are bound to it (through :attr:`session_id`),
            so nothing from another round can be replayed into this one.
        neighbors: ``k`` for SecAgg+ (an even number, ``2 <= k <= n - 2``), or None for the
            complete graph of SecAgg.
        security: :class:`Security` (or its name); the malicious mode needs :attr:`roster`.
        roster: the clients' Ed25519 verification keys (malicious mode only).
        corrupt: the fraction of clients assumed to collude with the server. Not on the wire:
            it only decides which thresholds the policy accepts (:mod:`secagg.params`).
        allow_weak_threshold: accept a threshold the policy refuses (t at most half the holders,
            fewer than 3 clients, too low for ``corrupt``). Not on the wire. For experiments only:
            the refusal message says what the server could learn.
    """

    num_clients: int
    threshold: int
    dim: int
    bits: int
    session_nonce: bytes = field(repr=False)
    neighbors: int | None = None
    security: Security = Security.SEMI_HONEST
    roster: Roster | None = field(default=None, repr=False)
    corrupt: float = 0.0
    allow_weak_threshold: bool = False
    _session_id: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("num_clients", "threshold", "dim", "bits"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"{name} must be an int, got {type(value).__name__}")
        n, t = self.num_clients, self.threshold
        if not 1 <= n <= MAX_CLIENTS:
            raise ConfigError(f"num_clients must be in [1, {MAX_CLIENTS}], got {n}")
        if not 1 <= self.dim <= MAX_DIM:
            raise ConfigError(f"dim must be in [1, {MAX_DIM}], got {self.dim}")
        if not 1 <= self.bits <= 64:
            raise ConfigError(f"bits must be in [1, 64], got {self.bits}")
        if not isinstance(self.session_nonce, bytes) or len(self.session_nonce) != 32:
            raise ConfigError("session_nonce must be 32 bytes")
        object.__setattr__(self, "security", as_security(self.security))
        self._check_graph()
        if not 1 <= t <= self.holders:
            raise ConfigError(
                f"threshold must be in [1, {self.holders}] (the holders of each client's "
                f"shares), got {t}"
            )
        self._check_roster()
        corrupt = self.corrupt
        if isinstance(corrupt, bool) or not isinstance(corrupt, (int, float)):
            raise ConfigError(f"corrupt must be a fraction in [0, 0.5), got {corrupt!r}")
        if not 0.0 <= corrupt < 0.5:
            raise ConfigError(f"corrupt must be a fraction in [0, 0.5), got {corrupt!r}")
        if not isinstance(self.allow_weak_threshold, bool):
            raise ConfigError("allow_weak_threshold must be a bool")
        if not self.allow_weak_threshold:
            problem = params.threshold_problem(
                n,
                t,
                neighbors=self.neighbors,
                corrupt=float(corrupt),
                malicious=self.malicious,
            )
            if problem is not None:
                raise ConfigError(f"{problem} (allow_weak_threshold=True accepts it anyway)")
        object.__setattr__(
            self, "_session_id", sha256(b"secagg/v%d/session" % PROTOCOL_VERSION, self.encode())
        )

    def _check_graph(self) -> None:
        k, n = self.neighbors, self.num_clients
        if k is None:
            return
        if not isinstance(k, int) or isinstance(k, bool):
            raise ConfigError(f"neighbors must be an int or None, got {type(k).__name__}")
        if k < 2 or k % 2:
            raise ConfigError(
                f"neighbors must be an even number >= 2 (k/2 neighbours on each side of a "
                f"ring), got {k}"
            )
        if k > n - 2:
            raise ConfigError(
                f"neighbors={k} needs at least {k + 2} clients (with k >= n - 1 every client "
                f"is every other's neighbour): with {n} clients use the complete graph, "
                f"neighbors=None"
            )

    def _check_roster(self) -> None:
        if self.security is Security.MALICIOUS:
            if not isinstance(self.roster, Roster):
                raise ConfigError(
                    "the malicious mode needs a roster of the clients' Ed25519 verification "
                    "keys (secagg.Roster)"
                )
            if len(self.roster) != self.num_clients:
                raise ConfigError(
                    f"the roster has {len(self.roster)} keys for {self.num_clients} clients"
                )
        elif self.roster is not None:
            raise ConfigError("a roster is only used in the malicious mode (signatures)")

    @property
    def malicious(self) -> bool:
        return self.security is Security.MALICIOUS

    @property
    def holders(self) -> int:
        """How many clients hold shares of one client's secrets: ``n`` or ``k + 1``."""
        return self.num_clients if self.neighbors is None else self.neighbors + 1

    @property
    def width(self) -> int:
        """Bytes per ring element: 4 (uint32) for b <= 32, 8 (uint64) above."""
        return ring_dtype_width(self.bits)

    @property
    def modulus(self) -> int:
        """The ring size 2^b."""
        return 1 << self.bits

    @property
    def bitmap_size(self) -> int:
        """Bytes of a set of client ids as a bitmap: ceil(n / 8)."""
        return (self.num_clients + 7) // 8

    def encode(self) -> bytes:
        """Canonical bytes of the parameters (protocol/SPEC.md section 2): version, mode, n, t,
        m, b, k (0 for the complete graph), roster digest (zeros without a roster), nonce."""
        roster = self.roster.digest if self.roster is not None else bytes(32)
        return (
            _ENCODING.pack(
                PROTOCOL_VERSION,
                self.security.code,
                self.num_clients,
                self.threshold,
                self.dim,
                self.bits,
                self.neighbors or 0,
            )
            + roster
            + self.session_nonce
        )

    @classmethod
    def decode(
        cls,
        data: bytes,
        *,
        roster: Roster | None = None,
        corrupt: float = 0.0,
        allow_weak_threshold: bool = False,
    ) -> RoundConfig:
        """The configuration a server sent, from :meth:`encode`'s bytes; the receiving client
        supplies its own policy (``corrupt``, ``allow_weak_threshold``) and, in the malicious
        mode, the roster it trusts, which must match the digest in ``data``. Anything that does
        not parse, or that the policy refuses, raises :class:`~secagg.ConfigError`."""
        if not isinstance(data, bytes) or len(data) != ENCODED_SIZE:
            raise ConfigError(f"an encoded configuration is {ENCODED_SIZE} bytes")
        version, mode, n, t, m, b, k = _ENCODING.unpack_from(data)
        if version != PROTOCOL_VERSION:
            raise ConfigError(
                f"configuration of protocol version {version}, not {PROTOCOL_VERSION}"
            )
        if mode not in (0, 1):
            raise ConfigError(f"unknown security mode {mode}")
        digest = data[_ENCODING.size : _ENCODING.size + 32]
        security = Security.MALICIOUS if mode else Security.SEMI_HONEST
        if security is Security.MALICIOUS:
            if roster is None or roster.digest != digest:
                raise ConfigError("the configuration names a roster other than the one trusted")
        elif digest != bytes(32):
            raise ConfigError("a semi-honest configuration carries no roster")
        return cls(
            num_clients=n,
            threshold=t,
            dim=m,
            bits=b,
            session_nonce=data[_ENCODING.size + 32 :],
            neighbors=k or None,
            security=security,
            roster=roster if security is Security.MALICIOUS else None,
            corrupt=corrupt,
            allow_weak_threshold=allow_weak_threshold,
        )

    @property
    def session_id(self) -> bytes:
        """SHA-256 over ``"secagg/v2/session" || encode()``: binds every key and header to the
        parameters as well as the nonce, so parties that disagree on ``t``, ``b``, the graph,
        the mode or the roster cannot interoperate by accident."""
        return self._session_id
