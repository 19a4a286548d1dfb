"""Module-level shortcuts: ``salesnlp.classify``, ``classify_many`` and ``load``.

The shipped model is loaded on first use, once per process, under a lock so
that many threads calling ``classify`` at start-up share one instance.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from pathlib import Path

from salesnlp.inference.classifier import Classifier
from salesnlp.results import Classification

_default: Classifier | None = None
_default_lock = threading.Lock()


def load(path: str | Path | None = None, precision: str = "auto", *,
         unsupported_language: str = "score", structure: bool | None = None) -> Classifier:
    """Load a classifier from ``path``: a model directory or the name of a shipped model
    (``salesnlp.shipped_model_names()``; default: the model shipped as the default).

    ``precision``: ``"auto"`` (the int8 fast path where available), ``"fp32"``
    (the exact PyTorch model) or ``"int8"``; ``unsupported_language``: ``"score"`` or
    ``"neutral"`` for notes outside the five languages; ``structure``: False reads an
    e-mail's whole text instead of its newest message; see :meth:`Classifier.load`.

    Raises:
        ModelLoadError: the model directory is missing, incomplete or corrupt.
    """
    return Classifier.load(path, precision=precision, unsupported_language=unsupported_language,
                           structure=structure)


def default_classifier() -> Classifier:
    """The process-wide classifier with the shipped model, loaded on first call."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = Classifier.load()
    return _default


def classify(text: str) -> Classification:
    """Classify one note with the shipped model.

    >>> r = classify("Küsisin, kes hanke võitis – ei öelnud.")  # doctest: +SKIP
    >>> r.language, r.labels                                     # doctest: +SKIP
    ('et', ('partner_concealment',))

    Empty text gives a neutral result; non-``str`` input raises ``TypeError``.
    """
    return default_classifier().classify(text)


def classify_many(notes: Iterable[str], batch_size: int = 32,
                  progress: bool = False) -> list[Classification]:
    """Classify many notes with the shipped model, in batches (see ``Classifier``)."""
    return default_classifier().classify_many(notes, batch_size=batch_size, progress=progress)
