"""spaCy integration: the ``"salesnlp"`` pipeline component.

Registered through the ``spacy_factories`` entry point, so after ``pip install
salesnlp`` it works without importing salesnlp first::

    import spacy

    nlp = spacy.blank("fi")
    nlp.add_pipe("sentencizer")          # optional: per-sentence scores
    nlp.add_pipe("salesnlp", config={"model": None, "batch_size": 32})
    doc = nlp("Katsotaan syksyllä. Ei päivämäärää.")
    doc._.salesnlp                        # a salesnlp Classification
    [s._.salesnlp_scores for s in doc.sents]   # {label: score} per sentence

``doc._.salesnlp`` is the note's :class:`~salesnlp.Classification`. If the doc has
sentence boundaries (a ``sentencizer``, ``senter`` or parser earlier in the
pipeline), each sentence is also classified on its own and its three scores are
set as ``span._.salesnlp_scores``; otherwise that stays ``None``. Both are kept in
``doc.user_data`` as plain data, so docs with them still serialize (``DocBin``,
``doc.to_bytes``). ``nlp.pipe`` classifies whole batches with ``classify_many``.
"""

# No ``from __future__ import annotations`` here: spaCy validates the factory's
# config against its (evaluated) type hints.

import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from spacy.language import Language
from spacy.tokens import Doc, Span
from spacy.util import minibatch

from salesnlp.inference.classifier import Classifier
from salesnlp.results import Classification, Evidence

DOC_ATTR = "salesnlp"
SPAN_ATTR = "salesnlp_scores"
_USER_DATA_KEY = ("salesnlp", "classification")
_models: dict[str, Classifier] = {}
_models_lock = threading.Lock()


def _to_data(result: Classification) -> dict[str, Any]:
    return {
        "language": result.language,
        "labels": list(result.labels),
        "scores": dict(result.scores),
        "evidence": [[e.label, e.text, e.start, e.end, e.score] for e in result.evidence],
        "thresholds": dict(result.thresholds),
        "truncated": result.truncated,
    }


def _get_classification(doc: Doc) -> Classification | None:
    data = doc.user_data.get(_USER_DATA_KEY)
    if data is None:
        return None
    return Classification(doc.text, data["language"], tuple(data["labels"]),
                          dict(data["scores"]),
                          tuple(Evidence(*e) for e in data["evidence"]),
                          dict(data["thresholds"]), bool(data["truncated"]))


def _set_classification(doc: Doc, value: Classification | None) -> None:
    if value is None:
        doc.user_data.pop(_USER_DATA_KEY, None)
    elif isinstance(value, Classification):
        doc.user_data[_USER_DATA_KEY] = _to_data(value)
    else:
        raise TypeError(f"doc._.{DOC_ATTR} takes a salesnlp Classification or None, "
                        f"not {type(value).__name__}")


def declare_extensions() -> None:
    """Declare ``Doc._.salesnlp`` and ``Span._.salesnlp_scores`` (once; safe to repeat)."""
    if not Doc.has_extension(DOC_ATTR):
        Doc.set_extension(DOC_ATTR, getter=_get_classification, setter=_set_classification)
    if not Span.has_extension(SPAN_ATTR):
        Span.set_extension(SPAN_ATTR, default=None)


def _load(model: str | None) -> Classifier:
    """One Classifier per model directory, shared by every pipeline in the process."""
    if model is None:
        from salesnlp.api import default_classifier

        return default_classifier()
    key = str(Path(model).expanduser().resolve())
    with _models_lock:
        if key not in _models:
            _models[key] = Classifier.load(key)
        return _models[key]


class SalesNLPComponent:
    """Sets ``doc._.salesnlp`` and, per sentence, ``span._.salesnlp_scores``.

    Attributes:
        name: the component's name in the pipeline.
        model: the model directory from the config (``None``: the shipped model).
        batch_size: notes per forward pass, and docs per batch in :meth:`pipe`.
        classifier: the loaded :class:`~salesnlp.Classifier`.
    """

    def __init__(self, nlp: Language, name: str = "salesnlp", model: str | None = None,
                 batch_size: int = 32) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"[salesnlp] batch_size must be a positive int, got {batch_size!r}")
        declare_extensions()
        self.name = name
        self.model = model
        self.batch_size = batch_size
        self.classifier = _load(model)

    def __call__(self, doc: Doc) -> Doc:
        """Classify one doc (and its sentences, if it has sentence boundaries)."""
        self._annotate([doc])
        return doc

    def pipe(self, stream: Iterable[Doc], batch_size: int | None = None) -> Iterator[Doc]:
        """Classify docs in batches of ``batch_size`` (default: the component's)."""
        for docs in minibatch(stream, size=batch_size or self.batch_size):
            self._annotate(docs)
            yield from docs

    def _annotate(self, docs: list[Doc]) -> None:
        texts = [doc.text for doc in docs]
        sentences: list[list[Span]] = []
        for doc in docs:
            sents = list(doc.sents) if doc.has_annotation("SENT_START") else []
            sentences.append(sents)
            texts.extend(s.text for s in sents)
        results = self.classifier.classify_many(texts, batch_size=self.batch_size)
        per_sentence = iter(results[len(docs):])
        for doc, result, sents in zip(docs, results[: len(docs)], sentences, strict=True):
            doc._.set(DOC_ATTR, result)
            for sent in sents:
                sent._.set(SPAN_ATTR, dict(next(per_sentence).scores))


@Language.factory(
    "salesnlp",
    default_config={"model": None, "batch_size": 32},
    assigns=[f"doc._.{DOC_ATTR}", f"span._.{SPAN_ATTR}"],
)
def make_salesnlp_component(nlp: Language, name: str, model: str | None,
                            batch_size: int) -> SalesNLPComponent:
    """spaCy factory of the ``"salesnlp"`` component (see the module docstring).

    Args:
        nlp: the pipeline.
        name: the component's name.
        model: a salesnlp model directory; ``None`` for the shipped model.
        batch_size: notes per forward pass and docs per batch in ``nlp.pipe``.
    """
    return SalesNLPComponent(nlp, name, model=model, batch_size=batch_size)


declare_extensions()
