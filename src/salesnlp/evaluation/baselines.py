"""Baselines a practitioner would try instead of fine-tuning.

Both are one-vs-rest logistic regressions with per-label thresholds tuned on
dev, exactly like the fine-tuned model, so the comparison is fair:

- ``tfidf``: TF-IDF of character 1–5-grams within word boundaries;
- ``frozen_e5``: frozen, mean-pooled, L2-normalised e5 embeddings (the base
  encoder with no fine-tuning).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from salesnlp.corpus.notes import Note
from salesnlp.evaluation.metrics import label_matrix
from salesnlp.labels import LABELS
from salesnlp.training.calibration import tune_thresholds

BASELINES = ("tfidf", "frozen_e5")


def _fit_predict(features: Callable[[Sequence[str]], np.ndarray], train: Sequence[Note],
                 dev: Sequence[Note], test: Sequence[Note], c: float) -> tuple[np.ndarray, ...]:
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    from salesnlp.inference.calibration import decide

    model = OneVsRestClassifier(LogisticRegression(C=c, max_iter=2000, class_weight="balanced"))
    model.fit(features([n.text for n in train]), label_matrix([n.labels for n in train]))
    dev_probs = model.predict_proba(features([n.text for n in dev]))
    test_probs = model.predict_proba(features([n.text for n in test]))
    thresholds = tune_thresholds(dev_probs, label_matrix([n.labels for n in dev]), LABELS)
    return decide(test_probs, thresholds, LABELS), test_probs


def tfidf_baseline(train: Sequence[Note], dev: Sequence[Note], test: Sequence[Note]):
    """Predictions and probabilities on ``test`` of the character n-gram baseline."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vectorizer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 5), min_df=2,
                                 sublinear_tf=True, lowercase=True)
    vectorizer.fit([n.text for n in train])
    return _fit_predict(vectorizer.transform, train, dev, test, c=10.0)


def embed_frozen(texts: Sequence[str], base_model: str | None = None,
                 batch_size: int = 32) -> np.ndarray:
    """Mean-pooled, L2-normalised embeddings of the base encoder (``passage: `` prefix)."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    from salesnlp.encoder.base import resolve_base
    from salesnlp.encoder.tokenization import NoteTokenizer, length_sorted_chunks
    from salesnlp.inference.torch_model import collate_windows, pool_notes

    path = resolve_base(base_model, verify=True)
    encoder = AutoModel.from_pretrained(path).eval()
    tokenizer = AutoTokenizer.from_pretrained(path)
    note_tokenizer = NoteTokenizer.from_pretrained(tokenizer)
    encoded = note_tokenizer.encode(list(texts))
    out = np.zeros((len(texts), encoder.config.hidden_size), dtype=np.float32)
    with torch.inference_mode():
        for chunk in length_sorted_chunks(encoded, batch_size):
            ids, mask, owner = collate_windows([encoded[i] for i in chunk], tokenizer.pad_token_id)
            states = encoder(input_ids=ids, attention_mask=mask).last_hidden_state
            out[chunk] = torch.nn.functional.normalize(
                pool_notes(states, mask, owner, len(chunk)), dim=-1).numpy()
    return out


def frozen_e5_baseline(train: Sequence[Note], dev: Sequence[Note], test: Sequence[Note],
                       embeddings: dict[str, np.ndarray] | None = None):
    """Predictions and probabilities on ``test`` of logistic regression on frozen e5.

    ``embeddings`` (note id -> vector) may be passed to avoid re-encoding.
    """
    if embeddings is None:
        notes = [*train, *dev, *test]
        vectors = embed_frozen([n.text for n in notes])
        embeddings = {n.id: v for n, v in zip(notes, vectors, strict=True)}
    by_text = {}

    def features(texts: Sequence[str]) -> np.ndarray:
        return np.stack([by_text[t] for t in texts])

    for n in [*train, *dev, *test]:
        by_text[n.text] = embeddings[n.id]
    return _fit_predict(features, train, dev, test, c=10.0)
