"""The researcher's labelling loop: choose the notes worth labelling, take labels back.

- :func:`suggest` picks, from unlabelled notes, those a model is least sure about
  (closest to a threshold), spread over languages and genres, without near-duplicates,
  plus a random share that keeps estimates honest (``salesnlp label suggest``).
- :mod:`.formats` writes them as a Label Studio import file (with the model's
  predictions as pre-annotations) or as corpus JSON Lines, and reads a Label Studio
  export or a plain CSV/JSONL of labels back (``salesnlp label import``).
- :mod:`.agreement` measures agreement when a note has several annotators
  (Cohen's kappa per pair and Fleiss' kappa, per label).
"""

from salesnlp.labelling.agreement import agreement_report
from salesnlp.labelling.formats import (
    LABEL_STUDIO_CONFIG,
    Annotated,
    corpus_rows,
    label_studio_tasks,
    merge_annotations,
    read_annotations,
)
from salesnlp.labelling.selection import Suggestion, suggest

__all__ = ["LABEL_STUDIO_CONFIG", "Annotated", "Suggestion", "agreement_report", "corpus_rows",
           "label_studio_tasks", "merge_annotations", "read_annotations", "suggest"]
