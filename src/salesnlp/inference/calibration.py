"""Per-label probability calibration (Platt scaling) and the threshold decision.

Two Platt maps per label: one on the encoder's logits (``slope``, ``intercept``), and,
in models that blend in the n-gram component and take a note's best sentence, a
``final`` one on the logit of the blended, aggregated probability, so that the
probability a note gets is calibrated as a whole.

Both are fitted on dev by :mod:`salesnlp.training.calibration`; this module only applies them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


def logit(probs: np.ndarray) -> np.ndarray:
    """The inverse of :func:`sigmoid`, with probabilities kept within [1e-6, 1 - 1e-6]."""
    p = np.clip(probs, 1e-6, 1 - 1e-6)
    return np.log(p / (1 - p))


def apply_calibration(logits: np.ndarray, calibration: dict, labels: Sequence[str]) -> np.ndarray:
    if not calibration:
        return sigmoid(logits)
    slope = np.array([calibration["slope"][lb] for lb in labels])
    intercept = np.array([calibration["intercept"][lb] for lb in labels])
    return sigmoid(logits * slope + intercept)


def apply_final_calibration(probs: np.ndarray, calibration: dict, labels: Sequence[str]
                            ) -> np.ndarray:
    """Map blended probabilities through ``calibration["final"]`` (identity without it)."""
    final = (calibration or {}).get("final")
    if not final:
        return probs
    return apply_calibration(logit(probs), final, labels)


def decide(probs: np.ndarray, thresholds: Mapping[str, float], labels: Sequence[str]
           ) -> np.ndarray:
    """0/1 predictions ``[n, n_labels]``: a label is on where its probability reaches its
    threshold."""
    cut = np.array([thresholds[label] for label in labels], dtype=np.float64)
    return (np.asarray(probs) >= cut).astype(np.int8)
