"""`mien query results/ "SELECT ..."`: SQL over every output of a batch at once, with DuckDB.

Views, always defined (empty when nothing is done yet):
* ``frames``: every per-frame row of every finished input, manifest columns included;
* ``events``: every event row, manifest columns included;
* ``inputs``: the catalog — path, manifest columns, status, timings, error, settings, model hashes.
Only files the catalog lists as done are read, never a half-written one. Manifest columns come
from the catalog as it is now (a corrected manifest relabels without re-analysis); inputs without
a manifest have them empty. Two identical files are two inputs: each has its own rows, from the
one analysis they share.

Read-only by construction, not by inspection of the text: the statement must parse (with
DuckDB's own parser) as exactly one SELECT-like statement; after the views are made, DuckDB may
read only the files behind them (``enable_external_access`` off, ``allowed_paths`` those files),
installs and loads no extension, and its configuration is locked so the query cannot undo any of
it. The catalog is read through a read-only SQLite connection and handed to DuckDB as a table.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd
import pyarrow as pa

from mien.batch.catalog import read_catalog
from mien.events.detectors import EVENT_COLUMNS
from mien.schema import arrow_schema, columns


class NotReadOnly(ValueError):
    """A statement that could change something (COPY, ATTACH, INSTALL, SET, CREATE...)."""


def read_only_statement(sql: str):
    """The one SELECT-like statement in ``sql``, or NotReadOnly / ValueError saying why not.

    DESCRIBE, SHOW, SUMMARIZE, VALUES and FROM-first queries parse as SELECT too. EXPLAIN is
    refused: EXPLAIN ANALYZE runs the statement it explains, whatever that is."""
    import duckdb

    try:
        statements = duckdb.extract_statements(sql)
    except duckdb.Error as error:
        raise ValueError(f"query failed: {str(error).splitlines()[0]}") from None
    if len(statements) != 1:
        raise NotReadOnly(f"query refused: one SELECT statement at a time (got {len(statements)})")
    statement = statements[0]
    if statement.type != duckdb.StatementType.SELECT:
        kind = statement.type.name
        raise NotReadOnly(f"query refused: {kind} statements are not run; mien query only reads "
                          "(SELECT, DESCRIBE, SHOW, SUMMARIZE over frames, events and inputs)")  # fmt: skip
    return statement


def connect(results: Path):
    """A locked-down DuckDB connection with the three views over ``results``."""
    import duckdb

    catalog = read_catalog(results)
    metadata = [json.loads(text) for text in catalog.metadata]
    names = sorted({name for labels in metadata for name in labels})
    labels = pd.DataFrame({name: pd.Series([m.get(name) for m in metadata], dtype="string") for name in names},
                          index=catalog.index)  # fmt: skip
    inputs = pd.concat([catalog[["path"]], labels, catalog.drop(columns="path")], axis=1)
    # No extension may be fetched or loaded at any point, and Python variables are not tables.
    connection = duckdb.connect(config={"autoinstall_known_extensions": False, "autoload_known_extensions": False,
                                        "python_enable_replacements": False})  # fmt: skip
    connection.register("catalog_table", inputs)
    connection.execute("CREATE VIEW inputs AS SELECT * FROM catalog_table")
    # Each done input's rows, however many inputs share the file (identical files), with the
    # input's own path and its metadata as they are in the catalog now.
    done = inputs[inputs.status == "done"]
    readable: list[str] = []
    for view, column, empty in (("frames", "frames_file", _empty_frames()), ("events", "events_file", _empty_events())):
        mapping = done[["path", *names]].assign(file_path=[str(results / name) for name in done[column]])
        mapping = mapping[mapping.file_path.map(os.path.isfile).astype(bool)]
        files = sorted(set(mapping.file_path))
        readable += files
        if files:
            connection.register(f"{view}_files", mapping)
            labelled = "".join(f", m.{_name(n)}" for n in names)
            connection.execute(
                f"""CREATE VIEW {view} AS SELECT f.* EXCLUDE (filename) REPLACE (m.path AS input){labelled}
                    FROM read_parquet({_sql_list(files)}, union_by_name = true, filename = true) f
                    JOIN {view}_files m ON f.filename = m.file_path"""
            )  # fmt: skip
        else:
            connection.register(f"empty_{view}", empty)
            nulls = "".join(f", CAST(NULL AS VARCHAR) AS {_name(n)}" for n in names)
            connection.execute(f"CREATE VIEW {view} AS SELECT *{nulls} FROM empty_{view}")
    _lock(connection, readable)
    return connection


def _lock(connection, readable: list[str]) -> None:
    """From here on the connection reads the views' files and nothing else, and stays so."""
    connection.execute(f"SET allowed_paths = {_sql_list(readable)}")
    connection.execute("SET enable_external_access = false")
    connection.execute("SET lock_configuration = true")


def query(results: Path, sql: str) -> pd.DataFrame:
    import duckdb

    statement = read_only_statement(sql)
    connection = connect(results)
    try:
        return connection.execute(statement.query).df()
    except duckdb.Error as error:
        raise ValueError(f"query failed: {str(error).splitlines()[0]}") from None
    finally:
        connection.close()


def _name(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _sql_list(paths: list[str]) -> str:
    return "[" + ", ".join("'" + p.replace("'", "''") + "'" for p in paths) + "]"


def _empty_frames() -> pa.Table:
    return arrow_schema(columns()).empty_table()


def _empty_events() -> pd.DataFrame:
    return pd.DataFrame(columns=list(EVENT_COLUMNS))
