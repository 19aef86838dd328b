"""Nothing is capped or cut without a word: faces beyond --max-faces, animated images, damaged
video packets, dataset crops where no face fits, head positions of faces found in cut-outs, and
the events of a person who leaves a live stream."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from media_factory import frames_of, write_video
from mien.pipeline import Models


def mien(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mien.cli", *args], capture_output=True, text=True)


def test_faces_beyond_max_faces_are_counted_and_reported(media, tmp_path):
    photo = media("multi_face")  # five people
    done = mien("analyze", photo, "--max-faces", "2", "-o", str(tmp_path / "two.csv"), "-q")
    assert done.returncode == 0, done.stderr
    assert len(pd.read_csv(tmp_path / "two.csv")) == 2
    warning = [line for line in done.stderr.splitlines() if "--max-faces 2" in line]
    assert len(warning) == 1 and warning[0].startswith(f"mien: warning: {photo}: more faces than --max-faces 2")
    more = int(warning[0].split("about ")[1].split()[0])
    assert more >= 3  # at least the three left out
    done = mien("analyze", photo, "-o", str(tmp_path / "all.csv"), "-q")  # the default holds a group
    assert done.returncode == 0 and done.stderr == ""
    assert len(pd.read_csv(tmp_path / "all.csv")) == 5


def test_an_animated_gif_is_analysed_frame_by_frame(media, tmp_path):
    pictures = [Image.open(media(name)).convert("RGB").resize((320, 320)) for name in ("happy", "anger", "surprise")]
    gif = tmp_path / "faces.gif"
    pictures[0].save(gif, save_all=True, append_images=pictures[1:], duration=200, loop=0)
    done = mien("analyze", str(gif), "-o", str(tmp_path / "out.csv"))
    assert done.returncode == 0, done.stderr
    rows = pd.read_csv(tmp_path / "out.csv")
    assert list(rows.frame) == [0, 1, 2] and np.allclose(rows.timestamp, [0.0, 0.2, 0.4])
    assert rows.face_score.notna().all()
    assert rows.emotion.iloc[0] == "happiness" and rows.emotion.iloc[2] == "surprise"


def test_damaged_packets_are_skipped_and_counted_and_decoding_goes_on(media, tmp_path):
    data = bytearray(Path(media("face_video")).read_bytes())  # 472 frames
    for k in range(3):  # three damaged places in the middle of the video
        at = len(data) // 2 + k * 40000
        data[at : at + 3000] = bytes(3000)
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(bytes(data))
    done = mien("analyze", str(broken), "-o", str(tmp_path / "out.parquet"))
    assert done.returncode == 0, done.stderr
    rows = pd.read_parquet(tmp_path / "out.parquet")
    assert 450 <= rows.frame.nunique() < 472 and rows.timestamp.max() > 19.0  # to the end, not to the break
    notice = [line for line in done.stderr.splitlines() if "damaged video packets skipped" in line]
    assert len(notice) == 1 and notice[0].startswith(f"mien: warning: {broken}: ")
    assert f"{rows.frame.nunique()} frames were analysed" in notice[0]


def test_dataset_mode_marks_crops_where_no_face_fits(media, tmp_path):
    done = mien("analyze", media("no_face_image"), media("happy"), "--faces-are-crops", "-o", str(tmp_path / "out.csv"))
    assert done.returncode == 0, done.stderr
    rows = pd.read_csv(tmp_path / "out.csv").set_index("input")
    drawing, face = rows.loc[media("no_face_image")], rows.loc[media("happy")]
    assert drawing.face_fitted == 0 and pd.notna(drawing.emotion) and pd.isna(drawing.AU12)
    assert face.face_fitted == 1 and face.emotion == "happiness"
    assert pd.isna(face.pose_tz) and pd.notna(face.pose_yaw)  # a crop shows no camera: no distance


def test_rows_without_a_face_leave_face_fitted_empty(media, tmp_path):
    done = mien("analyze", media("no_face_image"), "-o", str(tmp_path / "out.csv"))
    assert done.returncode == 0, done.stderr
    assert pd.read_csv(tmp_path / "out.csv").face_fitted.isna().all()


def test_head_position_of_faces_found_in_tiles_is_where_they_are(media, tmp_path):
    face = Image.open(media("happy")).convert("RGB").resize((110, 110))

    def picture(name: str, size: tuple[int, int], places: list[tuple[int, int]]) -> str:
        canvas = Image.new("RGB", size, (128, 128, 128))
        for place in places:
            canvas.paste(face, place)
        canvas.save(tmp_path / name)
        return str(tmp_path / name)

    small = picture("small.png", (330, 250), [(110, 70)])  # the face found in the whole image
    large = picture("large.png", (1800, 1350), [(100, 100), (845, 620), (1600, 1200)])  # in tiles
    done = mien("analyze", small, large, "-o", str(tmp_path / "out.csv"))
    assert done.returncode == 0, done.stderr
    rows = pd.read_csv(tmp_path / "out.csv")
    near = rows[rows.input == small].iloc[0]
    far = rows[rows.input == large].sort_values("face_x")
    assert len(far) == 3
    # The same face, 1350/250 = 5.4 times smaller in its picture's height: 5.4 times as far.
    np.testing.assert_allclose(far.pose_tz / near.pose_tz, 1350 / 250, rtol=0.15)
    # Left of the optical axis, on it, right of it; above it, on it, below it.
    assert far.pose_tx.iloc[0] < -1000 and abs(far.pose_tx.iloc[1]) < 100 and far.pose_tx.iloc[2] > 1000
    assert far.pose_ty.iloc[0] < -1000 and abs(far.pose_ty.iloc[1]) < 100 and far.pose_ty.iloc[2] > 1000


def test_events_of_a_person_who_leaves_end_while_the_stream_goes_on(media, tmp_path):
    faces = frames_of(media("single_face_video"), 60)  # a smiling man, then nobody for 22 s
    video = write_video(tmp_path / "leaves.mp4", faces + [np.full_like(faces[0], 128)] * 560)
    batches: list = []
    arrived: list[tuple[int, str]] = []  # (row batches delivered before, event)
    on_events = lambda events: arrived.extend((len(batches), f"{e.kind} {e.label}") for e in events)  # noqa: E731
    with Models().session(on_events=on_events) as session:
        assert not session.run([str(video)], on_batch=batches.append).failed
    assert ("expression happiness" in {label for _, label in arrived}) and len(batches) >= 2
    # Every event came before the first 512 rows were handed out: not held until the input ended.
    assert all(delivered == 0 for delivered, _ in arrived)
