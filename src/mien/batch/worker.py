"""Analyse one input of a batch into its own files. Runs in a worker process (local pool or Ray).

Each worker process loads the models once and keeps them for every input it is given. Rows and
events are written under ``.part`` names and renamed when complete, so a file under its final
name is always whole. Manifest metadata become constant columns of both files.
"""

from __future__ import annotations

import json
import os
import socket
import time
from dataclasses import asdict
from pathlib import Path

import pyarrow as pa

from mien.batch.jobs import Job
from mien.events.detectors import Event
from mien.events.replay import events_table
from mien.io.sinks import Sink, write_table
from mien.pipeline import Analyzer, Options
from mien.version import __version__

_analyzer: Analyzer | None = None


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
    frames_file.parent.mkdir(parents=True, exist_ok=True)
    events_file.parent.mkdir(parents=True, exist_ok=True)
    found: list[Event] = []
    with_metadata = _add_columns(job.metadata)
    schema = with_metadata(analyzer.output_schema().remove_metadata().empty_table()).schema
    provenance = analyzer.metadata() | {"mien_input": job.path, "mien_manifest": json.dumps(job.metadata)}
    with Sink(frames_file, schema, "parquet", provenance) as sink:
        report = analyzer.run([job.path], on_batch=lambda batch: sink.write(with_metadata(batch)),
                              on_events=found.extend)  # fmt: skip
    write_table(with_metadata(events_table(found)), events_file, provenance)
    outcome = report.outcomes[0]
    if outcome.failed and outcome.stopped_at is None:  # nothing usable: do not leave empty files behind
        os.remove(frames_file)
        os.remove(events_file)
    seconds = time.perf_counter() - started
    return {
        "frames": outcome.frames, "rows": outcome.rows, "events": len(found), "seconds": seconds,
        "frames_per_second": outcome.frames / seconds if seconds else 0.0, "error": outcome.error,
        "stopped_at": outcome.stopped_at, "mien_version": __version__,
        "models": provenance["mien_models"], "settings": provenance["mien_settings"],
        "worker": f"{socket.gethostname()}:{os.getpid()}",
    }  # fmt: skip


def _add_columns(metadata: dict[str, str]):
    """A function adding the manifest's metadata as constant string columns to a batch or table
    (or to a DataFrame of events)."""

    def add(data):
        if not metadata:
            return data
        if isinstance(data, (pa.RecordBatch, pa.Table)):
            for name, value in metadata.items():
                data = data.append_column(name, pa.array([value] * data.num_rows, pa.string()))
            return data
        return data.assign(**metadata)

    return add
