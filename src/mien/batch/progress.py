"""What `mien batch` prints while it works: for people, for logs (JSON lines), or nothing but errors."""

from __future__ import annotations

import json
import sys
import time

from mien.batch.jobs import Job
from mien.batch.run import BatchReport


class ProgressPrinter:
    """Callable given to run_batch. mode: "human", "json" or "quiet".

    Human lines show inputs done/total, frames per second over the run and an ETA from the bytes
    still to analyse (file size is the best guess of a video's length before it is opened)."""

    def __init__(self, mode: str = "human", stream=None):
        self.mode = mode
        self.stream = stream or (sys.stdout if mode == "json" else sys.stderr)
        self.started = time.monotonic()
        self.bytes_total = 0
        self.bytes_done = 0

    def __call__(self, what: str, job: Job | None, info: dict | None, report: BatchReport) -> None:
        if what == "start":
            self.started = time.monotonic()
            self.bytes_total = info["bytes"]
        if what == "finished" and job is not None:
            self.bytes_done += job.size
        elapsed = time.monotonic() - self.started
        if self.mode == "json":
            self._json(what, job, info, report, elapsed)
        elif self.mode == "human":
            self._human(what, job, info, report, elapsed)
        elif info and info.get("error") and not info.get("stopped_at"):
            print(f"mien: error: {job.path}: {info['error']}", file=self.stream, flush=True)

    def _json(self, what, job, info, report, elapsed) -> None:
        record = {"event": what, "input": job.path if job else None, "done": report.done, "skipped": report.skipped,
                  "elsewhere": report.elsewhere,
                  "failed": len(report.failed), "total": report.total, "elapsed_s": round(elapsed, 2),
                  "frames_per_second": round(report.frames / elapsed, 1) if elapsed else 0.0, "eta_s": self._eta(elapsed)}  # fmt: skip
        if info:
            record.update({k: v for k, v in info.items() if k in ("error", "frames", "rows", "events", "seconds", "pending")})
        print(json.dumps(record), file=self.stream, flush=True)

    def _human(self, what, job, info, report, elapsed) -> None:
        if what == "start":
            print(f"{report.total} inputs: {report.skipped} done before, {info['pending']} to analyse",
                  file=self.stream, flush=True)  # fmt: skip
            return
        if what not in ("finished", "unusable"):
            return
        counted = report.done + report.skipped + report.elsewhere + len(report.failed)
        speed = report.frames / elapsed if elapsed else 0.0
        eta = self._eta(elapsed)
        state = f"error: {info['error']}" if info.get("error") and not info.get("stopped_at") else f"{info.get('frames', 0)} frames"
        print(f"[{counted}/{report.total}] {job.path}: {state}   {speed:.0f} frames/s"
              + (f"   ETA {_duration(eta)}" if eta is not None else ""), file=self.stream, flush=True)  # fmt: skip

    def _eta(self, elapsed: float) -> float | None:
        if not self.bytes_done or self.bytes_done >= self.bytes_total:
            return None
        return round(elapsed * (self.bytes_total - self.bytes_done) / self.bytes_done, 1)


def _duration(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"
