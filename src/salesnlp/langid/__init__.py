"""Language identification: :func:`detect_language`, :func:`detect_languages` and the
detector object behind them."""

from salesnlp.langid.detector import (
    SUPPORTED_LANGUAGES,
    LanguageGuess,
    LanguageSpan,
    detect_language,
    detect_languages,
)

__all__ = ["SUPPORTED_LANGUAGES", "LanguageGuess", "LanguageSpan", "detect_language",
           "detect_languages"]
