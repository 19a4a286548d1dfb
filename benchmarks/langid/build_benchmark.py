"""Build the language-ID benchmark (``benchmarks/langid/data/test.jsonl``) from the test split.

The test split is the gettext catalogues of :data:`benchmarks.langid.sources.TEST_PACKAGES`,
which the detector never saw. A text is kept when

* it has at least two words and is in a Latin or Cyrillic script,
* it does not occur (case-insensitively) in the train or dev split of any language
  (UI strings such as "Open file" repeat across packages: no memorised strings), and
* it does not occur in the test split of another language (ambiguous strings are dropped).

Texts are bucketed by length (< 40, 40-100, > 100 characters) and sampled with a fixed seed:
up to 400 per bucket for each of the five supported languages, up to 100 for each other
language. A second file, ``test_ascii.jsonl``, holds the Estonian and Romanian test texts that
have diacritics, with the diacritics removed (people type them without), scored separately.

Usage::

    python -m benchmarks.langid.build_benchmark
"""

from __future__ import annotations

import json
import os
import random

from benchmarks.langid import sources
from benchmarks.langid.train_detector import is_model_script, strip_diacritics

SUPPORTED = ("et", "fi", "uk", "ro", "nl")
OTHERS = (
    "ru", "be", "bg", "de", "af", "lv", "lt", "pl", "en", "sv", "hu", "it", "es", "fr", "pt",
    "sk", "cs", "da", "nb", "hr", "sl", "sr", "tr", "ca",
)
PER_BUCKET = {"supported": 400, "other": 100}
BUCKETS = ("<40", "40-100", ">100")
DATA_DIR = os.path.join(os.path.dirname(__file__), "data")


def bucket_of(text: str) -> str:
    """Length bucket of a text."""
    n = len(text)
    return "<40" if n < 40 else ("40-100" if n <= 100 else ">100")


def main() -> None:
    """Write ``data/test.jsonl`` and ``data/test_ascii.jsonl``."""
    corpus = sources.corpus()
    seen: set[str] = set()
    for split in ("train", "dev"):
        for texts in corpus[split].values():
            seen.update(t.casefold() for t in texts)
    owners: dict[str, set[str]] = {}
    for lang, texts in corpus["test"].items():
        for t in texts:
            owners.setdefault(t.casefold(), set()).add(lang)

    rows = []
    ascii_rows = []
    for lang in SUPPORTED + OTHERS:
        pool = [
            t
            for t in corpus["test"].get(lang, [])
            if len(t.split()) >= 2
            and t.casefold() not in seen
            and len(owners[t.casefold()]) == 1
            and is_model_script(t)
        ]
        k = PER_BUCKET["supported" if lang in SUPPORTED else "other"]
        for bucket in BUCKETS:
            cands = [t for t in pool if bucket_of(t) == bucket]
            rng = random.Random(f"bench-{lang}-{bucket}")
            picked = rng.sample(cands, min(k, len(cands)))
            for i, t in enumerate(picked):
                rows.append({"id": f"{lang}-{bucket}-{i}", "lang": lang, "bucket": bucket,
                             "text": t})
                if lang in ("et", "ro"):
                    s = strip_diacritics(t)
                    if s != t:
                        ascii_rows.append({"id": f"{lang}-ascii-{bucket}-{i}", "lang": lang,
                                           "bucket": bucket_of(s), "text": s})
    os.makedirs(DATA_DIR, exist_ok=True)
    for name, data in (("test.jsonl", rows), ("test_ascii.jsonl", ascii_rows)):
        with open(os.path.join(DATA_DIR, name), "w", encoding="utf-8") as fh:
            for r in data:
                fh.write(json.dumps(r, ensure_ascii=False) + "\n")
    with open(os.path.join(DATA_DIR, "provenance.json"), "w", encoding="utf-8") as fh:
        json.dump({"packages": sources.package_versions(),
                   "test_packages": sorted(sources.TEST_PACKAGES),
                   "dev_packages": sorted(sources.DEV_PACKAGES)}, fh, indent=1)
    counts: dict[str, int] = {}
    for r in rows:
        counts[f"{r['lang']} {r['bucket']}"] = counts.get(f"{r['lang']} {r['bucket']}", 0) + 1
    print(f"{len(rows)} test texts, {len(ascii_rows)} ascii texts")
    print(json.dumps(counts))


if __name__ == "__main__":
    main()
