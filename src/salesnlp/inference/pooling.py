"""From token states to a note vector and sentence vectors.

The note vector is the mean of every token state over all of a note's windows (e5's
mean pooling). A sentence's vector is the mean of its tokens' states, read in the
context of the whole window, plus the special tokens of the window it starts in
(``<s> passage: … </s>``), so a one-sentence note's sentence vector is its note vector.
Which token goes into which sentence is a :class:`SentencePlan`, built once per note
and used alike by inference (numpy) and training (PyTorch), so both pool the same way.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from salesnlp.encoder.tokenization import EncodedNote
from salesnlp.prepare.document import Document
from salesnlp.prepare.sentences import sentence_spans


@dataclass(frozen=True)
class SentencePlan:
    """Token positions pooled into each sentence of one note.

    Attributes:
        spans: ``(start, end)`` of each sentence in the document's text.
        sentence: for each pooled token, the sentence it goes to (0-based).
        window: the token's window.
        position: the token's position in that window.
        counts: tokens pooled into each sentence (at least 1).
    """

    spans: tuple[tuple[int, int], ...]
    sentence: np.ndarray
    window: np.ndarray
    position: np.ndarray
    counts: np.ndarray

    def __len__(self) -> int:
        return len(self.spans)


def body_sentences(document: Document, lang: str) -> list[tuple[int, int]]:
    """Sentence spans of the document's body (the newest message), in order."""
    spans = []
    for start, end in document.body:
        spans += [(start + a, start + b)
                  for a, b in sentence_spans(document.text[start:end], lang)]
    return spans


def sentence_plan(spans: list[tuple[int, int]], note: EncodedNote) -> SentencePlan:
    """Which token states make each sentence's vector (sentences without any token, e.g.
    beyond the last window, are dropped)."""
    starts = np.array([s for s, _ in spans], dtype=np.int64)
    ends = np.array([e for _, e in spans], dtype=np.int64)
    rows, windows, positions = [], [], []
    first_window = np.full(len(spans), -1)
    for w, offsets in enumerate(note.offsets):
        content = [p for p, off in enumerate(offsets) if off is not None and off[1] > off[0]]
        if not content or not len(spans):
            continue
        token_starts = np.array([offsets[p][0] for p in content])
        sentence = np.searchsorted(starts, token_starts, side="right") - 1
        inside = (sentence >= 0) & (token_starts < ends[np.maximum(sentence, 0)])
        rows.append(sentence[inside])
        windows.append(np.full(int(inside.sum()), w))
        positions.append(np.array(content)[inside])
        seen = np.unique(sentence[inside])
        first_window[seen[first_window[seen] < 0]] = w
    kept = np.flatnonzero(first_window >= 0)
    renumber = np.full(len(spans), -1)
    renumber[kept] = np.arange(len(kept))
    for s in kept.tolist():  # the special tokens of the window the sentence starts in
        w = int(first_window[s])
        specials = [p for p, off in enumerate(note.offsets[w]) if off is None]
        rows.append(np.full(len(specials), s))
        windows.append(np.full(len(specials), w))
        positions.append(np.array(specials, dtype=np.int64))
    sentence = np.concatenate(rows) if rows else np.zeros(0, dtype=np.int64)
    window = np.concatenate(windows) if windows else np.zeros(0, dtype=np.int64)
    position = np.concatenate(positions) if positions else np.zeros(0, dtype=np.int64)
    sentence = renumber[sentence]
    counts = np.bincount(sentence, minlength=len(kept)).astype(np.float32)
    return SentencePlan(tuple(spans[s] for s in kept.tolist()), sentence.astype(np.int64),
                        window.astype(np.int64), position.astype(np.int64),
                        np.maximum(counts, 1.0))


def pool_sentences(plan: SentencePlan, window_states: list[np.ndarray]) -> np.ndarray:
    """``[sentences, hidden]`` sentence vectors of one note (numpy)."""
    hidden = window_states[0].shape[-1]
    sums = np.zeros((len(plan), hidden), dtype=np.float32)
    if len(plan):
        gathered = np.stack([window_states[w][p] for w, p in zip(plan.window.tolist(),
                                                                  plan.position.tolist(),
                                                                  strict=True)])
        np.add.at(sums, plan.sentence, gathered)
    return sums / plan.counts[:, None]


def mean_pool(states: np.ndarray, attention_mask: np.ndarray, window_to_note: np.ndarray,
              n_notes: int) -> np.ndarray:
    """Mean of all token states per note, over all of its windows."""
    mask = attention_mask[..., None].astype(states.dtype)
    sums = (states * mask).sum(1)
    note_sums = np.zeros((n_notes, states.shape[-1]), dtype=states.dtype)
    note_counts = np.zeros((n_notes, 1), dtype=states.dtype)
    np.add.at(note_sums, window_to_note, sums)
    np.add.at(note_counts, window_to_note, mask.sum(1))
    return note_sums / np.maximum(note_counts, 1.0)
