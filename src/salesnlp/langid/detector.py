"""Language identification for sellers' CRM notes.

A compact, self-contained detector: a multinomial naive Bayes model over character 1-4-grams
(with word-boundary markers) and whole words, trained on human-written text in ~60 languages
(see ``benchmarks/langid/``), plus script rules (Greek, Arabic, CJK ... are never one of the
five supported languages) and an open-set threshold. Pure Python + numpy, deterministic,
thread-safe; the model (``data/langid.safetensors`` + ``data/langid.json``) is loaded once, lazily.

>>> from salesnlp.langid.detector import detect_language
>>> g = detect_language("Helistan homme tagasi")
>>> g.language, g.supported                     # doctest: +SKIP
('et', True)
"""

from __future__ import annotations

import json
import math
import re
import threading
import unicodedata
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

import numpy as np

from salesnlp.labels import SUPPORTED_LANGUAGES

__all__ = [
    "SUPPORTED_LANGUAGES",
    "LanguageGuess",
    "LanguageSpan",
    "detect_language",
    "detect_languages",
]

UNDETERMINED = "und"

#: Longest stretch of text that is looked at; longer texts are sampled (start, middle, end).
MAX_CHARS = 1000
#: Upper bound on the input size that is even scanned for sentences by ``detect_languages``.
MAX_SPAN_CHARS = 200_000


@dataclass(frozen=True)
class LanguageGuess:
    """The language of a text.

    Attributes:
        language: ISO 639-1 code (``"et"``, ``"ru"`` ...), or ``"und"`` when it cannot tell.
        confidence: Probability-like score in ``[0, 1]`` of ``language``; 0.0 for ``"und"``
            texts without any letters.
        supported: True when ``language`` is one of :data:`SUPPORTED_LANGUAGES`.
    """

    language: str
    confidence: float
    supported: bool

    def to_dict(self) -> dict[str, Any]:
        """Return the guess as a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class LanguageSpan:
    """One sentence of a text with its language.

    Attributes:
        start: Offset of the sentence's first character in the original text.
        end: Offset one past its last character (``text[start:end] == span.text``).
        text: The sentence as it appears in the original text.
        language: ISO 639-1 code or ``"und"``.
        confidence: Score in ``[0, 1]`` of ``language``.
    """

    start: int
    end: int
    text: str
    language: str
    confidence: float

    @property
    def supported(self) -> bool:
        """True when the span's language is one of :data:`SUPPORTED_LANGUAGES`."""
        return self.language in SUPPORTED_LANGUAGES

    def to_dict(self) -> dict[str, Any]:
        """Return the span as a JSON-ready dict."""
        return asdict(self)


# --------------------------------------------------------------------------------------------
# Text normalisation and features (shared with the training script: keep them identical).
# --------------------------------------------------------------------------------------------

_NOISE = re.compile(
    r"<[^<>]{0,500}>"  # HTML / XML tags
    r"|&[a-zA-Z]{2,8};|&#x?[0-9a-fA-F]{1,6};"  # entities
    r"|(?:https?|ftp)://\S*|www\.\S+"  # URLs
    r"|\S+@\S+\.\S+"  # e-mail addresses
    r"|@\w+|#\w+"  # mentions, hashtags
)
# A word: letters (and combining marks), with inner apostrophes / hyphens kept.
_WORD = re.compile(r"[^\W\d_]+(?:['\u2019\u02bc\-][^\W\d_]+)*")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"})
# Romanian s/t with cedilla (legacy) -> comma below; Turkish text is mapped the same way.
_CEDILLA = str.maketrans({"ş": "ș", "ţ": "ț", "Ş": "ș", "Ţ": "ț"})

#: English sales jargon that sellers mix into notes in any language; ignored when the note
#: has other words.
JARGON: frozenset[str] = frozenset(
    """
    follow-up followup follow up deal deals rfp rfq rfi poc pov demo demos meeting call calls
    lead leads pipeline forecast quote quotes pricing price budget kpi kpis crm roi sla nda
    feedback update updates email e-mail mail zoom teams slack ok okay asap eod eow fyi q1 q2 q3
    q4 b2b b2c saas upsell cross-sell churn onboarding kickoff kick-off stakeholder stakeholders
    decision-maker procurement discount contract renewal account manager sales ceo cfo cto coo
    vp head tender proposal offer invoice linkedin webinar checkpoint check-in checkin sync
    win lost closed won pitch target targets budgeting
    """.split()
)


_TOKEN = re.compile(r"[^\W\d_]{2,}[+#]*")
# The same tokens as a capturing split: pieces[1::2] are the tokens, the rest what lies between.
_TOKEN_SPLIT = re.compile(f"({_TOKEN.pattern})")


def _drop_acronyms(text: str) -> str:
    """Remove all-capital tokens (RFP, KPI, MIME) unless the text is mostly capitals."""
    if text.islower():
        return text  # no upper-case letter at all: nothing to drop
    pieces = _TOKEN_SPLIT.split(text)
    tokens = pieces[1::2]
    caps = list(filter(str.isupper, tokens))
    if not caps or len(caps) * 2 > len(tokens):
        return text
    caps_set = set(caps)
    pieces[1::2] = [" " if t in caps_set else t for t in tokens]
    return "".join(pieces)


# Every match of _NOISE contains one of these (a cheap ``in`` test spares the regex scan).
_NOISE_MARKS = ("<", "&", "@", "#", "://", "www.")
# _APOSTROPHES then _CEDILLA as (old, new) pairs: ``str.replace`` of the few characters that
# occur is several times faster than ``str.translate`` with a dict, with the same result
# (no replacement produces a character that another one replaces).
_REPLACE = tuple((chr(k), v) for table in (_APOSTROPHES, _CEDILLA) for k, v in table.items())
_REPLACE_ASCII = tuple((a, b) for a, b in _REPLACE if a.isascii())


def normalise(text: str) -> str:
    """Lower-case, NFC, unify apostrophes and Romanian cedillas, drop URLs/markup/acronyms."""
    for mark in _NOISE_MARKS:
        if mark in text:
            text = _NOISE.sub(" ", text)
            break
    text = unicodedata.normalize("NFC", _drop_acronyms(text)).lower()
    for a, b in _REPLACE_ASCII if text.isascii() else _REPLACE:
        if a in text:
            text = text.replace(a, b)
    return text


def words(text: str) -> list[str]:
    """Return the words of an already :func:`normalise`-d text."""
    found = _WORD.findall(text)
    if len(found) > 1 and not JARGON.isdisjoint(found):
        kept = [w for w in found if w not in JARGON]
        if kept:
            found = kept
    return found


def features(word_list: list[str]) -> list[str]:
    """Character 1-4-grams of `` word `` (space = word boundary) plus ``"\\x01word"``."""
    out: list[str] = []
    ext = out.extend
    for w in word_list:
        p = f" {w} "
        n = len(p)
        ext(w)  # unigrams (letters only)
        ext([p[i : i + 2] for i in range(n - 1)])
        ext([p[i : i + 3] for i in range(n - 2)])
        ext([p[i : i + 4] for i in range(n - 3)])
        out.append("\x01" + w)
    return out


def sample(text: str, limit: int = MAX_CHARS) -> str:
    """Return at most ``limit`` characters: the text itself, or its start, middle and end."""
    if len(text) <= limit:
        return text
    third = limit // 3
    mid = len(text) // 2 - third // 2
    return " ".join((text[:third], text[mid : mid + third], text[-third:]))


# --------------------------------------------------------------------------------------------
# Scripts: texts written mostly in a script none of the five use are decided without the model.
# --------------------------------------------------------------------------------------------

# (first code point, last code point, language code or "und")
_SCRIPTS: tuple[tuple[int, int, str], ...] = (
    (0x0370, 0x03FF, "el"),
    (0x1F00, 0x1FFF, "el"),
    (0x0530, 0x058F, "hy"),
    (0x0590, 0x05FF, "he"),
    (0x0600, 0x06FF, "ar"),
    (0x0750, 0x077F, "ar"),
    (0x0900, 0x097F, "hi"),
    (0x0980, 0x09FF, "bn"),
    (0x0A00, 0x0A7F, "pa"),
    (0x0A80, 0x0AFF, "gu"),
    (0x0B00, 0x0B7F, "or"),
    (0x0B80, 0x0BFF, "ta"),
    (0x0C00, 0x0C7F, "te"),
    (0x0C80, 0x0CFF, "kn"),
    (0x0D00, 0x0D7F, "ml"),
    (0x0D80, 0x0DFF, "si"),
    (0x0E00, 0x0E7F, "th"),
    (0x0E80, 0x0EFF, "lo"),
    (0x0F00, 0x0FFF, "bo"),
    (0x1000, 0x109F, "my"),
    (0x10A0, 0x10FF, "ka"),
    (0x1100, 0x11FF, "ko"),
    (0x1200, 0x139F, "am"),
    (0x1780, 0x17FF, "km"),
    (0x3040, 0x30FF, "ja"),
    (0x3100, 0x312F, "zh"),
    (0x3130, 0x318F, "ko"),
    (0x3400, 0x4DBF, "zh"),
    (0x4E00, 0x9FFF, "zh"),
    (0xAC00, 0xD7AF, "ko"),
)


def _script_of(ch: str) -> str | None:
    cp = ord(ch)
    if cp < 0x0370 or 0x0400 <= cp <= 0x052F:
        return None  # Latin / Cyrillic: the model decides
    for lo, hi, lang in _SCRIPTS:
        if lo <= cp <= hi:
            return lang
    return None


_NON_LATIN_CYRILLIC = re.compile("[\u0370-\u03ff\u0530-\U0010ffff]")


def _foreign_script(letters: str) -> tuple[str, float] | None:
    """Return (language, share) when most letters are of a script the model does not cover."""
    counts: dict[str, int] = {}
    for ch in letters:
        lang = _script_of(ch)
        if lang is not None:
            counts[lang] = counts.get(lang, 0) + 1
    if not counts:
        return None
    foreign = sum(counts.values())
    if foreign * 2 < len(letters):
        return None
    lang = max(counts, key=lambda k: counts[k])
    if lang == "zh" and "ja" in counts:
        lang = "ja"  # kana + kanji
    return lang, counts[lang] / len(letters)


# --------------------------------------------------------------------------------------------
# The model.
# --------------------------------------------------------------------------------------------


class _Model:
    """Naive Bayes weights (uint8-quantised) + vocabulary + calibration settings."""

    def __init__(self, meta: dict[str, Any] | None = None, tensors: dict | None = None) -> None:
        if meta is None or tensors is None:
            from safetensors.numpy import load_file

            data = resources.files("salesnlp") / "data"
            with resources.as_file(data / "langid.safetensors") as path:
                tensors = load_file(str(path))
            meta = json.loads((data / "langid.json").read_text(encoding="utf-8"))
        self.languages: list[str] = list(meta["languages"])
        self.index: dict[str, int] = {f: i for i, f in enumerate(meta["vocab"])}
        self.step = float(meta["step"])
        self.temperature = float(meta["temperature"])
        self.min_confidence = float(meta["min_confidence"])
        self.weights: np.ndarray = tensors["weights"]  # (vocab, languages) uint8
        self.bias: np.ndarray = tensors["bias"].astype(np.float64)  # (languages,)
        self.supported_mask = np.array([lang in SUPPORTED_LANGUAGES for lang in self.languages])
        # Cyrillic marker letters: a Cyrillic text of n letters without any of a language's
        # markers (Ukrainian і ї є ґ, Russian ы э ъ ё ...) gets n * log(1 - f) for that language.
        self.absence = [
            (self.languages.index(lang), frozenset(chars), float(log1m))
            for lang, (chars, log1m) in sorted(meta.get("absence", {}).items())
            if lang in self.languages
        ]
        self.meta = meta
        # Per word: its feature ids, for ids() / posterior() (the training script uses them).
        self.cache: dict[str, list[int]] = {}
        # Per word, for detection: its feature rows summed, then its number of known features,
        # as int32 bytes (see word_sums).
        self.sums: dict[str, bytes] = {}
        self._width = len(self.languages) + 1
        self._no_feature = bytes(4 * self._width)

    def word_ids(self, word: str) -> list[int]:
        """Vocabulary indices of one word's features (cached per word)."""
        ids = self.cache.get(word)
        if ids is None:
            get = self.index.get
            ids = [i for i in map(get, features([word])) if i is not None]
            if len(self.cache) >= _CACHE_SIZE:
                self.cache.clear()  # bounded memory; results do not depend on the cache
            self.cache[word] = ids
        return ids

    def ids(self, word_list: list[str]) -> list[int]:
        """Vocabulary indices of the features of all words."""
        out: list[int] = []
        cache = self.cache
        for w in word_list:
            ids = cache.get(w)
            out.extend(self.word_ids(w) if ids is None else ids)
        return out

    def word_sums(self, word_list: list[str]) -> list[bytes]:
        """Per word: its weight rows summed and its number of known features (int32 bytes).

        Cached per word (bounded); the words that are not cached yet are computed together
        with one gather and one ``np.add.reduceat``. A text's evidence is the sum of its
        words' vectors: exactly the integer sum over all its feature rows.
        """
        cache = self.sums
        found = list(map(cache.get, word_list))
        if None not in found:
            return found
        new: dict[str, bytes] = {}
        with_ids: list[str] = []
        flat: list[int] = []
        starts: list[int] = []
        counts: list[int] = []
        index = self.index.get
        for w in dict.fromkeys(w for w, f in zip(word_list, found, strict=True) if f is None):
            ids = [i for i in map(index, features([w])) if i is not None]
            if ids:
                with_ids.append(w)
                starts.append(len(flat))
                counts.append(len(ids))
                flat.extend(ids)
            else:
                new[w] = self._no_feature
        if with_ids:
            rows = np.take(self.weights, np.array(flat, dtype=np.intp), axis=0)
            vecs = np.empty((len(with_ids), self._width), dtype=np.int32)
            np.add.reduceat(
                rows, np.array(starts, dtype=np.intp), axis=0, dtype=np.int32, out=vecs[:, :-1]
            )
            vecs[:, -1] = counts
            buf = vecs.tobytes()
            size = 4 * self._width
            for k, w in enumerate(with_ids):
                new[w] = buf[k * size : (k + 1) * size]
        if len(cache) + len(new) > _CACHE_SIZE:
            cache.clear()  # bounded memory; results do not depend on the cache
        cache.update(new)
        return [new[w] if f is None else f for w, f in zip(word_list, found, strict=True)]

    def posterior_words(self, word_list: list[str], letters: str) -> np.ndarray | None:
        """:meth:`posterior` of the features of ``word_list``, from the per-word sums."""
        parts = self.word_sums(word_list)
        if not parts:
            return None
        if len(parts) == 1:
            total = np.frombuffer(parts[0], dtype=np.int32)
        else:
            total = np.frombuffer(b"".join(parts), dtype=np.int32)
            total = total.reshape(len(parts), self._width).sum(axis=0, dtype=np.int32)
        n = int(total[-1])
        if not n:
            return None
        return self._calibrated(total[:-1], n, letters)

    def posterior(self, idx: list[int], letters: str = "") -> np.ndarray | None:
        """Return the posterior over :attr:`languages`, or None when no feature is known.

        Args:
            idx: Vocabulary indices of the text's features.
            letters: The text's letters (for the Cyrillic marker-letter evidence).
        """
        if not idx:
            return None
        rows = np.take(self.weights, np.array(idx, dtype=np.intp), axis=0)
        return self._calibrated(rows.sum(axis=0, dtype=np.int32), len(idx), letters)

    def _calibrated(self, sums: np.ndarray, n: int, letters: str) -> np.ndarray:
        """Posterior from the summed weights (int32) of ``n`` features."""
        scores = sums * self.step + self.bias
        if self.absence and _CYRILLIC.search(letters):
            # Cyrillic letters (U+0400-U+04FF) are the UTF-8 sequences led by 0xD0-0xD3.
            data = letters.encode("utf-8", "surrogatepass")
            n_cyrillic = sum(map(data.count, _CYRILLIC_LEADS))
            for j, chars, log1m in self.absence:
                if not any(c in letters for c in chars):
                    scores[j] += n_cyrillic * log1m
        # Temperature grows with the amount of evidence so that confidences stay calibrated.
        z = (scores - scores.max()) / (self.temperature * math.sqrt(n))
        p = np.exp(z)
        return p / p.sum()


_CACHE_SIZE = 100_000
_CYRILLIC = re.compile("[\u0400-\u04ff]")
_LATIN = re.compile("[a-zà-ɏ]")
#: A text whose minority script holds at least this share of its letters is judged by its
#: majority script's words alone.
MIXED_SCRIPT_SHARE = 0.1


def _majority_script_words(word_list: list[str]) -> list[str] | None:
    """The words of the script (Latin or Cyrillic) that holds most letters, if the other
    holds at least :data:`MIXED_SCRIPT_SHARE` of them; else None."""
    cyrillic = [w for w in word_list if _CYRILLIC.search(w)]
    latin = [w for w in word_list if not _CYRILLIC.search(w)]
    n_cyrillic = sum(map(len, cyrillic))
    n_latin = sum(map(len, latin))
    if min(n_cyrillic, n_latin) < MIXED_SCRIPT_SHARE * (n_cyrillic + n_latin):
        return None
    return cyrillic if n_cyrillic > n_latin else latin
_CYRILLIC_LEADS = (b"\xd0", b"\xd1", b"\xd2", b"\xd3")
_MODEL: _Model | None = None
_LOCK = threading.Lock()


def _model() -> _Model:
    global _MODEL
    if _MODEL is None:
        with _LOCK:
            if _MODEL is None:
                _MODEL = _Model()
    return _MODEL


def _check(text: object) -> str:
    if isinstance(text, str):
        return text
    if isinstance(text, (bytes, bytearray, memoryview)):
        raise TypeError(
            f"text must be str, got {type(text).__name__}; decode bytes first, "
            "e.g. data.decode('utf-8')"
        )
    raise TypeError(f"text must be str, got {type(text).__name__}")


_UND = LanguageGuess(UNDETERMINED, 0.0, False)


def _guess(text: str) -> LanguageGuess:
    return _guess_words(words(normalise(sample(text))))


def _guess_words(word_list: list[str]) -> LanguageGuess:
    """:func:`_guess` of a text whose (sampled, normalised) words are ``word_list``.

    A text in Latin letters with phrases in Cyrillic (Estonian with Russian quotes) or
    the reverse is judged by the script most of its letters are in: scored together,
    the two halves pointed at a language written in both scripts (Serbian).
    """
    letters = "".join(word_list)
    if len(letters) < 2:
        return _UND
    if _CYRILLIC.search(letters) and _LATIN.search(letters):
        majority = _majority_script_words(word_list)
        if majority is not None:
            word_list, letters = majority, "".join(majority)
    foreign = (
        _foreign_script(letters)
        if not letters.isascii() and _NON_LATIN_CYRILLIC.search(letters)
        else None
    )
    if foreign is not None:
        lang, share = foreign
        return LanguageGuess(lang, round(min(share, 0.99), 4), False)
    model = _model()
    p = model.posterior_words(word_list, letters)
    if p is None:
        return _UND
    best = int(p.argmax())
    conf = float(p[best])
    lang = model.languages[best]
    if conf < model.min_confidence:
        return LanguageGuess(UNDETERMINED, round(conf, 4), False)
    return LanguageGuess(lang, round(conf, 4), lang in SUPPORTED_LANGUAGES)


def detect_language(text: str) -> LanguageGuess:
    """Detect the language of a note.

    Args:
        text: The note. Texts longer than 1,000 characters are sampled (start, middle, end).
            URLs, e-mail addresses, HTML tags, digits and common English sales jargon
            ("follow-up", "deal", "RFP" ...) are ignored.

    Returns:
        A :class:`LanguageGuess`. ``language`` is ``"und"`` when the text has no letters
        (empty, digits, emoji, a bare URL) or the detector is not confident enough; a
        language outside the five gets its own code with ``supported=False``.

    Raises:
        TypeError: If ``text`` is not a ``str`` (``bytes`` must be decoded first).
    """
    return _guess(_check(text))


_SENTENCE_END = re.compile(r"(?<=[.!?…;])\s+|\n+\s*")


def _sentences(text: str) -> list[tuple[int, int]]:
    """Return (start, end) of sentences, whitespace trimmed, in order."""
    spans: list[tuple[int, int]] = []
    pos = 0
    for m in _SENTENCE_END.finditer(text):
        spans.append((pos, m.start()))
        pos = m.end()
    spans.append((pos, len(text)))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if e > s:
            out.append((s, e))
    return out


def detect_languages(text: str) -> list[LanguageSpan]:
    """Split a note into sentences and detect the language of each.

    Sentences are split at ``. ! ? … ;`` followed by white space and at line breaks. A short
    sentence the detector is unsure of (fewer than 4 words, confidence < 0.6) takes the
    language of its neighbour when that language is plausible for it, so a note that switches
    language gets one span per sentence with a stable label.

    Args:
        text: The note. Only the first 200,000 characters are split.

    Returns:
        One :class:`LanguageSpan` per sentence, in order; ``text[s.start:s.end] == s.text``.
        An empty or blank text gives an empty list.

    Raises:
        TypeError: If ``text`` is not a ``str`` (``bytes`` must be decoded first).
    """
    text = _check(text)
    bounds = _sentences(text[:MAX_SPAN_CHARS])
    # Each sentence is normalised once: its words serve the guess and the smoothing below.
    word_lists = [words(normalise(sample(text[s:e]))) for s, e in bounds]
    guesses = [_guess_words(wl) for wl in word_lists]
    # Smooth short, unsure sentences towards a confident neighbour.
    for i, (g, (s, e)) in enumerate(zip(guesses, bounds, strict=False)):
        if g.confidence >= 0.6:
            continue
        # (A sentence longer than MAX_CHARS was sampled: count the words of all of it.)
        n_words = len(word_lists[i]) if e - s <= MAX_CHARS else len(words(normalise(text[s:e])))
        if n_words >= 4:
            continue
        neighbours = [guesses[j] for j in (i - 1, i + 1) if 0 <= j < len(guesses)]
        neighbours = [n for n in neighbours if n.confidence >= 0.6 and n.language != g.language]
        if not neighbours:
            continue
        best = max(neighbours, key=lambda n: n.confidence)
        p = _posterior_of(word_lists[i], best.language)
        if p is not None and p >= 0.05:
            guesses[i] = LanguageGuess(best.language, round(p, 4), best.supported)
    return [
        LanguageSpan(s, e, text[s:e], g.language, g.confidence)
        for (s, e), g in zip(bounds, guesses, strict=False)
    ]


def _posterior_of(word_list: list[str], language: str) -> float | None:
    """Posterior of ``language`` for a text whose (sampled, normalised) words are given."""
    model = _model()
    if language not in model.languages:
        return None
    if not word_list:
        return None
    p = model.posterior_words(word_list, "".join(word_list))
    if p is None:
        return None
    return float(p[model.languages.index(language)])
