"""spaCy integration: the ``"salesnlp"`` pipeline component.

Registered through the ``spacy_factories`` entry point, so after ``pip install
salesnlp`` it works without importing salesnlp first::

    import spacy

    nlp = spacy.blank("fi")
    nlp.add_pipe("sentencizer")          # optional: per-sentence scores
    nlp.add_pipe("salesnlp")
    doc = nlp("Katsotaan syksyllä. Ei päivämäärää.")
    doc.cats                              # {"partner_concealment": 0.03, ...} all three
    doc._.salesnlp                        # the salesnlp Classification (evidence, language)
    [s._.salesnlp_scores for s in doc.sents]   # {label: score} per sentence

Like spaCy's ``textcat_multilabel``, the component writes one score per label into
``doc.cats`` (declared in ``assigns``), takes a ``threshold`` in its config and has a
scorer, so ``nlp.evaluate`` reports ``cats_macro_f`` and per-label P/R/F. The
threshold is the model's own per-label thresholds by default; a number or a
``{label: number}`` dict replaces them for ``doc._.salesnlp.labels`` and the scorer.

If the doc has sentence boundaries (a ``sentencizer``, ``senter`` or parser earlier in
the pipeline), each sentence gets its scores as ``span._.salesnlp_scores`` from the
same forward pass as the doc (``None`` for a sentence the model does not read, such as
a signature or a disclaimer). Everything is kept in ``doc.user_data`` as plain data, so
docs still serialize (``DocBin``, ``doc.to_bytes``). ``nlp.pipe`` classifies whole
batches.
"""

# No ``from __future__ import annotations`` here: spaCy validates the factory's
# config against its (evaluated) type hints.

import threading
from collections.abc import Iterable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

from spacy.language import Language
from spacy.scorer import Scorer
from spacy.tokens import Doc, Span
from spacy.training import Example
from spacy.util import minibatch, registry

from salesnlp.inference.classifier import Classifier
from salesnlp.labels import LABELS
from salesnlp.results import Classification, Evidence

DOC_ATTR = "salesnlp"
SPAN_ATTR = "salesnlp_scores"
_USER_DATA_KEY = ("salesnlp", "classification")
_SPANS_KEY = ("salesnlp", "sentence_scores")
_models: dict = {}
_models_lock = threading.Lock()


def _to_data(result: Classification) -> dict:
    return {
        "language": result.language,
        "labels": list(result.labels),
        "scores": dict(result.scores),
        "evidence": [[e.label, e.text, e.start, e.end, e.score] for e in result.evidence],
        "thresholds": dict(result.thresholds),
        "truncated": result.truncated,
        "supported": result.supported,
    }


def _get_classification(doc: Doc) -> Optional[Classification]:
    data = doc.user_data.get(_USER_DATA_KEY)
    if data is None:
        return None
    return Classification(doc.text, data["language"], tuple(data["labels"]),
                          dict(data["scores"]),
                          tuple(Evidence(*e) for e in data["evidence"]),
                          dict(data["thresholds"]), bool(data["truncated"]),
                          bool(data.get("supported", True)))


def _set_classification(doc: Doc, value: Optional[Classification]) -> None:
    if value is None:
        doc.user_data.pop(_USER_DATA_KEY, None)
    elif isinstance(value, Classification):
        doc.user_data[_USER_DATA_KEY] = _to_data(value)
    else:
        raise TypeError(f"doc._.{DOC_ATTR} takes a salesnlp Classification or None, "
                        f"not {type(value).__name__}")


def _get_span_scores(span: Span) -> Optional[Dict[str, float]]:
    scores = span.doc.user_data.get(_SPANS_KEY, {})
    found = scores.get(f"{span.start_char}:{span.end_char}")
    return dict(found) if found is not None else None


def declare_extensions() -> None:
    """Declare ``Doc._.salesnlp`` and ``Span._.salesnlp_scores`` (once; safe to repeat)."""
    if not Doc.has_extension(DOC_ATTR):
        Doc.set_extension(DOC_ATTR, getter=_get_classification, setter=_set_classification)
    if not Span.has_extension(SPAN_ATTR):
        Span.set_extension(SPAN_ATTR, getter=_get_span_scores)


def _load(model: Optional[str]) -> Classifier:
    """One Classifier per model directory, shared by every pipeline in the process."""
    if model is None:
        from salesnlp.api import default_classifier

        return default_classifier()
    key = str(Path(model).expanduser().resolve())
    with _models_lock:
        if key not in _models:
            _models[key] = Classifier.load(key)
        return _models[key]


def _thresholds(threshold: Union[None, float, Dict[str, float]],
                model: Dict[str, float]) -> Dict[str, float]:
    if threshold is None:
        return dict(model)
    if isinstance(threshold, (int, float)):
        return dict.fromkeys(LABELS, float(threshold))
    unknown = sorted(set(threshold) - set(LABELS))
    if unknown:
        raise ValueError(f"[salesnlp] threshold names unknown labels {unknown}; "
                         f"the labels are {list(LABELS)}")
    return {**model, **{k: float(v) for k, v in threshold.items()}}


class SalesNLPComponent:
    """Sets ``doc.cats``, ``doc._.salesnlp`` and, per sentence, ``span._.salesnlp_scores``.

    Attributes:
        name: the component's name in the pipeline.
        model: the model directory from the config (``None``: the shipped model).
        batch_size: notes per forward pass, and docs per batch in :meth:`pipe`.
        thresholds: the per-label decision thresholds in use.
        classifier: the loaded :class:`~salesnlp.Classifier`.
    """

    def __init__(self, nlp: Language, name: str = "salesnlp", model: Optional[str] = None,
                 batch_size: int = 32, threshold: Union[None, float, Dict[str, float]] = None,
                 scorer: Optional[Any] = None) -> None:
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"[salesnlp] batch_size must be a positive int, got {batch_size!r}")
        declare_extensions()
        self.name = name
        self.model = model
        self.batch_size = batch_size
        self.classifier = _load(model)
        self.thresholds = _thresholds(threshold, self.classifier.thresholds)
        self.scorer = scorer

    def __call__(self, doc: Doc) -> Doc:
        """Classify one doc (and its sentences, if it has sentence boundaries)."""
        self.set_annotations([doc], self.predict([doc]))
        return doc

    def pipe(self, stream: Iterable[Doc], batch_size: Optional[int] = None) -> Iterator[Doc]:
        """Classify docs in batches of ``batch_size`` (default: the component's)."""
        for docs in minibatch(stream, size=batch_size or self.batch_size):
            self.set_annotations(docs, self.predict(docs))
            yield from docs

    def predict(self, docs: List[Doc]) -> list:
        """Per doc: its :class:`Classification` and its sentences' scores (one pass)."""
        spans = [[(s.start_char, s.end_char) for s in doc.sents]
                 if doc.has_annotation("SENT_START") else [] for doc in docs]
        return self.classifier.classify_with_spans([d.text for d in docs], spans,
                                                   batch_size=self.batch_size)

    def set_annotations(self, docs: List[Doc], predictions: list) -> None:
        for doc, (result, sentence_scores) in zip(docs, predictions, strict=True):
            labels = tuple(lb for lb in LABELS if result.scores[lb] >= self.thresholds[lb])
            if labels != result.labels or self.thresholds != result.thresholds:
                result = replace(result, labels=labels, thresholds=dict(self.thresholds),
                                 evidence=tuple(e for e in result.evidence if e.label in labels))
            doc._.set(DOC_ATTR, result)
            doc.cats = dict(result.scores)
            if doc.has_annotation("SENT_START"):
                doc.user_data[_SPANS_KEY] = {
                    f"{s.start_char}:{s.end_char}": scores
                    for s, scores in zip(doc.sents, sentence_scores, strict=True)}

    def score(self, examples: Iterable[Example], **kwargs) -> Dict[str, Any]:
        """``cats_*`` metrics (spaCy's multi-label text-classification scorer)."""
        return (self.scorer or make_scorer())(examples, thresholds=self.thresholds, **kwargs)


@registry.scorers("salesnlp.scorer.v1")
def make_scorer():
    """spaCy's multi-label ``cats`` scorer over the three labels (F per label, macro F,
    AUC), at the component's per-label thresholds (spaCy's own takes one threshold for
    all labels, so each label is scored at its own)."""
    def score(examples: Iterable[Example], thresholds: Optional[Dict[str, float]] = None,
              **kwargs) -> Dict[str, Any]:
        examples = list(examples)
        thresholds = thresholds or dict.fromkeys(LABELS, 0.5)
        per_type = {}
        for label in LABELS:
            scores = Scorer.score_cats(examples, "cats", labels=[label], multi_label=True,
                                       threshold=thresholds[label], **kwargs)
            per_type.update(scores["cats_f_per_type"])
        out = Scorer.score_cats(examples, "cats", labels=list(LABELS), multi_label=True,
                                threshold=0.5, **kwargs)
        out["cats_f_per_type"] = per_type
        out["cats_macro_f"] = sum(v["f"] for v in per_type.values()) / len(per_type)
        out["cats_macro_p"] = sum(v["p"] for v in per_type.values()) / len(per_type)
        out["cats_macro_r"] = sum(v["r"] for v in per_type.values()) / len(per_type)
        out["cats_score"] = out["cats_macro_f"]
        return out

    return score


@Language.factory(
    "salesnlp",
    default_config={"model": None, "batch_size": 32, "threshold": None,
                    "scorer": {"@scorers": "salesnlp.scorer.v1"}},
    assigns=["doc.cats", f"doc._.{DOC_ATTR}", f"span._.{SPAN_ATTR}"],
    default_score_weights={"cats_score": 1.0, "cats_macro_f": None, "cats_macro_auc": None},
)
def make_salesnlp_component(nlp: Language, name: str, model: Optional[str], batch_size: int,
                            threshold: Union[None, float, Dict[str, float]],
                            scorer: Optional[Any]) -> SalesNLPComponent:
    """spaCy factory of the ``"salesnlp"`` component (see the module docstring).

    Args:
        nlp: the pipeline.
        name: the component's name.
        model: a salesnlp model directory; ``None`` for the shipped model.
        batch_size: notes per forward pass and docs per batch in ``nlp.pipe``.
        threshold: ``None`` (the model's per-label thresholds), one number for all labels,
            or ``{label: number}``.
        scorer: the scorer behind :meth:`SalesNLPComponent.score`.
    """
    return SalesNLPComponent(nlp, name, model=model, batch_size=batch_size,
                             threshold=threshold, scorer=scorer)


declare_extensions()
