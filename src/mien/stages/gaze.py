"""Gaze direction from the iris and eye-corner landmarks, using a spherical eyeball model.

Each eyeball is a sphere of radius 0.4 × eye width (≈ 12 mm for a 30 mm eye) whose centre sits
0.35 × eye width behind the midpoint of the eye corners, along the head's backward axis. The iris
centre's 2-D offset from the projected eyeball centre, divided by that radius, gives the sine of
the gaze angles. This is a geometric estimate, not a learned one: see docs/gaze.md for its limits.
"""

from __future__ import annotations

import numpy as np

from mien.frame import Faces

# (outer corner, inner corner, iris centre) of the person's right and left eye in the mesh.
RIGHT_EYE = (33, 133, 468)
LEFT_EYE = (263, 362, 473)
EYEBALL_RADIUS = 0.40  # × eye width
EYEBALL_DEPTH = 0.35  # × eye width, behind the corners' midpoint


def _head_backward(transforms: np.ndarray) -> np.ndarray:
    """(N, 3) unit vectors pointing into the head, in image axes (x right, y down, z away)."""
    forward_gl = transforms[:, :3, 2]  # the canonical model's +z (out of the face), OpenGL axes
    backward = -forward_gl * np.array([1.0, -1.0, -1.0])
    return backward / np.linalg.norm(backward, axis=1, keepdims=True)


def _eye_direction(landmarks: np.ndarray, backward: np.ndarray, eye: tuple[int, int, int]) -> np.ndarray:
    outer, inner, iris = (landmarks[:, i] for i in eye)
    width = np.linalg.norm(outer - inner, axis=1, keepdims=True)
    centre = (outer + inner) / 2 + backward * (EYEBALL_DEPTH * width)
    offset = (iris[:, :2] - centre[:, :2]) / (EYEBALL_RADIUS * width)
    offset = np.clip(offset, -0.99, 0.99)
    towards_camera = -np.sqrt(np.clip(1.0 - (offset**2).sum(axis=1, keepdims=True), 0.02, None))
    return np.concatenate([offset, towards_camera], axis=1)


def gaze_angles(landmarks: np.ndarray, transforms: np.ndarray) -> np.ndarray:
    """(N, 478, 3) px and (N, 4, 4) -> (N, 2) gaze yaw, pitch (deg), camera frame, eyes averaged."""
    backward = _head_backward(transforms)
    direction = _eye_direction(landmarks, backward, RIGHT_EYE) + _eye_direction(landmarks, backward, LEFT_EYE)
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    yaw = np.degrees(np.arctan2(direction[:, 0], -direction[:, 2]))
    pitch = np.degrees(np.arctan2(-direction[:, 1], np.hypot(direction[:, 0], direction[:, 2])))
    return np.stack([yaw, pitch], axis=1).astype(np.float32)


class Gaze:
    """Stage: fills Faces.gaze."""

    def __call__(self, faces: Faces) -> Faces:
        faces.gaze = gaze_angles(faces.landmarks, faces.transforms)
        return faces
