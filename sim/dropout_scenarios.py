"""Dropout scenarios: which (dropout rate, threshold) settings complete, and are they exact?

    .venv/bin/python -m sim.dropout_scenarios --clients 40 --dim 1000

Dropouts are dealt evenly over the rounds; a round aborts (no aggregate released) as soon as
fewer than t clients remain, which is the privacy guarantee working, not a failure. Thresholds at
or below n/2 are run with ``allow_weak_threshold`` to show what they would tolerate.
"""

from __future__ import annotations

import argparse

import numpy as np

from secagg import ROUNDS, ProtocolAbort, simulate_round


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=40)
    parser.add_argument("--dim", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    n, m = args.clients, args.dim
    rng = np.random.default_rng(args.seed)  # test data only; keys come from secagg's DRBG
    inputs = [rng.integers(0, 2**32, m, dtype=np.uint64).astype(np.uint32) for _ in range(n)]
    thresholds = sorted({n // 3, n // 2 + 1, (2 * n) // 3, n})
    print(f"n={n}, m={m}; rows: dropout rate, columns: threshold t")
    print(f"{'dropout':>8} " + " ".join(f"{'t=' + str(t):>12}" for t in thresholds))
    for rate in (0.0, 0.1, 0.2, 0.3, 0.5, 0.7):
        order = rng.permutation(n)[: int(rate * n)]
        drop = {name: [int(u) for u in order[i :: len(ROUNDS)]] for i, name in enumerate(ROUNDS)}
        cells = []
        for t in thresholds:
            try:
                result = simulate_round(
                    inputs, threshold=t, drop=drop, seed=args.seed, allow_weak_threshold=True
                )
            except ProtocolAbort as exc:
                cells.append(f"abort:{exc.reason.name[:5]}")
                continue
            expected = np.zeros(m, dtype=np.uint64)
            for u in result.survivors:
                expected += inputs[u]
            exact = np.array_equal(expected % 2**32, result.aggregate)
            cells.append(f"{'exact' if exact else 'WRONG'}:{len(result.survivors)}")
        print(f"{rate:>8.0%} " + " ".join(f"{c:>12}" for c in cells))


if __name__ == "__main__":
    main()
