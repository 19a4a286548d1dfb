"""The label set, fixed by the annotation guide (labels.md)."""

from __future__ import annotations

LABELS: tuple[str, ...] = ("partner_concealment", "evasive_stalling", "supplier_disrespect")

SUPPORTED_LANGUAGES: tuple[str, ...] = ("et", "fi", "uk", "ro", "nl")


def check_labels(labels: object, known: tuple[str, ...] = LABELS) -> tuple[str, ...]:
    """Return ``labels`` as a tuple in ``known``'s order after checking each is known."""
    if isinstance(labels, str) or not isinstance(labels, (list, tuple, set, frozenset)):
        raise TypeError(f"labels must be a list of label ids, got {type(labels).__name__}")
    unknown = sorted(set(labels) - set(known))
    if unknown:
        raise ValueError(f"unknown label(s) {unknown}; accepted: {list(known)}")
    return tuple(label for label in known if label in labels)
