"""The face mesh's drawing data: its edges, and MediaPipe's canonical (mean) face.

Both come from what mien already has, not from numbers copied here: the edges from MediaPipe's
``FaceLandmarksConnections``, the canonical face from the geometry metadata inside the shipped
``face_landmarker.task`` (the same 468-vertex model MediaPipe fits head pose with).
"""

from __future__ import annotations

import zipfile
from functools import cache

import numpy as np

from mien.models.registry import resolve

_GEOMETRY_MEMBER = "geometry_pipeline_metadata_landmarks.binarypb"


@cache
def tesselation_edges() -> np.ndarray:
    """(E, 2) int32 pairs of mesh point indices: the lines of MediaPipe's face tesselation."""
    from mediapipe.tasks.python.vision.face_landmarker import FaceLandmarksConnections as links

    return np.array([(c.start, c.end) for c in links.FACE_LANDMARKS_TESSELATION], np.int32)


@cache
def canonical_face() -> tuple[np.ndarray, np.ndarray]:
    """MediaPipe's canonical face: vertices (468, 3) in cm (x towards the image's right for a face
    looking at the camera, y up, z towards the camera) and triangles (T, 3) of vertex indices."""
    with zipfile.ZipFile(resolve("face_landmarker").path) as task:
        metadata = task.read(_GEOMETRY_MEMBER)
    return _parse_canonical_mesh(metadata)


def _parse_canonical_mesh(metadata: bytes) -> tuple[np.ndarray, np.ndarray]:
    """Read GeometryPipelineMetadata.canonical_mesh (field 1, a Mesh3d) from protobuf wire format:
    vertex_buffer is field 3 (float32 each: x, y, z, u, v), index_buffer field 4 (varints).
    Decoded by hand so that no generated protobuf module is needed."""
    _, at = _varint(metadata, 0)
    length, at = _varint(metadata, at)
    mesh = metadata[at : at + length]
    floats: list[bytes] = []
    indices: list[int] = []
    at = 0
    while at < len(mesh):
        key, at = _varint(mesh, at)
        field, wire = key >> 3, key & 7
        if wire == 5:  # 32-bit
            if field == 3:
                floats.append(mesh[at : at + 4])
            at += 4
        elif wire == 0:
            value, at = _varint(mesh, at)
            if field == 4:
                indices.append(value)
        elif wire == 2:  # packed or nested: skip
            size, at = _varint(mesh, at)
            at += size
        elif wire == 1:
            at += 8
        else:
            raise ValueError(f"unexpected protobuf wire type {wire} in the canonical mesh")
    vertices = np.frombuffer(b"".join(floats), "<f4").reshape(-1, 5)[:, :3]
    return vertices.astype(np.float32), np.array(indices, np.int32).reshape(-1, 3)


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at
