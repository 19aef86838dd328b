"""Rows out, as they come: Parquet (default), CSV, JSON lines, OpenFace 2.x CSV.

Every sink writes batch by batch, so memory stays flat however long the video. The file appears
under its final name only when complete (written as NAME.part, renamed on close).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from mien.io.openface import format_rows, openface_columns

FORMATS = ("parquet", "csv", "jsonl", "openface")
_BY_EXTENSION = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl",
                 ".ndjson": "jsonl", ".json": "jsonl"}  # fmt: skip


def format_for(path: str | os.PathLike, requested: str | None = None) -> str:
    if requested:
        if requested not in FORMATS:
            raise ValueError(f"unknown format {requested!r}; choose one of {', '.join(FORMATS)}")
        return requested
    return _BY_EXTENSION.get(Path(path).suffix.lower(), "parquet")


class Sink:
    def __init__(self, path: str | os.PathLike, schema: pa.Schema, fmt: str,
                 metadata: dict[str, str] | None = None):  # fmt: skip
        self.path = Path(path)
        self.format = fmt
        self.rows = 0
        self._partial = self.path.with_name(self.path.name + ".part")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._schema = schema.with_metadata({k.encode(): v.encode() for k, v in (metadata or {}).items()})
        self._writer = None
        self._file = None
        if fmt == "parquet":
            self._writer = pq.ParquetWriter(self._partial, self._schema, compression="zstd")
        elif fmt == "csv":
            self._writer = pacsv.CSVWriter(self._partial, schema)
        else:
            self._file = open(self._partial, "w", encoding="utf-8", newline="")
            self._header_written = False

    def write(self, batch: pa.RecordBatch) -> None:
        self.rows += batch.num_rows
        if self.format in ("parquet", "csv"):
            self._writer.write_batch(batch)
        elif self.format == "jsonl":
            for row in batch.to_pylist():
                self._file.write(json.dumps(row, allow_nan=False, default=str,
                                            separators=(",", ":")) + "\n")  # fmt: skip
        else:
            columns = openface_columns(batch)
            if not self._header_written:
                self._file.write(", ".join(columns) + "\n")
                self._header_written = True
            self._file.write(format_rows(columns))

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        if self._file is not None:
            self._file.close()
        os.replace(self._partial, self.path)

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def write_table(frame: pd.DataFrame, path: str | os.PathLike, metadata: dict[str, str] | None = None) -> Path:
    """A small table (events, summaries) to Parquet, CSV or JSON lines by the path's extension."""
    fmt = format_for(path)
    if fmt == "openface":
        raise ValueError(f"{path}: the OpenFace format is for per-frame rows only")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with Sink(path, table.schema, fmt, metadata) as sink:
        for batch in table.to_batches():
            sink.write(batch)
    return Path(path)
