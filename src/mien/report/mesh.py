"""The face mesh's drawing data: its edges, and MediaPipe's canonical (mean) face.

Both come from what mien already has, not from numbers copied here: the edges from MediaPipe's
``FaceLandmarksConnections``, the canonical face from the geometry metadata inside the shipped
``face_landmarker.task`` (the same 468-vertex model MediaPipe fits head pose with).
"""

from __future__ import annotations

from functools import cache

import numpy as np

from mien.models.registry import resolve
from mien.stages.face_geometry import CanonicalFace


@cache
def tesselation_edges() -> np.ndarray:
    """(E, 2) int32 pairs of mesh point indices: the lines of MediaPipe's face tesselation."""
    from mediapipe.tasks.python.vision.face_landmarker import FaceLandmarksConnections as links

    return np.array([(c.start, c.end) for c in links.FACE_LANDMARKS_TESSELATION], np.int32)


@cache
def canonical_face() -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe's canonical face: vertices (468, 3) in cm (x towards the image's right for a face
    looking at the camera, y up, z towards the camera) and triangles (T, 3) of vertex indices."""
    face = CanonicalFace.from_bundle(str(resolve("face_landmarker").path))
    return face.points.T.astype(np.float32), face.triangles
