"""Random rotation by the randomized Walsh-Hadamard transform: x -> H D x / sqrt(d).

Kairouz, Liu, Steinke (ICML 2021, Section 4.2) rotate each client vector before rounding so that
its L2 mass spreads evenly over the coordinates: after rotation every coordinate of a vector of
norm ||x|| is sub-Gaussian with variance proxy ||x||^2 / d, so the modular clipping range can be
sized from the norm alone instead of the worst single coordinate.

D is a diagonal of random signs drawn from the AES-CTR PRG under a *public* per-round seed: all
clients and the server must apply the same rotation, so the seed is not a secret (it hides no
client data; it only has to be unpredictable to whoever chooses the inputs). H is the d x d
Walsh-Hadamard matrix, d a power of two (vectors are zero-padded). H D / sqrt(d) is orthogonal,
so the rotation keeps L2 norms and its inverse is D H / sqrt(d).
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from secagg.crypto import prg

LABEL_ROTATION = b"dp-rotation"
"""The PRG label of the sign diagonal D."""

FloatArray = npt.NDArray[np.float64]


def padded_dim(dim: int) -> int:
    """The smallest power of two >= ``dim`` (the Hadamard transform's length)."""
    if dim < 1:
        raise ValueError("dim must be positive")
    return 1 << (dim - 1).bit_length()


def rotation_signs(seed: bytes, length: int) -> FloatArray:
    """The diagonal D: ``length`` signs +-1 from PRG(seed) (one keystream bit each)."""
    bits = prg.expand_seed(seed, length, 8, label=LABEL_ROTATION) & 1
    return 1.0 - 2.0 * bits.astype(np.float64)


def hadamard(x: FloatArray) -> FloatArray:
    """H x / sqrt(len(x)) for a power-of-two length, in O(d log d) with no Python loop over d.

    The normalized transform is symmetric and orthogonal, hence its own inverse.
    """
    n = x.shape[0]
    if n & (n - 1):
        raise ValueError("hadamard needs a power-of-two length")
    y = np.array(x, dtype=np.float64, copy=True)
    h = 1
    while h < n:
        # Blocks of 2h: the butterfly pairs element i with i + h inside each block.
        blocks = y.reshape(-1, 2, h)
        top = blocks[:, 0, :] + blocks[:, 1, :]
        bottom = blocks[:, 0, :] - blocks[:, 1, :]
        y = np.stack((top, bottom), axis=1).reshape(n)
        h *= 2
    out: FloatArray = y / np.sqrt(n)
    return out


def rotate(x: FloatArray, seed: bytes) -> FloatArray:
    """H D pad(x) / sqrt(d): zero-pad to a power of two, flip signs, transform."""
    d = padded_dim(x.shape[0])
    padded = np.zeros(d, dtype=np.float64)
    padded[: x.shape[0]] = x
    return hadamard(padded * rotation_signs(seed, d))


def unrotate(y: FloatArray, seed: bytes, dim: int) -> FloatArray:
    """The inverse of :func:`rotate`: D H y / sqrt(d), cropped to the first ``dim`` values."""
    full = hadamard(y) * rotation_signs(seed, y.shape[0])
    out: FloatArray = full[:dim]
    return out
