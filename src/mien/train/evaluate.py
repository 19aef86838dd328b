"""Score an expression model on a labelled face set: ``mien evaluate expression --data DATA``.

Faces are cut by the analysis path (align.aligned_crops) and classified by the analysis stage
(`ExpressionModel.predict`, mirror-averaged), so the numbers describe what `mien analyze` reports.

Protocols:
* ``ferplus`` — majority FER+ label, eight classes, faces whose most votes are 'unknown' or 'not a
  face' left out (Barsoum et al. 2016); one-hot labels of folder and CSV sets score the same way.
* ``fer2013`` — FER2013's original labels, seven classes, from the model's FER2013 head; only for
  sets that carry those labels (the FER2013/FER+ npz).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mien.models.registry import resolve_trainable
from mien.schema import EMOTIONS, FER2013_EMOTIONS
from mien.stages.expression import ExpressionModel
from mien.train.align import aligned_crops
from mien.train.datasets import SPLITS, FaceSet, load
from mien.train.metrics import Scores, score


@dataclass
class Evaluation:
    data: str
    model: str
    split: str
    ferplus: Scores
    fer2013: Scores | None
    landmarks_fitted: float  # share of faces cut from landmarks (the rest: the whole image)

    def report(self) -> str:
        parts = [f"model {self.model}\ndata  {self.data} (split: {self.split}; landmarks fitted on "
                 f"{100 * self.landmarks_fitted:.1f}% of faces)",  # fmt: skip
                 "", "FER+ protocol (majority label, 8 classes)", self.ferplus.table()]
        if self.fer2013 is not None:
            parts += ["", "FER2013 protocol (original labels, 7 classes)", self.fer2013.table()]
        return "\n".join(parts)

    def as_dict(self) -> dict:
        return {"data": self.data, "model": self.model, "split": self.split,
                "landmarks_fitted": self.landmarks_fitted, "ferplus": self.ferplus.as_dict(),
                "fer2013": None if self.fer2013 is None else self.fer2013.as_dict()}  # fmt: skip


def evaluate_expression(data: str, model: str | None = None, split: str | None = None,
                        workers: int = 2) -> Evaluation:  # fmt: skip
    """Scores of the expression model (default: the shipped one) on ``data``.

    split: train, val, test or all; by default test where the set has its own splits (the npz,
    split folders, a CSV split column), else all of it.
    """
    faces = load(data)
    split = split or ("test" if faces.has_splits else "all")
    if split not in (*SPLITS, "all"):
        raise ValueError(f"split {split!r} is not one of {', '.join(SPLITS)}, all")
    chosen = np.ones(len(faces), bool) if split == "all" else faces.split == SPLITS.index(split)
    model_file = resolve_trainable("expression", model)
    crops, fitted = aligned_crops(faces, workers=workers)
    expressions, fer2013 = _predict(ExpressionModel(str(model_file.path)), crops[chosen])
    return Evaluation(
        data=str(data),
        model=str(model_file.path),
        split=split,
        ferplus=_ferplus_scores(faces, chosen, expressions),
        fer2013=_fer2013_scores(faces, chosen, fer2013),
        landmarks_fitted=float(fitted[chosen].mean()) if chosen.any() else float("nan"),
    )


def _predict(model: ExpressionModel, crops: np.ndarray, batch: int = 256) -> tuple[np.ndarray, np.ndarray]:
    parts = [model.predict(crops[i : i + batch]) for i in range(0, len(crops), batch)]
    if not parts:
        return np.zeros((0, len(EMOTIONS))), np.zeros((0, len(FER2013_EMOTIONS)))
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def _ferplus_scores(faces: FaceSet, chosen: np.ndarray, expressions: np.ndarray) -> Scores:
    labels = faces.labels[chosen]
    usable = labels >= 0
    return score(expressions[usable], labels[usable], EMOTIONS)


def _fer2013_scores(faces: FaceSet, chosen: np.ndarray, fer2013: np.ndarray) -> Scores | None:
    labels = faces.fer2013[chosen]
    usable = labels >= 0
    if not usable.any():
        return None
    return score(fer2013[usable], labels[usable], FER2013_EMOTIONS)
