"""Exporting a fine-tuned model for fast serving: the int8 ONNX graph and embedding table
(:func:`salesnlp.export.int8.build_int8`, ``salesnlp export-int8``)."""
