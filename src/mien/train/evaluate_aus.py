"""`mien evaluate aus`: how far mien's action units agree with a FACS-coded set.

Every image is measured as ``mien analyze --faces-are-crops`` measures it and scored with an AU
table (the shipped one, or one written by ``mien train aus``). Per AU: ROC AUC of the intensity
(coded vs not coded), F1 of ``AUxx_present``, and where the set codes intensities, ICC(3,1) and
MAE against them; the mean over AUs with at least MIN_CASES coded cases; Spearman's rho between
mien's PSPI and the PSPI of the codes; where an ``emotion`` column is given, the AUC of each AU
within each expression (does the AU vary with the face, not just with the expression?).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mien.calibration import load_table
from mien.schema import AU_CODES, EMOTIONS
from mien.stages.aus import AUModel
from mien.stages.eyes import eye_closure
from mien.stages.pain import pspi as mien_pspi
from mien.train.au_metrics import f1, icc_3_1, mae, roc_auc, spearman
from mien.train.datasets import SPLITS
from mien.train.facs_data import CodedFaces, load_coded
from mien.train.measure import Measurements, measure_faces

MIN_CASES = 10  # coded cases (and as many uncoded) for an AU to count in the means
MIN_WITHIN = 5  # ...and within one expression, for the within-expression AUC
_AU = {au: i for i, au in enumerate(AU_CODES)}


@dataclass
class AUScore:
    au: str
    trust: str
    coded: int
    not_coded: int
    auc: float
    f1: float
    icc: float = float("nan")
    mae: float = float("nan")


@dataclass
class AUEvaluation:
    source: str
    faces: int
    fitted: int
    per_au: list[AUScore]
    pspi_rho: float
    within_expression: dict[str, float] = field(default_factory=dict)

    def _counted(self) -> list[AUScore]:
        return [s for s in self.per_au if min(s.coded, s.not_coded) >= MIN_CASES]

    def means(self) -> dict[str, float]:
        counted = self._counted()

        def mean(values):
            values = [v for v in values if np.isfinite(v)]
            return float(np.mean(values)) if values else float("nan")

        return {
            "aus_counted": len(counted),
            "auc": mean(s.auc for s in counted),
            "f1": mean(s.f1 for s in counted),
            "icc": mean(s.icc for s in counted),
            "mae": mean(s.mae for s in counted),
            "within_expression_auc": mean(self.within_expression.values()),
        }

    def as_dict(self) -> dict:
        return {
            "source": self.source, "faces": self.faces, "faces_fitted": self.fitted,
            "means": self.means(), "pspi_spearman": self.pspi_rho,
            "per_au": [s.__dict__ for s in self.per_au], "within_expression_auc": self.within_expression,
        }  # fmt: skip

    def report(self) -> str:
        m = self.means()
        lines = [
            f"{self.source}: {self.faces} faces, landmarks fitted on {self.fitted}",
            f"mean over {m['aus_counted']} AUs with ≥ {MIN_CASES} coded and uncoded cases: "
            f"ROC AUC {m['auc']:.3f}   F1 {m['f1']:.3f}   ICC(3,1) {m['icc']:.3f}   MAE {m['mae']:.3f}",
            f"PSPI Spearman rho vs the codes' PSPI: {self.pspi_rho:.3f}",
        ]
        if self.within_expression:
            lines.append(f"AUC within one expression, mean of {len(self.within_expression)} AU×expression "
                         f"pairs: {m['within_expression_auc']:.3f}")  # fmt: skip
        lines += ["", "AU    trust        coded  not   ROC AUC  F1     ICC    MAE"]
        for s in self.per_au:
            lines.append(f"{s.au}  {s.trust:11}  {s.coded:5}  {s.not_coded:5} {s.auc:7.3f}  {s.f1:5.3f}  "
                         f"{s.icc:5.3f}  {s.mae:5.3f}".replace("nan", "  – "))  # fmt: skip
        return "\n".join(lines)


def intensities_of(measured: Measurements, table: dict) -> np.ndarray:
    """(N, len(AU_CODES)) mien's AU intensities; faces the landmarker could not fit score 0."""
    out = np.zeros((len(measured), len(AU_CODES)), np.float32)
    ok = measured.fitted
    if ok.any():
        model = AUModel(table)
        out[ok] = model.intensities(measured.landmarks[ok], measured.blendshapes[ok],
                                    eye_closure(measured.landmarks[ok]), measured.emotions[ok])  # fmt: skip
    return out


def coded_pspi(codes: np.ndarray) -> np.ndarray:
    """PSPI of FACS codes, the published formula (Prkachin & Solomon 2008); uncoded AUs count 0."""
    c = np.nan_to_num(codes)
    return c[:, _AU["AU04"]] + np.maximum(c[:, _AU["AU06"]], c[:, _AU["AU07"]]) + \
        np.maximum(c[:, _AU["AU09"]], c[:, _AU["AU10"]]) + (c[:, _AU["AU43"]] >= 1)  # fmt: skip


def score(coded: CodedFaces, intensity: np.ndarray, table: dict, fitted: int) -> AUEvaluation:
    model = AUModel(table)
    present = coded.present()
    predicted = model.presence(intensity)
    per_au = []
    for i, au in enumerate(AU_CODES):
        known = ~np.isnan(present[:, i])
        if not coded.coded[i] or not known.any():
            continue
        positive = present[known, i] == 1
        entry = AUScore(au, model.trust[au], int(positive.sum()), int((~positive).sum()),
                        roc_auc(intensity[known, i], positive), f1(predicted[known, i], positive))  # fmt: skip
        if coded.has_intensity[i]:
            entry.icc = icc_3_1(intensity[known, i], coded.codes[known, i])
            entry.mae = mae(intensity[known, i], coded.codes[known, i])
        per_au.append(entry)
    within = {}
    for e in sorted(set(coded.emotion[coded.emotion >= 0])):
        for i, au in enumerate(AU_CODES):
            members = (coded.emotion == e) & ~np.isnan(present[:, i])
            positive = present[members, i] == 1
            if min(positive.sum(), (~positive).sum()) >= MIN_WITHIN:
                within[f"{au}|{EMOTIONS[e]}"] = roc_auc(intensity[members, i], positive)
    pspi_codes = {"AU04", "AU06", "AU07", "AU09", "AU10"}
    rho = spearman(mien_pspi(intensity), coded_pspi(coded.codes)) if all(coded.coded[_AU[a]] for a in pspi_codes) else float("nan")
    return AUEvaluation(coded.source, len(coded), fitted, per_au, rho, within)


def evaluate_aus(data: str, table: str | None = None, split: str | None = None, workers: int = 2) -> AUEvaluation:
    """Score the AU table (default: the shipped one) on a FACS-coded set (see `facs_data`)."""
    coded = load_coded(data)
    if split is not None and split != "all":
        if split not in SPLITS:
            raise ValueError(f"--split {split!r}: choose {', '.join(SPLITS)} or all")
        keep = coded.split == SPLITS.index(split)
        coded = subset(coded, keep)
    measured = measure_faces(coded.images, workers=workers)
    loaded = load_table(table)
    return score(coded, intensities_of(measured, loaded), loaded, int(measured.fitted.sum()))


def subset(coded: CodedFaces, keep: np.ndarray) -> CodedFaces:
    """The faces of ``coded`` where ``keep`` is True."""
    if not keep.any():
        raise ValueError(f"{coded.source}: no faces in that split")
    index = np.flatnonzero(keep)
    return CodedFaces([coded.images[i] for i in index], [coded.names[i] for i in index], coded.codes[keep],
                      coded.has_intensity, coded.coded, coded.emotion[keep], coded.split[keep], coded.source)  # fmt: skip
