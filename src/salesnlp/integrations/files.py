"""Streaming classification of files: the engine behind ``salesnlp classify``.

Input is CSV, JSON Lines or plain text (one note a line), from a file or stdin;
output is CSV or JSON Lines, to a file or stdout. Rows are read, classified and
written in chunks (256 by default), so memory stays flat on a file of any size.
Every input column is kept and these are added (``OUTPUT_COLUMNS``):
``language``, ``labels`` (a list in JSONL, ``;``-joined in CSV), one
``score_<label>`` per label and ``evidence`` (a list in JSONL, a JSON string in
CSV).

A malformed row (bad JSON, a missing, empty or non-string text field, a CSV
row with the wrong number of fields, bytes that are not UTF-8) is reported on
stderr with its line number and skipped, or stops the run with ``strict``.
Blank lines are not rows.

Writing to a file goes through ``<output>.partial`` (appended and flushed per
chunk) and a JSON sidecar ``<output>.progress`` that records the input
position and the partial file's size after each chunk. ``resume=True`` cuts the
partial file back to the recorded size and reads on from the recorded input
position, so an interrupted run continues without a duplicated or lost row.
When done, the partial file is renamed to ``<output>`` and the sidecar removed.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from salesnlp.errors import SalesNLPError
from salesnlp.labels import LABELS

if TYPE_CHECKING:  # pragma: no cover
    from salesnlp.inference.classifier import Classifier
    from salesnlp.results import Classification

INPUT_FORMATS: tuple[str, ...] = ("csv", "jsonl", "txt")
OUTPUT_FORMATS: tuple[str, ...] = ("csv", "jsonl")
OUTPUT_COLUMNS: tuple[str, ...] = (
    "language", "labels", *(f"score_{label}" for label in LABELS), "evidence",
)
PARTIAL_SUFFIX = ".partial"
PROGRESS_SUFFIX = ".progress"
DEFAULT_CHUNK_SIZE = 256
_SIDECAR_VERSION = 1
_BAD_BYTES = re.compile("[\udc80-\udcff]")
_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".txt": "txt"}
# Testing hook: die (as if killed) after writing this many chunks, before the sidecar.
_CRASH_ENV = "_SALESNLP_CLASSIFY_CRASH_AFTER_CHUNKS"


class BatchUsageError(SalesNLPError):
    """Arguments of a batch run that cannot work (format, column, paths, resume state)."""

    code = "E060"


class MalformedRowError(SalesNLPError):
    """A malformed input row in a ``strict`` run."""

    code = "E061"


@dataclass
class BatchStats:
    """What a batch run did (counts include rows done before a resume)."""

    classified: int = 0
    skipped: int = 0
    rows: int = 0
    seconds: float = 0.0
    output: str = "<stdout>"
    resumed_at_row: int = 0
    classified_this_run: int = 0
    skipped_lines: list[int] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.skipped == 0


# --- result columns (shared with salesnlp.integrations.pandas) -----------------------


def result_fields(result: Classification, *, flat: bool = False) -> dict[str, Any]:
    """The added columns for one result, in ``OUTPUT_COLUMNS`` order.

    Args:
        result: a classification.
        flat: CSV style: labels joined with ``;`` and evidence as a JSON string.
    """
    labels = list(result.labels)
    evidence = [e.to_dict() for e in result.evidence]
    fields: dict[str, Any] = {
        "language": result.language,
        "labels": ";".join(labels) if flat else labels,
    }
    for label in LABELS:
        fields[f"score_{label}"] = round(float(result.scores.get(label, 0.0)), 4)
    fields["evidence"] = json.dumps(evidence, ensure_ascii=False) if flat else evidence
    return fields


# --- reading -----------------------------------------------------------------------------


@dataclass
class _Row:
    line: int  # line where the record starts (1-based)
    fields: dict[str, Any] | None
    error: str | None = None


class _Lines:
    """Decoded lines of a binary stream that count the bytes and lines consumed.

    Bytes that are not UTF-8 become lone surrogates (``surrogateescape``) so that
    the row holding them can be reported rather than crash the run.
    """

    def __init__(self, handle: IO[bytes], offset: int = 0, line: int = 0) -> None:
        self.handle = handle
        self.offset = offset
        self.line = line

    def __iter__(self) -> _Lines:
        return self

    def __next__(self) -> str:
        raw = self.handle.readline()
        if not raw:
            raise StopIteration
        if self.offset == 0 and raw.startswith(b"\xef\xbb\xbf"):
            text = raw[3:].decode("utf-8", "surrogateescape")
        else:
            text = raw.decode("utf-8", "surrogateescape")
        self.offset += len(raw)
        self.line += 1
        return text

    def seek(self, offset: int, line: int) -> None:
        self.handle.seek(offset)
        self.offset, self.line = offset, line


def _bad_bytes(values: Iterable[Any]) -> bool:
    return any(isinstance(v, str) and _BAD_BYTES.search(v) for v in values)


def _check_text(fields: dict[str, Any], column: str) -> str | None:
    if column not in fields:
        return f"no field {column!r}"
    value = fields[column]
    if not isinstance(value, str):
        return f"field {column!r} must be a string, got {type(value).__name__}"
    if not value.strip():
        return f"field {column!r} is empty"
    return None


def _read_jsonl(lines: _Lines, column: str) -> Iterator[_Row]:
    for text in lines:
        if not text.strip():
            continue
        if _BAD_BYTES.search(text):
            yield _Row(lines.line, None, "not valid UTF-8")
            continue
        try:
            fields = json.loads(text)
        except json.JSONDecodeError as exc:
            yield _Row(lines.line, None, f"bad JSON ({exc.msg} at column {exc.colno})")
            continue
        if not isinstance(fields, dict):
            yield _Row(lines.line, None, "a line must hold a JSON object")
            continue
        yield _Row(lines.line, fields, _check_text(fields, column))


def _read_txt(lines: _Lines, column: str) -> Iterator[_Row]:
    for text in lines:
        text = text.rstrip("\r\n")
        if not text.strip():
            continue
        if _BAD_BYTES.search(text):
            yield _Row(lines.line, None, "not valid UTF-8")
            continue
        yield _Row(lines.line, {column: text})


def _csv_reader(lines: _Lines, delimiter: str):
    limit = 2**31 - 1
    if csv.field_size_limit() < limit:
        csv.field_size_limit(limit)  # notes can be long; the default is 128 KiB
    return csv.reader(lines, delimiter=delimiter)


def _read_csv_header(lines: _Lines, column: str, delimiter: str, name: str) -> list[str]:
    reader = _csv_reader(lines, delimiter)
    for header in reader:
        if header:
            break
    else:
        raise BatchUsageError(f"{name} is empty: expected a CSV header row")
    if _bad_bytes(header):
        raise BatchUsageError(f"{name}: the header is not valid UTF-8")
    if len(set(header)) != len(header):
        raise BatchUsageError(f"{name}: repeated column names in the header {header}")
    if column not in header:
        raise BatchUsageError(f"{name}: no column {column!r} in the header {header}",
                              hint="name the text column with --text-column")
    return header


def _read_csv(lines: _Lines, header: list[str], column: str, delimiter: str) -> Iterator[_Row]:
    reader = _csv_reader(lines, delimiter)
    while True:
        start = lines.line + 1
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            yield _Row(start, None, f"unreadable CSV ({exc})")
            continue
        if not values:
            continue
        if _bad_bytes(values):
            yield _Row(start, None, "not valid UTF-8")
        elif len(values) != len(header):
            yield _Row(start, None,
                       f"expected {len(header)} fields (as the header), got {len(values)}")
        else:
            fields = dict(zip(header, values, strict=True))
            yield _Row(start, fields, _check_text(fields, column))


# --- writing -----------------------------------------------------------------------------


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list, bool)):
        return json.dumps(value, ensure_ascii=False)
    return str(value)


class _Encoder:
    """Turns output rows into bytes in CSV or JSONL."""

    def __init__(self, fmt: str, columns: list[str] | None, delimiter: str = ",") -> None:
        self.fmt = fmt
        self.columns = columns
        self.delimiter = delimiter
        self._warned: set[str] = set()

    def header(self) -> bytes:
        if self.fmt != "csv" or self.columns is None:
            return b""
        return self._csv([self.columns])

    def rows(self, rows: list[dict[str, Any]], warn: Callable[[str], None]) -> bytes:
        if not rows:
            return b""
        if self.fmt == "jsonl":
            return "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows).encode()
        assert self.columns is not None
        known = set(self.columns)
        for row in rows:
            for key in row.keys() - known - self._warned:
                self._warned.add(key)
                warn(f"field {key!r} is not among the CSV columns (fixed by the first row) "
                     "and is left out; write JSONL to keep every field")
        return self._csv([[_cell(r.get(c)) for c in self.columns] for r in rows])

    def _csv(self, rows: list[list[str]]) -> bytes:
        buffer = io.StringIO()
        csv.writer(buffer, delimiter=self.delimiter, lineterminator="\n").writerows(rows)
        return buffer.getvalue().encode("utf-8")


def _csv_columns(input_columns: Iterable[str]) -> list[str]:
    columns = list(input_columns)
    return columns + [c for c in OUTPUT_COLUMNS if c not in columns]


# --- the run -----------------------------------------------------------------------------


def format_for(path: str | Path | None, given: str | None, allowed: tuple[str, ...],
               default: str, what: str) -> str:
    """The file format: ``given``, else from the file's extension, else ``default``."""
    if given:
        if given not in allowed:
            raise BatchUsageError(f"unknown {what} format {given!r}; accepted: {list(allowed)}")
        return given
    if path is None or str(path) == "-":
        return default
    fmt = _EXTENSIONS.get(Path(path).suffix.lower())
    if fmt not in allowed:
        raise BatchUsageError(
            f"cannot tell the {what} format of {path} from its extension; "
            f"accepted: {', '.join('.' + f for f in allowed)}",
            hint=f"name the format with --{'format' if what == 'input' else 'output-format'}")
    return fmt


def classify_stream(
    load_classifier: Callable[[], Classifier],
    *,
    input_path: str | Path | None = None,
    texts: list[str] | None = None,
    output_path: str | Path | None = None,
    input_format: str | None = None,
    output_format: str | None = None,
    text_column: str = "text",
    delimiter: str = ",",
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    batch_size: int = 32,
    strict: bool = False,
    resume: bool = False,
    progress: bool | None = None,
    stdin: IO[bytes] | None = None,
    stdout: IO[bytes] | None = None,
    stderr: IO[str] | None = None,
) -> BatchStats:
    """Classify the notes of a file (or stdin, or ``texts``) into a file (or stdout).

    Args:
        load_classifier: called once, after the arguments and input are checked.
        input_path: CSV, JSONL or text file; ``None`` or ``"-"`` reads stdin.
        texts: notes given directly (instead of an input file).
        output_path: CSV or JSONL file; ``None`` or ``"-"`` writes stdout.
        input_format: ``csv``, ``jsonl`` or ``txt``; default from the extension (stdin: txt).
        output_format: ``csv`` or ``jsonl``; default from the extension (stdout: jsonl).
        text_column: the field holding the note (the column name given to txt lines).
        delimiter: CSV field delimiter, for reading and writing.
        chunk_size: rows read, classified and written at a time.
        batch_size: notes per forward pass.
        strict: stop at the first malformed row (raise :class:`MalformedRowError`).
        resume: continue an interrupted run into the same ``output_path``.
        progress: show a progress bar on stderr; ``None``: only if stderr is a terminal.
        stdin, stdout, stderr: streams to use instead of the process's own.

    Returns:
        The counts; ``stats.ok`` is False if any row was skipped.

    Raises:
        BatchUsageError: arguments or files that cannot work (before any row is read).
        MalformedRowError: a malformed row with ``strict``.
    """
    err = stderr if stderr is not None else sys.stderr
    if not isinstance(chunk_size, int) or chunk_size < 1:
        raise BatchUsageError(f"chunk size must be a positive integer, got {chunk_size!r}")
    if len(delimiter) != 1:
        raise BatchUsageError(f"the CSV delimiter must be one character, got {delimiter!r}")
    from_stdin = texts is None and (input_path is None or str(input_path) == "-")
    to_stdout = output_path is None or str(output_path) == "-"
    name = "<stdin>" if from_stdin else "<args>" if texts is not None else str(input_path)
    if not from_stdin and texts is None:
        if not Path(input_path).is_file():
            raise BatchUsageError(f"{input_path} does not exist or is not a file")
    in_fmt = "txt" if texts is not None else format_for(
        None if from_stdin else input_path, input_format, INPUT_FORMATS, "txt", "input")
    out_fmt = format_for(None if to_stdout else output_path, output_format, OUTPUT_FORMATS,
                         "jsonl", "output")
    if resume and (to_stdout or from_stdin or texts is not None):
        raise BatchUsageError("--resume needs an --input file and an --output file")
    if not to_stdout:
        output_path = Path(output_path)
        if not output_path.parent.is_dir():
            raise BatchUsageError(f"the directory of {output_path} does not exist")
        if not from_stdin and texts is None and output_path.resolve() == Path(
                input_path).resolve():
            raise BatchUsageError("the output file must not be the input file")

    run = _Run(err=err, name=name, strict=strict)
    handle: IO[bytes] | None = None
    sink: _Sink | None = None
    try:
        if texts is not None:
            rows: Iterator[_Row] = (_Row(i, {text_column: t}, _check_text({text_column: t},
                                                                         text_column))
                                    for i, t in enumerate(texts, 1))
            lines = None
            header = None
        else:
            handle = (stdin if stdin is not None else sys.stdin.buffer) if from_stdin else open(
                input_path, "rb")  # noqa: SIM115 - closed in finally
            lines = _Lines(handle)
            header = (_read_csv_header(lines, text_column, delimiter, name)
                      if in_fmt == "csv" else None)
            rows = iter(())
        columns = _csv_columns(header if header is not None else [text_column])
        if header is not None and set(header) & set(OUTPUT_COLUMNS):
            run.warn(f"input column(s) {sorted(set(header) & set(OUTPUT_COLUMNS))} are "
                     "replaced by the classifier's output")
        state = {"version": _SIDECAR_VERSION, "input_format": in_fmt, "output_format": out_fmt,
                 "text_column": text_column, "delimiter": delimiter, "columns": None,
                 "rows_consumed": 0, "input_offset": lines.offset if lines else 0,
                 "input_line": lines.line if lines else 0, "output_bytes": 0,
                 "classified": 0, "skipped": 0, "complete": False}
        if to_stdout:
            sink = _StdoutSink(stdout if stdout is not None else sys.stdout.buffer)
        else:
            state.update(_input_identity(Path(input_path)) if texts is None else {})
            sink = _FileSink(output_path, state, resume, run)
            if sink.done:
                return run.stats
        state = sink.state
        if lines is not None:
            if state["rows_consumed"]:
                lines.seek(state["input_offset"], state["input_line"])
                run.stats.resumed_at_row = state["rows_consumed"]
            rows = {"csv": lambda: _read_csv(lines, header, text_column, delimiter),
                    "jsonl": lambda: _read_jsonl(lines, text_column),
                    "txt": lambda: _read_txt(lines, text_column)}[in_fmt]()
        if out_fmt == "csv":
            if state["columns"] is None and header is not None:
                state["columns"] = columns
        encoder = _Encoder(out_fmt, state["columns"], delimiter)
        run.stats.classified, run.stats.skipped = state["classified"], state["skipped"]
        run.stats.rows = state["rows_consumed"]
        classifier = load_classifier()
        run.started = time.perf_counter()  # the rate is about classifying, not loading
        total = None if lines is None or from_stdin else os.path.getsize(input_path)
        bar = _Bar(progress, err, total, state["input_offset"] if total is not None else 0)
        crash_after = int(os.environ.get(_CRASH_ENV, "0") or 0)
        chunks = 0
        try:
            for chunk in _chunked(rows, chunk_size):
                good = run.check(chunk)
                results = classifier.classify_many([r.fields[text_column] for r in good],
                                                   batch_size=batch_size) if good else []
                out_rows = [{**r.fields, **result_fields(res, flat=out_fmt == "csv")}
                            for r, res in zip(good, results, strict=True)]
                if out_fmt == "csv" and encoder.columns is None and out_rows:
                    encoder.columns = state["columns"] = _csv_columns(out_rows[0])
                data = (encoder.header() if state["output_bytes"] == 0 else b"")
                data += encoder.rows(out_rows, run.warn)
                sink.write(data)
                chunks += 1
                if crash_after and chunks >= crash_after:
                    os._exit(137)
                state["rows_consumed"] += len(chunk)
                state["classified"] += len(good)
                state["skipped"] += len(chunk) - len(good)
                if lines is not None:
                    state["input_offset"], state["input_line"] = lines.offset, lines.line
                sink.commit()
                run.stats.rows = state["rows_consumed"]
                run.stats.classified, run.stats.skipped = state["classified"], state["skipped"]
                run.stats.classified_this_run += len(good)
                bar.update(lines.offset if total is not None and lines else run.stats.rows,
                           run.stats.classified_this_run)
            if out_fmt == "csv" and state["output_bytes"] == 0 and encoder.columns:
                sink.write(encoder.header())
                sink.commit()
        finally:
            bar.close()
        sink.finish()
        run.stats.output = "<stdout>" if to_stdout else str(output_path)
        run.stats.seconds = time.perf_counter() - run.started
        return run.stats
    except MalformedRowError:
        if isinstance(sink, _FileSink):
            sink.discard()
        raise
    finally:
        if handle is not None and not from_stdin:
            handle.close()


def _input_identity(path: Path) -> dict[str, Any]:
    stat = path.stat()
    return {"input": str(path.resolve()), "input_size": stat.st_size,
            "input_mtime_ns": stat.st_mtime_ns}


def _chunked(rows: Iterator[_Row], size: int) -> Iterator[list[_Row]]:
    chunk: list[_Row] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


class _Run:
    def __init__(self, err: IO[str], name: str, strict: bool) -> None:
        self.err = err
        self.name = name
        self.strict = strict
        self.stats = BatchStats()
        self.started = time.perf_counter()

    def warn(self, message: str) -> None:
        print(f"salesnlp classify: warning: {message}", file=self.err, flush=True)

    def check(self, chunk: list[_Row]) -> list[_Row]:
        good = []
        for row in chunk:
            if row.error is None:
                good.append(row)
                continue
            if self.strict:
                raise MalformedRowError(
                    f"{self.name}:{row.line}: {row.error}",
                    hint="fix or remove the row, or run without --strict to skip bad rows")
            self.stats.skipped_lines.append(row.line)
            print(f"{self.name}:{row.line}: skipped: {row.error}", file=self.err, flush=True)
        return good


class _Sink:
    state: dict[str, Any]
    done = False

    def write(self, data: bytes) -> None:
        raise NotImplementedError

    def commit(self) -> None:
        pass

    def finish(self) -> None:
        pass


class _StdoutSink(_Sink):
    def __init__(self, stream: IO[bytes]) -> None:
        self.stream = stream
        self.state = {"columns": None, "rows_consumed": 0, "input_offset": 0, "input_line": 0,
                      "output_bytes": 0, "classified": 0, "skipped": 0}

    def write(self, data: bytes) -> None:
        self.stream.write(data)
        self.stream.flush()
        self.state["output_bytes"] += len(data)


class _FileSink(_Sink):
    """``<output>.partial`` plus the ``<output>.progress`` sidecar."""

    def __init__(self, output: Path, state: dict[str, Any], resume: bool, run: _Run) -> None:
        self.output = output
        self.partial = output.with_name(output.name + PARTIAL_SUFFIX)
        self.sidecar = output.with_name(output.name + PROGRESS_SUFFIX)
        self.state = state
        self.run = run
        if resume and self.sidecar.exists():
            self._resume()
        else:
            if resume:
                run.warn(f"no interrupted run to resume ({self.sidecar} not found); "
                         "starting from the beginning")
            self.sidecar.unlink(missing_ok=True)
            self.handle = open(self.partial, "wb")  # noqa: SIM115 - closed in finish()

    def _resume(self) -> None:
        try:
            saved = json.loads(self.sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise BatchUsageError(f"cannot read {self.sidecar}: {exc}",
                                  hint="run again without --resume to start over") from exc
        keys = ("version", "input", "input_format", "output_format", "text_column",
                "delimiter")
        changed = [k for k in keys if saved.get(k) != self.state.get(k)]
        if changed:
            raise BatchUsageError(
                f"--resume with other settings than the interrupted run ({', '.join(changed)} "
                f"differ; recorded in {self.sidecar})",
                hint="repeat the first run's arguments, or run without --resume to start over")
        if (saved.get("input_size"), saved.get("input_mtime_ns")) != (
                self.state["input_size"], self.state["input_mtime_ns"]):
            raise BatchUsageError(f"{saved['input']} changed since the interrupted run",
                                  hint="run without --resume to start over")
        if saved.get("complete") and self.output.exists() and not self.partial.exists():
            self.sidecar.unlink()
            self.run.warn(f"{self.output} was already complete")
            self.done = True
            self.run.stats.classified = saved["classified"]
            self.run.stats.skipped = saved["skipped"]
            self.run.stats.rows = saved["rows_consumed"]
            self.run.stats.output = str(self.output)
            return
        size = self.partial.stat().st_size if self.partial.exists() else -1
        if size < saved["output_bytes"]:
            raise BatchUsageError(
                f"{self.partial} is missing or shorter than recorded in {self.sidecar}",
                hint="run without --resume to start over")
        self.state = saved
        self.handle = open(self.partial, "r+b")  # noqa: SIM115 - closed in finish()
        self.handle.truncate(saved["output_bytes"])
        self.handle.seek(saved["output_bytes"])
        self.run.warn(f"resuming at input row {saved['rows_consumed'] + 1} "
                      f"(line {saved['input_line'] + 1})")

    def write(self, data: bytes) -> None:
        self.handle.write(data)
        self.handle.flush()
        os.fsync(self.handle.fileno())
        self.state["output_bytes"] += len(data)

    def commit(self) -> None:
        tmp = self.sidecar.with_name(self.sidecar.name + ".tmp")
        tmp.write_text(json.dumps(self.state, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp, self.sidecar)

    def finish(self) -> None:
        self.handle.close()
        self.state["complete"] = True
        self.commit()
        os.replace(self.partial, self.output)
        self.sidecar.unlink()

    def discard(self) -> None:
        """Remove the partial output and the sidecar (a failed ``strict`` run)."""
        self.handle.close()
        self.partial.unlink(missing_ok=True)
        self.sidecar.unlink(missing_ok=True)


class _Bar:
    """tqdm on stderr: input bytes (with ETA) for files, notes for streams."""

    def __init__(self, enabled: bool | None, err: IO[str], total: int | None,
                 initial: int) -> None:
        if enabled is None:
            enabled = bool(getattr(err, "isatty", lambda: False)())
        self.bar = None
        self.started = time.perf_counter()
        if not enabled:
            return
        from tqdm import tqdm

        if total is not None:
            self.bar = tqdm(total=total, initial=initial, unit="B", unit_scale=True,
                            unit_divisor=1024, file=err, desc="classify", dynamic_ncols=True,
                            bar_format="{desc}: {percentage:3.0f}%|{bar}| {n_fmt}B/{total_fmt}B "
                                       "[{elapsed}<{remaining}{postfix}]")
        else:
            self.bar = tqdm(unit="note", file=err, desc="classify", dynamic_ncols=True)
        self.position = initial

    def update(self, position: int, notes: int) -> None:
        if self.bar is None:
            return
        self.bar.update(position - self.position)
        self.position = position
        if self.bar.total is not None:
            rate = notes / max(time.perf_counter() - self.started, 1e-9)
            self.bar.set_postfix_str(f"{notes:,} notes, {rate:.0f} notes/s", refresh=False)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def summary(stats: BatchStats) -> str:
    """One line for stderr: counts, destination, time and rate."""
    rate = stats.classified_this_run / stats.seconds if stats.seconds > 0 else 0.0
    text = (f"salesnlp classify: {stats.classified} classified, {stats.skipped} skipped"
            f" -> {stats.output}")
    if stats.seconds:
        text += f" ({stats.seconds:.1f} s, {rate:.0f} notes/s)"
    if stats.resumed_at_row:
        text += f"; resumed after input row {stats.resumed_at_row}"
    return text
