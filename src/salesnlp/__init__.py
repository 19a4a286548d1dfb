"""salesnlp: flag buyer behaviours in sellers' notes.

Languages: Estonian, Finnish, Ukrainian, Romanian, Dutch. Labels:
``partner_concealment``, ``evasive_stalling``, ``supplier_disrespect``.

>>> import salesnlp
>>> r = salesnlp.classify("Ei öelnud, kes hanke võitis.")   # doctest: +SKIP
>>> r.language, r.labels                                      # doctest: +SKIP

Heavy dependencies (torch, transformers, spaCy) are imported only when first
needed, so ``import salesnlp`` stays fast.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from salesnlp._version import __version__
from salesnlp.errors import SalesNLPError
from salesnlp.labels import LABELS

# Public name -> module that defines it; resolved lazily on first access.
_LAZY_EXPORTS: dict[str, str] = {
    "detect_language": "salesnlp.langid.detector",
    "detect_languages": "salesnlp.langid.detector",
    "LanguageGuess": "salesnlp.langid.detector",
    "LanguageSpan": "salesnlp.langid.detector",
    "LanguageDetector": "salesnlp.langid.detector",
    "SUPPORTED_LANGUAGES": "salesnlp.langid.detector",
    "classify": "salesnlp.api",
    "classify_many": "salesnlp.api",
    "load": "salesnlp.api",
    "shipped_model_names": "salesnlp.inference.model_dir",
    "Classifier": "salesnlp.inference.classifier",
    "Classification": "salesnlp.results",
    "Evidence": "salesnlp.results",
    "train": "salesnlp.training.trainer",
    "TrainingConfig": "salesnlp.training.trainer",
    "evaluate": "salesnlp.evaluation.evaluate",
    "build_base": "salesnlp.encoder.base",
    "load_corpus": "salesnlp.corpus.notes",
    "classify_frame": "salesnlp.integrations.pandas",
    "validate_corpus": "salesnlp.corpus.notes",
}

__all__ = ["LABELS", "SalesNLPError", "__version__", *_LAZY_EXPORTS]


def __getattr__(name: str) -> Any:
    module_name = _LAZY_EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'salesnlp' has no attribute {name!r}")
    value = getattr(import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


if TYPE_CHECKING:  # pragma: no cover - for type checkers and IDEs only
    from salesnlp.api import classify, classify_many, load
    from salesnlp.corpus.notes import load_corpus, validate_corpus
    from salesnlp.encoder.base import build_base
    from salesnlp.evaluation.evaluate import evaluate
    from salesnlp.inference.classifier import Classifier
    from salesnlp.inference.model_dir import shipped_model_names
    from salesnlp.integrations.pandas import classify_frame
    from salesnlp.langid.detector import (
        SUPPORTED_LANGUAGES,
        LanguageDetector,
        LanguageGuess,
        LanguageSpan,
        detect_language,
        detect_languages,
    )
    from salesnlp.results import Classification, Evidence
    from salesnlp.training.trainer import TrainingConfig, train
