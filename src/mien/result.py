"""What ``mien.analyze`` returns: the table, its column groups, and simple summaries."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from mien import schema
from mien.baseline import baseline_corrected
from mien.events.replay import events_from_rows
from mien.io.sinks import Sink, format_for
from mien.summary import summarize


class Result:
    """One row per face per frame (frames with no face keep one empty row).

    ``df`` is a pandas DataFrame; ``aus``, ``emotions``, ``pose``... are its column groups.
    ``failures`` lists the inputs that could not be analysed (input, reason).
    """

    def __init__(self, table: pa.Table, failures: list[tuple[str, str]] | None = None,
                 events: pd.DataFrame | None = None):  # fmt: skip
        self.table = table
        self.failures = failures or []
        self._df: pd.DataFrame | None = None
        self._events = events

    @property
    def df(self) -> pd.DataFrame:
        if self._df is None:
            self._df = self.table.to_pandas()
        return self._df

    def _group(self, *groups: str) -> pd.DataFrame:
        names = [n for g in groups for n in schema.group_names(g) if n in self.df.columns]
        return self.df[names]

    @property
    def identity(self) -> pd.DataFrame:
        return self._group("identity")

    @property
    def aus(self) -> pd.DataFrame:
        """Action unit intensities 0-5."""
        return self._group("aus")

    @property
    def au_presence(self) -> pd.DataFrame:
        return self._group("au_presence")

    @property
    def emotions(self) -> pd.DataFrame:
        """Expression probabilities (sum to 1) and the arg-max ``emotion``."""
        return self._group("emotions")

    @property
    def pose(self) -> pd.DataFrame:
        return self._group("pose")

    @property
    def gaze(self) -> pd.DataFrame:
        return self._group("gaze")

    @property
    def landmarks(self) -> pd.DataFrame:
        return self._group("landmarks")

    @property
    def affect(self) -> pd.DataFrame:
        return self._group("affect")

    def __len__(self) -> int:
        return self.table.num_rows

    def __repr__(self) -> str:
        faces = int(self.df["face_score"].notna().sum()) if len(self) else 0
        inputs = self.df["input"].nunique() if len(self) else 0
        return f"<mien.Result: {len(self)} rows, {faces} faces, {inputs} inputs, {len(self.failures)} failed>"

    @property
    def plot(self):
        """Figures of these results (matplotlib): ``plot.timeline()``, ``plot.aus()``,
        ``plot.face(au_intensities)``; see mien.report.plots."""
        from mien.report.plots import Plots

        return Plots(self)

    def events(self) -> pd.DataFrame:
        """Behaviour events, one row each: blinks, expression and AU episodes, micro-expressions,
        pain episodes, compound expressions (docs/events.md). Columns: input, face_id, kind, label,
        onset, apex, offset, duration (seconds), peak, mean, detail."""
        if self._events is None:
            self._events = events_from_rows(self.df)
        return self._events

    def baselined(self, window: tuple[float, float] | None = None) -> Result:
        """The same results with every person's AU intensities measured from their own neutral
        baseline: their least expressive frames, or the frames in ``window`` (start, end seconds).
        See mien.baseline."""
        corrected = baseline_corrected(self.df, window)
        table = pa.Table.from_pandas(corrected, schema=self.table.schema, preserve_index=False)
        return Result(table, self.failures)

    def summary(self, per: str = "person") -> pd.DataFrame:
        """One row per person (input, face_id), or per input with ``per="input"``: time visible,
        mean, peak and rate of every AU and expression, expressivity, blink rate, head movement,
        gaze dispersion, PSPI (see mien.summary)."""
        return summarize(self.df, self.events(), per=per)

    def save(self, path: str | os.PathLike, format: str | None = None) -> Path:
        """Write to Parquet, CSV, JSON lines or OpenFace CSV (by extension, or ``format``)."""
        with Sink(path, self.table.schema, format_for(path, format), self._metadata()) as sink:
            for batch in self.table.to_batches(max_chunksize=4096):
                sink.write(batch)
        return Path(path)

    def to_parquet(self, path: str | os.PathLike) -> Path:
        return self.save(path, "parquet")

    def to_csv(self, path: str | os.PathLike) -> Path:
        return self.save(path, "csv")

    def _metadata(self) -> dict[str, str]:
        raw = self.table.schema.metadata or {}
        return {k.decode(): v.decode() for k, v in raw.items()}


KEY_COLUMNS = ("input", "frame", "timestamp", "face_id", "face_score")  # in every table mien analyze writes


def check_results_columns(path: str | os.PathLike, names: list[str]) -> None:
    """ValueError naming the file when its columns are not those of mien's per-frame results
    (a summary, an events table, someone else's CSV)."""
    missing = [name for name in KEY_COLUMNS if name not in names]
    if missing:
        raise ValueError(f"{path}: not a mien results file (no {', '.join(missing)} column)")


def read(path: str | os.PathLike) -> Result:
    """Load a results file written by mien (Parquet, CSV or JSON lines) into a Result."""
    fmt = format_for(path)
    if fmt == "parquet":
        return Result(pq.read_table(path))
    if fmt == "csv":
        frame = pd.read_csv(path)
    else:
        frame = pd.read_json(path, lines=True)
    return Result(pa.Table.from_pandas(frame, preserve_index=False))
