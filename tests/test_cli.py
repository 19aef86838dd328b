"""`mien analyze` and `mien models` as a user runs them: formats, dataset mode, exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from PIL import Image

from mien.schema import AU_CODES, EMOTIONS, columns


def mien(*args: str, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mien.cli", *args], capture_output=True, text=True, cwd=cwd)


@pytest.fixture(scope="module")
def photos(media, tmp_path_factory):
    folder = tmp_path_factory.mktemp("photos")
    for name in ("happy", "anger", "surprise"):
        (folder / f"{name}.jpg").write_bytes(Path(media(name)).read_bytes())
    return folder


def test_folder_to_csv_and_parquet_with_provenance(photos, tmp_path):
    done = mien("analyze", str(photos), "-o", str(tmp_path / "out.csv"))
    assert done.returncode == 0, done.stderr
    csv = pd.read_csv(tmp_path / "out.csv")
    assert list(csv.columns) == [c.name for c in columns()]
    assert len(csv) == 3 and csv.face_score.notna().all()
    assert csv.set_index(csv.input.map(lambda p: Path(p).stem)).emotion["happy"] == "happiness"
    assert mien("analyze", str(photos), "-o", str(tmp_path / "out.parquet"), "-q").returncode == 0
    table = pq.read_table(tmp_path / "out.parquet")
    meta = {k.decode(): v.decode() for k, v in table.schema.metadata.items()}
    assert meta["mien_version"] and "face_landmarker" in json.loads(meta["mien_models"])
    np.testing.assert_allclose(table.to_pandas()[list(EMOTIONS)], csv[list(EMOTIONS)], atol=1e-5)


def test_mesh_blendshapes_and_jsonl(media, tmp_path):
    out = tmp_path / "out.jsonl"
    assert mien("analyze", media("happy"), "--mesh", "--blendshapes", "-o", str(out)).returncode == 0
    row = json.loads(out.read_text().splitlines()[0])
    assert len([k for k in row if k.startswith("mesh_")]) == 478 * 3
    assert row["mouthSmileLeft"] > 0.3 and 0 <= row["jawOpen"] <= 1


def test_openface_format(media, tmp_path):
    out = tmp_path / "of.csv"
    assert mien("analyze", media("single_face_video"), "--format", "openface", "-o", str(out)).returncode == 0
    header = out.read_text().splitlines()[0]
    assert header.startswith("frame, face_id, timestamp, confidence, success")
    of = pd.read_csv(out, skipinitialspace=True)
    assert of.frame.iloc[0] == 1 and (of.success == 1).all()
    assert {"pose_Rx", "gaze_angle_x", "AU12_r", "AU45_c", "AU28_c", "x_67"} <= set(of.columns)
    assert of.pose_Rx.abs().max() < 1.6  # radians


def test_one_bad_input_gives_exit_1_and_keeps_the_rest(media, tmp_path):
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 1000)
    out = tmp_path / "out.parquet"
    done = mien("analyze", media("happy"), str(broken), str(tmp_path / "gone.jpg"), "-o", str(out))
    assert done.returncode == 1
    errors = [line for line in done.stderr.splitlines() if line.startswith("mien: error")]
    assert len(errors) == 2 and any("broken.mp4" in e for e in errors) and any("gone.jpg" in e for e in errors)
    assert "Traceback" not in done.stderr
    assert len(pd.read_parquet(out)) == 1


def test_dataset_mode_on_tight_crops(media, tmp_path):
    """Face crops like FER2013's: 48×48 grey, the face filling the image."""
    crops = tmp_path / "crops"
    crops.mkdir()
    for name in ("happy", "surprise", "anger"):
        image = Image.open(media(name)).convert("L")
        width, height = image.size
        image.crop((int(width * 0.22), int(height * 0.25), int(width * 0.78), int(height * 0.81))).resize((48, 48)).save(crops / f"{name}.png")
    out = tmp_path / "crops.csv"
    done = mien("analyze", str(crops), "--faces-are-crops", "-o", str(out))
    assert done.returncode == 0, done.stderr
    df = pd.read_csv(out).set_index(pd.read_csv(out).input.map(lambda p: Path(p).stem))
    assert df.loc["happy", "emotion"] == "happiness"
    assert df.loc["happy", "AU12"] > df.loc["anger", "AU12"]
    assert (df.face_x > -5).all() and (df.face_x + df.face_w < 53).all()  # landmarks mapped back into the crop
    assert df[list(AU_CODES)].notna().all().all()


def test_models_command_lists_every_model():
    done = mien("models")
    assert done.returncode == 0
    from mien.models.registry import MODELS

    assert all(name in done.stdout for name in MODELS) and "Apache-2.0" in done.stdout and "sha256" in done.stdout
    for analysis_model in ("face_landmarker", "expression", "au_model"):  # shipped: usable offline at once
        section = done.stdout.split(f"{analysis_model}\n", 1)[1]
        assert section.split("\n")[1].strip().startswith("status   ok")


def test_default_output_name(media, tmp_path):
    done = mien("analyze", media("happy"), cwd=tmp_path)
    assert done.returncode == 0
    assert (tmp_path / (Path(media("happy")).stem + ".parquet")).exists()


def test_dataset_mode_says_only_what_went_wrong_and_the_total(media, tmp_path):
    """A folder of crops gives one line per failure and the total, not a line per crop."""
    crops = tmp_path / "crops"
    crops.mkdir()
    face = Image.open(media("happy")).convert("L").resize((48, 48))
    for i in range(5):
        face.save(crops / f"{i}.png")
    (crops / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "crops.parquet"
    done = mien("analyze", str(crops), "--faces-are-crops", "-o", str(out))
    assert done.returncode == 1, done.stderr  # one input failed
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 2, lines  # the broken file's one error (no word of a video), and the total
    assert "broken.png" in lines[0] and lines[0].startswith("mien: error:")
    assert lines[1].startswith(f"wrote {out} (5 rows, 5 of 6 inputs analysed")
    assert len(pd.read_parquet(out)) == 5
