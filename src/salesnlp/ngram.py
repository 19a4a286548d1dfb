"""The character n-gram component of the classifier.

A TF-IDF of character 1–5-grams within word boundaries feeds one logistic
regression per label. It catches spelling-level cues the encoder's subword
pieces blur (typos, missing diacritics, shorthand) and is blended with the
fine-tuned encoder's calibrated probabilities, with a weight chosen on dev.
It is stored as plain data (a JSON vocabulary, safetensors arrays), never a
pickle, and rebuilt into scikit-learn objects at load time.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

VECTORIZER_PARAMS = {"analyzer": "char_wb", "ngram_range": [1, 5], "min_df": 2,
                     "sublinear_tf": True, "lowercase": True, "max_features": 150_000}


class CharNgramModel:
    """TF-IDF character n-grams + one-vs-rest logistic regression, Platt-calibrated."""

    def __init__(self, vectorizer, coef: np.ndarray, intercept: np.ndarray,
                 slope: np.ndarray, offset: np.ndarray) -> None:
        self.vectorizer = vectorizer
        self.coef = coef            # [n_labels, n_features]
        self.intercept = intercept  # [n_labels]
        self.slope = slope          # Platt slope per label (fit on dev)
        self.offset = offset        # Platt intercept per label

    @staticmethod
    def _vectorizer(vocabulary: list[str] | None = None):
        from sklearn.feature_extraction.text import TfidfVectorizer

        params = dict(VECTORIZER_PARAMS, ngram_range=tuple(VECTORIZER_PARAMS["ngram_range"]))
        if vocabulary is not None:
            params.update(vocabulary={g: i for i, g in enumerate(vocabulary)}, min_df=1,
                          max_features=None)
        return TfidfVectorizer(**params)

    @classmethod
    def fit(cls, texts: Sequence[str], y: np.ndarray, c: float = 10.0) -> CharNgramModel:
        """Fit on training texts and their 0/1 label matrix; calibration is identity until
        :meth:`calibrate` is called on dev data."""
        from sklearn.linear_model import LogisticRegression

        vectorizer = cls._vectorizer().fit(texts)
        x = vectorizer.transform(texts)
        coef, intercept = [], []
        for k in range(y.shape[1]):
            lr = LogisticRegression(C=c, max_iter=3000).fit(x, y[:, k])
            coef.append(lr.coef_[0])
            intercept.append(lr.intercept_[0])
        n = y.shape[1]
        return cls(vectorizer, np.array(coef, dtype=np.float32),
                   np.array(intercept, dtype=np.float32), np.ones(n), np.zeros(n))

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        x = self.vectorizer.transform(list(texts))
        return np.asarray(x @ self.coef.T) + self.intercept

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        from salesnlp.calibration import sigmoid

        return sigmoid(self.logits(texts) * self.slope + self.offset)

    def calibrate(self, texts: Sequence[str], y: np.ndarray) -> None:
        """Platt-scale each label's logit on held-out (dev) data."""
        from salesnlp.calibration import fit_platt

        labels = [str(k) for k in range(y.shape[1])]
        platt = fit_platt(self.logits(texts), y, labels)
        self.slope = np.array([platt["slope"][k] for k in labels])
        self.offset = np.array([platt["intercept"][k] for k in labels])

    # -- serialisation ------------------------------------------------------------

    def to_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """JSON-able facts (vocabulary in feature order) and arrays for safetensors."""
        vocabulary = sorted(self.vectorizer.vocabulary_, key=self.vectorizer.vocabulary_.get)
        facts = {"params": VECTORIZER_PARAMS, "vocabulary": vocabulary}
        arrays = {"ngram.idf": self.vectorizer.idf_.astype(np.float32),
                  "ngram.coef": self.coef.astype(np.float32),
                  "ngram.intercept": self.intercept.astype(np.float32),
                  "ngram.platt_slope": np.asarray(self.slope, dtype=np.float32),
                  "ngram.platt_offset": np.asarray(self.offset, dtype=np.float32)}
        return facts, arrays

    @classmethod
    def from_state(cls, facts: dict, arrays: dict) -> CharNgramModel:
        def array(name: str) -> np.ndarray:
            value = arrays[name]
            return value.numpy() if hasattr(value, "numpy") else np.asarray(value)

        vocabulary = facts["vocabulary"]
        idf = array("ngram.idf")
        coef = array("ngram.coef")
        if len(vocabulary) != len(idf) or coef.shape[1] != len(idf):
            raise ValueError(f"n-gram vocabulary ({len(vocabulary)}) and arrays ({len(idf)}, "
                             f"{coef.shape}) disagree")
        vectorizer = cls._vectorizer(vocabulary)
        vectorizer.idf_ = idf.astype(np.float64)
        return cls(vectorizer, coef, array("ngram.intercept"), array("ngram.platt_slope"),
                   array("ngram.platt_offset"))
