"""The dataset-mode landmarker over many face images: in worker processes when there are many.

Aligning faces for training (`align`) and measuring them for AU calibration (`measure`) both run
`FaceLandmarker.fit_crop` over tens of thousands of images. Each worker process holds one
landmarker; images go in chunks, results come back in order, with progress on a terminal and a
log line every few thousand faces.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Callable

import numpy as np

from mien.models.registry import resolve
from mien.progress import tracked

log = logging.getLogger("mien.train")
CHUNK = 256
POOL_FROM = 2000  # faces: below this, starting worker processes costs more than it saves

_landmarker = None


def start_landmarker() -> None:
    """Load this process's landmarker (a worker's initializer, or the caller's own process)."""
    global _landmarker
    from mien.stages.landmarks import FaceLandmarker

    _landmarker = FaceLandmarker(str(resolve("face_landmarker").path), max_faces=1)


def landmarker():
    """This process's landmarker, for the chunk functions given to `over_chunks`."""
    return _landmarker


def over_chunks(images: list[np.ndarray], work: Callable, workers: int, doing: str) -> list:
    """``work(chunk)`` for every chunk of CHUNK images, results in order. ``work`` must be a
    module-level function (it is sent to spawned processes: a script calling this must guard its
    entry point with ``if __name__ == "__main__":``). ``doing``: e.g. "aligning", for progress."""
    chunks = [images[i : i + CHUNK] for i in range(0, len(images), CHUNK)]
    label, started, results = f"{doing} {len(images)} faces", time.monotonic(), []
    if workers > 1 and len(images) >= POOL_FROM:
        with multiprocessing.get_context("spawn").Pool(workers, initializer=start_landmarker) as pool:
            for done, result in enumerate(tracked(pool.imap(work, chunks), len(chunks), label), start=1):
                results.append(result)
                _log_progress(doing, done * CHUNK, len(images), started)
    else:
        start_landmarker()
        for done, chunk in enumerate(tracked(chunks, len(chunks), label), start=1):
            results.append(work(chunk))
            _log_progress(doing, done * CHUNK, len(images), started)
    return results


def _log_progress(doing: str, done: int, total: int, started: float) -> None:
    done = min(done, total)
    if done % (CHUNK * 20) < CHUNK or done == total:
        rate = done / max(time.monotonic() - started, 1e-9)
        log.info("%s faces %d / %d (%.0f/s)", doing, done, total, rate)
