"""The ``secagg`` command, through ``secagg.cli.main(argv)``."""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pytest

from secagg import cli
from secagg.cli import main
from secagg.cli import simulate as simulate_cli
from secagg.config import MAX_CLIENTS, MAX_DIM
from secagg.crypto import prg
from secagg.crypto.drbg import RandomSource
from secagg.runtime.simulate import ROUNDS, random_source

BASE = ["simulate", "--clients", "8", "--dim", "50", "--seed", "1", "--quiet"]


def run_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, dict[str, Any]]:
    code = main(argv)
    out = capsys.readouterr().out
    report: dict[str, Any] = json.loads(out)
    return code, report


def test_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run_json(capsys, [*BASE, "--json"])
    assert code == 0
    assert report["correct"] is True
    assert report["clients"] == 8
    assert report["dim"] == 50
    assert report["bits"] == 32
    assert report["threshold"] == 5  # default: clients // 2 + 1
    assert [r["round"] for r in report["rounds"]] == list(ROUNDS)
    # Default dropout 0.1 of 8 clients: one client, dropped in the first round.
    assert report["dropped"] == [
        {"client": report["dropped"][0]["client"], "round": "advertise_keys", "reason": "TIMED_OUT"}
    ]
    assert report["survivors"] == 7
    assert report["responders"] == 7
    senders = [r["clients_sending"] for r in report["rounds"]]
    assert senders == [7, 7, 7, 7]
    for r in report["rounds"]:
        assert r["client_upload_bytes"] > 0
        assert r["server_received_bytes"] > 0
    assert report["rounds"][0]["server_sent_bytes"] == 0
    assert all(r["server_sent_bytes"] > 0 for r in report["rounds"][1:])
    assert report["total_bytes"] == sum(
        r["server_received_bytes"] + r["server_sent_bytes"] for r in report["rounds"]
    )


def test_json_report_is_reproducible(capsys: pytest.CaptureFixture[str]) -> None:
    _, a = run_json(capsys, [*BASE, "--json", "--dropout", "0.25"])
    _, b = run_json(capsys, [*BASE, "--json", "--dropout", "0.25"])
    keep = ("correct", "survivors", "responders", "dropped", "total_bytes")
    assert {k: a[k] for k in keep} == {k: b[k] for k in keep}


def test_text_report(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(BASE)
    captured = capsys.readouterr()
    assert code == 0
    assert "CORRECT" in captured.out
    assert "WRONG" not in captured.out
    for name in ROUNDS:
        assert name in captured.out
    assert captured.err == ""  # --quiet: no progress output


def test_progress_goes_to_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a for a in BASE if a != "--quiet"]
    assert main([*argv, "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["correct"] is True
    for name in ROUNDS:
        assert name in captured.err


def test_dropout_with_enough_clients(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["simulate", "--clients", "20", "--dim", "16", "--seed", "3", "--quiet", "--json"]
    code, report = run_json(capsys, [*argv, "--dropout", "0.3"])
    assert code == 0
    assert report["correct"] is True
    assert report["threshold"] == 11
    # round(0.3 * 20) = 6 dropouts dealt round-robin: 2, 2, 1, 1.
    per_round = {name: 0 for name in ROUNDS}
    for d in report["dropped"]:
        assert d["reason"] == "TIMED_OUT"
        per_round[d["round"]] += 1
    assert per_round == {"advertise_keys": 2, "share_keys": 2, "masked_input": 1, "unmasking": 1}
    assert report["survivors"] == 15
    assert report["responders"] == 14
    assert [r["clients_sending"] for r in report["rounds"]] == [18, 16, 15, 14]


@pytest.mark.parametrize("bits", ["1", "17", "33", "64"])
def test_any_ring_size(capsys: pytest.CaptureFixture[str], bits: str) -> None:
    argv = ["simulate", "--clients", "6", "--dim", "9", "--seed", "2", "--quiet", "--json"]
    code, report = run_json(capsys, [*argv, "--bits", bits, "--dropout", "0.2"])
    assert code == 0
    assert report["correct"] is True
    assert report["bits"] == int(bits)


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["frobnicate"],
        ["simulate", "--clients", "0"],
        ["simulate", "--clients", "-3"],
        ["simulate", "--clients", "many"],
        ["simulate", "--dim", "0"],
        ["simulate", "--dim", "1.5"],
        ["simulate", "--dropout", "1"],
        ["simulate", "--dropout", "-0.1"],
        ["simulate", "--dropout", "lots"],
        ["simulate", "--threshold", "0"],
        ["simulate", "--bits", "x"],
        ["simulate", "--seed", "abc"],
        ["simulate", "--no-such-option"],
    ],
)
def test_invalid_arguments_exit_with_usage_error(
    capsys: pytest.CaptureFixture[str], argv: list[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    assert "usage" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra",
    [
        ["--bits", "0"],
        ["--bits", "65"],
        ["--threshold", "9"],
        ["--seed", "-1"],
    ],
)
def test_inconsistent_arguments_return_2(
    capsys: pytest.CaptureFixture[str], extra: list[str]
) -> None:
    """Values argparse lets through but the command must refuse: exit status 2 and a one-line
    error (from argparse, or from the command itself), never a traceback."""
    argv = ["simulate", "--clients", "8", "--dim", "4", "--quiet", *extra]
    code: int | str | None
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code
    assert code == 2
    captured = capsys.readouterr()
    assert captured.err.startswith(("secagg:", "usage:"))
    assert captured.out == ""


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0
    assert "secagg" in capsys.readouterr().out


def test_aborting_round_returns_3_text(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["simulate", "--clients", "8", "--dim", "10", "--seed", "4", "--quiet"]
    code = main([*argv, "--threshold", "8", "--dropout", "0.3"])
    out = capsys.readouterr().out
    assert code == 3
    assert "aborted" in out
    assert "BELOW_THRESHOLD" in out
    assert "CORRECT" not in out


def test_aborting_round_returns_3_json(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["simulate", "--clients", "8", "--dim", "10", "--seed", "4", "--quiet", "--json"]
    code, report = run_json(capsys, [*argv, "--threshold", "8", "--dropout", "0.3"])
    assert code == 3
    assert report["aborted"] == "BELOW_THRESHOLD"
    assert report["correct"] is None


def test_threshold_equal_to_clients_without_dropout_succeeds(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["simulate", "--clients", "5", "--dim", "7", "--seed", "5", "--quiet", "--json"]
    code, report = run_json(capsys, [*argv, "--threshold", "5", "--dropout", "0"])
    assert code == 0
    assert report["correct"] is True
    assert report["dropped"] == []
    assert report["survivors"] == report["responders"] == 5


def _no_allocation(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("the inputs were allocated before the options were validated")


@pytest.mark.parametrize(
    ("extra", "limit"),
    [
        (["--dim", str(MAX_DIM + 1)], f"--dim must be at most {MAX_DIM}, got {MAX_DIM + 1}"),
        (["--dim", str(10**12)], f"--dim must be at most {MAX_DIM}, got {10**12}"),
        (
            ["--clients", str(MAX_CLIENTS + 1), "--threshold", "8"],
            f"--clients must be at most {MAX_CLIENTS}, got {MAX_CLIENTS + 1}",
        ),
        (["--bits", "65"], "--bits must be in [1, 64], got 65"),
        (["--threshold", "9"], "--threshold 9 exceeds --clients 8"),
    ],
)
def test_options_over_the_limits_fail_before_any_allocation(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    extra: list[str],
    limit: str,
) -> None:
    """--dim above MAX_DIM used to allocate clients x dim values first (a MemoryError with a
    traceback and exit 1, the 'aggregate differs' code). Now it is refused up front, exit 2."""
    monkeypatch.setattr(simulate_cli, "make_scenario", _no_allocation)
    monkeypatch.setattr(simulate_cli, "simulate_round", _no_allocation)
    code = main(["simulate", "--clients", "8", "--dim", "4", *extra])
    assert code == 2
    captured = capsys.readouterr()
    assert captured.err == f"secagg: {limit}\n"
    assert captured.out == ""


@pytest.mark.parametrize("where", ["make_scenario", "simulate_round"])
@pytest.mark.parametrize("quiet", [True, False])
def test_out_of_memory_is_a_clear_message_and_exit_2(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, where: str, quiet: bool
) -> None:
    def out_of_memory(*args: Any, **kwargs: Any) -> Any:
        raise MemoryError

    monkeypatch.setattr(simulate_cli, where, out_of_memory)
    argv = ["simulate", "--clients", "8", "--dim", "2000", "--bits", "40", "--seed", "1"]
    code = main([*argv, "--quiet"] if quiet else argv)
    assert code == 2
    captured = capsys.readouterr()
    last = captured.err.splitlines()[-1]
    assert last == (
        "secagg: out of memory: 8 clients x 2,000 values need 128.0 KB for the inputs alone"
        " (the round needs several times that); use a smaller --dim or fewer --clients"
    )
    assert "Traceback" not in captured.err
    assert captured.out == ""


@pytest.mark.parametrize("bits", [7, 32, 33, 64])
def test_scenario_is_drawn_per_client_with_the_same_bytes(bits: int) -> None:
    """make_scenario asks the random source for one client's inputs at a time (not n * m * w
    bytes at once, which used to leave a zero buffer of that size behind in the PRG), and the
    inputs are the same as drawing them all at once, so seeded runs are unchanged."""
    clients, dim = 64, 70_000
    width = 4 if bits <= 32 else 8
    requests: list[int] = []
    stream = random_source(1, b"cli-scenario")

    def recording(n: int) -> bytes:
        requests.append(n)
        return stream(n)

    inputs, drop = cli.make_scenario(clients, dim, 0.25, bits, recording)
    assert max(requests) == dim * width

    once = random_source(1, b"cli-scenario")
    dtype = prg.ring_dtype(bits)
    raw = np.frombuffer(once(clients * dim * width), dtype=dtype).reshape(clients, dim)
    expected = raw & ((1 << bits) - 1)
    assert [x.dtype for x in inputs] == [np.dtype("<u4" if width == 4 else "<u8")] * clients
    assert np.array_equal(np.stack(inputs), expected)
    # round(0.25 * 64) = 16 distinct clients drop, dealt round-robin: 4 per round.
    dropped = [u for ids in drop.values() for u in ids]
    assert len(set(dropped)) == 16 and all(0 <= u < clients for u in dropped)
    assert [len(ids) for ids in drop.values()] == [4, 4, 4, 4]


def test_seeded_run_uses_the_simulate_random_source(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[object, bytes]] = []

    def recording(seed: object, label: bytes) -> RandomSource:
        calls.append((seed, label))
        return random_source(seed, label)

    monkeypatch.setattr(simulate_cli, "random_source", recording)
    code, report = run_json(capsys, [*BASE, "--json"])
    assert code == 0 and report["correct"] is True
    assert calls == [(1, b"cli-scenario")]
    calls.clear()
    argv = ["simulate", "--clients", "8", "--dim", "50", "--quiet", "--json"]  # no --seed
    code, report = run_json(capsys, argv)
    assert code == 0 and report["correct"] is True
    assert calls == [(None, b"cli-scenario")]
