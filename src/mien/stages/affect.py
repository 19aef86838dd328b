"""Valence and arousal derived from the expression probabilities.

Each expression has a place on Russell's (1980) circumplex of affect; a face's valence and arousal
are the probability-weighted mean of those places. This is a derived quantity, not a measurement:
it inherits the expression model's errors, cannot represent affect that no basic expression
carries, and has not been validated against valence/arousal annotations (docs/affect.md).
"""

from __future__ import annotations

import numpy as np

from mien.frame import Faces
from mien.schema import EMOTIONS

# (valence, arousal) per expression: the angle of the matching adjective in Russell (1980, fig. 2;
# happy 8°, surprised/astonished 69°, afraid 117°, angry 99°, disgusted ~ distressed 138°,
# sad 208°, contempt ~ bored/displeased ~ 190°) at radius 0.8; neutral at the centre.
CIRCUMPLEX = {
    "neutral": (0.0, 0.0),
    "happiness": (0.79, 0.11),
    "surprise": (0.29, 0.75),
    "sadness": (-0.71, -0.38),
    "anger": (-0.13, 0.79),
    "disgust": (-0.59, 0.54),
    "fear": (-0.36, 0.71),
    "contempt": (-0.79, -0.14),
}
_TABLE = np.array([CIRCUMPLEX[e] for e in EMOTIONS], np.float32)


def valence_arousal(emotions: np.ndarray) -> np.ndarray:
    """(N, 8) probabilities -> (N, 2) valence, arousal in [-1, 1]."""
    return np.clip(emotions @ _TABLE, -1.0, 1.0).astype(np.float32)


class Affect:
    """Stage: fills Faces.affect."""

    def __call__(self, faces: Faces) -> Faces:
        faces.affect = valence_arousal(faces.emotions)
        return faces
