"""Training: fine-tuning the encoder (LoRA), calibration and thresholds on dev, the n-gram
component, model cards."""
