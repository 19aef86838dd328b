"""Prkachin-Solomon Pain Intensity (PSPI, Prkachin & Solomon 2008), 0-16.

PSPI = AU4 + max(AU6, AU7) + max(AU9, AU10) + AU43, with AU43 scored 0/1 (eyes closed or not),
on mien's AU intensities (docs/action_units.md), with one change so that the score means pain: AU6
counts only as far as the face is not smiling, AU6 × (1 - AU12/5). Cheek raiser with lip corner
puller is the Duchenne smile of joy, not the orbital tightening of pain; counted in full, every
laugh scores as moderate pain (mien 0.1.0 did: 6-7 on the sample clip's laugh). AU9 and AU10 need
no such care: the AU layer keeps them low on smiles. Pain *events* also need the face not to smile
(docs/events.md).
"""

from __future__ import annotations

import numpy as np

from mien.frame import Faces
from mien.schema import AU_CODES
from mien.stages.aus import shipped_model

_AU = {code: i for i, code in enumerate(AU_CODES)}


def pspi(aus: np.ndarray) -> np.ndarray:
    """(N, len(AU_CODES)) intensities 0-5 -> (N,) PSPI 0-16."""
    eyes_closed = shipped_model().presence(aus)[:, _AU["AU43"]]
    not_smiling = 1.0 - aus[:, _AU["AU12"]] / 5.0
    return (
        aus[:, _AU["AU04"]]
        + np.maximum(aus[:, _AU["AU06"]] * not_smiling, aus[:, _AU["AU07"]])
        + np.maximum(aus[:, _AU["AU09"]], aus[:, _AU["AU10"]])
        + eyes_closed
    ).astype(np.float32)


class Pain:
    """Stage: fills Faces.pspi."""

    def __call__(self, faces: Faces) -> Faces:
        faces.pspi = pspi(faces.aus)
        return faces
