"""The inputs of a simulated round: given arrays, checked up front, or produced per client.

A simulation of ``n`` clients with ``m`` values each need not hold ``n * m`` values at once:
:class:`LazyInputs` makes client ``u``'s vector only when that client masks, and the client
drops it as soon as its masked vector is out. Concrete arrays (a list or a 2-D array) are
checked before any message is sent; a lazy vector is checked when it is made.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from secagg.crypto.prg import RingArray, ring_dtype
from secagg.errors import ConfigError


@dataclass(frozen=True, slots=True)
class LazyInputs:
    """``num_clients`` vectors of ``dim`` elements; ``make(u)`` returns client ``u``'s.

    ``make`` must be deterministic if the caller wants to recompute a vector (e.g. to check the
    aggregate against a plaintext sum) and must not share state across processes: with
    ``workers > 1`` it runs in the worker process that owns client ``u``.
    """

    num_clients: int
    dim: int
    make: Callable[[int], npt.ArrayLike]

    def __len__(self) -> int:
        return self.num_clients

    def __getitem__(self, u: int) -> npt.ArrayLike:
        return self.make(u)


Inputs = Sequence[npt.ArrayLike] | npt.NDArray[Any] | LazyInputs


def check_vector(x: npt.ArrayLike, index: int, dim: int | None, bits: int) -> RingArray:
    """One client's input as a ring array (copied only if the cast needs it), or ConfigError
    naming its index, shape and dtype (never its values: an input is private data)."""
    try:
        array = np.asarray(x)
    except (TypeError, ValueError) as exc:  # e.g. a ragged nested list
        raise ConfigError(f"input {index} is not a 1-D integer array") from exc
    if array.ndim != 1 or (dim is not None and array.shape != (dim,)):
        want = f"({dim},)" if dim is not None else "1-D"
        raise ConfigError(f"input {index} has shape {array.shape}; all must be {want}")
    if array.dtype.kind not in "ui":
        raise ConfigError(
            f"input {index} has dtype {array.dtype}; inputs must be unsigned integers"
        )
    if array.size and (int(array.min()) < 0 or int(array.max()) >= 1 << bits):
        raise ConfigError(f"input {index} has values outside [0, 2**{bits})")
    out: RingArray = array.astype(ring_dtype(bits), copy=False)
    return out


@dataclass(frozen=True, slots=True)
class PreparedInputs:
    """Inputs with their count and length known, and a checked accessor per client."""

    num_clients: int
    dim: int
    bits: int
    _get: Callable[[int], RingArray]

    def vector(self, u: int) -> RingArray:
        return self._get(u)


def prepare(inputs: object, bits: int) -> PreparedInputs:
    """Check ``inputs`` (all of them now, unless lazy) and return a per-client accessor."""
    if isinstance(inputs, LazyInputs):
        if inputs.num_clients < 1 or inputs.dim < 1:
            raise ConfigError("LazyInputs needs at least one client and one value")
        lazy = inputs
        return PreparedInputs(
            lazy.num_clients,
            lazy.dim,
            bits,
            lambda u: check_vector(lazy.make(u), u, lazy.dim, bits),
        )
    if isinstance(inputs, np.ndarray):
        if inputs.ndim != 2:
            raise ConfigError(
                f"inputs as one array must be 2-D (a row per client), got shape {inputs.shape}"
            )
        rows: Iterable[npt.ArrayLike] = list(inputs)
    elif isinstance(inputs, (str, bytes)) or not isinstance(inputs, Iterable):
        raise ConfigError(
            f"inputs must be a sequence of 1-D integer arrays, got {type(inputs).__name__}"
        )
    else:
        rows = inputs
    try:
        arrays = [np.asarray(x) for x in rows]
    except (TypeError, ValueError) as exc:
        raise ConfigError("inputs must be a sequence of 1-D integer arrays") from exc
    if not arrays:
        raise ConfigError("inputs must hold at least one client's vector")
    checked = [check_vector(arrays[0], 0, None, bits)]
    checked += [check_vector(x, i, checked[0].shape[0], bits) for i, x in enumerate(arrays) if i]
    if checked[0].shape[0] < 1:
        raise ConfigError("inputs must have at least one value each")
    return PreparedInputs(len(checked), checked[0].shape[0], bits, checked.__getitem__)
