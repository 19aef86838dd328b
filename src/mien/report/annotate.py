"""``mien annotate`` and ``Result.annotate``: a video with its results drawn on it.

The results come from a table analysed earlier (a Result or a results file) or are made now; the
video is then decoded once more and re-encoded with the layers. Re-reading keeps analysis
untouched and lets events be captioned for their whole length (an event is only known once it
ends), at the cost of a second decode (about 0.7 ms per 360p frame).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mien.events.replay import EYE_COLUMNS, events_from_rows
from mien.report.frame_faces import FrameFaces, columns_to_read, frames_of
from mien.report.layers import DEFAULT_AUS, DEFAULT_LAYERS, LAYERS
from mien.report.video import Annotated, annotate_video
from mien.schema import AU_CODES, EMOTIONS

_EVENT_COLUMNS = ["input", "frame", "timestamp", "face_id", "face_score", *AU_CODES, *EMOTIONS,
                  *EYE_COLUMNS, "pspi"]  # fmt: skip
_READ_ROWS = 4096


def annotate(video: str | os.PathLike, output: str | os.PathLike, results=None,
             layers: Sequence[str] = DEFAULT_LAYERS, aus: Sequence[str] = DEFAULT_AUS,
             events: pd.DataFrame | None = None, replace: bool = True) -> Annotated:  # fmt: skip
    """Write ``video`` to ``output`` with ``layers`` drawn (see mien.report.layers.LAYERS).

    results: a mien.Result, a results file (.parquet, .csv, .jsonl), or None to analyse the video
        now (with the mesh when the "mesh" layer is asked for). Tables holding several inputs are
        matched to the video by path, then by file name.
    aus: AU codes shown by the "aus" layer. events: captions' source (default: found from the rows).
    replace: whether a file already under ``output`` may be replaced. The video appears there only
    when complete; stopped early, what was written is kept as NAME.partial.EXT
    (mien.report.video.annotate_video).
    """
    layers, aus = list(layers), list(aus)
    unknown = set(layers) - set(LAYERS)
    if unknown:
        raise ValueError(f"unknown layers {sorted(unknown)}; choose from {', '.join(LAYERS)}")
    bad = [code for code in aus if code not in AU_CODES]
    if bad:
        raise ValueError(f"unknown AUs {bad}; choose from {', '.join(AU_CODES)}")
    if results is None:
        import mien

        results = mien.analyze(video, mesh="mesh" in layers)
    table = _Table(results)
    source = table.input_for(str(video))
    if events is None and "events" in layers:
        events = table.events(source)
    return annotate_video(video, output, table.frames(source, "mesh" in layers, events), layers, aus, replace)


class _Table:
    """A Result or a results file, read in batches of the columns asked for."""

    def __init__(self, results):
        from mien.result import Result, check_results_columns, read

        self.result: Result | None = None
        self.parquet: pq.ParquetFile | None = None
        if isinstance(results, Result):
            self.result = results
        elif Path(results).suffix.lower() == ".parquet":
            self.parquet = pq.ParquetFile(results)
        else:
            self.result = read(results)  # CSV and JSON lines are read whole
        if not isinstance(results, Result):
            check_results_columns(results, self.names)

    @property
    def names(self) -> list[str]:
        return self.parquet.schema_arrow.names if self.parquet is not None else self.result.table.schema.names

    def batches(self, columns: list[str]) -> Iterator[pa.RecordBatch]:
        if self.parquet is not None:
            yield from self.parquet.iter_batches(batch_size=_READ_ROWS, columns=columns)
        else:
            yield from self.result.table.select(columns).to_batches(max_chunksize=_READ_ROWS)

    def input_for(self, video: str) -> str | None:
        inputs = pa.concat_arrays([b.column("input").unique() for b in self.batches(["input"])]).unique().to_pylist()
        if len(inputs) <= 1:
            return None
        for match in (lambda i: i == video, lambda i: os.path.abspath(i) == os.path.abspath(video),
                      lambda i: Path(i).name == Path(video).name):  # fmt: skip
            found = [i for i in inputs if match(i)]
            if len(found) == 1:
                return found[0]
        raise ValueError(f"the results hold {len(inputs)} inputs and none is {video}")

    def events(self, source: str | None) -> pd.DataFrame:
        if self.result is not None and source is None:
            return self.result.events()
        columns = [c for c in _EVENT_COLUMNS if c in self.names]
        rows = pa.Table.from_batches(list(self.batches(columns))).to_pandas()
        if source is not None:
            rows = rows[rows["input"] == source]
        return events_from_rows(rows)

    def frames(self, source: str | None, mesh: bool, events: pd.DataFrame | None) -> Iterator[FrameFaces]:
        return frames_of(self.batches(columns_to_read(self.names, mesh)), source, events)


class RowsCopy:
    """A copy of one analysis's rows in a temporary Parquet file (constant memory), so that the
    video can be annotated once analysis is over: ``mien analyze clip.mp4 --annotate out.mp4``."""

    def __init__(self, schema: pa.Schema):
        import tempfile

        self._folder = tempfile.TemporaryDirectory(prefix="mien-annotate-")
        self.path = Path(self._folder.name) / "rows.parquet"
        self._writer = pq.ParquetWriter(self.path, schema)

    def write(self, batch: pa.RecordBatch) -> None:
        self._writer.write_batch(batch)

    def annotate(self, video: str | os.PathLike, output: str | os.PathLike, events: pd.DataFrame,
                 layers: Sequence[str] = DEFAULT_LAYERS, aus: Sequence[str] = DEFAULT_AUS,
                 replace: bool = True) -> Annotated:  # fmt: skip
        self._writer.close()
        try:
            return annotate(video, output, self.path, layers, aus, events, replace)
        finally:
            self._folder.cleanup()
