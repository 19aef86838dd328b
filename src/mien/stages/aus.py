"""FACS action units: evidence from the AU's own movement, combined with the expression.

For each AU a small logistic model reads only the signals of the AU's own movement as FACS
describes it (`au_signals.AU_SIGNALS`): landmark geometry in the head's own frame and the Face
Landmarker's blendshapes for that movement. Its answer is the probability that a FACS coder would
code the AU, judged from that movement alone. The expression probabilities add what landmarks
cannot show (furrows, wrinkles, the face as a whole) through the published rates of each AU in
each expression; the two are combined as independent evidence (naive Bayes in logit space),

    logit P(AU) = logit P(AU | movement) + w · (logit Σₑ P(e) P(AU | e) − logit base rate)

so within one expression, where the second term is nearly constant, AUs still rank by the face's
own movement. Models fitted from FER+ vote distributions (tools/calibrate.py) use w = 1; a model
fitted on FACS-coded data (`mien train aus`) learns w.

Intensity = 5 × P(AU): continuous, rank-preserving, no floor. Presence: intensity ≥ the table's
``present_at``, 2.5 for the fitted AUs (P ≥ 0.5: more likely coded than not). The 0-5 scale is an
evidence scale, not a calibrated FACS A-E letter: no intensity-coded data were available to
calibrate one.

AU28, AU43 and AU45 are not fitted: AU28 is a blendshape ramp, AU43/AU45 follow eye closure.
Every constant is read from the calibration table (``mien.calibration``); docs/action_units.md
gives the evidence and the trust we place in each AU.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

from mien.calibration import load_table
from mien.frame import Faces
from mien.schema import AU_CODES, BLENDSHAPES, EMOTIONS
from mien.stages.au_signals import SIGNALS, signal_matrix

_INDEX = {code: i for i, code in enumerate(AU_CODES)}


def logit(p) -> np.ndarray:
    p = np.clip(np.asarray(p, np.float64), 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def expression_evidence(emotions: np.ndarray, prior: np.ndarray, base_rate) -> np.ndarray:
    """What the expression says about AUs, in logit units above their base rate: (N, 8)
    probabilities, (8,) or (8, n) P(AU | expression), a base rate per AU -> (N,) or (N, n)."""
    return logit(emotions.astype(np.float64) @ prior) - logit(base_rate)


class AUModel:
    """The AU model of one calibration table, as matrices: one product scores every AU at once."""

    def __init__(self, table: dict):
        try:
            self._load(table)
        except (KeyError, TypeError, ValueError, IndexError) as error:
            raise ValueError(f"not a usable mien AU calibration table ({type(error).__name__}: {error})") from None

    def _load(self, table: dict) -> None:
        self.table = table
        self.reference_anchors = np.asarray(table["reference_anchors"], np.float64)
        entries = table["aus"]
        self.fitted = [au for au in AU_CODES if entries[au]["method"] == "fitted"]
        columns = [_INDEX[au] for au in self.fitted]
        self._fitted_columns = np.array(columns, int)
        # standardisation folded into the weights: logit = signals @ W + b
        self._weights = np.zeros((len(SIGNALS), len(self.fitted)))
        self._bias = np.zeros(len(self.fitted))
        self._prior = np.zeros((len(EMOTIONS), len(self.fitted)))
        self._base_rate = np.zeros(len(self.fitted))
        self._prior_weight = np.zeros(len(self.fitted))
        for j, au in enumerate(self.fitted):
            entry = entries[au]
            rows = [SIGNALS.index(name) for name in entry["signals"]]
            scaled = np.asarray(entry["weights"]) / np.asarray(entry["scale"])
            self._weights[rows, j] = scaled
            self._bias[j] = entry["bias"] - scaled @ np.asarray(entry["mean"])
            self._prior[:, j] = [entry["prior"][emotion] for emotion in EMOTIONS]
            self._base_rate[j] = entry["base_rate"]
            self._prior_weight[j] = entry["prior_weight"]
        self._present_at = np.array([entries[au]["present_at"] for au in AU_CODES], np.float32)
        self._ramps = [(au, entries[au]) for au in AU_CODES if entries[au]["method"] == "blendshape_ramp"]
        self._closures = [(au, entries[au]) for au in AU_CODES if entries[au]["method"] == "eye_closure"]
        self.trust = {au: entries[au]["trust"] for au in AU_CODES}

    def probabilities(self, landmarks: np.ndarray, blendshapes: np.ndarray, emotions: np.ndarray) -> np.ndarray:
        """(N, 478, 3), (N, 52), (N, 8) -> (N, len(fitted)) P(AU) of the fitted AUs."""
        signals = signal_matrix(landmarks, blendshapes, self.reference_anchors)
        movement = signals @ self._weights + self._bias
        expression = expression_evidence(emotions, self._prior, self._base_rate)
        return 1.0 / (1.0 + np.exp(-(movement + self._prior_weight * expression)))

    def intensities(self, landmarks: np.ndarray, blendshapes: np.ndarray, eye_closure: np.ndarray,
                    emotions: np.ndarray) -> np.ndarray:  # fmt: skip
        """(N, 478, 3), (N, 52), (N, 2), (N, 8) -> (N, len(AU_CODES)) intensities 0-5."""
        out = np.zeros((len(landmarks), len(AU_CODES)), np.float32)
        if len(landmarks) == 0:
            return out
        out[:, self._fitted_columns] = 5.0 * self.probabilities(landmarks, blendshapes, emotions)
        for au, entry in self._ramps:
            score = blendshapes[:, [BLENDSHAPES.index(n) for n in entry["blendshapes"]]].mean(axis=1)
            out[:, _INDEX[au]] = _ramp(score, entry["rest"], entry["full"])
        for au, entry in self._closures:
            closure = eye_closure.min(axis=1) if entry["eyes"] == "both" else eye_closure.mean(axis=1)
            out[:, _INDEX[au]] = _ramp(closure, entry["rest"], entry["full"])
        return out

    def presence(self, intensity: np.ndarray) -> np.ndarray:
        """(N, len(AU_CODES)) intensities -> 0/1 presence, each AU at its own documented threshold."""
        return (intensity >= self._present_at).astype(np.int8)


def _ramp(values: np.ndarray, rest: float, full: float) -> np.ndarray:
    """0 at rest, 5 at full."""
    return 5.0 * np.clip((values - rest) / (full - rest), 0.0, 1.0)


@lru_cache(maxsize=1)
def shipped_model() -> AUModel:
    """The AU model of the shipped calibration table (loaded once, shared: it is read-only)."""
    return AUModel(load_table())


def presence(intensity: np.ndarray) -> np.ndarray:
    """(N, len(AU_CODES)) intensities of every AU -> 0/1 presence at the shipped thresholds."""
    return shipped_model().presence(intensity)


class ActionUnits:
    """Stage: fills Faces.aus from landmarks, blendshapes, eye closure and expression probabilities."""

    def __init__(self, table: str | None = None):
        if table is None:
            self.model = shipped_model()
            return
        try:
            loaded = load_table(table)  # its errors name the file
        except ValueError as error:
            raise ValueError(f"--au-model {error}") from None
        try:
            self.model = AUModel(loaded)
        except ValueError as error:
            raise ValueError(f"--au-model {table}: {error}") from None

    def __call__(self, faces: Faces) -> Faces:
        faces.aus = self.model.intensities(faces.landmarks, faces.blendshapes, faces.eye_closure, faces.emotions)
        return faces
