"""Analyse one input of a batch into its own files. Runs in a worker process (local pool or Ray).

Each worker process loads the models once and keeps them for every input it is given. Rows and
events are written under temporary names unique to the process and renamed when complete (events
first, frames last), so a file under its final name is always whole, whoever else works on the
folder. An input with nothing usable leaves no file at all. Manifest metadata are not written
into the files: they live in the catalog, where a corrected manifest replaces them.

While it works, a worker keeps a progress note, ``progress/<analysis key>.json`` (frames done,
seconds), replaced about once a second and removed when the input is over: what `mien serve`
shows of a running job (the catalog learns only outcomes).
"""

from __future__ import annotations

import glob
import json
import os
import signal
import socket
import threading
import time
from dataclasses import asdict
from pathlib import Path

from mien.batch.jobs import Job
from mien.bug_log import log_bug
from mien.errors import InputError
from mien.events.detectors import Event
from mien.events.replay import events_table
from mien.io.sinks import Sink, write_table
from mien.pipeline import Analyzer, Options
from mien.version import __version__

_analyzer: Analyzer | None = None
PROGRESS_EVERY = 1.0  # seconds between progress notes


def _loaded(settings: dict) -> Analyzer:
    global _analyzer
    if _analyzer is None or asdict(_analyzer.options) != settings:
        if _analyzer is not None:
            _analyzer.close()
        _analyzer = Analyzer(Options(**settings))
    return _analyzer


def analyze_one(job: Job, settings: dict, results: str) -> dict:
    """Analyse ``job`` into ``results``; the outcome for the catalog (never raises for bad input)."""
    started = time.perf_counter()
    analyzer = _loaded(settings)
    frames_file, events_file = (Path(results) / name for name in job.outputs())
    for output in (frames_file, events_file):
        output.parent.mkdir(parents=True, exist_ok=True)
        _remove_dead_attempts(output)
    found: list[Event] = []
    provenance = analyzer.metadata() | {"mien_input": job.path}
    sink = Sink(frames_file, analyzer.output_schema().remove_metadata(), "parquet", provenance)
    note = ProgressNote(Path(results), job.key)
    try:
        outcome = analyzer.run([job.path], on_batch=sink.write, on_events=found.extend, on_frame=note).outcomes[0]
        usable = not (outcome.failed and outcome.stopped_at is None)
        if usable:
            write_table(events_table(found), events_file, provenance)
            sink.close()  # frames last: a frames file in place means its events file is too
    except BaseException:
        _discard(sink)
        raise
    finally:
        note.remove()
    if not usable:  # nothing usable: no files
        _discard(sink)
        return _failure(outcome.error, started)
    seconds = time.perf_counter() - started
    return {
        "frames": outcome.frames, "rows": outcome.rows, "events": len(found), "seconds": seconds,
        "frames_per_second": outcome.frames / seconds if seconds else 0.0, "error": outcome.error,
        "stopped_at": outcome.stopped_at, "mien_version": __version__,
        "models": provenance["mien_models"], "settings": provenance["mien_settings"], "worker": worker_name(),
    }  # fmt: skip


def _remove_dead_attempts(output: Path) -> None:
    """Temporary files of ``output`` left by an earlier attempt whose process died (a driver killed
    with SIGKILL takes its workers with it): this run holds the input's claim now, so no live
    process writes them."""
    for leftover in output.parent.glob(f".{glob.escape(output.name)}.*.part"):
        leftover.unlink(missing_ok=True)


def outcome_of(job: Job, settings: dict, results: str) -> dict:
    """analyze_one, with any exception turned into a recorded failure of this input."""
    started = time.perf_counter()
    try:
        return analyze_one(job, settings, results)
    except InputError as error:
        return _failure(error.reason, started)
    except Exception as error:  # one input's failure must not stop the batch
        return _failure(log_bug(error), started)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def serve(jobs, lifeline) -> None:
    """A local pool worker's life: take (job, settings, results), send back the outcome, repeat.

    ``lifeline`` is the read end of a pipe whose write end only the driver holds: when the driver
    dies, however it dies (SIGKILL included), the pipe closes and this process ends at once
    instead of analysing on for files the catalog will never learn of."""
    threading.Thread(target=_die_with_driver, args=(lifeline,), daemon=True, name="mien-lifeline").start()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the driver decides
    while True:
        try:
            message = jobs.recv()
        except EOFError:
            return
        if message is None:
            return
        jobs.send(outcome_of(*message))


def _die_with_driver(lifeline) -> None:
    try:
        lifeline.recv()
    except (EOFError, OSError):
        pass
    os._exit(70)


class ProgressNote:
    """Frames done so far on one analysis, written where any reader of the folder finds it."""

    def __init__(self, results: Path, key: str):
        self.path = results / "progress" / f"{key}.json"
        self.started = time.perf_counter()
        self.written = -PROGRESS_EVERY  # the first frame is noted at once
        self.path.unlink(missing_ok=True)  # an earlier attempt's, left by a process that died

    def __call__(self, frame) -> None:
        now = time.perf_counter()
        if now - self.written < PROGRESS_EVERY:
            return
        self.written = now
        self.path.parent.mkdir(exist_ok=True)
        partial = self.path.with_name(f".{self.path.stem}.{os.getpid()}.tmp")
        partial.write_text(json.dumps({"frames": frame.index + 1, "seconds": round(now - self.started, 3)}))
        os.replace(partial, self.path)  # readers see a whole note or the previous one

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def read_progress(results: Path, key: str) -> dict | None:
    """The progress note of an analysis in progress ({"frames", "seconds"}), or None."""
    try:
        return json.loads((results / "progress" / f"{key}.json").read_text())
    except (OSError, ValueError):
        return None


def _discard(sink: Sink) -> None:
    """Drop an unfinished output: a batch analyses the input again, a partial file would mislead."""
    if sink.partial is None:
        sink.abort()
    if sink.partial is not None:
        sink.partial.unlink(missing_ok=True)


def _failure(reason: str, started: float) -> dict:
    return {"error": reason, "seconds": time.perf_counter() - started, "worker": worker_name()}
