"""MediaPipe Face Landmarker results read straight into NumPy arrays.

MediaPipe's Python API turns each result into one Python object per landmark and per blendshape
(478 + 52 a face), which costs ~1 ms a face with the GIL held, on the landmarker's own thread —
the longest step of the video pipeline (8.3 of 66 ms on a frame with 8 faces). Since MediaPipe 1.2
the API is a thin ctypes layer over MediaPipe's C library, so the same C call can be made here and
its result structs read as arrays. Where this MediaPipe lacks that layer (a later release may
change it), the public API is used instead: the same numbers, only slower.
"""

from __future__ import annotations

import ctypes

import numpy as np

from mien.schema import BLENDSHAPES, N_MESH


class LandmarkerArrays:
    """Per face (N, 478, 3) normalised landmarks, (N, 52) blendshape scores, (N, 4, 4) matrices."""

    def __init__(self, landmarks: np.ndarray, blendshapes: np.ndarray, transforms: np.ndarray):
        self.landmarks, self.blendshapes, self.transforms = landmarks, blendshapes, transforms


def _struct_dtype(struct: type[ctypes.Structure], fields: tuple[str, ...], kind: str) -> np.dtype:
    """A NumPy view of some numeric fields of a C struct, laid out as the struct is."""
    return np.dtype({"names": list(fields), "formats": [kind] * len(fields),
                     "offsets": [getattr(struct, name).offset for name in fields],
                     "itemsize": ctypes.sizeof(struct)})  # fmt: skip


def _items(pointer, count: int, dtype: np.dtype) -> np.ndarray:
    """``count`` structs at a ctypes pointer, copied out (the C result is freed afterwards)."""
    if count == 0:
        return np.zeros(0, dtype)
    return np.frombuffer(ctypes.string_at(pointer, count * dtype.itemsize), dtype)


class _CReader:
    """Calls a MediaPipe task's C detection functions and reads their results as arrays."""

    def __init__(self):
        from mediapipe.tasks.python.components.containers import category_c, landmark_c
        from mediapipe.tasks.python.vision import face_landmarker

        self.result_type = face_landmarker.MpFaceLandmarkerResultC
        self.point = _struct_dtype(landmark_c.MpNormalizedLandmarkC, ("x", "y", "z"), "<f4")
        self.score = _struct_dtype(category_c.MpCategoryC, ("score",), "<f4")

    def detect(self, task, image, timestamp_ms: int | None) -> LandmarkerArrays:
        result = self.result_type()
        if timestamp_ms is None:
            task._lib.MpFaceLandmarkerDetectImage(task._handle, image._image_ptr, None, ctypes.byref(result))
        else:
            task._lib.MpFaceLandmarkerDetectForVideo(task._handle, image._image_ptr, None, timestamp_ms,
                                                     ctypes.byref(result))  # fmt: skip
        try:
            return self._arrays(result)
        finally:
            task._lib.MpFaceLandmarkerCloseResult(ctypes.byref(result))

    def _arrays(self, result) -> LandmarkerArrays:
        n = result.face_landmarks_count
        landmarks = np.empty((n, N_MESH, 3), np.float32)
        for i in range(n):
            face = result.face_landmarks[i]
            points = _items(face.landmarks, face.landmarks_count, self.point)[:N_MESH]
            landmarks[i] = np.stack([points["x"], points["y"], points["z"]], axis=1)
        blendshapes = np.zeros((n, len(BLENDSHAPES)), np.float32)
        for i in range(min(n, result.face_blendshapes_count)):
            categories = result.face_blendshapes[i]
            blendshapes[i] = _items(categories.categories, categories.categories_count, self.score)["score"]
        transforms = np.zeros((n, 4, 4), np.float32)
        for i in range(min(n, result.facial_transformation_matrixes_count)):
            matrix = result.facial_transformation_matrixes[i]
            # column-major in C, as MediaPipe's own to_numpy reads it
            values = np.ctypeslib.as_array(matrix.data, shape=(matrix.cols, matrix.rows))
            transforms[i] = values.T
        return LandmarkerArrays(landmarks, blendshapes, transforms)


def _public_arrays(found) -> LandmarkerArrays:
    """The same arrays from the public API's Python objects."""
    n = len(found.face_landmarks)
    landmarks = np.empty((n, N_MESH, 3), np.float32)
    for i, points in enumerate(found.face_landmarks):
        landmarks[i] = [(p.x, p.y, p.z) for p in points[:N_MESH]]
    blendshapes = np.zeros((n, len(BLENDSHAPES)), np.float32)
    for i, categories in enumerate(found.face_blendshapes):
        blendshapes[i] = [c.score for c in categories]
    transforms = np.zeros((n, 4, 4), np.float32)
    for i, matrix in enumerate(found.facial_transformation_matrixes):
        transforms[i] = matrix
    return LandmarkerArrays(landmarks, blendshapes, transforms)


_reader: _CReader | bool | None = None  # made on first use; False: this MediaPipe has no C layer


def landmarker_arrays(task, image, timestamp_ms: int | None = None) -> LandmarkerArrays:
    """Run a MediaPipe FaceLandmarker (IMAGE mode when ``timestamp_ms`` is None, else VIDEO) on
    an ``mp.Image`` and return its faces as arrays."""
    global _reader
    if _reader is None:
        try:
            _reader = _CReader()
        except (ImportError, AttributeError):
            _reader = False
    if _reader and hasattr(task, "_lib") and hasattr(image, "_image_ptr"):
        return _reader.detect(task, image, timestamp_ms)
    found = task.detect(image) if timestamp_ms is None else task.detect_for_video(image, timestamp_ms)
    return _public_arrays(found)
