"""The iBUG 68-point layout, picked from the 478-point MediaPipe mesh.

Index i of IBUG68_FROM_MESH is the mesh point used for iBUG landmark i. Left/right follow iBUG:
points 36-41 are the person's right eye (image left in an unmirrored photo), 42-47 the left eye.
Chosen by matching each iBUG definition (jaw contour, brow upper edge, nose ridge and base, eyelid
margins, outer and inner lip contour) to the mesh's named contours (MediaPipe FACEMESH_* sets).
"""

from __future__ import annotations

import numpy as np

IBUG68_FROM_MESH = np.array([
    # 0-16 jaw, from the person's right ear-level contour over the chin (8) to the left
    127, 234, 93, 58, 172, 136, 149, 148, 152, 377, 378, 365, 397, 288, 323, 454, 356,
    # 17-21 right brow outer -> inner, 22-26 left brow inner -> outer
    70, 63, 105, 66, 107, 336, 296, 334, 293, 300,
    # 27-30 nose ridge top -> tip, 31-35 nose base right -> left
    168, 197, 5, 4, 98, 97, 2, 326, 327,
    # 36-41 right eye: outer corner, upper lid x2, inner corner, lower lid x2
    33, 160, 158, 133, 153, 144,
    # 42-47 left eye: inner corner, upper lid x2, outer corner, lower lid x2
    362, 385, 387, 263, 373, 380,
    # 48-59 outer lip from the right corner, over the upper lip, back under the lower lip
    61, 40, 37, 0, 267, 270, 291, 321, 314, 17, 84, 91,
    # 60-67 inner lip from the right corner
    78, 81, 13, 311, 308, 402, 14, 178,
])  # fmt: skip


def ibug68(landmarks: np.ndarray) -> np.ndarray:
    """(N, 478, 3) mesh -> (N, 68, 2) iBUG x, y in the same units."""
    return landmarks[:, IBUG68_FROM_MESH, :2]
