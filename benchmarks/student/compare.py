"""Accuracy of student encoders against the 12-layer model, from their evaluation reports.

Usage::

    salesnlp evaluate --model DIR --corpus corpus --update-card   # once per model
    python -m benchmarks.student.compare TEACHER STUDENT [STUDENT ...]

Reads each model directory's ``evaluation.json`` (writer-held-out test in fp32 and
int8, corpus v1's test split) and ``config.json`` (dev macro-F1, the encoder alone and
blended), and writes ``benchmarks/student/students.{json,md}``: each student's figures
and its difference to the first model, against the acceptance rule of issue 16 (within
0.005 macro-F1 overall, 0.01 per language).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
OVERALL_TOLERANCE, LANGUAGE_TOLERANCE = 0.005, 0.01


def model_facts(model: str) -> dict:
    from salesnlp.inference.model_dir import resolve_model_path

    path = resolve_model_path(model)
    report = json.loads((path / "evaluation.json").read_text(encoding="utf-8"))
    config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    by_weight = config.get("ensemble", {}).get("dev_macro_f1_by_weight", {})
    training = config["training"]["config"]
    return {
        "layers": config["adaptation"].get("encoder_layers") or "all 12",
        "teacher": training.get("teacher"), "distill_weight": training.get("distill_weight"),
        "epochs": training["epochs"],
        "dev_macro_f1": config["training"]["dev"]["macro_f1"],
        "dev_encoder_alone": by_weight.get("0.0"),
        "heldout_fp32": report["heldout"]["overall"]["macro_f1"],
        "heldout_int8": report["heldout_int8"]["overall"]["macro_f1"],
        "v1_test": report["v1"]["overall"]["macro_f1"],
        "per_language": report["heldout"]["per_language_macro_f1"],
        "per_genre": report["heldout"]["per_genre_macro_f1"],
        "pc_recall": report["heldout"]["overall"]["per_label"]["partner_concealment"]["recall"],
    }


def verdict(student: dict, teacher: dict) -> dict:
    """Which of issue 16's accuracy conditions the student meets against ``teacher``."""
    drops = {key: teacher[key] - student[key] for key in ("heldout_fp32", "heldout_int8",
                                                          "v1_test")}
    language_drops = {lang: teacher["per_language"][lang] - f1
                      for lang, f1 in student["per_language"].items()}
    return {"drops": drops, "language_drops": language_drops,
            "overall_ok": all(d <= OVERALL_TOLERANCE for d in drops.values()),
            "languages_ok": all(d <= LANGUAGE_TOLERANCE for d in language_drops.values())}


def markdown(models: dict[str, dict], verdicts: dict[str, dict], given: list[str]) -> str:
    names = list(models)
    languages = list(models[names[0]]["per_language"])
    genres = list(models[names[0]]["per_genre"])
    lines = ["# Student encoders: accuracy against the 12-layer model", "",
             "`python -m benchmarks.student.compare " + " ".join(given) + "`, from each "
             "model's `evaluation.json` (`salesnlp evaluate --model M --corpus corpus "
             "--update-card`). Writer-held-out test unless marked; dev = the dev writers "
             "(blend weight and thresholds chosen there).", "",
             "| | " + " | ".join(names) + " |", "| --- |" + " --- |" * len(names)]

    def row(title: str, values) -> None:
        lines.append(f"| {title} | " + " | ".join(values) + " |")

    def f(x) -> str:
        return "–" if x is None else f"{x:.3f}"

    row("kept base layers", [str(models[n]["layers"]) for n in names])
    row("teacher (weight)", [f"{Path(m['teacher']).name} ({m['distill_weight']})"
                             if m["teacher"] else "–" for m in models.values()])
    row("epochs", [str(m["epochs"]) for m in models.values()])
    for key, title in (("dev_encoder_alone", "dev, encoder alone"),
                       ("dev_macro_f1", "dev, blended with n-grams"),
                       ("heldout_fp32", "**held-out test, fp32**"),
                       ("heldout_int8", "held-out test, int8"), ("v1_test", "v1 test split"),
                       ("pc_recall", "partner_concealment recall")):
        row(title, [f(m[key]) for m in models.values()])
    for lang in languages:
        row(f"language {lang}", [f(m["per_language"].get(lang)) for m in models.values()])
    for genre in genres:
        row(f"genre {genre}", [f(m["per_genre"].get(genre)) for m in models.values()])
    row("within 0.005 overall / 0.01 per language",
        ["(reference)"] + [f"{'yes' if v['overall_ok'] else 'no'} / "
                           f"{'yes' if v['languages_ok'] else 'no'}"
                           for v in verdicts.values()])
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+", help="the reference model first, then students")
    parser.add_argument("--out", default=str(HERE))
    args = parser.parse_args(argv)
    models = {Path(m).name: model_facts(m) for m in args.models}
    reference = models[Path(args.models[0]).name]
    verdicts = {name: verdict(facts, reference) for name, facts in list(models.items())[1:]}
    out = Path(args.out)
    (out / "students.json").write_text(json.dumps({"models": models, "verdicts": verdicts},
                                                  indent=2) + "\n")
    text = markdown(models, verdicts, args.models)
    (out / "students.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
