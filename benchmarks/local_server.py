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
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def mien_serve(*flags: str) -> Iterator[str]:
    """``mien serve FLAGS`` on 127.0.0.1; yields its base URL (``http://127.0.0.1:PORT``).
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
            yield url
        finally:
            os.killpg(server.pid, signal.SIGKILL)  # the server and its job workers
            server.wait()
