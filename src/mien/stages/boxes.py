"""Face boxes (x, y, width, height in pixels): from landmarks, and how much two sets overlap."""

from __future__ import annotations

import numpy as np


def boxes_from_landmarks(landmarks: np.ndarray) -> np.ndarray:
    """(N, 478, 3) px -> (N, 4) x, y, w, h px: the landmarks' bounding box."""
    if len(landmarks) == 0:
        return np.zeros((0, 4), np.float32)
    low = landmarks[:, :, :2].min(axis=1)
    high = landmarks[:, :, :2].max(axis=1)
    return np.concatenate([low, high - low], axis=1).astype(np.float32)


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU matrix between x,y,w,h boxes a (N,4) and b (M,4)."""
    ax2, ay2 = a[:, 0] + a[:, 2], a[:, 1] + a[:, 3]
    bx2, by2 = b[:, 0] + b[:, 2], b[:, 1] + b[:, 3]
    w = np.clip(np.minimum(ax2[:, None], bx2[None]) - np.maximum(a[:, 0, None], b[None, :, 0]), 0, None)
    h = np.clip(np.minimum(ay2[:, None], by2[None]) - np.maximum(a[:, 1, None], b[None, :, 1]), 0, None)
    inter = w * h
    union = (a[:, 2] * a[:, 3])[:, None] + (b[:, 2] * b[:, 3])[None] - inter
    return inter / np.maximum(union, 1e-6)
