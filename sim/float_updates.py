"""Float model updates through secure aggregation: quantization error and clipping.

    .venv/bin/python -m sim.float_updates --clients 50 --dim 100000 --scale 0.01

Each client's update is Gaussian noise of the given scale (a stand-in for a model delta). The
report compares the securely aggregated sum with the plain float sum of the clipped updates.
"""

from __future__ import annotations

import argparse

import numpy as np

from secagg import aggregate_updates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--dim", type=int, default=100_000)
    parser.add_argument("--scale", type=float, default=0.01)
    parser.add_argument("--clipping-range", type=float, default=0.05)
    parser.add_argument("--quantization-range", type=int, default=1 << 20)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)  # test data only
    updates = [rng.normal(0.0, args.scale, args.dim) for _ in range(args.clients)]
    result = aggregate_updates(
        updates,
        threshold=args.clients // 2 + 1,
        clipping_range=args.clipping_range,
        quantization_range=args.quantization_range,
        drop={"masked_input": [0, 1]},
        seed=args.seed,
    )
    c = args.clipping_range
    plain = sum(np.clip(updates[u], -c, c) for u in result.survivors)
    error = np.abs(result.sum - plain)
    qc = result.quantization
    print(f"{len(result.survivors)} of {args.clients} clients aggregated in Z_2^{qc.bits}")
    print(
        f"quantization step {qc.step:.3e}; bound on |error| per value n*step = "
        f"{len(result.survivors) * qc.step:.3e}"
    )
    print(
        f"max |error| {error.max():.3e}, mean error {np.mean(result.sum - plain):+.3e} "
        f"(unbiased rounding: close to 0)"
    )
    print(f"clipped values: {sum(result.clipped.values())} of {args.clients * args.dim}")


if __name__ == "__main__":
    main()
