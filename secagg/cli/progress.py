"""Progress output for long runs: a tqdm bar with an ETA on a terminal, one line per round
otherwise (so logs and pipes stay clean)."""

from __future__ import annotations

import importlib
import time
from typing import Any, TextIO


class Progress:
    """The ``progress(round_name, done, total)`` callback of :func:`secagg.simulate_round`."""

    def __init__(self, stream: TextIO, names: tuple[str, ...]) -> None:
        self.stream = stream
        self.names = names
        self.start = time.perf_counter()
        self.current = ""

    def __call__(self, name: str, done: int, total: int) -> None:
        if name != self.current:
            self.current = name
            index = self.names.index(name) + 1
            elapsed = time.perf_counter() - self.start
            self.stream.write(
                f"round {index}/{len(self.names)}: {name} ({total} clients, {elapsed:.1f} s)\n"
            )
            self.stream.flush()

    def close(self) -> None:
        self.current = ""


class BarProgress(Progress):
    """One tqdm bar over all rounds' messages; its ETA comes from the rate so far."""

    def __init__(self, stream: TextIO, names: tuple[str, ...], tqdm: Any) -> None:
        super().__init__(stream, names)
        self._tqdm = tqdm
        self._bar: Any = None
        self._base = 0

    def __call__(self, name: str, done: int, total: int) -> None:
        if self._bar is None:
            # Every round has about as many messages as the first: n per round.
            self._bar = self._tqdm(
                total=total * len(self.names), file=self.stream, unit="msg", leave=False
            )
        if name != self.current:
            if self.current:
                self._base = self._bar.n
            self.current = name
            self._bar.set_description(name)
        self._bar.n = min(self._base + done, self._bar.total)
        self._bar.refresh()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        super().close()


def make_progress(stream: TextIO, names: tuple[str, ...]) -> Progress:
    """A tqdm bar on a terminal when tqdm is installed (``pip install secagg[cli]``), else plain
    lines."""
    if stream.isatty():
        try:
            tqdm = importlib.import_module("tqdm").tqdm
        except ImportError:
            tqdm = None
        if tqdm is not None:
            return BarProgress(stream, names, tqdm)
    return Progress(stream, names)
