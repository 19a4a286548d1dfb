"""The :class:`Classifier`: a loaded model that classifies notes.

One instance is safe to share between threads: the network is frozen and
only read, the tokenizer's settings never change after loading, and nothing
is cached per call.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import torch

from salesnlp.calibration import apply_calibration
from salesnlp.modeling import EncodedNote, NoteClassifierModel, NoteTokenizer, collate_windows
from salesnlp.normalise import MAX_CHARS, CleanText, check_text, clean
from salesnlp.results import Classification, Evidence
from salesnlp.serialization import ModelConfig, read_model_dir

logger = logging.getLogger(__name__)

DEFAULT_MODEL_NAME = "salesnlp-e5-small-v1"
MAX_EVIDENCE_PER_LABEL = 3
# Windows in one forward pass; bounds memory for very long notes.
_MAX_WINDOWS_PER_PASS = 64


def default_model_path() -> Path:
    """``$SALESNLP_MODEL`` if set, else the model shipped with the library (``models/``)."""
    import os

    if os.environ.get("SALESNLP_MODEL"):
        return Path(os.environ["SALESNLP_MODEL"]).expanduser()
    here = Path(__file__).resolve()
    for candidate in (here.parents[2] / "models" / DEFAULT_MODEL_NAME,
                      here.parent / "models" / DEFAULT_MODEL_NAME):
        if candidate.is_dir():
            return candidate
    return here.parents[2] / "models" / DEFAULT_MODEL_NAME


class Classifier:
    """Classify notes with a fine-tuned model.

    Use :meth:`load` (or :func:`salesnlp.load`) rather than the constructor.

    Attributes:
        labels: the label ids, in output order.
        thresholds: per-label decision threshold (tuned on the dev split).
        config: the model's :class:`~salesnlp.serialization.ModelConfig`.
    """

    def __init__(self, model: NoteClassifierModel, note_tokenizer: NoteTokenizer,
                 config: ModelConfig, pad_id: int, path: Path | None = None,
                 max_chars: int = MAX_CHARS, precision: str = "fp32") -> None:
        self.model = model
        self.note_tokenizer = note_tokenizer
        self.config = config
        self.labels = tuple(config.labels)
        self.thresholds = dict(config.thresholds)
        self.pad_id = pad_id
        self.path = path
        self.max_chars = max_chars
        self.precision = precision
        self.ngram = None  # optional CharNgramModel blended into the encoder's probabilities
        self.ngram_weight = 0.0

    @classmethod
    def load(cls, path: str | Path | None = None, precision: str = "auto") -> Classifier:
        """Load a model directory (default: the shipped model).

        Args:
            path: the model directory.
            precision: ``"auto"`` (default): the int8 ONNX Runtime fast path where
                ``onnxruntime`` is installed, else fp32; ``"fp32"``: the exact PyTorch
                model; ``"int8"``: the fast path or an error (see :mod:`salesnlp.fastpath`).

        Raises:
            ModelLoadError: the directory is missing, incomplete or corrupt.
        """
        from salesnlp.fastpath import check_precision, load_network

        check_precision(precision)
        path = Path(path) if path is not None else default_model_path()
        config, tensors = read_model_dir(path)
        model, hf_tokenizer, used = load_network(config, tensors, path, precision)
        note_tokenizer = NoteTokenizer.from_pretrained(hf_tokenizer, config.max_length,
                                                       config.prefix)
        classifier = cls(model, note_tokenizer, config, hf_tokenizer.pad_token_id, path,
                         precision=used)
        classifier.ngram, classifier.ngram_weight = load_ngram(path, config, tensors)
        return classifier

    def __repr__(self) -> str:
        return (f"Classifier(path={str(self.path)!r}, labels={self.labels}, "
                f"precision={self.precision!r})")

    # -- public API ---------------------------------------------------------

    def classify(self, text: str) -> Classification:
        """Classify one note.

        Empty or whitespace-only text gives a neutral result (language ``"und"``,
        no labels, all scores 0.0). Text longer than ``max_chars`` (200,000) is
        cut there and flagged ``truncated``; anything shorter is read whole,
        in 512-token windows.

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
        texts = [check_text(t) for t in texts]
        results: list[Classification | None] = [None] * len(texts)
        cleaned = [clean(t, self.max_chars) for t in texts]
        todo = [i for i, c in enumerate(cleaned) if c.text.strip()]
        for i in set(range(len(texts))) - set(todo):
            results[i] = self._neutral(texts[i])
        encoded = self.note_tokenizer.encode([cleaned[i].text for i in todo]) if todo else []
        order = sorted(range(len(todo)), key=lambda k: sum(map(len, encoded[k].windows)))
        bar = _progress(len(todo), progress)
        for chunk in _chunks(order, batch_size):
            notes = [encoded[k] for k in chunk]
            logits, states = self._forward(notes)
            probs = self._blend(apply_calibration(logits, self.config.calibration, self.labels),
                                [cleaned[todo[k]].text for k in chunk])
            for row, k in enumerate(chunk):
                i = todo[k]
                results[i] = self._result(texts[i], cleaned[i], notes[row], probs[row],
                                          states[row])
            bar.update(len(chunk))
        bar.close()
        return results  # type: ignore[return-value]

    def predict_logits(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Raw (uncalibrated) logits ``[n, n_labels]``; used by training and evaluation."""
        cleaned = [clean(check_text(t), self.max_chars).text for t in texts]
        encoded = self.note_tokenizer.encode(cleaned)
        return predict_logits(self.model, encoded, self.pad_id, batch_size)

    def predict_proba(self, texts: Sequence[str], batch_size: int = 32) -> np.ndarray:
        """Final calibrated probabilities ``[n, n_labels]`` (encoder blended with n-grams)."""
        cleaned = [clean(check_text(t), self.max_chars).text for t in texts]
        logits = predict_logits(self.model, self.note_tokenizer.encode(cleaned), self.pad_id,
                                batch_size)
        return self._blend(apply_calibration(logits, self.config.calibration, self.labels),
                           cleaned)

    # -- internals ----------------------------------------------------------

    def _blend(self, encoder_probs: np.ndarray, texts: list[str]) -> np.ndarray:
        if self.ngram is None or self.ngram_weight == 0.0:
            return encoder_probs
        w = self.ngram_weight
        return (1.0 - w) * encoder_probs + w * self.ngram.predict_proba(texts)

    def _forward(self, notes: list[EncodedNote]):
        """Note logits, plus per note the token states of each of its windows."""
        with torch.inference_mode():
            ids, mask, owner = collate_windows(notes, self.pad_id)
            states = torch.cat([
                self.model.token_states(ids[a : a + _MAX_WINDOWS_PER_PASS],
                                        mask[a : a + _MAX_WINDOWS_PER_PASS])
                for a in range(0, len(ids), _MAX_WINDOWS_PER_PASS)
            ])
            from salesnlp.modeling import pool_notes

            pooled = pool_notes(states, mask, owner, len(notes))
            logits = self.model.head(pooled).numpy()
        per_note = [[] for _ in notes]
        for row, note_index in enumerate(owner.tolist()):
            per_note[note_index].append(states[row, : int(mask[row].sum())])
        return logits, per_note

    def _neutral(self, text: str) -> Classification:
        return Classification(text, "und", (), dict.fromkeys(self.labels, 0.0), (),
                              dict(self.thresholds))

    def _result(self, text: str, cleaned: CleanText, note: EncodedNote, probs: np.ndarray,
                window_states: list[torch.Tensor]) -> Classification:
        language = _detect_language(cleaned.text)
        scores = {label: float(p) for label, p in zip(self.labels, probs, strict=True)}
        labels = tuple(lb for lb in self.labels if scores[lb] >= self.thresholds[lb])
        evidence = self._evidence(cleaned, language, note, window_states, labels) if labels else ()
        return Classification(text, language, labels, scores, evidence, dict(self.thresholds),
                              cleaned.truncated)

    def _evidence(self, cleaned: CleanText, language: str, note: EncodedNote,
                  window_states: list[torch.Tensor], labels: tuple[str, ...]
                  ) -> tuple[Evidence, ...]:
        from salesnlp.segment import sentence_spans

        spans = sentence_spans(cleaned.text, language)
        if not spans:
            return ()
        vectors = _sentence_vectors(spans, note, window_states)
        if vectors is None:
            return ()
        with torch.inference_mode():
            logits = self.model.head(vectors).numpy()
        probs = self._blend(apply_calibration(logits, self.config.calibration, self.labels),
                            [cleaned.text[a:b] for a, b in spans])
        evidence = []
        for label in labels:
            k = self.labels.index(label)
            ranked = sorted(range(len(spans)), key=lambda s: -probs[s, k])
            chosen = [s for s in ranked if probs[s, k] >= self.thresholds[label]]
            for s in (chosen or ranked[:1])[:MAX_EVIDENCE_PER_LABEL]:
                start, end = cleaned.span_in_original(*spans[s])
                evidence.append(Evidence(label, cleaned.text[spans[s][0]:spans[s][1]], start, end,
                                         float(probs[s, k])))
        return tuple(evidence)


def _sentence_vectors(spans: list[tuple[int, int]], note: EncodedNote,
                      window_states: list[torch.Tensor]) -> torch.Tensor | None:
    """Per sentence: mean of its token states and its first window's special tokens."""
    hidden = window_states[0].shape[-1]
    sums = torch.zeros(len(spans), hidden)
    counts = torch.zeros(len(spans), 1)
    first_window = [-1] * len(spans)
    starts = [s for s, _ in spans]
    import bisect

    for w, (offsets, states) in enumerate(zip(note.offsets, window_states, strict=True)):
        for pos, off in enumerate(offsets):
            if off is None or off[1] <= off[0]:
                continue
            s = bisect.bisect_right(starts, off[0]) - 1
            if s < 0 or off[0] >= spans[s][1]:
                continue
            sums[s] += states[pos]
            counts[s] += 1
            if first_window[s] < 0:
                first_window[s] = w
    for s, w in enumerate(first_window):
        if w < 0:
            continue
        specials = [pos for pos, off in enumerate(note.offsets[w]) if off is None]
        sums[s] += window_states[w][specials].sum(0)
        counts[s] += len(specials)
    if not (counts > 0).any():
        return None
    return sums / counts.clamp(min=1.0)


def load_ngram(path: Path, config: ModelConfig, tensors: dict):
    """The model's character n-gram component and its blend weight, if it has one."""
    weight = float(config.ensemble.get("ngram_weight", 0.0))
    if weight == 0.0:
        return None, 0.0
    import json

    from salesnlp.errors import ModelLoadError
    from salesnlp.ngram import CharNgramModel

    try:
        facts = json.loads((path / "ngram.json").read_text(encoding="utf-8"))
        return CharNgramModel.from_state(facts, tensors), weight
    except (OSError, ValueError, KeyError) as exc:
        raise ModelLoadError(f"{path}: the n-gram component is missing or corrupt ({exc})",
                             hint="retrain with `salesnlp train`, or restore the directory "
                                  "from git (`git checkout models/`)") from None


def predict_logits(model: NoteClassifierModel, encoded: list[EncodedNote], pad_id: int,
                   batch_size: int = 32) -> np.ndarray:
    """Logits for encoded notes, processed in length-sorted batches."""
    out = np.zeros((len(encoded), model.head.out_features), dtype=np.float32)
    order = sorted(range(len(encoded)), key=lambda k: sum(map(len, encoded[k].windows)))
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        for chunk in _chunks(order, batch_size):
            ids, mask, owner = collate_windows([encoded[k] for k in chunk], pad_id)
            out[chunk] = model(ids, mask, owner, len(chunk)).numpy()
    model.train(was_training)
    return out


def _detect_language(text: str) -> str:
    try:
        from salesnlp.language import detect_language
    except ImportError:  # pragma: no cover - the detector ships with the package
        return "und"
    return detect_language(text).language


def _chunks(items: list[int], size: int):
    for start in range(0, len(items), size):
        yield items[start : start + size]


class _NoBar:
    def update(self, n: int) -> None:
        pass

    def close(self) -> None:
        pass


def _progress(total: int, enabled: bool):
    if not enabled:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, unit="note", desc="classify")
