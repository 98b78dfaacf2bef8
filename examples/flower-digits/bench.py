"""Plain FedAvg vs Flower's SecAgg+ vs secagg, on the digits app, side by side.

    .venv/bin/python examples/flower-digits/bench.py [--nodes 5] [--rounds 8] [--warmup 1]
        [--padding 0 100000] [--num-shares 1.0]

Runs the same ServerApp and ClientApp (digits_app) in one process over secagg's LocalGrid: every
message and node context goes through Flower's protobuf serialization, but there is no network
and no Ray, so "time" is the round's wall time on one core for the server and every node
together (training included), and "bytes" are the serialized Flower messages both ways. The
training itself is identical in the three runs (same seeds); only the aggregation differs.
`--padding` adds parameters to the model (zero gradient) to see how costs grow with its size.
The first `--warmup` rounds of each run (imports, first-call costs) are left out of s/round,
which is the median of the other rounds. Training runs on one thread (OMP_NUM_THREADS=1).
"secagg-malicious" is secagg's malicious mode (signed keys, the consistency round; the keys are
written to a temporary folder).
"""

from __future__ import annotations

import os

# One training thread: on a shared 2-core machine torch's OpenMP threads spin-wait whenever
# another process holds a core, which can multiply the training time (the same in every mode)
# by 5-10 and drown the aggregation's share of a round.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import sys
import tempfile
import time
import tomllib
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

from digits_app import client_app, server_app  # noqa: E402
from flwr.app import Context, RecordDict  # noqa: E402

from secagg.integrations.flower import make_keys  # noqa: E402
from secagg.integrations.flower.local_grid import LocalGrid  # noqa: E402

MODES = ("plain", "secaggplus", "secagg", "secagg-malicious")


def run(
    mode: str, nodes: int, rounds: int, padding: int, num_shares: float, warmup: int, keys: Path
) -> dict[str, Any]:
    config = tomllib.loads((HERE / "pyproject.toml").read_text())["tool"]["flwr"]["app"]["config"]
    config.update(
        {
            "aggregation": mode.split("-")[0],
            "num-nodes": nodes,
            "num-server-rounds": rounds,
            "padding": padding,
            "num-shares": int(num_shares) if num_shares > 1 else num_shares,
        }
    )
    ids = [1000 + 17 * i for i in range(nodes)]
    node_configs: dict[int, dict[str, Any]] = {
        n: {"partition-id": i, "num-partitions": nodes} for i, n in enumerate(ids)
    }
    if mode == "secagg-malicious":
        config.update({"security": "malicious", "roster-path": str(keys / "roster.json")})
        for i, n in enumerate(ids):
            node_configs[n]["secagg-signing-key"] = str(keys / f"node-{i}.key")
            node_configs[n]["secagg-roster"] = str(keys / "roster.json")
    grid = LocalGrid(client_app.app, ids, node_configs=node_configs, run_config=config)
    start = time.perf_counter()
    summary = server_app.run_server(grid, Context(1, 0, {}, RecordDict(), config))
    wall = time.perf_counter() - start
    seconds = [r["seconds"] for r in summary["rounds"]][warmup:]
    return {
        "mode": mode,
        "round_seconds": float(np.median(seconds)),
        "round_bytes": (grid.bytes_sent + grid.bytes_received) / rounds,
        "accuracy": summary["rounds"][-1]["accuracy"],
        "weights": summary["weights"],
        "wall": wall,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=8)
    parser.add_argument("--warmup", type=int, default=1, help="first rounds left out of s/round")
    parser.add_argument("--padding", type=int, nargs="+", default=[0, 100_000])
    parser.add_argument(
        "--num-shares",
        type=float,
        default=1.0,
        help="1.0: the complete graph; a count >= 3 (e.g. 3): sparse graphs for both SecAggs",
    )
    args = parser.parse_args()
    print(
        f"digits app, {args.nodes} nodes, {args.rounds} rounds (first {args.warmup} not timed), "
        f"num_shares={args.num_shares:g}, in-process (LocalGrid)\n"
    )
    header = (
        f"{'params':>9} {'aggregation':<16} {'s/round':>8} {'x plain':>8} "
        f"{'bytes/round':>12} {'x plain':>8} {'accuracy':>8} {'max |w - plain|':>15}"
    )
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        keys = Path(tmp)
        make_keys(keys, args.nodes)
        for padding in args.padding:
            results = [
                run(m, args.nodes, args.rounds, padding, args.num_shares, args.warmup, keys)
                for m in MODES
            ]
            plain = results[0]
            params = sum(w.size for w in plain["weights"])
            for r in results:
                diff = max(
                    float(np.abs(a - b).max())
                    for a, b in zip(r["weights"], plain["weights"], strict=True)
                )
                print(
                    f"{params:>9,} {r['mode']:<16} {r['round_seconds']:>8.3f} "
                    f"{r['round_seconds'] / plain['round_seconds']:>8.2f} "
                    f"{r['round_bytes']:>12,.0f} "
                    f"{r['round_bytes'] / plain['round_bytes']:>8.2f} {r['accuracy']:>8.3f} "
                    f"{diff:>15.2e}"
                )
            print()


if __name__ == "__main__":
    main()
