"""Fitting the AU model: the head-frame reference shape and one logistic model per AU.

Used by tools/calibrate.py (targets: the chance a coder would code each AU, from FER+ vote
distributions and the published rates of AUs per expression) and by ``mien train aus`` (targets:
a user's own FACS codes). Both write the same kind of calibration table, which
`mien.stages.aus.AUModel` reads.
"""

from __future__ import annotations

import numpy as np

from mien.schema import EMOTIONS
from mien.stages.au_signals import ANCHORS, AU_SIGNALS, INNER_EYE, OUTER_EYE, SIGNALS, align_to_head_frame, au_features
from mien.train.logistic import Logistic, fit_logistic

L2_CHOICES = (0.3, 3.0, 30.0, 300.0)
PRESENT_AT = 2.5  # intensity 5 × P: present when P ≥ 0.5, more likely coded than not
# Trust from an AU's ROC AUC on held-out faces: ≥ 0.80 good, ≥ 0.70 moderate, below weak (flagged
# in the schema and docs as not shown to work).
TRUST_RULE = ((0.80, "good"), (0.70, "moderate"))


def trust_of(auc: float) -> str:
    for floor, name in TRUST_RULE:
        if auc >= floor:
            return name
    return "weak"


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


FITTED_AUS = tuple(AU_SIGNALS)  # the AUs with a fitted model (the others: ramps, eye closure)


def au_columns(au: str) -> list[int]:
    """Columns of `au_signals.signal_matrix` that the AU's model reads."""
    return [SIGNALS.index(name) for name in au_features(au)]


def fit_au_model(au: str, signals: np.ndarray, target: np.ndarray, train: np.ndarray,
                 val: np.ndarray, extra: np.ndarray | None = None) -> tuple[Logistic, float]:  # fmt: skip
    """The AU's logistic model over its own signals, its L2 penalty chosen on ``val`` by
    cross-entropy to the target. ``extra``: (N,) a further input (the expression term) whose
    weight is learned too — only for real FACS codes, never for targets made from expressions."""
    x = signals[:, au_columns(au)]
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


def fitted_entry(au: str, model: Logistic, prior: np.ndarray, base_rate: float, prior_weight: float,
                 trust: str, evidence: dict) -> dict:  # fmt: skip
    """The calibration-table entry of a fitted AU."""
    names = list(au_features(au))
    return {
        "method": "fitted",
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
