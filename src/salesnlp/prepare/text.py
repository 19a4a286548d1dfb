"""Input checks and light clean-up that keeps a map back to the original text.

HTML (a pasted e-mail) is reduced to its text; entities are decoded. Every
character of the cleaned text remembers its index in the original, so
evidence spans always point into what the user passed in. Lone surrogates
(``"\\ud800"``, which JSON escapes and ``surrogateescape`` decoding can produce)
become U+FFFD, one character for one, so they never reach the tokenizer.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass

MAX_CHARS = 200_000
_SURROGATES = re.compile("[\ud800-\udfff]")
_TAG = re.compile(r"<(script|style)\b.*?</\1\s*>|<!--.*?-->|</?[A-Za-z][^<>]*>", re.S | re.I)
_BLOCK_TAG = re.compile(r"</?(p|div|br|li|tr|h[1-6]|ul|ol|table)\b", re.I)
_ENTITY = re.compile(r"&(#\d+|#x[0-9a-fA-F]+|[A-Za-z]+);")
_LOOKS_LIKE_HTML = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(\s[^<>]*)?/?>")
# Elements where mail clients start the quoted history: <blockquote>, Gmail's gmail_quote
# div, Outlook's reply header (a top border, divRplyFwdMsg) and <hr>.
_QUOTE_TAG = re.compile(
    r"<(blockquote\b|hr\b|div\b[^>]*(gmail_quote|divRplyFwdMsg|border-top\s*:\s*solid)"
    r"|p\b[^>]*border-top\s*:\s*solid)", re.I)


@dataclass(frozen=True)
class CleanText:
    """Cleaned text plus, for each of its characters, the index in the original."""

    text: str
    index: tuple[int, ...] | None  # None: identical to the original
    truncated: bool = False
    quote_starts: tuple[int, ...] = ()  # offsets where HTML marks the start of quoted history

    def span_in_original(self, start: int, end: int) -> tuple[int, int]:
        if self.index is None or start >= end:
            return start, end
        return self.index[start], self.index[end - 1] + 1


def markup_spans(text: str) -> list[tuple[int, int]]:
    """``(start, end)`` of the HTML tags, comments, scripts and styles in ``text`` (none
    unless it looks like HTML): the parts :func:`clean` drops."""
    if not _LOOKS_LIKE_HTML.search(text):
        return []
    return [m.span() for m in _TAG.finditer(text)]


def check_text(text: object, position: int | None = None) -> str:
    """Return ``text`` if it is a ``str``; otherwise raise a ``TypeError`` that says why
    (and, for a note of a list, at which ``position``)."""
    if isinstance(text, str):
        return text
    where = "a note" if position is None else f"the note at position {position}"
    if isinstance(text, (bytes, bytearray)):
        raise TypeError(f"{where} must be str, not bytes: decode it first, e.g. "
                        "data.decode('utf-8', errors='replace')")
    raise TypeError(f"{where} must be str, not {type(text).__name__}"
                    + ("; use '' for an empty note" if text is None else ""))


def has_letters(text: str) -> bool:
    """True if ``text`` holds at least one letter (of any script). A note without one
    ("-", "?", "0", "—", an emoji) carries no behaviour (annotation guide)."""
    return any(ch.isalpha() for ch in text)


def clean(text: str, max_chars: int = MAX_CHARS) -> CleanText:
    """Strip HTML markup and NUL-like junk; cut past ``max_chars`` (flagged ``truncated``)."""
    truncated = len(text) > max_chars
    if truncated:
        text = text[:max_chars]
    if _SURROGATES.search(text):
        text = _SURROGATES.sub("\ufffd", text)  # same length: offsets are unchanged
    if "<" not in text and "&" not in text and "\x00" not in text:
        return CleanText(text, None, truncated)
    if not _LOOKS_LIKE_HTML.search(text) and not _ENTITY.search(text) and "\x00" not in text:
        return CleanText(text, None, truncated)
    out: list[str] = []
    index: list[int] = []
    quote_starts: list[int] = []
    pos = 0
    is_html = bool(_LOOKS_LIKE_HTML.search(text))
    for match in (_TAG.finditer(text) if is_html else ()):
        _copy_with_entities(text, pos, match.start(), out, index)
        tag = match.group(0)
        if _BLOCK_TAG.match(tag) or _QUOTE_TAG.match(tag):
            if _QUOTE_TAG.match(tag):
                quote_starts.append(len(out))
            out.append("\n")
            index.append(match.start())
        pos = match.end()
    _copy_with_entities(text, pos, len(text), out, index)
    return CleanText("".join(out), tuple(index), truncated, tuple(quote_starts))


def _copy_with_entities(text: str, start: int, end: int, out: list[str], index: list[int]) -> None:
    pos = start
    for match in _ENTITY.finditer(text, start, end):
        _copy_plain(text, pos, match.start(), out, index)
        decoded = html.unescape(match.group(0))
        out.append(decoded)
        index.extend([match.start()] * len(decoded))
        pos = match.end()
    _copy_plain(text, pos, end, out, index)


def _copy_plain(text: str, start: int, end: int, out: list[str], index: list[int]) -> None:
    for i in range(start, end):
        if text[i] != "\x00":
            out.append(text[i])
            index.append(i)
