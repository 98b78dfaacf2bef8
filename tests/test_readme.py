"""The README's Python examples run as written and say what they claim."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

README = Path(__file__).resolve().parent.parent / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_readme_examples_run() -> None:
    blocks = _python_blocks()
    assert len(blocks) == 2
    namespace: dict[str, Any] = {}
    exec(blocks[0], namespace)
    result = namespace["result"]
    inputs = namespace["inputs"]
    expected = sum(inputs[u] for u in result.survivors) % 2**32
    assert np.array_equal(result.aggregate, expected)
    assert 1 not in result.survivors and 4 in result.survivors

    rng = np.random.default_rng(0)
    namespace = {"updates": [rng.normal(0, 1, 50) for _ in range(10)]}
    exec("import secagg\n" + blocks[1], namespace)
    floats = namespace["result"]
    truth = np.sum([np.clip(u, -8, 8) for u in namespace["updates"]], axis=0)
    assert np.max(np.abs(floats.sum - truth)) <= 10 * floats.quantization.step


def test_readme_quick_start_is_two_commands() -> None:
    text = README.read_text()
    quick = text.split("## Quick start", 1)[1].split("```sh", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in quick.strip().splitlines()]
    assert commands == ["./dev simulate", "./dev test"]
    assert "./dev test" in (README.parent / ".ci" / "run").read_text()
