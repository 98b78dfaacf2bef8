"""The ``secagg`` command, through ``secagg.cli.main(argv)``: reports, options in plain words,
exit codes (0 correct, 1 only for a wrong aggregate, 2 usage or memory, 3 abort, 130 Ctrl-C),
the memory preflight (without allocating what would not fit), warnings, progress, a closed pipe,
and ``secagg bench``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from secagg.cli import bench as bench_cli
from secagg.cli import main, make_scenario, output
from secagg.cli import progress as progress_cli
from secagg.cli import simulate as simulate_cli
from secagg.config import MAX_CLIENTS, MAX_DIM
from secagg.runtime import preflight
from secagg.runtime.bench import Point
from secagg.runtime.simulate import MALICIOUS_ROUNDS, SEMI_HONEST_ROUNDS

BASE = ["simulate", "--clients", "8", "--dim", "50", "--seed", "1", "--quiet", "--workers", "1"]
SEED_WARNING = "warning: --seed fixes every key"


def run_json(capsys: pytest.CaptureFixture[str], argv: list[str]) -> tuple[int, dict[str, Any]]:
    code = main(argv)
    out = capsys.readouterr().out
    report: dict[str, Any] = json.loads(out)
    return code, report


def test_json_report(capsys: pytest.CaptureFixture[str]) -> None:
    code, report = run_json(capsys, [*BASE, "--json"])
    assert code == 0
    assert report["correct"] is True
    assert (report["clients"], report["dim"], report["bits"]) == (8, 50, 32)
    assert report["threshold"] == 5  # the policy's smallest: clients // 2 + 1
    assert (report["graph"], report["neighbors"], report["security"]) == (
        "complete",
        None,
        "semi_honest",
    )
    assert [r["round"] for r in report["rounds"]] == list(SEMI_HONEST_ROUNDS)
    # Default dropout 0.1 of 8 clients: one client, silent from the first round.
    assert [(d["round"], d["reason"]) for d in report["dropped"]] == [
        ("advertise_keys", "TIMED_OUT")
    ]
    assert report["survivors"] == report["responders"] == 7
    assert [r["clients_sending"] for r in report["rounds"]] == [7] * 5
    assert report["rounds"][0]["server_sent_bytes"] == 0
    assert all(r["server_sent_bytes"] > 0 for r in report["rounds"][1:])
    assert report["total_bytes"] == sum(
        r["server_received_bytes"] + r["server_sent_bytes"] for r in report["rounds"]
    )


def test_json_report_is_reproducible(capsys: pytest.CaptureFixture[str]) -> None:
    _, a = run_json(capsys, [*BASE, "--json", "--dropout", "0.25"])
    _, b = run_json(capsys, [*BASE, "--json", "--dropout", "0.25", "--workers", "2"])
    keep = ("correct", "survivors", "responders", "dropped", "total_bytes")
    assert {k: a[k] for k in keep} == {k: b[k] for k in keep}


def test_text_report_and_seed_warning(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(BASE)
    captured = capsys.readouterr()
    assert code == 0
    assert "CORRECT" in captured.out and "WRONG" not in captured.out
    for name in SEMI_HONEST_ROUNDS:
        assert name in captured.out
    # --quiet hides progress, not warnings.
    assert captured.err.startswith(SEED_WARNING)
    assert "round 1/" not in captured.err


def test_progress_lines_on_a_pipe(capsys: pytest.CaptureFixture[str]) -> None:
    argv = [a for a in BASE if a != "--quiet"]
    assert main([*argv, "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["correct"] is True
    lines = [line for line in captured.err.splitlines() if line.startswith("round ")]
    assert [line.split(":")[1].split()[0] for line in lines] == list(SEMI_HONEST_ROUNDS)
    assert "\r" not in captured.err  # no bar redraws in a log


def test_progress_bar_on_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    """On a terminal the progress is a tqdm bar (with an ETA) over all rounds' messages."""

    class Terminal:
        def __init__(self) -> None:
            self.text = ""

        def isatty(self) -> bool:
            return True

        def write(self, text: str) -> int:
            self.text += text
            return len(text)

        def flush(self) -> None:
            pass

    stream = Terminal()
    bar = progress_cli.make_progress(stream, SEMI_HONEST_ROUNDS)  # type: ignore[arg-type]
    assert isinstance(bar, progress_cli.BarProgress)
    for name in SEMI_HONEST_ROUNDS:
        for done in range(5):
            bar(name, done, 4)
    bar.close()
    assert "share_check" in stream.text and "msg" in stream.text


def test_secaggplus_and_malicious(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["simulate", "--clients", "30", "--dim", "40", "--seed", "2", "--quiet", "--json"]
    code, report = run_json(capsys, [*argv, "--graph", "secagg+", "--security", "malicious"])
    assert code == 0 and report["correct"] is True
    assert report["graph"] == "secagg+" and report["neighbors"] % 2 == 0
    assert report["neighbors"] <= 28
    assert [r["round"] for r in report["rounds"]] == list(MALICIOUS_ROUNDS)
    code, report = run_json(capsys, [*argv, "--graph", "secagg+", "--neighbors", "6"])
    assert code == 0 and report["correct"] is True
    assert (report["neighbors"], report["threshold"]) == (6, 4)


def test_dropout_spread_over_the_rounds(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["simulate", "--clients", "20", "--dim", "16", "--seed", "3", "--quiet", "--json"]
    code, report = run_json(capsys, [*argv, "--dropout", "0.3"])
    assert code == 0 and report["correct"] is True
    # round(0.3 * 20) = 6 dropouts dealt round-robin over the five rounds: 2, 1, 1, 1, 1.
    per_round = {name: 0 for name in SEMI_HONEST_ROUNDS}
    for d in report["dropped"]:
        assert d["reason"] == "TIMED_OUT"
        per_round[d["round"]] += 1
    assert list(per_round.values()) == [2, 1, 1, 1, 1]
    assert report["survivors"] == 15 and report["responders"] == 14


@pytest.mark.parametrize("bits", ["1", "17", "33", "64"])
def test_any_ring_size(capsys: pytest.CaptureFixture[str], bits: str) -> None:
    argv = ["simulate", "--clients", "6", "--dim", "9", "--seed", "2", "--quiet", "--json"]
    code, report = run_json(capsys, [*argv, "--bits", bits, "--dropout", "0.2"])
    assert code == 0 and report["correct"] is True and report["bits"] == int(bits)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["simulate", "--clients", "many"], "expected a whole number >= 1, got 'many'"),
        (["simulate", "--clients", "0"], "expected a whole number >= 1, got 0"),
        (["simulate", "--dim", "1.5"], "expected a whole number >= 1, got '1.5'"),
        (["simulate", "--dropout", "1"], "expected a fraction in [0, 1), got 1"),
        (["simulate", "--dropout", "lots"], "expected a fraction in [0, 1), got 'lots'"),
        (["simulate", "--seed", "abc"], "expected a whole number >= 0, got 'abc'"),
        (["simulate", "--graph", "ring"], "invalid choice: 'ring'"),
        (["simulate", "--no-such-option"], "unrecognized arguments"),
        (["frobnicate"], "invalid choice: 'frobnicate'"),
    ],
)
def test_argument_errors_are_plain_words_and_exit_2(
    capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert "_positive" not in err and "<function" not in err


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--bits", "65"], "--bits must be in [1, 64], got 65"),
        (["--threshold", "9"], "threshold must be in [1, 8]"),
        (["--dim", str(MAX_DIM + 1)], f"--dim must be at most {MAX_DIM}"),
        (["--clients", str(MAX_CLIENTS + 1)], f"--clients must be at most {MAX_CLIENTS}"),
        (["--neighbors", "4"], "--neighbors needs --graph secagg+"),
        (["--graph", "secagg+", "--neighbors", "5"], "neighbors must be an even number"),
    ],
)
def test_inconsistent_options_exit_2_before_anything_runs(
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    extra: list[str],
    message: str,
) -> None:
    def no_round(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("the round started before the options were checked")

    monkeypatch.setattr(simulate_cli, "simulate_round", no_round)
    monkeypatch.setattr(simulate_cli, "make_scenario", no_round)
    code = main(["simulate", "--clients", "8", "--dim", "4", "--quiet", *extra])
    assert code == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.err.startswith("secagg: ")
    assert captured.out == "" and "Traceback" not in captured.err


@pytest.mark.parametrize(
    "size",
    [
        ["--clients", "100", "--dim", "100000000"],  # 40 GB of inputs alone in the old CLI
        ["--clients", "100000", "--dim", "10"],  # n^2 pairs of per-client state
        ["--clients", "100", "--dim", "1000000000"],
    ],
)
def test_memory_preflight_refuses_what_does_not_fit_without_allocating(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, size: list[str]
) -> None:
    def no_round(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("allocated before refusing")

    monkeypatch.setattr(simulate_cli, "simulate_round", no_round)
    monkeypatch.setattr(simulate_cli, "make_scenario", no_round)
    monkeypatch.setattr(preflight, "available_memory", lambda: 2 * 10**9)
    code = main(["simulate", "--quiet", *size])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("secagg: not enough memory:")
    assert "is available" in err and "use " in err


def test_memory_figures_scale_as_the_options_say() -> None:
    small = preflight.estimate_peak(100, 100_000, 32, neighbors=None, workers=2)
    large = preflight.estimate_peak(100, 1_000_000, 32, neighbors=None, workers=2)
    sparse = preflight.estimate_peak(100_000, 10, 32, neighbors=30, workers=2)
    dense = preflight.estimate_peak(100_000, 10, 32, neighbors=None, workers=2)
    # Nine vectors with two workers: the sum, the one in flight and its slack, three per worker.
    assert large - small == 9 * 4 * (1_000_000 - 100_000)
    assert dense > 1000 * sparse
    with pytest.raises(Exception, match="at most"):
        preflight.require_memory(100, 10**9, 32, neighbors=None, workers=2, available=16 * 10**9)
    preflight.require_memory(100, 10**5, 32, neighbors=None, workers=2, available=16 * 10**9)


def test_weak_threshold_warns_and_runs(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["simulate", "--clients", "10", "--dim", "5", "--quiet", "--workers", "1"]
    assert main([*argv, "--threshold", "3"]) == 0
    err = capsys.readouterr().err
    assert "warning: threshold t=3 is not more than half of the 10 clients" in err
    assert "use t >= 6" in err
    assert main(["simulate", "--clients", "1", "--dim", "5", "--quiet"]) == 0
    assert "the server learns it outright" in capsys.readouterr().err


def test_slow_runs_get_a_note_saying_why(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(simulate_cli, "SLOW_SECONDS", 0.0)
    assert main([*BASE]) == 0
    err = capsys.readouterr().err
    assert "note: this run may take about" in err
    assert "grows as n^2" in err and "secagg+" in err


def test_aborting_round_returns_3(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["simulate", "--clients", "8", "--dim", "10", "--seed", "4", "--quiet"]
    code = main([*argv, "--threshold", "8", "--dropout", "0.3"])
    out = capsys.readouterr().out
    assert code == 3
    assert "aborted" in out and "BELOW_THRESHOLD" in out and "CORRECT" not in out
    code, report = run_json(capsys, [*argv, "--threshold", "8", "--dropout", "0.3", "--json"])
    assert code == 3
    assert report == {"correct": None, "aborted": "BELOW_THRESHOLD", "detail": report["detail"]}


def test_wrong_aggregate_is_the_only_exit_1(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    real = getattr(simulate_cli, "simulate_round")  # noqa: B009 - the name the command calls

    def corrupting(*args: Any, **kwargs: Any) -> Any:
        result = real(*args, **kwargs)
        result.aggregate[0] ^= 1
        return result

    monkeypatch.setattr(simulate_cli, "simulate_round", corrupting)
    assert main(BASE) == 1
    assert "WRONG" in capsys.readouterr().out


def test_ctrl_c_is_one_line_and_130(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupted(*args: Any, **kwargs: Any) -> Any:
        raise KeyboardInterrupt

    monkeypatch.setattr(simulate_cli, "simulate_round", interrupted)
    assert main(BASE) == 130
    err = capsys.readouterr().err
    assert err.splitlines()[-1] == "secagg: interrupted"
    assert "Traceback" not in err


def test_closed_pipe_is_quiet_and_keeps_the_verdict(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """`secagg simulate | head` used to end in BrokenPipeError and exit 1, the code reserved
    for a wrong aggregate."""

    class ClosedPipe:
        def write(self, text: str) -> int:
            raise BrokenPipeError

        def flush(self) -> None:
            raise BrokenPipeError

        def fileno(self) -> int:
            return sys.__stdout__.fileno() if sys.__stdout__ else 1

    silenced: list[bool] = []
    monkeypatch.setattr(output, "quiet_stdout", lambda: silenced.append(True))
    monkeypatch.setattr(sys, "stdout", ClosedPipe())
    assert main(BASE) == 0
    assert silenced == [True]


def test_scenario_inputs_are_made_per_client_and_made_again_identically() -> None:
    scenario = make_scenario(16, 1000, 0.25, 17, seed=bytes(32))
    first = [scenario.input(u) for u in range(16)]
    assert all(x.dtype == np.dtype("<u4") and int(x.max()) < 1 << 17 for x in first)
    assert all(np.array_equal(x, scenario.input(u)) for u, x in enumerate(first))
    assert not np.array_equal(first[0], first[1])
    drop = scenario.drop(SEMI_HONEST_ROUNDS)
    assert sorted(u for ids in drop.values() for u in ids) == sorted(scenario.dropped)
    assert [len(ids) for ids in drop.values()] == [1, 1, 1, 1, 0]  # round(0.25 * 16) = 4
    expected = sum(x.astype(np.uint64) for x in first[:3]) % (1 << 17)
    assert np.array_equal(scenario.plain_sum([0, 1, 2]), expected)


def test_bench_writes_csv_json_and_markdown(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """One tiny point through the whole bench pipeline, run in its own process."""
    group = bench_cli.Group("tiny", "Tiny", "A smoke point.", (Point(6, 64, 0.2, workers=1),))
    monkeypatch.setattr(bench_cli, "quick_suite", lambda: [group])
    markdown = tmp_path / "BENCH.md"
    code = main(["bench", "--preset", "quick", "--out", str(tmp_path), "--markdown", str(markdown)])
    assert code == 0
    rows = json.loads((tmp_path / "results.json").read_text())["rows"]
    assert len(rows) == 1 and rows[0]["correct"] is True
    assert rows[0]["ratio_total"] > 1.0  # nothing beats the floor measured in the same run
    assert (tmp_path / "results.csv").read_text().startswith("group,clients,dim")
    report = markdown.read_text()
    assert "### Tiny" in report and "keystream" in report
    assert report == capsys.readouterr().out
