"""Per-person smoothing over time: One Euro filters (Casiez, Roussel & Vogel, CHI 2012).

A One Euro filter is a low-pass filter whose cut-off rises with the speed of the signal: while a
value holds still, jitter is removed (low cut-off); when it moves fast — a head turn, the onset of a
smile — the cut-off rises and the output follows with almost no lag. It is causal (needs only the
past), so it runs one frame at a time on live streams.

Each person (``face_id``) has its own filters, restarted when the person was unseen for longer
than ``RESTART_AFTER_S``. Eye closure is left raw: blinks last 100-400 ms and are found from it.
Faces without a confirmed identity (face_id -1) are passed through.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from mien.frame import Faces, Frame

RESTART_AFTER_S = 1.0


@dataclass(frozen=True)
class Tuning:
    """min_cutoff: Hz while still; beta: extra Hz per unit/s of speed; d_cutoff: Hz for the speed."""

    min_cutoff: float
    beta: float
    d_cutoff: float = 1.0


# Per measure, in its own units (px, degrees, 0-5 intensity, probability). Landmarks and pose
# jitter by ~0.5 px / ~0.5° on a still face; AUs and expressions rise over 100-300 ms at onsets,
# so their beta lets the cut-off climb to ~10 Hz within a frame of an onset.
TUNING = {
    "landmarks": Tuning(min_cutoff=1.5, beta=0.02),
    "boxes": Tuning(min_cutoff=1.5, beta=0.02),
    "pose": Tuning(min_cutoff=1.0, beta=0.05),
    "gaze": Tuning(min_cutoff=1.0, beta=0.05),
    "aus": Tuning(min_cutoff=2.0, beta=1.0),
    "emotions": Tuning(min_cutoff=2.0, beta=5.0),
}


def _alpha(cutoff: np.ndarray | float, dt: float) -> np.ndarray | float:
    tau = 1.0 / (2 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


class OneEuro:
    """One Euro filter over an array of any shape (every element filtered independently)."""

    def __init__(self, tuning: Tuning):
        self.tuning = tuning
        self.value: np.ndarray | None = None
        self.speed: np.ndarray | None = None
        self.time = 0.0

    def __call__(self, time: float, value: np.ndarray) -> np.ndarray:
        missing = ~np.isfinite(value)
        if self.value is None or time <= self.time:
            if self.value is None:
                self.value, self.speed, self.time = value.copy(), np.zeros_like(value), time
            return value
        dt = time - self.time
        previous = np.where(np.isfinite(self.value), self.value, value)
        speed = (value - previous) / dt
        self.speed = self.speed + _alpha(self.tuning.d_cutoff, dt) * (speed - self.speed)
        cutoff = self.tuning.min_cutoff + self.tuning.beta * np.abs(self.speed)
        smoothed = previous + _alpha(cutoff, dt) * (value - previous)
        smoothed = np.where(missing, value, smoothed)
        self.speed = np.where(np.isfinite(self.speed), self.speed, 0.0)
        self.value, self.time = smoothed, time
        return smoothed.astype(value.dtype)


class Smoother:
    """Stage: smooths landmarks, boxes, pose, gaze, AUs and expressions of each identified face."""

    def __init__(self):
        self.reset()

    def reset(self) -> None:
        self.filters: dict[int, dict[str, OneEuro]] = {}
        self.last_seen: dict[int, float] = {}

    def __call__(self, frame: Frame, faces: Faces) -> Faces:
        if faces.face_ids is None:
            return faces
        for i, face_id in enumerate(faces.face_ids):
            face_id = int(face_id)
            if face_id < 0:
                continue
            if frame.timestamp - self.last_seen.get(face_id, -math.inf) > RESTART_AFTER_S:
                self.filters[face_id] = {name: OneEuro(tuning) for name, tuning in TUNING.items()}
            self.last_seen[face_id] = frame.timestamp
            for name, one_euro in self.filters[face_id].items():
                values = getattr(faces, name)
                if values is not None:
                    values[i] = one_euro(frame.timestamp, values[i])
        if faces.emotions is not None and len(faces):
            faces.emotions /= faces.emotions.sum(axis=1, keepdims=True)
        return faces
