"""The Face Landmarker's head pose matrix, computed from its landmarks as MediaPipe does.

MediaPipe fits its canonical face model (centimetres) to the 478 screen landmarks in a virtual
perspective camera (63° vertical field of view, near plane 1): the screen points are lifted into
metric space with a scale found by a weighted Procrustes fit, twice, and a last weighted
Procrustes fit gives the model-to-camera matrix. The canonical model and the per-landmark weights
come from the bundle's ``geometry_pipeline_metadata_landmarks.binarypb``. Used where mien runs the
bundle's networks itself (dataset mode); tests/test_crop_landmarker.py checks the matrices against
MediaPipe's own.
"""

from __future__ import annotations

import struct
import zipfile
from dataclasses import dataclass

import numpy as np

METADATA = "geometry_pipeline_metadata_landmarks.binarypb"
# MediaPipe's pose matrix assumes a pinhole camera (its default environment) with this vertical
# field of view over the image it was given, and the near plane at 1.
VERTICAL_FOV_DEG = 63.0
NEAR = 1.0
VERTEX_FLOATS = 5  # the canonical mesh's vertices: x, y, z, u, v


def _varint(data: bytes, at: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[at]
        at += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, at


def _varints(data: bytes) -> list[int]:
    """A packed run of varints."""
    values, at = [], 0
    while at < len(data):
        value, at = _varint(data, at)
        values.append(value)
    return values


def _fields(data: bytes):
    """(field number, value) of a protobuf message: ints for varints, bytes for everything else."""
    at = 0
    while at < len(data):
        key, at = _varint(data, at)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, at = _varint(data, at)
        elif wire == 2:
            size, at = _varint(data, at)
            value, at = data[at : at + size], at + size
        elif wire == 5:
            value, at = data[at : at + 4], at + 4
        elif wire == 1:
            value, at = data[at : at + 8], at + 8
        else:
            raise ValueError(f"{METADATA}: unexpected protobuf wire type {wire}")
        yield number, value


@dataclass(frozen=True)
class CanonicalFace:
    """MediaPipe's canonical face model, from a Face Landmarker bundle: its 468 points (3, 468) in
    cm (the mesh without the irises; x to the image's right for a face looking at the camera, y
    up, z towards the camera), each point's weight in the pose fit, and the mesh's triangles
    (T, 3) of point indices. Decoded from protobuf wire format by hand, so that no generated
    protobuf module is needed."""

    points: np.ndarray
    weights: np.ndarray
    triangles: np.ndarray

    @classmethod
    def from_bundle(cls, task_path: str) -> CanonicalFace:
        with zipfile.ZipFile(task_path) as bundle:
            metadata = bundle.read(METADATA)
        vertices, triangle_corners, weights = [], [], {}
        for number, value in _fields(metadata):
            if number == 1:  # canonical_mesh: Mesh3d; field 3 its vertex buffer, field 4 its triangles
                for mesh_number, mesh_value in _fields(value):
                    if mesh_number == 3:  # float32 each, packed or not
                        vertices.extend(struct.unpack(f"<{len(mesh_value) // 4}f", mesh_value))
                    elif mesh_number == 4:  # uint32 varints: one per field, or packed
                        packed = isinstance(mesh_value, bytes)
                        triangle_corners.extend(_varints(mesh_value) if packed else [mesh_value])
            elif number == 2:  # procrustes_landmark_basis: (landmark_id, weight)
                entry = dict(_fields(value))
                weights[entry.get(1, 0)] = struct.unpack("<f", entry[2])[0] if 2 in entry else 0.0
        points = np.asarray(vertices, np.float64).reshape(-1, VERTEX_FLOATS)[:, :3].T
        weight = np.zeros(points.shape[1])
        weight[list(weights)] = list(weights.values())
        return cls(points, weight, np.array(triangle_corners, np.int32).reshape(-1, 3))


class WeightedSimilarity:
    """Weighted least-squares fits of scale * rotation + translation from one fixed ``source``
    (3, N) onto targets (3, N), reflections excluded (Umeyama). What depends only on the source
    and the weights is computed once: the canonical face is fitted three times a face."""

    def __init__(self, source: np.ndarray, weights: np.ndarray):
        self.weights = weights / weights.sum()
        self.source_mean = source @ self.weights
        centred = source - self.source_mean[:, None]
        self.weighted_centred = (centred * self.weights).T  # (N, 3); its columns sum to 0
        self.spread = (centred * centred * self.weights).sum()

    def fit(self, target: np.ndarray) -> np.ndarray:
        """4x4 matrix taking the source closest to ``target``."""
        # The weighted centred source sums to zero, so the target needs no centring here.
        covariance = target @ self.weighted_centred
        u, _, vt = np.linalg.svd(covariance)
        if np.linalg.det(u) * np.linalg.det(vt) < 0:
            u[:, 2] *= -1
        rotation = u @ vt
        scale = (rotation * covariance).sum() / self.spread
        matrix = np.eye(4)
        matrix[:3, :3] = scale * rotation
        matrix[:3, 3] = target @ self.weights - scale * rotation @ self.source_mean
        return matrix


class FaceGeometry:
    """Landmarks in an image's pixels -> MediaPipe's facial transformation matrix."""

    def __init__(self, task_path: str):
        self.canonical = CanonicalFace.from_bundle(task_path)
        self._fit = WeightedSimilarity(self.canonical.points, self.canonical.weights).fit

    def transform(self, landmarks: np.ndarray, width: int, height: int) -> np.ndarray:
        """(478, 3) landmarks in pixels (z in the x scale) of a width x height image -> (4, 4).
        The irises (the last 10 points) are not part of the canonical model."""
        height_at_near = 2 * NEAR * np.tan(np.radians(VERTICAL_FOV_DEG) / 2)
        width_at_near = width * height_at_near / height
        screen = landmarks[: self.canonical.points.shape[1]].T.astype(np.float64) / np.array([[width], [height], [width]])
        screen[1] = 1.0 - screen[1]  # the image's origin is its top-left corner
        screen *= np.array([[width_at_near], [height_at_near], [width_at_near]])
        screen[0] -= width_at_near / 2
        screen[1] -= height_at_near / 2
        depth_offset = screen[2].mean()

        def lifted(scale: float) -> np.ndarray:
            metric = screen.copy()
            metric[2] = (metric[2] - depth_offset + NEAR) / scale
            metric[:2] *= metric[2] / NEAR
            metric[2] *= -1  # screen space is left-handed, metric space right-handed
            return metric

        flat = screen.copy()
        flat[2] *= -1
        first_scale = np.linalg.norm(self._fit(flat)[:3, 0])
        second_scale = np.linalg.norm(self._fit(lifted(first_scale))[:3, 0])
        return self._fit(lifted(first_scale * second_scale)).astype(np.float32)
