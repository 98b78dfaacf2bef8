"""Federated training through secure rounds, and the epsilon / bits / accuracy table.

    .venv/bin/python -m sim.train [secagg train options]     one run, as `secagg train`
    .venv/bin/python -m sim.train --sweep                    the DP table (about 15 minutes)

The sweep trains the DP setting of docs/training.md (500 clients of about 3 examples each,
sample rate 0.1, 20% dropout, a linear model, 50 rounds, L2 clip 0.5) once without DP and once
per (mechanism, epsilon, bits), each with z calibrated to the epsilon, and prints a Markdown
table of the final accuracies. Every run uses the same seeds (--seed, --deterministic).
"""

from __future__ import annotations

import argparse
import sys
import time

import torch

from secagg.cli.train import add_arguments, train_command
from secagg.errors import ConfigError
from secagg.integrations.torch.training import TrainConfig, run_training

SWEEP_BASE = {
    "clients": 500,
    "sample_rate": 0.1,
    "dropout": 0.2,
    "hidden": 0,
    "rounds": 50,
    "dp_clip": 0.5,
    "deterministic": True,
}
SWEEP_EPSILONS = (2.0, 5.0, 10.0)
SWEEP_BITS = (10, 12, 16, 20)


def sweep(seed: int, mechanisms: list[str]) -> None:
    torch.set_num_threads(1)
    base = TrainConfig(seed=seed, **SWEEP_BASE)  # type: ignore[arg-type]
    start = time.perf_counter()
    plain = run_training(base)
    print(
        f"setting: {base.clients} clients, q={base.sample_rate}, dropout {base.dropout:.0%}, "
        f"linear model, {base.rounds} rounds, L2 clip {base.dp_clip}, delta {base.delta:g}, "
        f"seed {seed}\n"
    )
    print(
        f"no DP (weighted fixed point, Z_2^{base.bits}): secure {100 * plain.secure_accuracy:.2f}%"
        f", plaintext {100 * plain.plaintext_accuracy:.2f}%\n"
    )
    print("| mechanism | target eps | bits | z | epsilon spent | secure+DP acc | plaintext acc |")
    print("|---|---|---|---|---|---|---|")
    for mechanism in mechanisms:
        for eps in SWEEP_EPSILONS:
            for bits in SWEEP_BITS:
                config = TrainConfig(
                    seed=seed,
                    dp=mechanism,
                    target_epsilon=eps,
                    dp_bits=bits,
                    **SWEEP_BASE,  # type: ignore[arg-type]
                )
                try:
                    report = run_training(config)
                except ConfigError as exc:
                    print(f"| {mechanism} | {eps:g} | {bits} | refused: {exc} | | | |")
                    continue
                assert report.dp is not None and report.epsilon is not None
                print(
                    f"| {mechanism} | {eps:g} | {bits} | {report.dp['noise_multiplier']:.3f} | "
                    f"{report.epsilon:.2f} | {100 * report.secure_accuracy:.2f}% | "
                    f"{100 * report.plaintext_accuracy:.2f}% |",
                    flush=True,
                )
    print(f"\nsweep wall time {time.perf_counter() - start:.0f} s", file=sys.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sweep", action="store_true", help="print the epsilon/bits table")
    parser.add_argument(
        "--mechanisms", default="skellam,dgauss", help="for --sweep (default skellam,dgauss)"
    )
    add_arguments(parser)
    args = parser.parse_args()
    if args.sweep:
        sweep(args.seed, args.mechanisms.split(","))
        return 0
    try:
        return train_command(args)
    except ConfigError as exc:
        sys.stderr.write(f"secagg: {exc}\n")
        return 2


if __name__ == "__main__":
    sys.exit(main())
