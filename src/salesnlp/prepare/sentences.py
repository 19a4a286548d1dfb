"""Sentence splitting for evidence: spaCy's sentencizer rules, without importing spaCy.

spaCy's blank pipeline + ``sentencizer`` starts a sentence at the first
non-punctuation token after a token that is a sentence-final character
(``.``, ``!``, ``?`` and their equivalents in other scripts), where the
tokenizer's per-language special cases keep abbreviations such as ``esim.``,
``bijv.`` or ``т.д.`` whole. This module applies the same rules to
whitespace-separated chunks: special cases and punctuation prefixes and
suffixes as in spaCy's default tokenizer, a period between a lowercase and an
uppercase letter as an infix. The special cases and the sentence-final
characters are read from spaCy once (``data/sentence_rules.json``, rebuilt
by :func:`export_spacy_rules`).

Why not call spaCy: importing it also imports PyTorch through thinc, about
2 s and 200 MB that the int8 serving path otherwise does not need. On the
corpus notes the spans are the same as spaCy's for 99 % and more of the notes
(``tests/test_segment.py`` measures it when spaCy is installed);
:func:`spacy_sentence_spans` gives spaCy's own.

CRM notes are often lists, so line breaks end a sentence too. Spans are
character offsets into the original text, trimmed of surrounding space.
"""

from __future__ import annotations

import json
import re
import threading
import unicodedata
from functools import lru_cache
from importlib import resources
from itertools import pairwise

RULES_FILE = "sentence_rules.json"
#: Languages whose spaCy special cases are used; others get the language-neutral ones.
SPACY_LANGS = ("et", "fi", "uk", "ro", "nl", "en", "de", "ru", "pl", "lv", "lt", "sv")

_LINE_BREAKS = re.compile(r"\n+")
_CHUNKS = re.compile(r"\S+")
_DOTS = re.compile(r"\.\.+|…")
# Characters spaCy's default tokenizer splits off the start / end of a chunk.
_PREFIX_CHARS = frozenset("§%=—–+,:;!?¿¡()[]{}<>_#*&'\"”“`‘´’‚„»«$£€¥₽₴")
_SUFFIX_CHARS = frozenset(",:;!?¿¡()[]{}<>_#*&\"”“`‘´’‚„»«—–")
_QUOTES = frozenset("'\"”“`‘´’‚„»«")
_lock = threading.Lock()


@lru_cache(maxsize=1)
def _rules() -> dict:
    text = resources.files("salesnlp").joinpath("data", RULES_FILE).read_text(encoding="utf-8")
    rules = json.loads(text)
    return {"punct_chars": frozenset(rules["punct_chars"]),
            "special": {lang: frozenset(cases) for lang, cases in rules["special"].items()}}


def sentence_spans(text: str, lang: str = "xx") -> list[tuple[int, int]]:
    """Character spans ``(start, end)`` of the sentences of ``text``, in order."""
    if not text.strip():
        return []
    rules = _rules()
    special = rules["special"].get(lang, rules["special"]["xx"])
    return _with_line_breaks(text, _sentencize(_tokens(text, special), text, rules["punct_chars"]))


def spacy_sentence_spans(text: str, lang: str = "xx") -> list[tuple[int, int]]:
    """The same spans from spaCy's own blank pipeline + sentencizer (imports spaCy)."""
    if not text.strip():
        return []
    with _lock:  # spaCy's Vocab is not safe for concurrent writes
        doc = _spacy_pipeline(lang)(text)
        raw = [(s.start_char, s.end_char) for s in doc.sents]
    return _with_line_breaks(text, raw)


# -- the rules --------------------------------------------------------------------------

def _tokens(text: str, special: frozenset[str]) -> list[tuple[int, int]]:
    """Token spans of ``text`` as spaCy's tokenizer cuts them, as far as sentences care."""
    tokens: list[tuple[int, int]] = []
    cursor = 0
    for chunk in _CHUNKS.finditer(text):
        _space_token(text, cursor, chunk.start(), tokens)
        tokens.extend(_split_chunk(text, chunk.start(), chunk.end(), special))
        cursor = chunk.end()
    _space_token(text, cursor, len(text), tokens)
    return tokens


def _space_token(text: str, start: int, end: int, tokens: list[tuple[int, int]]) -> None:
    """spaCy keeps whitespace other than one plain space after a token as a token of its
    own (a line break, say), and such a token can start a sentence."""
    if start and text[start:end] != " " and start < end:
        tokens.append((start + (text[start] == " "), end))
    elif not start and start < end:
        tokens.append((start, end))


def _split_chunk(text: str, start: int, end: int, special: frozenset[str]
                 ) -> list[tuple[int, int]]:
    prefixes: list[tuple[int, int]] = []
    suffixes: list[tuple[int, int]] = []
    while start < end and text[start:end] not in special:
        dots = _DOTS.match(text, start, end)
        if dots:
            prefixes.append((start, dots.end()))
            start = dots.end()
        elif text[start] in _PREFIX_CHARS:
            prefixes.append((start, start + 1))
            start += 1
        else:
            break
    while start < end and text[start:end] not in special:
        cut = _suffix_start(text, start, end)
        if cut is None:
            break
        suffixes.append((cut, end))
        end = cut
    middle = [] if start >= end else (
        [(start, end)] if text[start:end] in special else _split_infixes(text, start, end))
    return prefixes + middle + suffixes[::-1]


def _suffix_start(text: str, start: int, end: int) -> int | None:
    """Where the chunk's last suffix token starts, or None if it has none."""
    last = text[end - 1]
    if last == "." and end - start >= 2 and text[end - 2] == ".":
        cut = end - 2
        while cut > start and text[cut - 1] == ".":
            cut -= 1
        return cut
    if last in _SUFFIX_CHARS or last == "…":
        return end - 1
    if last == "." and end - start >= 2:
        before = text[end - 2]
        if (before.isdigit() or before.islower() or before in _QUOTES or _is_punct(before)
                or unicodedata.category(before) == "So"):
            return end - 1
        if end - start >= 3 and before.isupper() and text[end - 3].isupper():
            return end - 1
    return None


_INFIX = re.compile(r"(?<=[^\W\d_])(?:\.(?=[^\W\d_])|[?!](?=[^\W\d_]))")


def _split_infixes(text: str, start: int, end: int) -> list[tuple[int, int]]:
    pieces, cursor = [], start
    for match in _INFIX.finditer(text, start, end):
        if match.group() == "." and not (text[match.start() - 1].islower()
                                         and text[match.end()].isupper()):
            continue
        if match.start() > cursor:
            pieces.append((cursor, match.start()))
        pieces.append((match.start(), match.end()))
        cursor = match.end()
    if cursor < end:
        pieces.append((cursor, end))
    return pieces


def _sentencize(tokens: list[tuple[int, int]], text: str, punct_chars: frozenset[str]
                ) -> list[tuple[int, int]]:
    """spaCy's ``Sentencizer.predict``: a sentence starts at the first non-punctuation
    token after a token that is a sentence-final character."""
    if not tokens:
        return []
    starts = [0]
    seen_final = False
    for i, (a, b) in enumerate(tokens):
        token = text[a:b]
        is_final = token in punct_chars
        if seen_final and not is_final and not all(map(_is_punct, token)):
            starts.append(i)
            seen_final = False
        elif is_final:
            seen_final = True
    bounds = [*starts, len(tokens)]
    return [(tokens[s][0], tokens[e - 1][1]) for s, e in pairwise(bounds)]


def _is_punct(char: str) -> bool:
    return unicodedata.category(char).startswith("P")


def _with_line_breaks(text: str, raw: list[tuple[int, int]]) -> list[tuple[int, int]]:
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


# -- spaCy ------------------------------------------------------------------------------

@lru_cache(maxsize=16)
def _spacy_pipeline(lang: str):
    import spacy

    try:
        nlp = spacy.blank(lang if lang in SPACY_LANGS else "xx")
    except (ImportError, OSError, KeyError):
        nlp = spacy.blank("xx")
    nlp.add_pipe("sentencizer")
    return nlp


def export_spacy_rules() -> dict:
    """The special cases and sentence-final characters of the installed spaCy, as stored
    in ``data/sentence_rules.json``. Only special cases that hold a sentence-final
    character or start with a split-off prefix (Dutch ``'t``) change sentences, so only
    those are kept."""
    import spacy
    from spacy.pipeline.sentencizer import Sentencizer

    punct_chars = list(Sentencizer.default_punct_chars)
    special = {}
    for lang in (*SPACY_LANGS, "xx"):
        rules = spacy.blank(lang).tokenizer.rules or {}
        special[lang] = sorted(k for k in rules if k[:1] in _PREFIX_CHARS
                               or any(c in k for c in punct_chars))
    return {"spacy_version": spacy.__version__, "punct_chars": punct_chars, "special": special}
