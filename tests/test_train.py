"""Federated training: every round through the real protocol; secure tracks plaintext; CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from secagg.cli import main
from secagg.errors import ConfigError
from secagg.integrations.torch import training
from secagg.integrations.torch.data import Dataset, digits, partition_dirichlet, partition_iid
from secagg.integrations.torch.training import TrainConfig, run_training
from secagg.runtime import simulate

TINY = {
    "clients": 6,
    "rounds": 3,
    "sample_rate": 1.0,
    "dropout": 0.2,
    "hidden": 8,
    "deterministic": True,
}


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Tiny models train fastest on one thread; two spin against each other on a busy 2-core
    machine (as `secagg train` does, restored afterwards)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def data() -> Dataset:
    return digits(0)


def spy_rounds(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    calls: list[dict[str, Any]] = []
    real = simulate.simulate_round

    def spy(inputs: Any, **kwargs: Any) -> Any:
        result = real(inputs, **kwargs)
        calls.append({"n": len(inputs), "bits": kwargs["bits"], "survivors": result.survivors})
        return result

    monkeypatch.setattr(simulate, "simulate_round", spy)
    return calls


def test_every_round_is_a_secure_round(monkeypatch: pytest.MonkeyPatch, data: Dataset) -> None:
    calls = spy_rounds(monkeypatch)
    report = run_training(TrainConfig(**TINY), data=data)  # type: ignore[arg-type]
    assert len(calls) == 3
    assert [r.survivors for r in report.records] == [len(c["survivors"]) for c in calls]
    assert all(c["n"] == 6 and c["bits"] == 32 for c in calls)
    # The secure model tracks plaintext FedAvg to within 32-bit quantization: same predictions.
    for r in report.records:
        assert r.secure_accuracy == pytest.approx(r.plaintext_accuracy, abs=1 / 360)
    assert report.records[-1].secure_accuracy > 0.3  # it learns (10 classes: chance is 0.1)


def test_secure_and_plaintext_models_agree_within_quantization(
    monkeypatch: pytest.MonkeyPatch, data: Dataset
) -> None:
    states: dict[str, list[Any]] = {"secure": [], "plain": []}
    real_step = training._step

    def record_step(state: Any, mean: Any, layout: Any) -> Any:
        out = real_step(state, mean, layout)
        key = "secure" if len(states["secure"]) == len(states["plain"]) else "plain"
        states[key].append(out)
        return out

    monkeypatch.setattr(training, "_step", record_step)
    run_training(TrainConfig(**{**TINY, "rounds": 2}), data=data)  # type: ignore[arg-type]
    assert len(states["secure"]) == len(states["plain"]) == 2
    for secure, plain in zip(states["secure"], states["plain"], strict=True):
        for name in secure:
            # Per value, the 32-bit encoding errs by < n / (s W): far below 1e-5 here.
            assert float((secure[name] - plain[name]).abs().max()) < 1e-5


def test_aborted_round_leaves_both_models_unchanged(
    monkeypatch: pytest.MonkeyPatch, data: Dataset
) -> None:
    def everyone_drops(
        sampled: int, dropout: float, rng: np.random.Generator
    ) -> dict[str, list[int]]:
        return {"share_keys": list(range(sampled))}

    monkeypatch.setattr(training, "dropout_schedule", everyone_drops)
    report = run_training(TrainConfig(**{**TINY, "rounds": 2}), data=data)  # type: ignore[arg-type]
    assert [r.aborted.split(":")[0] for r in report.records if r.aborted] == ["BELOW_THRESHOLD"] * 2
    first = report.records[0]
    assert first.survivors == 0
    # No update anywhere: both models are still the identical initial model.
    assert report.secure_accuracy == report.plaintext_accuracy == first.secure_accuracy


def test_dp_training_reports_epsilon(monkeypatch: pytest.MonkeyPatch, data: Dataset) -> None:
    calls = spy_rounds(monkeypatch)
    config = TrainConfig(
        clients=30,
        rounds=2,
        sample_rate=0.5,
        dropout=0.1,
        hidden=0,
        dp="dgauss",
        target_epsilon=5.0,
        dp_bits=18,
        deterministic=True,
    )
    report = run_training(config, data=data)
    assert report.dp is not None and report.dp["bits"] == 18
    done = [r for r in report.records if not r.aborted]
    assert len(calls) == len(done) >= 1
    assert all(c["bits"] == 18 for c in calls)
    epsilons = [r.epsilon for r in report.records if r.epsilon is not None]
    assert len(epsilons) == 2 and all(0 < e <= 5.0 for e in epsilons)
    assert epsilons == sorted(epsilons)  # spending only grows
    document = report.to_json()
    assert document["epsilon"] == epsilons[-1] and document["delta"] == 1e-5


def test_cli_json_and_plot(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    plot = tmp_path / "acc.png"
    argv = ["train", "--clients", "6", "--rounds", "2", "--sample-rate", "1", "--hidden", "8"]
    code = main([*argv, "--seed", "3", "--deterministic", "--json", "--quiet", "--plot", str(plot)])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["rounds"] == 2 and report["clients"] == 6
    assert 0.0 <= report["secure"]["accuracy"] <= 1.0
    assert 0.0 <= report["plaintext"]["accuracy"] <= 1.0
    assert "epsilon" not in report
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli_text_report_with_dp(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["train", "--clients", "30", "--rounds", "1", "--hidden", "0", "--dp", "skellam"]
    code = main([*argv, "--noise-multiplier", "1.5", "--deterministic", "--quiet", "--no-plot"])
    out = capsys.readouterr().out
    assert code == 0
    assert "distributed DP (skellam)" in out and "z=1.500" in out
    assert "final accuracy: secure" in out and "epsilon" in out


@pytest.mark.parametrize(
    ("argv", "reason"),
    [
        (["--dp", "skellam"], "--noise-multiplier or --epsilon"),
        (["--epsilon", "3"], "need --dp"),
        (["--dp", "skellam", "--epsilon", "3", "--dp-bits", "4", "--clients", "40"], "bits"),
    ],
)
def test_cli_refuses_bad_dp_options(
    argv: list[str], reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["train", "--rounds", "1", "--quiet", "--no-plot", *argv]) == 2
    assert reason in capsys.readouterr().err


def test_config_validation() -> None:
    with pytest.raises(ConfigError, match="sample_rate"):
        TrainConfig(sample_rate=0.0).validate()
    with pytest.raises(ConfigError, match="exactly one"):
        TrainConfig(dp="skellam").validate()
    with pytest.raises(ConfigError, match="dp must be one of"):
        TrainConfig(dp="laplace", noise_multiplier=1.0).validate()


def test_partitions_cover_the_data_once() -> None:
    labels = np.repeat(np.arange(10), 30)
    rng = np.random.default_rng(0)
    for parts in (partition_iid(300, 7, rng), partition_dirichlet(labels, 7, 0.3, rng)):
        joined = np.sort(np.concatenate(parts))
        np.testing.assert_array_equal(joined, np.arange(300))
        assert all(p.size > 0 for p in parts)
    # Small alpha: clients see few classes (IID shards of 43 would see all 10).
    skewed = partition_dirichlet(labels, 7, 0.05, np.random.default_rng(1))
    assert np.mean([np.unique(labels[p]).size for p in skewed]) < 6
