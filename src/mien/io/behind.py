"""Run calls in a background thread, one after another in the order given, a few behind the
caller: encoding overlaps drawing (prefetch.py is the other direction: reading ahead).

PyAV and OpenCV release the GIL, so on two cores the thread costs the caller little.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable

_STOP = object()


class Behind:
    """Calls ``submit``-ted run in a thread of their own, in order. An error there is raised in the
    caller at its next ``submit`` or at ``close``, and the calls after it are not run."""

    def __init__(self, depth: int = 4, name: str = "mien-behind"):
        self._queue: queue.Queue = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._abandoned = False
        self._thread = threading.Thread(target=self._run, daemon=True, name=name)
        self._thread.start()

    def _run(self) -> None:
        while True:
            call = self._queue.get()
            if call is _STOP:
                return
            if self._error is None and not self._abandoned:
                try:
                    call[0](*call[1:])
                except BaseException as error:  # handed to the caller, which decides
                    self._error = error

    def submit(self, function: Callable, *args) -> None:
        self._raise()
        self._queue.put((function, *args))

    def close(self, abandon: bool = False) -> None:
        """Wait until every call has run (``abandon``: drop those not yet started), then raise the
        thread's error, if any. Afterwards nothing runs in the thread any more."""
        self._abandoned = self._abandoned or abandon
        if self._thread.is_alive():  # closing twice (an error, then the caller's clean-up) is fine
            self._queue.put(_STOP)
            self._thread.join()
        if not abandon:
            self._raise()

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            self._abandoned = True
            raise error
