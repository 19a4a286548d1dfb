"""Thin layers over one :class:`~salesnlp.Classifier` for other tools: files (the CLI's
engine), pandas, spaCy."""
