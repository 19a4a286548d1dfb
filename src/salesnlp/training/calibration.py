"""Fitting calibration and thresholds on dev (applied by :mod:`salesnlp.inference.calibration`)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


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


def tune_thresholds(probs: np.ndarray, y_true: np.ndarray, labels: Sequence[str],
                    grid: np.ndarray | None = None) -> dict[str, float]:
    """Per-label threshold maximising F1 on these notes (ties: the one nearest 0.5)."""
    from sklearn.metrics import f1_score

    grid = np.round(np.arange(0.05, 0.951, 0.01), 2) if grid is None else grid
    thresholds = {}
    for k, label in enumerate(labels):
        scored = [(f1_score(y_true[:, k], probs[:, k] >= t, zero_division=0), -abs(t - 0.5), t)
                  for t in grid]
        thresholds[label] = float(max(scored)[2])
    return thresholds
