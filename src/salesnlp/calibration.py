"""Per-label probability calibration (Platt scaling) and decision thresholds, fit on dev."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from salesnlp.metrics import prf


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


def fit_platt(logits: np.ndarray, y_true: np.ndarray, labels: Sequence[str]) -> dict:
    """Fit ``p = sigmoid(slope * logit + intercept)`` per label by logistic regression."""
    from sklearn.linear_model import LogisticRegression

    slope, intercept = {}, {}
    for k, label in enumerate(labels):
        column = y_true[:, k]
        if column.min() == column.max():  # one class only: keep the raw logit
            slope[label], intercept[label] = 1.0, 0.0
            continue
        lr = LogisticRegression(C=100.0).fit(logits[:, k : k + 1], column)
        slope[label], intercept[label] = float(lr.coef_[0, 0]), float(lr.intercept_[0])
    return {"method": "platt", "slope": slope, "intercept": intercept}


def apply_calibration(logits: np.ndarray, calibration: dict, labels: Sequence[str]) -> np.ndarray:
    if not calibration:
        return sigmoid(logits)
    slope = np.array([calibration["slope"][lb] for lb in labels])
    intercept = np.array([calibration["intercept"][lb] for lb in labels])
    return sigmoid(logits * slope + intercept)


def tune_thresholds(probs: np.ndarray, y_true: np.ndarray, labels: Sequence[str],
                    grid: np.ndarray | None = None) -> dict[str, float]:
    """Per-label threshold maximising F1 (ties: the one nearest 0.5)."""
    grid = np.round(np.arange(0.05, 0.951, 0.01), 2) if grid is None else grid
    thresholds = {}
    for k, label in enumerate(labels):
        scored = [(prf(y_true[:, k], (probs[:, k] >= t).astype(int))[2], -abs(t - 0.5), t)
                  for t in grid]
        thresholds[label] = float(max(scored)[2])
    return thresholds
