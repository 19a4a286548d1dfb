"""The :class:`Classifier`: a loaded model that classifies notes.

A note goes through three steps, as in a Hugging Face pipeline:

1. *prepare* (:meth:`Classifier._prepare`): check the input, reduce HTML to text, cut an
   e-mail into its parts (:mod:`salesnlp.prepare`), detect the language;
2. *forward* (:meth:`Classifier._forward`): token states of the prepared text's windows,
   a vector for the note and one for each sentence of its newest message, the linear
   head on each;
3. *postprocess* (:meth:`Classifier._postprocess`): aggregate sentence scores into the
   note's (a model trained with ``aggregation="max"`` takes the most telling sentence,
   so one sentence in a long minute is not diluted), calibrate, blend in the n-gram
   component, decide, and pick the evidence.

One instance is safe to share between threads: the network is frozen and only read,
the tokenizer's settings never change after loading, and nothing is cached per call.
Everything after the token states is numpy, so the int8 path serves without PyTorch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from salesnlp.encoder.tokenization import (
    EncodedNote,
    NoteTokenizer,
    length_sorted_chunks,
    pad_windows,
)
from salesnlp.inference.calibration import apply_calibration, apply_final_calibration
from salesnlp.inference.model_dir import ModelConfig, read_model_dir, resolve_model_path
from salesnlp.inference.pooling import (
    SentencePlan,
    body_sentences,
    mean_pool,
    pool_sentences,
    sentence_plan,
)
from salesnlp.inference.pretrained import PretrainedMixin
from salesnlp.labels import SUPPORTED_LANGUAGES
from salesnlp.prepare.document import Document, prepare_document
from salesnlp.prepare.text import MAX_CHARS, check_text, has_letters
from salesnlp.progress import counter
from salesnlp.results import Classification, Evidence

logger = logging.getLogger(__name__)

MAX_EVIDENCE_PER_LABEL = 3
#: What to do with a note whose language is detected as one outside the five:
#: ``"score"`` classifies it anyway (``supported=False`` in the result), ``"neutral"``
#: gives it no labels and zero scores.
UNSUPPORTED_POLICIES = ("score", "neutral")
# Windows in one forward pass; bounds memory for very long notes.
_MAX_WINDOWS_PER_PASS = 64


class Network(Protocol):
    """What a classifier runs: token states of padded windows, and a linear head."""

    head_weight: np.ndarray  # [n_labels, hidden]
    head_bias: np.ndarray    # [n_labels]

    def token_states(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """``[windows, length, hidden]`` float32 states of int64 ids and mask."""
        ...


@dataclass
class _Note:
    """One note on its way through the classifier."""

    document: Document
    language: str
    encoded: EncodedNote | None = None
    extra_spans: list[tuple[int, int]] | None = None  # spans of the document text to score


@dataclass
class _Scores:
    """What the network says about one note: logits, before calibration."""

    note: np.ndarray                  # [labels] of the mean-pooled note vector
    plan: SentencePlan                # the newest message's sentences
    sentences: np.ndarray             # [sentences, labels]
    extra: tuple[SentencePlan, np.ndarray] | None = None  # spans asked for, and their logits
    #: the sentences' final probabilities, once computed (the note score and the evidence
    #: both need them; each ``_Scores`` belongs to one call, so this is never shared)
    sentence_probs: np.ndarray | None = None

    @property
    def aggregated(self) -> np.ndarray:
        """The higher of the note's and its best sentence's logit, per label."""
        return np.maximum(self.note, self.sentences.max(0)) if len(self.sentences) else self.note


class Classifier(PretrainedMixin):
    """Classify notes with a fine-tuned model.

    Use :meth:`load` (or :func:`salesnlp.load`) rather than the constructor.

    Attributes:
        labels: the label ids, in output order.
        thresholds: per-label decision threshold (tuned on the dev split).
        config: the model's :class:`~salesnlp.inference.model_dir.ModelConfig`.
        precision: ``"fp32"`` or ``"int8"``, the path actually in use.
        network: what computes token states
            (:class:`~salesnlp.inference.torch_model.TorchNetwork` or
            :class:`~salesnlp.inference.int8.Int8Network`).
        model: the PyTorch model for ``"fp32"`` (``network.model``), else ``network``.
        unsupported_language: the policy for notes outside the five languages.
    """

    def __init__(self, network: Network, note_tokenizer: NoteTokenizer,
                 config: ModelConfig, pad_id: int, path: Path | None = None,
                 max_chars: int = MAX_CHARS, precision: str = "fp32",
                 unsupported_language: str = "score") -> None:
        self.network = network
        self.model = getattr(network, "model", network)
        self.note_tokenizer = note_tokenizer
        self.config = config
        self.labels = tuple(config.labels)
        self.thresholds = dict(config.thresholds)
        self.pad_id = pad_id
        self.path = path
        self.max_chars = max_chars
        self.precision = precision
        self.unsupported_language = check_policy(unsupported_language)
        self.ngram = None  # optional CharNgramModel blended into the encoder's probabilities
        self.ngram_weight = 0.0
        self.structure: bool | None = None  # None: read documents as the model was trained
        self.tensors: dict[str, np.ndarray] = {}  # what model.safetensors holds (for saving)

    @classmethod
    def load(cls, path: str | Path | None = None, precision: str = "auto", *,
             unsupported_language: str = "score", structure: bool | None = None
             ) -> Classifier:
        """Load a model directory (default: the shipped model).

        Args:
            path: a model directory or the name of a shipped model (default: the
                shipped default, ``salesnlp-e5-small-v2``; see :func:`shipped_model_names`).
            precision: ``"auto"`` (default): the int8 ONNX Runtime fast path where
                ``onnxruntime`` is installed, else fp32; ``"fp32"``: the exact PyTorch
                model; ``"int8"``: the fast path or an error (see :mod:`salesnlp.inference.int8`).
            unsupported_language: ``"score"`` (default) or ``"neutral"``, for notes in a
                language outside the five (see :data:`UNSUPPORTED_POLICIES`).
            structure: read e-mails as documents (the newest message scored, quoted
                history as context, headers, signatures and disclaimers never evidence);
                None (default): as the model was trained; False reads the whole text.

        Raises:
            ModelLoadError: the directory is missing, incomplete or corrupt.
        """
        from salesnlp.inference.int8 import check_precision, load_network

        check_precision(precision)
        path = resolve_model_path(path)
        config, tensors = read_model_dir(path)
        network, hf_tokenizer, used = load_network(config, tensors, path, precision)
        note_tokenizer = NoteTokenizer.from_pretrained(hf_tokenizer, config.max_length,
                                                       config.prefix)
        classifier = cls(network, note_tokenizer, config, hf_tokenizer.pad_token_id, path,
                         precision=used, unsupported_language=unsupported_language)
        classifier.ngram, classifier.ngram_weight = load_ngram(path, config, tensors)
        classifier.tensors = tensors
        classifier.structure = structure
        return classifier

    def __repr__(self) -> str:
        return (f"Classifier(path={str(self.path)!r}, labels={self.labels}, "
                f"precision={self.precision!r})")

    # -- public API ---------------------------------------------------------

    def classify(self, text: str) -> Classification:
        """Classify one note.

        A note without letters (empty, blank, ``"-"``, ``"0"``, an emoji) gives a neutral
        result: language ``"und"``, no labels, all scores 0.0. A note in a language
        outside the five is flagged ``supported=False`` (and neutral under the
        ``"neutral"`` policy). An e-mail is read from its newest message, with the
        quoted history as context; signatures, headers and disclaimers are not read.
        Text longer than ``max_chars`` (200,000) is cut there and flagged ``truncated``;
        anything shorter is read whole, in 512-token windows.

        Raises:
            TypeError: ``text`` is not a ``str`` (bytes must be decoded first).
        """
        return self.classify_many([text])[0]

    def classify_many(self, texts: Iterable[str], batch_size: int = 32,
                      progress: bool = False) -> list[Classification]:
        """Classify many notes, batching windows of similar length together.

        Args:
            texts: the notes (any iterable of ``str``).
            batch_size: notes per forward pass.
            progress: show a progress bar (tqdm).

        Raises:
            TypeError: an item is not a ``str`` (the message names its position).
        """
        texts = _checked(texts)
        _check_batch_size(batch_size)
        notes = self._prepare(texts)
        results: list[Classification | None] = [None] * len(texts)
        todo = []
        for i, note in enumerate(notes):
            if self._is_neutral(note):
                results[i] = self._neutral(texts[i], note.language)
            else:
                todo.append(i)
        bar = counter(len(todo), progress)
        for chunk in self._chunks([notes[i] for i in todo], batch_size):
            chunk_notes = [notes[todo[k]] for k in chunk]
            for k, result in zip(chunk, self._postprocess(chunk_notes, self._forward(chunk_notes)),
                                 strict=True):
                results[todo[k]] = result
            bar.update(len(chunk))
        bar.close()
        return results  # type: ignore[return-value]

    def classify_with_spans(self, texts: Sequence[str],
                            spans: Sequence[Sequence[tuple[int, int]]], batch_size: int = 32
                            ) -> list[tuple[Classification, list[dict[str, float] | None]]]:
        """Classify notes and, in the same pass, score given character spans of each (e.g.
        the sentences another tool found). A span's scores are ``None`` when the model does
        not read it (a signature, a disclaimer, text past the read windows).

        Args:
            texts: the notes.
            spans: for each note, ``(start, end)`` spans of the note as given.
            batch_size: notes per forward pass.
        """
        texts = _checked(texts)
        if len(spans) != len(texts):
            raise ValueError(f"{len(spans)} span lists for {len(texts)} notes")
        notes = self._prepare(texts)
        out: list = [None] * len(texts)
        todo = []
        for i, (note, note_spans) in enumerate(zip(notes, spans, strict=True)):
            if self._is_neutral(note):
                out[i] = (self._neutral(texts[i], note.language), [None] * len(note_spans))
            else:
                document = note.document
                note.extra_spans = [(document.to_text_offset(a), document.to_text_offset(b))
                                    for a, b in note_spans]
                todo.append(i)
        for chunk in self._chunks([notes[i] for i in todo], batch_size):
            chunk_notes = [notes[todo[k]] for k in chunk]
            scores = self._forward(chunk_notes)
            results = self._postprocess(chunk_notes, scores)
            for k, result, score in zip(chunk, results, scores, strict=True):
                out[todo[k]] = (result, self._span_scores(notes[todo[k]], score.extra))
        return out

    def predict_logits(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Raw (uncalibrated) note logits ``[n, n_labels]``, aggregated as the model was
        trained; used by training (calibration) and evaluation."""
        return self._logits(self._prepare(_checked(texts)), batch_size)

    def predict_proba(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Final calibrated probabilities ``[n, n_labels]`` (encoder blended with n-grams),
        exactly the scores :meth:`classify_many` gives (neutral notes included)."""
        notes = self._prepare(_checked(texts))
        probs = self._probabilities(notes, self._score_all(notes, batch_size))
        probs[[self._is_neutral(n) for n in notes]] = 0.0
        return probs

    @property
    def reads_structure(self) -> bool:
        """True if notes are read as documents (e-mail parts apart), as the model was
        trained (unless ``load(structure=...)`` says otherwise); models trained before
        this existed read the whole cleaned text."""
        if self.structure is not None:
            return self.structure
        return bool(self.config.document.get("structure", False))

    # -- the three steps ------------------------------------------------------

    def _prepare(self, texts: list[str]) -> list[_Note]:
        notes = []
        for text in texts:
            document = prepare_document(text, structure=self.reads_structure,
                                        max_chars=self.max_chars)
            body = document.body_text
            notes.append(_Note(document, _detect_language(body) if has_letters(body) else "und"))
        return notes

    def _logits(self, notes: list[_Note], batch_size: int) -> np.ndarray:
        scores = self._score_all(notes, batch_size)
        aggregate = self.config.aggregation == "max"
        return np.stack([s.aggregated if aggregate else s.note for s in scores]) if scores \
            else np.zeros((0, len(self.labels)), dtype=np.float32)

    def _score_all(self, notes: list[_Note], batch_size: int) -> list[_Scores]:
        """The network's scores of every note, in order."""
        out: list[_Scores | None] = [None] * len(notes)
        for chunk in self._chunks(notes, batch_size):
            for k, score in zip(chunk, self._forward([notes[k] for k in chunk]), strict=True):
                out[k] = score
        return out  # type: ignore[return-value]

    def _chunks(self, notes: list[_Note], batch_size: int) -> Iterator[list[int]]:
        """Indices of ``notes`` in chunks of similar length (less padding); encodes them."""
        pending = [n for n in notes if n.encoded is None]
        if pending:
            for note, encoded in zip(pending, self.note_tokenizer.encode(
                    [n.document.text for n in pending]), strict=True):
                note.encoded = encoded
        yield from length_sorted_chunks([n.encoded for n in notes], batch_size)

    def _forward(self, notes: list[_Note]) -> list[_Scores]:
        encoded = [n.encoded for n in notes]
        ids, mask, owner = pad_windows(encoded, self.pad_id)
        states = [self.network.token_states(ids[a : a + _MAX_WINDOWS_PER_PASS],
                                            mask[a : a + _MAX_WINDOWS_PER_PASS])
                  for a in range(0, len(ids), _MAX_WINDOWS_PER_PASS)]
        states = states[0] if len(states) == 1 else np.concatenate(states)
        note_logits = self._head(mean_pool(states, mask, owner, len(notes)))
        lengths = mask.sum(1)
        window_states: list[list[np.ndarray]] = [[] for _ in notes]
        for row, k in enumerate(owner.tolist()):
            window_states[k].append(states[row, : lengths[row]])
        scores = []
        for k, note in enumerate(notes):
            plan = sentence_plan(body_sentences(note.document, note.language), encoded[k])
            score = _Scores(note_logits[k], plan,
                            self._head(pool_sentences(plan, window_states[k])))
            if note.extra_spans is not None:
                extra_plan = sentence_plan(sorted(set(note.extra_spans)), encoded[k])
                score.extra = (extra_plan, self._head(pool_sentences(extra_plan,
                                                                     window_states[k])))
            scores.append(score)
        return scores

    def _probabilities(self, notes: list[_Note], scores: list[_Scores]
                       ) -> np.ndarray:
        """Calibrated, blended note probabilities ``[n, labels]``. With ``aggregation="max"``
        each label's is the higher of the note's and its best sentence's, both blended, so
        a note scores at least what its evidence scores."""
        if not scores:
            return np.zeros((0, len(self.labels)))
        probs = self._scored(np.stack([s.note for s in scores]),
                             [n.document.body_text for n in notes])
        if self.config.aggregation == "max":
            for k, (note, score) in enumerate(zip(notes, scores, strict=True)):
                if len(score.sentences):
                    probs[k] = np.maximum(probs[k],
                                          self._sentence_probs(note, score).max(0))
        return probs

    def _sentence_probs(self, note: _Note, score: _Scores) -> np.ndarray:
        if score.sentence_probs is None:
            texts = [note.document.text[a:b] for a, b in score.plan.spans]
            score.sentence_probs = self._scored(score.sentences, texts)
        return score.sentence_probs

    def _postprocess(self, notes: list[_Note], scores: list[_Scores]) -> list[Classification]:
        probs = self._probabilities(notes, scores)
        results = []
        for k, (note, score) in enumerate(zip(notes, scores, strict=True)):
            labels = self._decide(probs[k])
            document = note.document
            results.append(Classification(
                document.original, note.language, labels,
                {lb: float(p) for lb, p in zip(self.labels, probs[k], strict=True)},
                self._evidence(note, score, labels), dict(self.thresholds),
                document.truncated, note.language in SUPPORTED_LANGUAGES))
        return results

    # -- helpers --------------------------------------------------------------

    def _is_neutral(self, note: _Note) -> bool:
        if not has_letters(note.document.text):
            return True
        outside = note.language not in SUPPORTED_LANGUAGES and note.language != "und"
        return outside and self.unsupported_language == "neutral"

    def _evidence(self, note: _Note, score: _Scores, labels: tuple[str, ...]
                  ) -> tuple[Evidence, ...]:
        """The sentences that drove each label of one note, best first."""
        if not labels or not len(score.plan):
            return ()
        document = note.document
        probs = self._sentence_probs(note, score)
        evidence = []
        for label in labels:
            k = self.labels.index(label)
            ranked = np.argsort(-probs[:, k], kind="stable").tolist()
            chosen = [s for s in ranked if probs[s, k] >= self.thresholds[label]]
            for s in (chosen or ranked[:1])[:MAX_EVIDENCE_PER_LABEL]:
                start, end = document.span_in_original(*score.plan.spans[s])
                evidence.append(Evidence(label, document.original[start:end], start, end,
                                         float(probs[s, k])))
        return tuple(evidence)

    def _span_scores(self, note: _Note, extra) -> list[dict[str, float] | None]:
        """Calibrated, blended scores of a note's extra spans, in the order given."""
        plan, logits = extra
        probs = self._scored(logits, [note.document.text[a:b] for a, b in plan.spans])
        scored = {span: {lb: float(p) for lb, p in zip(self.labels, row, strict=True)}
                  for span, row in zip(plan.spans, probs, strict=True)}
        return [scored.get(span) for span in note.extra_spans]

    def _blend(self, encoder_probs: np.ndarray, texts: list[str]) -> np.ndarray:
        if self.ngram is None or self.ngram_weight == 0.0:
            return encoder_probs
        w = self.ngram_weight
        return (1.0 - w) * encoder_probs + w * self.ngram.predict_proba(texts)

    def _calibrate(self, logits: np.ndarray) -> np.ndarray:
        return apply_calibration(logits, self.config.calibration, self.labels)

    def _scored(self, logits: np.ndarray, texts: list[str]) -> np.ndarray:
        """Probabilities of notes or spans: calibrated encoder scores blended with the
        n-gram model's, then mapped by the model's final calibration of the blend (if any;
        monotone, so a note still scores at least what its best sentence scores)."""
        blended = self._blend(self._calibrate(logits), texts)
        return apply_final_calibration(blended, self.config.calibration, self.labels)

    def _head(self, vectors: np.ndarray) -> np.ndarray:
        return vectors @ self.network.head_weight.T + self.network.head_bias

    def _decide(self, probs: np.ndarray) -> tuple[str, ...]:
        return tuple(lb for lb, p in zip(self.labels, probs, strict=True)
                     if p >= self.thresholds[lb])

    def _neutral(self, text: str, language: str = "und") -> Classification:
        return Classification(text, language, (), dict.fromkeys(self.labels, 0.0), (),
                              dict(self.thresholds), supported=language in SUPPORTED_LANGUAGES)


def load_ngram(path: Path, config: ModelConfig, tensors: dict):
    """The model's character n-gram component and its blend weight, if it has one."""
    weight = float(config.ensemble.get("ngram_weight", 0.0))
    if weight == 0.0:
        return None, 0.0
    import json

    from salesnlp.errors import ModelLoadError
    from salesnlp.inference.ngram import CharNgramModel

    try:
        facts = json.loads((path / "ngram.json").read_text(encoding="utf-8"))
        return CharNgramModel.from_state(facts, tensors), weight
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"{path}: the n-gram component is missing or corrupt ({exc})",
                             hint="retrain with `salesnlp train`, or restore the directory "
                                  "from git (`git checkout models/`)") from None


def check_policy(policy: str) -> str:
    if policy not in UNSUPPORTED_POLICIES:
        raise ValueError(f"unsupported_language must be one of {UNSUPPORTED_POLICIES}, "
                         f"got {policy!r}")
    return policy


def _checked(texts: Iterable[str]) -> list[str]:
    if isinstance(texts, str):
        raise TypeError("classify_many takes a list of notes; for one note use classify()")
    return [check_text(t, i) for i, t in enumerate(texts)]


def _check_batch_size(batch_size: int) -> None:
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")


def _detect_language(text: str) -> str:
    from salesnlp.langid.detector import detect_language

    return detect_language(text).language
