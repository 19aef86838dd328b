"""Dataset mode runs the Face Landmarker bundle's networks itself (stages/face_networks.py,
stages/face_geometry.py) instead of MediaPipe's graph, for speed. Its results must stay
MediaPipe's: checked here against MediaPipe's own Face Landmarker on the same framed crops, within
what issue 14 allows: landmarks within 1% of the inter-ocular distance, blendshapes within 0.02,
and the same head rotation."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PIL import Image

from mien.frame import Frame
from mien.io.video import read_video
from mien.models.registry import resolve
from mien.stages.face_geometry import FaceGeometry
from mien.stages.landmarks import FaceLandmarker, framed_crop


@pytest.fixture(scope="module")
def landmarker():
    found = FaceLandmarker(str(resolve("face_landmarker").path))
    yield found
    found.close()


@pytest.fixture(scope="module")
def crops(media, landmarker):
    """48-px grey crops like FER2013's: four posed faces, and the face of every 40th frame of the
    sample video (cut around the face MediaPipe finds there)."""
    found = {}
    for name in ("happy", "surprise", "anger", "disgust"):
        image = Image.open(media(name)).convert("L")
        width, height = image.size
        cut = image.crop((int(width * 0.22), int(height * 0.25), int(width * 0.78), int(height * 0.81)))
        found[name] = np.asarray(cut.resize((48, 48)))
    landmarker.start(still=True)
    for frame in read_video(media("face_video")):
        if frame.index % 40:
            continue
        x, y, w, h = landmarker(frame).boxes[0]
        side = 1.1 * max(w, h)
        box = (x + w / 2 - side / 2, y + h / 2 - side / 2, x + w / 2 + side / 2, y + h / 2 + side / 2)
        found[f"frame {frame.index}"] = np.asarray(Image.fromarray(frame.image).convert("L").crop(box).resize((48, 48)))
    return {name: np.repeat(grey[..., None], 3, axis=2) for name, grey in found.items()}


def rotation_between(a: np.ndarray, b: np.ndarray) -> float:
    """Degrees between the rotations of two pose matrices (scale removed)."""
    ra, rb = a[:3, :3] / np.linalg.norm(a[:3, 0]), b[:3, :3] / np.linalg.norm(b[:3, 0])
    return float(np.degrees(np.arccos(np.clip((np.trace(ra.T @ rb) - 1) / 2, -1, 1))))


def test_the_direct_networks_give_mediapipes_landmarks_blendshapes_and_pose(landmarker, crops):
    assert len(crops) >= 14
    landmark_errors, blendshape_errors, rotations = [], [], []
    for name, crop in crops.items():
        direct = landmarker.fit_crop(Frame(name, 0, 0.0, crop))
        framed, zoom, pad = framed_crop(crop)
        landmarker.start(still=True)
        reference = landmarker(Frame(name, 0, 0.0, framed), search_small_faces=False)  # MediaPipe's graph
        assert len(direct) == 1 and len(reference) >= 1, name
        largest = int(np.argmax(reference.boxes[:, 2] * reference.boxes[:, 3]))
        expected = reference.landmarks[largest] / zoom - pad  # into the crop's pixels, as fit_crop does
        eye_distance = np.linalg.norm(expected[33, :2] - expected[263, :2])
        landmark_errors.append(np.linalg.norm(direct.landmarks[0, :, :2] - expected[:, :2], axis=1) / eye_distance)
        blendshape_errors.append(np.abs(direct.blendshapes[0] - reference.blendshapes[largest]))
        rotations.append(rotation_between(direct.transforms[0], reference.transforms[largest]))
    landmark_errors, blendshape_errors = np.array(landmark_errors), np.array(blendshape_errors)
    assert landmark_errors.mean(axis=1).max() < 0.01  # every crop: mean point within 1% of the eyes' distance
    assert np.percentile(landmark_errors, 99) < 0.01  # and 99% of all points
    assert np.percentile(blendshape_errors, 99) < 0.02 and blendshape_errors.max() < 0.05
    assert max(rotations) < 1.0  # degrees


def test_the_pose_matrix_is_mediapipes_for_the_same_landmarks(landmarker, crops):
    """stages/face_geometry.py against MediaPipe's geometry pipeline, on MediaPipe's landmarks."""
    geometry = FaceGeometry(landmarker.task_path)
    landmarker.start(still=True)
    for name, crop in crops.items():
        framed = framed_crop(crop)[0]
        faces = landmarker(Frame(name, 0, 0.0, framed), search_small_faces=False)
        for landmarks, transform in zip(faces.landmarks, faces.transforms):
            assert np.abs(geometry.transform(landmarks, framed.shape[1], framed.shape[0]) - transform).max() < 1e-3, name


def test_a_crop_without_a_face_is_left_unfitted_by_the_direct_networks(landmarker, media):
    landscape = np.asarray(Image.open(media("no_face_image")).convert("RGB").resize((48, 48)))
    assert len(landmarker.fit_crop(Frame("landscape", 0, 0.0, landscape))) == 0


def test_without_litert_dataset_mode_falls_back_to_mediapipes_graph(monkeypatch, landmarker, crops):
    """Intel macOS has no LiteRT wheel: there the crop goes through MediaPipe's graph instead,
    with the same result."""
    crop = crops["happy"]
    fast = landmarker.fit_crop(Frame("happy", 0, 0.0, crop))
    monkeypatch.setitem(sys.modules, "ai_edge_litert", None)  # as if not installed
    monkeypatch.setitem(sys.modules, "ai_edge_litert.interpreter", None)
    without = FaceLandmarker(str(resolve("face_landmarker").path))
    try:
        slow = without.fit_crop(Frame("happy", 0, 0.0, crop))
        assert without._networks is False and len(slow) == 1
    finally:
        without.close()
    eye_distance = np.linalg.norm(slow.landmarks[0, 33, :2] - slow.landmarks[0, 263, :2])
    assert np.linalg.norm(fast.landmarks[0, :, :2] - slow.landmarks[0, :, :2], axis=1).mean() < 0.01 * eye_distance
    assert np.abs(fast.blendshapes - slow.blendshapes).max() < 0.05
