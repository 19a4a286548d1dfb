"""Streaming classification of files: the engine behind ``salesnlp classify``.

Input is CSV, JSON Lines or plain text (one note a line), from a file or stdin, in
UTF-8 or any other encoding; output is CSV or JSON Lines, to a file or stdout. Rows
are read, classified and written in chunks (256 by default), so memory stays flat on a
file of any size. Every input column is kept and these are added
(:data:`OUTPUT_COLUMNS`): ``language``, ``supported``, ``labels`` (a list in JSONL,
``;``-joined in CSV), one ``score_<label>`` per label and ``evidence`` (a list in
JSONL, a JSON string in CSV).

A malformed row (bad JSON, a missing, empty or non-string text field, a CSV row with
the wrong number of fields, bytes that are not text in the input's encoding) is
reported on stderr with its line number and skipped, or stops the run with
``strict``. Blank lines are not rows. An interrupted or failed run keeps every row it
recorded and continues with ``resume`` (see :mod:`.checkpoint`).
"""

from salesnlp.integrations.files.checkpoint import PARTIAL_SUFFIX, PROGRESS_SUFFIX, Checkpoint
from salesnlp.integrations.files.reading import INPUT_FORMATS, BatchUsageError
from salesnlp.integrations.files.run import (
    DEFAULT_CHUNK_SIZE,
    BatchOptions,
    BatchStats,
    MalformedRowError,
    classify_stream,
    format_for,
    summary,
)
from salesnlp.integrations.files.writing import (
    OUTPUT_COLUMNS,
    OUTPUT_FORMATS,
    escape_formula,
    result_fields,
)

__all__ = ["DEFAULT_CHUNK_SIZE", "INPUT_FORMATS", "OUTPUT_COLUMNS", "OUTPUT_FORMATS",
           "PARTIAL_SUFFIX", "PROGRESS_SUFFIX", "BatchOptions", "BatchStats", "BatchUsageError",
           "Checkpoint", "MalformedRowError", "classify_stream", "escape_formula",
           "format_for", "result_fields", "summary"]
