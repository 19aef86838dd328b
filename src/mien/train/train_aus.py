"""`mien train aus`: fit the AU model on a FACS-coded set of your own.

The same model as the shipped one (`mien.stages.aus`), fitted to real codes instead of codes
inferred from expressions: for each AU with at least MIN_CASES coded and uncoded faces in the
train split, a logistic model over the AU's own signals *and* the expression term, so the
weight of the expression (fixed at 1 in the shipped table, where learning it would be circular)
is learned from the codes. The L2 penalty is chosen on the val split; the test split scores the
result. AUs the set codes too rarely keep the shipped model. Writes ``au_model.json`` (use it with
``mien analyze --au-model``) and ``report.txt`` in ``--out``.
"""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import numpy as np

from mien.calibration import load_table
from mien.errors import InputError
from mien.schema import AU_CODES, EMOTIONS
from mien.stages.au_signals import SIGNALS, signal_matrix
from mien.stages.aus import expression_evidence
from mien.train.au_metrics import roc_auc
from mien.train.aus import FITTED_AUS, au_columns, fit_au_model, fitted_entry, trust_of
from mien.train.datasets import TEST, TRAIN, VAL
from mien.train.evaluate_aus import intensities_of, score, subset
from mien.train.facs_data import load_coded
from mien.train.logistic import Logistic
from mien.train.measure import measure_faces

log = logging.getLogger("mien.train")
MIN_CASES = 10


def train_aus(data: str, out: str | Path, base_table: str | None = None, workers: int = 2) -> Path:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    coded = load_coded(data)
    measured = measure_faces(coded.images, workers=workers)
    table = copy.deepcopy(load_table(base_table))
    ok = measured.fitted
    if not ok.any():
        raise InputError(str(data), "the landmarker found no face in any of its images")
    signals = np.full((len(coded), len(SIGNALS)), np.nan)
    signals[ok] = signal_matrix(measured.landmarks[ok], measured.blendshapes[ok], np.asarray(table["reference_anchors"]))
    present = coded.present()
    train_split, val_split, test_split = coded.split == TRAIN, coded.split == VAL, coded.split == TEST
    refitted = []
    for i, au in enumerate(AU_CODES):
        if au not in FITTED_AUS or not coded.coded[i]:
            continue
        known = ok & ~np.isnan(present[:, i])
        train, val, test = known & train_split, known & val_split, known & test_split
        positives = int(present[train, i].sum())
        if min(positives, int(train.sum()) - positives) < MIN_CASES:
            log.info("%s: %d coded of %d training faces: too few, the shipped model stays", au, positives, int(train.sum()))
            continue
        if not val.any():  # no val split: choose the penalty on the training faces
            val = train
        entry = table["aus"][au]
        prior = np.array([entry["prior"][e] for e in EMOTIONS])
        expression_term = expression_evidence(measured.emotions, prior, entry["base_rate"])
        target = np.nan_to_num(present[:, i])
        model, l2 = fit_au_model(au, signals, target, train, val, extra=expression_term)
        # the expression term's weight and offset, moved out of the standardisation
        prior_weight = model.weights[-1] / model.scale[-1]
        signal_part = Logistic(model.mean[:-1], model.scale[:-1], model.weights[:-1],
                               model.bias - prior_weight * model.mean[-1])  # fmt: skip
        test_auc = float("nan")
        if test.any():
            inputs = np.column_stack([signals[:, au_columns(au)], expression_term])
            test_auc = roc_auc(model.logit(inputs[test]), present[test, i] == 1)
        evidence = {"fitted_on": str(data), "train_faces": int(train.sum()), "train_coded": positives,
                    "l2": l2, "test_auc": round(test_auc, 4)}  # fmt: skip
        trust = trust_of(test_auc) if np.isfinite(test_auc) else "unvalidated"
        table["aus"][au] = fitted_entry(au, signal_part, prior, entry["base_rate"], prior_weight, trust, evidence)
        refitted.append(au)
    table["made_by"] = f"mien train aus --data {data}"
    table["fitted_on_codes"] = refitted
    model_file = out / "au_model.json"
    model_file.write_text(json.dumps(table, indent=1) + "\n")
    load_table.cache_clear()  # a table read earlier from this path in this process is stale now
    if test_split.any():
        held_out = subset(coded, test_split)
        evaluation = score(held_out, intensities_of(measured.subset(test_split), table), table,
                           int(measured.fitted[test_split].sum()))  # fmt: skip
        (out / "report.txt").write_text(f"refitted on codes: {', '.join(refitted) or 'none'}\n"
                                        f"test split:\n{evaluation.report()}\n")  # fmt: skip
    return model_file
