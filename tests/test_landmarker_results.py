"""The Face Landmarker's results are read from MediaPipe's C structs as arrays
(stages/landmarker_results.py), not through MediaPipe's per-point Python objects. The numbers must
be exactly those of MediaPipe's public API, in video and in still mode."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from mien.io.images import read_image
from mien.io.video import read_video
from mien.models.registry import resolve
from mien.stages import landmarker_results
from mien.stages.landmarks import _srgb, _tasks


def _landmarker(video: bool, faces: int = 4):
    BaseOptions, vision = _tasks()
    return vision.FaceLandmarker.create_from_options(vision.FaceLandmarkerOptions(
        base_options=BaseOptions(model_asset_path=str(resolve("face_landmarker").path)),
        running_mode=vision.RunningMode.VIDEO if video else vision.RunningMode.IMAGE, num_faces=faces,
        output_face_blendshapes=True, output_facial_transformation_matrixes=True))  # fmt: skip


@pytest.mark.parametrize("video", [True, False], ids=["video", "still"])
def test_the_arrays_are_exactly_mediapipes_public_results(media, video):
    """Two landmarkers fed the same frames: one read through the C structs, one through the
    public API (converted to the same arrays)."""
    fast, public = _landmarker(video), _landmarker(video)
    try:
        compared = 0
        frames = list(itertools.islice(read_video(media("face_video")), 0, 60, 1 if video else 15))
        if not video:
            frames.append(read_image(media("multi_face")))  # five small faces
        for frame in frames:
            image = _srgb(frame.image)
            ms = int(frame.timestamp * 1000) if video else None
            ours = landmarker_results.landmarker_arrays(fast, image, ms)
            theirs = public.detect_for_video(image, ms) if video else public.detect(image)
            expected = landmarker_results._public_arrays(theirs)
            assert ours.landmarks.shape == expected.landmarks.shape and len(ours.landmarks) >= 1
            np.testing.assert_array_equal(ours.landmarks, expected.landmarks)
            np.testing.assert_array_equal(ours.blendshapes, expected.blendshapes)
            np.testing.assert_array_equal(ours.transforms, expected.transforms)
            compared += len(ours.landmarks)
        assert compared >= (60 if video else 5)
    finally:
        fast.close()
        public.close()


def test_a_frame_without_a_face_gives_empty_arrays():
    landmarker = _landmarker(video=False)
    try:
        found = landmarker_results.landmarker_arrays(landmarker, _srgb(np.full((240, 320, 3), 90, np.uint8)))
        assert found.landmarks.shape == (0, 478, 3)
        assert found.blendshapes.shape[0] == 0 and found.transforms.shape == (0, 4, 4)
    finally:
        landmarker.close()


class _PublicOnly:
    """A landmarker seen only through its public methods, as a MediaPipe without the C layer
    would offer it."""

    def __init__(self, landmarker):
        self.detect = landmarker.detect


def test_without_the_c_layer_the_public_api_gives_the_same_arrays(media):
    landmarker = _landmarker(video=False)
    try:
        image = _srgb(read_image(media("multi_face")).image)
        fast = landmarker_results.landmarker_arrays(landmarker, image)
        public = landmarker_results.landmarker_arrays(_PublicOnly(landmarker), image)
        assert len(fast.landmarks) >= 2  # the larger faces (mien finds the small ones by tiles)
        np.testing.assert_array_equal(fast.landmarks, public.landmarks)
        np.testing.assert_array_equal(fast.blendshapes, public.blendshapes)
        np.testing.assert_array_equal(fast.transforms, public.transforms)
    finally:
        landmarker.close()
