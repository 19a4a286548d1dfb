"""The optional parts of salesnlp and the extras that install them.

``pip install salesnlp`` installs what classifying needs: the int8 path (ONNX Runtime),
its build from the base encoder, the CLI, evidence and language detection. Training,
evaluation and the exact fp32 path need the ``train`` extra (PyTorch, peft,
scikit-learn, SciPy); the spaCy pipeline component needs spaCy. :func:`require` fails
early, with the command that installs what is missing.
"""

from __future__ import annotations

import importlib.util

from salesnlp.errors import MissingDependency

EXTRAS: dict[str, tuple[str, ...]] = {
    "train": ("torch", "peft", "sklearn", "scipy"),
    "spacy": ("spacy",),
}
_PACKAGE_NAMES = {"sklearn": "scikit-learn", "scipy": "SciPy", "torch": "PyTorch"}


def missing(extra: str) -> list[str]:
    """The modules of ``extra`` that cannot be imported here."""
    return [module for module in EXTRAS[extra] if not _importable(module)]


def require(extra: str, purpose: str) -> None:
    """Raise :class:`~salesnlp.errors.MissingDependency` if ``extra`` is not installed.

    Args:
        extra: a key of :data:`EXTRAS`.
        purpose: what needs it, for the message ("training", "evaluation", ...).
    """
    absent = missing(extra)
    if absent:
        names = ", ".join(_PACKAGE_NAMES.get(m, m) for m in absent)
        raise MissingDependency(f"{purpose} needs {names}, which is not installed",
                                hint=f"pip install 'salesnlp[{extra}]'")


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ValueError, ImportError):  # a module blocked in sys.modules, a broken parent
        return False
