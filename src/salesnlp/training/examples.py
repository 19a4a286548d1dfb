"""Training examples: notes prepared exactly as inference prepares them, with targets.

Each note becomes an :class:`Example`: its document (:mod:`salesnlp.prepare`), token
windows, the sentence pooling plan of its newest message
(:mod:`salesnlp.inference.pooling`), its label vector and, per sentence and label, a
target: 1 where the sentence overlaps the label's evidence span (corpus v2 records
them), 0 where the note does not carry the label. The other sentences of a note that
carries it get 0 with a small weight when the note's evidence is annotated (a writer
marked the span that shows the behaviour, so the rest mostly does not), and no
sentence-level target at all otherwise (corpus v1: the note-level loss decides).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from salesnlp.corpus.notes import Note
from salesnlp.encoder.tokenization import EncodedNote, NoteTokenizer
from salesnlp.inference.pooling import SentencePlan, body_sentences, sentence_plan
from salesnlp.labels import LABELS
from salesnlp.prepare.document import Document, prepare_document


@dataclass
class Example:
    """One training note, ready for the network."""

    note: Note
    document: Document
    encoded: EncodedNote
    plan: SentencePlan
    labels: np.ndarray            # [n_labels] 0/1
    sentence_targets: np.ndarray  # [sentences, n_labels] 1 or 0
    sentence_weights: np.ndarray  # [sentences, n_labels] weight of each target (0: none)


def build_examples(notes: list[Note], tokenizer: NoteTokenizer, *, structure: bool,
                   max_windows: int | None = None, unmarked_weight: float = 0.3
                   ) -> list[Example]:
    """Prepare, tokenize and plan every note; targets from labels and evidence."""
    documents = [prepare_document(n.text, structure=structure) for n in notes]
    encoded = tokenizer.encode([d.text for d in documents], max_windows=max_windows)
    examples = []
    for note, document, enc in zip(notes, documents, encoded, strict=True):
        plan = sentence_plan(body_sentences(document, note.lang), enc)
        labels = np.array([label in note.labels for label in LABELS], dtype=np.float32)
        targets, weights = sentence_targets(note, document, plan, unmarked_weight)
        examples.append(Example(note, document, enc, plan, labels, targets, weights))
    return examples


def sentence_targets(note: Note, document: Document, plan: SentencePlan,
                     unmarked_weight: float = 0.3) -> tuple[np.ndarray, np.ndarray]:
    """Per sentence of ``plan`` and label: the target and its weight (see the module)."""
    targets = np.zeros((len(plan), len(LABELS)), dtype=np.float32)
    weights = np.ones((len(plan), len(LABELS)), dtype=np.float32)
    evidence = note.extra.get("evidence") or []
    for k, label in enumerate(LABELS):
        if label not in note.labels:
            continue
        spans = [(document.to_text_offset(int(item["start"])),
                  document.to_text_offset(int(item["end"])))
                 for item in evidence if item.get("label") == label]
        weights[:, k] = unmarked_weight if spans else 0.0
        for s, (start, end) in enumerate(plan.spans):
            if any(start < b and a < end for a, b in spans):
                targets[s, k], weights[s, k] = 1.0, 1.0
    return targets, weights
