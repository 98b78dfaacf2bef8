"""Scale sweep: time and bytes of one round as n and m grow, against the keystream floor.

    .venv/bin/python -m sim.scale_sweep --clients 25 50 100 --dim 10000 100000

The floor is what the raw AES-256-CTR keystream of this machine's `cryptography` needs for every
mask the round expands (each client: 1 self + |U2|-1 pairwise; the server: |U3| self masks and
|U3| pairwise per dropped client), measured in the same run.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

from secagg import simulate_round


def keystream_rate(nbytes: int = 1 << 24) -> float:
    """Bytes per second of raw AES-256-CTR keystream, best of five."""
    zeros, out = bytes(nbytes), bytearray(nbytes + 15)
    best = float("inf")
    for _ in range(5):
        encryptor = Cipher(algorithms.AES(bytes(32)), modes.CTR(bytes(16))).encryptor()
        start = time.perf_counter()
        encryptor.update_into(zeros, out)
        best = min(best, time.perf_counter() - start)
    return nbytes / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[25, 50, 100])
    parser.add_argument("--dim", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--dropout", type=float, default=0.1, help="dropped before masked input")
    args = parser.parse_args()
    rate = keystream_rate()
    print(f"raw AES-256-CTR keystream: {rate / 1e9:.2f} GB/s")
    print(
        f"{'n':>5} {'m':>9} {'wall s':>8} {'client ms':>10} {'server ms':>10} "
        f"{'client up':>10} {'x floor':>8}"
    )
    for n in args.clients:
        for m in args.dim:
            inputs = [np.full(m, u % 7, dtype=np.uint32) for u in range(n)]
            dropped = list(range(int(args.dropout * n)))
            start = time.perf_counter()
            result = simulate_round(
                inputs, threshold=n // 2 + 1, drop={"masked_input": dropped}, seed=n * m
            )
            wall = time.perf_counter() - start
            u2, u3 = n, n - len(dropped)
            masks = u3 * u2 + u3 + len(dropped) * u3  # clients' masks + server's masks
            floor = masks * 4 * m / rate
            masked = result.costs["masked_input"]
            client_ms = 1e3 * result.costs.client_cpu_seconds / n
            server_ms = 1e3 * result.costs.server_cpu_seconds
            up = masked.client_to_server_bytes / max(masked.client_messages, 1)
            print(
                f"{n:>5} {m:>9} {wall:>8.2f} {client_ms:>10.1f} {server_ms:>10.1f} "
                f"{up / 1e3:>8.1f}KB {wall / floor:>8.2f}"
            )


if __name__ == "__main__":
    main()
