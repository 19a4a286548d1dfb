"""Writing results as CSV or JSON Lines: the added columns, cells, and safe bytes.

CSV cells that a spreadsheet would run as a formula (text starting with ``=``, ``+``,
``-``, ``@``, a tab or a carriage return, as in ``=HYPERLINK(...)`` or ``+cmd|...``)
get a leading ``'`` (OWASP's advice against CSV injection), unless they are plain
numbers such as ``-5``; ``escape_formulas=False`` writes them unchanged. Text that is
not valid Unicode (lone surrogates, from a JSON escape such as ``"\\ud83d"``) is
written as U+FFFD in CSV and as its ``\\uXXXX`` escape in JSON Lines, so the output is
always valid UTF-8 and JSON Lines output reads back exactly. Line separators that
are not ``\\n`` (U+0085, U+2028, U+2029) are escaped in JSON Lines, so a reader that
splits lines the way Python's ``str.splitlines`` does still sees one record per line.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any

from salesnlp.results import ROW_COLUMNS

if TYPE_CHECKING:  # pragma: no cover
    from salesnlp.results import Classification

OUTPUT_FORMATS: tuple[str, ...] = ("csv", "jsonl")
OUTPUT_COLUMNS: tuple[str, ...] = ROW_COLUMNS
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
_SURROGATES = re.compile("[\ud800-\udfff]")
_LINE_SEPARATORS = re.compile("[\x85\u2028\u2029]")
_NUMBER = re.compile(r"[+-]?(\d+([.,]\d*)?|[.,]\d+)([eE][+-]?\d+)?")


def result_fields(result: Classification, *, flat: bool = False) -> dict[str, Any]:
    """The added columns for one result (:meth:`Classification.to_row`)."""
    return result.to_row(flat=flat)


def csv_columns(input_columns: Iterable[str]) -> list[str]:
    """The input's columns followed by the added ones (an input column of the same name
    is replaced in place)."""
    columns = list(input_columns)
    return columns + [c for c in OUTPUT_COLUMNS if c not in columns]


def escape_formula(cell: str) -> str:
    """``cell`` with a leading ``'`` if a spreadsheet would read it as a formula."""
    if cell.startswith(FORMULA_STARTS) and not _NUMBER.fullmatch(cell):
        return "'" + cell
    return cell


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list)):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class RowEncoder:
    """Turns output rows into bytes in CSV or JSONL."""

    def __init__(self, fmt: str, columns: list[str] | None, delimiter: str = ",",
                 escape_formulas: bool = True) -> None:
        self.fmt = fmt
        self.columns = columns
        self.delimiter = delimiter
        self.escape_formulas = escape_formulas
        self._warned: set[str] = set()

    def header(self) -> bytes:
        if self.fmt != "csv" or self.columns is None:
            return b""
        return self._csv([[self._safe(c) for c in self.columns]])

    def rows(self, rows: list[dict[str, Any]], warn: Callable[[str], None]) -> bytes:
        if not rows:
            return b""
        if self.fmt == "jsonl":
            # ensure_ascii=False keeps text readable; a lone surrogate (only possible inside
            # a JSON string) becomes its \uXXXX escape, which reads back as the same string.
            text = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows)
            text = _LINE_SEPARATORS.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
            return text.encode("utf-8", "backslashreplace")
        assert self.columns is not None
        known = set(self.columns)
        for row in rows:
            for key in row.keys() - known - self._warned:
                self._warned.add(key)
                warn(f"field {key!r} is not among the CSV columns (fixed by the first row) "
                     "and is left out; write JSONL to keep every field")
        return self._csv([[self._safe(_cell(r.get(c))) for c in self.columns] for r in rows])

    def _safe(self, cell: str) -> str:
        if _SURROGATES.search(cell):
            cell = _SURROGATES.sub("\ufffd", cell)
        return escape_formula(cell) if self.escape_formulas else cell

    def _csv(self, rows: list[list[str]]) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=self.delimiter, lineterminator="\n").writerows(rows)
        return buffer.getvalue().encode("utf-8")
