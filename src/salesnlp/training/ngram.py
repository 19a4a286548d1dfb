"""Fitting the character n-gram component (served by :mod:`salesnlp.inference.ngram`)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from salesnlp.inference.ngram import VECTORIZER_PARAMS, CharNgramFeatures, CharNgramModel


def fit_char_ngrams(texts: Sequence[str], y: np.ndarray, c: float = 10.0) -> CharNgramModel:
    """Fit TF-IDF character n-grams and one logistic regression per label (one-vs-rest) on
    training texts and their 0/1 label matrix. Calibration stays the identity until
    :func:`calibrate_char_ngrams` is called on dev data."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.multiclass import OneVsRestClassifier

    params = dict(VECTORIZER_PARAMS, ngram_range=tuple(VECTORIZER_PARAMS["ngram_range"]))
    vectorizer = TfidfVectorizer(**params)
    x = vectorizer.fit_transform(texts)
    ovr = OneVsRestClassifier(LogisticRegression(C=c, max_iter=3000)).fit(x, y)
    coef = np.stack([est.coef_[0] for est in ovr.estimators_])
    intercept = np.array([est.intercept_[0] for est in ovr.estimators_])
    vocabulary = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.get)
    features = CharNgramFeatures(vocabulary, vectorizer.idf_, params["ngram_range"])
    n = y.shape[1]
    return CharNgramModel(features, coef.astype(np.float32), intercept.astype(np.float32),
                          np.ones(n), np.zeros(n))


def calibrate_char_ngrams(model: CharNgramModel, texts: Sequence[str], y: np.ndarray) -> None:
    """Platt-scale each label's n-gram logit on held-out (dev) data, in place."""
    from salesnlp.training.calibration import fit_platt

    labels = [str(k) for k in range(y.shape[1])]
    platt = fit_platt(model.logits(texts), y, labels)
    model.slope = np.array([platt["slope"][k] for k in labels])
    model.offset = np.array([platt["intercept"][k] for k in labels])


def choose_blend_weight(probs_for: Callable[[float], np.ndarray], y_dev: np.ndarray,
                        weight_max: float) -> tuple[float, dict[str, float]]:
    """The n-gram blend weight (0, 0.1, … ``weight_max``) with the best dev macro-F1, each
    weight at its own dev-tuned thresholds (ties: the smaller weight).

    Args:
        probs_for: the dev probabilities at a given weight.

    Returns:
        ``(weight, {weight: dev macro-F1})``.
    """
    from salesnlp.evaluation.metrics import multilabel_report
    from salesnlp.inference.calibration import decide
    from salesnlp.labels import LABELS
    from salesnlp.training.calibration import tune_thresholds

    scores = {}
    for weight in np.round(np.arange(0.0, weight_max + 1e-9, 0.1), 2):
        probs = probs_for(float(weight))
        pred = decide(probs, tune_thresholds(probs, y_dev, LABELS), LABELS)
        scores[f"{weight:.1f}"] = round(multilabel_report(y_dev, pred)["macro_f1"], 4)
    best = float(max(scores, key=lambda w: (scores[w], -float(w))))
    return best, scores
