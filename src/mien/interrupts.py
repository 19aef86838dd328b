"""SIGTERM handled like Ctrl-C, so `kill`, a job scheduler's stop or a container's shutdown keeps
the rows analysed so far exactly as Ctrl-C does (see mien.io.sinks), instead of killing the
process with its last rows still in memory."""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived. A KeyboardInterrupt, so every place that keeps work on Ctrl-C keeps it here."""


def _raise_terminated(signum, frame) -> None:
    raise Terminated()


@contextmanager
def sigterm_as_interrupt():
    """Within the block, SIGTERM raises Terminated in the main thread (elsewhere: no change)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, _raise_terminated)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
