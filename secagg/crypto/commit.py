"""Hash commitments to Shamir shares, so the server can check every share it is handed.

In ShareKeys, client u sends the server, for every holder v (itself included) and each kind
(s_u^SK or b_u), ``SHA-256(label "secagg/v1/share-commit" | session_id | u32 u | u32 v | u8 kind
| share 33 bytes)``. At Unmasking the server recomputes the commitment of each share a holder
returns; a share that does not match is rejected and its sender dropped, so a holder that
tampers with a share (or a corrupted share) cannot steer the reconstruction of u's secrets.

What commitments do not cover: an *owner* that commits to shares lying on no single polynomial.
For s_u^SK the server notices (the result must match s_u^PK: INCONSISTENT_SHARES); for b_u the
secret is unchecked, so such an owner shifts the aggregate by noise of its choosing - no more
than any client can do by choosing its input x_u, which secure aggregation never validates.

Hiding: any t - 1 shares are uniformly random field elements, independent of the secret (for
t = 1 each share is the 256-bit secret itself, which the hash does not reveal), and the hash is
bound to the session and both ids, so the commitments tell the server nothing it could use.
Binding: finding a second share with the same commitment is a SHA-256 second preimage.
"""

from __future__ import annotations

import struct

from secagg.config import PROTOCOL_VERSION
from secagg.crypto import shamir
from secagg.crypto.hashing import sha256

COMMITMENT_SIZE = 32
_LABEL = b"secagg/v%d/share-commit" % PROTOCOL_VERSION


def share_commitment(session_id: bytes, owner: int, holder: int, kind: int, share: int) -> bytes:
    """The commitment to the ``kind`` share (0: s_u^SK, 1: b_u) of ``owner`` held by ``holder``."""
    return sha256(
        _LABEL, session_id, struct.pack(">IIB", owner, holder, kind), shamir.encode_share(share)
    )
