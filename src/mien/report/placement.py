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

Rect = tuple[float, float, float, float]  # x0, y0, x1, y1
# A block's places, given its face's box and its own width and height.
Wishes = Callable[[Rect, int, int], list[tuple[float, float]]]


def _overlap(a: Rect, b: Rect) -> float:
    """Area two rectangles share (plain Python: a frame has a few dozen, too few for numpy)."""
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


class Layout:
    """The text blocks of one frame, placed one after another (each avoids those before it)."""

    def __init__(self, image_shape: tuple[int, ...], boxes: np.ndarray):
        """boxes (N, 4) x, y, w, h in pixels, NaN for faces without one."""
        self.height, self.width = image_shape[:2]
        self.faces: list[Rect | None] = [
            (float(x), float(y), float(x + w), float(y + h)) if np.isfinite((x, y, w, h)).all() else None
            for x, y, w, h in boxes
        ]
        self.placed: list[tuple[int, tuple[int, int, int, int]]] = []  # (face, (x0, y0, x1, y1)), in order

    def place(self, face: int, size: Callable[[float], tuple[int, int]], wishes: Wishes) -> tuple[int, int, float]:
        """Top-left corner (px) and scale of a block for face ``face``, ``size(scale)`` px wide and
        high; the block's rectangle is kept so that later blocks avoid it."""
        own = self.faces[face]
        avoid = [rect for k, rect in enumerate(self.faces) if rect is not None and k != face]
        avoid += [rect for _, rect in self.placed]
        allowance = OWN_FACE_ALLOWANCE * (own[2] - own[0]) * (own[3] - own[1])
        best: tuple | None = None
        for rank, scale in enumerate(SCALES):
            width, height = size(scale)
            rects = []
            for x, y in wishes(own, width, height):
                # Moved inside the picture, as drawing would move it.
                x = min(max(round(x), 0), max(self.width - width, 0))
                y = min(max(round(y), 0), max(self.height - height, 0))
                rects.append((x, y, x + width, y + height))
            reach = (min(r[0] for r in rects), min(r[1] for r in rects), max(r[2] for r in rects),
                     max(r[3] for r in rects))  # fmt: skip
            near = [other for other in avoid if _overlap(reach, other) > 0]  # a crowd's far side is out of reach
            for k, rect in enumerate(rects):
                on_own = _overlap(rect, own)
                covered = sum(_overlap(rect, other) for other in near) + max(on_own - allowance, 0.0)
                # Least covered first; then the largest size; then, among equals, a place meant to
                # be beside the face but moved onto it (at the picture's edge) loses; then the
                # order of the wishes.
                key = (covered, rank, on_own > 0, k)
                if best is None or key < best[0]:
                    best = (key, rect, scale)
            if best[0][0] == 0:
                break  # free at this size: a smaller one would only be harder to read
        _, rect, scale = best
        self.placed.append((face, tuple(int(v) for v in rect)))
        return int(rect[0]), int(rect[1]), scale
