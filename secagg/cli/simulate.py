"""``secagg simulate``: one round in process, with a correctness verdict and a cost report."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

import numpy as np
import numpy.typing as npt

from secagg.config import MAX_CLIENTS, MAX_DIM, RoundConfig, ring_dtype_width
from secagg.crypto.drbg import RandomSource
from secagg.crypto.prg import ring_dtype
from secagg.errors import ConfigError, ProtocolAbort
from secagg.runtime.simulate import ROUNDS, RoundResult, random_source, simulate_round


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError("must be in [0, 1)")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be a non-negative integer")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``simulate`` on the ``secagg`` command's subparsers."""
    sim = commands.add_parser(
        "simulate",
        help="run one secure-aggregation round in process and report correctness and costs",
        description="Run one round with random inputs and dropouts spread over the four rounds.",
    )
    sim.add_argument("--clients", type=_positive, default=100, help="n (default 100)")
    sim.add_argument("--dim", type=_positive, default=100_000, help="m (default 100000)")
    sim.add_argument(
        "--dropout",
        type=_fraction,
        default=0.1,
        help="fraction of clients that drop, spread evenly over the rounds (default 0.1)",
    )
    sim.add_argument("--threshold", type=_positive, help="t (default: clients // 2 + 1)")
    sim.add_argument("--bits", type=int, default=32, help="b, the ring Z_2^b (default 32)")
    sim.add_argument(
        "--seed",
        type=_non_negative,
        help="make the run reproducible (also fixes every key: for testing only)",
    )
    sim.add_argument("--json", action="store_true", help="print a machine-readable report")
    sim.add_argument("--quiet", action="store_true", help="no progress output on stderr")
    sim.set_defaults(run=simulate_command)


def make_scenario(
    clients: int, dim: int, dropout: float, bits: int, rng: RandomSource
) -> tuple[list[npt.NDArray[Any]], dict[str, list[int]]]:
    """Uniform random inputs in Z_2^b and ``round(dropout * n)`` dropouts, dealt round-robin to
    the four rounds in a random order of clients."""
    dtype = ring_dtype(bits)
    # One draw per client: the same bytes as one draw of all n * m, without a request (and a
    # zero buffer for the keystream) of the whole scenario's size.
    inputs = [
        np.frombuffer(rng(dim * dtype.itemsize), dtype=dtype) & ((1 << bits) - 1)
        for _ in range(clients)
    ]
    order = np.argsort(np.frombuffer(rng(8 * clients), dtype="<u8"), kind="stable")
    dropped = [int(u) for u in order[: round(dropout * clients)]]
    drop: dict[str, list[int]] = {name: [] for name in ROUNDS}
    for i, u in enumerate(dropped):
        drop[ROUNDS[i % len(ROUNDS)]].append(u)
    return inputs, {k: sorted(v) for k, v in drop.items()}


class ProgressBar:
    """A one-line progress bar on a terminal; one line per round otherwise."""

    def __init__(self, stream: TextIO, total_steps: int) -> None:
        self.stream = stream
        self.tty = stream.isatty()
        self.total = total_steps
        self.start = time.perf_counter()
        self.last_round = ""

    def __call__(self, name: str, done: int, total: int) -> None:
        index = ROUNDS.index(name)
        fraction = (index + done / max(total, 1)) / len(ROUNDS)
        if self.tty:
            filled = int(30 * fraction)
            bar = "#" * filled + "-" * (30 - filled)
            elapsed = time.perf_counter() - self.start
            self.stream.write(f"\r[{bar}] {fraction:4.0%} {name:<15} {elapsed:6.1f}s")
            self.stream.flush()
        elif name != self.last_round:
            self.stream.write(f"round {index + 1}/{len(ROUNDS)}: {name} ...\n")
            self.stream.flush()
        self.last_round = name

    def close(self) -> None:
        if self.tty and self.last_round:
            self.stream.write("\n")
            self.stream.flush()
        self.last_round = ""


def _plain_sum(inputs: Sequence[npt.NDArray[Any]], ids: Sequence[int], bits: int) -> Any:
    total = np.zeros(inputs[0].shape[0], dtype=np.uint64)
    for u in ids:
        np.add(total, inputs[u], out=total, casting="unsafe")
    return total & np.uint64((1 << bits) - 1)


def report_dict(
    args: argparse.Namespace, threshold: int, result: RoundResult, correct: bool, wall: float
) -> dict[str, Any]:
    rounds = []
    for cost in result.costs.rounds:
        per = cost.per_client()
        rounds.append(
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
        "clients": args.clients,
        "dim": args.dim,
        "bits": args.bits,
        "threshold": threshold,
        "dropout": args.dropout,
        "correct": correct,
        "survivors": len(result.survivors),
        "responders": len(result.responders),
        "dropped": [
            {"client": d.client, "round": d.phase.value, "reason": d.reason.name}
            for d in result.drops
        ],
        "rounds": rounds,
        "server_cpu_seconds": result.costs.server_cpu_seconds,
        "client_cpu_seconds_total": result.costs.client_cpu_seconds,
        "total_bytes": result.costs.total_bytes,
        "wall_seconds": wall,
    }


def _size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def print_report(report: dict[str, Any], out: TextIO) -> None:
    verdict = "CORRECT" if report["correct"] else "WRONG"
    out.write(
        f"secagg simulate: {report['clients']} clients, {report['dim']:,} values in "
        f"Z_2^{report['bits']}, threshold t={report['threshold']}, "
        f"dropout {report['dropout']:.0%}\n\n"
    )
    out.write(
        f"  result: {verdict} - the aggregate {'equals' if report['correct'] else 'DIFFERS FROM'}"
        f" the plaintext sum of the {report['survivors']} surviving clients\n"
    )
    by_round: dict[str, int] = {}
    for d in report["dropped"]:
        by_round[d["round"]] = by_round.get(d["round"], 0) + 1
    dropped = ", ".join(f"{k} {v}" for k, v in by_round.items()) or "none"
    out.write(
        f"  dropped: {len(report['dropped'])} ({dropped}); "
        f"{report['responders']} clients answered the unmasking round\n\n"
    )
    head = (
        f"  {'round':<15} {'client cpu':>11} {'client up':>10} {'client down':>12}"
        f" {'server cpu':>11} {'server in':>10} {'server out':>11}\n"
    )
    out.write(head)
    out.write("  " + "-" * (len(head) - 3) + "\n")
    for r in report["rounds"]:
        out.write(
            f"  {r['round']:<15} {r['client_cpu_seconds_mean'] * 1e3:>8.2f} ms"
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


def validate_options(args: argparse.Namespace) -> int:
    """The threshold, after checking every option the way :class:`RoundConfig` does: before
    anything is allocated, so ``--dim`` or ``--clients`` above the limit fails at once."""
    threshold: int = args.threshold if args.threshold is not None else args.clients // 2 + 1
    if not 1 <= args.bits <= 64:
        raise ConfigError(f"--bits must be in [1, 64], got {args.bits}")
    if threshold > args.clients:
        raise ConfigError(f"--threshold {threshold} exceeds --clients {args.clients}")
    if args.clients > MAX_CLIENTS:
        raise ConfigError(f"--clients must be at most {MAX_CLIENTS}, got {args.clients}")
    if args.dim > MAX_DIM:
        raise ConfigError(f"--dim must be at most {MAX_DIM}, got {args.dim}")
    # Anything left that the round would refuse (the same checks, one source of truth).
    RoundConfig(args.clients, threshold, args.dim, args.bits, session_nonce=bytes(32))
    return threshold


def simulate_command(args: argparse.Namespace) -> int:
    threshold = validate_options(args)
    bar = None if args.quiet else ProgressBar(sys.stderr, len(ROUNDS))
    try:
        return run_simulation(args, threshold, bar)
    except MemoryError:
        if bar is not None:
            bar.close()
        need = args.clients * args.dim * ring_dtype_width(args.bits)
        sys.stderr.write(
            f"secagg: out of memory: {args.clients} clients x {args.dim:,} values need "
            f"{_size(need)} for the inputs alone (the round needs several times that); "
            f"use a smaller --dim or fewer --clients\n"
        )
        return 2


def run_simulation(args: argparse.Namespace, threshold: int, bar: ProgressBar | None) -> int:
    rng = random_source(args.seed, b"cli-scenario")
    inputs, drop = make_scenario(args.clients, args.dim, args.dropout, args.bits, rng)
    start = time.perf_counter()
    try:
        result = simulate_round(
            inputs, threshold=threshold, bits=args.bits, drop=drop, seed=args.seed, progress=bar
        )
    except ProtocolAbort as exc:
        if bar is not None:
            bar.close()
        message = {"correct": None, "aborted": exc.reason.name, "detail": exc.detail}
        if args.json:
            sys.stdout.write(json.dumps(message, indent=2) + "\n")
        else:
            sys.stdout.write(f"secagg simulate: round aborted ({exc}); no aggregate released\n")
        return 3
    wall = time.perf_counter() - start
    if bar is not None:
        bar.close()
    correct = bool(
        np.array_equal(
            _plain_sum(inputs, result.survivors, args.bits), result.aggregate.astype(np.uint64)
        )
    )
    report = report_dict(args, threshold, result, correct, wall)
    if args.json:
        sys.stdout.write(json.dumps(report, indent=2) + "\n")
    else:
        print_report(report, sys.stdout)
    return 0 if correct else 1
