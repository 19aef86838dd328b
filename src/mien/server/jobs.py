"""Jobs: one uploaded input analysed with chosen options, by mien.batch's own machinery.

A job is a row in ``server.sqlite`` (id, upload, options, state) and one input of the batch
results folder ``results/``: a thread calls run_batch on the job's input path, so the catalog's
claims, the worker processes and the Parquet files are exactly those of `mien batch` (results of
jobs with the same bytes and options are analysed once and shared). Each job's input is a hard
link ``inputs/<job id><ext>`` to its upload, so every job is its own catalog input.

States: queued -> running -> done | failed. When the service starts, jobs left queued or running
by a service that died are run again: run_batch takes over the dead run's claim (its process is
gone) and finishes the analysis, or records why it failed; none is left "running".
"""

from __future__ import annotations

import json
import os
import queue
import re
import secrets
import shutil
import sqlite3
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from mien.batch.catalog import Catalog, catalog_records
from mien.batch.worker import read_progress
from mien.pipeline import Options
from mien.server import uploads
from mien.server.uploads import Upload, connect

TABLE = """CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, upload TEXT NOT NULL, input TEXT NOT NULL,
    options TEXT NOT NULL, status TEXT NOT NULL, error TEXT, frames_total INTEGER, created TEXT,
    started TEXT, finished TEXT, resumed INTEGER DEFAULT 0)"""
FINAL = ("done", "failed")


@dataclass
class JobOptions:
    """What a client may choose. Model paths are not among them: a client names no server file."""

    max_faces: int = 20
    max_frames: int | None = None
    smooth: bool | None = None
    mesh: bool = False
    blendshapes: bool = False


class Jobs:
    """The job table and the threads running jobs (``concurrent`` at a time, one worker process each)."""

    def __init__(self, data: Path, concurrent: int = 1):
        self.data = data
        self.results = data / "results"
        Catalog(self.results).close()  # the results folder exists from the start (mien query needs it)
        sweep_leftovers(self.results)
        (data / "inputs").mkdir(parents=True, exist_ok=True)
        with self._db() as db:
            db.execute(TABLE)
            db.execute(uploads.TABLE)
        self._lock = threading.Lock()
        # Daemon threads: stopping the service never waits for a long video; what was running
        # is resumed by the next start, exactly as after a crash.
        self._queue: queue.Queue[str | None] = queue.Queue()
        self._threads = [threading.Thread(target=self._serve, daemon=True, name=f"mien-job-{i}")
                         for i in range(concurrent)]  # fmt: skip
        for thread in self._threads:
            thread.start()
        self.resume()

    def _db(self):
        return _Closing(connect(self.data))

    # -- creating and running ---------------------------------------------------------------

    def create(self, upload: Upload, options: JobOptions) -> dict | None:
        """A new queued job on ``upload``; None when the upload has been deleted meanwhile."""
        job_id = secrets.token_hex(8)
        source = self.data / upload.file
        link = self.data / "inputs" / f"{job_id}{source.suffix}"
        total = upload.frames if options.max_frames is None or upload.frames is None else min(upload.frames, options.max_frames)
        with self._lock:  # an upload is not deleted between its link and its job's row
            try:
                os.link(source, link)
            except FileNotFoundError:
                return None  # deleted since the client was told of it
            except OSError:  # a filesystem without hard links
                shutil.copyfile(source, link)
            with self._db() as db:
                db.execute("INSERT INTO jobs (id, upload, input, options, status, frames_total, created) "
                           "VALUES (?, ?, ?, ?, 'queued', ?, ?)",
                           (job_id, upload.id, str(link.resolve()), json.dumps(asdict(options)), total, _now()))  # fmt: skip
        self._queue.put(job_id)
        return self.get(job_id)

    def resume(self) -> list[str]:
        """Run again every job a dead service left unfinished; their ids."""
        with self._db() as db:
            left = [row[0] for row in db.execute("SELECT id FROM jobs WHERE status IN ('queued', 'running') ORDER BY created")]
            db.execute("UPDATE jobs SET resumed = resumed + 1, status = 'queued' WHERE status IN ('queued', 'running')")
        for job_id in left:
            self._queue.put(job_id)
        return left

    def _serve(self) -> None:
        while (job_id := self._queue.get()) is not None:
            self._run(job_id)

    def _run(self, job_id: str) -> None:
        from mien.batch.run import run_batch

        with self._db() as db:
            taken = db.execute("UPDATE jobs SET status = 'running', started = ? WHERE id = ? AND status = 'queued'",
                               (_now(), job_id)).rowcount  # fmt: skip
            if not taken:
                return  # deleted meanwhile
            path, options = db.execute("SELECT input, options FROM jobs WHERE id = ?", (job_id,)).fetchone()
        error = None
        if not os.path.isfile(path):
            error = "its input file is gone"
        else:
            try:
                report = run_batch([path], self.results, Options(**json.loads(options)), workers=1,
                                   allow_mixed_settings=True)  # fmt: skip
                error = report.failed[0][1] if report.failed else None
            except Exception as failure:  # noqa: BLE001  (recorded against the job, never lost)
                from mien.bug_log import log_bug

                error = log_bug(failure, self.data / "logs")
        with self._db() as db:
            db.execute("UPDATE jobs SET status = ?, error = ?, finished = ? WHERE id = ? AND status = 'running'",
                       ("failed" if error else "done", error, _now(), job_id))  # fmt: skip

    # -- reading ------------------------------------------------------------------------------

    def get(self, job_id: str) -> dict | None:
        job = self._row(job_id)
        return self._public(job, self._analyses([job["input"]])) if job else None

    def list(self) -> list[dict]:
        with self._db() as db:
            db.row_factory = sqlite3.Row
            rows = [dict(row) for row in db.execute("SELECT * FROM jobs ORDER BY created, id")]
        analyses = self._analyses()
        return [self._public(row, analyses) for row in rows]

    def analysis(self, job_id: str) -> dict | None:
        """The job's row of the batch catalog (files, counts, timings), or None before it has one."""
        job = self._row(job_id)
        return self._analyses([job["input"]]).get(job["input"]) if job else None

    def _row(self, job_id: str) -> dict | None:
        with self._db() as db:
            db.row_factory = sqlite3.Row
            row = db.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        return dict(row) if row else None

    def _analyses(self, paths: list[str] | None = None) -> dict[str, dict]:
        """The batch catalog's rows by input path: every one, or those of ``paths``."""
        return {row["path"]: row for row in catalog_records(self.results, paths)}

    def _public(self, job: dict, analyses: dict[str, dict]) -> dict:
        analysis = analyses.get(job["input"], {})
        done = job["status"] == "done"
        frames = analysis.get("frames") if done else None
        speed = _float(analysis.get("frames_per_second")) if done else None
        eta = 0.0 if done else None
        if job["status"] == "running" and analysis.get("status") == "running":
            note = read_progress(self.results, analysis["key"])  # the worker's, while it works
            if note and note["seconds"] > 0:
                frames, speed = note["frames"], round(note["frames"] / note["seconds"], 2)
                if job["frames_total"] and speed:
                    eta = round(max(job["frames_total"] - frames, 0) / speed, 1)
        return {
            "id": job["id"], "upload": job["upload"], "status": job["status"], "error": job["error"],
            "options": json.loads(job["options"]), "created": job["created"], "started": job["started"],
            "finished": job["finished"], "resumed": job["resumed"],
            "progress": {"frames_total": job["frames_total"], "frames_done": _int(frames), "frames_per_second": speed,
                         "eta_s": eta, "analysis": analysis.get("status")},
        }  # fmt: skip

    # -- deleting ------------------------------------------------------------------------------

    def delete(self, job_id: str) -> str:
        """Remove a finished job, its input link and the result files no other job shares:
        "deleted", "missing", or "busy" (queued or running jobs are not deleted)."""
        with self._lock:
            job = self._row(job_id)
            if job is None:
                return "missing"
            if job["status"] not in FINAL:
                return "busy"
            catalog = Catalog(self.results)
            try:
                unused = catalog.forget(job["input"])
            finally:
                catalog.close()
            for name in unused:
                (self.results / name).unlink(missing_ok=True)
            Path(job["input"]).unlink(missing_ok=True)
            with self._db() as db:
                db.execute("DELETE FROM jobs WHERE id = ?", (job_id,))
                # The upload goes with its last job (a client that wants other options uploads again).
                if not db.execute("SELECT 1 FROM jobs WHERE upload = ?", (job["upload"],)).fetchone():
                    uploads.remove(db, self.data, job["upload"])
        return "deleted"

    # -- uploads no job uses -------------------------------------------------------------------

    def uploads(self) -> list[dict]:
        """Every upload (id, kind, size, frames, name, created) with the ids of the jobs on it."""
        with self._db() as db:
            rows = db.execute("SELECT id, kind, size, frames, name, created FROM uploads ORDER BY rowid").fetchall()  # as they came
            users: dict[str, list[str]] = {}
            for job_id, upload_id in db.execute("SELECT id, upload FROM jobs ORDER BY created, id"):
                users.setdefault(upload_id, []).append(job_id)
        fields = ("id", "kind", "size", "frames", "name", "created")
        return [{**dict(zip(fields, row)), "jobs": users.get(row[0], [])} for row in rows]

    def delete_upload(self, upload_id: str) -> tuple[str, list[str]]:
        """Remove an upload no job uses: ("deleted", []), ("missing", []) or ("busy", its jobs)."""
        with self._lock, self._db() as db:
            if not db.execute("SELECT 1 FROM uploads WHERE id = ?", (upload_id,)).fetchone():
                return "missing", []
            users = [row[0] for row in db.execute("SELECT id FROM jobs WHERE upload = ? ORDER BY created", (upload_id,))]
            if users:
                return "busy", users
            uploads.remove(db, self.data, upload_id)
        return "deleted", []

    def sweep_uploads(self, older_than_s: float) -> list[str]:
        """Remove the uploads no job uses that came ``older_than_s`` seconds ago or more; their ids."""
        cutoff = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(time.time() - older_than_s))
        with self._lock, self._db() as db:
            unused = [row[0] for row in db.execute(
                "SELECT id FROM uploads WHERE created <= ? AND id NOT IN (SELECT upload FROM jobs)", (cutoff,))]  # fmt: skip
            for upload_id in unused:
                uploads.remove(db, self.data, upload_id)
        return unused

    def close(self, wait: bool = False) -> None:
        """Stop taking jobs; with ``wait``, finish those queued first (tests, tools)."""
        for _ in self._threads:
            self._queue.put(None)
        if wait:
            for thread in self._threads:
                thread.join()


def sweep_leftovers(results: Path) -> list[Path]:
    """Remove the temporary outputs (``.NAME.<pid>-<random>.part``, ``.KEY.<pid>.tmp``) that the
    workers of a service that died left half-written; a live process's files (another driver on
    the same folder) are left alone. The analyses themselves are redone from their claims."""
    removed = []
    for leftover in [*results.glob("*/.*.part"), *results.glob("progress/.*.tmp")]:
        match = re.search(r"\.(\d+)(?:-[0-9a-f]+\.part|\.tmp)$", leftover.name)
        if match is None or _alive(int(match.group(1))):
            continue
        leftover.unlink(missing_ok=True)
        removed.append(leftover)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's
    return True


class _Closing:
    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self) -> sqlite3.Connection:
        return self.db

    def __exit__(self, *exc) -> None:
        self.db.close()


def _int(value) -> int | None:
    return None if value is None or value != value else int(value)


def _float(value) -> float | None:
    return None if value is None or value != value else round(float(value), 2)


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S")
