"""The server's pairwise mask keys for the clients that dropped after sharing, on every core.

At unmasking the server rebuilds s_z^SK of each client z of U2 \\ U3 and needs K_{z,v} (SPEC
6.2) for every surviving neighbour v: one X25519 agreement and one HKDF per pair, tens of
thousands at n = 500 with 30% dropout. X25519 holds the GIL, so threads do not help: with
``workers > 1`` the pairs are split over forked processes, each returning its keys as raw
bytes over a pipe (no pickling), and the result is the same as in one process, in the same
order. Small batches stay in this process (a fork costs more than it saves).
"""

from __future__ import annotations

import bisect
import itertools
import multiprocessing
from collections.abc import Sequence
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from secagg.crypto import kdf

KEY_SIZE = 32
PARALLEL_FROM = 4096
"""Fewer agreements than this are computed here: forking costs a few milliseconds."""


@dataclass(frozen=True, slots=True)
class Dropped:
    """One client z of U2 \\ U3: its rebuilt s_z^SK, loaded (the server loaded it to check it
    against s_z^PK; loading again would cost another agreement), and its surviving neighbours'
    s_v^PK."""

    client: int
    private: X25519PrivateKey
    neighbours: tuple[tuple[int, bytes], ...]


def _derive(session_id: bytes, batch: Sequence[Dropped]) -> bytes:
    """Every K_{z,v} of ``batch``, in order, back to back. The public keys were checked when
    they were advertised (canonical, not of low order), so an agreement cannot fail."""
    loaded: dict[bytes, X25519PublicKey] = {}
    out = []
    for z in batch:
        for v, public in z.neighbours:
            peer = loaded.get(public)
            if peer is None:
                peer = loaded[public] = X25519PublicKey.from_public_bytes(public)
            shared = z.private.exchange(peer)
            out.append(kdf.pair_mask_key(shared, session_id=session_id, u=z.client, v=v))
    return b"".join(out)


def pair_mask_keys(session_id: bytes, dropped: Sequence[Dropped], workers: int) -> list[bytes]:
    """K_{z,v} for every (z, v) of ``dropped`` in order (z by z, v in the given order)."""
    pairs = sum(len(z.neighbours) for z in dropped)
    if workers <= 1 or pairs < PARALLEL_FROM or len(dropped) < 2:
        blob = _derive(session_id, dropped)
    else:
        blob = _forked(session_id, dropped, min(workers, len(dropped)), pairs)
    return [blob[i : i + KEY_SIZE] for i in range(0, len(blob), KEY_SIZE)]


def _forked(session_id: bytes, dropped: Sequence[Dropped], workers: int, pairs: int) -> bytes:
    # Contiguous batches of about equal work (pairs); this process takes the first itself.
    cumulative = list(itertools.accumulate(len(z.neighbours) for z in dropped))
    bounds = [0]
    for part in range(1, workers):
        cut = bisect.bisect_left(cumulative, pairs * part / workers) + 1
        bounds.append(max(bounds[-1], min(cut, len(dropped))))
    bounds.append(len(dropped))
    context = multiprocessing.get_context("fork")
    children = []
    for lo, hi in itertools.pairwise(bounds[1:]):
        receiver, sender = context.Pipe(duplex=False)
        process = context.Process(
            target=_child, args=(sender, session_id, dropped[lo:hi]), daemon=True
        )
        process.start()
        sender.close()
        children.append((process, receiver))
    parts = [_derive(session_id, dropped[bounds[0] : bounds[1]])]
    for process, receiver in children:
        parts.append(receiver.recv_bytes())
        receiver.close()
        process.join()
    return b"".join(parts)


def _child(
    sender: multiprocessing.connection.Connection, session_id: bytes, batch: Sequence[Dropped]
) -> None:
    sender.send_bytes(_derive(session_id, batch))
    sender.close()
