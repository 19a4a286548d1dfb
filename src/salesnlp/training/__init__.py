"""Training: fine-tuning the encoder (LoRA), calibration and thresholds on dev, the n-gram
component, model cards. Needs the ``train`` extra; importing any of it without that
raises :class:`~salesnlp.errors.MissingDependency` (an ``ImportError``) saying so."""

from salesnlp.extras import require

require("train", "training")
