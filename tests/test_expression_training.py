"""Datasets, evaluation and training of the expression model, on real faces.

The labelled set is cut from the sample media: frames of the face video's crying start (sadness) and
smiling end (happiness), and the posed photos (happiness, surprise, anger, disgust).
"""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from mien.cli import app
from mien.io.video import read_video
from mien.schema import EMOTIONS
from mien.train.datasets import TEST, TRAIN, VAL, ferplus_targets, load

runner = CliRunner()
SAD_SECONDS, HAPPY_SECONDS = (0.5, 4.5), (10.0, 19.0)


def _save(image: np.ndarray, path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return str(path)


@pytest.fixture(scope="module")
def labelled_faces(media, tmp_path_factory):
    """{label: [image paths]}: 8 sad and 8 happy video frames, and the posed photos."""
    root = tmp_path_factory.mktemp("faces")
    files: dict[str, list[str]] = {"sadness": [], "happiness": [], "surprise": [], "anger": [], "disgust": []}
    for frame in read_video(media("face_video")):
        for label, (start, end) in (("sadness", SAD_SECONDS), ("happiness", HAPPY_SECONDS)):
            wanted = np.linspace(start, end, 8)
            if len(files[label]) < 8 and frame.timestamp >= wanted[len(files[label])]:
                files[label].append(_save(frame.image, root / f"{label}_{frame.index:04d}.png"))
    for name, label in (("happy", "happiness"), ("surprise", "surprise"), ("anger", "anger"),
                        ("disgust", "disgust"), ("single_face", "happiness")):  # fmt: skip
        files[label].append(media(name))
    return files


def _folder_set(files: dict[str, list[str]], root, split_of=lambda label, i: None):
    for label, paths in files.items():
        for i, path in enumerate(paths):
            split = split_of(label, i)
            folder = root / (split or "") / label
            _save(np.asarray(Image.open(path).convert("RGB")), folder / f"{i:02d}.png")
    return root


def test_shipped_model_scores_the_real_faces_on_a_folder_set(labelled_faces, tmp_path):
    data = _folder_set(labelled_faces, tmp_path / "set")
    result = runner.invoke(app, ["evaluate", "expression", "--data", str(data), "--json"])
    assert result.exit_code == 0, result.output
    scores = json.loads(result.stdout)["ferplus"]  # progress lines go to stderr
    assert scores["n"] == sum(len(v) for v in labelled_faces.values())
    assert scores["recall"]["happiness"] >= 0.9  # smiles are the easiest expression
    assert scores["recall"]["sadness"] >= 0.6  # the crying frames
    assert scores["accuracy"] >= 0.75
    confusion = np.array(scores["confusion"])
    assert confusion.sum() == scores["n"] and confusion.shape == (8, 8)

    text = runner.invoke(app, ["evaluate", "expression", "--data", str(data)]).output
    assert "mean per-class recall" in text and "ECE" in text and "happiness" in text


def test_csv_set_with_splits_and_aliases(labelled_faces, tmp_path):
    table = tmp_path / "faces.csv"
    with open(table, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["path", "label", "split"])
        for path in labelled_faces["happiness"][:3]:
            writer.writerow([path, "happy", "test"])  # an alias of happiness
        for path in labelled_faces["sadness"][:2]:
            writer.writerow([path, "Sad", "train"])
    faces = load(table)
    assert faces.has_splits and len(faces) == 5
    assert list(faces.split) == [TEST] * 3 + [TRAIN] * 2
    assert [EMOTIONS[i] for i in faces.labels] == ["happiness"] * 3 + ["sadness"] * 2


def test_folder_set_without_splits_is_split_the_same_way_every_time(labelled_faces, tmp_path):
    data = _folder_set(labelled_faces, tmp_path / "set")
    first, second = load(data), load(data)
    assert not first.has_splits
    assert np.array_equal(first.split, second.split)
    assert set(first.split) <= {TRAIN, VAL, TEST}


def test_ferplus_votes_become_distributions_and_unusable_faces_are_left_out():
    votes = np.array([
        [6, 3, 1, 0, 0, 0, 0, 0, 0, 0],  # mostly neutral
        [0, 0, 0, 0, 0, 0, 0, 0, 2, 8],  # not a face: no label
        [1, 0, 0, 0, 0, 0, 0, 0, 5, 4],  # unknown wins: no label
        [0, 0, 0, 2, 0, 0, 0, 2, 0, 0],  # a tie between sadness and contempt
    ], np.int8)  # fmt: skip
    targets = ferplus_targets(votes)
    np.testing.assert_allclose(targets[0], [0.6, 0.3, 0.1, 0, 0, 0, 0, 0])
    assert targets[1].sum() == 0 and targets[2].sum() == 0
    np.testing.assert_allclose(targets[3, [3, 7]], [0.5, 0.5])


def test_bad_data_gets_one_clear_error(labelled_faces, tmp_path):
    (tmp_path / "set" / "bored").mkdir(parents=True)
    _save(np.asarray(Image.open(labelled_faces["happiness"][0])), tmp_path / "set" / "bored" / "a.png")
    result = runner.invoke(app, ["evaluate", "expression", "--data", str(tmp_path / "set")])
    assert result.exit_code == 1
    assert "bored" in result.output and "unknown expression" in result.output
    assert "Traceback" not in result.output
    missing = runner.invoke(app, ["evaluate", "expression", "--data", str(tmp_path / "nothing.npz")])
    assert missing.exit_code == 1 and "no such file" in missing.output


# -- training (needs the train extra: torch and onnx) ---------------------------------------------


def _train(data, out, epochs: int) -> list[str]:
    return ["train", "expression", "--data", str(data), "--out", str(out), "--epochs", str(epochs),
            "--input-size", "64", "--batch-size", "8", "--threads", "1"]  # fmt: skip


def _answers(model: str, crops: np.ndarray) -> np.ndarray:
    from mien.stages.expression import ExpressionModel

    return ExpressionModel(model).predict(crops)[0]


@pytest.fixture(scope="module")
def split_set(labelled_faces, tmp_path_factory):
    # Every third face of each class validates; the rest train.
    return _folder_set(labelled_faces, tmp_path_factory.mktemp("split"),
                       split_of=lambda label, i: "val" if i % 3 == 2 else "train")  # fmt: skip


def test_training_is_repeatable_and_resumes_to_the_same_model(split_set, tmp_path):
    pytest.importorskip("torch", reason="needs the train extra: pip install -e '.[train]'")
    pytest.importorskip("onnx", reason="needs the train extra: pip install -e '.[train]'")
    straight, interrupted, again = tmp_path / "straight", tmp_path / "interrupted", tmp_path / "again"
    assert runner.invoke(app, _train(split_set, straight, 2)).exit_code == 0
    assert runner.invoke(app, _train(split_set, again, 2)).exit_code == 0
    # A run stopped after its first epoch and started again with the same settings.
    stopped = runner.invoke(app, _train(split_set, interrupted, 2) + ["--stop-after", "1"])
    assert stopped.exit_code == 0 and not (interrupted / "expression.onnx").exists()
    result = runner.invoke(app, _train(split_set, interrupted, 2))
    assert result.exit_code == 0, result.output

    crops = np.random.default_rng(1).integers(0, 256, (6, 48, 48), dtype=np.uint8)
    reference = _answers(str(straight / "expression.onnx"), crops)
    np.testing.assert_allclose(_answers(str(again / "expression.onnx"), crops), reference, atol=1e-6)
    np.testing.assert_allclose(_answers(str(interrupted / "expression.onnx"), crops), reference, atol=1e-6)
    report = json.loads((straight / "report.json").read_text())
    assert len(report["history"]) == 2 and report["temperature"] > 0
    assert (straight / "expression.onnx").stat().st_size < 20e6


def test_a_trained_model_plugs_into_analyze(split_set, media, tmp_path):
    pytest.importorskip("torch", reason="needs the train extra: pip install -e '.[train]'")
    out = tmp_path / "run"
    assert runner.invoke(app, _train(split_set, out, 1)).exit_code == 0
    table = tmp_path / "happy.csv"
    result = runner.invoke(app, ["analyze", media("happy"), "-o", str(table),
                                 "--expression-model", str(out / "expression.onnx")])  # fmt: skip
    assert result.exit_code == 0, result.output
    import pandas as pd

    row = pd.read_csv(table).iloc[0]
    assert row[list(EMOTIONS)].sum() == pytest.approx(1.0, abs=1e-4)

    changed = runner.invoke(app, _train(split_set, out, 1) + ["--seed", "3"])
    assert changed.exit_code == 1 and "other settings (seed)" in changed.output
