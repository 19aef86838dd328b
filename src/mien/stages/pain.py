"""Prkachin-Solomon Pain Intensity (PSPI, Prkachin & Solomon 2008), 0-16.

PSPI = AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43, with AU43 scored 0/1 (eyes closed or not).
"""

from __future__ import annotations

import numpy as np

from mien.frame import Faces
from mien.schema import AU_CODES
from mien.stages.aus import presence

_AU = {code: i for i, code in enumerate(AU_CODES)}


def pspi(aus: np.ndarray) -> np.ndarray:
    """(N, len(AU_CODES)) intensities 0-5 -> (N,) PSPI 0-16."""
    return (
        aus[:, _AU["AU04"]]
        + np.maximum(aus[:, _AU["AU06"]], aus[:, _AU["AU07"]])
        + np.maximum(aus[:, _AU["AU09"]], aus[:, _AU["AU10"]])
        + presence(aus[:, _AU["AU43"]])
    ).astype(np.float32)


class Pain:
    """Stage: fills Faces.pspi."""

    def __call__(self, faces: Faces) -> Faces:
        faces.pspi = pspi(faces.aus)
        return faces
