"""What `mien analyze` shows while it works: a Rich progress bar on a terminal (the input, its
frames, frames/s and time left, and the inputs overall), JSON lines for logs (``--json``), or
nothing (not a terminal, or ``--quiet``): a log file must not fill with redrawn bars.
"""

from __future__ import annotations

import contextvars
import json
import sys
import time
from contextlib import contextmanager
from pathlib import Path

from mien.frame import Frame
from mien.io.sources import Input, expected_frames

JSON_EVERY_S = 1.0  # at most one JSON progress line a second per input, plus one at its end


def mode_for(quiet: bool, as_json: bool) -> str:
    """"json", "bar" (stderr is a terminal) or "off"."""
    if as_json:
        return "json"
    if quiet or not sys.stderr.isatty():
        return "off"
    return "bar"


class AnalyzeProgress:
    """Fed each analysed frame (``frame``) and each input's outcome (``finished``).

    ``say`` prints a line above the bar (or plainly when there is none), so warnings and the
    bar never tear each other."""

    def __init__(self, mode: str, inputs: list[Input], total: int, max_frames: int | None = None):
        """inputs: what will be read; total: inputs overall, unusable ones included."""
        self.mode = mode
        self.total = total
        self.inputs = {source.locator: source for source in inputs}
        self.max_frames = max_frames
        self.current: str | None = None
        self.frames = 0
        self.expected: int | None = None
        self.started = self.last_json = time.monotonic()
        self.done = 0
        self._bar = None
        if mode == "bar":
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[speed]}"), TimeRemainingColumn(),
                                 console=Console(stderr=True), transient=True)  # fmt: skip
            self._overall = self._bar.add_task("inputs", total=total or None, speed="")
            self._task = None
            self._bar.start()

    def say(self, message: str) -> None:
        if self._bar is not None:
            self._bar.console.print(message, markup=False, highlight=False, soft_wrap=True)
        else:
            print(message, file=sys.stderr, flush=True)

    def frame(self, frame: Frame) -> None:
        if frame.source != self.current:
            self._start(frame.source)
        self.frames += 1
        now = time.monotonic()
        if self._bar is not None:
            self._bar.update(self._task, completed=self.frames, speed=f"{self._speed(now):.0f} frames/s")
        elif self.mode == "json" and now - self.last_json >= JSON_EVERY_S:
            self.last_json = now
            self._json("progress", now)

    def finished(self, locator: str) -> None:
        """An input is over (analysed, stopped or failed)."""
        self.done += 1
        if self.mode == "json" and locator == self.current:
            self._json("input_done", time.monotonic())
        if self._bar is not None:
            self._bar.update(self._overall, completed=self.done)
            if self._task is not None:
                self._bar.remove_task(self._task)
                self._task = None
        self.current = None

    def close(self) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def _start(self, locator: str) -> None:
        self.current, self.frames = locator, 0
        self.started = self.last_json = time.monotonic()
        source = self.inputs.get(locator)
        # Reading the header costs a file open: only where the count is shown (not per crop of a
        # dataset analysed with the progress off).
        self.expected = expected_frames(source, self.max_frames) if source and self.mode != "off" else None
        if self._bar is not None:
            if self._task is not None:
                self._bar.remove_task(self._task)
            self._task = self._bar.add_task(Path(locator).name or locator, total=self.expected, speed="")

    def _speed(self, now: float) -> float:
        return self.frames / (now - self.started) if now > self.started else 0.0

    def _json(self, event: str, now: float) -> None:
        speed = self._speed(now)
        left = (self.expected - self.frames) / speed if self.expected and speed else None
        print(json.dumps({"event": event, "input": self.current, "frames": self.frames,
                          "expected_frames": self.expected, "frames_per_second": round(speed, 1),
                          "eta_s": round(max(left, 0.0), 1) if left is not None else None,
                          "inputs_done": self.done, "inputs": self.total}), flush=True)  # fmt: skip


class BatchBar:
    """`mien batch` on a terminal: one bar over the study's inputs (done before, analysed now,
    failed), frames/s over the run, time left from the bytes still to analyse. Same calling
    convention as mien.batch.progress.ProgressPrinter; errors print above the bar."""

    def __init__(self):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TextColumn("{task.fields[speed]}"), TimeRemainingColumn(),
                             console=Console(stderr=True), transient=True)  # fmt: skip
        self._task = None
        self.started = time.monotonic()

    def __call__(self, what: str, job, info: dict | None, report) -> None:
        if what == "start":
            self.started = time.monotonic()
            self._task = self._bar.add_task("inputs", total=report.total or None, speed="")
            self._bar.start()
        if info and info.get("error") and not info.get("stopped_at") and job is not None:
            self._bar.console.print(f"mien: error: {job.path}: {info['error']}", markup=False, highlight=False)
        if self._task is None:
            return
        elapsed = time.monotonic() - self.started
        counted = report.done + report.skipped + len(report.failed) + getattr(report, "elsewhere", 0)
        speed = f"{report.frames / elapsed:.0f} frames/s" if elapsed and report.frames else ""
        self._bar.update(self._task, completed=counted, speed=speed)

    def close(self) -> None:
        self._bar.stop()


# How `tracked` reports, set by the train and evaluate commands (`tracking_as`): None for a bar on a
# terminal and nothing otherwise, "json" for JSON lines on stderr (stdout carries their results),
# "off" for nothing.
_TRACK_MODE: contextvars.ContextVar[str | None] = contextvars.ContextVar("mien_track_mode", default=None)


@contextmanager
def tracking_as(mode: str | None):
    token = _TRACK_MODE.set(mode)
    try:
        yield
    finally:
        _TRACK_MODE.reset(token)


def tracked(items, total: int | None, label: str):
    """``items`` as they come, with a Rich bar on a terminal (training epochs, face alignment,
    evaluation), JSON lines on stderr under ``tracking_as("json")``, else nothing."""
    mode = _TRACK_MODE.get()
    if mode == "json":
        yield from _json_tracked(items, total, label)
        return
    if mode == "off" or not sys.stderr.isatty():
        yield from items
        return
    from rich.console import Console
    from rich.progress import track

    yield from track(items, total=total, description=label, console=Console(stderr=True), transient=True)


def _json_tracked(items, total: int | None, label: str):
    started = last = time.monotonic()
    done = 0

    def line(event: str) -> None:
        seconds = time.monotonic() - started
        print(json.dumps({"event": event, "task": label, "done": done, "total": total,
                          "seconds": round(seconds, 2)}), file=sys.stderr, flush=True)  # fmt: skip

    for item in items:
        yield item
        done += 1
        if time.monotonic() - last >= JSON_EVERY_S:
            last = time.monotonic()
            line("progress")
    line("task_done")
