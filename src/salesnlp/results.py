"""Result objects returned by :func:`salesnlp.classify`."""

from __future__ import annotations

from dataclasses import dataclass, field

from salesnlp.labels import LABELS


@dataclass(frozen=True)
class Evidence:
    """A sentence that drove a label: its text, character span in the note and score."""

    label: str
    text: str
    start: int
    end: int
    score: float

    def to_dict(self) -> dict:
        return {"label": self.label, "text": self.text, "start": self.start, "end": self.end,
                "score": round(self.score, 4)}


@dataclass(frozen=True)
class Classification:
    """What the classifier says about one note.

    Attributes:
        text: the note as given.
        language: ISO 639-1 code of the note's language, or ``"und"``.
        labels: label ids whose score reached the label's threshold, in ``LABELS`` order.
        scores: calibrated probability (0..1) for each of the three labels.
        evidence: for each predicted label, the sentences that drove it, best first.
        thresholds: the decision threshold used for each label.
        truncated: True only if the note was cut (never by default: long notes are windowed).
    """

    text: str
    language: str
    labels: tuple[str, ...]
    scores: dict[str, float]
    evidence: tuple[Evidence, ...] = ()
    thresholds: dict[str, float] = field(default_factory=dict)
    truncated: bool = False

    def to_dict(self) -> dict:
        """A JSON-ready dict (no text by default, to keep exports small)."""
        return {
            "language": self.language,
            "labels": list(self.labels),
            "scores": {label: round(self.scores[label], 4) for label in LABELS},
            "evidence": [e.to_dict() for e in self.evidence],
        }

    def evidence_for(self, label: str) -> tuple[Evidence, ...]:
        return tuple(e for e in self.evidence if e.label == label)

    def __repr__(self) -> str:
        scores = ", ".join(f"{k}={v:.2f}" for k, v in self.scores.items())
        return f"Classification(language={self.language!r}, labels={self.labels}, {scores})"
