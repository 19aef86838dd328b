"""`mien query` is read-only by construction: each hostile query of the issue, through the real CLI,
over a real results folder, changes nothing and reads nothing outside the results."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from tests.test_cli import mien


@pytest.fixture(scope="module")
def results(media, tmp_path_factory):
    inputs = tmp_path_factory.mktemp("inputs")
    shutil.copy(media("single_face_video"), inputs / "clip.mp4")
    shutil.copy(media("happy"), inputs / "photo.jpg")
    out = tmp_path_factory.mktemp("results")
    done = mien("batch", str(inputs), "--out", str(out), "--max-frames", "12", "--workers", "1", "-q")
    assert done.returncode == 0, done.stderr
    return out


def _fingerprint(folder) -> dict:
    """Every file under the folder with its bytes' hash (the catalog's WAL files aside: SQLite's)."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file() and not p.name.endswith(("-wal", "-shm"))}  # fmt: skip


def test_select_like_statements_work(results):
    rows = mien("query", str(results), "SELECT count(*) AS n FROM frames", "--format", "csv")
    assert rows.stdout.splitlines()[1] == "13"  # 12 frames of the clip and the photo
    for sql in ("SELECT count(*) AS n FROM frames", "DESCRIBE frames", "SUMMARIZE inputs",
                "FROM events SELECT count(*)", "WITH x AS (SELECT 1 AS one) SELECT * FROM x"):  # fmt: skip
        answer = mien("query", str(results), sql)
        assert answer.returncode == 0, (sql, answer.stderr)


@pytest.mark.parametrize("sql, refusal", [
    ("COPY (SELECT 42) TO '{frames}'", "query refused: COPY statements are not run; mien query only reads"),
    ("ATTACH '{tmp}/new.db' AS other", "query refused: ATTACH statements are not run; mien query only reads"),
    ("INSTALL httpfs", "query refused: LOAD statements are not run; mien query only reads"),
    ("LOAD httpfs", "query refused: LOAD statements are not run; mien query only reads"),
    ("SET enable_external_access = true", "query refused: SET statements are not run; mien query only reads"),
    ("CREATE TABLE t AS SELECT 1", "query refused: CREATE statements are not run; mien query only reads"),
    ("EXPLAIN ANALYZE COPY (SELECT 1) TO '{tmp}/x.csv'", "query refused: EXPLAIN statements are not run; mien query only reads"),
    ("SELECT 1; COPY (SELECT 42) TO '{frames}'", "query refused: one SELECT statement at a time (got 2)"),
    ("SELECT * FROM read_csv('/etc/passwd')", 'Cannot access file "/etc/passwd" - file system operations are disabled'),
    ("SELECT * FROM read_text('{catalog}')", "file system operations are disabled"),
    ("SELECT * FROM glob('/etc/*')", "file system operations are disabled"),
    ("SELECT * FROM query('COPY (SELECT 42) TO ''{frames}''')", "Expected a single SELECT statement"),
    ("SELECT * FROM sqlite_scan('{catalog}', 'inputs')", "exists in the sqlite_scanner extension"),
], ids=["copy-over-a-result", "attach", "install", "load", "set", "create", "explain-analyze", "two-statements",
        "read-etc-passwd", "read-the-catalog-raw", "glob", "copy-inside-query", "sqlite-extension"])  # fmt: skip
def test_hostile_queries_are_refused_and_change_nothing(results, tmp_path, sql, refusal):
    frames = next((results / "frames").glob("clip-*.parquet"))
    before = _fingerprint(results)
    sql = sql.format(frames=frames, tmp=tmp_path, catalog=results / "catalog.sqlite")
    answer = mien("query", str(results), sql)
    assert answer.returncode == 1, answer.stdout
    assert "mien: error: " in answer.stderr and refusal in answer.stderr, answer.stderr
    assert "Traceback" not in answer.stderr and "root:" not in answer.stdout
    assert _fingerprint(results) == before  # not a byte changed in the results folder
    assert not list(tmp_path.iterdir())  # and nothing created elsewhere


def test_behind_the_parser_the_connection_itself_is_locked(results, tmp_path):
    """Second wall: were a writing statement to get past the parser check, DuckDB refuses it."""
    import duckdb

    from mien.batch.query import connect

    connection = connect(results)
    frames = next((results / "frames").glob("clip-*.parquet"))
    for sql in (f"COPY (SELECT 42) TO '{frames}'", f"COPY (SELECT 42) TO '{tmp_path}/x.csv'",
                f"ATTACH '{tmp_path}/new.db'", "INSTALL httpfs", "LOAD httpfs",
                "SET enable_external_access = true", "SET lock_configuration = false",
                "SET allowed_paths = ['/etc/passwd']"):  # fmt: skip
        with pytest.raises(duckdb.Error):
            connection.execute(sql)
    assert connection.execute("SELECT count(*) FROM frames").fetchone()[0] == 13
    connection.close()
    assert not list(tmp_path.iterdir())
