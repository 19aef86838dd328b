"""A bounded load test of `mien serve` on loopback: many clients polling job status and a few
uploading at once, for a fixed time, while the service analyses a video in the background.

    python benchmarks/server_load.py                      # 50 pollers, 5 uploaders, 60 s
    python benchmarks/server_load.py --seconds 20 --pollers 10 --uploaders 2 --no-analysis

A real `mien serve` (uvicorn, one process) on 127.0.0.1 with a fresh data folder. Clients are
asyncio tasks on one httpx connection pool in this process, each sending its next request as soon
as the last is answered:

- pollers: ``GET /jobs/{id}`` of the job being analysed (its progress is read from the batch
  worker's note while it runs);
- uploaders: ``POST /uploads`` of the `single_face_video` sample (208 kB, streamed, decoded before
  it is kept), then ``DELETE /uploads/{id}`` so the folder does not grow.

Unless ``--no-analysis``, the service analyses the `face_video` sample (472 frames) the whole time:
a new job, with one frame less each time so that it is a new analysis and not the cached one, as
soon as the last is done. That is the service's usual state and its worst: the worker takes a
core. Prints requests, errors, requests/s and p50 / p95 / max latency (ms) per kind of request.
An error is an exception or any status but the expected one (429 and 507 included). Latencies
include this client's own time on the same cores.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import time
from collections import defaultdict
from pathlib import Path

import httpx
import numpy as np
from local_server import mien_serve

from mien.samples import sample

# A connection idle this long is not reused: under uvicorn's 5 s keep-alive. At 5 s (httpx's default)
# the client now and then sends a request on a connection the server is closing that instant, and
# gets a ReadError (browsers retry such a request; httpx does not). --keepalive 5 shows it.
KEEPALIVE_S = 2.0


class Tally:
    """Latencies (s) and errors per kind of request."""

    def __init__(self):
        self.seconds: dict[str, list[float]] = defaultdict(list)
        self.errors: dict[str, list[str]] = defaultdict(list)

    async def timed(self, kind: str, expected: int, send) -> httpx.Response | None:
        started = time.perf_counter()
        try:
            answer = await send()
        except httpx.HTTPError as error:
            self.errors[kind].append(f"{type(error).__name__}: {error!r} {error.__context__!r}")
            return None
        self.seconds[kind].append(time.perf_counter() - started)
        if answer.status_code != expected:
            self.errors[kind].append(f"{answer.status_code}: {answer.text[:200]}")
            return None
        return answer

    def report(self, wall: float) -> None:
        print(f"{'request':22s} {'count':>7s} {'errors':>6s} {'req/s':>7s} {'p50 ms':>8s} {'p95 ms':>8s} {'max ms':>8s}")
        for kind in sorted(set(self.seconds) | set(self.errors)):
            times = np.array(self.seconds[kind] or [np.nan]) * 1000
            print(f"{kind:22s} {len(self.seconds[kind]):7d} {len(self.errors[kind]):6d} "
                  f"{len(self.seconds[kind]) / wall:7.1f} {np.percentile(times, 50):8.1f} "
                  f"{np.percentile(times, 95):8.1f} {times.max():8.1f}")  # fmt: skip
        for kind, errors in self.errors.items():
            for error in sorted(set(errors))[:5]:
                print(f"  {kind} error: {error}")


async def keep_analysing(client: httpx.AsyncClient, upload: str, frames: int, job: dict, over: asyncio.Event) -> int:
    """New jobs on ``upload`` one after the other until ``over``; ``job['id']`` is the latest. Jobs made."""
    made = 0
    while not over.is_set():
        answer = await client.post("/jobs", json={"upload": upload, "options": {"max_frames": frames - made}})
        answer.raise_for_status()
        job["id"], made = answer.json()["id"], made + 1
        while not over.is_set():
            if (await client.get(f"/jobs/{job['id']}")).json()["status"] in ("done", "failed"):
                break
            await asyncio.sleep(0.5)
    return made


async def poll(client: httpx.AsyncClient, tally: Tally, job: dict, stop: float) -> None:
    while time.monotonic() < stop:
        await tally.timed("GET /jobs/{id}", 200, lambda: client.get(f"/jobs/{job['id']}"))


async def upload_and_delete(client: httpx.AsyncClient, tally: Tally, body: bytes, stop: float) -> None:
    while time.monotonic() < stop:
        answer = await tally.timed("POST /uploads", 201, lambda: client.post("/uploads", content=body))
        if answer is not None:
            upload = answer.json()["id"]
            await tally.timed("DELETE /uploads/{id}", 204, lambda: client.delete(f"/uploads/{upload}"))


async def load(url: str, seconds: float, pollers: int, uploaders: int, analysis: bool, keepalive: float,
               server_cpu=lambda: None) -> None:  # fmt: skip
    limits = httpx.Limits(max_connections=pollers + uploaders + 4, max_keepalive_connections=pollers + uploaders + 4,
                          keepalive_expiry=keepalive)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=120) as client:
        video = (await client.post("/uploads", content=Path(sample("face_video")).read_bytes())).json()
        job, over, background = {"id": None}, asyncio.Event(), None
        if analysis:
            background = asyncio.create_task(keep_analysing(client, video["id"], video["frames"], job, over))
            while job["id"] is None:
                await asyncio.sleep(0.01)
        else:  # a job that is done: polls read the catalog's record
            job["id"] = (await client.post("/jobs", json={"upload": video["id"], "options": {"max_frames": 5}})).json()["id"]
            while (await client.get(f"/jobs/{job['id']}")).json()["status"] not in ("done", "failed"):
                await asyncio.sleep(0.2)
        body = Path(sample("single_face_video")).read_bytes()
        tally, started = Tally(), time.monotonic()
        stop = started + seconds
        cpu_before, own_before = server_cpu(), time.process_time()
        await asyncio.gather(*[poll(client, tally, job, stop) for _ in range(pollers)],
                             *[upload_and_delete(client, tally, body, stop) for _ in range(uploaders)])  # fmt: skip
        wall = time.monotonic() - started
        cpu_after, own = server_cpu(), time.process_time() - own_before
        over.set()
        made = await background if background else 0
    load_average = " ".join(f"{x:.2f}" for x in os.getloadavg())
    print(f"{seconds:g} s, {pollers} pollers, {uploaders} uploaders, idle connections reused for {keepalive:g} s, "
          f"{'analysing the whole time (' + str(made) + ' jobs)' if analysis else 'no analysis running'}; "
          f"load average after: {load_average}")  # fmt: skip
    tally.report(wall)
    requests = sum(len(times) for times in tally.seconds.values())
    if cpu_before is not None and cpu_after is not None and requests:
        used = cpu_after - cpu_before
        print(f"CPU over the {wall:.0f} s: server process {used:.1f} s ({used / requests * 1000:.1f} ms per request; "
              f"its job workers not counted), this client {own:.1f} s")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--pollers", type=int, default=50)
    parser.add_argument("--uploaders", type=int, default=5)
    parser.add_argument("--no-analysis", action="store_true", help="no job analysing in the background")
    parser.add_argument("--keepalive", type=float, default=KEEPALIVE_S, help="seconds an idle connection is reused")
    parser.add_argument("--url", help="an already running service (its data folder gets the uploads)")
    args = parser.parse_args()
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {os.cpu_count()} cores")
    run = lambda url, cpu=lambda: None: asyncio.run(load(url, args.seconds, args.pollers, args.uploaders,  # noqa: E731
                                                         not args.no_analysis, args.keepalive, cpu))
    if args.url:
        run(args.url)
    else:
        with mien_serve() as server:
            run(server.url, server.cpu_seconds)


if __name__ == "__main__":
    main()
