"""The results folder's catalog: every input, its settings, model versions, status, timings, error.

SQLite (in the standard library), written only by the batch driver, one transaction per change, so
a run killed at any moment leaves it consistent. An input is done only once its output files have
been renamed into place *and* its row says so; anything else is run again.
"""

from __future__ import annotations

import json
import sqlite3
import time
from pathlib import Path

import pandas as pd

from mien.batch.jobs import Job

CATALOG = "catalog.sqlite"
COLUMNS = """
    key TEXT PRIMARY KEY, path TEXT NOT NULL, content_hash TEXT, settings_hash TEXT, status TEXT,
    frames_file TEXT, events_file TEXT, frames INTEGER, rows INTEGER, events INTEGER,
    seconds REAL, frames_per_second REAL, error TEXT, stopped_at INTEGER, attempts INTEGER,
    started TEXT, finished TEXT, worker TEXT, mien_version TEXT, models TEXT, settings TEXT, metadata TEXT
"""


class SettingsMismatch(ValueError):
    pass


class Catalog:
    def __init__(self, folder: Path):
        folder.mkdir(parents=True, exist_ok=True)
        self.folder = folder
        self.db = sqlite3.connect(folder / CATALOG, timeout=30)
        self.db.execute("PRAGMA journal_mode=WAL")
        with self.db:
            self.db.execute(f"CREATE TABLE IF NOT EXISTS inputs ({COLUMNS})")
            self.db.execute("CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT)")

    def claim_settings(self, settings_key: str, settings: dict, allow_mixed: bool) -> None:
        """Record the folder's settings on first use; refuse others unless mixing is allowed."""
        row = self.db.execute("SELECT value FROM meta WHERE name = 'settings_hash'").fetchone()
        if row is None:
            with self.db:
                self.db.execute("INSERT INTO meta VALUES ('settings_hash', ?), ('settings', ?)",
                                (settings_key, json.dumps(settings, sort_keys=True)))  # fmt: skip
        elif row[0] != settings_key and not allow_mixed:
            earlier = _flat(json.loads(self.db.execute("SELECT value FROM meta WHERE name = 'settings'").fetchone()[0]))
            now = _flat(settings)
            changed = sorted(k for k in set(earlier) | set(now) if earlier.get(k) != now.get(k))
            raise SettingsMismatch(f"{self.folder} holds results made with other settings ({', '.join(changed)}); "
                                   "use another --out, or --allow-mixed-settings to keep both")  # fmt: skip

    def status(self, key: str) -> str | None:
        row = self.db.execute("SELECT status, frames_file FROM inputs WHERE key = ?", (key,)).fetchone()
        if row is None:
            return None
        if row[0] == "done" and not (self.folder / row[1]).is_file():
            return "missing"  # its output was deleted: do it again
        return row[0]

    def start(self, job: Job, settings_key: str, worker: str) -> None:
        frames_file, events_file = job.outputs()
        with self.db:
            self.db.execute(
                """INSERT INTO inputs (key, path, content_hash, settings_hash, status, frames_file, events_file,
                                       attempts, started, worker, metadata)
                   VALUES (?, ?, ?, ?, 'running', ?, ?, 1, ?, ?, ?)
                   ON CONFLICT (key) DO UPDATE SET status = 'running', path = excluded.path,
                       attempts = attempts + 1, started = excluded.started, worker = excluded.worker,
                       error = NULL, stopped_at = NULL, metadata = excluded.metadata""",
                (job.key, job.path, job.content_hash, settings_key, frames_file, events_file, _now(), worker,
                 json.dumps(job.metadata, sort_keys=True)),
            )  # fmt: skip

    def finish(self, key: str, outcome: dict) -> None:
        status = "failed" if outcome.get("error") and outcome.get("stopped_at") is None else "done"
        with self.db:
            self.db.execute(
                """UPDATE inputs SET status = ?, frames = ?, rows = ?, events = ?, seconds = ?,
                       frames_per_second = ?, error = ?, stopped_at = ?, finished = ?, mien_version = ?,
                       models = ?, settings = ? WHERE key = ?""",
                (status, outcome.get("frames"), outcome.get("rows"), outcome.get("events"), outcome.get("seconds"),
                 outcome.get("frames_per_second"), outcome.get("error"), outcome.get("stopped_at"), _now(),
                 outcome.get("mien_version"), outcome.get("models"), outcome.get("settings"), key),
            )  # fmt: skip

    def table(self) -> pd.DataFrame:
        return pd.read_sql_query("SELECT * FROM inputs ORDER BY path", self.db)

    def close(self) -> None:
        self.db.close()


def read_catalog(folder: Path) -> pd.DataFrame:
    if not (folder / CATALOG).is_file():
        raise FileNotFoundError(f"{folder}: no {CATALOG} (not a mien batch results folder)")
    catalog = Catalog(folder)
    try:
        return catalog.table()
    finally:
        catalog.close()


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
