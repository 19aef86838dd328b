"""What long commands (analyze, batch, evaluate, train) show while they work: a bar on a
terminal, JSON lines with --json, nothing extra in a log; and no native library noise."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys

import numpy as np


def mien(*args: str, env=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mien.cli", *args], capture_output=True, text=True, env=env)


def on_a_terminal(*args: str) -> tuple[int, str]:
    """Run mien with stdin, stdout and stderr on a pseudo-terminal, as in a user's shell."""
    master, slave = pty.openpty()
    process = subprocess.Popen([sys.executable, "-m", "mien.cli", *args], stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    seen = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal closed: the process has ended
            break
        if not chunk:
            break
        seen += chunk
    os.close(master)
    return process.wait(), seen.decode("utf-8", "replace")


def test_a_bar_with_frames_speed_and_time_left_on_a_terminal(media, tmp_path):
    code, screen = on_a_terminal("analyze", media("single_face_video"), media("happy"), "-o", str(tmp_path / "out.csv"))
    assert code == 0, screen
    assert "━" in screen and "/72" in screen and "frames/s" in screen and "inputs" in screen
    assert f"wrote {tmp_path / 'out.csv'} (73 rows, 2 of 2 inputs analysed)" in screen


def test_quiet_on_a_terminal_shows_no_bar(media, tmp_path):
    code, screen = on_a_terminal("analyze", media("single_face_video"), "-o", str(tmp_path / "out.csv"), "-q")
    assert code == 0 and screen.strip() == "", screen


def test_not_a_terminal_gets_plain_lines_only(media, tmp_path):
    done = mien("analyze", media("single_face_video"), "-o", str(tmp_path / "out.csv"))
    assert done.returncode == 0, done.stderr
    assert done.stdout == "" and "\r" not in done.stderr and "\x1b" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"{media('single_face_video')}: 72 frames, 72 rows")


def test_json_progress_lines_on_stdout(media, tmp_path):
    done = mien("analyze", media("single_face_video"), media("happy"), "-o", str(tmp_path / "out.csv"), "--json", "-q")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    finished = [r for r in records if r["event"] == "input_done"]
    assert [r["input"] for r in finished] == [media("single_face_video"), media("happy")]
    assert finished[0]["frames"] == finished[0]["expected_frames"] == 72 and finished[0]["frames_per_second"] > 0
    assert finished[-1]["inputs_done"] == finished[-1]["inputs"] == 2
    assert {"eta_s", "frames", "frames_per_second"} <= set(records[0])


def test_json_progress_and_live_events_cannot_share_stdout(media, tmp_path):
    done = mien("analyze", media("single_face_video"), "-o", str(tmp_path / "out.csv"), "--json", "--events", "-")
    assert done.returncode == 2 and done.stderr.strip() == (
        "mien: error: --json and --events - both write JSON lines on stdout; choose one")


def test_native_library_noise_stays_off_the_screen(media, tmp_path):
    inputs = [media("multi_face"), media("single_face_video"), media("greyscale")]
    noisy = mien("analyze", *inputs, "-o", str(tmp_path / "a.csv"), env={**os.environ, "MIEN_NATIVE_LOGS": "1"})
    assert "W0000" in noisy.stderr or "INFO:" in noisy.stderr  # MediaPipe and LiteRT do talk
    done = mien("analyze", *inputs, "-o", str(tmp_path / "b.csv"))
    assert done.returncode == 0, done.stderr
    ours = [line for line in done.stderr.splitlines() if line.startswith(tuple(inputs) + ("wrote ", "mien: "))]
    assert ours == done.stderr.splitlines() and len(ours) == 4


def test_batch_shows_a_bar_on_a_terminal_and_only_its_summary_in_a_log(media, tmp_path):
    inputs = [media("single_face_video"), media("happy")]
    code, screen = on_a_terminal("batch", *inputs, "--out", str(tmp_path / "bar"), "--workers", "1")
    assert code == 0, screen
    assert "━" in screen and "2/2" in screen and "inputs" in screen
    done = mien("batch", *inputs, str(tmp_path / "missing.mp4"), "--out", str(tmp_path / "log"), "--workers", "1")
    assert done.returncode == 1 and "\x1b" not in done.stderr and "\r" not in done.stderr
    assert done.stderr.splitlines() == [f"mien: error: {tmp_path / 'missing.mp4'}: no such file or folder",
                                        f"2 analysed, 0 done before, 1 failed; results in {tmp_path / 'log'} "
                                        f"(mien query {tmp_path / 'log'} \"SELECT ...\")"]  # fmt: skip


def test_evaluate_shows_a_bar_while_it_aligns_faces_on_a_terminal(media, tmp_path):
    from PIL import Image

    noise = np.random.default_rng().integers(0, 2, (512, 512, 3), dtype=np.uint8)  # a set never cached
    for label, name in (("happiness", "happy"), ("anger", "anger"), ("surprise", "surprise")):
        (tmp_path / "set" / label).mkdir(parents=True)
        image = np.asarray(Image.open(media(name)).convert("RGB").resize((512, 512))) ^ noise
        Image.fromarray(image).save(tmp_path / "set" / label / f"{name}.png")
    code, screen = on_a_terminal("evaluate", "expression", "--data", str(tmp_path / "set"))
    assert code == 0, screen
    assert "aligning 3 faces" in screen and "━" in screen
    done = subprocess.run([sys.executable, "-m", "mien.cli", "evaluate", "expression", "--data", str(tmp_path / "set")],
                          capture_output=True, text=True)  # fmt: skip
    assert done.returncode == 0 and "━" not in done.stderr + done.stdout  # not a terminal: no bar


def test_training_shows_a_bar_per_epoch_on_a_terminal(media, tmp_path):
    import pytest

    pytest.importorskip("torch", reason="needs the train extra: pip install -e '.[train]'")
    from PIL import Image

    for label, names in (("happiness", ["happy", "single_face", "alpha"]), ("anger", ["anger", "disgust"]),
                         ("surprise", ["surprise", "astronaut"])):  # fmt: skip
        (tmp_path / "set" / label).mkdir(parents=True)
        for name in names:
            Image.open(media(name)).convert("RGB").save(tmp_path / "set" / label / f"{name}.png")
    code, screen = on_a_terminal("train", "expression", "--data", str(tmp_path / "set"), "--out", str(tmp_path / "run"),
                                 "--epochs", "1", "--input-size", "64", "--batch-size", "2", "--threads", "1")  # fmt: skip
    assert code == 0, screen
    assert "epoch 1/1" in screen and "━" in screen and "wrote " in screen


def test_dataset_mode_reports_crops_done_as_it_goes_and_each_after_its_rows(media, tmp_path):
    """Crops' rows are handed on in batches, yet the inputs count moves during the run (a bar of
    200 crops does not sit at 0/200 until the end), and no crop is reported done before its row
    has been handed to the writer."""
    from PIL import Image

    import mien

    face = Image.open(media("happy")).convert("L").crop((110, 130, 400, 420)).resize((48, 48))
    for i in range(200):
        face.save(tmp_path / f"{i:03d}.png")
    written: list[int] = []
    rows_when_reported: list[int] = []
    with mien.Analyzer(faces_are_crops=True) as analyzer:
        analyzer.run([str(tmp_path)], on_batch=lambda batch: written.append(batch.num_rows),
                     on_outcome=lambda outcome: rows_when_reported.append(sum(written)))  # fmt: skip
    assert sum(written) == 200 and len(rows_when_reported) == 200
    assert rows_when_reported[0] < 100  # the first crops are reported long before the last
    assert all(rows >= k + 1 for k, rows in enumerate(rows_when_reported))  # each after its row
