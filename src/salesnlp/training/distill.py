"""Knowledge distillation: a teacher model's note probabilities as soft training targets.

A student (for instance an encoder that keeps fewer layers, see
``TrainingConfig.encoder_layers``) learns from the labels and from what a larger model
makes of each training note: its uncalibrated note probability, the quantity the
student's own note loss is computed on, so the two are on the same scale.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from salesnlp.training.examples import Example

logger = logging.getLogger(__name__)


def teacher_probabilities(teacher: str | Path, texts: list[str]) -> np.ndarray:
    """The teacher's uncalibrated note probabilities ``[n, n_labels]`` (fp32 path)."""
    from salesnlp.inference.calibration import sigmoid
    from salesnlp.inference.classifier import Classifier

    model = Classifier.load(teacher, precision="fp32")
    return sigmoid(model.predict_logits(texts)).astype(np.float32)


def soften_targets(examples: list[Example], teacher: str | Path, weight: float) -> None:
    """Mix the teacher's probabilities into each example's note targets, in place:
    ``(1 - weight) · label + weight · teacher``."""
    probs = teacher_probabilities(teacher, [e.note.text for e in examples])
    agreement = float(((probs >= 0.5) == (np.stack([e.labels for e in examples]) >= 0.5))
                      .mean())
    logger.info("teacher %s agrees with %.1f %% of the training labels", teacher,
                100 * agreement)
    for example, p in zip(examples, probs, strict=True):
        example.labels = ((1.0 - weight) * example.labels + weight * p).astype(np.float32)
