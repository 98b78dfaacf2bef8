"""``secagg simulate``: one round in process, with a correctness verdict and a cost report."""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from secagg import params
from secagg.cli.output import emit
from secagg.cli.progress import Progress, make_progress
from secagg.config import MAX_CLIENTS, MAX_DIM, RoundConfig, Security, ring_dtype_width
from secagg.crypto.drbg import Drbg
from secagg.crypto.prg import ring_dtype
from secagg.errors import ConfigError, ProtocolAbort
from secagg.runtime import preflight
from secagg.runtime.inputs import LazyInputs
from secagg.runtime.pool import available_cores
from secagg.runtime.preflight import format_bytes as _size
from secagg.runtime.simulate import RoundResult, checked_seed, resolve_graph, rounds, simulate_round

SLOW_SECONDS = 20.0
"""Runs estimated to take longer than this get a note saying why (and what to use instead)."""


def whole_number(minimum: int, what: str) -> Callable[[str], int]:
    """An argparse type: an integer >= minimum, with an error message in plain words."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {value}")
        return value

    parse.__name__ = what  # argparse names the type in some messages
    return parse


def fraction(upper: float, what: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}") from None
        if not 0.0 <= value < upper:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text}")
        return value

    parse.__name__ = what
    return parse


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``simulate`` on the ``secagg`` command's subparsers."""
    sim = commands.add_parser(
        "simulate",
        help="run one secure-aggregation round in process and report correctness and costs",
        description=(
            "Run one round with random inputs and dropouts spread over the rounds, check the "
            "aggregate against the plaintext sum, and report what each round cost."
        ),
    )
    sim.add_argument(
        "--clients", type=whole_number(1, "a whole number >= 1"), default=100, help="n (100)"
    )
    sim.add_argument(
        "--dim", type=whole_number(1, "a whole number >= 1"), default=100_000, help="m (100000)"
    )
    sim.add_argument(
        "--dropout",
        type=fraction(1.0, "a fraction in [0, 1)"),
        default=0.1,
        help="fraction of clients that drop, spread evenly over the rounds (0.1)",
    )
    sim.add_argument(
        "--threshold",
        type=whole_number(1, "a whole number >= 1"),
        help="t (default: the smallest the policy accepts, e.g. clients // 2 + 1)",
    )
    sim.add_argument(
        "--bits", type=whole_number(1, "a whole number in [1, 64]"), default=32, help="b (32)"
    )
    sim.add_argument(
        "--graph",
        choices=("complete", "secagg+"),
        default="complete",
        help="complete (SecAgg, cost ~ n^2) or secagg+ (sparse k-regular, cost ~ n log n)",
    )
    sim.add_argument(
        "--neighbors",
        type=whole_number(2, "an even number >= 2"),
        help="k for --graph secagg+ (default: the (k, t) finder's choice)",
    )
    sim.add_argument(
        "--security",
        choices=("semi_honest", "malicious"),
        default="semi_honest",
        help="semi_honest, or malicious (signed keys and a consistency round)",
    )
    sim.add_argument(
        "--corrupt",
        type=fraction(0.5, "a fraction in [0, 0.5)"),
        default=0.0,
        help="fraction of clients assumed to collude with the server (0); raises t",
    )
    sim.add_argument(
        "--workers",
        type=whole_number(1, "a whole number >= 1"),
        help=f"processes for the clients, threads for the server (all cores: {available_cores()})",
    )
    sim.add_argument(
        "--seed",
        type=whole_number(0, "a whole number >= 0"),
        help="make the run reproducible (it also fixes every key: for testing only)",
    )
    sim.add_argument("--json", action="store_true", help="print a machine-readable report")
    sim.add_argument("--quiet", action="store_true", help="no progress output on stderr")
    sim.set_defaults(run=simulate_command)


class Scenario:
    """Random inputs in Z_2^b made per client from one scenario seed, and the dropouts.

    Client u's input is ``Drbg(seed, "input/u")`` read as ring elements: any process can make
    it, nothing holds all ``n`` vectors, and the plaintext check makes them again.
    """

    def __init__(self, clients: int, dim: int, dropout: float, bits: int, seed: bytes) -> None:
        self.clients, self.dim, self.bits, self.seed = clients, dim, bits, seed
        order = np.argsort(
            np.frombuffer(Drbg(seed, b"dropouts")(8 * clients), dtype="<u8"), kind="stable"
        )
        self.dropped = [int(u) for u in order[: round(dropout * clients)]]

    def input(self, u: int) -> npt.NDArray[Any]:
        dtype = ring_dtype(self.bits)
        raw = Drbg(self.seed, b"input/%d" % u)(self.dim * dtype.itemsize)
        mask = (1 << self.bits) - 1 if self.bits % 32 else None
        values = np.frombuffer(raw, dtype=dtype).copy()
        if mask is not None:
            values &= dtype.type(mask)
        return values

    def inputs(self) -> LazyInputs:
        return LazyInputs(self.clients, self.dim, self.input)

    def drop(self, names: tuple[str, ...]) -> dict[str, list[int]]:
        """The dropped clients dealt round-robin to the rounds (a random order of clients)."""
        out: dict[str, list[int]] = {name: [] for name in names}
        for i, u in enumerate(self.dropped):
            out[names[i % len(names)]].append(u)
        return {k: sorted(v) for k, v in out.items()}

    def plain_sum(self, ids: list[int]) -> npt.NDArray[np.uint64]:
        total = np.zeros(self.dim, dtype=np.uint64)
        for u in ids:
            np.add(total, self.input(u), out=total, casting="unsafe")
        return total & np.uint64((1 << self.bits) - 1) if self.bits < 64 else total


def make_scenario(
    clients: int, dim: int, dropout: float, bits: int, seed: bytes | None = None
) -> Scenario:
    return Scenario(clients, dim, dropout, bits, seed if seed is not None else os.urandom(32))


def estimate_seconds(n: int, dim: int, bits: int, holders: int, workers: int) -> float:
    """A rough wall-time estimate from this machine class's costs: per client and holder, two
    X25519 agreements and a share (about 80 us), and one mask of ``dim`` elements (about
    5 GB/s of keystream)."""
    width = ring_dtype_width(bits)
    per_client = holders * (80e-6 + dim * width / 5e9)
    return n * per_client / max(1, min(workers, available_cores()))


def plan(args: argparse.Namespace) -> RoundConfig:
    """The round's configuration from the options, checked before anything is allocated;
    policy problems become warnings (the CLI runs what it is asked, saying what it costs)."""
    if not 1 <= args.bits <= 64:
        raise ConfigError(f"--bits must be in [1, 64], got {args.bits}")
    if args.clients > MAX_CLIENTS:
        raise ConfigError(f"--clients must be at most {MAX_CLIENTS}, got {args.clients}")
    if args.dim > MAX_DIM:
        raise ConfigError(f"--dim must be at most {MAX_DIM}, got {args.dim}")
    if args.neighbors is not None and args.graph != "secagg+":
        raise ConfigError("--neighbors needs --graph secagg+")
    security = Security(args.security)
    neighbors: int | str | None = None
    if args.graph == "secagg+":
        neighbors = args.neighbors if args.neighbors is not None else "auto"
    k, t = resolve_graph(
        args.clients,
        args.threshold,
        neighbors,
        security=security,
        corrupt=args.corrupt,
        dropout=max(args.dropout, 0.05),
    )
    # Anything left that the round would refuse (ranges, graph shape): one source of truth.
    # The roster only matters for the digest, so a stand-in is enough here.
    return RoundConfig(
        args.clients,
        t,
        args.dim,
        args.bits,
        session_nonce=bytes(32),
        neighbors=k,
        corrupt=args.corrupt,
        allow_weak_threshold=True,
    )


def warnings_for(args: argparse.Namespace, config: RoundConfig, workers: int) -> list[str]:
    notes = []
    problem = params.threshold_problem(
        config.num_clients,
        config.threshold,
        neighbors=config.neighbors,
        corrupt=args.corrupt,
        malicious=args.security == "malicious",
    )
    if problem is not None:
        notes.append(f"warning: {problem}; running it anyway because you asked for it")
    if args.seed is not None:
        notes.append(
            "warning: --seed fixes every key and mask of the round: use it to reproduce a "
            "test, never to protect data"
        )
    eta = estimate_seconds(config.num_clients, config.dim, config.bits, config.holders, workers)
    if eta > SLOW_SECONDS:
        why = (
            f"with the complete graph each of the {config.num_clients:,} clients shares and "
            f"masks with all the others, so the cost grows as n^2; --graph secagg+ grows as "
            f"n log n"
            if config.neighbors is None
            else f"each client masks {config.dim:,} values with {config.neighbors} neighbours"
        )
        notes.append(f"note: this run may take about {eta / 60:.1f} minutes: {why}")
    return notes


def report_dict(
    args: argparse.Namespace,
    config: RoundConfig,
    workers: int,
    result: RoundResult,
    correct: bool,
    wall: float,
) -> dict[str, Any]:
    rows = []
    for cost in result.costs.rounds:
        per = cost.per_client()
        rows.append(
            {
                "round": cost.name,
                "clients_sending": cost.client_messages,
                "client_upload_bytes": round(per["upload_bytes"]),
                "client_download_bytes": round(per["download_bytes"]),
                "client_cpu_seconds_mean": per["cpu_seconds"],
                "client_cpu_seconds_max": cost.client_cpu_seconds_max,
                "server_received_bytes": cost.client_to_server_bytes,
                "server_sent_bytes": cost.server_to_client_bytes,
                "server_cpu_seconds": cost.server_cpu_seconds,
            }
        )
    return {
        "clients": config.num_clients,
        "dim": config.dim,
        "bits": config.bits,
        "threshold": config.threshold,
        "graph": "complete" if config.neighbors is None else "secagg+",
        "neighbors": config.neighbors,
        "security": args.security,
        "workers": workers,
        "dropout": args.dropout,
        "correct": correct,
        "survivors": len(result.survivors),
        "responders": len(result.responders),
        "dropped": [
            {"client": d.client, "round": d.phase.value, "reason": d.reason.name}
            for d in result.drops
        ],
        "rounds": rows,
        "server_cpu_seconds": result.costs.server_cpu_seconds,
        "client_cpu_seconds_total": result.costs.client_cpu_seconds,
        "total_bytes": result.costs.total_bytes,
        "wall_seconds": wall,
    }


def format_report(report: dict[str, Any]) -> str:
    """The human-readable report."""
    out = io.StringIO()
    verdict = "CORRECT" if report["correct"] else "WRONG"
    graph = (
        "complete graph"
        if report["graph"] == "complete"
        else f"SecAgg+ graph, k={report['neighbors']}"
    )
    out.write(
        f"secagg simulate: {report['clients']:,} clients, {report['dim']:,} values in "
        f"Z_2^{report['bits']}, threshold t={report['threshold']}, {graph}, "
        f"{report['security'].replace('_', '-')}, dropout {report['dropout']:.0%}, "
        f"{report['workers']} worker(s)\n\n"
    )
    out.write(
        f"  result: {verdict} - the aggregate {'equals' if report['correct'] else 'DIFFERS FROM'}"
        f" the plaintext sum of the {report['survivors']:,} surviving clients\n"
    )
    by_round: dict[str, int] = {}
    for d in report["dropped"]:
        by_round[d["round"]] = by_round.get(d["round"], 0) + 1
    dropped = ", ".join(f"{k} {v}" for k, v in by_round.items()) or "none"
    out.write(
        f"  dropped: {len(report['dropped'])} ({dropped}); "
        f"{report['responders']:,} clients answered the unmasking round\n\n"
    )
    head = (
        f"  {'round':<18} {'client cpu':>11} {'client up':>10} {'client down':>12}"
        f" {'server cpu':>11} {'server in':>10} {'server out':>11}\n"
    )
    out.write(head)
    out.write("  " + "-" * (len(head) - 3) + "\n")
    for r in report["rounds"]:
        out.write(
            f"  {r['round']:<18} {r['client_cpu_seconds_mean'] * 1e3:>8.2f} ms"
            f" {_size(r['client_upload_bytes']):>10} {_size(r['client_download_bytes']):>12}"
            f" {r['server_cpu_seconds'] * 1e3:>8.1f} ms {_size(r['server_received_bytes']):>10}"
            f" {_size(r['server_sent_bytes']):>11}\n"
        )
    out.write(
        f"\n  client columns: mean per participating client; server columns: whole round.\n"
        f"  server CPU {report['server_cpu_seconds']:.2f} s, all clients' CPU "
        f"{report['client_cpu_seconds_total']:.2f} s, {_size(report['total_bytes'])} on the wire,"
        f" wall time {report['wall_seconds']:.2f} s\n"
    )
    return out.getvalue()


def simulate_command(args: argparse.Namespace) -> int:
    config = plan(args)
    workers = args.workers if args.workers is not None else available_cores()
    # The plaintext check keeps one uint64 vector: count it with the round's own needs.
    preflight.require_memory(
        config.num_clients,
        config.dim,
        config.bits,
        neighbors=config.neighbors,
        workers=workers,
        inputs=8 * config.dim,
    )
    for note in warnings_for(args, config, workers):
        emit(note + "\n", sys.stderr)
    seed = checked_seed(args.seed) if args.seed is not None else None
    scenario = make_scenario(
        config.num_clients,
        config.dim,
        args.dropout,
        config.bits,
        None if seed is None else Drbg(seed, b"cli-scenario")(32),
    )
    names = rounds(args.security)
    progress = None if args.quiet else make_progress(sys.stderr, names)
    start = time.perf_counter()
    try:
        result = simulate_round(
            scenario.inputs(),
            threshold=config.threshold,
            bits=config.bits,
            neighbors=config.neighbors,
            security=args.security,
            corrupt=args.corrupt,
            allow_weak_threshold=True,
            workers=workers,
            drop=scenario.drop(names),
            seed=args.seed,
            progress=progress,
        )
    except ProtocolAbort as exc:
        _close(progress)
        message = {"correct": None, "aborted": exc.reason.name, "detail": exc.detail}
        if args.json:
            emit(json.dumps(message, indent=2) + "\n")
        else:
            emit(f"secagg simulate: round aborted ({exc}); no aggregate released\n")
        return 3
    finally:
        _close(progress)
    wall = time.perf_counter() - start
    expected = scenario.plain_sum(result.survivors)
    correct = bool(np.array_equal(expected, result.aggregate.astype(np.uint64)))
    report = report_dict(args, result.config or config, workers, result, correct, wall)
    if args.json:
        emit(json.dumps(report, indent=2) + "\n")
    else:
        emit(format_report(report))
    return 0 if correct else 1


def _close(progress: Progress | None) -> None:
    if progress is not None:
        progress.close()
