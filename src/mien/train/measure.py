"""Measure every face of a set of face crops exactly as ``mien analyze --faces-are-crops`` does.

Calibrating and fitting action units needs, per face, what the AU stage reads: the 478 landmarks,
the 52 blendshapes, the pose matrix and the expression probabilities. Each image goes through the
dataset-mode landmarker (`FaceLandmarker.fit_crop`) and, where it fits, the expression model on
the aligned crop (else on the whole image, as analysis does). Results are cached, keyed by the
images, the landmarker, the expression model and this module's code: measuring 36,000 faces
takes several minutes.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import time
from dataclasses import dataclass

import numpy as np

from mien.frame import Frame
from mien.models.registry import MODELS, cache_dir, resolve_trainable
from mien.schema import BLENDSHAPES, EMOTIONS, N_MESH
from mien.stages import face_crop, face_geometry, face_networks, landmarks
from mien.stages.face_crop import CROP_SIZE, crop_faces, whole_image_crop
from mien.train.face_pool import landmarker, over_chunks

log = logging.getLogger("mien.train")


@dataclass
class Measurements:
    """Per face: landmarks (N, 478, 3) px, blendshapes (N, 52), transforms (N, 4, 4), all NaN where
    no face fitted; fitted (N,) bool; emotions (N, 8) probabilities (always present)."""

    landmarks: np.ndarray
    blendshapes: np.ndarray
    transforms: np.ndarray
    fitted: np.ndarray
    emotions: np.ndarray

    def __len__(self) -> int:
        return len(self.fitted)

    def subset(self, keep: np.ndarray) -> Measurements:
        return Measurements(self.landmarks[keep], self.blendshapes[keep], self.transforms[keep],
                            self.fitted[keep], self.emotions[keep])  # fmt: skip


def measure_faces(images: list[np.ndarray], workers: int = 2, expression_model: str | None = None) -> Measurements:
    """Dataset-mode measurements of every image (H×W×3 uint8 RGB face crops).

    Large sets are measured by ``workers`` processes (spawned: a script calling this must guard
    its entry point with ``if __name__ == "__main__":``)."""
    expression_file = resolve_trainable("expression", expression_model)
    key = _cache_key(images, expression_file.sha256)
    cached = cache_dir() / "measured" / f"{key}.npz"
    if cached.is_file():
        with np.load(cached) as archive:
            log.info("face measurements from cache %s", cached)
            return Measurements(**{name: archive[name] for name in archive.files})
    started = time.monotonic()
    parts = over_chunks(images, _measure_chunk, workers, "measuring")
    landmarks, blendshapes, transforms, fitted, crops = (np.concatenate(p) for p in zip(*parts))
    emotions = _expressions(crops, str(expression_file.path))
    measured = Measurements(landmarks, blendshapes, transforms, fitted, emotions)
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(".part.npz")
    np.savez(partial, **measured.__dict__)
    partial.replace(cached)
    log.info("measured %d faces in %.0f s (landmarks fitted: %.1f%%)", len(images),
             time.monotonic() - started, 100 * fitted.mean())  # fmt: skip
    return measured


def _expressions(crops: np.ndarray, model_path: str, batch: int = 512) -> np.ndarray:
    from mien.stages.expression import ExpressionModel

    model = ExpressionModel(model_path)
    out = np.zeros((len(crops), len(EMOTIONS)), np.float32)
    for start in range(0, len(crops), batch):
        out[start : start + batch] = model.probabilities_of_crops(crops[start : start + batch])
    return out


def _cache_key(images: list[np.ndarray], expression_sha256: str) -> str:
    """Changes with the images, the models and the measuring code, never otherwise."""
    digest = hashlib.sha256(MODELS["face_landmarker"].sha256.encode())
    digest.update(expression_sha256.encode())
    for code in (face_crop, landmarks, face_networks, face_geometry, _measure_chunk):
        digest.update(inspect.getsource(code).encode())
    for image in images:
        digest.update(np.ascontiguousarray(image).data)
        digest.update(str(image.shape).encode())
    return digest.hexdigest()[:24]


def _measure_chunk(images: list[np.ndarray]):
    n = len(images)
    landmarks = np.full((n, N_MESH, 3), np.nan, np.float32)
    blendshapes = np.full((n, len(BLENDSHAPES)), np.nan, np.float32)
    transforms = np.full((n, 4, 4), np.nan, np.float32)
    fitted = np.zeros(n, bool)
    crops = np.zeros((n, CROP_SIZE, CROP_SIZE), np.uint8)
    for i, image in enumerate(images):
        faces = landmarker().fit_crop(Frame("", i, 0.0, image))
        if len(faces) and np.isfinite(faces.landmarks).all():
            landmarks[i], blendshapes[i], transforms[i] = faces.landmarks[0], faces.blendshapes[0], faces.transforms[0]
            crops[i], fitted[i] = crop_faces(image, faces.landmarks[:1])[0], True
        else:
            crops[i] = whole_image_crop(image)[0]
    return landmarks, blendshapes, transforms, fitted, crops
