"""The face in each frame of the `face_video` sample, for benchmarks that need many real faces."""

from __future__ import annotations

from collections.abc import Iterator

from PIL import Image

from mien.io.video import read_video
from mien.models.registry import resolve
from mien.samples import sample
from mien.stages.landmarks import FaceLandmarker


def sample_faces() -> Iterator[tuple[Image.Image, float, float, float]]:
    """(frame, face centre x, centre y, longer side of the face's box), in pixels, for every frame
    of the sample video in which MediaPipe finds the face."""
    landmarker = FaceLandmarker(str(resolve("face_landmarker").path), max_faces=1)
    landmarker.start(still=True)
    try:
        for frame in read_video(str(sample("face_video"))):
            found = landmarker(frame, search_small_faces=False)
            if len(found):
                x, y, w, h = found.boxes[0]
                yield Image.fromarray(frame.image), x + w / 2, y + h / 2, max(w, h)
    finally:
        landmarker.close()
