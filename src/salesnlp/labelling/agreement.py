"""Agreement between annotators, per label: Cohen's kappa per pair, Fleiss' kappa overall."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np

from salesnlp.labelling.formats import Annotated
from salesnlp.labels import LABELS

#: Annotator pairs that share fewer notes than this get no Cohen's kappa.
MIN_SHARED = 10


def cohen_kappa(a: Sequence[int], b: Sequence[int]) -> float:
    """Cohen's kappa of two binary ratings (1.0 when both are constant and equal)."""
    from salesnlp.extras import require

    require("train", "annotator agreement")
    from sklearn.metrics import cohen_kappa_score

    if len(set(a) | set(b)) == 1:
        return 1.0
    return float(cohen_kappa_score(a, b))


def fleiss_kappa(counts: np.ndarray) -> float:
    """Fleiss' kappa from an items × categories count matrix; items may have different
    numbers of raters (each needs at least two)."""
    counts = np.asarray(counts, dtype=float)
    raters = counts.sum(axis=1)
    per_item = ((counts**2).sum(axis=1) - raters) / (raters * (raters - 1))
    shares = counts.sum(axis=0) / raters.sum()
    expected = float((shares**2).sum())
    if expected >= 1.0:
        return 1.0
    return float((per_item.mean() - expected) / (1.0 - expected))


def agreement_report(notes: Sequence[Annotated]) -> dict:
    """Per label: Fleiss' kappa over notes with two or more annotators, and Cohen's kappa
    for each annotator pair sharing at least :data:`MIN_SHARED` notes."""
    multi = [n for n in notes if len(n.by_annotator) >= 2]
    report: dict = {"notes": len(notes), "notes_with_several_annotators": len(multi),
                    "fleiss": {}, "cohen": {}}
    if not multi:
        return report
    for label in LABELS:
        counts = np.array([[sum(label in v for v in n.by_annotator.values()),
                            sum(label not in v for v in n.by_annotator.values())]
                           for n in multi])
        report["fleiss"][label] = round(fleiss_kappa(counts), 4)
    annotators = sorted({a for n in multi for a in n.by_annotator})
    for first, second in combinations(annotators, 2):
        shared = [n for n in multi if first in n.by_annotator and second in n.by_annotator]
        if len(shared) < MIN_SHARED:
            continue
        report["cohen"][f"{first} vs {second}"] = {
            label: round(cohen_kappa([label in n.by_annotator[first] for n in shared],
                                     [label in n.by_annotator[second] for n in shared]), 4)
            for label in LABELS} | {"n": len(shared)}
    return report
