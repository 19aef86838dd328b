"""Logistic regression with soft targets, fitted by Newton's method (numpy only, deterministic).

The AU model is one small logistic regression per action unit over the signals of its own movement. Targets
may be probabilities (weak labels: the chance a coder would code the AU) or 0/1 codes. With a few
dozen standardised inputs and an L2 penalty the problem is convex and small, so Newton's method
converges in a handful of steps, needs no learning rate, and gives the same answer on every machine.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Logistic:
    """logit = ((x - mean) / scale) @ weights + bias."""

    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    bias: float

    def logit(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.weights + self.bias


def fit_logistic(x: np.ndarray, target: np.ndarray, l2: float = 1.0, sample_weight: np.ndarray | None = None,
                 steps: int = 50) -> Logistic:  # fmt: skip
    """Minimise the mean cross-entropy to ``target`` (in [0, 1]) plus l2/n·|w|² (bias unpenalised)."""
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    z = np.column_stack([(x - mean) / scale, np.ones(len(x))])
    weight = np.ones(len(x)) if sample_weight is None else sample_weight
    weight = weight / weight.sum()
    penalty = np.full(z.shape[1], l2 / len(x))
    penalty[-1] = 0.0
    base = np.clip(np.average(target, weights=weight), 1e-4, 1 - 1e-4)
    theta = np.zeros(z.shape[1])
    theta[-1] = np.log(base / (1 - base))
    for _ in range(steps):
        p = 1.0 / (1.0 + np.exp(-np.clip(z @ theta, -30, 30)))
        gradient = z.T @ (weight * (p - target)) + penalty * theta
        hessian = (z * (weight * p * (1 - p))[:, None]).T @ z + np.diag(penalty + 1e-9)
        step = np.linalg.solve(hessian, gradient)
        theta -= step
        if np.abs(step).max() < 1e-8:
            break
    return Logistic(mean=mean, scale=scale, weights=theta[:-1], bias=float(theta[-1]))
