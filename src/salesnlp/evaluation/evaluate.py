"""Evaluation: ``salesnlp.evaluate`` and ``salesnlp evaluate``.

Scores a model on a corpus split at its dev-tuned thresholds: per-label
precision/recall/F1, macro-F1, exact match, calibration error, per-language
macro-F1 and a confusion summary; optionally the two baselines side by side
and a leave-one-language-out table. Nothing here tunes anything on the split
it reports.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from salesnlp.corpus.notes import Note, load_corpus
from salesnlp.evaluation.metrics import confusion_summary, label_matrix, multilabel_report
from salesnlp.labels import SUPPORTED_LANGUAGES

logger = logging.getLogger(__name__)


def _predict(classifier, notes: Sequence[Note]) -> tuple[np.ndarray, np.ndarray]:
    from salesnlp.inference.calibration import decide

    probs = classifier.predict_proba([n.text for n in notes])
    return decide(probs, classifier.thresholds, classifier.labels), probs


#: Subsets of a split that evaluation can report on their own.
SUBSETS = ("v1", "heldout")


def select(notes: Sequence[Note], subset: str | None, corpus_notes: Sequence[Note]) -> list[Note]:
    """The notes of ``subset``: ``"v1"`` those of corpus v1 (one writer per language, who
    also wrote training notes), ``"heldout"`` those by writers with no note in the train
    split; ``None`` all."""
    if subset is None:
        return list(notes)
    if subset == "v1":
        return [n for n in notes if n.writer is None or n.writer.endswith("-v1")]
    if subset == "heldout":
        trained = {n.writer for n in corpus_notes if n.split == "train"}
        return [n for n in notes if n.writer is not None and n.writer not in trained]
    raise ValueError(f"subset must be one of {SUBSETS} or None, got {subset!r}")


def score(notes: Sequence[Note], pred: np.ndarray, probs: np.ndarray | None = None) -> dict:
    """Overall metrics of predictions for ``notes``, and per language and per genre."""
    y = label_matrix([n.labels for n in notes])

    def by(key: str, order: Sequence[str]) -> dict:
        values = np.array([getattr(n, key) for n in notes])
        return {v: multilabel_report(y[values == v], pred[values == v],
                                     None if probs is None else probs[values == v])
                for v in order if (values == v).any()}

    per_language = by("lang", SUPPORTED_LANGUAGES)
    per_genre = by("genre", sorted({n.genre for n in notes}))
    return {
        "overall": multilabel_report(y, pred, probs),
        "per_language": per_language,
        "per_language_macro_f1": {k: v["macro_f1"] for k, v in per_language.items()},
        "per_genre_macro_f1": {k: v["macro_f1"] for k, v in per_genre.items()},
        "per_genre_n": {k: v["n"] for k, v in per_genre.items()},
        "confusion": confusion_summary(y, pred),
    }


def evaluate_notes(model, notes: Sequence[Note], *, precision: str = "auto") -> dict:
    """Score ``model`` (a path, a :class:`Classifier` or None) on labelled ``notes``:
    overall, per language and per genre (see :func:`score`)."""
    from salesnlp.extras import require
    from salesnlp.inference.classifier import Classifier

    require("train", "evaluation")  # scikit-learn's metrics; checked before classifying
    classifier = (model if isinstance(model, Classifier)
                  else Classifier.load(model, precision=precision))
    pred, probs = _predict(classifier, notes)
    return {"model": str(classifier.path), "precision": getattr(classifier, "precision", "fp32"),
            **score(notes, pred, probs)}


def evaluate(model=None, corpus: str | Path = "corpus", split: str = "test", *,
             subset: str | None = None, baselines: bool = False,
             precision: str = "auto") -> dict:
    """Evaluate ``model`` (a path, a :class:`Classifier` or None for the shipped one).

    Args:
        model: model directory, loaded classifier, or None.
        corpus: corpus directory or file.
        split: the split to score (``test`` for reported numbers).
        subset: ``"heldout"`` (writers never seen in training), ``"v1"`` (corpus v1's
            notes) or None (the whole split); see :func:`select`.
        baselines: also train and score the TF-IDF and frozen-e5 baselines on the
            same train/dev splits and score them on ``split``.
        precision: inference path when ``model`` is a path (see ``Classifier.load``).

    Returns:
        A JSON-ready report (see :func:`format_report` for its Markdown form).
    """
    everything = load_corpus(corpus)
    notes = select([n for n in everything if n.split == split], subset, everything)
    report = {"corpus": str(corpus), "split": split, "subset": subset,
              **evaluate_notes(model, notes, precision=precision)}
    if baselines:
        from salesnlp.evaluation.baselines import frozen_e5_baseline, tfidf_baseline

        train_notes = load_corpus(corpus, split="train")
        dev_notes = load_corpus(corpus, split="dev")
        report["baselines"] = {}
        for name, fn in (("tfidf", tfidf_baseline), ("frozen_e5", frozen_e5_baseline)):
            logger.info("baseline %s", name)
            b_pred, b_probs = fn(train_notes, dev_notes, notes)
            scored = score(notes, b_pred, b_probs)
            report["baselines"][name] = {k: scored[k] for k in
                                         ("overall", "per_language_macro_f1",
                                          "per_genre_macro_f1")}
    return report


def evaluate_for_card(model_dir: str | Path, corpus: str | Path = "corpus") -> list[Path]:
    """Score a model directory on the writer-held-out test (fp32 and int8) and on corpus
    v1's test split; write ``evaluation.json``/``.md`` into it and refresh its card."""
    from salesnlp.inference.model_card import EVALUATION_FILE, write_model_card
    from salesnlp.inference.model_dir import read_model_dir, resolve_model_path

    model_dir = resolve_model_path(model_dir)
    reports = {"heldout": evaluate(model_dir, corpus, "test", subset="heldout", precision="fp32"),
               "heldout_int8": evaluate(model_dir, corpus, "test", subset="heldout",
                                        precision="int8"),
               "v1": evaluate(model_dir, corpus, "test", subset="v1", precision="fp32")}
    json_path = model_dir / EVALUATION_FILE
    json_path.write_text(json.dumps(reports, indent=2, ensure_ascii=False, default=str))
    md_path = json_path.with_suffix(".md")
    md_path.write_text("\n".join(format_report(r) for r in reports.values()))
    write_model_card(model_dir, read_model_dir(model_dir)[0])
    return [json_path, md_path, model_dir / "README.md"]


def leave_one_language_out(corpus: str | Path = "corpus", config=None, *,
                           work_dir: str | Path | None = None, progress: bool = False,
                           languages: Sequence[str] = SUPPORTED_LANGUAGES) -> dict:
    """Train on four languages, test on all notes of the fifth; ours and frozen-e5.

    Ours is fine-tuned with ``config`` (a :class:`~salesnlp.training.trainer.TrainingConfig`,
    n-gram blend switched off) on the train split of the four, calibrated on their dev
    split. The models are written to ``work_dir/without-<lang>``; given the ``work_dir``
    of an interrupted run, models already there are reused instead of retrained.
    ``languages``: the held-out languages to run (each is one training).
    """
    unknown = sorted(set(languages) - set(SUPPORTED_LANGUAGES))
    if unknown:
        raise ValueError(f"unknown languages {unknown}; choose from {SUPPORTED_LANGUAGES}")
    import tempfile
    from dataclasses import replace

    from salesnlp.extras import require

    require("train", "leave-one-language-out evaluation")

    from salesnlp.evaluation.baselines import embed_frozen, frozen_e5_baseline
    from salesnlp.inference.classifier import Classifier
    from salesnlp.training.trainer import TrainingConfig, train

    # The n-gram blend learns the four languages' spelling and cannot transfer, so the
    # table measures the encoder alone.
    config = replace(config or TrainingConfig(), ngram_weight_max=0.0)
    notes = load_corpus(corpus)
    embeddings = dict(zip([n.id for n in notes], embed_frozen([n.text for n in notes]),
                          strict=True))
    work = Path(work_dir or tempfile.mkdtemp(prefix="salesnlp-lolo-"))
    table = {}
    for held_out in languages:
        train_notes = [n for n in notes if n.lang != held_out and n.split == "train"]
        dev_notes = [n for n in notes if n.lang != held_out and n.split == "dev"]
        test_notes = [n for n in notes if n.lang == held_out]
        logger.info("leave out %s: %d train, %d dev, %d test", held_out, len(train_notes),
                    len(dev_notes), len(test_notes))
        b_pred, b_probs = frozen_e5_baseline(train_notes, dev_notes, test_notes, embeddings)
        model_dir = work / f"without-{held_out}"
        if not (model_dir / "config.json").is_file():
            model_dir = train(corpus, model_dir, config, progress=progress,
                              train_notes=train_notes, dev_notes=dev_notes).model_dir
        else:
            logger.info("reusing %s", model_dir)
        pred, probs = _predict(Classifier.load(model_dir, precision="fp32"), test_notes)
        table[held_out] = {
            "n_test": len(test_notes),
            "ours": score(test_notes, pred, probs)["overall"],
            "frozen_e5": score(test_notes, b_pred, b_probs)["overall"],
        }
    return {"corpus": str(corpus), "config": getattr(config, "__dict__", {}), "languages": table}


def format_report(report: dict) -> str:
    """Markdown tables for a report from :func:`evaluate`."""
    from salesnlp.reporting import breakdown_table, label_table

    overall = report["overall"]
    subset = f", subset `{report['subset']}`" if report.get("subset") else ""
    systems = {"ours (fine-tuned)": report,
               **{f"baseline: {name}": b for name, b in report.get("baselines", {}).items()}}
    lines = [f"# Evaluation on `{report['corpus']}`, split `{report['split']}`{subset} "
             f"({overall['n']} notes)", "", f"Model: `{report['model']}` "
             f"(inference path `{report.get('precision', 'fp32')}`)", "", label_table(overall),
             "", f"- exact match: {overall['exact_match']:.3f}",
             f"- expected calibration error: {overall.get('ece', float('nan')):.3f}", "",
             "## Macro-F1 per language", "",
             breakdown_table({k: v["per_language_macro_f1"] for k, v in systems.items()},
                             {k: v["overall"]["macro_f1"] for k, v in systems.items()})]
    if len(report.get("per_genre_macro_f1", {})) > 1:
        genres = {k: v["per_genre_macro_f1"] for k, v in systems.items()
                  if "per_genre_macro_f1" in v}
        lines += ["", "## Macro-F1 per genre", "",
                  breakdown_table(genres, {k: systems[k]["overall"]["macro_f1"] for k in genres}),
                  "", "Notes per genre: " + ", ".join(
                      f"{g} {n}" for g, n in report.get("per_genre_n", {}).items()) + "."]
    lines += ["", "## Confusion summary", "", "| label | TP | FP | FN | FP come from |",
              "| --- | --- | --- | --- | --- |"]
    for label, c in report["confusion"].items():
        sources = ", ".join(f"{k} ({v})" for k, v in list(c["false_positives_from"].items())[:4])
        lines.append(f"| {label} | {c['tp']} | {c['fp']} | {c['fn']} | {sources} |")
    return "\n".join(lines) + "\n"


def format_lolo(result: dict) -> str:
    lines = ["| held-out language | notes | ours macro-F1 | frozen-e5 macro-F1 |",
             "| --- | --- | --- | --- |"]
    for lang, r in result["languages"].items():
        lines.append(f"| {lang} | {r['n_test']} | {r['ours']['macro_f1']:.3f} | "
                     f"{r['frozen_e5']['macro_f1']:.3f} |")
    return "\n".join(lines) + "\n"


def write_report(report: dict, out_dir: str | Path, stem: str = "evaluation") -> list[Path]:
    """Write ``<stem>.json`` and ``<stem>.md`` into ``out_dir``."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out_dir / f"{stem}.json", out_dir / f"{stem}.md"
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False, default=str))
    md_path.write_text(format_lolo(report) if "languages" in report else format_report(report))
    return [json_path, md_path]
