"""Eye closure from the eyelid aperture (eye aspect ratio on 3-D landmarks).

EAR = (|p2-p6| + |p3-p5|) / (2 |p1-p4|) over two upper/lower lid pairs. Using the mesh's 3-D points
keeps the ratio stable under head rotation. Closure maps EAR linearly from the open EAR (0) to the
closed EAR (1); both are measured on FER2013 by tools/calibrate.py (the FER+ neutral median and the
1st percentile over all faces) and read from the calibration table.
"""

from __future__ import annotations

import numpy as np

from mien.calibration import load_table
from mien.frame import Faces

# p1 outer corner, p2/p3 upper lid, p4 inner corner, p5/p6 lower lid (as in Soukupová & Čech 2016)
LEFT_EYE_EAR = (263, 387, 385, 362, 380, 373)
RIGHT_EYE_EAR = (33, 160, 158, 133, 153, 144)


def eye_aspect_ratio(landmarks: np.ndarray, points: tuple[int, ...]) -> np.ndarray:
    p1, p2, p3, p4, p5, p6 = (landmarks[:, i] for i in points)
    vertical = np.linalg.norm(p2 - p6, axis=1) + np.linalg.norm(p3 - p5, axis=1)
    return vertical / (2.0 * np.maximum(np.linalg.norm(p1 - p4, axis=1), 1e-6))


def eye_aspect_ratios(landmarks: np.ndarray) -> np.ndarray:
    """(N, 478, 3) -> (N, 2) EAR of the person's left, right eye."""
    return np.stack([eye_aspect_ratio(landmarks, LEFT_EYE_EAR), eye_aspect_ratio(landmarks, RIGHT_EYE_EAR)], axis=1)


def eye_closure(landmarks: np.ndarray) -> np.ndarray:
    """(N, 478, 3) -> (N, 2) closure of the person's left, right eye, 0 open .. 1 closed."""
    constants = load_table()["eye_closure"]
    open_ear, closed_ear = constants["open_ear"], constants["closed_ear"]
    return np.clip((open_ear - eye_aspect_ratios(landmarks)) / (open_ear - closed_ear), 0.0, 1.0).astype(np.float32)


class EyeClosure:
    """Stage: fills Faces.eye_closure."""

    def __call__(self, faces: Faces) -> Faces:
        faces.eye_closure = eye_closure(faces.landmarks)
        return faces
