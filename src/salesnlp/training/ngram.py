"""Fitting the character n-gram component (served by :mod:`salesnlp.inference.ngram`)."""

from __future__ import annotations

from collections.abc import Sequence

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
