"""`mien batch`: every input of a study to its own Parquet file, resumably, on every core or on Ray.

The driver (this module) finds the jobs, records the inputs in the catalog, claims each analysis
before handing it to a worker, and records each outcome as it arrives. Workers write the files;
only drivers write the catalog. Any number of drivers may share one results folder: an analysis
claimed by a live run is left to it (and waited for, so every driver's report is whole), one
claimed by a dead run is taken over (see catalog.py).

Backends:
* ``local`` (default): worker processes on this machine, one per core, each loading the models
  once and holding one input at a time (see pool.py).
* ``ray``: one Ray task per input on a Ray cluster (``address``: ``auto``, ``ray://host:port``, or
  None to start a local one). Workers write straight into the results folder, so it — and the
  inputs — must be on a filesystem every node sees (NFS, Lustre, a mounted bucket).

A worker that dies is recorded against the input it held; that input is tried again, and failed
only when it has broken a worker twice. The inputs of the other workers are not disturbed.
"""

from __future__ import annotations

import os
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mien.batch.catalog import Catalog, Heartbeat
from mien.batch.jobs import Job, jobs_from, settings_hash
from mien.interrupts import sigterm_as_interrupt
from mien.models.registry import MODELS
from mien.pipeline import Options
from mien.version import __version__

RECHECK_EVERY = 2.0  # seconds between looks at analyses another live run is doing


@dataclass
class BatchReport:
    total: int = 0  # inputs (paths), usable or not
    skipped: int = 0  # done before, same content and settings
    done: int = 0  # analysed by this run (inputs with the same content share one analysis)
    elsewhere: int = 0  # analysed meanwhile by another run on the same folder
    failed: list[tuple[str, str]] = field(default_factory=list)  # (input, reason)
    frames: int = 0
    run_id: str = ""
    released: int = 0  # analyses left unfinished when this run was interrupted


Progress = Callable[[str, Job | None, dict | None, BatchReport], None]


def batch_settings(options: Options) -> dict:
    """What decides an input's results: the options and the models' hashes (and mien's version)."""
    return {"options": asdict(options), "models": {name: spec.sha256 for name, spec in MODELS.items()},
            "mien_version": __version__}  # fmt: skip


def run_batch(specs: list[str], results: Path, options: Options | None = None, *, workers: int | None = None,
              backend: str = "local", address: str | None = None, retry_failed: bool = False,
              allow_mixed_settings: bool = False, progress: Progress | None = None) -> BatchReport:  # fmt: skip
    """Analyse every input not already done; never stops for one input's failure.

    On Ctrl-C or SIGTERM the workers are stopped, this run's unfinished analyses are handed back
    (the next run, or another driver, does them) and KeyboardInterrupt is raised again with the
    report in ``error.report``."""
    if backend not in ("local", "ray"):
        raise ValueError(f"unknown backend {backend!r}: choose local or ray")
    options = options or Options()
    settings = batch_settings(options)
    settings_key = settings_hash(settings)
    catalog = Catalog(results)
    report = BatchReport(run_id=f"{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}-{secrets.token_hex(3)}")
    notify = progress or (lambda *args: None)
    try:
        catalog.claim_settings(settings_key, settings, allow_mixed_settings)
        jobs, errors = jobs_from(specs, settings_key)
        catalog.record_inputs(jobs)
        report.total = len(jobs) + len(errors)
        for error in errors:
            report.failed.append((error.input, error.reason))
            notify("unusable", Job(error.input), {"error": error.reason}, report)
        catalog.begin_run(report.run_id)
        heartbeat = Heartbeat(results, report.run_id)
        try:
            with sigterm_as_interrupt():
                _drive(jobs, catalog, settings_key, asdict(options), results, workers, backend, address,
                       retry_failed, report, notify)  # fmt: skip
        except KeyboardInterrupt as stop:
            stop.report = report
            raise
        finally:
            heartbeat.stop()
            report.released = catalog.end_run(report.run_id)
    finally:
        catalog.close()
    return report


def _drive(jobs, catalog, settings_key, settings, results, workers, backend, address, retry_failed, report,
           notify) -> None:  # fmt: skip
    """Claim, hand out and record every analysis; wait for those other runs hold."""
    by_key: dict[str, list[Job]] = {}
    for job in jobs:  # files with the same bytes share one analysis
        by_key.setdefault(job.key, []).append(job)
    queue: deque[Job] = deque()
    for key, inputs in by_key.items():  # what was settled before this run
        state = catalog.state(key)
        if state == "done" or (state == "failed" and not retry_failed):
            report.skipped += len(inputs)
            for each in inputs:
                if state == "failed":
                    report.failed.append((each.path, "failed before (use --retry-failed)"))
                notify("skipped", each, None, report)
        else:
            queue.append(inputs[0])
    notify("start", None, {"pending": sum(len(by_key[j.key]) for j in queue), "bytes": sum(j.size for j in queue)},
           report)  # fmt: skip
    held: list[Job] = []
    runner = _Ray(results, settings, address) if backend == "ray" else _Local(results, settings, workers, len(queue))
    try:
        while queue or held or runner.busy:
            while queue and runner.has_room():
                job = queue.popleft()
                state = catalog.claim(job, settings_key, report.run_id, retry_failed)
                if state == "claimed":
                    catalog.assigned(job.key, report.run_id, runner.give(job))
                elif state == "held":
                    held.append(job)
                else:  # settled meanwhile by another run on this folder
                    reason = catalog.error_of(job.key) if state == "failed" else None
                    for each in by_key[job.key]:
                        if reason:
                            report.failed.append((each.path, reason))
                        else:
                            report.elsewhere += 1
                        notify("finished" if reason else "skipped", each, {"error": reason} if reason else None, report)
            for job, outcome in runner.wait(RECHECK_EVERY if held else None):
                _record(job, outcome, by_key[job.key], catalog, report, queue, notify)
            if held and not queue:
                queue.extend(held)  # look again: done by the other run, or its claim now stale
                held.clear()
    finally:
        runner.close()


def _record(job, outcome, inputs, catalog, report, queue, notify) -> None:
    if "crashed" in outcome:
        if not catalog.crashed(job.key, report.run_id, outcome["crashed"]):
            queue.append(job)  # once may be bad luck (another process's memory): try again
            return
        outcome = {"error": catalog.error_of(job.key) or outcome["crashed"]}
    else:
        catalog.finish(job.key, report.run_id, outcome)
    report.frames += outcome.get("frames") or 0
    for each in inputs:
        if outcome.get("error") and outcome.get("stopped_at") is None:
            report.failed.append((each.path, outcome["error"]))
        else:
            report.done += 1
        notify("finished", each, outcome, report)


class _Local:
    """The local backend: a WorkerPool started on first use."""

    def __init__(self, results: Path, settings: dict, workers: int | None, jobs: int):
        self.size = max(1, min(workers or os.cpu_count() or 1, jobs or 1))
        self.results, self.settings = str(results), settings
        self.pool = None

    @property
    def busy(self) -> bool:
        return self.pool is not None and self.pool.busy

    def has_room(self) -> bool:
        return self.pool is None or self.pool.idle() is not None

    def give(self, job: Job) -> str:
        from mien.batch.pool import WorkerPool

        if self.pool is None:
            self.pool = WorkerPool(self.size, self.settings, self.results)
        return self.pool.give(self.pool.idle(), job)

    def wait(self, timeout: float | None):
        if self.pool is None:
            time.sleep(timeout or 0)
            return []
        return self.pool.wait(timeout)

    def close(self) -> None:
        if self.pool is None:
            return
        self.pool.close(now=self.pool.busy)  # busy only when interrupted: their inputs are handed back


class _Ray:
    """The Ray backend: a task per input; Ray retries a task once when its worker dies."""

    def __init__(self, results: Path, settings: dict, address: str | None):
        try:
            import ray
        except ModuleNotFoundError:
            raise ValueError("the ray backend needs Ray: pip install 'mien[ray]'") from None
        from mien.batch.worker import outcome_of

        self.ray = ray
        self.started_here = not ray.is_initialized()
        if self.started_here:
            ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
        self.remote = ray.remote(num_cpus=1, max_retries=1)(outcome_of)
        self.results, self.settings = str(results), settings
        self.running: dict = {}

    @property
    def busy(self) -> bool:
        return bool(self.running)

    def has_room(self) -> bool:
        return True  # Ray queues the tasks itself

    def give(self, job: Job) -> str:
        self.running[self.remote.remote(job, self.settings, self.results)] = job
        return "ray"

    def wait(self, timeout: float | None):
        if not self.running:
            time.sleep(timeout or 0)
            return []
        finished, _ = self.ray.wait(list(self.running), num_returns=1, timeout=timeout)
        arrived = []
        for reference in finished:
            job = self.running.pop(reference)
            try:
                arrived.append((job, self.ray.get(reference)))
            except self.ray.exceptions.WorkerCrashedError:  # after Ray's own retry: twice
                arrived.append((job, {"error": "the worker process died while analysing it (2 times)"}))
            except Exception as error:
                from mien.bug_log import log_bug

                arrived.append((job, {"error": log_bug(error)}))
        return arrived

    def close(self) -> None:
        for reference in self.running:
            self.ray.cancel(reference, force=True)
        if self.started_here:
            self.ray.shutdown()
