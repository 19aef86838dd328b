"""Signals at safe points. SIGTERM handled like Ctrl-C, so `kill`, a job scheduler's stop or a
container's shutdown keeps the rows analysed so far exactly as Ctrl-C does (see mien.io.sinks),
instead of killing the process with its last rows still in memory; and both held back while a
native graph is being made or closed."""

from __future__ import annotations

import functools
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


@contextmanager
def interrupts_deferred():
    """Within the block, Ctrl-C and SIGTERM wait, and are delivered as it ends.

    For native calls that must not be abandoned half-way: a KeyboardInterrupt raised while
    MediaPipe creates or closes a graph leaves it half-made, and the process later crashes
    (SIGSEGV) instead of saving its rows. Elsewhere than the main thread: no change."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    held = (signal.SIGINT, signal.SIGTERM)
    previous = {number: signal.signal(number, lambda number, frame: caught.append(number)) for number in held}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler if handler is not None else signal.SIG_DFL)
        for number in dict.fromkeys(caught):
            signal.raise_signal(number)


def uninterruptible(function):
    """Decorator: ``function`` runs with Ctrl-C and SIGTERM held until it returns."""

    @functools.wraps(function)
    def held(*args, **kwargs):
        with interrupts_deferred():
            return function(*args, **kwargs)

    return held
