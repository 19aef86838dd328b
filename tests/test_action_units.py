"""Action units and PSPI on real faces: what a user would check first, and the constants' source."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import mien
from mien.calibration import TABLE, load_table
from mien.frame import Frame
from mien.models.registry import MODELS, resolve_trainable
from mien.schema import AU_CODES, EMOTIONS, au_trust, columns
from mien.stages.au_signals import SIGNALS, signal_matrix
from mien.stages.aus import AUModel
from mien.stages.eyes import eye_aspect_ratios, eye_closure
from mien.train import au_priors
from mien.train.au_metrics import spearman
from mien.train.aus import trust_of

SMILES = ("happy", "single_face", "astronaut", "alpha")


@pytest.fixture(scope="module")
def photos(analyzer, media):
    """Each posed or smiling sample photo's one face, measured through the whole pipeline."""
    measured = {}
    for name in ("surprise", "anger", "disgust") + SMILES:
        image = np.asarray(Image.open(media(name)).convert("RGB"))
        analyzer.landmarker.start(still=True)
        faces = analyzer.perceive(Frame(name, 0, 0.0, image))
        largest = int(np.argmax(faces.boxes[:, 2] * faces.boxes[:, 3]))
        measured[name] = faces, largest
    return measured


def _au(photos, name, au):
    faces, i = photos[name]
    return float(faces.aus[i, AU_CODES.index(au)])


def _pspi(photos, name):
    faces, i = photos[name]
    return float(faces.pspi[i])


def test_laughing_reads_as_less_pain_than_crying_and_fires_no_pain(face_video_result):
    """The sample clip: she cries with brows drawn together (0-5 s) and laughs at the end (15 s on)."""
    df = face_video_result.df
    crying, laughing = df[df.timestamp < 5], df[df.timestamp > 15]
    assert laughing.pspi.mean() < crying.pspi.mean() - 3
    assert laughing.pspi.quantile(0.95) < crying.pspi.median()
    events = face_video_result.events()
    pain = events[events.kind == "pain"]
    assert not ((pain.offset > 15) & (pain.onset < 20)).any(), pain
    # crying shows the brow lowerer and lip-corner depressor; laughing the smile AUs, not those
    assert crying.AU04.mean() > 2.5 and crying.AU15.mean() > 2.5 and crying.AU12.mean() < 1.5
    assert laughing.AU12.mean() > 4 and laughing.AU04.mean() < 1 and laughing.AU15.mean() < 1


def test_posed_anger_and_disgust_score_more_pain_than_smiles(photos):
    anger, disgust = _pspi(photos, "anger"), _pspi(photos, "disgust")
    for smile in SMILES:
        assert anger > _pspi(photos, smile), smile
    assert disgust > _pspi(photos, "happy")
    assert _au(photos, "anger", "AU04") > max(_au(photos, s, "AU04") for s in SMILES)


def test_each_posed_expression_shows_its_prototype_aus(photos):
    """EMFACS prototypes: surprise 1+2+5+26, happiness 6+12; and not each other's."""
    for au in ("AU01", "AU02", "AU05", "AU26"):
        assert _au(photos, "surprise", au) > 2.5 > _au(photos, "happy", au), au
    for au in ("AU06", "AU12"):
        assert _au(photos, "happy", au) > 2.5 > _au(photos, "surprise", au), au


def test_aus_follow_the_face_within_one_expression(face_video_result):
    """Among frames that all read as happiness, AU12 rises and falls with the lip corners' lift and
    AU06 with the narrowing of the eyes, both measured on the landmarks: the AU is not the
    expression renamed. (Her laugh shows teeth with the jaw closed: AU25 without AU26.)"""
    df = face_video_result.df
    happy = df[(df.emotion == "happiness") & df.face_score.notna()]
    assert len(happy) > 100
    eye_distance = np.hypot(happy.x_45 - happy.x_36, happy.y_45 - happy.y_36)  # iBUG outer eye corners
    corner_lift = ((happy.y_62 + happy.y_66) / 2 - (happy.y_48 + happy.y_54) / 2) / eye_distance
    eyes_narrowed = happy[["eye_closure_left", "eye_closure_right"]].mean(axis=1)
    assert happy.AU12.std() > 0.2 and happy.AU06.std() > 0.2
    assert spearman(happy.AU12, corner_lift) > 0.5
    assert spearman(happy.AU06, eyes_narrowed) > 0.5
    assert happy.AU25.median() > 4 and happy.AU26.max() < 1.5


def test_the_code_reads_every_constant_from_the_calibration_table(photos):
    table = load_table()
    # the table was made with the models that are shipped now
    assert table["face_landmarker_sha256"] == MODELS["face_landmarker"].sha256
    assert table["expression_sha256"] == resolve_trainable("expression").sha256
    assert "tools/calibrate.py" in table["made_by"]
    assert set(table["aus"]) == set(AU_CODES)
    faces, i = photos["anger"]
    # a fitted AU: the stage's number is the table's formula, worked by hand from the JSON
    entry = table["aus"]["AU04"]
    signals = signal_matrix(faces.landmarks[[i]], faces.blendshapes[[i]], np.asarray(table["reference_anchors"]))[0]
    x = signals[[SIGNALS.index(n) for n in entry["signals"]]]
    region = (x - entry["mean"]) / entry["scale"] @ np.array(entry["weights"]) + entry["bias"]
    prior = float(faces.emotions[i] @ np.array([entry["prior"][e] for e in EMOTIONS]))
    logit = region + entry["prior_weight"] * (np.log(prior / (1 - prior)) - np.log(entry["base_rate"] / (1 - entry["base_rate"])))
    assert _au(photos, "anger", "AU04") == pytest.approx(5 / (1 + np.exp(-logit)), abs=1e-4)
    # eye closure: the table's open and closed EAR
    ear = eye_aspect_ratios(faces.landmarks[[i]])
    closed = table["eye_closure"]
    expected = np.clip((closed["open_ear"] - ear) / (closed["open_ear"] - closed["closed_ear"]), 0, 1)
    np.testing.assert_allclose(eye_closure(faces.landmarks[[i]]), expected, atol=1e-6)


def test_a_changed_table_changes_the_aus(photos, tmp_path):
    """What a retrained table says is what analysis does: no constant hides in the code."""
    table = copy.deepcopy(json.loads(TABLE.read_text()))
    table["aus"]["AU12"]["bias"] -= 20.0  # a model that never sees a smile
    table["aus"]["AU12"]["prior_weight"] = 0.0
    path = tmp_path / "au_model.json"
    path.write_text(json.dumps(table))
    faces, i = photos["happy"]
    shipped, changed = AUModel(load_table()), AUModel(load_table(str(path)))
    args = (faces.landmarks[[i]], faces.blendshapes[[i]], faces.eye_closure[[i]], faces.emotions[[i]])
    assert shipped.intensities(*args)[0, AU_CODES.index("AU12")] > 4
    assert changed.intensities(*args)[0, AU_CODES.index("AU12")] < 0.01


def test_weak_aus_are_flagged_in_the_schema_and_docs():
    trust = au_trust()
    # each fitted AU's trust is the documented rule applied to the evidence stored beside it
    for au, entry in load_table()["aus"].items():
        if entry["method"] == "fitted":
            reliable = max(au_priors.probability(au, e) for e in EMOTIONS) >= 0.5
            expected = trust_of(entry["evidence"]["prototype_auc"]["movement"]) if reliable else "weak"
            assert entry["trust"] == expected, au
    assert set(trust.values()) <= {"good", "moderate", "weak", "unvalidated"}
    meaning = {c.name: c.meaning for c in columns()}
    for au, level in trust.items():
        if level in ("weak", "unvalidated"):
            assert level.upper() in meaning[au] and level.upper() in meaning[f"{au}_present"]
    assert trust["AU28"] == "unvalidated"


def test_analyze_takes_a_fitted_au_model(media, tmp_path):
    table = copy.deepcopy(json.loads(TABLE.read_text()))
    table["aus"]["AU12"]["bias"] -= 20.0
    table["aus"]["AU12"]["prior_weight"] = 0.0
    path = tmp_path / "au_model.json"
    path.write_text(json.dumps(table))
    result = mien.analyze(media("happy"), au_model=str(path))
    assert result.df.AU12.iloc[0] < 0.01
    models = json.loads(result.table.schema.metadata[b"mien_models"])
    assert models["au_model"]["source"] == "explicit"  # the table used is recorded with the results


@pytest.mark.parametrize("content", ['{"aus": {}}', "not json"])
def test_a_broken_au_model_is_one_clear_line(content, media, tmp_path):
    table = tmp_path / "au_model.json"
    table.write_text(content)
    run = subprocess.run([sys.executable, "-m", "mien.cli", "analyze", media("happy"), "-o", str(tmp_path / "out.csv"),
                          "--au-model", str(table)], capture_output=True, text=True)  # fmt: skip
    assert run.returncode == 1 and run.stderr.count("\n") == 1, run.stderr
    assert f"--au-model {table}: not a" in run.stderr and "calibration table" in run.stderr
    assert not (tmp_path / "out.csv").exists()
