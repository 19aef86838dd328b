"""Head pose from the Face Landmarker's facial transformation matrix.

The matrix maps MediaPipe's canonical face model (centimetres) into an OpenGL-style camera frame
(x right, y up, the camera looking down -z) with a 63° vertical field of view. We report angles in
degrees and the translation in millimetres in a camera frame with x right, y down, z forward.
"""

from __future__ import annotations

import numpy as np

from mien.frame import Faces


def pose_from_transforms(transforms: np.ndarray) -> np.ndarray:
    """(N, 4, 4) -> (N, 6): yaw, pitch, roll (deg), tx, ty, tz (mm)."""
    rotation = transforms[:, :3, :3]
    # Intrinsic decomposition R = Ry(yaw) Rx(pitch) Rz(roll) of the model-to-camera rotation.
    yaw = np.degrees(np.arctan2(rotation[:, 0, 2], rotation[:, 2, 2]))
    pitch = np.degrees(np.arcsin(np.clip(-rotation[:, 1, 2], -1.0, 1.0)))
    roll = np.degrees(np.arctan2(rotation[:, 1, 0], rotation[:, 1, 1]))
    translation_mm = transforms[:, :3, 3] * 10.0
    return np.stack(
        [yaw, -pitch, -roll, translation_mm[:, 0], -translation_mm[:, 1], -translation_mm[:, 2]], axis=1
    ).astype(np.float32)


class HeadPose:
    """Stage: fills Faces.pose."""

    def __call__(self, faces: Faces) -> Faces:
        faces.pose = pose_from_transforms(faces.transforms)
        return faces
