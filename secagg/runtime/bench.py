"""One benchmark point: a simulated round, its costs, and its floor.

A point is run in a fresh subprocess (``python -m secagg.runtime.bench '<json point>'``), so its
peak RSS and allocations are its own; the subprocess prints one JSON row. Every row reports,
beside seconds, the ratio to the floor of the same work measured in the same process
(:mod:`secagg.runtime.floor`): the keystream of every mask the step expands plus its X25519
agreements (and key generations).
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
import time
import tracemalloc
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from secagg.config import ring_dtype_width
from secagg.core.graph import graph_for
from secagg.core.server import ServerPhase
from secagg.crypto.drbg import Drbg
from secagg.crypto.prg import ring_dtype
from secagg.runtime.floor import Floor
from secagg.runtime.inputs import LazyInputs
from secagg.runtime.simulate import RoundResult, rounds, simulate_round


@dataclass(frozen=True, slots=True)
class Point:
    """What to run: ``dropout`` of the clients go silent from ``drop_round`` on (by default
    masked_input: they dropped after ShareKeys, the costly case for the server). ``threshold``
    None takes the policy's (the finder's for SecAgg+ without ``neighbors``); a threshold the
    policy refuses runs anyway (a benchmark may match a peer's setting), marked in the row."""

    clients: int
    dim: int
    dropout: float = 0.0
    graph: str = "complete"
    neighbors: int | None = None
    security: str = "semi_honest"
    workers: int = 1
    bits: int = 32
    drop_round: str = "masked_input"
    trace_memory: bool = False
    seed: int = 1
    threshold: int | None = None


def _input(seed: bytes, dim: int, bits: int, u: int) -> npt.NDArray[Any]:
    dtype = ring_dtype(bits)
    values = np.frombuffer(Drbg(seed, b"bench/%d" % u)(dim * dtype.itemsize), dtype=dtype).copy()
    if bits % 32:
        values &= dtype.type((1 << bits) - 1)
    return values


@dataclass(frozen=True, slots=True)
class Work:
    """What the round had to do at the least: keystream bytes and agreements, per side."""

    client_masking_bytes: int
    client_masking_agreements: int
    client_other_agreements: int
    server_bytes: int
    server_agreements: int


def work_of(result: RoundResult) -> Work:
    """Count the unavoidable work from the round's sets and graph (SPEC section 10)."""
    config = result.config
    assert config is not None
    graph = graph_for(config)
    n, width = config.num_clients, ring_dtype_width(config.bits)
    dropped: dict[ServerPhase, set[int]] = {}
    for d in result.drops:
        dropped.setdefault(d.phase, set()).add(d.client)
    advertised = set(range(n)) - dropped.get(ServerPhase.ADVERTISE_KEYS, set())
    u1 = advertised
    shared = u1 - dropped.get(ServerPhase.SHARE_KEYS, set())
    u2 = shared - dropped.get(ServerPhase.SHARE_CHECK, set())
    u3 = set(result.survivors)
    vector = config.dim * width
    masking_bytes = masking_agreements = other = 0
    for u in u3:
        peers = sum(1 for v in graph.neighbors(u) if v in u2)
        masking_bytes += (1 + peers) * vector
        masking_agreements += peers + 1  # + the distinct-keys check against its own key
    for u in shared:
        other += sum(1 for v in graph.holders(u) if v in u1)  # c-agreements + own-key check
    other += 2 * len(advertised)  # key generation: two base-point multiplications
    server_bytes = len(u3) * vector
    server_agreements = 2 * len(advertised)  # fingerprints of both advertised keys
    for z in u2 - u3:
        survivors = sum(1 for v in graph.neighbors(z) if v in u3)
        server_bytes += survivors * vector
        server_agreements += survivors + 1  # + the public-key check of the rebuilt s_z^SK
    return Work(masking_bytes, masking_agreements, other, server_bytes, server_agreements)


def bench_seed(point: Point) -> bytes:
    """The seed of a point's inputs and dropouts (public: a benchmark)."""
    return Drbg(b"secagg-bench", b"seed/%d" % point.seed)(32)


def dropped_clients(point: Point) -> list[int]:
    """Which clients drop at this point: the first ``round(dropout * n)`` of an order drawn
    from the point's seed (the peer runs drop the same clients)."""
    count = round(point.dropout * point.clients)
    draws = np.frombuffer(Drbg(bench_seed(point), b"order")(8 * point.clients), dtype="<u8")
    return sorted(int(u) for u in np.argsort(draws)[:count])


def run_point(point: Point) -> dict[str, Any]:
    """Run one point here and return its row (use :func:`run_isolated` for a clean process)."""
    floor = Floor.measure()
    seed = bench_seed(point)
    inputs = LazyInputs(point.clients, point.dim, lambda u: _input(seed, point.dim, point.bits, u))
    names = rounds(point.security)
    lost = dropped_clients(point)
    drop = {point.drop_round: lost} if lost else None
    neighbors: int | str | None = None
    if point.graph == "secagg+":
        neighbors = point.neighbors if point.neighbors is not None else "auto"
    if point.trace_memory:
        tracemalloc.start()
    start = time.perf_counter()
    result = simulate_round(
        inputs,
        threshold=point.threshold,
        allow_weak_threshold=point.threshold is not None,
        bits=point.bits,
        neighbors=neighbors,
        security=point.security,
        dropout=max(point.dropout, 0.05),
        workers=point.workers,
        drop=drop,
        seed=point.seed,
    )
    wall = time.perf_counter() - start
    traced = tracemalloc.get_traced_memory()[1] if point.trace_memory else None
    if point.trace_memory:
        tracemalloc.stop()
    config = result.config
    assert config is not None
    expected = np.zeros(point.dim, dtype=np.uint64)
    for u in result.survivors:
        np.add(expected, inputs.make(u), out=expected, casting="unsafe")
    if point.bits < 64:
        expected &= np.uint64((1 << point.bits) - 1)
    correct = bool(np.array_equal(expected, result.aggregate.astype(np.uint64)))
    work = work_of(result)
    costs = result.costs
    masking = costs["masked_input"]
    unmasking = costs["unmasking"]
    client_floor = floor.seconds(
        work.client_masking_bytes, work.client_masking_agreements + work.client_other_agreements
    )
    masking_floor = floor.seconds(work.client_masking_bytes, work.client_masking_agreements)
    server_floor = floor.seconds(work.server_bytes, work.server_agreements)
    total_cpu = costs.client_cpu_seconds + costs.server_cpu_seconds
    vector_bytes = point.dim * ring_dtype_width(point.bits)
    upload = sum(r.client_to_server_bytes for r in costs.rounds)
    download = sum(r.server_to_client_bytes for r in costs.rounds)
    self_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    child_rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
    return {
        **asdict(point),
        "rounds": len(names),
        "neighbors": config.neighbors,
        "threshold": config.threshold,
        "correct": correct,
        "survivors": len(result.survivors),
        "wall_seconds": wall,
        "client_cpu_seconds": costs.client_cpu_seconds,
        "client_cpu_seconds_mean": costs.client_cpu_seconds / point.clients,
        "client_masking_cpu_seconds_mean": masking.client_cpu_seconds
        / max(masking.client_messages, 1),
        "server_cpu_seconds": costs.server_cpu_seconds,
        "server_unmasking_cpu_seconds": unmasking.server_cpu_seconds,
        "floor_seconds": client_floor + server_floor,
        "floor_client_seconds": client_floor,
        "floor_server_seconds": server_floor,
        "ratio_total": total_cpu / (client_floor + server_floor),
        "ratio_client_masking": _ratio(masking.client_cpu_seconds, masking_floor),
        "ratio_server_unmasking": _ratio(unmasking.server_cpu_seconds, server_floor),
        "keystream_gb_per_s": floor.keystream_rate / 1e9,
        "x25519_us": floor.agreement_seconds * 1e6,
        "client_upload_bytes_mean": upload / point.clients,
        "client_download_bytes_mean": download / point.clients,
        # What a client that masked sent in the whole round, as a multiple of its vector.
        "upload_expansion": upload / max(masking.client_messages, 1) / vector_bytes,
        "peak_rss_bytes": self_rss,
        "children_peak_rss_bytes": child_rss,
        "server_traced_peak_bytes": traced,
        "vector_bytes": vector_bytes,
    }


def _ratio(spent: float, floor: float) -> float | None:
    return spent / floor if floor > 0 else None


def run_isolated(point: Point, timeout: float | None = None) -> dict[str, Any]:
    """:func:`run_point` in a fresh Python process; the row comes back as JSON."""
    done = subprocess.run(  # noqa: S603 - our own interpreter and module, a JSON argument
        [sys.executable, "-m", "secagg.runtime.bench", json.dumps(asdict(point))],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"benchmark point {point} failed:\n{done.stderr[-2000:]}")
    row: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return row


if __name__ == "__main__":
    sys.stdout.write(json.dumps(run_point(Point(**json.loads(sys.argv[1])))) + "\n")
