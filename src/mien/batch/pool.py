"""The local backend's worker processes: each holds at most one input at a time, so when one dies
(the OOM killer, a crash in native code, SIGKILL) the driver knows exactly which input it held;
the others carry on untouched and a fresh process takes the dead one's place.

Workers are spawned (no forked copies of MediaPipe's threads), ignore Ctrl-C (the driver decides)
and end by themselves when the driver is gone (see worker.serve).
"""

from __future__ import annotations

import multiprocessing
import signal
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from multiprocessing.connection import wait

from mien.batch.jobs import Job
from mien.batch.worker import serve


@dataclass
class _Worker:
    process: multiprocessing.process.BaseProcess
    jobs: object  # our end of a duplex pipe: jobs out, outcomes back
    lifeline: object  # write end of the pipe the worker watches; ours alone
    job: Job | None = None

    @property
    def name(self) -> str:
        return f"{socket.gethostname()}:{self.process.pid}"


class WorkerPool:
    def __init__(self, size: int, settings: dict, results: str):
        self._context = multiprocessing.get_context("spawn")
        self._settings = settings
        self._results = results
        self.workers = [self._start() for _ in range(size)]

    def _start(self) -> _Worker:
        ours, theirs = self._context.Pipe()
        watched, held = self._context.Pipe(duplex=False)
        process = self._context.Process(target=serve, args=(theirs, watched), daemon=True, name="mien-worker")
        process.start()
        theirs.close()
        watched.close()
        return _Worker(process, ours, held)

    def idle(self) -> _Worker | None:
        return next((w for w in self.workers if w.job is None), None)

    @property
    def busy(self) -> bool:
        return any(w.job is not None for w in self.workers)

    def give(self, worker: _Worker, job: Job) -> str:
        """Hand ``job`` to an idle worker; its name (host:pid) for the catalog."""
        worker.job = job
        worker.jobs.send((job, self._settings, self._results))
        return worker.name

    def wait(self, timeout: float | None) -> list[tuple[Job, dict]]:
        """Outcomes that arrived within ``timeout`` seconds. A worker's death is an outcome too:
        {"crashed": reason}, and that worker is replaced."""
        busy = [w for w in self.workers if w.job is not None]
        if not busy:
            time.sleep(timeout or 0)
            return []
        wait([w.jobs for w in busy] + [w.process.sentinel for w in busy], timeout)
        arrived = []
        for worker in busy:
            outcome = None
            if worker.jobs.poll():
                try:
                    outcome = worker.jobs.recv()
                except (EOFError, OSError):
                    outcome = None  # it died while answering
            if outcome is None and worker.process.is_alive():
                continue
            if outcome is None:
                outcome = {"crashed": f"the worker process died while analysing it ({_death(worker.process)})"}
                self._replace(worker)
            arrived.append((worker.job, outcome))
            worker.job = None
        return arrived

    def _replace(self, dead: _Worker) -> None:
        dead.process.join()
        dead.jobs.close()
        dead.lifeline.close()
        _remove_leftovers(self._results, dead.process.pid)
        self.workers[self.workers.index(dead)] = self._start()

    def close(self, now: bool = False) -> None:
        """End every worker: after its current input, or ``now`` (their inputs are left unfinished)."""
        for worker in self.workers:
            if now:
                worker.process.terminate()
            else:
                try:
                    worker.jobs.send(None)
                except OSError:
                    pass
        for worker in self.workers:
            worker.process.join()
            worker.jobs.close()
            worker.lifeline.close()
            if now:
                _remove_leftovers(self._results, worker.process.pid)


def _remove_leftovers(results: str, pid: int) -> None:
    """A worker killed mid-input leaves its temporary files (named by its pid): garbage."""
    for leftover in [*Path(results).glob(f"*/.*.{pid}-*.part"), *Path(results).glob(f"progress/.*.{pid}.tmp")]:
        leftover.unlink(missing_ok=True)


def _death(process) -> str:
    code = process.exitcode
    if code is not None and code < 0:
        try:
            return f"killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"killed by signal {-code}"
    return f"exit code {code}"
