"""Federated averaging of a small PyTorch model, every round through the secure protocol, side by
side with plaintext FedAvg on the same seeds.

Each round (McMahan et al. 2017, FedAvg): every client is sampled independently with
probability q (Poisson sampling); sampled clients drop out with probability ``dropout``, each at
a protocol round drawn uniformly from the protocol's rounds; the others train locally from the
global model and send the flattened state_dict delta. The *secure* run aggregates the deltas with
:func:`~secagg.integrations.torch.fedavg.secure_fedavg` - :func:`secagg.simulate_round` under
the hood, with weighted fixed point or distributed DP. The *plaintext* run is the same training
(same sampled clients, same survivors U3, same local batches and initial model) with the exact
float average, no clipping, quantization or noise; it sees only its own model, so the gap
between the two is what secure aggregation (and DP) costs. A round that aborts
(:class:`~secagg.ProtocolAbort`) is reported and leaves both models unchanged.

Randomness: ``seed`` fixes the data split, sampling, dropouts, model initialisation and local
batches. Keys, masks, rounding and noise come from the OS CSPRNG unless ``deterministic`` is set,
which derives them from ``seed`` too (experiments and tests only: everything is then public).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
from torch import nn

from secagg.crypto.drbg import seed_bytes
from secagg.encoding.accounting import PrivacyAccountant, calibrate_noise_multiplier
from secagg.encoding.dp.params import DistributedDpConfig, Mechanism
from secagg.errors import ConfigError, ProtocolAbort
from secagg.integrations.torch.data import (
    Dataset,
    digits,
    partition_dirichlet,
    partition_iid,
)
from secagg.integrations.torch.fedavg import (
    DistributedDp,
    Encoding,
    WeightedFixedPoint,
    plaintext_fedavg,
    secure_fedavg,
)
from secagg.integrations.torch.flatten import (
    IntegerPolicy,
    Layout,
    apply_delta,
    flatten,
    state_delta,
    unflatten,
)
from secagg.runtime.simulate import ROUNDS

FloatArray = npt.NDArray[np.float64]
State = dict[str, torch.Tensor]


@dataclass(frozen=True, slots=True)
class TrainConfig:
    """Everything a training run depends on (the ``secagg train`` options)."""

    clients: int = 20
    rounds: int = 50
    sample_rate: float = 0.5
    dropout: float = 0.2
    partition: str = "iid"
    """``"iid"`` or ``"dirichlet"``."""
    alpha: float = 0.5
    """Dirichlet concentration for the non-IID partition."""
    local_epochs: int = 2
    batch_size: int = 16
    lr: float = 0.2
    hidden: int = 64
    bits: int = 32
    """b for the weighted fixed-point encoding (no DP)."""
    clip: float = 2.0
    """Per-coordinate clip of the weighted fixed-point encoding (counted, never silent)."""
    dp: str | None = None
    """None, ``"skellam"`` or ``"dgauss"``."""
    dp_bits: int = 16
    dp_clip: float = 1.0
    """L2 clip norm c of each client's update under DP."""
    noise_multiplier: float | None = None
    target_epsilon: float | None = None
    """Calibrate z so the planned run (expected survivors every round) meets this epsilon."""
    delta: float = 1e-5
    integer_policy: str = IntegerPolicy.KEEP_LOCAL.value
    seed: int = 0
    deterministic: bool = False

    def validate(self) -> None:
        """Raise :class:`~secagg.ConfigError` for an option out of range (before any work)."""
        checks = [
            (self.clients >= 2, "clients must be at least 2"),
            (self.rounds >= 1, "rounds must be at least 1"),
            (0.0 < self.sample_rate <= 1.0, "sample_rate must be in (0, 1]"),
            (0.0 <= self.dropout < 1.0, "dropout must be in [0, 1)"),
            (self.partition in ("iid", "dirichlet"), "partition must be iid or dirichlet"),
            (self.alpha > 0, "alpha must be positive"),
            (self.local_epochs >= 1, "local_epochs must be at least 1"),
            (self.batch_size >= 1, "batch_size must be at least 1"),
            (self.lr > 0, "lr must be positive"),
            (self.hidden >= 0, "hidden must be non-negative (0: a linear model)"),
            (self.clip > 0, "clip must be positive"),
            (self.dp_clip > 0, "dp_clip must be positive"),
            (0.0 < self.delta < 1.0, "delta must be in (0, 1)"),
            (self.seed >= 0, "seed must be non-negative"),
        ]
        for ok, message in checks:
            if not ok:
                raise ConfigError(message)
        if self.dp is not None:
            if self.dp not in {m.value for m in Mechanism}:
                raise ConfigError(
                    f"dp must be one of {[m.value for m in Mechanism]}, got {self.dp!r}"
                )
            if (self.noise_multiplier is None) == (self.target_epsilon is None):
                raise ConfigError(
                    "with DP, give exactly one of noise_multiplier and target_epsilon"
                )
        if self.integer_policy not in {p.value for p in IntegerPolicy}:
            raise ConfigError(f"unknown integer policy {self.integer_policy!r}")


@dataclass(frozen=True, slots=True)
class RoundRecord:
    """What one round did."""

    round: int
    sampled: int
    survivors: int
    aborted: str | None
    """None, or why no update was released (the abort reason, or too few clients sampled)."""
    secure_accuracy: float
    plaintext_accuracy: float
    epsilon: float | None
    clipped: int
    seconds: float


@dataclass(slots=True)
class TrainReport:
    """The per-round records and the final figures of both runs."""

    config: TrainConfig
    records: list[RoundRecord] = field(default_factory=list)
    dp: dict[str, Any] | None = None
    """The DP parameters actually used (z, scale, local noise, sensitivities), or None."""
    wall_seconds: float = 0.0

    @property
    def secure_accuracy(self) -> float:
        return self.records[-1].secure_accuracy if self.records else 0.0

    @property
    def plaintext_accuracy(self) -> float:
        return self.records[-1].plaintext_accuracy if self.records else 0.0

    @property
    def epsilon(self) -> float | None:
        return self.records[-1].epsilon if self.records else None

    def to_json(self) -> dict[str, Any]:
        """The ``--json`` document."""
        out: dict[str, Any] = {
            "secure": {
                "accuracy": self.secure_accuracy,
                "per_round": [r.secure_accuracy for r in self.records],
            },
            "plaintext": {
                "accuracy": self.plaintext_accuracy,
                "per_round": [r.plaintext_accuracy for r in self.records],
            },
            "rounds": self.config.rounds,
            "clients": self.config.clients,
            "aborted_rounds": [
                {"round": r.round, "reason": r.aborted} for r in self.records if r.aborted
            ],
            "survivors_per_round": [r.survivors for r in self.records],
            "wall_seconds": self.wall_seconds,
            "config": asdict(self.config),
        }
        if self.dp is not None:
            out["epsilon"] = self.epsilon
            out["delta"] = self.config.delta
            out["dp"] = self.dp
        return out


class MLP(nn.Module):
    """64 -> hidden -> 10 with ReLU (> 95% on digits); hidden = 0 is multinomial logistic
    regression, 64 -> 10 (650 parameters: the smallest vector for DP noise to cover)."""

    def __init__(self, inputs: int, hidden: int, classes: int) -> None:
        super().__init__()
        if hidden == 0:
            self.net: nn.Sequential = nn.Sequential(nn.Linear(inputs, classes))
        else:
            self.net = nn.Sequential(
                nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, classes)
            )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out: torch.Tensor = self.net(x)
        return out


def _derived_seed(seed: int, *parts: int) -> int:
    """A 63-bit integer seed for (seed, round, client, ...): numpy's SeedSequence mixing."""
    words = np.random.SeedSequence([seed, *parts]).generate_state(2, np.uint32)
    return int(words[0]) << 31 ^ int(words[1])


def local_update(
    model: MLP,
    start: State,
    x: torch.Tensor,
    y: torch.Tensor,
    config: TrainConfig,
    batch_seed: int,
) -> State:
    """E epochs of minibatch SGD from ``start`` on one client's data; returns the new state."""
    model.load_state_dict(start)
    optimizer = torch.optim.SGD(model.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(batch_seed)
    loss_fn = nn.CrossEntropyLoss()
    model.train()
    for _ in range(config.local_epochs):
        order = torch.randperm(x.shape[0], generator=generator)
        for i in range(0, x.shape[0], config.batch_size):
            batch = order[i : i + config.batch_size]
            optimizer.zero_grad()
            loss = loss_fn(model(x[batch]), y[batch])
            loss.backward()
            optimizer.step()
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def accuracy(model: MLP, state: State, x: torch.Tensor, y: torch.Tensor) -> float:
    model.load_state_dict(state)
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(dim=1) == y).float().mean())


def dropout_schedule(
    sampled: int, dropout: float, rng: np.random.Generator
) -> dict[str, list[int]]:
    """Each of ``sampled`` clients drops with probability ``dropout``, from a protocol round
    drawn uniformly from the protocol's rounds (a client dropping in unmasking is still in the
    sum)."""
    drops = rng.random(sampled) < dropout
    when = rng.integers(0, len(ROUNDS), sampled)
    schedule: dict[str, list[int]] = {name: [] for name in ROUNDS}
    for u in np.flatnonzero(drops).tolist():
        schedule[ROUNDS[int(when[u])]].append(u)
    return schedule


def _dp_config(config: TrainConfig, dim: int) -> DistributedDpConfig:
    """The DP parameters for every round: sized for a Poisson sample's 7-sigma upper bound."""
    expected = config.clients * config.sample_rate
    spread = math.sqrt(expected * (1.0 - config.sample_rate))
    most = min(config.clients, math.ceil(expected + 7.0 * spread))

    def make(z: float) -> DistributedDpConfig:
        return DistributedDpConfig(
            mechanism=Mechanism(config.dp),
            dim=dim,
            clients=most,
            clip=config.dp_clip,
            noise_multiplier=z,
            bits=config.dp_bits,
            expected_dropout=config.dropout,
            expected_clients=expected,
        )

    if config.noise_multiplier is not None:
        return make(config.noise_multiplier)
    assert config.target_epsilon is not None
    return calibrate_noise_multiplier(
        config.target_epsilon, config.delta, config.sample_rate, config.rounds, make
    )


def _dp_summary(dp: DistributedDpConfig) -> dict[str, Any]:
    return {
        "mechanism": dp.mechanism.value,
        "noise_multiplier": dp.noise_multiplier,
        "bits": dp.bits,
        "clip": dp.clip,
        "clients_max": dp.clients,
        "noise_shares": dp.noise_shares,
        "padded_dim": dp.padded_dim,
        "scale": dp.scale,
        "local_stddev": math.sqrt(dp.local_variance),
        "l2_sensitivity": dp.l2_sensitivity,
        "rounding_inflation": dp.rounding_inflation,
        "wrap_probability": dp.wrap_probability(),
    }


def run_training(
    config: TrainConfig,
    *,
    progress: Callable[[RoundRecord], None] | None = None,
    data: Dataset | None = None,
) -> TrainReport:
    """Train both runs for ``config.rounds`` rounds; ``progress`` sees each round's record."""
    config.validate()
    start_time = time.perf_counter()
    data = data if data is not None else digits(config.seed)
    if config.clients > data.y_train.shape[0]:
        raise ConfigError(f"{config.clients} clients for {data.y_train.shape[0]} examples")
    rng = np.random.default_rng(_derived_seed(config.seed, 1))  # simulation only: never keys
    if config.partition == "iid":
        parts = partition_iid(data.y_train.shape[0], config.clients, rng)
    else:
        parts = partition_dirichlet(data.y_train, config.clients, config.alpha, rng)
    x_all, y_all = torch.from_numpy(data.x_train), torch.from_numpy(data.y_train)
    shards = [(x_all[p], y_all[p]) for p in parts]
    x_test, y_test = torch.from_numpy(data.x_test), torch.from_numpy(data.y_test)
    weights_all = [int(p.shape[0]) for p in parts]
    max_weight = max(weights_all)  # the cap every client knows (a deployment declares one)

    torch.manual_seed(_derived_seed(config.seed, 2))
    model = MLP(data.x_train.shape[1], config.hidden, data.classes)
    policy = IntegerPolicy(config.integer_policy)
    secure_state: State = {k: v.detach().clone() for k, v in model.state_dict().items()}
    plain_state: State = {k: v.detach().clone() for k, v in secure_state.items()}
    _, layout = flatten(state_delta(secure_state, secure_state), policy)

    dp_config = _dp_config(config, layout.dim) if config.dp is not None else None
    accountant = PrivacyAccountant(config.sample_rate) if dp_config is not None else None
    report = TrainReport(config, dp=_dp_summary(dp_config) if dp_config else None)

    for r in range(config.rounds):
        round_start = time.perf_counter()
        if config.sample_rate < 1.0:
            sampled = np.flatnonzero(rng.random(config.clients) < config.sample_rate).tolist()
        else:
            sampled = list(range(config.clients))
        drop = dropout_schedule(len(sampled), config.dropout, rng)
        aborted: str | None = None
        survivors: list[int] = []
        clipped = 0
        if len(sampled) < 3:
            # Fewer than 3: the sum would give a client's update away (secagg refuses it).
            aborted = f"TOO_FEW_SAMPLED: {len(sampled)} client(s) sampled"
        else:
            secure_updates: list[FloatArray] = []
            plain_updates: list[FloatArray] = []
            for u in sampled:
                x, y = shards[u]
                batch_seed = _derived_seed(config.seed, 3, r, u)
                for state, out in ((secure_state, secure_updates), (plain_state, plain_updates)):
                    new = local_update(model, state, x, y, config, batch_seed)
                    out.append(flatten(state_delta(new, state), policy)[0])
            weights = [weights_all[u] for u in sampled]
            encoding: Encoding
            if dp_config is not None:
                encoding = DistributedDp(dp_config)
            else:
                encoding = WeightedFixedPoint(
                    clients=len(sampled),
                    dim=layout.dim,
                    clip=config.clip,
                    max_weight=max_weight,
                    bits=config.bits,
                )
            protocol_seed = (
                seed_bytes(_derived_seed(config.seed, 4, r)) if config.deterministic else None
            )
            try:
                result = secure_fedavg(
                    secure_updates,
                    encoding=encoding,
                    threshold=len(sampled) // 2 + 1,
                    weights=None if dp_config is not None else weights,
                    drop=drop,
                    seed=protocol_seed,
                )
            except ProtocolAbort as exc:
                aborted = f"{exc.reason.name}: {exc.detail}"
            else:
                survivors = result.survivors
                clipped = result.clipped
                secure_state = _step(secure_state, result.mean, layout)
                plain_mean = plaintext_fedavg(
                    plain_updates, None if dp_config is not None else weights, survivors
                )
                plain_state = _step(plain_state, plain_mean, layout)
                if accountant is not None and dp_config is not None:
                    accountant.record(dp_config, len(survivors))
        record = RoundRecord(
            round=r + 1,
            sampled=len(sampled),
            survivors=len(survivors),
            aborted=aborted,
            secure_accuracy=accuracy(model, secure_state, x_test, y_test),
            plaintext_accuracy=accuracy(model, plain_state, x_test, y_test),
            epsilon=accountant.epsilon(config.delta) if accountant is not None else None,
            clipped=clipped,
            seconds=time.perf_counter() - round_start,
        )
        report.records.append(record)
        if progress is not None:
            progress(record)
    report.wall_seconds = time.perf_counter() - start_time
    return report


def _step(state: State, mean: FloatArray, layout: Layout) -> State:
    """The server's FedAvg step: global <- global + mean delta (server learning rate 1)."""
    delta = unflatten(mean, layout, reference={k: torch.zeros_like(v) for k, v in state.items()})
    return apply_delta(state, delta)


def save_plot(report: TrainReport, path: str) -> None:
    """Accuracy per round of both runs as a PNG (matplotlib, no display needed)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rounds = [r.round for r in report.records]
    fig, ax = plt.subplots(figsize=(7, 4.2))
    ax.plot(rounds, [100 * r.plaintext_accuracy for r in report.records], label="plaintext FedAvg")
    label = "secure aggregation" + (f" + DP ({report.config.dp})" if report.config.dp else "")
    ax.plot(rounds, [100 * r.secure_accuracy for r in report.records], "--", label=label)
    aborted = [r.round for r in report.records if r.aborted]
    if aborted:
        ax.scatter(aborted, [0.0] * len(aborted), marker="x", color="red", label="aborted round")
    title = f"{report.config.clients} clients, q={report.config.sample_rate}, "
    title += f"dropout {report.config.dropout:.0%}"
    if report.epsilon is not None:
        title += f", eps={report.epsilon:.2f} at delta={report.config.delta:g}"
    ax.set_title(title)
    ax.set_xlabel("round")
    ax.set_ylabel("test accuracy (%)")
    ax.set_ylim(0, 100)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
