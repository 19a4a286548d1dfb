"""The character n-gram component of the classifier.

A TF-IDF of character 1–5-grams within word boundaries feeds one logistic
regression per label. It catches spelling-level cues the encoder's subword
pieces blur (typos, missing diacritics, shorthand) and is blended with the
fine-tuned encoder's calibrated probabilities, with a weight chosen on dev.
It is stored as plain data (a JSON vocabulary, safetensors arrays), never a
pickle. scikit-learn fits it (:mod:`salesnlp.training.ngram`); predicting uses
:class:`CharNgramFeatures`, a plain-Python copy of scikit-learn's ``char_wb`` TF-IDF
transform (equal to it within float rounding, see ``tests/test_ngram.py``), so serving a model does
not import scikit-learn and SciPy (about 3 s and 100 MB).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence

import numpy as np

from salesnlp.inference.calibration import sigmoid

VECTORIZER_PARAMS = {"analyzer": "char_wb", "ngram_range": [1, 5], "min_df": 2,
                     "sublinear_tf": True, "lowercase": True, "max_features": 150_000}


class CharNgramFeatures:
    """scikit-learn's ``TfidfVectorizer(analyzer="char_wb", lowercase=True,
    sublinear_tf=True, norm="l2")`` transform for a fixed vocabulary, as sparse rows.

    Thread-safe: nothing changes after construction.
    """

    _white_spaces = re.compile(r"\s\s+")

    def __init__(self, vocabulary: Sequence[str], idf: np.ndarray,
                 ngram_range: tuple[int, int] = (1, 5)) -> None:
        self.vocabulary = list(vocabulary)
        self.index = {gram: i for i, gram in enumerate(self.vocabulary)}
        self.idf = np.asarray(idf, dtype=np.float64)
        self.min_n, self.max_n = ngram_range
        # A note's words recur in its sentences and across notes, so each word's feature
        # ids are looked up once (lru_cache is thread-safe; 16k words take about 6 MB).
        # Measured: 0.13 instead of 0.78 ms per test-split note once warm, 0.48 cold.
        self._word_ids = functools.lru_cache(maxsize=1 << 14)(self._ids_of_word)

    def ngrams(self, text: str) -> list[str]:
        """The n-grams of ``text`` exactly as scikit-learn's ``_char_wb_ngrams``."""
        return [gram for word in self._words(text) for gram in self._word_ngrams(word)]

    def row(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Feature ids and their L2-normalised TF-IDF values for one text."""
        found = [k for word in self._words(text) for k in self._word_ids(word)]
        if not found:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        ids, tf = np.unique(np.asarray(found, dtype=np.int64), return_counts=True)
        values = (np.log(tf) + 1.0) * self.idf[ids]
        return ids, values / np.sqrt(values @ values)

    def _words(self, text: str) -> list[str]:
        return self._white_spaces.sub(" ", text.lower()).split()

    def _word_ngrams(self, word: str) -> list[str]:
        word = f" {word} "
        length = len(word)
        grams: list[str] = []
        for n in range(self.min_n, self.max_n + 1):
            if n >= length:  # scikit-learn counts a short word once, then stops
                grams.append(word)
                break
            grams.extend(word[i : i + n] for i in range(length - n + 1))
        return grams

    def _ids_of_word(self, word: str) -> tuple[int, ...]:
        index = self.index
        return tuple(k for k in map(index.get, self._word_ngrams(word)) if k is not None)


class CharNgramModel:
    """TF-IDF character n-grams + one-vs-rest logistic regression, Platt-calibrated."""

    def __init__(self, features: CharNgramFeatures, coef: np.ndarray, intercept: np.ndarray,
                 slope: np.ndarray, offset: np.ndarray) -> None:
        self.features = features
        self.coef = coef            # [n_labels, n_features]
        self.intercept = intercept  # [n_labels]
        self.slope = slope          # Platt slope per label (fit on dev)
        self.offset = offset        # Platt intercept per label

    def logits(self, texts: Sequence[str]) -> np.ndarray:
        out = np.empty((len(texts), len(self.intercept)), dtype=np.float64)
        for i, text in enumerate(texts):
            ids, values = self.features.row(text)
            out[i] = self.coef[:, ids] @ values
        return out + self.intercept

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        return sigmoid(self.logits(texts) * self.slope + self.offset)

    # -- serialisation ------------------------------------------------------------

    def to_state(self) -> tuple[dict, dict[str, np.ndarray]]:
        """JSON-able facts (vocabulary in feature order) and arrays for safetensors."""
        facts = {"params": VECTORIZER_PARAMS, "vocabulary": self.features.vocabulary}
        arrays = {"ngram.idf": self.features.idf.astype(np.float32),
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
        params = facts.get("params", VECTORIZER_PARAMS)
        if params.get("analyzer") != "char_wb" or not params.get("sublinear_tf", False):
            raise ValueError(f"unsupported n-gram settings {params}")
        features = CharNgramFeatures(vocabulary, idf, tuple(params["ngram_range"]))
        return cls(features, coef, array("ngram.intercept"), array("ngram.platt_slope"),
                   array("ngram.platt_offset"))
