"""Result objects returned by :func:`salesnlp.classify`."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from salesnlp.labels import LABELS

#: The columns a result adds to a row of a table (CLI files, pandas, Spark), in order.
ROW_COLUMNS: tuple[str, ...] = (
    "language", "supported", "labels", *(f"score_{label}" for label in LABELS), "evidence",
)


@dataclass(frozen=True)
class Evidence:
    """A sentence that drove a label: its text, character span in the note and score.

    ``text`` is always ``note[start:end]``: the characters of the note as given (for an
    HTML note, the markup inside the sentence is kept).
    """

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
        supported: True if ``language`` is one of the five languages the model was trained
            on. Notes in another language are scored anyway unless the classifier's
            ``unsupported_language`` policy is ``"neutral"``; notes without letters and
            empty notes are neutral and ``"und"``.
    """

    text: str
    language: str
    labels: tuple[str, ...]
    scores: dict[str, float]
    evidence: tuple[Evidence, ...] = ()
    thresholds: dict[str, float] = field(default_factory=dict)
    truncated: bool = False
    supported: bool = True

    def to_dict(self) -> dict:
        """A JSON-ready dict (no text by default, to keep exports small)."""
        return {
            "language": self.language,
            "supported": self.supported,
            "labels": list(self.labels),
            "scores": {label: round(self.scores[label], 4) for label in LABELS},
            "evidence": [e.to_dict() for e in self.evidence],
        }

    def to_row(self, *, flat: bool = False) -> dict[str, Any]:
        """The :data:`ROW_COLUMNS` of this result: ``labels`` a list and ``evidence`` a list
        of dicts, or, with ``flat`` (CSV), labels joined with ``;`` and evidence as JSON."""
        labels = list(self.labels)
        evidence = [e.to_dict() for e in self.evidence]
        row: dict[str, Any] = {"language": self.language, "supported": self.supported,
                               "labels": ";".join(labels) if flat else labels}
        for label in LABELS:
            row[f"score_{label}"] = round(float(self.scores.get(label, 0.0)), 4)
        row["evidence"] = json.dumps(evidence, ensure_ascii=False) if flat else evidence
        return row

    def evidence_for(self, label: str) -> tuple[Evidence, ...]:
        return tuple(e for e in self.evidence if e.label == label)

    def __repr__(self) -> str:
        scores = ", ".join(f"{k}={v:.2f}" for k, v in self.scores.items())
        return f"Classification(language={self.language!r}, labels={self.labels}, {scores})"
