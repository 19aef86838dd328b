"""A real `mien serve` killed with SIGKILL in the middle of a job, started again on the same data
folder, stopped with SIGTERM mid-job and started once more: the job is taken up each time and
finishes; nothing is lost or left "running"."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

httpx = pytest.importorskip("httpx", reason="the test talks HTTP with httpx (the test extra)")

from mien.batch.catalog import read_catalog  # noqa: E402


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _start(data: Path, port: int) -> subprocess.Popen:
    """`mien serve` in a process of its own; its log in ``data``'s parent (a full pipe would stall it)."""
    with open(data.parent / "server.log", "ab") as log:
        return subprocess.Popen([sys.executable, "-m", "mien.cli", "serve", "--port", str(port), "--data", str(data)],
                                stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)  # fmt: skip


def _until(what, why: str, deadline_s: float = 300):
    """Poll ``what`` until it gives something true (the deadline only stops a broken run hanging)."""
    give_up = time.monotonic() + deadline_s
    while time.monotonic() < give_up:
        try:
            found = what()
        except (httpx.TransportError, FileNotFoundError):
            found = None
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"gave up waiting: {why}")


def test_a_job_cut_off_by_a_killed_server_is_finished_after_a_restart(media, tmp_path):
    data, port = tmp_path / "data", _free_port()
    url = f"http://127.0.0.1:{port}"
    server = _start(data, port)
    try:
        _until(lambda: httpx.get(f"{url}/health").status_code == 200, "the server to start")
        with open(media("face_video"), "rb") as f:  # 19.7 s: long enough to be cut off mid-way
            upload = httpx.post(f"{url}/uploads", files={"file": ("session.mp4", f, "video/mp4")}).json()
        job = httpx.post(f"{url}/jobs", json={"upload": upload["id"]}).json()

        def midway() -> dict | None:
            progress = httpx.get(f"{url}/jobs/{job['id']}").json()["progress"]
            return progress if progress["frames_done"] else None

        # The worker's progress while it works: frames done of the total, speed, time left.
        progress = _until(midway, "the job to report frames done while running")
        assert 0 < progress["frames_done"] < progress["frames_total"] and progress["analysis"] == "running"
        assert progress["frames_per_second"] > 0 and progress["eta_s"] > 0
        server.send_signal(signal.SIGKILL)  # the server alone: its worker must die with it
        server.wait()
        assert read_catalog(data / "results").status[0] == "running"  # really cut off mid-way

        server = _start(data, port)
        _until(lambda: httpx.get(f"{url}/health").status_code == 200, "the server to start again")
        # Taken up again; now stopped politely (SIGTERM, as systemd or docker stop would): the
        # stop does not wait for the video, and the next start takes the job up once more.
        _until(lambda: read_catalog(data / "results").attempts[0] == 2, "the job to be taken up again")
        server.send_signal(signal.SIGTERM)
        # uvicorn shuts down, then re-raises the signal so the exit status tells what stopped it.
        assert server.wait(timeout=120) == -signal.SIGTERM, (tmp_path / "server.log").read_text()  # a hang guard
        server = _start(data, port)
        _until(lambda: httpx.get(f"{url}/health").status_code == 200, "the server to start a third time")
        final = _until(lambda: (j := httpx.get(f"{url}/jobs/{job['id']}").json())["status"] in ("done", "failed") and j,
                       "the resumed job to finish")  # fmt: skip
        assert final["status"] == "done", final
        assert final["resumed"] == 2 and final["progress"]["frames_done"] == final["progress"]["frames_total"]
        catalog = read_catalog(data / "results")
        assert list(catalog.status) == ["done"] and catalog.attempts[0] == 3  # one analysis, taken up twice
        assert not list((data / "results").rglob("*.part"))
    finally:
        try:
            os.killpg(server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        server.wait()
