"""FACS action units from MediaPipe blendshapes and landmark geometry.

Each blendshape of the Face Landmarker is defined (after Apple's ARKit set) as one facial movement,
most of them one FACS action unit. A score b becomes an intensity 0-5 by a linear ramp from REST
(no intensity below it) to FULL (intensity 5, FACS level E). REST is the score's 95th percentile
on FER+ neutral faces, FULL its 99th percentile over all faces, except where noted; the geometric
measures are calibrated the same way. All were measured on FER2013 splits
0 and 1 with tools/fer_landmark_stats.py; docs/action_units.md gives the evidence per AU.

Measured limits: the model's cheekSquint and noseSneer never fire (99th percentile < 0.0001), so
AU06 and AU09 come from other signals; mouthStretch fires on broad smiles, so AU20 is gated by
AU12. AU09, AU17, AU23 and AU24 have little evidence behind them: treat them as exploratory.
Presence is intensity ≥ 1 (FACS level A).
"""

from __future__ import annotations

import numpy as np

from mien.frame import Faces
from mien.schema import AU_CODES, BLENDSHAPES

# AU: (blendshapes averaged, REST, FULL)
FROM_BLENDSHAPES: dict[str, tuple[tuple[str, ...], float, float]] = {
    # Brows: FER's blurry 48-px faces inflate these scores (neutral 90th percentile 0.34-0.69
    # there, < 0.1 on sharp neutral photos), so REST sits at FER's neutral median plus a margin.
    "AU01": (("browInnerUp",), 0.15, 0.90),
    "AU02": (("browOuterUpLeft", "browOuterUpRight"), 0.20, 0.90),
    "AU04": (("browDownLeft", "browDownRight"), 0.10, 0.75),
    "AU05": (("eyeWideLeft", "eyeWideRight"), 0.12, 0.36),
    # ARKit's eyeSquint is "contraction of the face around the eye": orbicularis oculi, AU06's muscle.
    "AU06": (("eyeSquintLeft", "eyeSquintRight"), 0.35, 0.80),
    "AU10": (("mouthUpperUpLeft", "mouthUpperUpRight"), 0.04, 0.79),
    "AU12": (("mouthSmileLeft", "mouthSmileRight"), 0.11, 0.95),
    "AU14": (("mouthDimpleLeft", "mouthDimpleRight"), 0.045, 0.20),
    "AU15": (("mouthFrownLeft", "mouthFrownRight"), 0.16, 0.40),
    "AU17": (("mouthShrugLower",), 0.21, 0.51),
    "AU20": (("mouthStretchLeft", "mouthStretchRight"), 0.12, 0.69),
    # Lips tightened and narrowed: no blendshape is AU23 itself; pressed and rolled-in lips are
    # its nearest movements. Exploratory.
    "AU23": (("mouthPressLeft", "mouthPressRight", "mouthRollLower", "mouthRollUpper"), 0.22, 0.45),
    "AU24": (("mouthPressLeft", "mouthPressRight"), 0.22, 0.43),
    "AU26": (("jawOpen",), 0.185, 0.70),
    "AU28": (("mouthRollLower", "mouthRollUpper"), 0.21, 0.47),
}
# Blendshape AUs that broad smiles also move: scaled by (1 - AU12 / 5).
GATED_BY_SMILE = ("AU20",)

# Geometric AUs: distances over the inter-ocular distance (iris centres), which shrink as the AU acts.
RIGHT_IRIS, LEFT_IRIS = 468, 473
NOSE_WING_TO_INNER_EYE = ((129, 133), (358, 362))  # AU09 pulls the nose wings up to the eyes
NOSE_WING_REST, NOSE_WING_FULL = 0.496, 0.443
# AU25 (lips part): inner-lip gap over mouth width.
INNER_LIP_GAP, MOUTH_CORNERS = (13, 14), (61, 291)
LIPS_PART_REST, LIPS_PART_FULL = 0.04, 0.50
# Eye closure (0-1) to AU07 (lids narrowed, not closing) and AU43/AU45 (lids closing).
LID_TIGHT_REST, LID_TIGHT_FULL, LID_CLOSING = 0.10, 0.50, 0.70
CLOSED_REST, CLOSED_FULL = 0.40, 0.90

_INDEX = {code: i for i, code in enumerate(AU_CODES)}
# FROM_BLENDSHAPES as arrays, so one matrix product averages every AU's blendshapes at once.
_BLEND_AUS = [_INDEX[au] for au in FROM_BLENDSHAPES]
_AVERAGING = np.zeros((len(BLENDSHAPES), len(FROM_BLENDSHAPES)), np.float32)
for _column, (_names, _, _) in enumerate(FROM_BLENDSHAPES.values()):
    _AVERAGING[[BLENDSHAPES.index(n) for n in _names], _column] = 1.0 / len(_names)
_REST = np.array([rest for _, rest, _ in FROM_BLENDSHAPES.values()], np.float32)
_FULL = np.array([full for _, _, full in FROM_BLENDSHAPES.values()], np.float32)


def _ramp(values: np.ndarray, rest, full) -> np.ndarray:
    """0 at rest, 5 at full (works for decreasing measures too: full < rest)."""
    return 5.0 * np.clip((values - rest) / (full - rest), 0.0, 1.0)


def _distance(landmarks: np.ndarray, pairs: tuple[tuple[int, int], ...]) -> np.ndarray:
    return np.mean([np.linalg.norm(landmarks[:, a] - landmarks[:, b], axis=1) for a, b in pairs], axis=0)


def action_units(blendshapes: np.ndarray, landmarks: np.ndarray, eye_closure: np.ndarray) -> np.ndarray:
    """(N, 52), (N, 478, 3), (N, 2) -> (N, len(AU_CODES)) intensities 0-5."""
    out = np.zeros((len(blendshapes), len(AU_CODES)), np.float32)
    out[:, _BLEND_AUS] = _ramp(blendshapes @ _AVERAGING, _REST, _FULL)
    not_smiling = 1.0 - out[:, _INDEX["AU12"]] / 5.0
    for au in GATED_BY_SMILE:
        out[:, _INDEX[au]] *= not_smiling

    interocular = np.maximum(np.linalg.norm(landmarks[:, RIGHT_IRIS] - landmarks[:, LEFT_IRIS], axis=1), 1e-6)
    nose_wings = _distance(landmarks, NOSE_WING_TO_INNER_EYE) / interocular
    # A broad smile's raised cheeks push the nose wings up too: keep AU09 for the unsmiling face.
    out[:, _INDEX["AU09"]] = _ramp(nose_wings, NOSE_WING_REST, NOSE_WING_FULL) * not_smiling
    gap = _distance(landmarks, (INNER_LIP_GAP,))
    width = np.maximum(_distance(landmarks, (MOUTH_CORNERS,)), 1e-6)
    out[:, _INDEX["AU25"]] = _ramp(gap / width, LIPS_PART_REST, LIPS_PART_FULL)

    closure = eye_closure.mean(axis=1)
    out[:, _INDEX["AU07"]] = _ramp(closure, LID_TIGHT_REST, LID_TIGHT_FULL) * (closure < LID_CLOSING)
    # AU45 (blink) follows the mean closure; AU43 (eyes closed) needs both eyes shut. Within one
    # frame a blink and a closure look the same: telling them apart by duration is temporal work.
    out[:, _INDEX["AU45"]] = _ramp(closure, CLOSED_REST, CLOSED_FULL)
    out[:, _INDEX["AU43"]] = _ramp(eye_closure.min(axis=1), CLOSED_REST, CLOSED_FULL)
    return out


def presence(intensity: np.ndarray) -> np.ndarray:
    """Present when the intensity reaches FACS level A (1 on the 0-5 scale)."""
    return (intensity >= 1.0).astype(np.int8)


class ActionUnits:
    """Stage: fills Faces.aus from blendshapes, landmarks and eye closure."""

    def __call__(self, faces: Faces) -> Faces:
        faces.aus = action_units(faces.blendshapes, faces.landmarks, faces.eye_closure)
        return faces
