"""Which unlabelled notes to label next: uncertain, diverse, and a random share."""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from salesnlp.corpus.splitting import shingles
from salesnlp.results import Classification

#: Two notes whose character 5-gram Jaccard similarity reaches this are near-duplicates:
#: only the first is suggested.
NEAR_DUPLICATE = 0.5
_EPS = 1e-6


@dataclass(frozen=True)
class Suggestion:
    """A note chosen for labelling.

    Attributes:
        position: its index in the input.
        text: the note.
        result: the model's classification (its scores become pre-annotations).
        reason: ``"uncertain"`` (chosen for closeness to a threshold) or ``"random"``.
        uncertainty: 1 at a label's threshold, towards 0 far from every threshold.
        fields: the input row's other fields (id, genre ...), kept in the output.
    """

    position: int
    text: str
    result: Classification
    reason: str
    uncertainty: float
    fields: dict = field(default_factory=dict)


def _logit(p: float) -> float:
    p = min(max(p, _EPS), 1 - _EPS)
    return math.log(p / (1 - p))


def uncertainty(result: Classification) -> float:
    """1 / (1 + the smallest distance between a label's score and its threshold, in logits)."""
    if not result.thresholds:
        return 0.0
    margin = min(abs(_logit(result.scores[label]) - _logit(threshold))
                 for label, threshold in result.thresholds.items())
    return 1.0 / (1.0 + margin)


def stratum(result: Classification, fields: dict) -> tuple[str, str]:
    """Language and genre (the row's ``genre`` field, else a length band)."""
    genre = fields.get("genre")
    if not isinstance(genre, str) or not genre:
        words = len(result.text.split())
        genre = "short" if words < 40 else "medium" if words < 150 else "long"
    return result.language, genre


class _Diverse:
    """The notes chosen so far, refusing near-duplicates of them."""

    def __init__(self, threshold: float) -> None:
        self.threshold = threshold
        self.chosen: list[set[int]] = []

    def add(self, text: str) -> bool:
        grams = shingles(text)
        for other in self.chosen:
            if len(grams & other) / max(len(grams | other), 1) >= self.threshold:
                return False
        self.chosen.append(grams)
        return True


def suggest(texts: Sequence[str], classifier, n: int = 200, *, random_share: float = 0.1,
            seed: int = 0, near_duplicate: float = NEAR_DUPLICATE,
            fields: Sequence[dict] | None = None, batch_size: int = 32) -> list[Suggestion]:
    """Choose up to ``n`` of ``texts`` to label.

    ``n × (1 - random_share)`` notes are taken in order of :func:`uncertainty`, each
    language × genre stratum up to its share of the input (rounded up), then any stratum;
    the rest are drawn at random (seeded) from the notes left. Near-duplicates of a chosen
    note and notes without letters (``und``) are never chosen.

    Args:
        texts: the unlabelled notes.
        classifier: a loaded :class:`~salesnlp.Classifier` (the model to improve).
        n: how many to choose.
        random_share: the share drawn at random (0 to 1).
        seed: seeds the random draw.
        near_duplicate: character 5-gram Jaccard similarity that makes two notes one.
        fields: per text, the other fields of its row (a ``genre`` field is used).
    """
    if not 0.0 <= random_share <= 1.0:
        raise ValueError(f"random_share must be between 0 and 1, got {random_share!r}")
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n!r}")
    fields = list(fields) if fields is not None else [{} for _ in texts]
    results = classifier.classify_many(list(texts), batch_size=batch_size)
    candidates = [i for i, r in enumerate(results) if r.language != "und"]
    strata = {i: stratum(results[i], fields[i]) for i in candidates}
    n_random = round(n * random_share)
    diverse = _Diverse(near_duplicate)
    ranked = sorted(candidates, key=lambda i: -uncertainty(results[i]))
    chosen = _take_uncertain(ranked, strata, n - n_random, texts, diverse)
    taken = set(chosen)
    rest = [i for i in candidates if i not in taken]
    random.Random(seed).shuffle(rest)
    drawn: list[int] = []
    for i in rest:
        if len(chosen) + len(drawn) >= n:
            break
        if diverse.add(texts[i]):
            drawn.append(i)
    return ([Suggestion(i, texts[i], results[i], "uncertain", uncertainty(results[i]),
                        dict(fields[i])) for i in chosen]
            + [Suggestion(i, texts[i], results[i], "random", uncertainty(results[i]),
                          dict(fields[i])) for i in drawn])


def _take_uncertain(ranked: list[int], strata: dict[int, tuple[str, str]], wanted: int,
                    texts: Sequence[str], diverse: _Diverse) -> list[int]:
    sizes = Counter(strata.values())
    total = max(len(strata), 1)
    quota = {key: math.ceil(wanted * size / total) for key, size in sizes.items()}
    taken: Counter = Counter()
    chosen: list[int] = []
    for capped in (True, False):
        for i in ranked:
            if len(chosen) >= wanted:
                return chosen
            if i in chosen or (capped and taken[strata[i]] >= quota[strata[i]]):
                continue
            if diverse.add(texts[i]):
                chosen.append(i)
                taken[strata[i]] += 1
    return chosen
