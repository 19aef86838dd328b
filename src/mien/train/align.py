"""Cut every face of a FaceSet exactly as `mien analyze` cuts faces for the expression model.

Each image goes through the dataset-mode landmarker (`FaceLandmarker.fit_crop`, the path of
``--faces-are-crops``) and then `face_crop.crop_faces`; where no landmarks fit, through
`face_crop.whole_image_crop`, as analysis does. The crops are cached, keyed by the images, the
landmarker and the crop template, because landmarking 36,000 faces takes a few minutes.
"""

from __future__ import annotations

import hashlib
import inspect
import logging
import time
from pathlib import Path

import numpy as np

from mien.frame import Frame
from mien.models.registry import MODELS, cache_dir
from mien.stages import face_crop, face_geometry, face_networks, landmarks
from mien.stages.face_crop import CROP_SIZE, crop_faces, whole_image_crop
from mien.train.datasets import FaceSet
from mien.train.face_pool import landmarker, over_chunks

log = logging.getLogger("mien.train")


def aligned_crops(faces: FaceSet, workers: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """(N, 48, 48) uint8 grey crops and (N,) bool: landmarks fitted (else whole image).

    Large sets are cut by ``workers`` processes (spawned: a script calling this must guard its
    entry point with ``if __name__ == "__main__":``, as always with multiprocessing)."""
    key = _cache_key(faces)
    cached = cache_dir() / "aligned" / f"{key}.npz"
    if cached.is_file():
        with np.load(cached) as archive:
            log.info("aligned crops from cache %s", cached)
            return archive["crops"], archive["fitted"]
    started = time.monotonic()
    crops, fitted = zip(*over_chunks(faces.images, _align_chunk, workers, "aligning"))
    crops_array, fitted_array = np.concatenate(crops), np.concatenate(fitted)
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(".part.npz")
    np.savez(partial, crops=crops_array, fitted=fitted_array)
    partial.replace(cached)
    log.info("aligned %d faces in %.0f s (landmarks fitted: %.1f%%)", len(faces),
             time.monotonic() - started, 100 * fitted_array.mean())  # fmt: skip
    return crops_array, fitted_array


def _cache_key(faces: FaceSet) -> str:
    """Changes with the images, the landmarker and the landmarking and crop code, never otherwise."""
    digest = hashlib.sha256(MODELS["face_landmarker"].sha256.encode())
    for code in (face_crop, landmarks, face_networks, face_geometry):
        digest.update(inspect.getsource(code).encode())
    for image in faces.images:
        digest.update(np.ascontiguousarray(image).data)
    return digest.hexdigest()[:24]


def _align_chunk(images: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    crops = np.zeros((len(images), CROP_SIZE, CROP_SIZE), np.uint8)
    fitted = np.zeros(len(images), bool)
    for i, image in enumerate(images):
        faces = landmarker().fit_crop(Frame("", i, 0.0, image))
        if len(faces) and np.isfinite(faces.landmarks).all():
            crops[i], fitted[i] = crop_faces(image, faces.landmarks[:1])[0], True
        else:
            crops[i] = whole_image_crop(image)[0]
    return crops, fitted
