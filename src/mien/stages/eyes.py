"""Eye closure from the eyelid aperture (eye aspect ratio on 3-D landmarks).

EAR = (|p2-p6| + |p3-p5|) / (2 |p1-p4|) over two upper/lower lid pairs. Using the mesh's 3-D points
keeps the ratio stable under head rotation. Closure maps EAR linearly from OPEN_EAR (0) to
CLOSED_EAR (1); both constants are measured on FER2013 (tools/fer_landmark_stats.py).
"""

from __future__ import annotations

import numpy as np

from mien.frame import Faces

# p1 outer corner, p2/p3 upper lid, p4 inner corner, p5/p6 lower lid (as in Soukupová & Čech 2016)
LEFT_EYE_EAR = (263, 387, 385, 362, 380, 373)
RIGHT_EYE_EAR = (33, 160, 158, 133, 153, 144)
OPEN_EAR = 0.31  # median on FER+ neutral faces
CLOSED_EAR = 0.06  # 1st percentile over all FER2013 faces


def eye_aspect_ratio(landmarks: np.ndarray, points: tuple[int, ...]) -> np.ndarray:
    p1, p2, p3, p4, p5, p6 = (landmarks[:, i] for i in points)
    vertical = np.linalg.norm(p2 - p6, axis=1) + np.linalg.norm(p3 - p5, axis=1)
    return vertical / (2.0 * np.maximum(np.linalg.norm(p1 - p4, axis=1), 1e-6))


def eye_closure(landmarks: np.ndarray) -> np.ndarray:
    """(N, 478, 3) -> (N, 2) closure of the person's left, right eye, 0 open .. 1 closed."""
    ears = np.stack([eye_aspect_ratio(landmarks, LEFT_EYE_EAR), eye_aspect_ratio(landmarks, RIGHT_EYE_EAR)], axis=1)
    return np.clip((OPEN_EAR - ears) / (OPEN_EAR - CLOSED_EAR), 0.0, 1.0).astype(np.float32)


class EyeClosure:
    """Stage: fills Faces.eye_closure."""

    def __call__(self, faces: Faces) -> Faces:
        faces.eye_closure = eye_closure(faces.landmarks)
        return faces
