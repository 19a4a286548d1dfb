"""What the shipped model does with texts it was not made for.

Two test sets written for this benchmark by writers who never saw the corpus
(see ``README.md``):

- ``ru_en.jsonl``: 60 Russian and 60 English labelled texts in the corpus's genres;
- ``mixed.jsonl``: 160 notes that mix languages, each with the language most of its
  words are in.

    python -m benchmarks.unsupported_languages.run          # writes results.md here

For Russian and English it reports macro-F1, the share of label-less texts that get a
label (false-positive rate) and how often ``supported`` is False, under the default
``unsupported_language="score"`` policy. For mixed notes it reports how often
:func:`salesnlp.detect_language` names the main language.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from sklearn.metrics import f1_score

import salesnlp
from salesnlp.labels import LABELS

HERE = Path(__file__).resolve().parent


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line]


def label_matrix(label_sets) -> list[list[int]]:
    return [[int(label in labels) for label in LABELS] for labels in label_sets]


def unsupported_scores(classifier, rows: list[dict]) -> dict[str, dict]:
    """Macro-F1, false-positive rate on label-less texts and ``supported`` rate, per language."""
    results = classifier.classify_many([r["text"] for r in rows])
    by_lang: dict[str, list[tuple[dict, object]]] = defaultdict(list)
    for row, result in zip(rows, results, strict=True):
        by_lang[row["lang"]].append((row, result))
    report = {}
    for lang, pairs in sorted(by_lang.items()):
        gold = label_matrix(row["labels"] for row, _ in pairs)
        predicted = label_matrix(result.labels for _, result in pairs)
        negatives = [result for row, result in pairs if not row["labels"]]
        report[lang] = {
            "n": len(pairs),
            "macro_f1": float(f1_score(gold, predicted, average="macro", zero_division=0)),
            "false_positive_rate": sum(bool(r.labels) for r in negatives) / len(negatives),
            "flagged_unsupported": sum(not r.supported for _, r in pairs) / len(pairs),
        }
    return report


def mixed_language_accuracy(rows: list[dict]) -> dict[str, dict]:
    """How often the detector names the main language, per kind of mix."""
    found: dict[str, list[int]] = defaultdict(list)
    for row in rows:
        found[row["mix"]].append(salesnlp.detect_language(row["text"]).language == row["lang"])
    total = [hit for hits in found.values() for hit in hits]
    report = {mix: {"n": len(hits), "accuracy": sum(hits) / len(hits)}
              for mix, hits in sorted(found.items())}
    report["all"] = {"n": len(total), "accuracy": sum(total) / len(total)}
    return report


def markdown(model: str, unsupported: dict, mixed: dict) -> str:
    lines = ["# Texts in unsupported and mixed languages", "",
             f"`python -m benchmarks.unsupported_languages.run`; model `{model}`, "
             "default policy `unsupported_language=\"score\"`.", "",
             "| language | texts | macro-F1 | label-less texts given a label | "
             "flagged supported=False |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {lang} | {r['n']} | {r['macro_f1']:.3f} | {r['false_positive_rate']:.1%} | "
              f"{r['flagged_unsupported']:.1%} |" for lang, r in unsupported.items()]
    lines += ["", "Mixed-language notes: `detect_language` names the main language", "",
              "| mix | notes | accuracy |", "| --- | --- | --- |"]
    lines += [f"| {mix} | {r['n']} | {r['accuracy']:.3f} |" for mix, r in mixed.items()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="model directory (default: shipped)")
    parser.add_argument("--precision", default="fp32", choices=["fp32", "int8", "auto"])
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    classifier = salesnlp.load(args.model, precision=args.precision)
    unsupported = unsupported_scores(classifier, read_jsonl(HERE / "ru_en.jsonl"))
    mixed = mixed_language_accuracy(read_jsonl(HERE / "mixed.jsonl"))
    model = Path(classifier.path).name
    (args.out / "results.json").write_text(json.dumps(
        {"model": model, "unsupported": unsupported, "mixed": mixed}, indent=1) + "\n")
    (args.out / "results.md").write_text(markdown(model, unsupported, mixed), encoding="utf-8")
    print(markdown(model, unsupported, mixed))


if __name__ == "__main__":
    main()
