"""What the node-side replay costs: rebuilding the secagg client from its stored state.

    .venv/bin/python examples/flower-digits/replay_cost.py [--nodes 5 20] [--dims 100000 1000000]

``secagg_mod`` keeps only bytes in Flower's ``Context`` (a live client cannot be copied or
pickled), so at step ``s`` it replays the ``s - 1`` prompts answered before - checking each
replayed reply against its stored digest - and then answers prompt ``s``. This script runs one
session in process (core server, clients through the integration's adapter) and reports, per
step, for one node: the time to answer the prompt with a live client ("live") and with the
replay ("replay + answer"), and the bytes the node keeps in its Context after that step. No
Flower runtime is involved: this isolates the replay from Flower's own per-message costs.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from secagg.integrations.flower import adapter

STEP_NAMES = ("advertise_keys", "share_keys", "share_check", "masked_input", "unmasking")


def measure(
    n: int, m: int, neighbors: int | None, threshold: int
) -> list[tuple[str, float, float, int]]:
    config = adapter.round_config(
        num_clients=n,
        threshold=threshold,
        dim=m,
        bits=32,
        neighbors=neighbors,
        security=adapter.Security.SEMI_HONEST,
        roster=None,
        corrupt=0.0,
        allow_weak_threshold=False,
    )
    rng = np.random.default_rng(0)
    inputs = [rng.integers(0, 1 << 20, m, dtype=np.uint32) for _ in range(n)]
    secrets = [adapter.ClientSession.new_secret(config) for _ in range(n)]
    clients = [adapter.ClientSession.create(config, u, inputs[u], secrets[u]) for u in range(n)]
    server = adapter.ServerSession(config)
    rows: list[tuple[str, float, float, int]] = []
    prompts0: list[bytes] = []
    digests: list[bytes] = []
    start = time.perf_counter()
    first = clients[0].start()
    live0 = time.perf_counter() - start
    digests.append(adapter.reply_digest(first))
    server.receive(0, first)
    for u in range(1, n):
        server.receive(u, clients[u].start())
    stored = len(config.encode()) + inputs[0].nbytes + len(secrets[0]) + 32
    rows.append((STEP_NAMES[0], live0, live0, stored))
    prompts = server.advance()
    step = 1
    while prompts:
        for u, data in prompts:
            if u == 0:
                start = time.perf_counter()
                reply = clients[0].handle(data)
                live = time.perf_counter() - start
                start = time.perf_counter()
                rebuilt = adapter.ClientSession.restore(
                    config, 0, lambda: inputs[0], secrets[0], prompts0, digests
                )
                again = rebuilt.handle(data)
                replay = time.perf_counter() - start
                assert again == reply  # the replay reproduces the reply byte for byte
                prompts0.append(data)
                digests.append(adapter.reply_digest(reply))
                stored += len(data) + 32
                rows.append((STEP_NAMES[step], live, replay, stored))
            else:
                reply = clients[u].handle(data)
            server.receive(u, reply)
        prompts = server.advance()
        step += 1
    assert server.completed
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, nargs="+", default=[5, 20])
    parser.add_argument("--dims", type=int, nargs="+", default=[100_000, 1_000_000])
    args = parser.parse_args()
    for n in args.nodes:
        for m in args.dims:
            for neighbors in (None, 4) if n >= 10 else (None,):
                holders = n if neighbors is None else neighbors + 1
                t = holders // 2 + 1
                rows = measure(n, m, neighbors, t)
                graph = "complete" if neighbors is None else f"k={neighbors}"
                print(f"n={n} m={m:,} {graph} t={t}")
                print(
                    f"  {'step':<15} {'live s':>8} {'replay+answer s':>16} {'x live':>7} "
                    f"{'Context bytes':>14}"
                )
                for name, live, replay, stored in rows:
                    print(
                        f"  {name:<15} {live:>8.4f} {replay:>16.4f} {replay / live:>7.1f} "
                        f"{stored:>14,}"
                    )
                total_live = sum(r[1] for r in rows)
                total_replay = sum(r[2] for r in rows)
                print(
                    f"  {'session':<15} {total_live:>8.4f} {total_replay:>16.4f} "
                    f"{total_replay / total_live:>7.1f}\n"
                )


if __name__ == "__main__":
    main()
