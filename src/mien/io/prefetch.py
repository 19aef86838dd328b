"""Run an iterator in a background thread, a few items ahead: decoding overlaps analysis.

PyAV and the pixel conversion release the GIL, so on two cores the decoder's thread costs the
analysis thread almost nothing.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from typing import TypeVar

T = TypeVar("T")
_DONE = object()


class _Failure:
    def __init__(self, error: BaseException):
        self.error = error


def prefetch(items: Iterator[T], depth: int = 8, name: str = "mien-decode") -> Iterator[T]:
    """Yield the items of ``items``, produced by a daemon thread; its exceptions re-raise here."""
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def produce() -> None:
        try:
            for item in items:
                while not stop.is_set():
                    try:
                        buffer.put(item, timeout=0.1)
                        break
                    except queue.Full:
                        continue
                if stop.is_set():
                    return
            buffer.put(_DONE)
        except BaseException as error:  # handed to the consumer, which decides
            buffer.put(_Failure(error))
        finally:
            close = getattr(items, "close", None)
            if close is not None:  # a generator left half-way: run its cleanup in this thread
                close()

    worker = threading.Thread(target=produce, daemon=True, name=name)
    worker.start()
    try:
        while True:
            item = buffer.get()
            if item is _DONE:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item
    finally:
        stop.set()
        worker.join(timeout=5)
