"""Video files and live streams in, through PyAV: presentation times, rotation, clear failures."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator

import av
import numpy as np

from mien.errors import InputError, InputStopped
from mien.frame import Frame

VIDEO_EXTENSIONS = {".mp4", ".mov", ".m4v", ".avi", ".mkv", ".webm", ".wmv", ".flv", ".mpg",
                    ".mpeg", ".3gp", ".ts", ".mts", ".m2ts", ".ogv", ".mxf", ".y4m"}  # fmt: skip
# Damaged packets skipped one after another before the video counts as broken from there on.
MAX_BAD_PACKETS_IN_A_ROW = 100
STREAM_SCHEMES = ("rtsp://", "rtmp://", "http://", "https://", "udp://", "tcp://", "srt://")


def is_stream(locator: str) -> bool:
    return locator.isdigit() or locator.lower().startswith(STREAM_SCHEMES)


def _open(locator: str) -> av.container.InputContainer:
    if locator.isdigit():  # a webcam index
        if sys.platform.startswith("linux"):
            return av.open(f"/dev/video{locator}", format="v4l2")
        if sys.platform == "darwin":
            return av.open(locator, format="avfoundation")
        raise InputError(locator, "webcam indices are supported on Linux and macOS; pass a stream URL")
    options = {"rtsp_transport": "tcp"} if locator.lower().startswith("rtsp://") else {}
    return av.open(locator, options=options, timeout=(15.0, 30.0))


def _upright(frame: av.VideoFrame) -> np.ndarray:
    pixels = frame.to_ndarray(format="rgb24")
    # Phone videos store pixels sideways plus a display matrix; its angle is counter-clockwise.
    quarter_turns = round((frame.rotation or 0) / 90) % 4
    return np.ascontiguousarray(np.rot90(pixels, quarter_turns)) if quarter_turns else pixels


def read_video(locator: str, max_frames: int | None = None, notices: list[str] | None = None) -> Iterator[Frame]:
    """Yield upright RGB frames with container timestamps.

    Raises InputError if nothing can be decoded, InputStopped if decoding breaks after some frames
    (the frames already yielded stay valid). Damaged packets are skipped; how many is said in
    ``notices``.
    """
    try:
        container = _open(locator)
    except av.error.FileNotFoundError:
        raise InputError(locator, "no such file or device") from None
    except av.error.InvalidDataError as error:
        raise InputError(locator, f"not a readable video ({error.strerror or error})") from None
    except av.error.FFmpegError as error:
        raise InputError(locator, f"cannot open: {error.strerror or error}") from None
    with container:
        if not container.streams.video:
            raise InputError(locator, "no video stream in this file")
        stream = container.streams.video[0]
        if stream.codec_context is None or stream.codec_context.name is None:
            raise InputError(locator, "unsupported video codec")
        # Slice threads only: on two cores, frame threads compete with the analysis thread
        # (benchmarks/speed.py: SLICE 142, AUTO 136, none 131 frames/s for the full pipeline).
        stream.thread_type = "SLICE"
        live = is_stream(locator)
        start = stream.start_time or 0
        base = float(stream.time_base) if stream.time_base else None
        rate = float(stream.average_rate) if stream.average_rate else None
        wall_start = time.monotonic()
        index = 0
        bad, bad_in_a_row, reason = 0, 0, ""
        try:
            for packet in container.demux(stream):
                try:
                    decoded_frames = packet.decode()
                except av.error.FFmpegError as error:
                    # A damaged packet loses its own frames, not the rest of the video: skip it,
                    # count it, and stop only when nothing decodes any more.
                    bad, bad_in_a_row, reason = bad + 1, bad_in_a_row + 1, error.strerror or str(error)
                    if bad_in_a_row > MAX_BAD_PACKETS_IN_A_ROW:
                        raise
                    continue
                bad_in_a_row = 0 if decoded_frames else bad_in_a_row
                for decoded in decoded_frames:
                    if max_frames is not None and index >= max_frames:
                        return
                    if decoded.pts is not None and base is not None:
                        timestamp = (decoded.pts - start) * base
                    elif live or rate is None:
                        timestamp = time.monotonic() - wall_start
                    else:
                        timestamp = index / rate
                    yield Frame(locator, index, float(timestamp), _upright(decoded))
                    index += 1
        except av.error.FFmpegError as error:
            reason = error.strerror or str(error)
            if index == 0:
                raise InputError(locator, f"cannot decode video: {reason}") from None
            raise InputStopped(locator, index, reason) from None
        finally:
            if bad and notices is not None:
                notices.append(f"{bad} damaged video packets skipped ({reason}); the frames in them are "
                               f"missing from the table, {index} frames were analysed")  # fmt: skip
        if index == 0:
            raise InputError(locator, "no decodable frames (truncated or unsupported codec)")
        if not live and max_frames is None:
            _check_complete(locator, container, stream, index, timestamp)


def video_frames_declared(locator: str) -> int | None:
    """The number of frames a video file's header declares (or its duration × frame rate)."""
    with av.open(locator) as container:
        if not container.streams.video:
            return None
        stream = container.streams.video[0]
        if stream.frames:
            return int(stream.frames)
        if stream.duration and stream.time_base and stream.average_rate:
            return int(float(stream.duration * stream.time_base) * float(stream.average_rate))
        if container.duration and stream.average_rate:
            return int(container.duration / 1e6 * float(stream.average_rate))
        return None


def _check_complete(locator: str, container, stream, decoded: int, last_time: float) -> None:
    """Raise InputStopped if the container promised more than could be decoded (a cut file)."""
    declared = stream.frames
    if declared and decoded < declared * 0.95:
        raise InputStopped(locator, decoded, f"the container declares {declared} frames; the rest "
                           "could not be decoded (truncated file?)")  # fmt: skip
    if stream.duration and stream.time_base:
        length = float(stream.duration * stream.time_base)
    elif container.duration:
        length = container.duration / 1e6  # all streams: audio may outlast video, hence the slack
    else:
        return
    if last_time < length * 0.98 - 0.5:
        raise InputStopped(locator, decoded, f"the container says the video lasts {length:.1f} s, "
                           f"decoding ended at {last_time:.1f} s (truncated file?)")  # fmt: skip
