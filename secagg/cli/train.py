"""``secagg train``: FedAvg of a small PyTorch model on the digits, every round through the secure
protocol, beside plaintext FedAvg on the same seeds; optional distributed DP.

torch is imported only when the command runs, so the rest of the CLI works without the extra.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from secagg.errors import ConfigError

if TYPE_CHECKING:
    from secagg.integrations.torch.training import RoundRecord, TrainReport


def _fraction(text: str) -> float:
    value = float(text)
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError("must be in [0, 1)")
    return value


def _rate(text: str) -> float:
    value = float(text)
    if not 0.0 < value <= 1.0:
        raise argparse.ArgumentTypeError("must be in (0, 1]")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError("must be positive")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be a positive integer")
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be a non-negative integer")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The training options (shared with ``python -m sim.train``)."""
    g = parser.add_argument_group("federation")
    g.add_argument("--clients", type=_positive, default=20, help="N clients (default 20)")
    g.add_argument("--rounds", type=_positive, default=50, help="R rounds (default 50)")
    g.add_argument(
        "--sample-rate",
        type=_rate,
        default=0.5,
        help="q: each client takes part in a round with this probability (default 0.5)",
    )
    g.add_argument(
        "--dropout",
        type=_fraction,
        default=0.2,
        help="probability that a sampled client drops, at a random protocol round (default 0.2)",
    )
    g.add_argument("--partition", choices=("iid", "dirichlet"), default="iid")
    g.add_argument("--alpha", type=_positive_float, default=0.5, help="Dirichlet alpha (0.5)")
    t = parser.add_argument_group("local training")
    t.add_argument("--local-epochs", type=_positive, default=2)
    t.add_argument("--batch-size", type=_positive, default=16)
    t.add_argument("--lr", type=_positive_float, default=0.2)
    t.add_argument(
        "--hidden", type=_non_negative, default=64, help="MLP width; 0 = linear model (64)"
    )
    a = parser.add_argument_group("secure aggregation without DP (weighted fixed point)")
    a.add_argument("--bits", type=int, default=32, help="b, ring Z_2^b (default 32)")
    a.add_argument(
        "--clip", type=_positive_float, default=2.0, help="per-coordinate clip (default 2.0)"
    )
    a.add_argument(
        "--integer-policy",
        choices=("keep-local", "skip", "average"),
        default="keep-local",
        help="integer buffers (e.g. num_batches_tracked): default keep-local",
    )
    d = parser.add_argument_group("distributed differential privacy")
    d.add_argument("--dp", choices=("skellam", "dgauss"), help="add integer noise shares")
    budget = d.add_mutually_exclusive_group()
    budget.add_argument("--noise-multiplier", type=_positive_float, help="z (noise std / clip)")
    budget.add_argument("--epsilon", type=_positive_float, help="calibrate z for this epsilon")
    d.add_argument("--delta", type=_positive_float, default=1e-5, help="delta (default 1e-5)")
    d.add_argument("--dp-bits", type=int, default=16, help="b under DP (default 16)")
    d.add_argument("--dp-clip", type=_positive_float, default=1.0, help="L2 clip c (default 1.0)")
    o = parser.add_argument_group("output")
    o.add_argument("--seed", type=_non_negative, default=0, help="simulation seed (default 0)")
    o.add_argument(
        "--deterministic",
        action="store_true",
        help="derive keys, masks, rounding and noise from --seed too (experiments only)",
    )
    o.add_argument("--plot", default="secagg-train.png", help="PNG path (secagg-train.png)")
    o.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    o.add_argument("--json", action="store_true", help="print a machine-readable report")
    o.add_argument("--quiet", action="store_true", help="no progress bar on stderr")


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``train`` on the ``secagg`` command's subparsers."""
    parser = commands.add_parser(
        "train",
        help="federated training on the digits through secure rounds (needs secagg[torch])",
        description=(
            "FedAvg of a small PyTorch model on scikit-learn's digits, every round aggregated "
            "by the secure protocol, beside plaintext FedAvg on the same seeds."
        ),
    )
    add_arguments(parser)
    parser.set_defaults(run=train_command)


def config_from_args(args: argparse.Namespace) -> Any:
    """The :class:`~secagg.integrations.torch.training.TrainConfig` of parsed options."""
    from secagg.integrations.torch.training import TrainConfig

    if args.dp is not None and args.noise_multiplier is None and args.epsilon is None:
        raise ConfigError("--dp needs --noise-multiplier or --epsilon")
    if args.dp is None and (args.noise_multiplier is not None or args.epsilon is not None):
        raise ConfigError("--noise-multiplier and --epsilon need --dp skellam or --dp dgauss")
    return TrainConfig(
        clients=args.clients,
        rounds=args.rounds,
        sample_rate=args.sample_rate,
        dropout=args.dropout,
        partition=args.partition,
        alpha=args.alpha,
        local_epochs=args.local_epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        hidden=args.hidden,
        bits=args.bits,
        clip=args.clip,
        dp=args.dp,
        dp_bits=args.dp_bits,
        dp_clip=args.dp_clip,
        noise_multiplier=args.noise_multiplier,
        target_epsilon=args.epsilon,
        delta=args.delta,
        integer_policy=args.integer_policy,
        seed=args.seed,
        deterministic=args.deterministic,
    )


def print_report(report: TrainReport, plot: str | None) -> None:
    c = report.config
    out = sys.stdout
    mode = f"weighted fixed point, Z_2^{c.bits}" if c.dp is None else f"distributed DP ({c.dp})"
    out.write(
        f"secagg train: {c.clients} clients, {c.rounds} rounds, sample rate {c.sample_rate}, "
        f"dropout {c.dropout:.0%}, {c.partition}; secure aggregation: {mode}\n"
    )
    if report.dp is not None:
        dp = report.dp
        out.write(
            f"  DP: noise multiplier z={dp['noise_multiplier']:.3f}, clip {dp['clip']:g}, "
            f"Z_2^{dp['bits']}, scale {dp['scale']:.4g}, local noise std {dp['local_stddev']:.4g}"
            f" levels, rounding inflation {dp['rounding_inflation']:.4f}, wrap-around "
            f"<= {dp['wrap_probability']:.1e} per coordinate\n"
        )
    out.write("\n  round  sampled  survivors  secure acc  plaintext acc")
    out.write("  epsilon\n" if report.dp is not None else "\n")
    for r in report.records:
        line = f"  {r.round:>5}  {r.sampled:>7}  {r.survivors:>9}"
        if r.aborted:
            line += f"  aborted ({r.aborted.split(':')[0]}): models unchanged"
        else:
            line += f"  {100 * r.secure_accuracy:>9.2f}%  {100 * r.plaintext_accuracy:>12.2f}%"
            if r.epsilon is not None:
                line += f"  {r.epsilon:>7.3f}"
        out.write(line + "\n")
    aborted = sum(1 for r in report.records if r.aborted)
    out.write(
        f"\n  final accuracy: secure {100 * report.secure_accuracy:.2f}%, plaintext "
        f"{100 * report.plaintext_accuracy:.2f}% (difference "
        f"{100 * (report.secure_accuracy - report.plaintext_accuracy):+.2f} points)"
    )
    if report.epsilon is not None:
        out.write(f"; epsilon {report.epsilon:.3f} at delta {c.delta:g}")
    out.write(f"\n  aborted rounds: {aborted}; wall time {report.wall_seconds:.1f} s\n")
    if plot:
        out.write(f"  plot: {plot}\n")


def train_command(args: argparse.Namespace) -> int:
    try:
        import torch

        from secagg.integrations.torch import training
    except ImportError as exc:
        sys.stderr.write(
            f"secagg train needs the torch extra ({exc.name} is missing): "
            'pip install -e ".[torch]"\n'
        )
        return 2
    from tqdm import tqdm

    config = config_from_args(args)
    config.validate()
    # Two cores are shared with the protocol's own work: one torch thread is the fastest here.
    torch.set_num_threads(1)
    bar = tqdm(total=config.rounds, disable=args.quiet, file=sys.stderr, unit="round")

    def progress(record: RoundRecord) -> None:
        post = {
            "secure": f"{record.secure_accuracy:.3f}",
            "plain": f"{record.plaintext_accuracy:.3f}",
        }
        if record.epsilon is not None:
            post["eps"] = f"{record.epsilon:.2f}"
        bar.set_postfix(post, refresh=False)
        bar.update(1)

    try:
        report = training.run_training(config, progress=progress)
    finally:
        bar.close()
    plot = None if args.no_plot else args.plot
    if plot:
        training.save_plot(report, plot)
    if args.json:
        document = report.to_json()
        document["plot"] = plot
        sys.stdout.write(json.dumps(document, indent=2) + "\n")
    else:
        print_report(report, plot)
    return 0
