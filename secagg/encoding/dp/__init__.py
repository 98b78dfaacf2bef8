"""Distributed differential privacy in the ring: each client clips, rotates, scales, rounds and
adds an integer noise share before masking, so the securely aggregated sum carries enough noise
for a central guarantee while the server never sees a noise-free vector.

Modules, one job each: :mod:`.rotation` (randomized Hadamard), :mod:`.rounding` (conditional
randomized rounding and its norm bounds), :mod:`.noise` (Skellam and discrete Gaussian shares),
:mod:`.params` (choosing s, v and checking wrap-around), :mod:`.codec` (client encode and server
decode). The privacy accountant is :mod:`secagg.encoding.accounting` (needs ``dp-accounting``).
numpy only: nothing here imports torch.
"""

from secagg.encoding.dp.codec import EncodedShare, decode, encode
from secagg.encoding.dp.noise import discrete_gaussian, noise_generator, skellam
from secagg.encoding.dp.params import DistributedDpConfig, Mechanism

__all__ = [
    "DistributedDpConfig",
    "EncodedShare",
    "Mechanism",
    "decode",
    "discrete_gaussian",
    "encode",
    "noise_generator",
    "skellam",
]
