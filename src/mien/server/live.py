"""Live analysis over a WebSocket (``/live``): camera frames in as JPEG, one JSON answer per frame.

One connection is one stream: a Session of its own (landmarker task, tracker, smoother, events) on
the service's shared model set, run in a thread of its own so that the event loop never waits on
analysis. The protocol, in docs/server.md:

- binary message: one JPEG frame. Answer: ``{"type": "frame", ...}`` with the faces and the events
  that ended with this frame, or ``{"type": "error", "status": ..., "detail": ...}`` for a frame
  that is not a JPEG (415), too large (413), of a new size (400) or beyond the frame-rate limit
  (429); the connection goes on after any of these.
- text message ``{"type": "finish"}``: the episodes still open are closed and sent as
  ``{"type": "finished", "events": [...]}``, then the server closes the connection (1000).
"""

from __future__ import annotations

import asyncio
import io
import json
import math
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from fastapi import WebSocket, WebSocketDisconnect
from PIL import Image

from mien.events.detectors import Event
from mien.frame import Faces, Frame
from mien.io.images import to_rgb8
from mien.pipeline import Models, Session
from mien.schema import AU_CODES, EMOTIONS
from mien.server.auth import token_ok
from mien.stages.aus import presence
from mien.stages.landmarks68 import ibug68

MAX_FPS = 30  # frames analysed per second and connection (create_app's live_fps)
MAX_CONNECTIONS = 8  # live connections open at once (create_app's max_live): each costs a thread and its share of the CPU
MAX_FRAME_BYTES = 8 << 20  # one JPEG frame (a 4K camera frame is about 2 MB)
MAX_FRAME_SIDE = 4096  # px: more adds cost, no accuracy (as mien.io.images.MAX_ANALYSIS_SIDE)
SOURCE = "live"  # the events' input


class FrameError(Exception):
    """A frame the client can fix: answered with an error message, the connection goes on."""

    def __init__(self, status: int, detail: str):
        super().__init__(detail)
        self.status, self.detail = status, detail


class RateLimit:
    """At most ``per_second`` frames accepted in any one-second window (frames refused do not count)."""

    def __init__(self, per_second: int):
        self.per_second = per_second
        self.accepted: deque[float] = deque()

    def allow(self, now: float) -> bool:
        while self.accepted and self.accepted[0] <= now - 1.0:
            self.accepted.popleft()
        if len(self.accepted) >= self.per_second:
            return False
        self.accepted.append(now)
        return True


def decode_jpeg(data: bytes) -> np.ndarray:
    """One JPEG frame -> H×W×3 uint8 RGB; FrameError for anything else."""
    if len(data) > MAX_FRAME_BYTES:
        raise FrameError(413, f"frame of {len(data):,} bytes; at most {MAX_FRAME_BYTES:,}")
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format != "JPEG":
                raise FrameError(415, f"a frame must be a JPEG image, not {image.format or 'unknown'}")
            if max(image.size) > MAX_FRAME_SIDE:
                raise FrameError(413, f"frame of {image.width}×{image.height} px; at most {MAX_FRAME_SIDE} px a side")
            return np.ascontiguousarray(to_rgb8(image))
    except FrameError:
        raise
    except Exception:  # Pillow raises many kinds for bytes that are not an image
        raise FrameError(415, "a frame must be a JPEG image; these bytes are not one") from None


def _numbers(values: np.ndarray, decimals: int) -> list:
    """Rounded nested lists with NaN as None (JSON has no NaN)."""
    values = np.asarray(values, np.float64)
    out = np.round(values, decimals).astype(object)
    out[~np.isfinite(values)] = None
    return out.tolist()


def faces_json(faces: Faces) -> list[dict]:
    """Every face of one frame as the live answer gives it (units as in docs/columns.md)."""
    if len(faces) == 0:
        return []
    boxes = _numbers(faces.boxes, 1)
    points = _numbers(ibug68(faces.landmarks)[:, :, :2], 1)
    pose, gaze = _numbers(faces.pose[:, :3], 2), _numbers(faces.gaze, 2)
    aus, present = _numbers(faces.aus, 3), presence(faces.aus).tolist()
    emotions = _numbers(faces.emotions, 4)
    affect, pspi = _numbers(faces.affect, 3), _numbers(faces.pspi, 3)
    closure = _numbers(faces.eye_closure, 3)
    top = np.nan_to_num(faces.emotions, nan=-1.0).argmax(axis=1)
    answer = []
    for i in range(len(faces)):
        answer.append({
            "face_id": int(faces.face_ids[i]),
            "score": round(float(faces.scores[i]), 3),
            "box": boxes[i],  # x, y, w, h px
            "landmarks": points[i],  # 68 iBUG points, [x, y] px
            "pose": dict(zip(("yaw", "pitch", "roll"), pose[i])),  # degrees
            "gaze": dict(zip(("yaw", "pitch"), gaze[i])),  # degrees
            "eye_closure": dict(zip(("left", "right"), closure[i])),  # 0-1
            "aus": dict(zip(AU_CODES, aus[i])),  # intensity 0-5
            "aus_present": dict(zip(AU_CODES, present[i])),  # 0/1
            "expression": EMOTIONS[int(top[i])] if emotions[i][0] is not None else None,
            "expressions": dict(zip(EMOTIONS, emotions[i])),  # probabilities, sum 1
            "valence": affect[i][0], "arousal": affect[i][1],  # -1..1
            "pspi": pspi[i],
        })  # fmt: skip
    return answer


def events_json(events: list[Event]) -> list[dict]:
    return [{k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in e.as_dict().items()}
            for e in events]  # fmt: skip


class LiveStream:
    """One connection's analysis: a session, the frame count and clock, the first frame's size."""

    def __init__(self, session: Session):
        self.session = session
        self.frames = 0
        self.started = time.monotonic()
        self.size: tuple[int, int] | None = None

    def analyse(self, data: bytes) -> dict:
        image = decode_jpeg(data)
        size = (image.shape[1], image.shape[0])
        if self.size is not None and size != self.size:
            raise FrameError(400, f"frame of {size[0]}×{size[1]} px in a stream of {self.size[0]}×{self.size[1]}; "
                                  "open a new connection for a new size")  # fmt: skip
        self.size = size
        timestamp = time.monotonic() - self.started if self.frames else 0.0
        if self.frames == 0:
            self.started = time.monotonic()
        frame = Frame(SOURCE, self.frames, timestamp, image)
        started = time.perf_counter()
        faces, events = self.session.live_frame(frame)
        self.frames += 1
        return {"type": "frame", "frame": frame.index, "timestamp": round(timestamp, 3),
                "width": size[0], "height": size[1], "faces": faces_json(faces), "events": events_json(events),
                "seconds": round(time.perf_counter() - started, 4)}  # fmt: skip

    def finish(self) -> list[dict]:
        return events_json(self.session.event_detector.finish() if self.frames else [])


async def serve_live(websocket: WebSocket, models: Callable[[], Models], token: str | None, max_fps: int,
                     open_streams: list[int], max_connections: int) -> None:  # fmt: skip
    """Run one /live connection until the client leaves or asks to finish. ``open_streams`` is
    the service's one-element count of open live connections (the event loop's alone)."""
    await websocket.accept()
    if not token_ok(websocket, token):
        await websocket.send_json({"type": "error", "status": 401,
                                   "detail": "a valid token is required (?token=TOKEN on the WebSocket URL)"})  # fmt: skip
        await websocket.close(1008)
        return
    if open_streams[0] >= max_connections:
        await websocket.send_json({"type": "error", "status": 429,
                                   "detail": f"{max_connections} live connections are open; try again later"})  # fmt: skip
        await websocket.close(1013)  # try again later
        return
    open_streams[0] += 1
    try:
        await _stream(websocket, models, max_fps)
    finally:
        open_streams[0] -= 1


async def _stream(websocket: WebSocket, models: Callable[[], Models], max_fps: int) -> None:
    loop = asyncio.get_running_loop()
    # MediaPipe tasks want one thread at a time: this connection's session lives in one thread.
    thread = ThreadPoolExecutor(1, thread_name_prefix="mien-live")
    stream: LiveStream | None = None
    limit = RateLimit(max_fps)
    try:
        stream = LiveStream(await loop.run_in_executor(thread, lambda: models().session()))
        received = 0
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            if message.get("bytes") is None:
                if _command(message.get("text")) == "finish":
                    events = await loop.run_in_executor(thread, stream.finish)
                    await loop.run_in_executor(thread, stream.session.close)  # before the client may leave
                    await websocket.send_json({"type": "finished", "frames": stream.frames, "events": events})
                    await websocket.close(1000)
                    return
                await websocket.send_json({"type": "error", "status": 400, "detail":
                                           'send frames as binary JPEG messages; the only text message is {"type": "finish"}'})  # fmt: skip
                continue
            seq, received = received, received + 1
            if not limit.allow(time.monotonic()):
                await websocket.send_json({"type": "error", "status": 429, "seq": seq, "detail":
                                           f"more than {max_fps} frames a second; this frame was not analysed"})  # fmt: skip
                continue
            try:
                answer = await loop.run_in_executor(thread, stream.analyse, message["bytes"])
            except FrameError as error:
                answer = {"type": "error", "status": error.status, "detail": error.detail}
            await websocket.send_json({**answer, "seq": seq})
    except WebSocketDisconnect:
        return
    except Exception as error:  # a bug: said in JSON (its traceback to the bug log), then the end
        from mien.bug_log import log_bug

        detail = log_bug(error)
        try:
            await websocket.send_json({"type": "error", "status": 500, "detail": detail})
            await websocket.close(1011)
        except Exception:  # the client is already gone
            pass
    finally:
        if stream is not None:
            await loop.run_in_executor(thread, stream.session.close)
        thread.shutdown(wait=False)


def _command(text: str | None) -> str | None:
    try:
        found = json.loads(text or "")
    except ValueError:
        return None
    return found.get("type") if isinstance(found, dict) else None
