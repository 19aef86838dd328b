"""Where each face's text goes in an annotated frame: beside its own face, over no other face and
no other face's text, smaller where the picture is crowded.

A block of text (the expression label, the id and event captions, the AU panel) has places it
prefers, in order (the AU panel: right of the face, then left of it...). Each place is first moved
inside the picture, as drawing would move it, then judged by what it covers: other faces and blocks
already placed, which a reader must never lose, and its own face beyond a quarter of it, which
hides what the text describes. The first place at the largest size that covers none of these
wins; a crowded frame tries smaller sizes, and if nothing is free, the place covering least.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# Sizes a block may shrink to, largest first: below about half, text at 360p is no longer legible.
SCALES = (1.0, 0.75, 0.55)
# How much of its own face a block may cover before that counts against a place.
OWN_FACE_ALLOWANCE = 0.25

# A block's places, given its face's box (x0, y0, x1, y1) and its own width and height.
Wishes = Callable[[np.ndarray, int, int], list[tuple[float, float]]]


def _overlaps(rects: np.ndarray, others: np.ndarray) -> np.ndarray:
    """(C, 4), (M, 4) rectangles x0, y0, x1, y1 -> (C, M) areas of their intersections."""
    if not len(others):
        return np.zeros((len(rects), 0))
    low = np.maximum(rects[:, None, :2], others[None, :, :2])
    high = np.minimum(rects[:, None, 2:], others[None, :, 2:])
    return np.prod(np.clip(high - low, 0, None), axis=2)


class Layout:
    """The text blocks of one frame, placed one after another (each avoids those before it)."""

    def __init__(self, image_shape: tuple[int, ...], boxes: np.ndarray):
        """boxes (N, 4) x, y, w, h in pixels, NaN for faces without one."""
        self.height, self.width = image_shape[:2]
        self.faces = np.c_[boxes[:, :2], boxes[:, :2] + boxes[:, 2:]].astype(np.float64)
        self._visible = np.isfinite(self.faces).all(axis=1)
        self.taken = np.zeros((0, 4))
        self.placed: list[tuple[int, tuple[int, int, int, int]]] = []  # (face, (x0, y0, x1, y1)), in order

    def place(self, face: int, size: Callable[[float], tuple[int, int]], wishes: Wishes) -> tuple[int, int, float]:
        """Top-left corner (px) and scale of a block for face ``face``, ``size(scale)`` px wide and
        high; the block's rectangle is kept so that later blocks avoid it."""
        own = self.faces[face]
        others = self.faces[self._visible & (np.arange(len(self.faces)) != face)]
        avoid = np.concatenate([others, self.taken])
        allowance = OWN_FACE_ALLOWANCE * np.prod(own[2:] - own[:2])
        best: tuple | None = None
        for rank, scale in enumerate(SCALES):
            width, height = size(scale)
            spots = np.asarray(wishes(own, width, height), np.float64).reshape(-1, 2)
            room = [max(self.width - width, 0), max(self.height - height, 0)]
            corners = np.clip(np.round(spots), 0, room)
            rects = np.concatenate([corners, corners + [width, height]], axis=1)
            on_own = _overlaps(rects, own[None])[:, 0]
            covered = _overlaps(rects, avoid).sum(axis=1) + np.maximum(on_own - allowance, 0)
            # Least covered first; among equals, a place meant to be beside the face but moved onto
            # it (at the picture's edge) loses; then the order of the wishes.
            k = int(np.lexsort((np.arange(len(rects)), on_own > 0, covered))[0])
            key = (covered[k], rank, on_own[k] > 0, k)
            if best is None or key < best[0]:
                best = (key, rects[k], scale)
            if best[0][0] == 0:
                break  # free at this size: a smaller one would only be harder to read
        _, rect, scale = best
        self.taken = np.vstack([self.taken, rect])
        self.placed.append((face, tuple(int(v) for v in rect)))
        return int(rect[0]), int(rect[1]), scale
