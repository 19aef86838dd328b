"""One Euro smoothing: less jitter on video, no lag at expression onsets, untouched stills."""

from __future__ import annotations

import numpy as np
import pytest

import mien
from mien.stages.smoothing import OneEuro, Tuning


@pytest.fixture(scope="module")
def raw_face_video(media):
    return mien.analyze(media("face_video"), smooth=False).df


def _jitter(series: np.ndarray) -> float:
    """Mean size of frame-to-frame wobble: second differences."""
    return float(np.nanmean(np.abs(np.diff(series, n=2))))


def test_smoothing_removes_jitter_from_landmarks_pose_and_gaze(face_video_result, raw_face_video):
    smooth = face_video_result.df[face_video_result.df.face_id >= 0]
    raw = raw_face_video.loc[smooth.index]
    for column in ("x_30", "y_8", "pose_yaw", "pose_pitch", "gaze_yaw"):
        assert _jitter(smooth[column].to_numpy()) < 0.7 * _jitter(raw[column].to_numpy()), column
    # ...while following the real movement: the smoothed series stays close to the raw one.
    assert np.nanmedian(np.abs(smooth.pose_yaw - raw.pose_yaw)) < 1.0


def test_smoothing_adds_no_lag_at_the_smile_onset(face_video_result, raw_face_video):
    def onset(df) -> float:
        happy = df[df.face_id >= 0]
        return float(happy.timestamp[happy.happiness.rolling(3).min() > 0.5].iloc[0])

    assert abs(onset(face_video_result.df) - onset(raw_face_video)) <= 2 / 24  # within 2 frames


def test_stills_are_not_smoothed(media):
    default = mien.analyze(media("happy")).df
    forced_off = mien.analyze(media("happy"), smooth=False).df
    assert np.allclose(default.pose_yaw, forced_off.pose_yaw)


def test_one_euro_follows_a_step_fast_and_holds_a_constant():
    one_euro = OneEuro(Tuning(min_cutoff=1.0, beta=1.0))
    times = np.arange(60) / 30
    signal = np.where(times < 1.0, 0.0, 5.0) + np.random.default_rng(0).normal(0, 0.05, 60)
    out = np.array([one_euro(t, np.array([v]))[0] for t, v in zip(times, signal)])
    assert np.std(out[10:30]) < 0.5 * np.std(signal[10:30])  # jitter reduced while still
    assert out[33] > 4.0  # within 4 frames of the step it has (nearly) arrived
