"""Multi-label metrics: per-label P/R/F1 (scikit-learn), macro-F1, exact match, calibration
error."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from salesnlp.labels import LABELS


def label_matrix(label_sets: Sequence[Sequence[str]], labels: Sequence[str] = LABELS) -> np.ndarray:
    """0/1 matrix ``[n_notes, n_labels]`` from label-id lists."""
    return np.array([[label in s for label in labels] for s in label_sets], dtype=np.int8).reshape(
        len(label_sets), len(labels))


def expected_calibration_error(y_true: np.ndarray, probs: np.ndarray, n_bins: int = 10) -> float:
    """ECE over all (note, label) probabilities, equal-width bins (not in scikit-learn)."""
    y, p = y_true.ravel().astype(float), probs.ravel()
    bins = np.minimum((p * n_bins).astype(int), n_bins - 1)
    ece = 0.0
    for b in range(n_bins):
        in_bin = bins == b
        if in_bin.any():
            ece += in_bin.mean() * abs(p[in_bin].mean() - y[in_bin].mean())
    return float(ece)


def multilabel_report(y_true: np.ndarray, y_pred: np.ndarray, probs: np.ndarray | None = None,
                      labels: Sequence[str] = LABELS) -> dict:
    """Per-label precision/recall/F1/support, macro-F1, exact match and (with probs) ECE."""
    from sklearn.metrics import accuracy_score, precision_recall_fscore_support

    y_true = np.asarray(y_true).reshape(-1, len(labels))
    y_pred = np.asarray(y_pred).reshape(-1, len(labels))
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, average=None, labels=list(range(len(labels))), zero_division=0)
    per_label = {label: {"precision": float(precision[k]), "recall": float(recall[k]),
                         "f1": float(f1[k]), "support": int(support[k])}
                 for k, label in enumerate(labels)}
    report = {
        "n": int(len(y_true)),
        "per_label": per_label,
        "macro_f1": float(np.mean(f1)) if len(labels) else 0.0,
        "exact_match": float(accuracy_score(y_true, y_pred)) if len(y_true) else 0.0,
    }
    if probs is not None:
        report["ece"] = expected_calibration_error(y_true, probs)
    return report


def confusion_summary(y_true: np.ndarray, y_pred: np.ndarray,
                      labels: Sequence[str] = LABELS) -> dict:
    """For each label: true positives, false positives and false negatives, and for the
    false positives which true label sets they came from."""
    def name(row: np.ndarray) -> str:
        return "+".join(lb for lb, v in zip(labels, row, strict=True) if v) or "none"

    summary = {}
    for k, label in enumerate(labels):
        fp_sources: dict[str, int] = {}
        for row_true, row_pred in zip(y_true, y_pred, strict=True):
            if row_pred[k] and not row_true[k]:
                fp_sources[name(row_true)] = fp_sources.get(name(row_true), 0) + 1
        summary[label] = {
            "tp": int(np.sum((y_true[:, k] == 1) & (y_pred[:, k] == 1))),
            "fp": int(np.sum((y_true[:, k] == 0) & (y_pred[:, k] == 1))),
            "fn": int(np.sum((y_true[:, k] == 1) & (y_pred[:, k] == 0))),
            "false_positives_from": dict(sorted(fp_sources.items(), key=lambda kv: -kv[1])),
        }
    return summary
