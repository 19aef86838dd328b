"""Face pictures cut from a video at given moments (the apex frames of episodes).

Each moment is reached by seeking to the keyframe before it and decoding forwards, so a few
pictures from a 3-hour video cost a few seconds, not a full decode.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import av
import numpy as np
from PIL import Image

from mien.report.video import upright

MARGIN = 0.35  # share of the face box added on every side, so the brows and chin stay in
HEIGHT = 180  # px of each cut-out


@dataclass
class Moment:
    """A time (s from the input's start, as in the results) and the face box there (x, y, w, h px)."""

    time: float
    box: tuple[float, float, float, float]


def cut_faces(video: str | os.PathLike, moments: list[Moment]) -> list[Image.Image | None]:
    """One upright RGB picture of the face per moment (None where the video has no frame there)."""
    pictures: list[Image.Image | None] = [None] * len(moments)
    with av.open(str(video)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "SLICE"
        base = float(stream.time_base)
        start = stream.start_time or 0
        for k in np.argsort([m.time for m in moments]):
            moment = moments[k]
            target = start + round(moment.time / base)
            container.seek(max(int(target), 0), stream=stream, backward=True)
            for frame in container.decode(stream):
                if frame.pts is None or frame.pts + 0.5 * _step(stream) / base >= target:
                    pictures[k] = _crop(upright(frame), moment.box)
                    break
    return pictures


def _step(stream) -> float:
    rate = stream.average_rate or stream.guessed_rate
    return 1.0 / float(rate) if rate else 0.04


def _crop(image: np.ndarray, box: tuple[float, float, float, float]) -> Image.Image:
    x, y, w, h = box
    side = max(w, h) * (1 + 2 * MARGIN)
    cx, cy = x + w / 2, y + h / 2
    left, top = int(max(cx - side / 2, 0)), int(max(cy - side / 2, 0))
    right, bottom = int(min(cx + side / 2, image.shape[1])), int(min(cy + side / 2, image.shape[0]))
    picture = Image.fromarray(image[top:bottom, left:right])
    scale = HEIGHT / max(picture.height, 1)
    return picture.resize((max(1, round(picture.width * scale)), HEIGHT), Image.Resampling.LANCZOS)
