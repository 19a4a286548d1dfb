"""Language identification: :class:`LanguageDetector` and its shortcuts
:func:`detect_language` and :func:`detect_languages`."""

from salesnlp.langid.detector import (
    SUPPORTED_LANGUAGES,
    LanguageDetector,
    LanguageGuess,
    LanguageSpan,
    detect_language,
    detect_languages,
)

__all__ = ["SUPPORTED_LANGUAGES", "LanguageDetector", "LanguageGuess", "LanguageSpan",
           "detect_language", "detect_languages"]
