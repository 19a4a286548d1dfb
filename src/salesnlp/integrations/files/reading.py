"""Reading rows from CSV, JSON Lines and text files (or stdin), whatever their encoding.

Rows are read lazily, one record at a time, and every record knows the line it starts
on, so a malformed one is reported as ``file:line: reason`` and skipped rather than
stopping the run. Input is decoded as UTF-8 unless a byte-order mark says UTF-16 or
UTF-32, or ``encoding`` names another codec (``cp1257``, ``latin-1`` ...). Bytes that
do not decode make the row that holds them a malformed row, with a hint to pass the
right encoding. :class:`Lines` counts the bytes it consumes and hashes them, so an
interrupted run can continue from the exact byte where it stopped and check that the
part already done is unchanged.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from salesnlp.errors import SalesNLPError
from salesnlp.jsonl import parse_json_object

INPUT_FORMATS: tuple[str, ...] = ("csv", "jsonl", "txt")
#: Delimiters tried when a CSV's delimiter is not given (``--delimiter auto``).
SNIFFED_DELIMITERS = ",;\t|"
_BAD_BYTES = re.compile("[\udc80-\udcff]")
_BOMS = ((codecs.BOM_UTF32_LE, "utf-32-le"), (codecs.BOM_UTF32_BE, "utf-32-be"),
         (codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
         (codecs.BOM_UTF16_BE, "utf-16-be"))
_BLOCK = 1 << 16


class BatchUsageError(SalesNLPError):
    """Arguments of a batch run that cannot work (format, column, paths, resume state)."""

    code = "E060"


@dataclass
class Row:
    """One input record: the line it starts on (1-based), its fields, or why it is bad."""

    line: int
    fields: dict[str, Any] | None
    error: str | None = None


def sniff_encoding(head: bytes, given: str | None = None) -> tuple[str, int]:
    """``(codec, bytes to skip)`` for a file that starts with ``head``.

    With no ``given`` encoding (or ``"auto"``), a byte-order mark decides, else UTF-8.
    A given ``utf-16``/``utf-32`` takes its byte order from the mark (little-endian
    without one); any given codec skips a byte-order mark of its own.

    Raises:
        BatchUsageError: the codec is unknown, or the text looks like UTF-16 without a
            byte-order mark and no encoding was given.
    """
    found = next(((codec, len(bom)) for bom, codec in _BOMS if head.startswith(bom)), None)
    if given in (None, "auto"):
        if found:
            return found
        sample = head[:4096]
        if len(sample) >= 4 and sample.count(0) * 3 > len(sample):
            raise BatchUsageError(
                "the input looks like UTF-16 or UTF-32 text without a byte-order mark",
                hint="give its encoding, e.g. --encoding utf-16-le")
        return "utf-8", 0
    try:
        codec = codecs.lookup(given).name
    except LookupError:
        raise BatchUsageError(f"unknown encoding {given!r}",
                              hint="use a Python codec name, e.g. utf-8, utf-16, cp1257, "
                                   "latin-1") from None
    if codec in ("utf-16", "utf-32"):
        return found if found and found[0].startswith(codec) else (f"{codec}-le", 0)
    if codec == "utf-8-sig":
        codec = "utf-8"
    return (codec, found[1]) if found and found[0] == codec else (codec, 0)


class Lines:
    """Decoded lines of a binary stream, counting (and hashing) the bytes consumed.

    Lines are split on the encoded ``"\\n"`` at character boundaries, so UTF-16 and
    UTF-32 files split where their text does. UTF-8 bytes that do not decode become lone
    surrogates (``surrogateescape``) so that the row holding them can be reported; with
    other codecs such a line is kept as raw text marked bad (see :meth:`bad`).
    """

    def __init__(self, handle: IO[bytes], codec: str = "utf-8", offset: int = 0,
                 line: int = 0, pending: bytes = b"") -> None:
        self.handle = handle
        self.codec = codec
        self.newline = "\n".encode(codec)
        self.unit = len(self.newline)
        self.offset = offset
        self.line = line
        self.digest = hashlib.sha256()
        self._buffer = pending  # bytes already read from ``handle`` after ``offset``
        self._bad_lines: set[int] = set()

    def __iter__(self) -> Lines:
        return self

    def __next__(self) -> str:
        raw = self._read_line()
        if not raw:
            raise StopIteration
        self.offset += len(raw)
        self.line += 1
        self.digest.update(raw)
        return self._decode(raw)

    def bad(self, line: int) -> bool:
        """True if ``line`` held bytes that are not text in the input's encoding."""
        return line in self._bad_lines

    def seek(self, offset: int, line: int, digest: Any = None) -> None:
        """Continue at byte ``offset`` (line ``line``); ``digest`` hashes the bytes before."""
        self.handle.seek(offset)
        self._buffer = b""
        self.offset, self.line = offset, line
        if digest is not None:
            self.digest = digest

    def _read_line(self) -> bytes:
        start = 0
        while True:
            at = self._buffer.find(self.newline, start)
            while at != -1 and at % self.unit:
                at = self._buffer.find(self.newline, at + 1)
            if at != -1:
                cut = at + self.unit
                raw, self._buffer = self._buffer[:cut], self._buffer[cut:]
                return raw
            start = max(0, len(self._buffer) - len(self._buffer) % self.unit)
            block = self.handle.read(_BLOCK)
            if not block:
                raw, self._buffer = self._buffer, b""
                return raw
            self._buffer += block

    def _decode(self, raw: bytes) -> str:
        if self.codec == "utf-8":
            text = raw.decode("utf-8", "surrogateescape")
            if _BAD_BYTES.search(text):
                self._bad_lines.add(self.line)
            return text
        try:
            return raw.decode(self.codec)
        except UnicodeDecodeError:
            self._bad_lines.add(self.line)
            return raw.decode(self.codec, "replace")


def not_text_reason(codec: str) -> str:
    hint = ("; if the file is in another encoding, give it with --encoding "
            "(e.g. cp1257, latin-1, utf-16)") if codec == "utf-8" else ""
    return f"not valid {codec.upper() if codec == 'utf-8' else codec} text{hint}"


def check_text_field(fields: dict[str, Any], column: str) -> str | None:
    """Why ``fields[column]`` cannot be classified, or None if it can."""
    if column not in fields:
        return f"no field {column!r}"
    value = fields[column]
    if not isinstance(value, str):
        return f"field {column!r} must be a string, got {type(value).__name__}"
    if not value.strip():
        return f"field {column!r} is empty"
    return None


def read_jsonl(lines: Lines, column: str) -> Iterator[Row]:
    for text in lines:
        if not text.strip():
            continue
        if lines.bad(lines.line):
            yield Row(lines.line, None, not_text_reason(lines.codec))
            continue
        fields, error = parse_json_object(text)
        yield Row(lines.line, fields, error or check_text_field(fields, column))


def read_txt(lines: Lines, column: str) -> Iterator[Row]:
    for text in lines:
        text = text.rstrip("\r\n")
        if not text.strip():
            continue
        if lines.bad(lines.line):
            yield Row(lines.line, None, not_text_reason(lines.codec))
            continue
        yield Row(lines.line, {column: text})


def _csv_reader(lines: Iterable[str], delimiter: str):
    limit = 2**31 - 1
    if csv.field_size_limit() < limit:
        csv.field_size_limit(limit)  # notes can be long; the default is 128 KiB
    return csv.reader(lines, delimiter=delimiter)


def sniff_delimiter(header_line: str, column: str) -> str:
    """The delimiter of a CSV header line: among those that yield the text column (or all,
    if none does), the one that yields the most fields; ``,`` on a tie or when none
    splits the line."""
    def split(delimiter: str) -> list[str]:
        return next(csv.reader([header_line], delimiter=delimiter), [])

    ranked = [(column in split(d), len(split(d)), -i, d)
              for i, d in enumerate(SNIFFED_DELIMITERS)]
    found, n_fields, _, best = max(ranked)
    return best if found or n_fields > 1 else ","


def read_csv_header(lines: Lines, column: str, delimiter: str | None, name: str
                    ) -> tuple[list[str], str]:
    """The header row and the delimiter (sniffed from the header if ``delimiter`` is None).

    Raises:
        BatchUsageError: no header, a header that is not text, repeated names, or no
            ``column`` in it (with a hint about the delimiter when another one would find it).
    """
    for first in lines:
        if first.strip():
            break
    else:
        raise BatchUsageError(f"{name} is empty: expected a CSV header row")
    if lines.bad(lines.line):
        raise BatchUsageError(f"{name}: the header is {not_text_reason(lines.codec)}")
    if delimiter is None:
        delimiter = sniff_delimiter(first.rstrip("\r\n"), column)
    header = next(_csv_reader(_continued(first, lines), delimiter))
    if len(set(header)) != len(header):
        raise BatchUsageError(f"{name}: repeated column names in the header {header}")
    if column not in header:
        other = [d for d in SNIFFED_DELIMITERS if d != delimiter
                 and column in next(csv.reader([first.rstrip("\r\n")], delimiter=d), [])]
        hint = (f"this file seems to use {other[0]!r} between fields: add "
                f"--delimiter {other[0]!r}" if other
                else "name the text column with --text-column")
        raise BatchUsageError(f"{name}: no column {column!r} in the header {header}", hint=hint)
    return header, delimiter


def _continued(first: str, lines: Lines) -> Iterator[str]:
    """``first`` then the following lines (a quoted header may span several)."""
    yield first
    yield from lines


def read_csv(lines: Lines, header: list[str], column: str, delimiter: str) -> Iterator[Row]:
    reader = _csv_reader(lines, delimiter)
    while True:
        start = lines.line + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield Row(start, None, f"unreadable CSV ({exc})")
            continue
        if not values:
            continue
        if any(lines.bad(n) for n in range(start, lines.line + 1)):
            yield Row(start, None, not_text_reason(lines.codec))
        elif len(values) != len(header):
            yield Row(start, None,
                      f"expected {len(header)} fields (as the header), got {len(values)}")
        else:
            fields = dict(zip(header, values, strict=True))
            yield Row(start, fields, check_text_field(fields, column))


def rows_of_texts(texts: Iterable[Any], column: str) -> Iterator[Row]:
    """Rows for notes given directly (``salesnlp classify "note" ...``)."""
    for i, text in enumerate(texts, 1):
        fields = {column: text}
        yield Row(i, fields, check_text_field(fields, column))
