"""Everything a model learns from dev rather than from training: calibration, the n-gram
blend weight and the thresholds; also on an existing model (``salesnlp retune``)."""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from salesnlp.corpus.notes import Note, load_corpus
from salesnlp.labels import LABELS

logger = logging.getLogger(__name__)


def tune_on_dev(classifier, dev_notes: list[Note], ngram, weight_max: float) -> dict:
    """Fit, on ``dev_notes`` and exactly as inference computes note scores: Platt
    calibration of the encoder's logits, the n-gram component's calibration and its blend
    weight (0 to ``weight_max``, by dev macro-F1), a final Platt map of the blended note
    probability, and per-label thresholds. Sets them on ``classifier`` (and its config);
    returns the dev metrics and the n-gram component kept (None at weight 0)."""
    from salesnlp.evaluation.metrics import label_matrix, multilabel_report
    from salesnlp.inference.calibration import decide, logit
    from salesnlp.training.calibration import fit_platt, tune_thresholds
    from salesnlp.training.ngram import calibrate_char_ngrams, choose_blend_weight

    config = classifier.config
    notes = classifier._prepare([n.text for n in dev_notes])
    scores = classifier._score_all(notes, 32)
    y_dev = label_matrix([n.labels for n in dev_notes])
    aggregate = config.aggregation == "max"
    config.calibration = fit_platt(np.stack([s.aggregated if aggregate else s.note
                                             for s in scores]), y_dev, LABELS)
    if ngram is not None:
        calibrate_char_ngrams(ngram, [n.document.body_text for n in notes], y_dev)

    def probs_for(weight: float) -> np.ndarray:
        classifier.ngram, classifier.ngram_weight = ngram, weight
        return classifier._probabilities(notes, scores)

    weight, by_weight = (choose_blend_weight(probs_for, y_dev, weight_max)
                         if ngram is not None and weight_max > 0 else (0.0, {}))
    config.ensemble = {"ngram_weight": weight, "dev_macro_f1_by_weight": by_weight}
    # Blending two calibrated scores and taking the best sentence's is no longer
    # calibrated as a whole: map the final note probability once more.
    config.calibration["final"] = fit_platt(logit(probs_for(weight)), y_dev, LABELS)
    dev_probs = probs_for(weight)
    config.thresholds = classifier.thresholds = tune_thresholds(dev_probs, y_dev, LABELS)
    pred = decide(dev_probs, config.thresholds, LABELS)
    if weight == 0:
        classifier.ngram = None
    return {"metrics": multilabel_report(y_dev, pred, dev_probs),
            "ngram": ngram if weight > 0 else None}


def keep_tuning(classifier, init_from: str | Path) -> dict:
    """Give ``classifier`` the calibration, n-gram component, blend weight and thresholds
    of the model it continues (when there are no dev notes to re-fit them on); returns
    what :func:`tune_on_dev` returns, with no dev metrics."""
    from salesnlp.inference.classifier import load_ngram
    from salesnlp.inference.model_dir import read_model_dir

    init, tensors = read_model_dir(init_from)
    config = classifier.config
    config.calibration, config.ensemble = init.calibration, init.ensemble
    config.thresholds = classifier.thresholds = dict(init.thresholds)
    classifier.ngram, classifier.ngram_weight = load_ngram(Path(init_from), init, tensors)
    return {"metrics": {}, "ngram": classifier.ngram}


def retune(model: str | Path, corpus: str | Path, out: str | Path | None = None, *,
           split: str = "dev", ngram_weight_max: float | None = None) -> dict:
    """Re-fit a trained model's calibration, blend weight and thresholds on another dev
    set (your own notes), without training; write the model to ``out`` (default: in
    place, atomically). The encoder, head and n-gram component are kept as they are.

    Returns:
        The dev metrics at the new thresholds.
    """
    from salesnlp.inference.classifier import Classifier

    classifier = Classifier.load(model, precision="fp32")
    dev_notes = load_corpus(corpus, split=split)
    trained_max = classifier.config.training.get("config", {}).get("ngram_weight_max", 0.5)
    weight_max = trained_max if ngram_weight_max is None else ngram_weight_max
    dev = tune_on_dev(classifier, dev_notes, classifier.ngram, weight_max)
    classifier.config.training["retuned"] = {"corpus": str(corpus), "split": split,
                                             "n_dev": len(dev_notes), "dev": dev["metrics"]}
    path = classifier.save_pretrained(Path(out) if out is not None else classifier.path)
    logger.info("retuned %s on %d notes (dev macro-F1 %.3f)", path, len(dev_notes),
                dev["metrics"]["macro_f1"])
    return dev["metrics"]
