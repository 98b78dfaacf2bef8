"""The server's pairwise mask keys for dropped clients (secagg.core.pairkeys): forked helpers
give the same keys, in the same order, as one process, and each key is SPEC 6.2's K_{z,v}."""

from __future__ import annotations

from secagg.core import pairkeys
from secagg.core.pairkeys import Dropped, pair_mask_keys
from secagg.crypto import kdf
from secagg.crypto.drbg import Drbg
from secagg.crypto.keys import KeyPair

SESSION = bytes(range(32))


def _dropped(clients: int, neighbours: int) -> list[Dropped]:
    rand = Drbg(b"test-pairkeys", b"keys")
    publics = [KeyPair.from_secret(rand(32)).public for _ in range(neighbours)]
    out = []
    for z in range(clients):
        pair = KeyPair.from_secret(rand(32))
        # Neighbour ids distinct from every dropped id, as in a round.
        ids = range(clients + z, clients + z + neighbours)
        out.append(Dropped(z, pair.private_key, tuple(zip(ids, publics, strict=True))))
    return out


def test_forked_helpers_give_the_keys_of_one_process_in_order() -> None:
    dropped = _dropped(5, 1000)
    pairs = sum(len(z.neighbours) for z in dropped)
    assert pairs >= pairkeys.PARALLEL_FROM  # large enough that workers > 1 forks
    alone = pair_mask_keys(SESSION, dropped, workers=1)
    forked = pair_mask_keys(SESSION, dropped, workers=3)
    assert len(alone) == pairs
    assert forked == alone


def test_each_key_is_the_hkdf_of_the_agreement() -> None:
    rand = Drbg(b"test-pairkeys", b"one")
    z, v = KeyPair.from_secret(rand(32)), KeyPair.from_secret(rand(32))
    keys = pair_mask_keys(SESSION, [Dropped(7, z.private_key, ((3, v.public),))], workers=1)
    # The survivor's side of the same pair derives the same key (symmetric in u, v).
    assert keys == [kdf.pair_mask_key(v.agree(z.public), session_id=SESSION, u=3, v=7)]
