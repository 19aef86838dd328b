"""Media the tests make from real samples: variable frame rate, rotation, truncation, odd pixels."""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from mien.io.video import read_video


def frames_of(path: str, count: int) -> list[np.ndarray]:
    return [frame.image for _, frame in zip(range(count), read_video(path))]


def write_video(path: Path, images: list[np.ndarray], pts_seconds: list[float] | None = None,
                rotation: int = 0, codec: str = "libx264", container_format: str | None = None) -> Path:  # fmt: skip
    """Encode RGB frames; pts_seconds gives each frame's presentation time (variable frame rate)."""
    height, width = images[0].shape[:2]
    time_base = Fraction(1, 1000)
    with av.open(str(path), "w", format=container_format) as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height = width - width % 2, height - height % 2
        stream.pix_fmt = "yuv420p"
        stream.time_base = time_base
        stream.codec_context.time_base = time_base
        if codec == "libx264":
            stream.options = {"preset": "ultrafast", "bf": "0"}
        if rotation:
            stream.set_display_rotation(rotation)
        for i, image in enumerate(images):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[: stream.height, : stream.width]), format="rgb24")
            seconds = pts_seconds[i] if pts_seconds is not None else i / 25
            frame.pts = round(seconds / time_base)
            frame.time_base = time_base
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


# -- two people in one video, for identity tracking ------------------------------------------------

FPS = 25


@dataclass
class Placement:
    """Where each clip is pasted in every frame (x offset, None = not in the picture)."""

    first: list[int | None]
    second: list[int | None]


def two_people_video(path: Path, first: list[np.ndarray], second: list[np.ndarray],
                     placement: Placement, width: int) -> Path:  # fmt: skip
    """Paste two real clips onto one grey canvas per ``placement``; the first is pasted on top.

    Clips shorter than the video play forwards and backwards (no jump in the face's position)."""

    def at(clip: list[np.ndarray], i: int) -> np.ndarray:
        period = 2 * len(clip) - 2
        k = i % period
        return clip[k if k < len(clip) else period - k]

    height = first[0].shape[0]
    frames = []
    for i, (x_first, x_second) in enumerate(zip(placement.first, placement.second)):
        canvas = np.full((height, width, 3), 110, np.uint8)
        for clip, x in ((second, x_second), (first, x_first)):  # the first ends up on top
            if x is not None:
                picture = at(clip, i)
                canvas[:, x : x + picture.shape[1]] = picture[:, : width - x]
        frames.append(canvas)
    return write_video(path, frames)


def who_is_where(box_centre_x: float, placement: Placement, frame: int, clip_width: int) -> str | None:
    """'first', 'second' or None: whose pasted clip the face centre lies in (the first is on top)."""
    for name, xs in (("first", placement.first), ("second", placement.second)):
        x = xs[frame]
        if x is not None and x <= box_centre_x < x + clip_width:
            return name
    return None
