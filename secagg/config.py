"""Round parameters, validated once at construction.

Symbols follow Bonawitz et al. (CCS 2017): ``n`` clients with ids ``0..n-1``, reconstruction
threshold ``t``, vectors of ``m`` elements of the ring Z_{2^b}.
"""

from __future__ import annotations

import operator
import struct
from dataclasses import dataclass, field
from typing import SupportsIndex

from secagg.crypto.hashing import sha256
from secagg.errors import ConfigError

PROTOCOL_VERSION = 1
"""Wire and key-derivation version; bumps whenever a byte of the protocol changes."""

MAX_CLIENTS = 1 << 20
"""Upper bound on ``n``: ids travel as uint32 and the server id is 0xFFFFFFFF."""

MAX_DIM = 1 << 31
"""Upper bound on ``m``: the PRG's 128-bit counter is far from this, the wire length is not."""

SESSION_NONCE_SIZE = 32


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


@dataclass(frozen=True, slots=True)
class RoundConfig:
    """Everything the server and every client must agree on before a round starts.

    Attributes:
        num_clients: ``n``, the number of clients invited; ids are ``0..n-1``.
        threshold: ``t``, the Shamir reconstruction threshold; every round needs ``t`` live clients.
        dim: ``m``, the length of each client's input vector.
        bits: ``b``, inputs live in Z_{2^b}; ``1 <= b <= 64``.
        session_nonce: 32 fresh random bytes chosen by the server for this round. Keys, masks and
            message headers are bound to it (through :attr:`session_id`), so nothing from another
            round can be replayed into this one.
    """

    num_clients: int
    threshold: int
    dim: int
    bits: int
    session_nonce: bytes = field(repr=False)
    _session_id: bytes = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        for name in ("num_clients", "threshold", "dim", "bits"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise ConfigError(f"{name} must be an int, got {type(value).__name__}")
        if not 1 <= self.num_clients <= MAX_CLIENTS:
            raise ConfigError(f"num_clients must be in [1, {MAX_CLIENTS}], got {self.num_clients}")
        if not 1 <= self.threshold <= self.num_clients:
            raise ConfigError(
                f"threshold must be in [1, num_clients={self.num_clients}], got {self.threshold}"
            )
        if not 1 <= self.dim <= MAX_DIM:
            raise ConfigError(f"dim must be in [1, {MAX_DIM}], got {self.dim}")
        if not 1 <= self.bits <= 64:
            raise ConfigError(f"bits must be in [1, 64], got {self.bits}")
        if not isinstance(self.session_nonce, bytes) or len(self.session_nonce) != 32:
            raise ConfigError("session_nonce must be 32 bytes")
        object.__setattr__(
            self, "_session_id", sha256(b"secagg/v%d/session" % PROTOCOL_VERSION, self.encode())
        )

    @property
    def width(self) -> int:
        """Bytes per ring element: 4 (uint32) for b <= 32, 8 (uint64) above."""
        return ring_dtype_width(self.bits)

    @property
    def modulus(self) -> int:
        """The ring size 2^b."""
        return 1 << self.bits

    def encode(self) -> bytes:
        """Canonical bytes of the parameters: version, n, t, m, b, nonce (see protocol/SPEC.md)."""
        return (
            struct.pack(
                ">BIIIB", PROTOCOL_VERSION, self.num_clients, self.threshold, self.dim, self.bits
            )
            + self.session_nonce
        )

    @property
    def session_id(self) -> bytes:
        """SHA-256 over ``"secagg/v1/session" || encode()``: binds every key and header to the
        parameters as well as the nonce, so parties that disagree on ``t`` or ``b`` cannot
        interoperate by accident."""
        return self._session_id
