"""Shared helpers: the hardware limit we compare against is the raw AES-256-CTR keystream of the
same `cryptography` install, measured in the same run."""

from __future__ import annotations

from typing import Any

from secagg.runtime.floor import keystream_seconds, x25519_seconds

__all__ = ["keystream_seconds", "report_ratio", "x25519_seconds"]


_RATIOS: list[str] = []


def report_ratio(line: str) -> None:
    """Record one "N.NNx the keystream floor" line for the summary at the end of the run (pytest
    captures prints, and the ratio is the figure that matters, not the raw time)."""
    _RATIOS.append(line)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if _RATIOS:
        terminalreporter.section("speed relative to the raw AES-CTR keystream of this machine")
        for line in _RATIOS:
            terminalreporter.write_line(line)
