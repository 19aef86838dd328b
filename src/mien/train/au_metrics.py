"""Agreement of action-unit scores with FACS codes: ROC AUC, F1, ICC(3,1), MAE.

ROC AUC asks whether the AU's intensity ranks coded faces above uncoded ones (threshold-free);
F1 scores the 0/1 presence column; ICC(3,1) (Shrout & Fleiss 1979: two-way mixed, consistency,
single rater) and MAE compare intensities with coded intensities (0-5, FACS A-E = 1-5), as
DISFA and BP4D report them.
"""

from __future__ import annotations

import numpy as np


def roc_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Probability that a random positive scores above a random negative (ties count half);
    NaN when either class is empty."""
    scores, positive = np.asarray(scores, np.float64), np.asarray(positive, bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = average_ranks(scores) + 1
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def average_ranks(values: np.ndarray) -> np.ndarray:
    """0-based ranks, tied values sharing their average rank."""
    values = np.asarray(values, np.float64)
    order = np.argsort(values, kind="mergesort")
    ranks = np.empty(len(values))
    boundaries = np.flatnonzero(np.diff(values[order])) + 1
    for start, end in zip(np.concatenate([[0], boundaries]), np.concatenate([boundaries, [len(values)]])):
        ranks[order[start:end]] = (start + end - 1) / 2
    return ranks


def f1(predicted: np.ndarray, positive: np.ndarray) -> float:
    """F1 of 0/1 predictions; NaN when there is nothing to find and nothing was found."""
    predicted, positive = np.asarray(predicted, bool), np.asarray(positive, bool)
    hits = int((predicted & positive).sum())
    denominator = int(predicted.sum()) + int(positive.sum())
    return float("nan") if denominator == 0 else 2 * hits / denominator


def icc_3_1(a: np.ndarray, b: np.ndarray) -> float:
    """ICC(3,1) between two raters' scores of the same targets."""
    ratings = np.column_stack([a, b]).astype(np.float64)
    n, k = ratings.shape
    if n < 2:
        return float("nan")
    grand = ratings.mean()
    between_targets = k * ((ratings.mean(axis=1) - grand) ** 2).sum() / (n - 1)
    between_raters = n * ((ratings.mean(axis=0) - grand) ** 2).sum()
    residual = (((ratings - grand) ** 2).sum() - between_targets * (n - 1) - between_raters) / ((n - 1) * (k - 1))
    denominator = between_targets + (k - 1) * residual
    return float("nan") if denominator <= 0 else float((between_targets - residual) / denominator)


def mae(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rho (Pearson correlation of average ranks)."""
    ra, rb = average_ranks(a), average_ranks(b)
    if ra.std() == 0 or rb.std() == 0:
        return float("nan")
    return float(np.corrcoef(ra, rb)[0, 1])
