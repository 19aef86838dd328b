"""Silence what native libraries (MediaPipe, LiteRT) print to stderr while models load.

They write INFO and WARNING lines straight to file descriptor 2 when a graph is built and first
run; Python's logging cannot reach them. Real failures still arrive as Python exceptions.
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
from collections.abc import Iterator


# File descriptor 2 belongs to the whole process: sessions in several threads share one silencing
# (the first to enter points fd 2 at /dev/null, the last to leave restores it), or one thread's
# restore would undo another's silence, or leave stderr pointing at /dev/null for good.
_lock = threading.Lock()
_depth = 0
_saved: int | None = None


@contextlib.contextmanager
def native_stderr_silenced(active: bool = True) -> Iterator[None]:
    global _depth, _saved
    if not active or os.environ.get("MIEN_NATIVE_LOGS"):
        yield
        return
    with _lock:
        if _depth == 0:
            sys.stderr.flush()
            _saved = os.dup(2)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 2)
            os.close(devnull)
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0:
                os.dup2(_saved, 2)
                os.close(_saved)
                _saved = None


def native_stderr_off_for_good() -> None:
    """For the command line: what native code writes to file descriptor 2 (MediaPipe, LiteRT,
    FFmpeg warnings on any frame, not only while models load) goes to /dev/null, while Python's
    ``sys.stderr`` keeps the real terminal or log for mien's own lines. ``MIEN_NATIVE_LOGS=1``
    keeps the native lines (for bug reports)."""
    if os.environ.get("MIEN_NATIVE_LOGS"):
        return
    sys.stderr.flush()
    real = os.dup(2)
    encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
    sys.stderr = os.fdopen(real, "w", buffering=1, encoding=encoding, errors="backslashreplace")
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    os.close(devnull)
