"""Per-frame measures on real faces: properties a user would notice if they were wrong."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import mien
from mien.calibration import load_table
from mien.frame import Frame
from mien.schema import AU_CODES, EMOTIONS
from mien.stages.landmarks68 import IBUG68_FROM_MESH


def one_face(analyzer, image: np.ndarray):
    faces = analyzer.perceive(Frame("test", 0, 0.0, np.ascontiguousarray(image)))
    assert len(faces) == 1
    return faces


def rgb(path: str) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def au(faces, code: str) -> float:
    return float(faces.aus[0, AU_CODES.index(code)])


def emotion(faces, name: str) -> float:
    return float(faces.emotions[0, EMOTIONS.index(name)])


def test_smile_raises_au12_and_happiness_over_other_expressions(analyzer, media):
    happy = one_face(analyzer, rgb(media("happy")))
    for other in ("anger", "surprise"):
        face = one_face(analyzer, rgb(media(other)))
        assert au(happy, "AU12") > au(face, "AU12") + 1.0
        assert emotion(happy, "happiness") > emotion(face, "happiness") + 0.3
    assert happy.emotions[0].argmax() == EMOTIONS.index("happiness")


def test_surprise_raises_brows_and_opens_the_mouth(analyzer, media):
    surprise = one_face(analyzer, rgb(media("surprise")))
    anger = one_face(analyzer, rgb(media("anger")))
    for code in ("AU01", "AU02", "AU25", "AU26"):
        assert au(surprise, code) > au(anger, code), code
    assert au(anger, "AU04") > au(surprise, "AU04")
    assert emotion(surprise, "surprise") > 0.5


def test_mirroring_flips_yaw_roll_and_gaze_but_not_the_expression(analyzer, media):
    image = rgb(media("disgust"))  # head clearly turned
    face = one_face(analyzer, image)
    mirrored = one_face(analyzer, image[:, ::-1])
    yaw, pitch, roll = face.pose[0, :3]
    m_yaw, m_pitch, m_roll = mirrored.pose[0, :3]
    assert abs(yaw) > 10 and np.sign(yaw) == -np.sign(m_yaw)
    assert abs(yaw + m_yaw) < 0.2 * abs(yaw)
    assert abs(pitch - m_pitch) < 3
    assert abs(roll + m_roll) < 3
    assert np.sign(face.gaze[0, 0]) == -np.sign(mirrored.gaze[0, 0])
    assert abs(face.gaze[0, 0] + mirrored.gaze[0, 0]) < 0.2 * abs(face.gaze[0, 0])
    assert face.emotions[0].argmax() == mirrored.emotions[0].argmax()
    np.testing.assert_allclose(face.emotions, mirrored.emotions, atol=0.1)


def test_ibug68_eye_corners_and_mouth_corners_are_the_mesh_points(analyzer, media):
    result = mien.analyze(media("single_face"))
    row = result.df.iloc[0]
    faces = one_face(analyzer, rgb(media("single_face")))
    for ibug, mesh in ((36, 33), (39, 133), (42, 362), (45, 263), (48, 61), (54, 291)):
        assert IBUG68_FROM_MESH[ibug] == mesh
        assert row[f"x_{ibug}"] == pytest.approx(faces.landmarks[0, mesh, 0], abs=0.5)
        assert row[f"y_{ibug}"] == pytest.approx(faces.landmarks[0, mesh, 1], abs=0.5)
    # iBUG's right eye (36-41) is on the image's left in an unmirrored photo; the chin is lowest.
    assert row["x_36"] < row["x_45"]
    assert row["y_8"] == max(row[f"y_{i}"] for i in range(68))


def test_probabilities_units_and_pspi_formula(face_video_result):
    df = face_video_result.df
    faces = df[df.face_score.notna()]
    assert len(faces) > 200
    np.testing.assert_allclose(faces[list(EMOTIONS)].sum(axis=1), 1.0, atol=1e-4)
    assert faces["valence"].between(-1, 1).all() and faces["arousal"].between(-1, 1).all()
    assert faces[list(AU_CODES)].stack().between(0, 5).all()
    entries = load_table()["aus"]
    for code in AU_CODES:
        assert ((faces[code] >= entries[code]["present_at"]) == (faces[f"{code}_present"] == 1)).all()
    # PSPI, with AU06 counted only as far as the face does not smile (docs/action_units.md)
    expected = (faces.AU04 + np.maximum(faces.AU06 * (1 - faces.AU12 / 5), faces.AU07)
                + np.maximum(faces.AU09, faces.AU10) + faces.AU43_present)  # fmt: skip
    np.testing.assert_allclose(faces.pspi, expected, atol=1e-4)
    assert faces["pspi"].between(0, 16).all()
    assert (faces.emotion == faces[list(EMOTIONS)].idxmax(axis=1)).all()


def test_the_face_video_is_sad_first_and_happy_later(face_video_result):
    """The clip: a woman looks down crying for ~5 s, then looks up and smiles broadly from ~9 s."""
    df = face_video_result.df
    sad, happy = df[df.timestamp < 5], df[df.timestamp > 9.5]
    assert happy.happiness.mean() > 0.6
    assert happy.AU12.mean() > sad.AU12.mean()
    assert sad.sadness.mean() > happy.sadness.mean() + 0.3
    assert sad.valence.mean() < happy.valence.mean() - 0.5


def test_looking_up_gives_positive_gaze_and_head_pitch(face_video_result):
    """In the clip's first 5 s she looks down at the floor; from 6 to 10 s she looks up."""
    df = face_video_result.df
    down = df[df.timestamp < 5]
    up = df[(df.timestamp > 6) & (df.timestamp < 10)]
    assert down.gaze_pitch.mean() < 0 < up.gaze_pitch.mean()
    assert up.gaze_pitch.mean() > down.gaze_pitch.mean() + 15
    assert up.pose_pitch.mean() > down.pose_pitch.mean() + 5
