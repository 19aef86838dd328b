"""The Python API a developer uses: mien.analyze -> Result, its groups, summary, save and read."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import mien
from mien.io.images import read_image
from mien.schema import AU_CODES, EMOTIONS
from mien.stages.face_crop import (TEMPLATE_48, aligned_crops, anchor_points, crop_faces, grey_crops,
                                   similarity_to_template)  # fmt: skip


def test_result_groups_summary_and_round_trip(face_video_result, tmp_path):
    r = face_video_result
    assert list(r.aus.columns) == list(AU_CODES)
    assert list(r.emotions.columns) == [*EMOTIONS, "emotion"]
    assert list(r.pose.columns)[:3] == ["pose_yaw", "pose_pitch", "pose_roll"]
    summary = r.summary()
    identified = r.df[r.df.face_id >= 0]  # the first frames wait for the identity to be confirmed
    assert len(summary) == 1 and summary.frames.iloc[0] == len(identified) > 0.98 * r.df.face_score.notna().sum()
    assert summary.happiness_mean.iloc[0] == pytest.approx(identified.happiness.mean(), rel=1e-5)
    for suffix in ("parquet", "csv", "jsonl"):
        back = mien.read(r.save(tmp_path / f"out.{suffix}"))
        np.testing.assert_allclose(back.df.AU12, r.df.AU12, rtol=1e-5)
        assert list(back.df.emotion) == list(r.df.emotion)


def test_alignment_maps_the_template_onto_the_face():
    """The crop's similarity transform sends template anchors exactly onto a similar face's anchors."""
    angle, scale, shift = np.radians(20), 3.5, np.array([100.0, 40.0])
    rotation = scale * np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    face = TEMPLATE_48 @ rotation.T + shift
    a, nb, c, b, a2, f = similarity_to_template(face, TEMPLATE_48)
    mapped = TEMPLATE_48 @ np.array([[a, nb], [b, a2]]).T + [c, f]
    np.testing.assert_allclose(mapped, face, atol=1e-9)
    landmarks = np.zeros((1, 478, 3))
    landmarks[0, 468:473, :2] = face[0]
    landmarks[0, 473:478, :2] = face[1]
    landmarks[0, [61, 291], :2] = face[2] + [[-5, 0], [5, 0]]
    np.testing.assert_allclose(anchor_points(landmarks)[0], face)


def test_one_colour_crop_per_face_serves_the_tracker_and_the_expression_model(analyzer, media):
    """A face is cut once (faces.crops); the expression model's grey crop made from it is exactly
    Pillow's grey of that crop, which is what the model was trained and evaluated on."""
    frame = read_image(media("multi_face"))
    faces = analyzer.perceive(frame)
    assert len(faces) >= 4 and faces.crops is not None and faces.crops.shape == (len(faces), 48, 48, 3)
    assert aligned_crops(frame, faces) is faces.crops  # not cut again
    pillow_grey = np.stack([np.asarray(Image.fromarray(crop).convert("L")) for crop in faces.crops])
    np.testing.assert_array_equal(grey_crops(faces.crops), pillow_grey)
    np.testing.assert_array_equal(crop_faces(frame.image, faces.landmarks), pillow_grey)
    assert pillow_grey.std(axis=(1, 2)).min() > 10  # faces, not flat patches


def test_a_face_at_the_edge_of_the_picture_is_cut_with_its_edge_pixels_repeated(analyzer, media):
    """Where a face's crop reaches past the picture (a face at the frame's edge), the missing part
    repeats the edge pixels, exactly as if the picture had been larger with its edges drawn out,
    never black or mirrored."""
    frame = read_image(media("multi_face"))
    faces = analyzer.perceive(frame)
    image = frame.image
    # Move the picture so that the first face sits in its top-left corner, partly outside.
    x, y = faces.landmarks[0, :, 0].min(), faces.landmarks[0, :, 1].min()
    dx, dy = int(x) + 25, int(y) + 20
    cornered = np.ascontiguousarray(image[dy:, dx:])
    moved = faces.landmarks[:1] - np.array([dx, dy, 0], np.float32)
    margin = 200
    drawn_out = np.pad(cornered, ((margin, margin), (margin, margin), (0, 0)), mode="edge")
    near_edge = crop_faces(cornered, moved, grey=False)
    expected = crop_faces(drawn_out, moved + np.array([margin, margin, 0], np.float32), grey=False)
    np.testing.assert_array_equal(near_edge, expected)
    assert (near_edge.reshape(-1, 3).max(axis=1) > 0).mean() > 0.95  # no black band
