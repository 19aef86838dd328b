"""Expression probabilities from an aligned face crop, with mien's own FER+ model (ONNX).

The model (docs/models/expression.md, trained by `mien train expression`) reads the 48×48 grey crop
of `face_crop.crop_faces` as is; enlarging, normalisation and the calibrated softmax are inside
the ONNX graph. Each face is classified together with its mirror image and the two probability
vectors averaged, so a mirrored face gets the same answer and small asymmetries of the model cancel;
training and evaluation score exactly this.
"""

from __future__ import annotations

import numpy as np

from mien.frame import Faces, Frame
from mien.models.runtime import onnx_session
from mien.schema import EMOTIONS, FER2013_EMOTIONS
from mien.stages.face_crop import aligned_crops, grey_crops


class ExpressionModel:
    """Stage: fills Faces.emotions (N, 8), schema.EMOTIONS order."""

    def __init__(self, model_path: str):
        self.session = onnx_session(model_path)
        metadata = self.session.get_modelmeta().custom_metadata_map
        for key, expected in (("classes", EMOTIONS), ("fer2013_classes", FER2013_EMOTIONS)):
            found = tuple(metadata.get(key, "").split(","))
            if found != expected:
                raise ValueError(f"{model_path}: an expression model must declare {key} "
                                 f"{','.join(expected)}; it declares {','.join(found) or 'none'}")  # fmt: skip

    def predict(self, crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(N, 48, 48) uint8 aligned grey crops -> (N, 8) expression and (N, 7) FER2013-label
        probabilities, each the mean over the face and its mirror image."""
        n = len(crops)
        both = np.concatenate([crops, crops[:, :, ::-1]]).astype(np.float32)[:, None]
        expressions, fer2013 = self.session.run(["expressions", "fer2013"], {"crops": both})
        return (expressions[:n] + expressions[n:]) / 2, (fer2013[:n] + fer2013[n:]) / 2

    def probabilities_of_crops(self, crops: np.ndarray) -> np.ndarray:
        return self.predict(crops)[0]

    def __call__(self, frame: Frame, faces: Faces) -> Faces:
        if len(faces) == 0:
            faces.emotions = np.zeros((0, len(EMOTIONS)), np.float32)
            return faces
        faces.emotions = self.probabilities_of_crops(grey_crops(aligned_crops(frame, faces)))
        return faces
