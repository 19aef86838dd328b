"""Video: presentation times, rotation, frames without faces, broken files, streams."""

from __future__ import annotations

import functools
import http.server
import threading
from pathlib import Path

import av
import numpy as np
import pytest

import mien
from media_factory import frames_of, write_video


@pytest.fixture(scope="module")
def clip_frames(media):
    return frames_of(media("face_video"), 100)


def test_variable_frame_rate_timestamps_come_from_the_container(clip_frames, tmp_path):
    times = np.cumsum([0.0] + [0.02, 0.11, 0.04, 0.3, 0.013] * 5)[:20]
    path = write_video(tmp_path / "vfr.mp4", clip_frames[:20], pts_seconds=list(times))
    df = mien.analyze(str(path)).df
    assert list(df.frame) == list(range(20))
    np.testing.assert_allclose(df.timestamp, times, atol=0.0011)
    assert df.face_score.notna().all()


def test_rotated_phone_video_is_analysed_upright(clip_frames, tmp_path):
    upright = mien.analyze(str(write_video(tmp_path / "upright.mp4", clip_frames[:10]))).df
    stored_sideways = [np.rot90(f, -1) for f in clip_frames[:10]]  # what a phone held sideways stores
    path = write_video(tmp_path / "rotated.mp4", stored_sideways, rotation=90)
    assert next(av.open(str(path)).decode(video=0)).rotation == 90
    rotated = mien.analyze(str(path)).df
    assert rotated.face_score.notna().all()
    np.testing.assert_allclose(rotated.pose_roll, upright.pose_roll, atol=4)
    np.testing.assert_allclose(rotated.face_x, upright.face_x, atol=6)


def test_frames_without_a_face_are_kept_as_empty_rows(media):
    df = mien.analyze(media("face_noface_video")).df
    with av.open(media("face_noface_video")) as container:
        frames = container.streams.video[0].frames
    assert len(df[df.face_id == -1].groupby("frame")) >= 1
    assert df.frame.nunique() == frames
    empty = df[df.face_score.isna()]
    assert len(empty) > 10 and empty.AU12.isna().all() and empty.emotion.isna().all()
    assert df[df.face_score.notna()].AU12.notna().all()


def test_video_without_any_face(media):
    df = mien.analyze(media("no_face_video")).df
    assert len(df) > 50 and df.face_score.isna().all()


def test_truncated_video_keeps_the_frames_before_the_break(clip_frames, tmp_path):
    whole = write_video(tmp_path / "whole.mkv", clip_frames, container_format="matroska")
    path = tmp_path / "cut.mkv"
    path.write_bytes(whole.read_bytes()[: int(whole.stat().st_size * 0.6)])  # a copy that died mid-way
    with pytest.warns(UserWarning, match=r"cut.mkv.*stopped at frame \d+"):
        result = mien.analyze(str(path))
    assert 20 < len(result.df) < 80
    assert result.df.face_score.notna().all()
    assert result.failures and result.failures[0][0] == str(path)


def test_mp4_cut_before_its_index_is_one_clear_error(media, tmp_path):
    path = tmp_path / "cut.mp4"
    path.write_bytes(Path(media("single_face_video")).read_bytes()[:50_000])
    with pytest.warns(UserWarning, match="cut.mp4"):
        result = mien.analyze(str(path))
    assert len(result.df) == 0 and "video" in result.failures[0][1]


def test_video_with_an_unknown_codec_is_refused_clearly(clip_frames, tmp_path):
    path = write_video(tmp_path / "clip.avi", clip_frames[:3], codec="mpeg4")
    data = path.read_bytes()
    assert data.count(b"FMP4") >= 1
    path.write_bytes(data.replace(b"FMP4", b"QQQQ").replace(b"fmp4", b"qqqq"))  # a codec tag no one knows
    with pytest.warns(UserWarning, match="clip.avi"):
        result = mien.analyze(str(path))
    assert len(result.df) == 0
    assert "codec" in result.failures[0][1] or "decode" in result.failures[0][1]


def test_stream_url_and_max_frames(clip_frames, tmp_path):
    """A live-style HTTP stream (MPEG-TS, as cameras and encoders serve) from a loopback server."""
    write_video(tmp_path / "live.ts", clip_frames[:40], container_format="mpegts")
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(tmp_path))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_port}/live.ts"
        df = mien.analyze(url, max_frames=20).df
    finally:
        server.shutdown()
    assert list(df.frame) == list(range(20))
    assert (df.input == url).all() and df.face_score.notna().all()
    assert df.timestamp.is_monotonic_increasing
