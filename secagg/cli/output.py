"""Writing the report: a reader that closes the pipe early (``| head``) ends output quietly,
without changing the command's exit code (which says whether the aggregate was correct)."""

from __future__ import annotations

import contextlib
import os
import sys
from typing import TextIO


def quiet_stdout() -> None:
    """Point stdout at /dev/null so later writes and the interpreter's final flush do not
    raise BrokenPipeError again."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def emit(text: str, stream: TextIO | None = None) -> None:
    """Write and flush ``text``; a closed pipe silences stdout instead of raising."""
    out = sys.stdout if stream is None else stream
    try:
        out.write(text)
        out.flush()
    except BrokenPipeError:
        quiet_stdout()
