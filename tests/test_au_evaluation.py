"""`mien evaluate aus` and `mien train aus` as a user runs them, on faces coded for these tests.

No FACS-coded set can ship with mien, so the codes here were written by mien's developers for the
sample media (not by certified coders), only where the movement is unmistakable: the posed
photos' prototype AUs, and the sample clip's crying start (brows lowered, lip corners down, no
smile) and laughing end (smile, lips apart). They test the machinery and the obvious, not FACS
agreement; docs/action_units.md gives the evidence for that.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from PIL import Image

from mien.io.video import read_video


def mien(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mien.cli", *args], capture_output=True, text=True, env=env)


# photo: (FACS codes as a coder writes them, expression)
PHOTO_CODES = {
    "surprise": ("1C+2C+5B+25+26C", "surprise"),
    "happy": ("6B+12D+25", "happiness"),
    "anger": ("4D+7B+17C+24B", "anger"),
    "single_face": ("6B+12D+25", "happiness"),
    "astronaut": ("6A+12C+25", "happiness"),
    "alpha": ("6C+12E+25+26B", "happiness"),
}


@pytest.fixture(scope="module")
def coded_photos(media, tmp_path_factory):
    folder = tmp_path_factory.mktemp("coded_photos")
    lines = ["path,facs,emotion"] + [f"{media(name)},{codes},{emotion}" for name, (codes, emotion) in PHOTO_CODES.items()]
    (folder / "codes.csv").write_text("\n".join(lines) + "\n")
    return folder / "codes.csv"


@pytest.fixture(scope="module")
def coded_frames(media, tmp_path_factory):
    """Every 4th frame of the clip's first 4 s (crying) and last 4.5 s (laughing), one column per AU."""
    folder = tmp_path_factory.mktemp("coded_frames")
    rows = ["path,AU04,AU12,AU15,AU25"]
    for frame in read_video(media("face_video")):
        crying, laughing = frame.timestamp < 4.0, frame.timestamp > 15.0
        if frame.index % 4 or not (crying or laughing):
            continue
        name = f"frame{frame.index:04d}.jpg"
        Image.fromarray(frame.image).save(folder / name, quality=92)
        rows.append(f"{name},{int(crying)},{int(laughing)},{int(crying)},{int(laughing)}")
    (folder / "codes.csv").write_text("\n".join(rows) + "\n")
    return folder / "codes.csv"


def test_evaluate_aus_scores_a_coded_csv(coded_photos):
    run = mien("evaluate", "aus", "--data", str(coded_photos), "--json")
    assert run.returncode == 0, run.stderr
    scores = json.loads(run.stdout)
    assert scores["faces"] == scores["faces_fitted"] == len(PHOTO_CODES)
    per_au = {row["au"]: row for row in scores["per_au"]}
    # four smiles against two faces without one: the smile AUs rank them all correctly
    assert per_au["AU12"]["coded"] == 4 and per_au["AU12"]["auc"] == 1.0 and per_au["AU12"]["f1"] == 1.0
    assert per_au["AU04"]["auc"] == 1.0  # the one brow lowerer (anger) above the rest
    assert per_au["AU12"]["icc"] == per_au["AU12"]["icc"]  # letters D/E/C: intensities are compared
    text = mien("evaluate", "aus", "--data", str(coded_photos))
    assert "ROC AUC" in text.stdout and "AU12  good" in text.stdout


def test_train_aus_fits_codes_and_analyze_uses_the_result(coded_frames, media, tmp_path):
    out = tmp_path / "run"
    run = mien("train", "aus", "--data", str(coded_frames), "--out", str(out))
    assert run.returncode == 0, run.stderr
    table = json.loads((out / "au_model.json").read_text())
    assert {"AU04", "AU12", "AU15", "AU25"} <= set(table["fitted_on_codes"])
    assert table["aus"]["AU12"]["evidence"]["test_auc"] >= 0.95
    assert "test split" in (out / "report.txt").read_text()
    held_out = mien("evaluate", "aus", "--data", str(coded_frames), "--model", str(out / "au_model.json"),
                    "--split", "test", "--json")  # fmt: skip
    assert held_out.returncode == 0, held_out.stderr
    per_au = {row["au"]: row for row in json.loads(held_out.stdout)["per_au"]}
    assert per_au["AU12"]["auc"] >= 0.95 and per_au["AU04"]["auc"] >= 0.95
    analysed = mien("analyze", media("happy"), "-o", str(tmp_path / "happy.csv"), "--au-model", str(out / "au_model.json"))
    assert analysed.returncode == 0, analysed.stderr


@pytest.mark.parametrize(
    "content, expected",
    [
        ("file,AU12\nx.jpg,1\n", "codes.csv:1: no 'path' column"),
        ("path,label\nx.jpg,happy\n", "codes.csv:1: no AU columns"),
        ("path,AU12,AU04\n{img},1,0\n{img},1\n", "codes.csv:3: 2 fields where the header has 3"),
        ("path,AU12\n{img},yes\n", "codes.csv:2: column AU12: 'yes' is not a number"),
        ("path,AU12\n{img},7\n", "codes.csv:2: column AU12: 7 is outside 0-5"),
        ("path,facs\n{img},1+2X\n", "codes.csv:2: FACS code '2X' not understood"),
        ("path,AU12\nmissing.jpg,1\n", "codes.csv:2: image"),
        ("path,AU12\n", "codes.csv: no rows"),
    ],
)
def test_a_bad_coding_file_is_one_clear_line(content, expected, media, tmp_path):
    codes = tmp_path / "codes.csv"
    codes.write_text(content.format(img=media("happy")))
    run = mien("evaluate", "aus", "--data", str(codes))
    assert run.returncode == 1
    assert run.stderr.count("\n") == 1 and "Traceback" not in run.stderr, run.stderr
    assert expected in run.stderr, run.stderr


def test_disfa_style_sessions(media, tmp_path):
    """A folder per session with numbered frames, codes in DISFA's per-AU files (frame,intensity)."""
    session = tmp_path / "SN001"
    session.mkdir()
    for number, name in enumerate(("happy", "anger", "surprise", "single_face"), start=1):
        Path(session / f"{number:05d}.jpg").write_bytes(Path(media(name)).read_bytes())
    (session / "SN001_au12.txt").write_text("1,4\n2,0\n3,0\n4,3\n")
    (session / "SN001_au4.txt").write_text("1,0\n2,3\n3,0\n4,9\n")  # 9: frame 4 not coded for AU4
    run = mien("evaluate", "aus", "--data", str(tmp_path), "--json")
    assert run.returncode == 0, run.stderr
    per_au = {row["au"]: row for row in json.loads(run.stdout)["per_au"]}
    assert set(per_au) == {"AU04", "AU12"}
    assert (per_au["AU12"]["coded"], per_au["AU12"]["not_coded"]) == (2, 2) and per_au["AU12"]["auc"] == 1.0
    assert (per_au["AU04"]["coded"], per_au["AU04"]["not_coded"]) == (1, 2)
    (session / "SN001_au4.txt").write_text("1,0\n2;3\n")
    broken = mien("evaluate", "aus", "--data", str(tmp_path))
    assert broken.returncode == 1 and "SN001_au4.txt:2: expected 'frame,intensity'" in broken.stderr


def test_json_progress_goes_to_stderr_and_the_scores_stay_clean(media, tmp_path):
    """`--json`: the scores on stdout parse as one JSON document; progress comes as JSON lines on
    stderr while faces are measured (in a cache of its own, so no earlier run has measured them)."""
    (tmp_path / "codes.csv").write_text(f"path,AU12\n{media('happy')},1\n{media('anger')},0\n")
    own_cache = {**os.environ, "MIEN_CACHE": str(tmp_path / "cache")}
    run = mien("evaluate", "aus", "--data", str(tmp_path / "codes.csv"), "--json", env=own_cache)
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["faces"] == 2
    progress = [json.loads(line) for line in run.stderr.splitlines() if line.startswith("{")]
    assert progress and progress[-1]["event"] == "task_done" and progress[-1]["done"] == progress[-1]["total"]


def test_train_aus_refuses_an_out_that_is_a_file_before_any_work(coded_photos, tmp_path):
    taken = tmp_path / "run"
    taken.write_text("not a folder")
    run = mien("train", "aus", "--data", str(coded_photos), "--out", str(taken))
    assert run.returncode == 2 and run.stderr == f"mien: error: --out {taken}: is a file, not a folder\n"
    assert taken.read_text() == "not a folder"
