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

import threading
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from salesnlp.labels import SUPPORTED_LANGUAGES
from salesnlp.langid.features import (  # noqa: F401 - re-exported for the training script
    _APOSTROPHES,
    _CEDILLA,
    _NOISE,
    _TOKEN,
    CYRILLIC,
    LATIN,
    MAX_CHARS,
    NON_LATIN_CYRILLIC,
    features,
    foreign_script,
    majority_script_words,
    normalise,
    sample,
    words,
)
from salesnlp.langid.model import NaiveBayesModel
from salesnlp.prepare.text import check_text

_Model = NaiveBayesModel  # the name the detector's training script uses

__all__ = [
    "SUPPORTED_LANGUAGES",
    "LanguageDetector",
    "LanguageGuess",
    "LanguageSpan",
    "detect_language",
    "detect_languages",
]

UNDETERMINED = "und"

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


_MODEL: NaiveBayesModel | None = None
_LOCK = threading.Lock()
_UND = LanguageGuess(UNDETERMINED, 0.0, False)


def _model() -> NaiveBayesModel:
    global _MODEL
    if _MODEL is None:
        with _LOCK:
            if _MODEL is None:
                _MODEL = NaiveBayesModel()
    return _MODEL


class LanguageDetector:
    """A language detector over a set of candidate languages (as lingua's
    ``LanguageDetectorBuilder.from_languages(...).build()``).

    Use :meth:`from_all_languages` (every language the model knows, ~40: a note in
    Russian or English is reported as such, ``supported=False``) or
    :meth:`from_languages` (only these; the text gets the likeliest of them, or ``"und"``).
    Thread-safe; the model is loaded once per process and shared.

    >>> detector = LanguageDetector.from_languages("et", "fi")
    >>> detector.detect("Helistan homme tagasi").language
    'et'
    """

    def __init__(self, languages: Iterable[str] | None = None) -> None:
        self._languages = tuple(dict.fromkeys(languages)) if languages is not None else None
        self._mask: np.ndarray | None = None

    @classmethod
    def from_all_languages(cls) -> LanguageDetector:
        return cls(None)

    @classmethod
    def from_languages(cls, *languages: str) -> LanguageDetector:
        """A detector that chooses among ``languages`` (ISO 639-1 codes) only.

        Raises:
            ValueError: a code the model does not know (see :attr:`known_languages`).
        """
        if not languages:
            raise ValueError("give at least one language, e.g. from_languages('et', 'fi')")
        unknown = sorted(set(languages) - set(cls.known_languages()))
        if unknown:
            raise ValueError(f"unknown language code(s) {unknown}; known: "
                             f"{sorted(cls.known_languages())}")
        return cls(languages)

    @staticmethod
    def known_languages() -> tuple[str, ...]:
        """Every language code the model can tell apart."""
        return tuple(_model().languages)

    @property
    def languages(self) -> tuple[str, ...]:
        return self._languages if self._languages is not None else self.known_languages()

    def detect(self, text: str) -> LanguageGuess:
        """The language of ``text`` (see :func:`detect_language`)."""
        return self._guess_words(words(normalise(sample(check_text(text)))))

    def confidence_values(self, text: str) -> list[tuple[str, float]]:
        """Every candidate language with its probability for ``text``, most likely first
        (empty for a text without letters or in a script none of them uses)."""
        word_list = self._script_words(words(normalise(sample(check_text(text)))))
        p = self._posterior(word_list)
        if p is None:
            return []
        model = _model()
        order = np.argsort(-p, kind="stable")
        return [(model.languages[i], round(float(p[i]), 4)) for i in order if p[i] > 0]

    def detect_spans(self, text: str) -> list[LanguageSpan]:
        """Sentence by sentence languages (see :func:`detect_languages`)."""
        return _spans(self, check_text(text))

    # -- internals --------------------------------------------------------------------

    def _candidate_mask(self) -> np.ndarray | None:
        if self._languages is None:
            return None
        if self._mask is None:
            self._mask = np.array([lang in self._languages for lang in _model().languages])
        return self._mask

    @staticmethod
    def _script_words(word_list: list[str]) -> list[str]:
        """A text in Latin letters with phrases in Cyrillic (Estonian with Russian quotes)
        or the reverse is judged by the script most of its letters are in: scored together,
        the two halves pointed at a language written in both scripts (Serbian)."""
        letters = "".join(word_list)
        if CYRILLIC.search(letters) and LATIN.search(letters):
            return majority_script_words(word_list) or word_list
        return word_list

    def _posterior(self, word_list: list[str]) -> np.ndarray | None:
        model = _model()
        p = model.posterior_words(word_list, "".join(word_list)) if word_list else None
        mask = self._candidate_mask()
        if p is None or mask is None:
            return p
        p = np.where(mask, p, 0.0)
        total = p.sum()
        return p / total if total > 0 else None

    def _guess_words(self, word_list: list[str]) -> LanguageGuess:
        """The guess for a text whose (sampled, normalised) words are ``word_list``."""
        if len("".join(word_list)) < 2:
            return _UND
        word_list = self._script_words(word_list)
        letters = "".join(word_list)
        foreign = (foreign_script(letters)
                   if not letters.isascii() and NON_LATIN_CYRILLIC.search(letters) else None)
        if foreign is not None:
            lang, share = foreign
            if self._languages is not None and lang not in self._languages:
                return _UND
            return LanguageGuess(lang, round(min(share, 0.99), 4), False)
        p = self._posterior(word_list)
        if p is None:
            return _UND
        model = _model()
        best = int(p.argmax())
        confidence, language = float(p[best]), model.languages[best]
        if confidence < model.min_confidence:
            return LanguageGuess(UNDETERMINED, round(confidence, 4), False)
        return LanguageGuess(language, round(confidence, 4), language in SUPPORTED_LANGUAGES)

    def _posterior_of(self, word_list: list[str], language: str) -> float | None:
        model = _model()
        if language not in model.languages:
            return None
        p = self._posterior(word_list)
        return None if p is None else float(p[model.languages.index(language)])


_DEFAULT = LanguageDetector.from_all_languages()


def detect_language(text: str) -> LanguageGuess:
    """Detect the language of a note (a shortcut for
    ``LanguageDetector.from_all_languages().detect(text)``).

    Args:
        text: The note. Texts longer than 1,000 characters are sampled (start, middle, end).
            URLs, e-mail addresses, HTML tags, digits and common English sales jargon
            ("follow-up", "deal", "RFP" ...) are ignored. A text that mixes Latin and
            Cyrillic script is judged by the script most of its letters are in.

    Returns:
        A :class:`LanguageGuess`. ``language`` is ``"und"`` when the text has no letters
        (empty, digits, emoji, a bare URL) or the detector is not confident enough; a
        language outside the five gets its own code with ``supported=False``.

    Raises:
        TypeError: If ``text`` is not a ``str`` (``bytes`` must be decoded first).
    """
    return _DEFAULT.detect(text)


def detect_languages(text: str) -> list[LanguageSpan]:
    """Split a note into sentences and detect the language of each.

    Sentences are those of :func:`salesnlp.prepare.sentences.sentence_spans` (spaCy's
    sentencizer rules; line breaks end a sentence too). A short sentence the detector is
    unsure of (fewer than 4 words, confidence < 0.6) takes the language of its neighbour
    when that language is plausible for it, so a note that switches language gets one
    span per sentence with a stable label.

    Args:
        text: The note. Only the first 200,000 characters are split.

    Returns:
        One :class:`LanguageSpan` per sentence, in order; ``text[s.start:s.end] == s.text``.
        An empty or blank text gives an empty list.

    Raises:
        TypeError: If ``text`` is not a ``str`` (``bytes`` must be decoded first).
    """
    return _DEFAULT.detect_spans(text)


def _spans(detector: LanguageDetector, text: str) -> list[LanguageSpan]:
    from salesnlp.prepare.sentences import sentence_spans

    bounds = sentence_spans(text[:MAX_SPAN_CHARS])
    # Each sentence is normalised once: its words serve the guess and the smoothing below.
    word_lists = [words(normalise(sample(text[s:e]))) for s, e in bounds]
    guesses = [detector._guess_words(wl) for wl in word_lists]
    for i, (guess, (s, e)) in enumerate(zip(guesses, bounds, strict=True)):
        if guess.confidence >= 0.6:
            continue
        # (A sentence longer than MAX_CHARS was sampled: count the words of all of it.)
        n_words = len(word_lists[i]) if e - s <= MAX_CHARS else len(words(normalise(text[s:e])))
        if n_words >= 4:
            continue
        neighbours = [guesses[j] for j in (i - 1, i + 1) if 0 <= j < len(guesses)]
        neighbours = [n for n in neighbours if n.confidence >= 0.6 and n.language != guess.language]
        if not neighbours:
            continue
        best = max(neighbours, key=lambda n: n.confidence)
        p = detector._posterior_of(word_lists[i], best.language)
        if p is not None and p >= 0.05:
            guesses[i] = LanguageGuess(best.language, round(p, 4), best.supported)
    return [LanguageSpan(s, e, text[s:e], g.language, g.confidence)
            for (s, e), g in zip(bounds, guesses, strict=True)]
