"""What the action-unit model reads: landmark geometry in the head's own frame, and blendshapes.

FACS describes each action unit as a movement of facial features (brows up, lip corners down, chin
boss pushed up...). Measured in the image, such movements mix with head rotation and distance, so
every face is first brought into the head's own frame: a similarity transform (rotation, uniform
scale, translation; Umeyama 1991) fitted on ANCHORS, points that facial muscles barely move
(forehead, nose bridge, eye corners, temples), maps the face onto a neutral reference shape whose
eye centres are 1 apart. Then the measures below are distances and displacements along the
head's own axes (x towards the image right of a frontal face, y down, z away from the camera),
in units of the inter-ocular distance.

Each measure is named for the movement it tracks; its sign is whatever the geometry gives (the
fitted AU model learns the direction). The reference shape is computed by tools/calibrate.py from
FER+ neutral faces and shipped in the calibration table.
"""

from __future__ import annotations

import numpy as np

from mien.schema import BLENDSHAPES

# Mesh points muscles of expression barely move: forehead, nose bridge and tip, eye corners, temples.
ANCHORS = (10, 151, 9, 8, 168, 6, 197, 195, 5, 4, 1, 133, 362, 33, 263, 234, 454, 127, 356, 162, 389)

# (subject right, subject left) mesh points used by the measures.
INNER_BROW, MID_BROW, OUTER_BROW = (107, 336), (105, 334), (46, 276)
INNER_EYE, OUTER_EYE = (133, 362), (33, 263)
UPPER_LID, LOWER_LID, IRIS = (159, 386), (145, 374), (468, 473)
CHEEK = (205, 425)
NOSE_WING = (129, 358)
UPPER_LIP_SIDE = (40, 270)
LIP_CORNER = (61, 291)
SUBNASALE, UPPER_LIP_TOP, UPPER_LIP_INNER, LOWER_LIP_INNER, LOWER_LIP_BOTTOM = 2, 0, 13, 14, 17
NOSE_TIP, CHIN = 1, 152
X, Y, Z = 0, 1, 2


def align_to_head_frame(landmarks: np.ndarray, reference_anchors: np.ndarray) -> np.ndarray:
    """(N, 478, 3) image-space landmarks -> the same points in the head frame of the reference.

    reference_anchors: (len(ANCHORS), 3) the neutral reference at the ANCHORS points."""
    source = landmarks[:, ANCHORS]  # (N, A, 3)
    source_mean = source.mean(axis=1, keepdims=True)
    target_mean = reference_anchors.mean(axis=0)
    centred = source - source_mean
    target = reference_anchors - target_mean
    covariance = np.einsum("nai,aj->nij", centred, target)  # (N, 3, 3)
    u, singular, vt = np.linalg.svd(covariance)
    # No reflections: flip the last axis where the best orthogonal map would be one.
    sign = np.sign(np.linalg.det(u @ vt))
    u[:, :, 2] *= sign[:, None]
    singular[:, 2] *= sign
    rotation = u @ vt  # row vectors: aligned = x @ rotation
    scale = singular.sum(axis=1) / np.maximum((centred**2).sum(axis=(1, 2)), 1e-12)
    return (landmarks - source_mean) @ rotation * scale[:, None, None] + target_mean


def _pair_mean(points: np.ndarray, pair: tuple[int, int], axis: int) -> np.ndarray:
    return (points[:, pair[0], axis] + points[:, pair[1], axis]) / 2


def _pair_distance(points: np.ndarray, a: tuple[int, int], b: tuple[int, int]) -> np.ndarray:
    """Mean of the right-side and left-side 3-D distances a-b."""
    return (np.linalg.norm(points[:, a[0]] - points[:, b[0]], axis=1)
            + np.linalg.norm(points[:, a[1]] - points[:, b[1]], axis=1)) / 2  # fmt: skip


def _distance(points: np.ndarray, a: int, b: int) -> np.ndarray:
    return np.linalg.norm(points[:, a] - points[:, b], axis=1)


def geometry(head: np.ndarray) -> dict[str, np.ndarray]:
    """Head-frame landmarks (N, 478, 3) -> named measures (N,) in inter-ocular units."""
    lip_centre_y = (head[:, UPPER_LIP_INNER, Y] + head[:, LOWER_LIP_INNER, Y]) / 2
    eye_width = _pair_distance(head, INNER_EYE, OUTER_EYE)
    return {
        # brows (y grows downwards: a raised brow has a larger eye-minus-brow height)
        "inner_brow_height": _pair_mean(head, INNER_EYE, Y) - _pair_mean(head, INNER_BROW, Y),
        "mid_brow_height": _pair_mean(head, UPPER_LID, Y) - _pair_mean(head, MID_BROW, Y),
        "outer_brow_height": _pair_mean(head, OUTER_EYE, Y) - _pair_mean(head, OUTER_BROW, Y),
        "inner_brow_gap": head[:, INNER_BROW[1], X] - head[:, INNER_BROW[0], X],
        # eyes and cheeks
        "upper_lid_above_iris": _pair_mean(head, IRIS, Y) - _pair_mean(head, UPPER_LID, Y),
        "lower_lid_below_iris": _pair_mean(head, LOWER_LID, Y) - _pair_mean(head, IRIS, Y),
        "eye_opening": _pair_distance(head, UPPER_LID, LOWER_LID) / np.maximum(eye_width, 1e-6),
        "cheek_below_eye": _pair_mean(head, CHEEK, Y) - _pair_mean(head, INNER_EYE, Y),
        # nose and upper lip
        "nose_wing_below_eye": _pair_mean(head, NOSE_WING, Y) - _pair_mean(head, INNER_EYE, Y),
        "nose_width": head[:, NOSE_WING[1], X] - head[:, NOSE_WING[0], X],
        "upper_lip_below_nose": head[:, UPPER_LIP_TOP, Y] - head[:, SUBNASALE, Y],
        "upper_lip_side_below_nose_wing": _pair_mean(head, UPPER_LIP_SIDE, Y) - _pair_mean(head, NOSE_WING, Y),
        # lip corners and mouth shape
        "lip_corner_above_lip_centre": lip_centre_y - _pair_mean(head, LIP_CORNER, Y),
        "lip_corner_below_nose": _pair_mean(head, LIP_CORNER, Y) - head[:, SUBNASALE, Y],
        "mouth_width": head[:, LIP_CORNER[1], X] - head[:, LIP_CORNER[0], X],
        "lip_corner_depth": _pair_mean(head, LIP_CORNER, Z) - head[:, UPPER_LIP_TOP, Z],
        "upper_lip_thickness": _distance(head, UPPER_LIP_TOP, UPPER_LIP_INNER),
        "lower_lip_thickness": _distance(head, LOWER_LIP_INNER, LOWER_LIP_BOTTOM),
        "lips_apart": _distance(head, UPPER_LIP_INNER, LOWER_LIP_INNER),
        "lip_protrusion": head[:, NOSE_TIP, Z] - (head[:, UPPER_LIP_TOP, Z] + head[:, LOWER_LIP_BOTTOM, Z]) / 2,
        # jaw and chin
        "chin_below_nose": head[:, CHIN, Y] - head[:, SUBNASALE, Y],
        "chin_below_lower_lip": head[:, CHIN, Y] - head[:, LOWER_LIP_BOTTOM, Y],
        "chin_depth": head[:, CHIN, Z] - head[:, NOSE_TIP, Z],
    }


GEOMETRY = tuple(geometry(np.zeros((1, 478, 3), np.float32)))

# The signals each AU may read: the measures and blendshapes of its own movement as FACS
# describes it (and of the movement it is most easily confused with, as negative evidence),
# nothing else. A model that cannot see the rest of the face is an AU detector, not an expression
# detector in disguise: given the whole mouth, AU26 learned that an open mouth in a smile is "not
# AU26" (happiness rarely shows it in posed photos) and stayed at 0 through a laugh.
_BROWS = ("browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight")
AU_SIGNALS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "AU01": (("inner_brow_height", "mid_brow_height", "inner_brow_gap"), _BROWS),
    "AU02": (("outer_brow_height", "mid_brow_height"), _BROWS),
    "AU04": (("inner_brow_height", "mid_brow_height", "inner_brow_gap"), _BROWS),
    "AU05": (("upper_lid_above_iris", "eye_opening"),
             ("eyeWideLeft", "eyeWideRight", "eyeBlinkLeft", "eyeBlinkRight")),
    "AU06": (("cheek_below_eye", "lower_lid_below_iris", "eye_opening"),
             ("eyeSquintLeft", "eyeSquintRight", "cheekSquintLeft", "cheekSquintRight")),
    "AU07": (("lower_lid_below_iris", "upper_lid_above_iris", "eye_opening"),
             ("eyeSquintLeft", "eyeSquintRight", "eyeBlinkLeft", "eyeBlinkRight")),
    "AU09": (("nose_wing_below_eye", "nose_width", "upper_lip_below_nose"),
             ("noseSneerLeft", "noseSneerRight", "mouthUpperUpLeft", "mouthUpperUpRight")),
    "AU10": (("upper_lip_below_nose", "upper_lip_side_below_nose_wing", "nose_wing_below_eye", "nose_width"),
             ("mouthUpperUpLeft", "mouthUpperUpRight", "noseSneerLeft", "noseSneerRight")),
    "AU12": (("lip_corner_above_lip_centre", "lip_corner_below_nose", "mouth_width"),
             ("mouthSmileLeft", "mouthSmileRight")),
    "AU14": (("lip_corner_depth", "mouth_width", "lip_corner_above_lip_centre"),
             ("mouthDimpleLeft", "mouthDimpleRight")),
    "AU15": (("lip_corner_above_lip_centre", "lip_corner_below_nose"),
             ("mouthFrownLeft", "mouthFrownRight")),
    "AU17": (("chin_below_lower_lip", "lower_lip_thickness", "chin_depth"),
             ("mouthShrugLower", "mouthShrugUpper", "mouthRollLower")),
    "AU20": (("mouth_width", "lip_corner_below_nose", "lip_corner_above_lip_centre"),
             ("mouthStretchLeft", "mouthStretchRight")),
    "AU23": (("mouth_width", "upper_lip_thickness", "lower_lip_thickness", "lip_protrusion"),
             ("mouthPressLeft", "mouthPressRight", "mouthPucker", "mouthFunnel", "mouthRollLower", "mouthRollUpper")),
    "AU24": (("upper_lip_thickness", "lower_lip_thickness", "lips_apart"),
             ("mouthPressLeft", "mouthPressRight", "mouthRollLower", "mouthRollUpper", "mouthClose")),
    "AU25": (("lips_apart",),
             ("jawOpen", "mouthClose", "mouthLowerDownLeft", "mouthLowerDownRight", "mouthUpperUpLeft", "mouthUpperUpRight")),
    "AU26": (("chin_below_nose", "lips_apart"), ("jawOpen", "mouthClose")),
}  # fmt: skip


def au_features(au: str) -> tuple[str, ...]:
    """Names of the signals the AU's model reads: geometry, then blendshapes."""
    geometry_names, blendshape_names = AU_SIGNALS[au]
    return geometry_names + blendshape_names


SIGNALS = GEOMETRY + BLENDSHAPES  # every signal, in the order of signal_matrix's columns


def signal_matrix(landmarks: np.ndarray, blendshapes: np.ndarray, reference_anchors: np.ndarray) -> np.ndarray:
    """(N, 478, 3), (N, 52) -> (N, len(SIGNALS)): head-frame geometry, then the blendshapes."""
    measures = geometry(align_to_head_frame(landmarks.astype(np.float64), reference_anchors))
    return np.concatenate([np.stack([measures[name] for name in GEOMETRY], axis=1), blendshapes], axis=1)
