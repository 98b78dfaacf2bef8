"""Memory preflight: estimate a simulated round's peak from its size and refuse what will not fit.

A simulation that cannot fit should say so at once, with the figure, instead of growing until
the machine swaps or the kernel kills it. The estimate follows where the bytes go:

* vectors: the server's running sum, the masked vector in flight to it and its slack, and per
  worker one client's input, its masked vector and the message that carries it;
* per-client metadata: every client's shares, ciphertexts and commitments, and the prompts of a
  round held at once: about 400 bytes per (client, holder) pair - ``n * h`` pairs, ``h = n``
  for the complete graph and ``k + 1`` for SecAgg+ - plus about 20 KB of state per client.

It is an upper estimate of what this library allocates, not of inputs the caller already holds.
"""

from __future__ import annotations

import os

from secagg.config import ring_dtype_width
from secagg.errors import ConfigError

PAIR_BYTES = 400
CLIENT_BYTES = 20_000
HEADROOM = 0.85
"""Refuse when the estimate exceeds this fraction of the memory available now."""


def available_memory() -> int | None:
    """Bytes the system can give us now (MemAvailable on Linux), or None when unknown."""
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def estimate_peak(
    n: int, dim: int, bits: int, *, neighbors: int | None, workers: int, inputs: int = 0
) -> int:
    """Bytes a round of ``n`` clients with ``dim`` values may need at its peak, plus
    ``inputs`` bytes of input vectors the caller asks us to make (e.g. the CLI's)."""
    vector = dim * ring_dtype_width(bits)
    holders = n if neighbors is None else min(n, neighbors + 1)
    return (3 + 3 * max(workers, 1)) * vector + n * holders * PAIR_BYTES + n * CLIENT_BYTES + inputs


def format_bytes(n: float) -> str:
    """A byte count for people: 950 B, 1.5 KB, 40.2 MB (powers of 1000)."""
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def require_memory(
    n: int,
    dim: int,
    bits: int,
    *,
    neighbors: int | None,
    workers: int,
    inputs: int = 0,
    available: int | None = None,
) -> None:
    """Raise :class:`~secagg.ConfigError` when the estimated peak does not fit in the memory
    available now, saying how much it needs, how much there is, and what would fit."""
    have = available_memory() if available is None else available
    if have is None:
        return
    need = estimate_peak(n, dim, bits, neighbors=neighbors, workers=workers, inputs=inputs)
    if need <= HEADROOM * have:
        return
    budget = HEADROOM * have
    fixed = estimate_peak(n, 0, bits, neighbors=neighbors, workers=workers)
    per_value = estimate_peak(n, 1, bits, neighbors=neighbors, workers=workers, inputs=0) - fixed
    per_value += inputs // max(dim, 1)
    hints = []
    if fixed < budget:
        hints.append(f"at most {int((budget - fixed) // per_value):,} values per client")
    else:
        hints.append(f"fewer clients (the per-client state alone needs {format_bytes(fixed)})")
    if neighbors is None and n > 200:
        hints.append("or a sparse SecAgg+ graph, whose state grows as n k rather than n^2")
    raise ConfigError(
        f"not enough memory: {n:,} clients x {dim:,} values need about {format_bytes(need)}, and "
        f"{format_bytes(have)} is available; with {n:,} clients use " + " ".join(hints)
    )
