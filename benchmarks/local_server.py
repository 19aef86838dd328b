"""A real `mien serve` on loopback for the service benchmarks: started in a process of its own on a
free port with a fresh data folder, waited for, and killed (with its job workers) at the end."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str  # http://127.0.0.1:PORT
    pid: int

    def cpu_seconds(self) -> float | None:
        """CPU time the server process has used (its threads, not its job workers); None off Linux."""
        try:
            fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            return None
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


@contextmanager
def mien_serve(*flags: str) -> Iterator[Server]:
    """``mien serve FLAGS`` on 127.0.0.1, a fresh data folder and a free port; yields the Server.
    uvicorn's log goes to a file (a full pipe would stall the server); shown if it fails to start."""
    with tempfile.TemporaryDirectory(prefix="mien-bench-") as tmp:
        port = free_port()
        log_path = Path(tmp) / "server.log"
        with open(log_path, "wb") as log:
            server = subprocess.Popen([sys.executable, "-m", "mien.cli", "serve", "--port", str(port),
                                       "--data", str(Path(tmp) / "data"), *flags],
                                      stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            give_up = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{url}/health").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None or time.monotonic() > give_up:
                    raise SystemExit(f"mien serve did not start:\n{log_path.read_text()}")
                time.sleep(0.1)
            yield Server(url, server.pid)
        finally:
            os.killpg(server.pid, signal.SIGKILL)  # the server and its job workers
            server.wait()
