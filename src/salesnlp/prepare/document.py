"""A note as the model reads it: the document after preparation, with a map back to the
note as given.

:func:`prepare_document` reduces HTML to text (:func:`~salesnlp.prepare.text.clean`),
cuts e-mails into their parts (:func:`~salesnlp.prepare.email.segment_email`) and keeps
what the model reads: the newest message (``body``) and, as context, the quoted history;
reply headers, signatures and disclaimers are dropped. Only sentences of the body are
scored and given as evidence. Every character of :attr:`Document.text` knows its index
in the original note, so evidence spans point into what the user passed in.
"""

from __future__ import annotations

from dataclasses import dataclass

from salesnlp.prepare.email import BODY, QUOTED, segment_email
from salesnlp.prepare.text import MAX_CHARS, clean

#: Segment kinds the model reads.
READ_KINDS = (BODY, QUOTED)


@dataclass(frozen=True)
class Document:
    """What the model reads of one note.

    Attributes:
        original: the note as given.
        text: the prepared text (body and quoted history, HTML reduced to text).
        index: for each character of ``text``, its index in ``original``.
        body: ``(start, end)`` ranges of ``text`` that belong to the newest message; only
            these are scored sentence by sentence and may be evidence.
        truncated: True if the note was cut at ``max_chars``.
    """

    original: str
    text: str
    index: tuple[int, ...]
    body: tuple[tuple[int, int], ...]
    truncated: bool = False

    def span_in_original(self, start: int, end: int) -> tuple[int, int]:
        """The ``[start, end)`` span of ``text`` as a span of ``original``."""
        if start >= end:
            return start, start
        return self.index[start], self.index[end - 1] + 1

    def to_text_offset(self, original_offset: int) -> int:
        """The first position of ``text`` at or after ``original_offset`` of the original."""
        import bisect

        return bisect.bisect_left(self.index, original_offset)

    @property
    def body_text(self) -> str:
        return "\n".join(self.text[a:b] for a, b in self.body)


def prepare_document(text: str, *, structure: bool = True,
                     max_chars: int = MAX_CHARS) -> Document:
    """Prepare one note for the model.

    Args:
        text: the note (a ``str``; see :func:`salesnlp.prepare.text.check_text`).
        structure: read e-mail structure (drop headers, signatures, disclaimers; score the
            newest message only). False: the whole cleaned text is the body.
        max_chars: cut the note here (flagged ``truncated``).
    """
    cleaned = clean(text, max_chars)
    index = cleaned.index if cleaned.index is not None else range(len(cleaned.text))
    if not structure:
        return Document(text, cleaned.text, tuple(index), ((0, len(cleaned.text)),),
                        cleaned.truncated)
    parts, positions, body = [], [], []
    length = 0
    for segment in segment_email(cleaned.text, cleaned.quote_starts):
        if segment.kind not in READ_KINDS:
            continue
        piece = cleaned.text[segment.start:segment.end]
        if parts and not parts[-1].endswith("\n"):
            parts.append("\n")  # keep the kept parts on their own lines
            positions.append(index[segment.start])
            length += 1
        if segment.kind == BODY:
            body.append((length, length + len(piece)))
        parts.append(piece)
        positions.extend(index[segment.start:segment.end])
        length += len(piece)
    if not body or not any(cleaned.text[a:b].strip() for a, b in body):
        # nothing left that reads as a message (a lone signature or notice): read it all
        return Document(text, cleaned.text, tuple(index), ((0, len(cleaned.text)),),
                        cleaned.truncated)
    return Document(text, "".join(parts), tuple(positions), tuple(_merge(body)),
                    cleaned.truncated)


def _merge(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for a, b in ranges:
        if merged and a <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], b)
        else:
            merged.append((a, b))
    return merged
