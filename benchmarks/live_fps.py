"""Live analysis end to end: a WebSocket client sends 640×480 JPEG frames of the sample clip to a
real `mien serve` on loopback as fast as the answers come back, and counts analysed frames a second.

    python benchmarks/live_fps.py                     # 30 s, one frame in flight (as the web page does)
    python benchmarks/live_fps.py --window 2          # the next frame sent before the last is answered
    python benchmarks/live_fps.py --connections 2     # two cameras at once

Frames: the `face_video` sample (640×360, one face), centre-cropped to 4:3 and scaled to 640×480
as a webcam gives them, JPEG-encoded at quality 80 before the clock starts (the browser's work,
not the server's), looped. The server runs with ``--live-fps 1000`` so that its frame-rate limit
(30 a second by default) does not cap what is measured. End to end: from the first frame sent to
the last answer received, over the frames answered as analysed; an error answer (e.g. 429) is
counted and not an analysed frame. Target (issue 12): ≥ 15 analysed frames a second at 640×480.
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import os
import time

import numpy as np
from local_server import mien_serve
from PIL import Image
from websockets.asyncio.client import connect

from mien.io.video import read_video
from mien.samples import sample

SIZE = (640, 480)


def camera_frames(count: int) -> list[bytes]:
    """The clip's first ``count`` frames as a 640×480 camera page would send them: JPEG bytes."""
    frames = []
    for frame in read_video(str(sample("face_video")), max_frames=count):
        height, width = frame.image.shape[:2]
        crop = min(width, height * 4 // 3)
        left = (width - crop) // 2
        image = Image.fromarray(frame.image[:, left : left + crop]).resize(SIZE, Image.BILINEAR)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=80)
        frames.append(buffer.getvalue())
    return frames


async def stream(url: str, frames: list[bytes], seconds: float, window: int) -> dict:
    """One connection: keep ``window`` frames in flight for ``seconds``; what came back."""
    answered, errors, round_trips, analysis, with_face = 0, {}, [], [], 0
    async with connect(f"{url}/live", max_size=None) as ws:
        # The connection's session (its landmarker) is made on connect: wait for a first answer.
        await ws.send(frames[0])
        json.loads(await ws.recv())
        sent_at: list[float] = []
        started = time.perf_counter()
        stop = started + seconds
        sent = 0
        while sent < window:
            sent_at.append(time.perf_counter())
            await ws.send(frames[sent % len(frames)])
            sent += 1
        received = 0
        while received < sent:
            answer = json.loads(await ws.recv())
            round_trips.append(time.perf_counter() - sent_at[received])
            received += 1
            if answer["type"] == "frame":
                answered += 1
                analysis.append(answer["seconds"])
                with_face += bool(answer["faces"])
            else:
                errors[answer.get("status")] = errors.get(answer.get("status"), 0) + 1
            if time.perf_counter() < stop:
                sent_at.append(time.perf_counter())
                await ws.send(frames[sent % len(frames)])
                sent += 1
        wall = time.perf_counter() - started
        await ws.send(json.dumps({"type": "finish"}))
        await ws.recv()
    return {"frames": answered, "wall": wall, "errors": errors, "round_trips": round_trips,
            "analysis": analysis, "with_face": with_face}  # fmt: skip


async def measure(url: str, frames: list[bytes], seconds: float, window: int, connections: int) -> None:
    runs = await asyncio.gather(*[stream(url, frames, seconds, window) for _ in range(connections)])
    for i, run in enumerate(runs):
        trips = np.array(run["round_trips"]) * 1000
        print(f"connection {i}: {run['frames'] / run['wall']:.1f} analysed frames/s end to end "
              f"({run['frames']} in {run['wall']:.1f} s; face found in {run['with_face']}); "
              f"round trip p50 {np.percentile(trips, 50):.1f} ms, p95 {np.percentile(trips, 95):.1f} ms; "
              f"server analysis p50 {np.percentile(run['analysis'], 50) * 1000:.1f} ms; "
              f"errors {run['errors'] or 'none'}")  # fmt: skip
    if connections > 1:
        total = sum(run["frames"] for run in runs) / max(run["wall"] for run in runs)
        print(f"all {connections} connections: {total:.1f} analysed frames/s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--window", type=int, default=1, help="frames in flight (1: the next is sent when an answer comes)")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--url", help="an already running service, ws://HOST:PORT (its own --live-fps applies)")
    args = parser.parse_args()
    frames = camera_frames(240)  # 10 s of the clip, looped
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}, {os.cpu_count()} cores; "
          f"{len(frames)} frames of {SIZE[0]}×{SIZE[1]}, JPEG {np.mean([len(f) for f in frames]) / 1000:.0f} kB on average; "
          f"window {args.window}, {args.connections} connection(s), {args.seconds:g} s")  # fmt: skip
    run = lambda url: asyncio.run(measure(url, frames, args.seconds, args.window, args.connections))  # noqa: E731
    if args.url:
        run(args.url)
    else:
        with mien_serve("--live-fps", "1000") as server:
            run(server.url.replace("http://", "ws://"))
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
