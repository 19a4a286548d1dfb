"""The naive Bayes model of the language detector: uint8-quantised weights over character
n-gram and word features, shipped as ``data/langid.safetensors`` + ``data/langid.json``."""

from __future__ import annotations

import json
import math
from importlib import resources
from typing import Any

import numpy as np

from salesnlp.labels import SUPPORTED_LANGUAGES
from salesnlp.langid.features import CYRILLIC, features

_CACHE_SIZE = 100_000
_CYRILLIC_LEADS = (b"\xd0", b"\xd1", b"\xd2", b"\xd3")

# --------------------------------------------------------------------------------------------


class NaiveBayesModel:
    """Naive Bayes weights (uint8-quantised) + vocabulary + calibration settings."""

    def __init__(self, meta: dict[str, Any] | None = None, tensors: dict | None = None) -> None:
        if meta is None or tensors is None:
            from safetensors.numpy import load_file

            data = resources.files("salesnlp") / "data"
            with resources.as_file(data / "langid.safetensors") as path:
                tensors = load_file(str(path))
            meta = json.loads((data / "langid.json").read_text(encoding="utf-8"))
        self.languages: list[str] = list(meta["languages"])
        self.index: dict[str, int] = {f: i for i, f in enumerate(meta["vocab"])}
        self.step = float(meta["step"])
        self.temperature = float(meta["temperature"])
        self.min_confidence = float(meta["min_confidence"])
        self.weights: np.ndarray = tensors["weights"]  # (vocab, languages) uint8
        self.bias: np.ndarray = tensors["bias"].astype(np.float64)  # (languages,)
        self.supported_mask = np.array([lang in SUPPORTED_LANGUAGES for lang in self.languages])
        # Cyrillic marker letters: a Cyrillic text of n letters without any of a language's
        # markers (Ukrainian і ї є ґ, Russian ы э ъ ё ...) gets n * log(1 - f) for that language.
        self.absence = [
            (self.languages.index(lang), frozenset(chars), float(log1m))
            for lang, (chars, log1m) in sorted(meta.get("absence", {}).items())
            if lang in self.languages
        ]
        self.meta = meta
        # Per word: its feature ids, for ids() / posterior() (the training script uses them).
        self.cache: dict[str, list[int]] = {}
        # Per word, for detection: its feature rows summed, then its number of known features,
        # as int32 bytes (see word_sums).
        self.sums: dict[str, bytes] = {}
        self._width = len(self.languages) + 1
        self._no_feature = bytes(4 * self._width)

    def word_ids(self, word: str) -> list[int]:
        """Vocabulary indices of one word's features (cached per word)."""
        ids = self.cache.get(word)
        if ids is None:
            get = self.index.get
            ids = [i for i in map(get, features([word])) if i is not None]
            if len(self.cache) >= _CACHE_SIZE:
                self.cache.clear()  # bounded memory; results do not depend on the cache
            self.cache[word] = ids
        return ids

    def ids(self, word_list: list[str]) -> list[int]:
        """Vocabulary indices of the features of all words."""
        out: list[int] = []
        cache = self.cache
        for w in word_list:
            ids = cache.get(w)
            out.extend(self.word_ids(w) if ids is None else ids)
        return out

    def word_sums(self, word_list: list[str]) -> list[bytes]:
        """Per word: its weight rows summed and its number of known features (int32 bytes).

        Cached per word (bounded); the words that are not cached yet are computed together
        with one gather and one ``np.add.reduceat``. A text's evidence is the sum of its
        words' vectors: exactly the integer sum over all its feature rows.
        """
        cache = self.sums
        found = list(map(cache.get, word_list))
        if None not in found:
            return found
        new: dict[str, bytes] = {}
        with_ids: list[str] = []
        flat: list[int] = []
        starts: list[int] = []
        counts: list[int] = []
        index = self.index.get
        for w in dict.fromkeys(w for w, f in zip(word_list, found, strict=True) if f is None):
            ids = [i for i in map(index, features([w])) if i is not None]
            if ids:
                with_ids.append(w)
                starts.append(len(flat))
                counts.append(len(ids))
                flat.extend(ids)
            else:
                new[w] = self._no_feature
        if with_ids:
            rows = np.take(self.weights, np.array(flat, dtype=np.intp), axis=0)
            vecs = np.empty((len(with_ids), self._width), dtype=np.int32)
            np.add.reduceat(
                rows, np.array(starts, dtype=np.intp), axis=0, dtype=np.int32, out=vecs[:, :-1]
            )
            vecs[:, -1] = counts
            buf = vecs.tobytes()
            size = 4 * self._width
            for k, w in enumerate(with_ids):
                new[w] = buf[k * size : (k + 1) * size]
        if len(cache) + len(new) > _CACHE_SIZE:
            cache.clear()  # bounded memory; results do not depend on the cache
        cache.update(new)
        return [new[w] if f is None else f for w, f in zip(word_list, found, strict=True)]

    def posterior_words(self, word_list: list[str], letters: str) -> np.ndarray | None:
        """:meth:`posterior` of the features of ``word_list``, from the per-word sums."""
        parts = self.word_sums(word_list)
        if not parts:
            return None
        if len(parts) == 1:
            total = np.frombuffer(parts[0], dtype=np.int32)
        else:
            total = np.frombuffer(b"".join(parts), dtype=np.int32)
            total = total.reshape(len(parts), self._width).sum(axis=0, dtype=np.int32)
        n = int(total[-1])
        if not n:
            return None
        return self._calibrated(total[:-1], n, letters)

    def posterior(self, idx: list[int], letters: str = "") -> np.ndarray | None:
        """Return the posterior over :attr:`languages`, or None when no feature is known.

        Args:
            idx: Vocabulary indices of the text's features.
            letters: The text's letters (for the Cyrillic marker-letter evidence).
        """
        if not idx:
            return None
        rows = np.take(self.weights, np.array(idx, dtype=np.intp), axis=0)
        return self._calibrated(rows.sum(axis=0, dtype=np.int32), len(idx), letters)

    def _calibrated(self, sums: np.ndarray, n: int, letters: str) -> np.ndarray:
        """Posterior from the summed weights (int32) of ``n`` features."""
        scores = sums * self.step + self.bias
        if self.absence and CYRILLIC.search(letters):
            # Cyrillic letters (U+0400-U+04FF) are the UTF-8 sequences led by 0xD0-0xD3.
            data = letters.encode("utf-8", "surrogatepass")
            n_cyrillic = sum(map(data.count, _CYRILLIC_LEADS))
            for j, chars, log1m in self.absence:
                if not any(c in letters for c in chars):
                    scores[j] += n_cyrillic * log1m
        # Temperature grows with the amount of evidence so that confidences stay calibrated.
        z = (scores - scores.max()) / (self.temperature * math.sqrt(n))
        p = np.exp(z)
        return p / p.sum()
