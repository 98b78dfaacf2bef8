"""Model arrays <-> one ring vector, weighted as FedAvg weights them.

A client with ``num_examples`` examples uploads ``[w * params, w]`` where the weight
``w = q / L`` is its ratio ``min(num_examples / max_weight, 1)`` rounded to a multiple of
``1 / L`` (``L`` = quantization_range), as Flower's SecAgg+ does. The params part is clipped to
[-c, c] and stochastically rounded onto [0, L] (:mod:`secagg.encoding.quantize`); the weight
travels exactly as the integer ``q``. The server unmasks ``sum w_u * params_u`` and
``sum q_u``, so FedAvg's weighted mean is ``sum(w_u * params_u) / sum(w_u)`` up to
quantization.

Unlike Flower's SecAgg+, a weight above ``max_weight`` is capped (counted as ``max_weight``)
rather than allowed to overflow the ring: choose ``max_weight`` >= the largest
``num_examples``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from secagg.integrations.flower import adapter

ALLOWED_DTYPES = ("float16", "float32", "float64")


@dataclass(frozen=True, slots=True)
class Layout:
    """Shapes and dtypes of the model's arrays, in order; the ring vector has ``size + 1``
    elements (the last is the weight)."""

    shapes: tuple[tuple[int, ...], ...]
    dtypes: tuple[str, ...]

    @classmethod
    def of(cls, arrays: Sequence[npt.NDArray[np.generic]]) -> Layout:
        dtypes = []
        for a in arrays:
            if a.dtype.name not in ALLOWED_DTYPES:
                raise adapter.ConfigError(
                    f"secure aggregation takes float arrays, got {a.dtype.name}"
                )
            dtypes.append(a.dtype.name)
        return cls(tuple(tuple(int(d) for d in a.shape) for a in arrays), tuple(dtypes))

    @property
    def size(self) -> int:
        return sum(math.prod(s) for s in self.shapes)

    @property
    def dim(self) -> int:
        """m: the model's values plus the weight."""
        return self.size + 1

    def to_record(self) -> dict[str, list[int] | list[str]]:
        return {
            "layout.ndims": [len(s) for s in self.shapes],
            "layout.dims": [d for s in self.shapes for d in s],
            "layout.dtypes": list(self.dtypes),
        }

    @classmethod
    def from_record(cls, record: Mapping[str, object]) -> Layout:
        """Parse untrusted values; raises ConfigError when malformed."""
        ndims, dims, dtypes = (
            record.get("layout.ndims"),
            record.get("layout.dims"),
            record.get("layout.dtypes"),
        )
        if not (
            isinstance(ndims, list)
            and isinstance(dims, list)
            and isinstance(dtypes, list)
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in ndims)
            and all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in dims)
            and all(isinstance(v, str) and v in ALLOWED_DTYPES for v in dtypes)
            and len(ndims) == len(dtypes)
            and sum(ndims) == len(dims)
        ):
            raise adapter.ConfigError("malformed model layout")
        shapes, i = [], 0
        for k in ndims:
            shapes.append(tuple(dims[i : i + k]))
            i += k
        return cls(tuple(shapes), tuple(dtypes))

    def check(self, arrays: Sequence[npt.NDArray[np.generic]]) -> None:
        """Raise ConfigError unless ``arrays`` have exactly these shapes."""
        shapes = tuple(tuple(int(d) for d in a.shape) for a in arrays)
        if shapes != self.shapes:
            raise adapter.ConfigError("the trained arrays do not match the global model's shapes")


def weight_units(num_examples: float, max_weight: float, quantization_range: int) -> int:
    """q = round(min(num_examples / max_weight, 1) * L), the weight in units of 1 / L."""
    if not math.isfinite(num_examples) or num_examples < 0:
        raise adapter.ConfigError("num_examples must be a finite non-negative number")
    ratio = min(num_examples / max_weight, 1.0)
    return round(ratio * quantization_range)


def encode_update(
    arrays: Sequence[npt.NDArray[np.generic]],
    num_examples: float,
    *,
    layout: Layout,
    max_weight: float,
    qc: adapter.QuantizationConfig,
    rounding_seed: bytes,
) -> tuple[npt.NDArray[np.unsignedinteger], int]:
    """The ring vector ``[quantize(w * params), q]`` of one client, and how many values were
    clipped. Raises ConfigError for arrays that do not fit the layout or hold NaN."""
    layout.check(arrays)
    q = weight_units(num_examples, max_weight, qc.quantization_range)
    flat = (
        np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])
        if arrays
        else np.zeros(0)
    )
    flat *= q / qc.quantization_range
    ring, clipped = adapter.quantize_vector(flat, qc, rounding_seed)
    vector = np.empty(layout.dim, dtype=ring.dtype)
    vector[:-1] = ring
    vector[-1] = q
    return vector, clipped


def decode_mean(
    total: npt.NDArray[np.unsignedinteger],
    count: int,
    *,
    layout: Layout,
    qc: adapter.QuantizationConfig,
) -> tuple[list[npt.NDArray[np.floating]], float]:
    """FedAvg's weighted mean from the ring sum of ``count`` clients, and the total weight
    (in units of max_weight). Raises :class:`adapter.SessionAborted` when the sum is out of
    range or the total weight is zero."""
    params_sum = adapter.dequantize_vector(total[:-1], count, qc)
    weight_q = int(total[-1])
    if weight_q > count * qc.quantization_range:
        raise adapter.SessionAborted(
            "AGGREGATE_OUT_OF_RANGE", "the summed weight exceeds what the survivors can send"
        )
    if weight_q == 0:
        raise adapter.SessionAborted("ZERO_WEIGHT", "the survivors' weights sum to zero")
    weight = weight_q / qc.quantization_range
    mean = params_sum / weight
    out: list[npt.NDArray[np.floating]] = []
    offset = 0
    for shape, dtype in zip(layout.shapes, layout.dtypes, strict=True):
        size = math.prod(shape)
        out.append(mean[offset : offset + size].reshape(shape).astype(dtype))
        offset += size
    return out, weight
