"""Exporters of a fine-tuned encoder to other runtimes (ONNX Runtime, see :mod:`.onnx`)."""
