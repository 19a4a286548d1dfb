"""The labelled corpus: reading, validating, counting and splitting notes."""
