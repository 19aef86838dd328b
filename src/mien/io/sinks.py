"""Rows out, as they come: Parquet (default), CSV, JSON lines, OpenFace 2.x CSV.

Every sink writes batch by batch, so memory stays flat however long the video. The file appears
under its final name only when complete: rows go to a hidden temporary name unique to this
process (``.NAME.<pid>-<random>.part``, so two writers never share one), renamed into place on
close. If writing stops early (Ctrl-C, SIGTERM, an error) the file is closed properly and kept as
``NAME.partial.EXT`` (every row written so far, readable), and whatever was under the final name
before is left exactly as it was.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from mien.io.openface import format_rows, openface_columns

FORMATS = ("parquet", "csv", "jsonl", "openface")
# Parquet rows are gathered into row groups of at least this many: dataset mode hands over one row
# per crop, and a row group per row cost 7 ms each (more than the analysis of a crop) and bloats
# the file's footer.
ROW_GROUP_ROWS = 512
_BY_EXTENSION = {".parquet": "parquet", ".pq": "parquet", ".csv": "csv", ".jsonl": "jsonl",
                 ".ndjson": "jsonl", ".json": "jsonl"}  # fmt: skip


def format_for(path: str | os.PathLike, requested: str | None = None) -> str:
    """The format to write ``path`` in: ``requested``, else the one its extension names.

    An extension mien does not write (``.xlsx``, none at all) is refused rather than guessed:
    Parquet bytes under a ``.xlsx`` name help nobody."""
    if requested:
        if requested not in FORMATS:
            raise ValueError(f"unknown format {requested!r}; choose one of {', '.join(FORMATS)}")
        return requested
    suffix = Path(path).suffix.lower()
    if suffix not in _BY_EXTENSION:
        raise ValueError(f"{path}: mien does not write {suffix or 'files without an extension'}; name it "
                         ".parquet, .csv or .jsonl, or say which format with --format")  # fmt: skip
    return _BY_EXTENSION[suffix]


def partial_name(path: str | os.PathLike) -> Path:
    """Where rows of an unfinished output are kept: out.parquet -> out.partial.parquet."""
    path = Path(path)
    return path.with_name(f"{path.stem}.partial{path.suffix}") if path.suffix else path.with_name(path.name + ".partial")


def keep_partial(temporary: Path, final: Path, anything_written: bool) -> Path | None:
    """An unfinished output's temporary file kept as ``partial_name(final)`` (returned); removed,
    and None returned, when nothing was written into it."""
    if not temporary.exists():
        return None
    if not anything_written:
        temporary.unlink(missing_ok=True)
        return None
    kept = partial_name(final)
    os.replace(temporary, kept)
    return kept


def publish(temporary: Path, final: Path, replace: bool) -> None:
    """Rename a finished file into place, atomically. Without ``replace`` a file that appeared
    under ``final`` meanwhile is never overwritten (FileExistsError)."""
    if replace:
        os.replace(temporary, final)
        return
    try:
        os.link(temporary, final)  # fails if ``final`` exists: no window between check and rename
    except FileExistsError:
        raise
    except OSError:  # a filesystem without hard links: check, then rename
        if final.exists():
            raise FileExistsError(final) from None
        os.replace(temporary, final)
        return
    os.unlink(temporary)


class OutputFailed(BaseException):
    """The output cannot be written (disk full, file too large...). A BaseException, so that the
    analysis loop, which carries on past one bad input, stops: nothing more could be saved."""

    def __init__(self, path: Path, error: OSError):
        super().__init__(f"cannot write {path} ({error.strerror or error})")


class Sink:
    """Rows to one file. ``replace``: whether a file already under ``path`` may be replaced;
    ``stop_on_error``: a failed write raises OutputFailed instead of OSError.

    Used as a context manager: a clean exit publishes the file; an exception (KeyboardInterrupt
    included) keeps the rows written so far under ``partial`` (None when there were none)."""

    def __init__(self, path: str | os.PathLike, schema: pa.Schema, fmt: str,
                 metadata: dict[str, str] | None = None, *, replace: bool = True, stop_on_error: bool = False):  # fmt: skip
        self.path = Path(path)
        self.format = fmt
        self.rows = 0
        self.replace = replace
        self.stop_on_error = stop_on_error
        self.partial: Path | None = None
        self._temporary = self.path.with_name(f".{self.path.name}.{os.getpid()}-{secrets.token_hex(4)}.part")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._schema = schema.with_metadata({k.encode(): v.encode() for k, v in (metadata or {}).items()})
        self._writer = None
        self._file = None
        self._pending: list[pa.RecordBatch] = []  # Parquet rows waiting for a full row group
        self._pending_rows = 0
        if fmt == "parquet":
            self._writer = pq.ParquetWriter(self._temporary, self._schema, compression="zstd")
        elif fmt == "csv":
            self._writer = pacsv.CSVWriter(self._temporary, schema)
        else:
            self._file = open(self._temporary, "w", encoding="utf-8", newline="")
            self._header_written = False

    def write(self, batch: pa.RecordBatch) -> None:
        try:
            self._write(batch)
        except OSError as error:
            if self.stop_on_error:
                raise OutputFailed(self.path, error) from error
            raise
        self.rows += batch.num_rows

    def _write(self, batch: pa.RecordBatch) -> None:
        if self.format == "parquet":
            self._pending.append(batch)
            self._pending_rows += batch.num_rows
            if self._pending_rows >= ROW_GROUP_ROWS:
                self._write_pending()
        elif self.format == "csv":
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
        """Finish the file and put it under its final name."""
        try:
            self._finish_writing()
        except OSError as error:  # the end of the file could not be written: keep what there is
            self.partial = self._keep_partial()
            if self.stop_on_error:
                raise OutputFailed(self.path, error) from error
            raise
        try:
            publish(self._temporary, self.path, self.replace)
        except FileExistsError:
            self.partial = self._keep_partial()
            raise FileExistsError(f"{self.path} appeared while mien was writing it and was left alone"
                                  + (f"; the rows are in {self.partial}" if self.partial else "")) from None  # fmt: skip

    def abort(self) -> Path | None:
        """Stop early: the rows so far go to ``partial_name(path)`` (returned), the final name is
        left untouched. Nothing is kept when no row was written."""
        try:
            self._finish_writing()
        except Exception:  # the rows may be unreadable (disk full...): keep the bytes regardless
            pass
        self.partial = self._keep_partial()
        return self.partial

    def _write_pending(self) -> None:
        pending, self._pending, self._pending_rows = self._pending, [], 0
        if pending:
            self._writer.write_table(pa.Table.from_batches(pending, self._schema))

    def _finish_writing(self) -> None:
        if self._writer is not None and self.format == "parquet":
            self._write_pending()
        writer, file = self._writer, self._file
        self._writer = self._file = None
        if writer is not None:
            writer.close()
        if file is not None:
            file.close()

    def _keep_partial(self) -> Path | None:
        return keep_partial(self._temporary, self.path, bool(self.rows))

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, exc_type, exc, traceback) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_table(frame: pd.DataFrame, path: str | os.PathLike, metadata: dict[str, str] | None = None,
                *, replace: bool = True) -> Path:  # fmt: skip
    """A small table (events, summaries) to Parquet, CSV or JSON lines by the path's extension."""
    fmt = format_for(path)
    if fmt == "openface":
        raise ValueError(f"{path}: the OpenFace format is for per-frame rows only")
    table = pa.Table.from_pandas(frame, preserve_index=False)
    with Sink(path, table.schema, fmt, metadata, replace=replace) as sink:
        for batch in table.to_batches():
            sink.write(batch)
    return Path(path)
