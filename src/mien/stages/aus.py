"""FACS action units from MediaPipe blendshapes and landmark geometry.

Each blendshape of the Face Landmarker is defined (after Apple's ARKit set) as one facial movement,
most of them one FACS action unit; docs/action_units.md gives the mapping, its evidence and its
limits per AU. A blendshape score b becomes an intensity 0-5 by a linear ramp from REST (the
score's 95th percentile on neutral faces: below it, nothing is reported) to FULL (its 99th
percentile over all faces: intensity 5, FACS level E). Both are measured on FER2013 by
tools/fer_landmark_stats.py. Presence is intensity ≥ 1 (FACS level A).
"""

from __future__ import annotations

import numpy as np

from mien.frame import Faces
from mien.schema import AU_CODES, BLENDSHAPES

# AU: (blendshapes averaged, REST, FULL)
FROM_BLENDSHAPES: dict[str, tuple[tuple[str, ...], float, float]] = {
    "AU01": (("browInnerUp",), 0.20, 0.70),
    "AU02": (("browOuterUpLeft", "browOuterUpRight"), 0.10, 0.60),
    "AU04": (("browDownLeft", "browDownRight"), 0.20, 0.80),
    "AU05": (("eyeWideLeft", "eyeWideRight"), 0.10, 0.60),
    "AU06": (("cheekSquintLeft", "cheekSquintRight"), 0.10, 0.60),
    "AU07": (("eyeSquintLeft", "eyeSquintRight"), 0.30, 0.80),
    "AU09": (("noseSneerLeft", "noseSneerRight"), 0.10, 0.60),
    "AU10": (("mouthUpperUpLeft", "mouthUpperUpRight"), 0.10, 0.70),
    "AU12": (("mouthSmileLeft", "mouthSmileRight"), 0.10, 0.90),
    "AU14": (("mouthDimpleLeft", "mouthDimpleRight"), 0.10, 0.50),
    "AU15": (("mouthFrownLeft", "mouthFrownRight"), 0.10, 0.50),
    "AU17": (("mouthShrugLower",), 0.30, 0.80),
    "AU20": (("mouthStretchLeft", "mouthStretchRight"), 0.10, 0.50),
    "AU23": (("mouthRollLower", "mouthRollUpper"), 0.10, 0.50),
    "AU24": (("mouthPressLeft", "mouthPressRight"), 0.10, 0.50),
    "AU26": (("jawOpen",), 0.10, 0.70),
    "AU28": (("mouthRollLower", "mouthRollUpper"), 0.30, 0.80),
}

# AU25 (lips part): inner-lip gap over mouth width, from the mesh.
UPPER_INNER_LIP, LOWER_INNER_LIP = 13, 14
MOUTH_CORNERS = (61, 291)
LIPS_PART_REST, LIPS_PART_FULL = 0.02, 0.40

_COLUMNS = {name: i for i, name in enumerate(BLENDSHAPES)}


def _ramp(values: np.ndarray, rest: float, full: float) -> np.ndarray:
    return 5.0 * np.clip((values - rest) / (full - rest), 0.0, 1.0)


def action_units(blendshapes: np.ndarray, landmarks: np.ndarray, eye_closure: np.ndarray) -> np.ndarray:
    """(N, 52), (N, 478, 3), (N, 2) -> (N, len(AU_CODES)) intensities 0-5."""
    n = len(blendshapes)
    out = np.zeros((n, len(AU_CODES)), np.float32)
    for au, (names, rest, full) in FROM_BLENDSHAPES.items():
        score = blendshapes[:, [_COLUMNS[name] for name in names]].mean(axis=1)
        out[:, AU_CODES.index(au)] = _ramp(score, rest, full)
    gap = np.linalg.norm(landmarks[:, UPPER_INNER_LIP] - landmarks[:, LOWER_INNER_LIP], axis=1)
    width = np.linalg.norm(landmarks[:, MOUTH_CORNERS[0]] - landmarks[:, MOUTH_CORNERS[1]], axis=1)
    out[:, AU_CODES.index("AU25")] = _ramp(gap / np.maximum(width, 1e-6), LIPS_PART_REST, LIPS_PART_FULL)
    # AU45 (blink) follows either eye's closure; AU43 (eyes closed) needs both eyes shut. Within a
    # frame a blink and a closure look the same; telling them apart by duration is temporal work.
    out[:, AU_CODES.index("AU45")] = 5.0 * eye_closure.mean(axis=1)
    out[:, AU_CODES.index("AU43")] = 5.0 * eye_closure.min(axis=1)
    return out


def presence(intensity: np.ndarray) -> np.ndarray:
    """Present when the intensity reaches FACS level A (1 on the 0-5 scale)."""
    return (intensity >= 1.0).astype(np.int8)


class ActionUnits:
    """Stage: fills Faces.aus from blendshapes, landmarks and eye closure."""

    def __call__(self, faces: Faces) -> Faces:
        faces.aus = action_units(faces.blendshapes, faces.landmarks, faces.eye_closure)
        return faces
