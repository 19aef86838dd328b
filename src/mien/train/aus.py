"""Fitting the AU model: the head-frame reference shape and one regional logistic model per AU.

Used by tools/calibrate.py (targets: the chance a coder would code each AU, from FER+ vote
distributions and the published rates of AUs per expression) and by ``mien train aus`` (targets:
a user's own FACS codes). Both write the same kind of calibration table, which
`mien.stages.aus.AUModel` reads.
"""

from __future__ import annotations

import numpy as np

from mien.schema import EMOTIONS
from mien.stages.au_signals import ANCHORS, INNER_EYE, OUTER_EYE, SIGNALS, align_to_head_frame, region_features
from mien.train.logistic import Logistic, fit_logistic

# The face region whose signals each fitted AU reads.
AU_REGIONS = {
    "AU01": "brows", "AU02": "brows", "AU04": "brows",
    "AU05": "eyes", "AU06": "eyes", "AU07": "eyes",
    "AU09": "nose", "AU10": "nose",
    "AU12": "mouth", "AU14": "mouth", "AU15": "mouth", "AU17": "mouth", "AU20": "mouth",
    "AU23": "mouth", "AU24": "mouth", "AU25": "mouth", "AU26": "mouth",
}  # fmt: skip
L2_CHOICES = (0.3, 3.0, 30.0, 300.0)
PRESENT_AT = 2.5  # intensity 5 × P: present when P ≥ 0.5, more likely coded than not


def reference_anchors(landmarks: np.ndarray, rounds: int = 4) -> np.ndarray:
    """Generalised Procrustes mean of the ANCHORS points of (N, 478, 3) faces, upright and frontal:
    x along the eye line (image right), y down, eye centres 1 apart, centred between the eyes."""
    anchors = landmarks[:, ANCHORS].astype(np.float64)
    reference = anchors[0] - anchors[0].mean(axis=0)
    for _ in range(rounds):
        reference = _upright(align_to_head_frame(landmarks, reference)[:, ANCHORS].mean(axis=0))
    return reference


def _upright(anchors: np.ndarray) -> np.ndarray:
    where = {point: i for i, point in enumerate(ANCHORS)}
    right_eye = (anchors[where[INNER_EYE[0]]] + anchors[where[OUTER_EYE[0]]]) / 2
    left_eye = (anchors[where[INNER_EYE[1]]] + anchors[where[OUTER_EYE[1]]]) / 2
    x_axis = (left_eye - right_eye) / np.linalg.norm(left_eye - right_eye)
    down = anchors[where[4]] - anchors[where[10]]  # forehead (10) to nose tip (4)
    y_axis = down - (down @ x_axis) * x_axis
    y_axis /= np.linalg.norm(y_axis)
    z_axis = np.cross(x_axis, y_axis)
    rotation = np.stack([x_axis, y_axis, z_axis], axis=1)
    centre = (left_eye + right_eye) / 2
    return (anchors - centre) @ rotation / np.linalg.norm(left_eye - right_eye)


def fit_region_model(au: str, signals: np.ndarray, target: np.ndarray, train: np.ndarray,
                     val: np.ndarray, extra: np.ndarray | None = None) -> tuple[Logistic, float]:  # fmt: skip
    """The AU's logistic model over its region's signals, its L2 penalty chosen on ``val`` by
    cross-entropy to the target. ``extra``: (N,) a further input (the expression term) whose
    weight is learned too — only for real FACS codes, never for targets made from expressions."""
    columns = [SIGNALS.index(name) for name in region_features(AU_REGIONS[au])]
    x = signals[:, columns]
    if extra is not None:
        x = np.column_stack([x, extra])
    best, best_loss, best_l2 = None, np.inf, None
    for l2 in L2_CHOICES:
        model = fit_logistic(x[train], target[train], l2=l2)
        p = np.clip(1 / (1 + np.exp(-model.logit(x[val]))), 1e-6, 1 - 1e-6)
        loss = -np.mean(target[val] * np.log(p) + (1 - target[val]) * np.log(1 - p))
        if loss < best_loss:
            best, best_loss, best_l2 = model, loss, l2
    return best, best_l2


def region_entry(au: str, model: Logistic, prior: np.ndarray, base_rate: float, prior_weight: float,
                 trust: str, evidence: dict) -> dict:  # fmt: skip
    """The calibration-table entry of a fitted AU."""
    names = list(region_features(AU_REGIONS[au]))
    return {
        "method": "region_model",
        "region": AU_REGIONS[au],
        "signals": names,
        "mean": _rounded(model.mean[: len(names)]),
        "scale": _rounded(model.scale[: len(names)]),
        "weights": _rounded(model.weights[: len(names)]),
        "bias": round(float(model.bias), 6),
        "prior": dict(zip(EMOTIONS, _rounded(prior))),
        "base_rate": round(float(base_rate), 6),
        "prior_weight": round(float(prior_weight), 6),
        "present_at": PRESENT_AT,
        "trust": trust,
        "evidence": evidence,
    }


def _rounded(values: np.ndarray) -> list[float]:
    return [round(float(v), 6) for v in values]
