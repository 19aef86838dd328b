"""Per-person neutral baseline for action-unit intensities (``Result.baselined()``).

People differ at rest: heavy brows read as AU04, a resting smile as AU12, and the landmark-based
intensities carry offsets of their own (docs/action_units.md). Subtracting each person's own
neutral level makes intensities comparable between people, as FaceReader's participant
calibration does. The baseline of each AU is its median over the person's neutral frames:

* ``window=(start, end)``: the frames in that time span (seconds), e.g. a recorded resting period;
* automatic: the person's most neutral frames — the ``NEUTRAL_SHARE`` of frames the expression
  model finds most neutral (at least ``MIN_FRAMES``). Ranking frames by their mean AU intensity
  instead picks the wrong frames when a person is never at rest: on the sample clip (crying,
  then laughing) a broad smile has a lower mean over 18 AUs than crying, so the smile became the
  baseline and the laugh lost its AU12.

Corrected intensity = max(0, intensity - baseline); presence and PSPI are recomputed from it. Eye
closure AUs (AU43, AU45) are left as they are: an open eye is their zero. The baseline needs the
person's whole record (or the window), so it applies to results tables, not to frames as they come.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from mien.schema import AU_CODES, EYE_AUS
from mien.stages.aus import presence
from mien.stages.pain import pspi

NEUTRAL_SHARE = 0.2
MIN_FRAMES = 10
CORRECTED_AUS = [au for au in AU_CODES if au not in EYE_AUS]


def person_baseline(face: pd.DataFrame, window: tuple[float, float] | None = None) -> pd.Series:
    """Baseline intensity of every corrected AU for one person's rows."""
    if window is not None:
        start, end = window
        neutral = face[(face["timestamp"] >= start) & (face["timestamp"] <= end)]
        if neutral.empty:
            raise ValueError(f"no frames of face {face['face_id'].iloc[0]} between {start} s and {end} s")
    else:
        count = max(MIN_FRAMES, int(round(NEUTRAL_SHARE * len(face))))
        neutral = face.loc[face["neutral"].nlargest(count).index]
    return neutral[CORRECTED_AUS].median()


def baseline_corrected(rows: pd.DataFrame, window: tuple[float, float] | None = None) -> pd.DataFrame:
    """A copy of a results table with each identified person's AUs measured from their baseline."""
    out = rows.copy()
    identified = out["face_score"].notna() & (out["face_id"] >= 0)
    for _, index in out[identified].groupby(["input", "face_id"]).groups.items():
        face = out.loc[index]
        corrected = (face[CORRECTED_AUS] - person_baseline(face, window)).clip(lower=0)
        out.loc[index, CORRECTED_AUS] = corrected.astype(np.float32)
    aus = out.loc[identified, list(AU_CODES)].to_numpy(np.float32)
    present = presence(aus)
    for i, au in enumerate(AU_CODES):
        out.loc[identified, f"{au}_present"] = present[:, i]
    out.loc[identified, "pspi"] = pspi(aus)
    return out
