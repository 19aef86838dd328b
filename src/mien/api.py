"""The three-line API: ``mien.analyze(...)``."""

from __future__ import annotations

import os
import warnings
from collections.abc import Iterable

import pyarrow as pa

from mien.events.detectors import Event
from mien.events.replay import events_table
from mien.pipeline import Analyzer, Options
from mien.result import Result


def analyze(inputs: str | os.PathLike | Iterable[str | os.PathLike], **options) -> Result:
    """Analyse images, videos, folders, globs, webcam indices or stream URLs.

    Options are those of ``mien.Options`` (mesh, blendshapes, max_faces, max_frames,
    faces_are_crops, ...). Inputs that fail are listed in ``Result.failures`` with the reason and
    reported as warnings; the others are analysed all the same.

    >>> r = mien.analyze("clip.mp4")
    >>> r.aus.mean()
    """
    specs = [os.fspath(inputs)] if isinstance(inputs, (str, os.PathLike)) else [os.fspath(i) for i in inputs]
    batches: list[pa.RecordBatch] = []
    events: list[Event] = []
    with Analyzer(Options(), **options) as analyzer:
        report = analyzer.run(specs, on_batch=batches.append, on_events=events.extend)
        schema = analyzer.output_schema()
    failures = []
    for outcome in report.failed:
        where = f" (stopped at frame {outcome.stopped_at}; earlier frames kept)" if outcome.stopped_at else ""
        warnings.warn(f"{outcome.input}: {outcome.error}{where}", stacklevel=2)
        failures.append((outcome.input, outcome.error))
    return Result(pa.Table.from_batches(batches, schema=schema), failures, events_table(events))
