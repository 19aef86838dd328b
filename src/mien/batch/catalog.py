"""The results folder's catalog: every input, every analysis, every run that works on the folder.

SQLite (in the standard library). Any number of drivers (``mien batch`` in two terminals, two
cluster jobs) may share one folder, so every change is one ``BEGIN IMMEDIATE`` transaction (one
writer at a time, readers never blocked) and every state change is a guarded UPDATE:

* ``inputs``: one row per input *path* — its content hash, the analysis it uses, its manifest
  metadata (replaced whenever a manifest names it again, so relabelling needs no re-analysis).
  Two files with the same bytes are two inputs sharing one analysis.
* ``analyses``: one row per (content, settings) — status ``pending``, ``running``, ``done`` or
  ``failed``, the run holding it, its output files, counts, timings, error, worker crashes.
* ``runs``: one row per driver — host, pid, heartbeat (refreshed every few seconds).

A driver analyses an input only after *claiming* it. A claim held by a live run is left alone; a
claim of a run that is gone (its process dead on this host, or its heartbeat older than
STALE_AFTER) is taken over. ``done`` is final: nothing turns it into anything else, except an
output file deleted from disk, which makes the input due again.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import quote

import pandas as pd

CATALOG = "catalog.sqlite"
FORMAT = "2"
HEARTBEAT_EVERY = 5.0  # seconds between a driver's heartbeats
STALE_AFTER = 60.0  # a run silent this long is gone (a live driver beats every HEARTBEAT_EVERY)
CRASHES_TO_FAIL = 2  # an input that killed this many workers is failed, not retried forever

TABLES = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs (run_id TEXT PRIMARY KEY, host TEXT, pid INTEGER, started TEXT,
    heartbeat REAL, finished TEXT);
CREATE TABLE IF NOT EXISTS analyses (key TEXT PRIMARY KEY, content_hash TEXT, settings_hash TEXT,
    status TEXT NOT NULL, run_id TEXT, worker TEXT, frames_file TEXT, events_file TEXT, frames INTEGER,
    rows INTEGER, events INTEGER, seconds REAL, frames_per_second REAL, error TEXT, stopped_at INTEGER,
    attempts INTEGER DEFAULT 0, crashes INTEGER DEFAULT 0, started TEXT, finished TEXT,
    mien_version TEXT, models TEXT, settings TEXT);
CREATE TABLE IF NOT EXISTS inputs (path TEXT PRIMARY KEY, key TEXT NOT NULL, content_hash TEXT,
    size INTEGER, metadata TEXT NOT NULL DEFAULT '{}', first_seen TEXT, last_seen TEXT);
"""
# What `mien query` shows as ``inputs``: every input with its analysis.
JOINED = """SELECT i.path, a.status, i.metadata, a.frames, a.rows, a.events, a.seconds, a.frames_per_second,
    a.error, a.stopped_at, a.attempts, a.crashes, a.started, a.finished, a.worker, a.run_id, i.key,
    i.content_hash, i.size, a.settings_hash, a.frames_file, a.events_file, a.mien_version, a.models, a.settings
    FROM inputs i LEFT JOIN analyses a USING (key)"""
IN_ORDER = " ORDER BY i.path"


def _write_ahead_logging(db: sqlite3.Connection, wait_s: float = 60.0) -> None:
    """Switch the catalog to WAL. Two drivers opening a new folder at the same moment can find it
    locked, and SQLite answers that at once instead of waiting: try again for up to ``wait_s``."""
    give_up = time.monotonic() + wait_s
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > give_up:
                raise
            time.sleep(0.05)


class SettingsMismatch(ValueError):
    pass


class Catalog:
    """One driver's connection to the catalog (one per thread: SQLite connections are not shared)."""

    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        # Autocommit mode: transactions are opened explicitly, always as BEGIN IMMEDIATE.
        self.db = sqlite3.connect(folder / CATALOG, timeout=60, isolation_level=None)
        _write_ahead_logging(self.db)
        self.db.execute("PRAGMA busy_timeout=60000")
        with self.writing():
            _refuse_old_format(self.db, folder)
            for statement in TABLES.split(";"):  # one by one: executescript would commit midway
                if statement.strip():
                    self.db.execute(statement)
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('format', ?)", (FORMAT,))

    @contextmanager
    def writing(self):
        """One write transaction; waits for other drivers' transactions, never interleaves with them."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    # -- the folder's settings -----------------------------------------------------------------

    def claim_settings(self, settings_key: str, settings: dict, allow_mixed: bool) -> None:
        """Record the folder's settings on first use; refuse others unless mixing is allowed."""
        with self.writing():
            self.db.execute("INSERT OR IGNORE INTO meta VALUES ('settings_hash', ?), ('settings', ?)",
                            (settings_key, json.dumps(settings, sort_keys=True)))  # fmt: skip
            recorded = self.db.execute("SELECT value FROM meta WHERE name = 'settings_hash'").fetchone()[0]
            earlier = json.loads(self.db.execute("SELECT value FROM meta WHERE name = 'settings'").fetchone()[0])
        if recorded != settings_key and not allow_mixed:
            now, earlier = _flat(settings), _flat(earlier)
            changed = sorted(k for k in set(earlier) | set(now) if earlier.get(k) != now.get(k))
            raise SettingsMismatch(f"{self.folder} holds results made with other settings ({', '.join(changed)}); "
                                   "use another --out, or --allow-mixed-settings to keep both")  # fmt: skip

    # -- runs ----------------------------------------------------------------------------------

    def begin_run(self, run_id: str) -> None:
        with self.writing():
            self.db.execute("INSERT INTO runs VALUES (?, ?, ?, ?, ?, NULL)",
                            (run_id, socket.gethostname(), os.getpid(), _now(), time.time()))  # fmt: skip

    def beat(self, run_id: str) -> None:
        with self.writing():
            self.db.execute("UPDATE runs SET heartbeat = ? WHERE run_id = ?", (time.time(), run_id))

    def end_run(self, run_id: str) -> int:
        """Give back this run's unfinished claims (others may take them at once); how many there were."""
        with self.writing():
            released = self.db.execute("UPDATE analyses SET status = 'pending', worker = NULL "
                                       "WHERE status = 'running' AND run_id = ?", (run_id,)).rowcount  # fmt: skip
            self.db.execute("UPDATE runs SET finished = ? WHERE run_id = ?", (_now(), run_id))
        return released

    def _alive(self, run_id: str | None) -> bool:
        row = self.db.execute("SELECT host, pid, heartbeat, finished FROM runs WHERE run_id = ?", (run_id,)).fetchone()
        if row is None or row[3] is not None or time.time() - row[2] > STALE_AFTER:
            return False
        if row[0] == socket.gethostname():  # on this host a dead driver is known at once
            try:
                os.kill(row[1], 0)
            except ProcessLookupError:
                return False
            except PermissionError:
                pass  # alive, another user's
        return True

    # -- inputs and analyses ---------------------------------------------------------------------

    def record_inputs(self, jobs) -> None:
        """Each input by path, with its content and analysis; manifest metadata replace the old."""
        now = _now()
        with self.writing():
            for job in jobs:
                self.db.execute(
                    """INSERT INTO inputs (path, key, content_hash, size, metadata, first_seen, last_seen)
                       VALUES (?, ?, ?, ?, ?, ?, ?)
                       ON CONFLICT (path) DO UPDATE SET key = excluded.key, content_hash = excluded.content_hash,
                           size = excluded.size, last_seen = excluded.last_seen,
                           metadata = CASE WHEN ? THEN excluded.metadata ELSE inputs.metadata END""",
                    (job.path, job.key, job.content_hash, job.size, json.dumps(job.metadata or {}, sort_keys=True),
                     now, now, job.metadata is not None),
                )  # fmt: skip

    def state(self, key: str) -> str | None:
        """An analysis' status: None if never started, "missing" if done but its file is gone."""
        row = self.db.execute("SELECT status, frames_file FROM analyses WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        if row[0] == "done" and not (self.folder / row[1]).is_file():
            return "missing"  # its output was deleted: do it again
        return row[0]

    def claim(self, job, settings_key: str, run_id: str, retry_failed: bool) -> str:
        """Try to take ``job`` for this run: "claimed", or why not: "done", "failed", "held"."""
        frames_file, events_file = job.outputs()
        # Looked at without the write lock first: drivers waiting on another run's many claims
        # must not queue for the lock just to learn that nothing changed.
        row = self.db.execute("SELECT status, run_id FROM analyses WHERE key = ?", (job.key,)).fetchone()
        if row is not None and row[0] == "running" and row[1] != run_id and self._alive(row[1]):
            return "held"
        with self.writing():
            row = self.db.execute("SELECT status, run_id, frames_file FROM analyses WHERE key = ?", (job.key,)).fetchone()
            if row is not None:
                status, holder, existing = row
                if status == "done" and (self.folder / existing).is_file():
                    return "done"
                if status == "failed" and (holder == run_id or not retry_failed):
                    return "failed"
                if status == "running" and holder != run_id and self._alive(holder):
                    return "held"
            self.db.execute(
                """INSERT INTO analyses (key, content_hash, settings_hash, status, run_id, frames_file, events_file,
                                         attempts, started)
                   VALUES (?, ?, ?, 'running', ?, ?, ?, 1, ?)
                   ON CONFLICT (key) DO UPDATE SET status = 'running', run_id = excluded.run_id,
                       attempts = attempts + 1, started = excluded.started, worker = NULL, error = NULL,
                       stopped_at = NULL, crashes = CASE WHEN analyses.status = 'failed' THEN 0 ELSE crashes END""",
                (job.key, job.content_hash, settings_key, run_id, frames_file, events_file, _now()),
            )  # fmt: skip
        return "claimed"

    def assigned(self, key: str, run_id: str, worker: str) -> None:
        with self.writing():
            self.db.execute("UPDATE analyses SET worker = ? WHERE key = ? AND run_id = ? AND status = 'running'",
                            (worker, key, run_id))  # fmt: skip

    def finish(self, key: str, run_id: str, outcome: dict) -> None:
        """Record an analysis' outcome. ``done`` is never overwritten; a failure is recorded only
        while this run still holds the claim (a run that took over may have done it meanwhile)."""
        failed = bool(outcome.get("error")) and outcome.get("stopped_at") is None
        values = (outcome.get("frames"), outcome.get("rows"), outcome.get("events"), outcome.get("seconds"),
                  outcome.get("frames_per_second"), outcome.get("error"), outcome.get("stopped_at"), _now(),
                  outcome.get("mien_version"), outcome.get("models"), outcome.get("settings"), outcome.get("worker"))  # fmt: skip
        update = """UPDATE analyses SET status = ?, frames = ?, rows = ?, events = ?, seconds = ?,
                        frames_per_second = ?, error = ?, stopped_at = ?, finished = ?, mien_version = ?,
                        models = ?, settings = ?, worker = ? WHERE key = ? AND """
        with self.writing():
            if failed:
                self.db.execute(update + "status = 'running' AND run_id = ?", ("failed", *values, key, run_id))
            else:  # complete files are in place, whoever's claim it was
                self.db.execute(update + "status != 'done'", ("done", *values, key))

    def crashed(self, key: str, run_id: str, reason: str) -> bool:
        """A worker died holding ``key``: count it; True when that makes the input failed (the
        second time), False when it goes back in the queue."""
        with self.writing():
            row = self.db.execute("SELECT crashes FROM analyses WHERE key = ? AND run_id = ? AND status = 'running'",
                                  (key, run_id)).fetchone()  # fmt: skip
            if row is None:
                return False  # no longer ours (taken over, or done by another run)
            crashes = row[0] + 1
            failed = crashes >= CRASHES_TO_FAIL
            self.db.execute("UPDATE analyses SET crashes = ?, status = ?, error = ?, worker = NULL, finished = ? "
                            "WHERE key = ?", (crashes, "failed" if failed else "running",
                                              f"{reason} ({crashes} times)" if failed else reason, _now(), key))  # fmt: skip
        return failed

    def error_of(self, key: str) -> str | None:
        row = self.db.execute("SELECT error FROM analyses WHERE key = ?", (key,)).fetchone()
        return row[0] if row else None

    def forget(self, path: str) -> list[str]:
        """Drop the input ``path`` (and its analysis, when no other input shares it); the output
        files, relative to the folder, that nothing refers to any more (the caller deletes them)."""
        with self.writing():
            row = self.db.execute("SELECT key FROM inputs WHERE path = ?", (path,)).fetchone()
            if row is None:
                return []
            self.db.execute("DELETE FROM inputs WHERE path = ?", (path,))
            if self.db.execute("SELECT 1 FROM inputs WHERE key = ?", (row[0],)).fetchone():
                return []  # another input with the same bytes still uses the analysis
            files = self.db.execute("SELECT frames_file, events_file FROM analyses WHERE key = ?", (row[0],)).fetchone()
            self.db.execute("DELETE FROM analyses WHERE key = ?", (row[0],))
        return [name for name in files or () if name]

    def table(self) -> pd.DataFrame:
        return pd.read_sql_query(JOINED + IN_ORDER, self.db)

    def close(self) -> None:
        self.db.close()


class Heartbeat:
    """A thread refreshing a run's heartbeat, with its own connection, until stopped."""

    def __init__(self, folder: Path, run_id: str):
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, args=(folder, run_id), daemon=True, name="mien-heartbeat")
        self._thread.start()

    def _beat(self, folder: Path, run_id: str) -> None:
        catalog = Catalog(folder)
        try:
            while not self._stop.wait(HEARTBEAT_EVERY):
                catalog.beat(run_id)
        finally:
            catalog.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


def read_catalog(folder: Path) -> pd.DataFrame:
    """Every input with its analysis, read through a read-only connection (it changes nothing)."""
    db = _read_only(folder)
    try:
        return pd.read_sql_query(JOINED + IN_ORDER, db)
    finally:
        db.close()


def catalog_records(folder: Path, paths: list[str] | None = None) -> list[dict]:
    """read_catalog's rows as plain dicts (NULL as None), only those of ``paths`` if given, and
    without pandas, whose overhead is most of a one-row read: a service answers one job's status
    many times a second (benchmarks/server_load.py)."""
    db = _read_only(folder)
    try:
        db.row_factory = sqlite3.Row
        where = "" if paths is None else f" WHERE i.path IN ({', '.join('?' * len(paths))})"
        return [dict(row) for row in db.execute(JOINED + where + IN_ORDER, list(paths or ()))]
    finally:
        db.close()


def _read_only(folder: Path) -> sqlite3.Connection:
    if not (folder / CATALOG).is_file():
        raise FileNotFoundError(f"{folder}: no {CATALOG} (not a mien batch results folder)")
    db = sqlite3.connect(f"file:{quote(str((folder / CATALOG).resolve()))}?mode=ro", uri=True, timeout=60)
    try:
        _refuse_old_format(db, folder)
    except BaseException:
        db.close()
        raise
    return db


def _refuse_old_format(db: sqlite3.Connection, folder: Path) -> None:
    tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    if "inputs" in tables and "analyses" not in tables:
        raise ValueError(f"{folder} was written by an earlier mien (catalog format 1); use a new --out folder")


def _flat(settings: dict, prefix: str = "") -> dict:
    """{"options": {"max_faces": 8}} -> {"max_faces": 8}: nested settings by their own names."""
    flat = {}
    for key, value in settings.items():
        if isinstance(value, dict):
            flat.update(_flat(value, f"{prefix}{key}." if key != "options" else prefix))
        else:
            flat[prefix + key] = value
    return flat


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")
