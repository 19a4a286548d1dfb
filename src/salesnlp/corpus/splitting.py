"""Train/dev/test splits that keep near-duplicates on one side.

Notes are grouped when their character 5-gram Jaccard similarity reaches a
threshold (0.7 by default); whole groups are then dealt to the splits,
stratified by language and label set, so no near-copy of a test note is
ever trained on.
"""

from __future__ import annotations

import random
import re
import zlib
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from salesnlp.corpus.notes import SPLITS, Note, label_set_name

NEAR_DUPLICATE_JACCARD = 0.7
_SPACES = re.compile(r"\s+")


def shingles(text: str, n: int = 5) -> set[int]:
    """Hashed character n-grams of the case-folded, space-collapsed text."""
    norm = _SPACES.sub(" ", text.casefold()).strip()
    if len(norm) <= n:
        return {zlib.crc32(norm.encode())}
    return {zlib.crc32(norm[i : i + n].encode()) for i in range(len(norm) - n + 1)}


def near_duplicate_pairs(
    texts: Sequence[str], threshold: float = NEAR_DUPLICATE_JACCARD, n: int = 5
) -> list[tuple[int, int, float]]:
    """All index pairs ``(i, j, jaccard)`` with ``i < j`` and Jaccard ≥ ``threshold``."""
    from salesnlp.extras import require

    require("train", "finding near-duplicate notes")
    from scipy import sparse

    sets = [shingles(t, n) for t in texts]
    vocab: dict[int, int] = {}
    rows, cols = [], []
    for i, s in enumerate(sets):
        for h in s:
            rows.append(i)
            cols.append(vocab.setdefault(h, len(vocab)))
    matrix = sparse.csr_matrix(
        (np.ones(len(rows), dtype=np.float32), (rows, cols)), shape=(len(texts), len(vocab))
    )
    sizes = np.array([len(s) for s in sets], dtype=np.float32)
    overlap = (matrix @ matrix.T).tocoo()
    pairs = []
    for i, j, inter in zip(overlap.row, overlap.col, overlap.data, strict=True):
        if i < j:
            jaccard = inter / (sizes[i] + sizes[j] - inter)
            if jaccard >= threshold:
                pairs.append((int(i), int(j), float(jaccard)))
    return pairs


def near_duplicate_groups(texts: Sequence[str], threshold: float = NEAR_DUPLICATE_JACCARD
                          ) -> list[int]:
    """A group id per text; near-duplicates (transitively) share one."""
    parent = list(range(len(texts)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i, j, _ in near_duplicate_pairs(texts, threshold):
        parent[find(i)] = find(j)
    return [find(i) for i in range(len(texts))]


def assign_splits(
    notes: Sequence[Note],
    *,
    ratios: tuple[float, float, float] = (0.70, 0.15, 0.15),
    seed: int = 13,
    threshold: float = NEAR_DUPLICATE_JACCARD,
) -> list[Note]:
    """Return the notes with ``split`` set, stratified by language and label set.

    Near-duplicate groups move together; within each stratum, groups are dealt
    in a seeded random order to whichever split is furthest below its target.
    """
    if abs(sum(ratios) - 1.0) > 1e-6:
        raise ValueError(f"ratios must sum to 1, got {ratios}")
    groups = near_duplicate_groups([n.text for n in notes], threshold)
    members: dict[int, list[int]] = defaultdict(list)
    for index, group in enumerate(groups):
        members[group].append(index)
    strata: dict[tuple[str, str], list[int]] = defaultdict(list)
    for group, idx in members.items():
        first = notes[idx[0]]
        strata[(first.lang, label_set_name(first.labels))].append(group)

    rng = random.Random(seed)
    split_of: dict[int, str] = {}
    for key in sorted(strata):
        group_ids = sorted(strata[key])
        rng.shuffle(group_ids)
        total = sum(len(members[g]) for g in group_ids)
        filled = dict.fromkeys(SPLITS, 0)
        for g in group_ids:
            deficit = {s: ratios[k] * total - filled[s] for k, s in enumerate(SPLITS)}
            chosen = max(SPLITS, key=lambda s: deficit[s])
            split_of[g] = chosen
            filled[chosen] += len(members[g])
    return [replace(n, split=split_of[groups[i]]) for i, n in enumerate(notes)]


def leaks_across_splits(notes: Sequence[Note], threshold: float = NEAR_DUPLICATE_JACCARD
                        ) -> list[tuple[str, str, float]]:
    """Near-duplicate pairs that sit in different splits: ``(id_a, id_b, jaccard)``."""
    return [
        (notes[i].id, notes[j].id, jac)
        for i, j, jac in near_duplicate_pairs([n.text for n in notes], threshold)
        if notes[i].split != notes[j].split
    ]


def write_by_language(notes: Sequence[Note], directory: Path) -> list[Path]:
    """Write ``notes`` as ``<lang>.jsonl`` files (one JSON object a line) into ``directory``."""
    import json

    directory.mkdir(parents=True, exist_ok=True)
    by_lang: dict[str, list[Note]] = defaultdict(list)
    for note in notes:
        by_lang[note.lang].append(note)
    paths = []
    for lang, items in sorted(by_lang.items()):
        path = directory / f"{lang}.jsonl"
        tmp = path.with_suffix(".jsonl.tmp")
        with open(tmp, "w", encoding="utf-8") as handle:
            for note in items:
                handle.write(json.dumps(note.to_dict(), ensure_ascii=False) + "\n")
        tmp.replace(path)
        paths.append(path)
    return paths
