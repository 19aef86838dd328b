"""Compute every constant of the AU, eye-closure and PSPI code, and the evidence for each AU.

    python tools/calibrate.py --data ../shared/data/fer2013_ferplus.npz

Writes ``src/mien/calibration/au_model.json`` (the table the package loads) and
``docs/au_evidence.md`` (generated; the evidence table that docs/action_units.md discusses).

Data: FER2013 with FER+ votes (splits: 0 train, 1 validation, 2 test; see shared/data), measured
exactly as ``mien analyze --faces-are-crops`` measures faces (`mien.train.measure`). No FACS codes
exist for FER, so each face's AU targets are the chance a coder would code the AU given the FER+
annotators' votes: Σₑ votes(e) · P(AU | e), with P(AU | e) from the published table in
`mien.train.au_priors` (Du et al. 2014; EMFACS contempt). The models are fitted on split 0, their
L2 penalty chosen on split 1, and every number in the evidence table is measured on split 2.

What the script computes, and from what:
* the head-frame reference shape: generalised Procrustes mean of FER+ neutral faces (split 0);
* eye closure: the open EAR is the median on FER+ neutral faces, the closed EAR the 1st percentile
  over all faces (split 0);
* one logistic model per fitted AU over the signals of its own movement (`mien.train.aus`);
* AU28 (no expression uses it, so no target exists): a ramp of mouthRoll from its 95th percentile
  on neutral faces to its 99th over all faces;
* AU43/AU45: closure ramps from 0.4 to 0.9 (a decision, not a measurement: lids 40% shut is the
  least that FACS coders would call closing; 0.9 is as shut as EAR reliably reads);
* trust per AU, from the evidence (see TRUST_RULE).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from mien.models.registry import MODELS, resolve_trainable  # noqa: E402
from mien.schema import AU_CODES, BLENDSHAPES, EMOTIONS  # noqa: E402
from mien.stages.au_signals import signal_matrix  # noqa: E402
from mien.stages.aus import expression_evidence  # noqa: E402
from mien.stages.eyes import eye_aspect_ratios  # noqa: E402
from mien.train import au_priors  # noqa: E402
from mien.train.au_metrics import roc_auc, spearman  # noqa: E402
from mien.train.aus import FITTED_AUS, PRESENT_AT, au_columns, fit_au_model, fitted_entry, reference_anchors, trust_of  # noqa: E402
from mien.train.datasets import load_ferplus_npz  # noqa: E402
from mien.train.measure import measure_faces  # noqa: E402

TABLE = ROOT / "src" / "mien" / "calibration" / "au_model.json"
EVIDENCE = ROOT / "docs" / "au_evidence.md"
CLOSURE_REST, CLOSURE_FULL = 0.4, 0.9
AU28_BLENDSHAPES = ("mouthRollLower", "mouthRollUpper")

# The blendshape a reader of the ARKit definitions would take for each AU: the baseline to beat.
NATURAL_BLENDSHAPES = {
    "AU01": ("browInnerUp",), "AU02": ("browOuterUpLeft", "browOuterUpRight"),
    "AU04": ("browDownLeft", "browDownRight"), "AU05": ("eyeWideLeft", "eyeWideRight"),
    "AU06": ("cheekSquintLeft", "cheekSquintRight"), "AU07": ("eyeSquintLeft", "eyeSquintRight"),
    "AU09": ("noseSneerLeft", "noseSneerRight"), "AU10": ("mouthUpperUpLeft", "mouthUpperUpRight"),
    "AU12": ("mouthSmileLeft", "mouthSmileRight"), "AU14": ("mouthDimpleLeft", "mouthDimpleRight"),
    "AU15": ("mouthFrownLeft", "mouthFrownRight"), "AU17": ("mouthShrugLower",),
    "AU20": ("mouthStretchLeft", "mouthStretchRight"), "AU23": ("mouthPucker",),
    "AU24": ("mouthPressLeft", "mouthPressRight"), "AU25": ("jawOpen",), "AU26": ("jawOpen",),
}  # fmt: skip

# Trust comes from the movement model alone (the part that sees the face's own movement), scored by
# the EMFACS prototype test on FER+ test: does the AU rank faces of the expressions that use it
# above the rest? (mien.train.aus.trust_of: ≥ 0.80 good, ≥ 0.70 moderate, below weak.)

log = logging.getLogger("calibrate")


def majority_labels(targets: np.ndarray) -> np.ndarray:
    """FER+ majority class per face, -1 where no emotion is usable."""
    return np.where(targets.sum(axis=1) > 0, targets.argmax(axis=1), -1)


def expected_classes(au: str) -> np.ndarray:
    """Indices (EMOTIONS order) of the expressions in which at least half of posers show the AU,
    or, for an AU no expression uses that often (AU23), those in which it is most frequent."""
    rates = np.array([au_priors.probability(au, e) for e in EMOTIONS])
    return np.flatnonzero(rates >= 0.5) if rates.max() >= 0.5 else np.flatnonzero(rates == rates.max())


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", required=True, help="fer2013_ferplus.npz")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--table", default=str(TABLE))
    parser.add_argument("--evidence", default=str(EVIDENCE))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")

    faces = load_ferplus_npz(Path(args.data))
    measured = measure_faces(faces.images, workers=args.workers)
    keep = measured.fitted & (faces.targets.sum(axis=1) > 0)
    m = measured.subset(keep)
    targets, split = faces.targets[keep], faces.split[keep]
    labels = majority_labels(targets)
    train, val, test = split == 0, split == 1, split == 2
    neutral_train = train & (labels == EMOTIONS.index("neutral"))
    log.info("faces with landmarks and an FER+ label: %d (train %d, val %d, test %d)",
             len(m), train.sum(), val.sum(), test.sum())  # fmt: skip

    reference = reference_anchors(m.landmarks[neutral_train])
    signals = signal_matrix(m.landmarks, m.blendshapes, reference)
    ears = eye_aspect_ratios(m.landmarks.astype(np.float64))
    open_ear = float(np.median(ears[neutral_train]))
    closed_ear = float(np.percentile(ears[train], 1))

    fitted_aus = [au for au in AU_CODES if au in FITTED_AUS]
    prior = au_priors.prior_matrix(fitted_aus)  # (8, n)
    weak = targets @ prior  # (N, n): chance a coder codes each AU, from the votes
    expression_prior = m.emotions.astype(np.float64) @ prior

    entries, rows = {}, []
    for j, au in enumerate(fitted_aus):
        model, l2 = fit_au_model(au, signals, weak[:, j], train, val)
        movement_logit = model.logit(signals[:, au_columns(au)])
        base_rate = float(weak[train, j].mean())
        fused_logit = movement_logit + expression_evidence(m.emotions, prior[:, j], base_rate)
        evidence = au_evidence(au, movement_logit, fused_logit, expression_prior[:, j], weak[:, j],
                               m.blendshapes, labels, test)  # fmt: skip
        evidence["l2"] = l2
        # An AU that no expression shows reliably (AU23: a variant of anger in 29% of posers) only
        # learns that expression's mouth here; it cannot earn more than "weak".
        reliable = max(au_priors.probability(au, e) for e in EMOTIONS) >= 0.5
        trust = trust_of(evidence["prototype_auc"]["movement"]) if reliable else "weak"
        entries[au] = fitted_entry(au, model, prior[:, j], base_rate, 1.0, trust, evidence)
        rows.append((au, evidence, trust))
        log.info("%s %s", au, json.dumps(evidence))

    roll = m.blendshapes[:, [BLENDSHAPES.index(n) for n in AU28_BLENDSHAPES]].mean(axis=1)
    entries["AU28"] = {
        "method": "blendshape_ramp", "blendshapes": list(AU28_BLENDSHAPES),
        "rest": round(float(np.percentile(roll[neutral_train], 95)), 6),
        "full": round(float(np.percentile(roll[train], 99)), 6),
        "present_at": 1.0, "trust": "unvalidated",
        "evidence": {"note": "no expression uses AU28, so FER+ gives it no target and no test"},
    }  # fmt: skip
    for au, eyes in (("AU43", "both"), ("AU45", "mean")):
        entries[au] = {"method": "eye_closure", "eyes": eyes, "rest": CLOSURE_REST, "full": CLOSURE_FULL,
                       "present_at": 1.0, "trust": "moderate",
                       "evidence": {"note": "eye aspect ratio; blinks found with onset/offset within 2 frames "
                                            "(tests/test_events.py)"}}  # fmt: skip

    table = {
        "made_by": "python tools/calibrate.py --data fer2013_ferplus.npz",
        "data": "FER2013 + FER+ votes: train split 0, validation split 1, evidence on test split 2",
        "priors": au_priors.SOURCE,
        "face_landmarker_sha256": MODELS["face_landmarker"].sha256,
        "expression_sha256": resolve_trainable("expression").sha256,
        "reference_anchors": [[round(float(v), 6) for v in point] for point in reference],
        "eye_closure": {"open_ear": round(open_ear, 6), "closed_ear": round(closed_ear, 6)},
        "aus": {au: entries[au] for au in AU_CODES},
    }
    Path(args.table).write_text(json.dumps(table, indent=1) + "\n")
    Path(args.evidence).write_text(evidence_markdown(rows, int(test.sum())))
    log.info("wrote %s and %s", args.table, args.evidence)


def au_evidence(au, movement_logit, fused_logit, expression_prior, weak, blendshapes, labels, test) -> dict:
    """FER+ test numbers for one AU: the EMFACS prototype test for each way of scoring it, and how
    much the fused score varies within each expression that uses the AU."""
    expected = np.isin(labels, expected_classes(au))
    natural = blendshapes[:, [BLENDSHAPES.index(n) for n in NATURAL_BLENDSHAPES[au]]].mean(axis=1)
    scores = {"movement": movement_logit, "expression": expression_prior, "fused": fused_logit, "blendshape": natural}
    out = {"prototype_auc": {name: round(roc_auc(s[test], expected[test]), 4) for name, s in scores.items()}}
    within = {}
    for c in expected_classes(au):
        members = test & (labels == c)
        if members.sum() < 20:
            continue
        within[EMOTIONS[c]] = {
            "faces": int(members.sum()),
            # how far the fused score follows the movement model inside this expression
            "rho_fused_movement": round(spearman(fused_logit[members], movement_logit[members]), 3),
            # does the face's own movement follow the annotators' mixed votes inside the class?
            "rho_movement_votes": round(spearman(movement_logit[members], weak[members]), 3),
        }
    out["within_expression"] = within
    return out


def evidence_markdown(rows, n_test: int) -> str:
    lines = [
        "# AU evidence on FER+ test (generated by tools/calibrate.py; do not edit)",
        "",
        f"{n_test} FER+ test faces (split 2) with landmarks and a usable FER+ label. No FACS codes exist for",
        "FER: the **prototype AUC** asks whether an AU ranks faces of the expressions in which at least half",
        "of posers show it (Du et al. 2014; EMFACS contempt) above all other faces. Columns: the movement",
        "model alone (signals of the AU's own movement), the expression term alone, the two fused (what mien",
        "reports), and the blendshape a reader of the ARKit definitions would take for the AU.",
        "**Within**: Spearman rho, inside each such expression, between the fused score and the movement",
        "model (how far the reported AU still follows the face's movement when the expression is fixed).",
        "",
        "| AU | expressions that use it | movement | expression | fused | blendshape | within: rho(fused, movement) | trust |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for au, evidence, trust in rows:
        auc = evidence["prototype_auc"]
        within = evidence["within_expression"]
        users = ", ".join(EMOTIONS[c] for c in expected_classes(au))
        rho = ", ".join(f"{e} {v['rho_fused_movement']:.2f}" for e, v in within.items()) or "–"
        lines.append(f"| {au} | {users} | {auc['movement']:.3f} | {auc['expression']:.3f} | {auc['fused']:.3f} | "
                     f"{auc['blendshape']:.3f} | {rho} | {trust} |")  # fmt: skip
    means = {k: np.nanmean([e["prototype_auc"][k] for _, e, _ in rows]) for k in ("movement", "expression", "fused", "blendshape")}
    lines.append(f"| **mean** | | {means['movement']:.3f} | {means['expression']:.3f} | {means['fused']:.3f} | "
                 f"{means['blendshape']:.3f} | | |")  # fmt: skip
    lines += ["", f"Presence: intensity ≥ {PRESENT_AT} (P ≥ 0.5). Trust rule: movement AUC ≥ 0.80 good, ≥ 0.70 moderate, else weak.", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
