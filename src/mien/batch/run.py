"""`mien batch`: every input of a study to its own Parquet file, resumably, on every core or on Ray.

The driver (this module) finds the jobs, skips those the catalog lists as done with the same
content and settings, hands the rest to workers, and records each outcome in the catalog as it
arrives. Workers write the files; only the driver writes the catalog.

Backends:
* ``local`` (default): a pool of worker processes on this machine, one per core, each loading the
  models once.
* ``ray``: one Ray task per input on a Ray cluster (``address``: ``auto``, ``ray://host:port``, or
  None to start a local one). Workers write straight into the results folder, so it — and the
  inputs — must be on a filesystem every node sees (NFS, Lustre, a mounted bucket).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mien.batch.catalog import Catalog
from mien.batch.jobs import Job, jobs_from, settings_hash
from mien.batch.worker import analyze_one
from mien.errors import InputError
from mien.models.registry import MODELS
from mien.pipeline import Options
from mien.version import __version__


@dataclass
class BatchReport:
    total: int = 0
    skipped: int = 0  # done before, same content and settings
    done: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (input, reason)
    frames: int = 0


Progress = Callable[[str, Job | None, dict | None, BatchReport], None]


def batch_settings(options: Options) -> dict:
    """What decides an input's results: the options and the models' hashes (and mien's version)."""
    return {"options": asdict(options), "models": {name: spec.sha256 for name, spec in MODELS.items()},
            "mien_version": __version__}  # fmt: skip


def run_batch(specs: list[str], results: Path, options: Options | None = None, *, workers: int | None = None,
              backend: str = "local", address: str | None = None, retry_failed: bool = False,
              allow_mixed_settings: bool = False, progress: Progress | None = None) -> BatchReport:  # fmt: skip
    """Analyse every input not already done; never stops for one input's failure."""
    if backend not in ("local", "ray"):
        raise ValueError(f"unknown backend {backend!r}: choose local or ray")
    options = options or Options()
    settings = batch_settings(options)
    settings_key = settings_hash(settings)
    catalog = Catalog(results)
    report = BatchReport()
    notify = progress or (lambda *args: None)
    try:
        catalog.claim_settings(settings_key, settings, allow_mixed_settings)
        jobs, errors = jobs_from(specs, settings_key)
        report.total = len(jobs) + len(errors)
        for error in errors:
            report.failed.append((error.input, error.reason))
            notify("unusable", Job(error.input), {"error": error.reason}, report)
        pending = []
        for job in jobs:
            status = catalog.status(job.key)
            if status == "done" or (status == "failed" and not retry_failed):
                report.skipped += 1
                if status == "failed":
                    report.failed.append((job.path, "failed before (use --retry-failed)"))
                notify("skipped", job, None, report)
            else:
                pending.append(job)
        notify("start", None, {"pending": len(pending), "bytes": sum(j.size for j in pending)}, report)
        run = _run_on_ray if backend == "ray" else _run_locally

        def record(job: Job, outcome: dict) -> None:
            catalog.finish(job.key, outcome)
            report.frames += outcome.get("frames") or 0
            if outcome.get("error") and outcome.get("stopped_at") is None:
                report.failed.append((job.path, outcome["error"]))
            else:
                report.done += 1
            notify("finished", job, outcome, report)

        def begin(job: Job, where: str) -> None:
            catalog.start(job, settings_key, where)

        run(pending, asdict(options), results, workers, address, begin, record)
    finally:
        catalog.close()
    return report


def _run_locally(jobs, settings, results, workers, address, begin, record) -> None:
    workers = max(1, min(workers or os.cpu_count() or 1, len(jobs) or 1))
    queue = list(jobs)
    while queue:
        context = multiprocessing.get_context("spawn")  # no forked copies of MediaPipe's threads
        with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
            running = {}
            try:
                while queue or running:
                    while queue and len(running) < workers:
                        job = queue.pop(0)
                        begin(job, "local")
                        running[pool.submit(analyze_one, job, settings, str(results))] = job
                    finished, _ = wait(running, return_when=FIRST_COMPLETED)
                    for future in finished:
                        job = running.pop(future)
                        record(job, _outcome_of(future.result, job))
            except BrokenProcessPool:
                # A worker died (out of memory, a crash in native code): its inputs are recorded
                # as failed, the others go back in the queue, and a fresh pool carries on.
                for future, job in running.items():
                    if future.done() and future.exception() is None:
                        record(job, future.result())
                    else:
                        record(job, {"error": "the worker process died while analysing it"})
                running.clear()


def _run_on_ray(jobs, settings, results, workers, address, begin, record) -> None:
    try:
        import ray
    except ModuleNotFoundError:
        raise ValueError("the ray backend needs Ray: pip install 'mien[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(address=address, include_dashboard=False, log_to_driver=False, logging_level="ERROR")
    try:
        remote = ray.remote(num_cpus=1, max_retries=1)(analyze_one)
        running = {}
        for job in jobs:
            begin(job, "ray")
            running[remote.remote(job, settings, str(results))] = job
        while running:
            finished, _ = ray.wait(list(running), num_returns=1)
            job = running.pop(finished[0])
            record(job, _outcome_of(lambda: ray.get(finished[0]), job))
    finally:
        if started_here:
            ray.shutdown()


def _outcome_of(get: Callable[[], dict], job: Job) -> dict:
    try:
        return get()
    except BrokenProcessPool:
        raise
    except InputError as error:
        return {"error": error.reason}
    except Exception as error:  # one input's failure must not stop the batch
        return {"error": f"internal error ({type(error).__name__}: {error}); please report it"}
