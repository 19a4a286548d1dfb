"""Preparing a note for the model: input checks, HTML to text with an offset map back to
the original, e-mail structure, and sentence spans."""
