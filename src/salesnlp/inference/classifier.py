"""The :class:`Classifier`: a loaded model that classifies notes.

One instance is safe to share between threads: the network is frozen and
only read, the tokenizer's settings never change after loading, and nothing
is cached per call.

Everything after the network's token states (pooling, the head, calibration,
the n-gram blend, evidence) is numpy, so the int8 path serves without
importing PyTorch.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

import numpy as np

from salesnlp.encoder.tokenization import EncodedNote, NoteTokenizer, pad_windows
from salesnlp.inference.calibration import apply_calibration
from salesnlp.inference.model_dir import ModelConfig, default_model_path, read_model_dir
from salesnlp.labels import SUPPORTED_LANGUAGES
from salesnlp.prepare.text import MAX_CHARS, CleanText, check_text, clean, has_letters
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


class Classifier:
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

    @classmethod
    def load(cls, path: str | Path | None = None, precision: str = "auto", *,
             unsupported_language: str = "score") -> Classifier:
        """Load a model directory (default: the shipped model).

        Args:
            path: the model directory.
            precision: ``"auto"`` (default): the int8 ONNX Runtime fast path where
                ``onnxruntime`` is installed, else fp32; ``"fp32"``: the exact PyTorch
                model; ``"int8"``: the fast path or an error (see :mod:`salesnlp.inference.int8`).
            unsupported_language: ``"score"`` (default) or ``"neutral"``, for notes in a
                language outside the five (see :data:`UNSUPPORTED_POLICIES`).

        Raises:
            ModelLoadError: the directory is missing, incomplete or corrupt.
        """
        from salesnlp.inference.int8 import check_precision, load_network

        check_precision(precision)
        path = Path(path) if path is not None else default_model_path()
        config, tensors = read_model_dir(path)
        network, hf_tokenizer, used = load_network(config, tensors, path, precision)
        note_tokenizer = NoteTokenizer.from_pretrained(hf_tokenizer, config.max_length,
                                                       config.prefix)
        classifier = cls(network, note_tokenizer, config, hf_tokenizer.pad_token_id, path,
                         precision=used, unsupported_language=unsupported_language)
        classifier.ngram, classifier.ngram_weight = load_ngram(path, config, tensors)
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
        ``"neutral"`` policy). Text longer than ``max_chars`` (200,000) is cut there and
        flagged ``truncated``; anything shorter is read whole, in 512-token windows.

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
        """
        if isinstance(texts, str):
            raise TypeError("classify_many takes a list of notes; for one note use classify()")
        if not isinstance(batch_size, int) or batch_size < 1:
            raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
        texts = [check_text(t, i) for i, t in enumerate(texts)]
        results: list[Classification | None] = [None] * len(texts)
        cleaned = [clean(t, self.max_chars) for t in texts]
        languages = [_detect_language(c.text) if has_letters(c.text) else "und"
                     for c in cleaned]
        todo = []
        for i, (c, language) in enumerate(zip(cleaned, languages, strict=True)):
            supported = language in SUPPORTED_LANGUAGES
            if not has_letters(c.text) or (not supported and language != "und"
                                           and self.unsupported_language == "neutral"):
                results[i] = self._neutral(texts[i], language)
            else:
                todo.append(i)
        encoded = self.note_tokenizer.encode([cleaned[i].text for i in todo]) if todo else []
        order = sorted(range(len(todo)), key=lambda k: sum(map(len, encoded[k].windows)))
        bar = counter(len(todo), progress)
        for chunk in _chunks(order, batch_size):
            notes = [encoded[k] for k in chunk]
            chunk_cleaned = [cleaned[todo[k]] for k in chunk]
            logits, states = self._forward(notes)
            probs = self._blend(self._calibrate(logits), [c.text for c in chunk_cleaned])
            chunk_languages = [languages[todo[k]] for k in chunk]
            label_sets = [self._decide(p) for p in probs]
            evidence = self._evidence([texts[todo[k]] for k in chunk], chunk_cleaned,
                                      chunk_languages, notes, states, label_sets)
            for row, k in enumerate(chunk):
                i = todo[k]
                scores = {lb: float(p) for lb, p in zip(self.labels, probs[row], strict=True)}
                results[i] = Classification(texts[i], languages[i], label_sets[row], scores,
                                            evidence[row], dict(self.thresholds),
                                            cleaned[i].truncated,
                                            languages[i] in SUPPORTED_LANGUAGES)
            bar.update(len(chunk))
        bar.close()
        return results  # type: ignore[return-value]

    def predict_logits(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Raw (uncalibrated) logits ``[n, n_labels]``; used by training and evaluation."""
        cleaned = [clean(check_text(t, i), self.max_chars).text for i, t in enumerate(texts)]
        return self._logits(cleaned, batch_size)

    def predict_proba(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Final calibrated probabilities ``[n, n_labels]`` (encoder blended with n-grams)."""
        cleaned = [clean(check_text(t, i), self.max_chars).text for i, t in enumerate(texts)]
        return self._blend(self._calibrate(self._logits(cleaned, batch_size)), cleaned)

    # -- internals ----------------------------------------------------------

    def _logits(self, cleaned: list[str], batch_size: int) -> np.ndarray:
        encoded = self.note_tokenizer.encode(cleaned)
        out = np.zeros((len(encoded), len(self.labels)), dtype=np.float32)
        order = sorted(range(len(encoded)), key=lambda k: sum(map(len, encoded[k].windows)))
        for chunk in _chunks(order, batch_size):
            out[chunk] = self._forward([encoded[k] for k in chunk], keep_states=False)[0]
        return out

    def _blend(self, encoder_probs: np.ndarray, texts: list[str]) -> np.ndarray:
        if self.ngram is None or self.ngram_weight == 0.0:
            return encoder_probs
        w = self.ngram_weight
        return (1.0 - w) * encoder_probs + w * self.ngram.predict_proba(texts)

    def _calibrate(self, logits: np.ndarray) -> np.ndarray:
        return apply_calibration(logits, self.config.calibration, self.labels)

    def _head(self, vectors: np.ndarray) -> np.ndarray:
        return vectors @ self.network.head_weight.T + self.network.head_bias

    def _decide(self, probs: np.ndarray) -> tuple[str, ...]:
        return tuple(lb for lb, p in zip(self.labels, probs, strict=True)
                     if p >= self.thresholds[lb])

    def _forward(self, notes: list[EncodedNote], keep_states: bool = True):
        """Note logits, plus per note the token states of each of its windows."""
        ids, mask, owner = pad_windows(notes, self.pad_id)
        states = [self.network.token_states(ids[a : a + _MAX_WINDOWS_PER_PASS],
                                            mask[a : a + _MAX_WINDOWS_PER_PASS])
                  for a in range(0, len(ids), _MAX_WINDOWS_PER_PASS)]
        states = states[0] if len(states) == 1 else np.concatenate(states)
        logits = self._head(mean_pool(states, mask, owner, len(notes)))
        per_note: list[list[np.ndarray]] = [[] for _ in notes]
        if keep_states:
            lengths = mask.sum(1)
            for row, note_index in enumerate(owner.tolist()):
                per_note[note_index].append(states[row, : lengths[row]])
        return logits, per_note

    def _neutral(self, text: str, language: str = "und") -> Classification:
        return Classification(text, language, (), dict.fromkeys(self.labels, 0.0), (),
                              dict(self.thresholds), supported=language in SUPPORTED_LANGUAGES)

    def _evidence(self, originals: list[str], cleaned: list[CleanText], languages: list[str],
                  notes: list[EncodedNote], states: list[list[np.ndarray]],
                  label_sets: list[tuple[str, ...]]) -> list[tuple[Evidence, ...]]:
        """Per note, the sentences that drove each of its labels; all sentences of a batch
        go through the head and the n-gram model together."""
        from salesnlp.prepare.sentences import sentence_spans

        owners, spans, vectors = [], [], []
        for row, labels in enumerate(label_sets):
            if not labels:
                continue
            note_spans = sentence_spans(cleaned[row].text, languages[row])
            note_vectors = sentence_vectors(note_spans, notes[row], states[row])
            if note_vectors is None:
                continue
            owners.extend([row] * len(note_spans))
            spans.extend(note_spans)
            vectors.append(note_vectors)
        out: list[tuple[Evidence, ...]] = [()] * len(label_sets)
        if not vectors:
            return out
        texts = [cleaned[row].text[a:b] for row, (a, b) in zip(owners, spans, strict=True)]
        probs = self._blend(self._calibrate(self._head(np.concatenate(vectors))), texts)
        by_note: dict[int, list[int]] = {}
        for s, row in enumerate(owners):
            by_note.setdefault(row, []).append(s)
        for row, sentences in by_note.items():
            evidence = []
            for label in label_sets[row]:
                k = self.labels.index(label)
                ranked = sorted(sentences, key=lambda s: -probs[s, k])
                chosen = [s for s in ranked if probs[s, k] >= self.thresholds[label]]
                for s in (chosen or ranked[:1])[:MAX_EVIDENCE_PER_LABEL]:
                    start, end = cleaned[row].span_in_original(*spans[s])
                    evidence.append(Evidence(label, originals[row][start:end], start, end,
                                             float(probs[s, k])))
            out[row] = tuple(evidence)
        return out


def mean_pool(states: np.ndarray, attention_mask: np.ndarray, window_to_note: np.ndarray,
              n_notes: int) -> np.ndarray:
    """Mean of all token states per note, over all of its windows."""
    mask = attention_mask[..., None].astype(states.dtype)
    sums = (states * mask).sum(1)
    note_sums = np.zeros((n_notes, states.shape[-1]), dtype=states.dtype)
    note_counts = np.zeros((n_notes, 1), dtype=states.dtype)
    np.add.at(note_sums, window_to_note, sums)
    np.add.at(note_counts, window_to_note, mask.sum(1))
    return note_sums / np.maximum(note_counts, 1.0)


def sentence_vectors(spans: list[tuple[int, int]], note: EncodedNote,
                     window_states: list[np.ndarray]) -> np.ndarray | None:
    """Per sentence: mean of its token states and its first window's special tokens."""
    if not spans:
        return None
    starts = np.array([s for s, _ in spans])
    ends = np.array([e for _, e in spans])
    sums = np.zeros((len(spans), window_states[0].shape[-1]), dtype=np.float32)
    counts = np.zeros(len(spans), dtype=np.float32)
    first_window = np.full(len(spans), -1)
    for w, (offsets, states) in enumerate(zip(note.offsets, window_states, strict=True)):
        positions = [p for p, off in enumerate(offsets) if off is not None and off[1] > off[0]]
        if not positions:
            continue
        token_starts = np.array([offsets[p][0] for p in positions])
        sentence = np.searchsorted(starts, token_starts, side="right") - 1
        inside = (sentence >= 0) & (token_starts < ends[np.maximum(sentence, 0)])
        sentence = sentence[inside]
        np.add.at(sums, sentence, states[np.array(positions)[inside]])
        np.add.at(counts, sentence, 1.0)
        seen = np.unique(sentence)
        first_window[seen[first_window[seen] < 0]] = w
    for s, w in enumerate(first_window.tolist()):
        if w < 0:
            continue
        specials = [p for p, off in enumerate(note.offsets[w]) if off is None]
        sums[s] += window_states[w][specials].sum(0)
        counts[s] += len(specials)
    if not (counts > 0).any():
        return None
    return sums / np.maximum(counts, 1.0)[:, None]


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


def _detect_language(text: str) -> str:
    try:
        from salesnlp.langid.detector import detect_language
    except ImportError:  # pragma: no cover - the detector ships with the package
        return "und"
    return detect_language(text).language


def _chunks(items: list[int], size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]
