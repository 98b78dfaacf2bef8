"""The SecAggError tree.

Two tiers of failure, as in the protocol itself:

* a bad *client* message is rejected with a :class:`DropReason`; the server drops that client and
  the round goes on while at least ``t`` clients remain (:class:`DecodeError`);
* only the *session* aborts, with an :class:`AbortReason` (:class:`ProtocolAbort`).

A client that receives something it must not act on refuses with :class:`ClientAbort`: it goes
silent for the rest of the round, which the server sees as a dropout.

No error message ever carries key material, seeds, shares or masked vectors: only ids, counts,
lengths and reason codes.
"""

from __future__ import annotations

import enum


class DropReason(enum.IntEnum):
    """Why the server (or a client) rejected one party's message."""

    DECODE_FAILED = 1
    """The bytes do not parse: bad magic, version, length, field value or integrity digest."""
    UNEXPECTED_MESSAGE = 2
    """A well-formed message of the wrong type for the current round (e.g. a replay)."""
    WRONG_SESSION = 3
    """The header names another session (or the same nonce with other parameters)."""
    MISADDRESSED = 4
    """The header's sender/recipient do not match the channel it arrived on."""
    BAD_CIPHERTEXT = 5
    """A share ciphertext that fails AES-GCM, whose plaintext does not decode, or whose shares
    do not match the commitments forwarded with it. The recipient reports the sender in its
    ShareCheck reply instead of holding the shares (see ``SHARES_REJECTED``)."""
    INVALID_CONTENT = 6
    """Parses, but the content breaks a protocol rule: a low-order or repeated public key, shares
    not addressed to exactly the client's peers, commitments not covering every holder, a share
    of an unexpected peer or of the wrong kind, a masked element outside Z_2^b."""
    TIMED_OUT = 7
    """No message from the client before the server closed the round (a dropout)."""
    BAD_SHARE = 8
    """An unmasking share that does not match the commitment its owner made in ShareKeys."""
    PROMPT_MISMATCH = 9
    """The reply echoes a prompt other than the one the server sent this client: the prompt was
    altered, replaced or replayed in transit, so the client acted on a view the server does not
    share (e.g. masked with a peer set other than U2), and its message cannot be used."""
    BAD_SIGNATURE = 10
    """Malicious mode: an advertisement or consistency signature that does not verify under the
    sender's key in the roster."""
    SHARES_REJECTED = 11
    """The client's holders reported its shares as undecryptable or not matching its
    commitments, leaving fewer than ``t`` holders with valid shares: it is excluded before
    anyone masks with it, so it cannot stop the round."""
    UNKNOWN_CLIENT = 12
    """A message from an id outside the round's roster ``0..n-1``; nothing of it is used."""


class AbortReason(enum.IntEnum):
    """Why a whole session (or one client's participation) stopped."""

    BELOW_THRESHOLD = 1
    """Fewer than ``t`` clients remain: the round cannot complete without losing privacy."""
    INCONSISTENT_VIEW = 2
    """A client was shown a view of the round it cannot accept (e.g. an unmasking request naming
    peers it never received shares from, or a key list without its own keys)."""
    INSUFFICIENT_SHARES = 3
    """Fewer than ``t`` valid shares of a secret the server needs."""
    INCONSISTENT_SHARES = 4
    """Shares that match their owner's commitments rebuild a secret other than the one it
    committed to (an s_u^SK that does not match s_u^PK, a b_u that does not match its
    commitment, or no 32-byte secret at all): the owner shared inconsistently. No aggregate is
    released, never a wrong one; :attr:`ProtocolAbort.culprit` names the owner."""
    INVALID_MESSAGE = 5
    """A client could not decode a message from the server."""
    KEY_AGREEMENT_FAILED = 6
    """X25519 agreement with an advertised public key failed (low-order point)."""
    AGGREGATE_OUT_OF_RANGE = 7
    """The unmasked sum has an element above ``count * quantization_range``, which the
    survivors' quantized updates cannot add up to: some input was outside [0, L] (e.g. a
    well-formed but forged masked input). Raised by the float layer
    (:func:`~secagg.dequantize_sum`, so :func:`~secagg.aggregate_updates`), never by the
    :class:`~secagg.Server`: the float sum would be wrong, so none is released."""
    BAD_SIGNATURE = 8
    """Malicious mode: a client found a signature in a key list or an unmasking request that
    does not verify under the signer's roster key."""
    CONSISTENCY_CHECK_FAILED = 9
    """Malicious mode: an unmasking request without ``t`` valid signatures on the survivor set
    from the holders of some secret the client would reveal a share of."""


class SecAggError(Exception):
    """Base class of every error this library raises on purpose."""


class ConfigError(SecAggError, ValueError):
    """Parameters that are invalid, inconsistent or unsafe (e.g. could overflow the ring)."""


class StateError(SecAggError, RuntimeError):
    """The API was called in the wrong state (e.g. ``advance`` after the round completed)."""


class DecodeError(SecAggError):
    """Untrusted bytes did not decode into a valid message."""

    def __init__(self, reason: DropReason, detail: str) -> None:
        super().__init__(f"{reason.name}: {detail}")
        self.reason = reason
        self.detail = detail


class ProtocolAbort(SecAggError):
    """The session cannot complete; no aggregate is released.

    ``culprit`` names the client whose secrets could not be rebuilt consistently
    (``INCONSISTENT_SHARES``), so the caller can leave it out of the next round.
    """

    def __init__(self, reason: AbortReason, detail: str, *, culprit: int | None = None) -> None:
        super().__init__(f"{reason.name}: {detail}")
        self.reason = reason
        self.detail = detail
        self.culprit = culprit


class ClientAbort(SecAggError):
    """A client refuses to continue the round (it goes silent; the server sees a dropout)."""

    def __init__(self, reason: AbortReason, detail: str) -> None:
        super().__init__(f"{reason.name}: {detail}")
        self.reason = reason
        self.detail = detail
