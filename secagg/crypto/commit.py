"""Hash commitments to Shamir shares and to the self-mask seed b_u.

In ShareKeys, client u sends the server, for every holder v (itself included) and each kind
(s_u^SK or b_u), ``C = SHA-256(label "secagg/v2/share-commit" | session_id | u32 u | u32 v |
u8 kind | share 36 bytes)``, and one commitment to its self-mask seed,
``C_b = SHA-256(label "secagg/v2/self-mask-commit" | session_id | u32 u | b_u)``.

* The server forwards each holder the two commitments to its shares; the holder checks its
  decrypted shares against them and reports a mismatch before anyone masks, so an owner that
  hands out shares other than those it committed to is excluded instead of stopping the round.
* At unmasking the server recomputes the commitment of every share a holder returns: a holder
  that lies is dropped (BAD_SHARE) and its shares are not used.
* After rebuilding b_u the server compares it with C_b: an owner whose committed shares do not
  lie on one polynomial rebuilds to another value, and the round aborts naming it
  (INCONSISTENT_SHARES) instead of releasing a wrong aggregate. For s_u^SK the advertised
  s_u^PK plays that role.

Hiding: the committed values are 256-bit secrets or shares of them, any ``t - 1`` of which are
uniformly random (section 8 of the spec), and every commitment is bound to the session, both
ids and the kind, so the commitments tell the server nothing it could use. Binding: a second
value with the same commitment is a SHA-256 second preimage.
"""

from __future__ import annotations

import hashlib
import struct
from typing import Any

from secagg.config import PROTOCOL_VERSION
from secagg.crypto.hashing import sha256

COMMITMENT_SIZE = 32
_SHARE_LABEL = b"secagg/v%d/share-commit" % PROTOCOL_VERSION
_SELF_MASK_LABEL = b"secagg/v%d/self-mask-commit" % PROTOCOL_VERSION


def share_commitment(session_id: bytes, owner: int, holder: int, kind: int, share: bytes) -> bytes:
    """The commitment to the ``kind`` share (0: s_u^SK, 1: b_u) of ``owner`` held by ``holder``;
    ``share`` is its 36-byte encoding."""
    return sha256(_SHARE_LABEL, session_id, struct.pack(">IIB", owner, holder, kind), share)


class ShareCommitments:
    """:func:`share_commitment` for one session, many times: the hash of the label and the
    session id is computed once and copied (a client commits to and checks 4 shares per
    neighbour, the server checks every share it is returned - 250,000 at n = 500). The same
    SHA-256 from the standard library's OpenSSL binding, whose copy-and-update costs a third of
    a `cryptography` hash object's on this hot path; the digests are identical."""

    __slots__ = ("_prefix", "_session_id")

    def __init__(self, session_id: bytes) -> None:
        self._session_id = session_id
        self._prefix = hashlib.sha256(
            len(_SHARE_LABEL).to_bytes(2, "big") + _SHARE_LABEL + session_id
        )

    def __deepcopy__(self, memo: dict[int, Any]) -> ShareCommitments:
        # The hash context cannot be pickled; a copy starts from the same session id.
        return ShareCommitments(self._session_id)

    def __call__(self, owner: int, holder: int, kind: int, share: bytes) -> bytes:
        h = self._prefix.copy()
        h.update(struct.pack(">IIB", owner, holder, kind) + share)
        return h.digest()


def self_mask_commitment(session_id: bytes, owner: int, seed: bytes) -> bytes:
    """C_b: the commitment to the self-mask seed b_u of ``owner``."""
    return sha256(_SELF_MASK_LABEL, session_id, struct.pack(">I", owner), seed)
