"""The label set, fixed by the annotation guide (labels.md)."""

from __future__ import annotations

LABELS: tuple[str, ...] = ("partner_concealment", "evasive_stalling", "supplier_disrespect")

SUPPORTED_LANGUAGES: tuple[str, ...] = ("et", "fi", "uk", "ro", "nl")


def check_labels(labels: object) -> tuple[str, ...]:
    """Return ``labels`` as a tuple after checking each is a known label id."""
    if isinstance(labels, str) or not isinstance(labels, (list, tuple, set, frozenset)):
        raise TypeError(f"labels must be a list of label ids, got {type(labels).__name__}")
    unknown = [label for label in labels if label not in LABELS]
    if unknown:
        raise ValueError(f"unknown label(s) {unknown}; accepted: {list(LABELS)}")
    return tuple(label for label in LABELS if label in labels)
