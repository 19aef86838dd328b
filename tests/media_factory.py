"""Media the tests make from real samples: variable frame rate, rotation, truncation, odd pixels."""

from __future__ import annotations

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
