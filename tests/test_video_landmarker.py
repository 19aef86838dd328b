"""Video runs the Face Landmarker bundle's networks itself (stages/video_landmarker.py), the faces
of a frame fitted on every core, instead of MediaPipe's VIDEO-mode graph. Its results must stay
MediaPipe's: checked against MediaPipe's own graph (the path taken where LiteRT is missing) on the
same frames, within what issue 14 allows: landmarks within 1% of the inter-ocular distance,
blendshapes within 0.02, and the same faces, scores and head rotation."""

from __future__ import annotations

import itertools
import sys

import numpy as np
import pytest
from PIL import Image

from mien.frame import Frame
from mien.io.video import read_video
from mien.models.registry import resolve
from mien.stages.boxes import box_iou
from mien.stages.landmarks import FaceLandmarker
from mien.stages.video_landmarker import OneEuroLandmarks, VideoLandmarker


def rotation_between(a: np.ndarray, b: np.ndarray) -> float:
    """Degrees between the rotations of two pose matrices (scale removed)."""
    ra, rb = a[:3, :3] / np.linalg.norm(a[:3, 0]), b[:3, :3] / np.linalg.norm(b[:3, 0])
    return float(np.degrees(np.arccos(np.clip((np.trace(ra.T @ rb) - 1) / 2, -1, 1))))


def four_faces_panning(media, frames: int = 30) -> list[Frame]:
    """Four posed faces in a 2x2 grid (1024x1024), the grid sliding 3 px right and 2 px down a frame."""
    assert 3 * frames <= 100
    grid = Image.new("RGB", (1124, 1124), (110, 110, 110))
    for k, name in enumerate(("happy", "surprise", "anger", "disgust")):
        grid.paste(Image.open(media(name)).convert("RGB"), ((k % 2) * 512, (k // 2) * 512))
    return [Frame("grid", i, i / 24, np.ascontiguousarray(np.asarray(grid)[2 * i : 2 * i + 1024, 3 * i : 3 * i + 1024]))
            for i in range(frames)]  # fmt: skip


def through(landmarker: FaceLandmarker, frames: list[Frame]) -> list:
    landmarker.start(still=False)
    try:
        return [landmarker(frame) for frame in frames]
    finally:
        landmarker.close()


@pytest.fixture(scope="module")
def mediapipes_graph():
    """A landmarker as it is where LiteRT is missing: video through MediaPipe's VIDEO-mode graph."""
    saved = {name: sys.modules.get(name) for name in ("ai_edge_litert", "ai_edge_litert.interpreter")}
    sys.modules["ai_edge_litert"] = sys.modules["ai_edge_litert.interpreter"] = None  # as if not installed
    try:
        landmarker = FaceLandmarker(str(resolve("face_landmarker").path), max_faces=8)
        landmarker.start(still=False)
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module
    assert landmarker._video is None and landmarker._landmarker is None  # MediaPipe's graph, built lazily
    landmarker.close()
    yield landmarker


@pytest.mark.parametrize("clip", ["one face", "four faces"])
def test_video_through_the_networks_gives_mediapipes_faces(media, mediapipes_graph, clip):
    if clip == "one face":  # MediaPipe smooths a single face's landmarks: so must we
        frames = list(itertools.islice(read_video(media("face_video")), 150))
    else:
        frames = four_faces_panning(media)
    ours = through(FaceLandmarker(str(resolve("face_landmarker").path), max_faces=8), frames)
    theirs = through(mediapipes_graph, frames)
    landmark_errors, blendshape_errors, rotations = [], [], []
    for mine, reference in zip(ours, theirs):
        assert len(mine) == len(reference) == (1 if clip == "one face" else 4)
        match = box_iou(reference.boxes, mine.boxes).argmax(axis=1)
        assert sorted(match) == list(range(len(mine)))
        np.testing.assert_allclose(mine.scores[match], reference.scores, atol=0.01)
        for i, j in enumerate(match):
            expected = reference.landmarks[i]
            eye_distance = np.linalg.norm(expected[33, :2] - expected[263, :2])
            landmark_errors.append(np.linalg.norm(mine.landmarks[j, :, :2] - expected[:, :2], axis=1) / eye_distance)
            blendshape_errors.append(np.abs(mine.blendshapes[j] - reference.blendshapes[i]))
            rotations.append(rotation_between(mine.transforms[j], reference.transforms[i]))
    landmark_errors, blendshape_errors = np.array(landmark_errors), np.array(blendshape_errors)
    assert landmark_errors.mean(axis=1).max() < 0.01  # every face: mean point within 1% of the eyes' distance
    assert np.percentile(landmark_errors, 99) < 0.01  # and 99% of all points
    assert np.percentile(blendshape_errors, 99) < 0.02 and blendshape_errors.max() < 0.05
    assert max(rotations) < 1.0  # degrees


def test_a_frames_faces_are_the_same_fitted_on_one_thread_or_several(media):
    """Sharing the faces among threads changes nothing, not even their order."""
    task = str(resolve("face_landmarker").path)
    frames = four_faces_panning(media, frames=6)
    results = []
    for fitters in (1, 3):
        video = VideoLandmarker(task, fitters=fitters)
        results.append([video(frame.image, frame.timestamp, looking_for=4) for frame in frames])
        video.close()
    for alone, shared in zip(*results):
        assert len(alone[0]) == 4
        for a, b in zip(alone, shared):
            np.testing.assert_array_equal(a, b)


def test_a_lost_face_is_found_again_and_its_smoothing_starts_afresh(media):
    """A face that leaves the picture is dropped, not held at its last place; when it comes back
    the detector finds it and its landmarks are not pulled towards where it was before."""
    video = VideoLandmarker(str(resolve("face_landmarker").path))
    frames = list(itertools.islice(read_video(media("face_video")), 12))
    blank = np.full_like(frames[0].image, 110)
    shifted = np.roll(frames[11].image, 120, axis=1)  # the face back 120 px further right
    for frame in frames[:10]:
        assert len(video(frame.image, frame.timestamp, looking_for=1)[0]) == 1
    assert len(video(blank, 10 / 24, looking_for=1)[0]) == 0
    back = video(shifted, 11 / 24, looking_for=1)[0]
    fresh = VideoLandmarker(str(resolve("face_landmarker").path))(shifted, 0.0, looking_for=1)[0]
    assert len(back) == 1
    np.testing.assert_allclose(back, fresh, atol=1e-3)  # what a first look gives: nothing carried over


def test_the_smoothing_follows_a_moving_face_and_steadies_a_still_one():
    """MediaPipe's One Euro settings: a face at rest stays put through jitter, a face moving
    fast is followed within a few frames."""
    rng = np.random.default_rng(0)
    face = np.zeros((478, 3), np.float32)
    face[:, :2] = rng.uniform(0, 200, (478, 2))
    smoother = OneEuroLandmarks()
    for k in range(30):
        steady = smoother(k / 30, face + rng.normal(0, 0.3, face.shape).astype(np.float32))
    # Jitter of 0.3 px on a 200 px face (mean 0.24 px off): more than half of it removed.
    assert np.abs(steady - face).mean() < 0.12
    for k in range(30, 36):
        moved = smoother(k / 30, face + np.float32(40 * (k - 29)))  # 40 px a frame
    assert np.abs(moved - (face + 40 * 6)).mean() < 20  # within half a frame's movement
