"""`mien query results/ "SELECT ..."`: SQL over every output of a batch at once, with DuckDB.

Views, always defined (empty when nothing is done yet):
* ``frames``: every per-frame row of every finished input, manifest columns included;
* ``events``: every event row, manifest columns included;
* ``inputs``: the catalog — path, status, timings, error, settings, model hashes, metadata.
Only files the catalog lists as done are read, never a half-written one.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa

from mien.batch.catalog import read_catalog
from mien.events.detectors import EVENT_COLUMNS
from mien.schema import arrow_schema, columns


def connect(results: Path):
    """A DuckDB connection with the three views over ``results``."""
    import duckdb

    catalog = read_catalog(results)
    connection = duckdb.connect()
    connection.register("catalog_table", catalog)
    connection.execute("CREATE VIEW inputs AS SELECT * FROM catalog_table")
    done = catalog[catalog.status == "done"]
    for view, column, empty in (("frames", "frames_file", _empty_frames()), ("events", "events_file", _empty_events())):
        files = [str(results / name) for name in done[column] if (results / name).is_file()]
        if files:
            listed = ", ".join("'" + f.replace("'", "''") + "'" for f in files)
            connection.execute(f"CREATE VIEW {view} AS SELECT * FROM read_parquet([{listed}], union_by_name = true)")
        else:
            connection.register(f"empty_{view}", empty)
            connection.execute(f"CREATE VIEW {view} AS SELECT * FROM empty_{view}")
    return connection


def query(results: Path, sql: str) -> pd.DataFrame:
    import duckdb

    connection = connect(results)
    try:
        return connection.execute(sql).df()
    except duckdb.Error as error:
        raise ValueError(f"query failed: {str(error).splitlines()[0]}") from None
    finally:
        connection.close()


def _empty_frames() -> pa.Table:
    return arrow_schema(columns()).empty_table()


def _empty_events() -> pd.DataFrame:
    return pd.DataFrame(columns=list(EVENT_COLUMNS))
