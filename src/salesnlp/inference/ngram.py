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

import re
from collections.abc import Sequence

import numpy as np

from salesnlp.inference.calibration import sigmoid

VECTORIZER_PARAMS = {"analyzer": "char_wb", "ngram_range": [1, 5], "min_df": 2,
                     "sublinear_tf": True, "lowercase": True, "max_features": 150_000}


class CharNgramFeatures:
    """scikit-learn's ``TfidfVectorizer(analyzer="char_wb", lowercase=True,
    sublinear_tf=True, norm="l2")`` transform for a fixed vocabulary, as sparse rows.

    Thread-safe: the vocabulary never changes, and each call reads what it needs of the
    word cache into its own dict first, so another thread clearing the cache is harmless.
    """

    _white_spaces = re.compile(r"\s\s+")
    cache_words = 1 << 14

    def __init__(self, vocabulary: Sequence[str], idf: np.ndarray,
                 ngram_range: tuple[int, int] = (1, 5)) -> None:
        self._index = _GramIndex(vocabulary)
        self.idf = np.asarray(idf, dtype=np.float64)
        self.min_n, self.max_n = ngram_range
        # A note's words recur in its sentences and across notes, so each word's feature
        # ids are looked up once and kept (the cache starts over when full: 16k words,
        # about 3 MB). A note's new words are looked up together, in one numpy call.
        # Measured on 600 test notes: 0.09 ms a note once warm (0.78 without a cache).
        self._word_ids: dict[str, np.ndarray] = {}

    @property
    def vocabulary(self) -> list[str]:
        """The n-grams in feature order."""
        return self._index.grams()

    def __len__(self) -> int:
        return len(self._index)

    def ngrams(self, text: str) -> list[str]:
        """The n-grams of ``text`` exactly as scikit-learn's ``_char_wb_ngrams``."""
        return [gram for word in self._words(text) for gram in self._word_ngrams(word)]

    def row(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """Feature ids and their L2-normalised TF-IDF values for one text."""
        words = self._words(text)
        found = np.concatenate(self._ids_of_words(words)) if words else np.zeros(0, np.int32)
        if not len(found):
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        ids, tf = np.unique(found, return_counts=True)
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

    def _ids_of_words(self, words: list[str]) -> list[np.ndarray]:
        cache = self._word_ids
        known = {word: cache.get(word) for word in words}
        new = [word for word, ids in known.items() if ids is None]
        if new:
            grams = [self._word_ngrams(word) for word in new]
            ids = self._index.ids([gram for word_grams in grams for gram in word_grams])
            parts = np.split(ids, np.cumsum([len(g) for g in grams[:-1]]))
            if len(cache) + len(new) > self.cache_words:
                cache.clear()
            for word, part in zip(new, parts, strict=True):
                known[word] = cache[word] = part[part >= 0]
        return [known[word] for word in words]


class _GramIndex:
    """Feature ids of n-gram strings, held compactly.

    A dict of 150,000 n-gram strings takes about 24 MB of a serving process; here they
    are one fixed-width numpy array found through a sorted array of their hashes (about
    4 MB). A hash match is confirmed against the stored n-gram, and n-grams whose hashes
    collide go to a small dict, so lookups are exact. Python's ``hash`` is salted per
    process, which is fine: the hashes never leave the process. (numpy's str arrays drop
    a trailing NUL; n-grams hold none, as the texts they come from are cleaned first,
    :func:`salesnlp.prepare.text.clean`.)
    """

    hash = staticmethod(hash)  # a test swaps in a weak one to make collisions

    def __init__(self, grams: Sequence[str]) -> None:
        grams = list(grams)
        self._grams = np.array(grams, dtype=f"<U{max(map(len, grams), default=1)}")
        hashes = np.fromiter(map(self.hash, grams), dtype=np.int64, count=len(grams))
        order = np.argsort(hashes, kind="stable")
        self._hashes = hashes[order]
        self._ids = order.astype(np.int32)
        shared = np.zeros(len(grams), dtype=bool)
        shared[1:] = self._hashes[1:] == self._hashes[:-1]
        shared[:-1] |= shared[1:]
        self._collided = {grams[i]: int(i) for i in self._ids[shared]}

    def __len__(self) -> int:
        return len(self._grams)

    def grams(self) -> list[str]:
        return self._grams.tolist()

    def ids(self, grams: Sequence[str]) -> np.ndarray:
        """The feature id of each of ``grams``, -1 where it is not in the vocabulary."""
        if not len(self) or not grams:
            return np.full(len(grams), -1, dtype=np.int32)
        hashes = np.fromiter(map(self.hash, grams), dtype=np.int64, count=len(grams))
        # sorted queries search faster (each starts from the last one's place): 80 vs 120 µs
        # for a note's 1,200 n-grams
        order = np.argsort(hashes)
        where = np.empty(len(grams), dtype=np.intp)
        where[order] = np.searchsorted(self._hashes, hashes[order])
        np.minimum(where, len(self) - 1, out=where)
        ids = self._ids[where]
        same = (self._hashes[where] == hashes) & (self._grams[ids] == np.array(grams))
        ids = np.where(same, ids, -1).astype(np.int32)
        for i in np.flatnonzero(~same) if self._collided else ():
            ids[i] = self._collided.get(grams[i], -1)
        return ids


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
