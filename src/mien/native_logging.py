"""Silence what native libraries (MediaPipe, LiteRT) print to stderr while models load.

They write INFO and WARNING lines straight to file descriptor 2 when a graph is built and first
run; Python's logging cannot reach them. Real failures still arrive as Python exceptions.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


@contextlib.contextmanager
def native_stderr_silenced(active: bool = True) -> Iterator[None]:
    if not active or os.environ.get("MIEN_NATIVE_LOGS"):
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)
