"""Pictures: annotated video, plots and HTML reports rendered from real results of the sample clip."""

from __future__ import annotations

import base64
import csv
import io
import re
import signal
import subprocess
import sys
import time

import av
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from matplotlib.figure import Figure
from PIL import Image

import mien
from child_process import default_ctrl_c
from media_factory import frames_of, write_video
from mien.batch.run import run_batch
from mien.pipeline import Options
from mien.report import html as report_html
from mien.report.annotate import annotate
from mien.report import frame_faces
from mien.report.layers import draw_text, gaze_directions, head_axes
from mien.report.plots import binned


def _video_facts(path) -> dict:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        times, rotation, first = [], None, None
        for frame in container.decode(stream):
            times.append(float(frame.pts * frame.time_base))
            if first is None:
                rotation, first = frame.rotation, frame.to_ndarray(format="rgb24")
        return {"times": np.array(times), "audio": len(container.streams.audio), "rotation": rotation,
                "first": first}  # fmt: skip


@pytest.fixture(scope="module")
def results_file(face_video_result, tmp_path_factory):
    return face_video_result.save(tmp_path_factory.mktemp("results") / "clip.parquet")


def test_annotated_video_keeps_frames_times_and_audio_and_draws_on_the_face(media, face_video_result, tmp_path):
    source = media("face_video")
    written = annotate(source, tmp_path / "annotated.mp4", face_video_result)
    before, after = _video_facts(source), _video_facts(written.path)
    assert written.frames == len(before["times"]) == len(after["times"])
    assert written.drawn == face_video_result.df["face_score"].notna().sum()
    np.testing.assert_allclose(after["times"], before["times"], atol=1e-3)
    assert before["audio"] == 1 and after["audio"] == 1
    # Drawing happened on the face, not all over the picture: compare frame 0 with the input.
    changed = np.abs(after["first"].astype(int) - before["first"].astype(int)).max(axis=2) > 60
    x, y, w, h = face_video_result.df.loc[0, ["face_x", "face_y", "face_w", "face_h"]].astype(int)
    around = np.zeros_like(changed)
    around[max(y - 60, 0) : y + h + 60, max(x - 140, 0) : x + w + 140] = True
    assert changed[around].mean() > 0.02
    assert changed[~around].mean() < 0.01


def test_a_rotated_video_keeps_its_rotation_and_its_faces_land_on_them(media, tmp_path):
    clip = write_video(tmp_path / "turned.mp4", frames_of(media("single_face_video"), 12), rotation=90)
    result = mien.analyze(str(clip))
    written = annotate(clip, tmp_path / "turned_annotated.mp4", result, layers=["box"])
    before, after = _video_facts(clip), _video_facts(written.path)
    assert after["rotation"] == before["rotation"] != 0
    assert len(after["times"]) == len(before["times"]) == 12
    assert after["first"].shape == before["first"].shape  # stored orientation, as the input's
    assert written.drawn == 12


def test_an_input_whose_audio_comes_first_keeps_it(media, tmp_path):
    # single_face.mp4 starts with MP3 packets: the muxer must not start before the video stream exists.
    source = media("single_face_video")
    written = annotate(source, tmp_path / "with_mp3.mp4", mien.analyze(source), layers=["box", "mesh"])
    assert written.audio_streams == 1 and _video_facts(written.path)["audio"] == 1
    assert written.frames == len(_video_facts(source)["times"])


def _face_placed_at(face: frame_faces.FrameFaces, places: list[tuple[float, float]],
                    zoom: float) -> frame_faces.FrameFaces:  # fmt: skip
    """The one face of ``face`` enlarged ``zoom`` times and put with its box's corner at each of
    ``places``: a frame of several people, each with events going on."""
    n = len(places)
    corners = np.array(places, np.float32)
    shift = corners - face.boxes[0, :2] * zoom
    boxes = np.c_[corners, np.repeat(face.boxes[:, 2:] * zoom, n, axis=0)]
    return frame_faces.FrameFaces(
        frame=face.frame, timestamp=face.timestamp, boxes=boxes, ids=np.arange(n), scores=np.repeat(face.scores, n),
        points=face.points * zoom + shift[:, None, :], mesh=None, pose=np.repeat(face.pose, n, axis=0),
        gaze=np.repeat(face.gaze, n, axis=0), emotions=np.repeat(face.emotions, n, axis=0),
        aus=np.repeat(face.aus, n, axis=0), captions=[["sadness", "eyes closed", "pain"]] * n)  # fmt: skip


def _overlap(a, b) -> float:
    return max(0.0, min(a[2], b[2]) - max(a[0], b[0])) * max(0.0, min(a[3], b[3]) - max(a[1], b[1]))


def test_text_in_a_crowded_frame_covers_no_other_face_and_no_other_text(face_video_result):
    """Eight people in a 4x2 grid of a 1080p frame (a group session): each face's expression
    label, id with captions, and AU panel lie inside the picture, over no other face and no other
    text; a lone face keeps its AU panel beside it, right of it or, where the right has no room,
    left."""
    table = pa.Table.from_pandas(face_video_result.df, preserve_index=False)
    face = next(f for f in frame_faces.frames_of(table.to_batches()) if len(f) == 1)
    zoom = 300 / face.boxes[0, 2]  # faces 300 px wide in 480-px columns: no room beside them
    grid = _face_placed_at(face, [(90 + 480 * (k % 4), 70 + 540 * (k // 4)) for k in range(8)], zoom)
    image = np.zeros((1080, 1920, 3), np.uint8)
    placed = draw_text(image, grid).placed
    faces = [(x, y, x + w, y + h) for x, y, w, h in grid.boxes]
    assert sorted({owner for owner, _ in placed}) == list(range(8)) and len(placed) == 3 * 8
    for k, (owner, block) in enumerate(placed):
        x0, y0, x1, y1 = block
        assert 0 <= x0 < x1 <= 1920 and 0 <= y0 < y1 <= 1080
        assert image[y0:y1, x0:x1].max() > 200  # something was written there
        assert all(_overlap(block, other) == 0 for j, other in enumerate(faces) if j != owner), (owner, block)
        assert all(_overlap(block, other) == 0 for _, other in placed[k + 1 :]), (owner, block)
    for left, side in ((100, "right"), (1920 - 100 - 300, "left")):
        alone = _face_placed_at(face, [(left, 300)], zoom)
        panel = draw_text(np.zeros((1080, 1920, 3), np.uint8), alone).placed[-1][1]  # the AU panel: last
        x, _, w, _ = alone.boxes[0]
        assert panel[0] >= x + w if side == "right" else panel[2] <= x, (side, panel)


def _with_pcm_audio(path, images: list[np.ndarray]):
    """A Matroska video of ``images`` with a PCM audio track, as cameras record (its channel
    layout left unnamed): MP4 refuses such audio only when the file is closed."""
    height, width = (side - side % 2 for side in images[0].shape[:2])
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264", rate=25)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = out.add_stream("pcm_s16le", rate=16000)
        for k, image in enumerate(images):
            picture = av.VideoFrame.from_ndarray(np.ascontiguousarray(image[:height, :width]), format="rgb24")
            for packet in video.encode(picture):
                out.mux(packet)
            samples = (np.sin(np.arange(640 * 2) / 7.0) * 3000).astype(np.int16).reshape(1, -1)  # 40 ms, stereo
            chunk = av.AudioFrame.from_ndarray(samples, format="s16", layout="stereo")
            chunk.rate, chunk.pts = 16000, k * 640
            for packet in sound.encode(chunk):
                out.mux(packet)
        for stream in (video, sound):
            for packet in stream.encode():
                out.mux(packet)
    return path


def test_audio_an_mp4_cannot_hold_is_left_out_with_a_word_and_kept_in_mkv(media, tmp_path):
    clip = _with_pcm_audio(tmp_path / "camera.mkv", frames_of(media("single_face_video"), 12))
    result = mien.analyze(str(clip))
    as_mp4 = annotate(clip, tmp_path / "camera_annotated.mp4", result, layers=["box"])
    assert as_mp4.frames == as_mp4.drawn == 12
    assert as_mp4.audio_streams == 0 and as_mp4.audio_left_out == ["pcm_s16le"]
    assert "pcm_s16le" in as_mp4.description() and ".mkv" in as_mp4.description()
    assert _video_facts(as_mp4.path)["audio"] == 0 and len(_video_facts(as_mp4.path)["times"]) == 12
    as_mkv = annotate(clip, tmp_path / "camera_annotated.mkv", result, layers=["box"])
    assert as_mkv.audio_streams == 1 and not as_mkv.audio_left_out and _video_facts(as_mkv.path)["audio"] == 1


def _looped(source, path, times: int):
    """``source`` played ``times`` times over, packets copied (a longer video, quickly)."""
    with av.open(str(source)) as original, av.open(str(path), "w") as out:
        packets = [packet for packet in original.demux() if packet.dts is not None]
        copies = {stream.index: out.add_stream_from_template(stream) for stream in original.streams}
        span = {index: max(p.pts + (p.duration or 0) for p in packets if p.stream.index == index) for index in copies}
        for k in range(times):
            for packet in packets:
                copy = av.Packet(bytes(packet))
                shift = k * span[packet.stream.index]
                copy.pts, copy.dts, copy.duration = packet.pts + shift, packet.dts + shift, packet.duration
                copy.time_base, copy.is_keyframe = packet.time_base, packet.is_keyframe
                copy.stream = copies[packet.stream.index]
                out.mux(copy)
    return path


@pytest.mark.parametrize("how", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_an_interrupted_annotation_keeps_the_old_video_and_the_frames_so_far(media, results_file, tmp_path, how):
    """The annotated video appears only when complete: stopped part-way, the earlier file under
    the name is untouched and the frames written so far are kept, playable, as NAME.partial.EXT."""
    clip = _looped(media("face_video"), tmp_path / "long.mp4", 4)  # 1,888 frames: seconds of work
    out = tmp_path / "annotated.mp4"
    out.write_bytes(b"an earlier annotated video")
    process = subprocess.Popen([sys.executable, "-m", "mien.cli", "annotate", str(clip), "--results", str(results_file),
                                "-o", str(out), "--force"], stderr=subprocess.PIPE, text=True,
                               preexec_fn=default_ctrl_c)  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:  # wait until frames are being written
        if any(p.name.startswith(".annotated.") and p.stat().st_size > 300_000 for p in tmp_path.iterdir()):
            break
        time.sleep(0.02)
    process.send_signal(how)
    said = process.stderr.read()
    process.wait()
    assert process.returncode == (130 if how == signal.SIGINT else 143), said
    assert out.read_bytes() == b"an earlier annotated video"
    partial = tmp_path / "annotated.partial.mp4"
    why = "interrupted \\(Ctrl-C\\)" if how == signal.SIGINT else "stopped \\(SIGTERM\\)"
    said_last = said.strip().splitlines()[-1] if said.strip() else ""
    match = re.fullmatch(rf"mien: {why}; the (\d+) frames annotated so far are in {re.escape(str(partial))}", said_last)
    assert match, said
    frames = int(match.group(1))
    kept = _video_facts(partial)
    assert 0 < frames < 4 * 472 and len(kept["times"]) == frames and kept["audio"] == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["annotated.mp4", "annotated.partial.mp4", "long.mp4"]


def test_a_disk_that_cannot_take_the_annotated_video_says_so_and_keeps_what_was_written(media, results_file, tmp_path):
    import resource

    clip = _looped(media("face_video"), tmp_path / "long.mp4", 2)
    out = tmp_path / "annotated.mp4"

    def small_disk():
        resource.setrlimit(resource.RLIMIT_FSIZE, (2_000_000, 2_000_000))  # a few hundred frames' room

    full = subprocess.run([sys.executable, "-m", "mien.cli", "annotate", str(clip), "--results", str(results_file),
                           "-o", str(out)], capture_output=True, text=True, preexec_fn=small_disk)  # fmt: skip
    assert full.returncode == 1, full.stderr
    partial = tmp_path / "annotated.partial.mp4"
    message = full.stderr.strip().splitlines()[-1]
    expected = (rf"mien: error: cannot write {re.escape(str(out))} \(File too large\); the \d+ frames annotated so far "
                rf"are in {re.escape(str(partial))} \(the error may have cut it short\)")
    assert re.fullmatch(expected, message), full.stderr
    assert not out.exists() and partial.is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["annotated.partial.mp4", "long.mp4"]


def test_pose_axes_and_gaze_rays_point_the_documented_ways():
    # Yaw towards the image's right, pitch up, roll clockwise (docs/columns.md).
    right, up, forward = head_axes(np.array([[30.0, 0, 0]]))[0]
    assert forward[0] > 0.4 and abs(forward[1]) < 1e-6
    right, up, forward = head_axes(np.array([[0, 20.0, 0]]))[0]
    assert forward[1] < -0.3  # image y runs down
    right, up, forward = head_axes(np.array([[0, 0, 20.0]]))[0]
    assert right[1] > 0.3 and up[0] > 0.3  # clockwise: the right axis dips, the up axis leans right
    assert gaze_directions(np.array([[20.0, 0]]))[0, 0] > 0
    assert gaze_directions(np.array([[0, 20.0]]))[0, 1] < 0


def test_html_report_holds_every_section_and_its_pictures_decode(media, results_file, tmp_path):
    page = report_html.write_report(results_file, tmp_path / "report.html", video=media("face_video")).read_text()
    for section in ("people", "timelines", "strongest-moments", "data-quality", "settings-and-provenance"):
        assert f'id="{section}"' in page
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) >= 5  # AU face, timeline, moments, quality
    for data in images:
        Image.open(io.BytesIO(base64.b64decode(data))).load()
    # Self-contained: nothing fetched when the page is opened.
    assert not re.search(r'(src|href)="(https?:)?//', page) and "<script" not in page and "@import" not in page
    assert "mien_expression_v1.onnx" in page and "sha256" in page
    assert "no picture" not in page  # the video was at hand


def test_report_without_the_video_lists_the_moments(results_file, tmp_path):
    page = report_html.write_report(results_file, tmp_path / "r.html", video=tmp_path / "gone.mp4").read_text()
    assert "not at hand" in page and "no picture" in page


def test_study_report_compares_conditions_with_one_box_each(media, tmp_path):
    frames = frames_of(media("face_video"), 472)
    manifest = tmp_path / "manifest.csv"
    with open(manifest, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "participant", "condition"])
        # Four clips from different moments of the sample: crying at the start, laughing at the end.
        for k, (start, condition) in enumerate(((0, "sad"), (60, "sad"), (380, "happy"), (430, "happy"))):
            write_video(tmp_path / f"clip{k}.mp4", frames[start : start + 30])
            writer.writerow([f"clip{k}.mp4", f"p{k}", condition])
    out = tmp_path / "results"
    report = run_batch([str(manifest)], out, Options(), workers=1)
    assert not report.failed
    page = report_html.write_report(out, tmp_path / "study.html").read_text()
    for section in ("inputs", "people", "comparisons", "settings-and-provenance"):
        assert f'id="{section}"' in page
    assert "by condition" in page and "by participant" not in page  # one person per participant: no boxes
    people, _, _ = report_html.study_people(out)
    assert sorted(people["condition"]) == ["happy", "happy", "sad", "sad"]
    figure = report_html._boxes(people, "condition", ["happiness_rate", "sadness_rate"])
    for ax in figure.axes[:2]:
        assert [t.get_text() for t in ax.get_xticklabels()] == ["happy", "sad"]


def test_notebook_plots_return_figures(face_video_result):
    assert isinstance(face_video_result.plot.timeline(), Figure)
    assert isinstance(face_video_result.plot.aus(), Figure)
    figure = face_video_result.plot.face({"AU12": 4.0, "AU06": 2.0})
    assert isinstance(figure, Figure)
    figure.savefig(io.BytesIO(), format="png")


def test_long_records_are_drawn_from_bounded_time_bins():
    times = np.arange(0, 3 * 3600, 0.04)  # three hours at 25 fps
    values = np.sin(times / 60)[:, None]
    centres, means = binned(times, values, bins=600)
    assert len(centres) == 600
    assert abs(means[0, 0] - values[times < times[-1] / 600, 0].mean()) < 1e-3


def test_cli_annotate_and_report(media, results_file, tmp_path):
    video = tmp_path / "out.mkv"
    run = subprocess.run([sys.executable, "-m", "mien.cli", "annotate", media("face_video"), "-o", str(video),
                          "--results", str(results_file), "--layers", "box,mesh,events", "--aus", "all"],
                         capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert len(_video_facts(video)["times"]) == 472
    bad = subprocess.run([sys.executable, "-m", "mien.cli", "annotate", media("face_video"), "-o", str(video),
                          "--results", str(results_file), "--layers", "box,sparkles", "--force"], capture_output=True, text=True)  # fmt: skip
    assert bad.returncode == 1 and "sparkles" in bad.stderr
    page = tmp_path / "r.html"
    run = subprocess.run([sys.executable, "-m", "mien.cli", "report", str(results_file), "-o", str(page)],
                         capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert page.stat().st_size > 10_000
