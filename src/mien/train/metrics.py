"""Classification scores and probability calibration, in NumPy (evaluation needs no torch)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

ECE_BINS = 15


@dataclass
class Scores:
    """How predictions compare with labels, for classes ``classes``."""

    classes: tuple[str, ...]
    n: int
    accuracy: float
    mean_recall: float
    recall: np.ndarray  # (C,) per class; NaN for a class with no examples
    confusion: np.ndarray  # (C, C) counts, rows = true label, columns = prediction
    ece: float
    nll: float

    def as_dict(self) -> dict:
        return {
            "n": self.n, "accuracy": self.accuracy, "mean_recall": self.mean_recall, "ece": self.ece,
            "nll": self.nll, "classes": list(self.classes),
            "recall": {c: (None if np.isnan(r) else float(r)) for c, r in zip(self.classes, self.recall)},
            "confusion": self.confusion.tolist(),
        }  # fmt: skip

    def table(self) -> str:
        """Text report: headline numbers, per-class recall and the confusion matrix."""
        width = max(9, max(len(c) for c in self.classes) + 1)
        lines = [
            f"faces {self.n}   accuracy {100 * self.accuracy:.2f}%   mean per-class recall "
            f"{100 * self.mean_recall:.2f}%   ECE {100 * self.ece:.2f}%   NLL {self.nll:.3f}",
            "",
            "true \\ predicted".ljust(width + 8) + "".join(c[:width - 1].rjust(width) for c in self.classes),
        ]  # fmt: skip
        for c, row, recall in zip(self.classes, self.confusion, self.recall):
            shown = "    -  " if np.isnan(recall) else f"{100 * recall:5.1f}% "
            lines.append(f"{c.ljust(width)}{shown}" + "".join(str(v).rjust(width) for v in row))
        return "\n".join(lines)


def score(probabilities: np.ndarray, labels: np.ndarray, classes: tuple[str, ...]) -> Scores:
    """Scores of (N, C) probabilities against (N,) label indices."""
    labels = np.asarray(labels, np.int64)
    predicted = probabilities.argmax(axis=1)
    c = len(classes)
    confusion = np.zeros((c, c), np.int64)
    np.add.at(confusion, (labels, predicted), 1)
    per_class = confusion.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        recall = np.where(per_class > 0, np.diag(confusion) / per_class, np.nan)
    return Scores(
        classes=classes,
        n=len(labels),
        accuracy=float((predicted == labels).mean()) if len(labels) else float("nan"),
        mean_recall=float(np.nanmean(recall)) if np.isfinite(recall).any() else float("nan"),
        recall=recall,
        confusion=confusion,
        ece=expected_calibration_error(probabilities, labels),
        nll=float(-np.log(np.clip(probabilities[np.arange(len(labels)), labels], 1e-12, 1)).mean()),
    )


def expected_calibration_error(probabilities: np.ndarray, labels: np.ndarray, bins: int = ECE_BINS) -> float:
    """Top-label ECE (Guo et al. 2017): confidence vs accuracy gap, averaged over equal-width bins."""
    confidence = probabilities.max(axis=1)
    correct = probabilities.argmax(axis=1) == labels
    which = np.minimum((confidence * bins).astype(int), bins - 1)
    gap = 0.0
    for b in range(bins):
        members = which == b
        if members.any():
            gap += members.mean() * abs(correct[members].mean() - confidence[members].mean())
    return float(gap)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, mirrored_logits: np.ndarray, labels: np.ndarray) -> float:
    """The temperature T minimising the validation NLL of what analysis reports: the mean of
    softmax(z / T) over a face and its mirror image (golden-section search on log T)."""

    def nll(log_t: float) -> float:
        t = np.exp(log_t)
        p = (softmax(logits / t) + softmax(mirrored_logits / t)) / 2
        return float(-np.log(np.clip(p[np.arange(len(labels)), labels], 1e-12, 1)).mean())

    low, high = np.log(0.2), np.log(10.0)
    ratio = (np.sqrt(5) - 1) / 2
    for _ in range(60):
        a, b = high - ratio * (high - low), low + ratio * (high - low)
        if nll(a) < nll(b):
            high = b
        else:
            low = a
    return float(np.exp((low + high) / 2))
