"""Sentence splitting for evidence: spaCy's blank pipeline per language.

CRM notes are often lists, so line breaks end a sentence too. Spans are
character offsets into the original text, trimmed of surrounding space.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache

_SPACY_LANGS = {"et", "fi", "uk", "ro", "nl", "en", "de", "ru", "pl", "lv", "lt", "sv"}
_LINE_BREAKS = re.compile(r"\n+")
_lock = threading.Lock()


@lru_cache(maxsize=16)
def _pipeline(lang: str):
    import spacy

    try:
        nlp = spacy.blank(lang if lang in _SPACY_LANGS else "xx")
    except (ImportError, OSError, KeyError):
        nlp = spacy.blank("xx")
    nlp.add_pipe("sentencizer")
    return nlp


def sentence_spans(text: str, lang: str = "xx") -> list[tuple[int, int]]:
    """Character spans ``(start, end)`` of the sentences of ``text``, in order."""
    if not text.strip():
        return []
    with _lock:  # spaCy's Vocab is not safe for concurrent writes
        doc = _pipeline(lang)(text)
        raw = [(s.start_char, s.end_char) for s in doc.sents]
    spans: list[tuple[int, int]] = []
    for start, end in raw:
        piece_start = start
        for match in _LINE_BREAKS.finditer(text, start, end):
            spans.append((piece_start, match.start()))
            piece_start = match.end()
        spans.append((piece_start, end))
    return [trimmed for span in spans if (trimmed := _trim(text, *span))]


def _trim(text: str, start: int, end: int) -> tuple[int, int] | None:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return (start, end) if end > start else None
