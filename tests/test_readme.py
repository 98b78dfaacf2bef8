"""The README's examples run as written and say what they claim; the quick start is two
commands, and CI runs the second."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_has_the_examples_it_promises() -> None:
    text = "\n".join(python_blocks())
    for name in ("simulate_round", "aggregate_updates", "secaggplus_parameters", "Server(config)"):
        assert name in text


@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_readme_example_runs_as_written(
    index: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each block is a script on its own (no names from other blocks or from the test): it
    is written to a file and run, and its own asserts check what it claims; it must print."""
    script = tmp_path / f"example_{index}.py"
    script.write_text(python_blocks()[index])
    runpy.run_path(str(script), run_name="__main__")
    assert capsys.readouterr().out.strip()


def test_transport_example_reports_a_correct_round(capsys: pytest.CaptureFixture[str]) -> None:
    block = next(b for b in python_blocks() if "Server(config)" in b)
    exec(compile(block, "README transport example", "exec"), {"__name__": "__main__"})
    out = capsys.readouterr().out
    assert "correct: True" in out
    assert "(4, 'share_keys', 'TIMED_OUT')" in out


def test_readme_quick_start_is_two_commands() -> None:
    text = README.read_text()
    quick = text.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in quick.strip().splitlines()]
    assert commands == ["./dev simulate", "./dev test"]
    assert "./dev test" in (ROOT / ".ci" / "run").read_text()


def test_license_file_matches_the_declared_license() -> None:
    assert "Apache License" in (ROOT / "LICENSE").read_text()
    assert 'license = { text = "Apache-2.0" }' in (ROOT / "pyproject.toml").read_text()
