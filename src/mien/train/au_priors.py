"""How likely each FACS action unit is on a face showing each expression: the published tables.

Six basic expressions: Du, Tao & Martinez (2014), "Compound facial expressions of emotion", PNAS
111(15), Table 1, from FACS coding of 230 posers. An AU is *prototypical* when at least 70% of
posers used it, a *variant* with the share of posers given in the table. We take a prototypical
AU's probability as 0.85 (the middle of 70-100%), a variant's as its share, any other AU's as 0.05
(coders do code unlisted AUs now and then). Contempt, which Du et al. do not code, is the unilateral
AU12 + AU14 of EMFACS (Ekman & Friesen 1983; Matsumoto & Ekman 2004): AU14 prototypical, AU12 a
variant at 0.5. Neutral faces are expected to show no AU beyond chance (0.02).

These numbers never leave training: tools/calibrate.py writes them into the calibration table,
which analysis reads.
"""

from __future__ import annotations

import numpy as np

from mien.schema import EMOTIONS

PROTOTYPICAL = 0.85
UNLISTED = 0.05
NEUTRAL = 0.02

# expression: ({prototypical AUs}, {variant AU: share of posers})
DU_2014 = {
    "happiness": ({"AU12", "AU25"}, {"AU06": 0.51}),
    "sadness": ({"AU04", "AU15"}, {"AU01": 0.60, "AU06": 0.50, "AU17": 0.67}),
    "fear": ({"AU01", "AU04", "AU20", "AU25"}, {"AU02": 0.57, "AU05": 0.63, "AU26": 0.33}),
    "anger": ({"AU04", "AU07", "AU24"}, {"AU10": 0.26, "AU17": 0.52, "AU23": 0.29}),
    "surprise": ({"AU01", "AU02", "AU25", "AU26"}, {"AU05": 0.66}),
    "disgust": ({"AU09", "AU10", "AU17"}, {"AU04": 0.31, "AU24": 0.26}),
    "contempt": ({"AU14"}, {"AU12": 0.50}),
}
SOURCE = ("Du, Tao & Martinez 2014 (PNAS, Table 1) for six basic expressions; EMFACS contempt "
          "(AU14 with a variant AU12); prototypical 0.85, variant = share of posers, unlisted 0.05, "
          "neutral 0.02")  # fmt: skip


def probability(au: str, emotion: str) -> float:
    """P(a FACS coder codes ``au`` | the face shows ``emotion``)."""
    if emotion == "neutral":
        return NEUTRAL
    prototypical, variants = DU_2014[emotion]
    return PROTOTYPICAL if au in prototypical else variants.get(au, UNLISTED)


def prior_matrix(aus: tuple[str, ...] | list[str]) -> np.ndarray:
    """(8, len(aus)) P(AU | expression), rows in schema.EMOTIONS order."""
    return np.array([[probability(au, e) for au in aus] for e in EMOTIONS], np.float64)


def expected_by_expression(au: str) -> set[str]:
    """Expressions in which ``au`` is prototypical: the EMFACS prototype test's positives."""
    return {e for e, (prototypical, _) in DU_2014.items() if au in prototypical}
