"""A PyTorch model update <-> one float64 vector, and back, for every dtype a state_dict holds.

``flatten`` walks a ``state_dict`` (or a parameter list) in order and concatenates the tensors it
aggregates into one float64 vector; the :class:`Layout` it returns records each tensor's name,
shape, dtype and place, so ``unflatten`` can rebuild tensors of exactly the same dtypes.

* Floating tensors (float16, bfloat16, float32, float64) go in as float64, which holds each of
  them exactly, and come back in their own dtype: the round trip is bit-exact.
* Complex tensors go in as (real, imaginary) pairs of float64.
* Integer and bool tensors - buffers such as BatchNorm's ``num_batches_tracked``, never
  trainable - follow an explicit :class:`IntegerPolicy`. The default is ``KEEP_LOCAL``: they are
  not aggregated, and ``unflatten`` takes them from the receiving model (``reference``), so a
  server's counter stays its own and no client's count is revealed. ``AVERAGE`` sends them as
  float64 (refusing integers beyond 2^53, which float64 cannot hold) and rounds the average to
  the nearest integer (ties to even) within the dtype's range, bools at 1/2. ``SKIP`` leaves
  them out of the vector and out of ``unflatten``'s result (load it with ``strict=False``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import torch

from secagg.errors import ConfigError

FloatArray = npt.NDArray[np.float64]
Tensors = Mapping[str, torch.Tensor] | Sequence[torch.Tensor]

FLOAT53 = 1 << 53
"""Integers of larger magnitude do not all have a float64."""


class IntegerPolicy(enum.Enum):
    """What flatten/unflatten do with integer and bool tensors."""

    KEEP_LOCAL = "keep-local"
    """Not aggregated; unflatten copies them from ``reference`` (the receiving model)."""
    SKIP = "skip"
    """Not aggregated and absent from unflatten's result."""
    AVERAGE = "average"
    """Aggregated as float64; unflatten rounds to the nearest value of the dtype."""


@dataclass(frozen=True, slots=True)
class Entry:
    """One tensor's place in the vector (``offset`` None when it is not aggregated)."""

    name: str
    shape: tuple[int, ...]
    dtype: torch.dtype
    offset: int | None
    size: int
    """Elements in the vector (2 per complex element; 0 when not aggregated)."""


@dataclass(frozen=True, slots=True)
class Layout:
    """How a vector maps back onto tensors."""

    entries: tuple[Entry, ...]
    dim: int
    policy: IntegerPolicy
    sequence: bool
    """True when flattened from a parameter list (names are "0", "1", ...)."""


def _named(tensors: Tensors) -> tuple[list[tuple[str, torch.Tensor]], bool]:
    if isinstance(tensors, Mapping):
        items = list(tensors.items())
        sequence = False
    elif isinstance(tensors, Sequence) and not isinstance(tensors, (str, bytes)):
        items = [(str(i), t) for i, t in enumerate(tensors)]
        sequence = True
    else:
        raise ConfigError(
            f"expected a state_dict or a list of tensors, got {type(tensors).__name__}"
        )
    for name, t in items:
        if not isinstance(t, torch.Tensor):
            raise ConfigError(f"{name!r} is a {type(t).__name__}, not a tensor")
    return items, sequence


def _is_integer(dtype: torch.dtype) -> bool:
    return not (dtype.is_floating_point or dtype.is_complex)


def flatten(
    tensors: Tensors, policy: IntegerPolicy | str = IntegerPolicy.KEEP_LOCAL
) -> tuple[FloatArray, Layout]:
    """One float64 vector of the aggregated tensors, and the layout to undo it."""
    try:
        policy = IntegerPolicy(policy)
    except ValueError:
        raise ConfigError(
            f"integer policy must be one of {[p.value for p in IntegerPolicy]}, got {policy!r}"
        ) from None
    items, sequence = _named(tensors)
    parts: list[FloatArray] = []
    entries: list[Entry] = []
    offset = 0
    for name, tensor in items:
        t = tensor.detach().cpu()
        if _is_integer(t.dtype) and policy is not IntegerPolicy.AVERAGE:
            entries.append(Entry(name, tuple(t.shape), t.dtype, None, 0))
            continue
        if t.dtype.is_complex:
            values = torch.view_as_real(t.resolve_conj()).to(torch.float64).reshape(-1)
        elif t.dtype == torch.bool:
            values = t.to(torch.float64).reshape(-1)
        elif _is_integer(t.dtype):
            wide = t.to(torch.int64)
            if wide.numel() and int(wide.abs().max()) > FLOAT53:
                raise ConfigError(
                    f"{name!r} ({t.dtype}) holds integers beyond 2^53, which float64 cannot "
                    "average exactly; use the keep-local or skip policy for it"
                )
            values = wide.to(torch.float64).reshape(-1)
        else:
            values = t.to(torch.float64).reshape(-1)
        array = values.numpy()
        entries.append(Entry(name, tuple(t.shape), t.dtype, offset, array.shape[0]))
        parts.append(array)
        offset += array.shape[0]
    vector = np.concatenate(parts) if parts else np.zeros(0)
    return vector.astype(np.float64, copy=False), Layout(tuple(entries), offset, policy, sequence)


def _reference_tensor(reference: Tensors | None, entry: Entry) -> torch.Tensor:
    if reference is None:
        raise ConfigError(
            f"{entry.name!r} ({entry.dtype}) is kept local: pass reference= (the receiving "
            "model's state) to unflatten"
        )
    items, _ = _named(reference)
    found = dict(items).get(entry.name)
    if found is None or tuple(found.shape) != entry.shape or found.dtype != entry.dtype:
        raise ConfigError(
            f"reference has no tensor {entry.name!r} of shape {entry.shape} and dtype {entry.dtype}"
        )
    return found.detach().clone()


def _integer_from_float(values: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    if dtype == torch.bool:
        return values >= 0.5
    info = torch.iinfo(dtype)
    rounded = torch.round(values).clamp(min=max(info.min, -FLOAT53), max=min(info.max, FLOAT53))
    return rounded.to(dtype)


def unflatten(
    vector: npt.ArrayLike, layout: Layout, reference: Tensors | None = None
) -> dict[str, torch.Tensor]:
    """Tensors of the layout's names, shapes and dtypes from ``vector`` (on the CPU).

    Integer tensors kept local come from ``reference``; skipped ones are left out.
    """
    v = np.asarray(vector, dtype=np.float64)
    if v.shape != (layout.dim,):
        raise ConfigError(f"vector has shape {v.shape}; the layout needs ({layout.dim},)")
    source = torch.from_numpy(np.ascontiguousarray(v))
    out: dict[str, torch.Tensor] = {}
    for entry in layout.entries:
        if entry.offset is None:
            if layout.policy is IntegerPolicy.KEEP_LOCAL:
                out[entry.name] = _reference_tensor(reference, entry)
            continue
        values = source[entry.offset : entry.offset + entry.size]
        if entry.dtype.is_complex:
            real_dtype = torch.float32 if entry.dtype == torch.complex64 else torch.float64
            # A fresh copy: view_as_complex needs an even storage offset, a slice may not have it.
            pairs = values.to(real_dtype).clone().reshape(*entry.shape, 2)
            out[entry.name] = torch.view_as_complex(pairs)
        elif _is_integer(entry.dtype):
            out[entry.name] = _integer_from_float(values, entry.dtype).reshape(entry.shape).clone()
        else:
            out[entry.name] = values.to(entry.dtype).reshape(entry.shape).clone()
    return out


def unflatten_parameters(
    vector: npt.ArrayLike, layout: Layout, reference: Tensors | None = None
) -> list[torch.Tensor]:
    """:func:`unflatten` for a layout made from a parameter list, in the list's order."""
    if not layout.sequence:
        raise ConfigError("this layout was made from a state_dict; use unflatten")
    if layout.policy is IntegerPolicy.SKIP and any(e.offset is None for e in layout.entries):
        raise ConfigError("the skip policy leaves holes in a parameter list; use keep-local")
    tensors = unflatten(vector, layout, reference)
    return [tensors[e.name] for e in layout.entries]


def state_delta(
    new: Mapping[str, torch.Tensor], old: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """new - old per tensor (bools: new XOR old, subtraction mod 2), on the CPU."""
    if new.keys() != old.keys():
        raise ConfigError("the two states have different keys")
    out = {}
    for name, t in new.items():
        a, b = t.detach().cpu(), old[name].detach().cpu()
        out[name] = a ^ b if a.dtype == torch.bool else a - b
    return out


def apply_delta(
    state: Mapping[str, torch.Tensor], delta: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """state + delta for every tensor in ``delta`` (others unchanged), keeping dtypes."""
    out = {name: t.detach().clone() for name, t in state.items()}
    for name, d in delta.items():
        if name not in out:
            raise ConfigError(f"delta names {name!r}, which the state does not have")
        base = out[name]
        step = d.to(base.device)
        out[name] = base ^ step if base.dtype == torch.bool else (base + step).to(base.dtype)
    return out
