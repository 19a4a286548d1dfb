"""Inference: a loaded :class:`~salesnlp.inference.classifier.Classifier` and what it runs
(the fp32 PyTorch network or the int8 ONNX Runtime one, the n-gram component,
calibration). Nothing here imports the training or export code when serving from files
that are already built."""
