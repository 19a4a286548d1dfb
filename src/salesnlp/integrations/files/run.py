"""A batch run: read rows in chunks, classify them, write them, record progress."""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING

from salesnlp.errors import SalesNLPError
from salesnlp.integrations.files.checkpoint import (
    Checkpoint,
    FileSink,
    Sink,
    StdoutSink,
    protected_paths,
)
from salesnlp.integrations.files.reading import (
    INPUT_FORMATS,
    BatchUsageError,
    Lines,
    Row,
    read_csv,
    read_csv_header,
    read_jsonl,
    read_txt,
    rows_of_texts,
    sniff_encoding,
)
from salesnlp.integrations.files.writing import (
    OUTPUT_COLUMNS,
    OUTPUT_FORMATS,
    RowEncoder,
    csv_columns,
    result_fields,
)
from salesnlp.progress import file_progress

if TYPE_CHECKING:  # pragma: no cover
    from salesnlp.inference.classifier import Classifier

DEFAULT_CHUNK_SIZE = 256
_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".txt": "txt"}
# Testing hook: "<chunk>:<stage>" stops the process (as a kill would) at that point of
# that chunk; stages: classify, write (half of the chunk's bytes written), written,
# committed. With _SALESNLP_CLASSIFY_CRASH_RAISE=1 it raises SystemExit instead.
_CRASH_ENV = "_SALESNLP_CLASSIFY_CRASH"


class MalformedRowError(SalesNLPError):
    """A malformed input row in a ``strict`` run."""

    code = "E061"


@dataclass
class BatchOptions:
    """How a batch run reads, classifies and writes (the ``salesnlp classify`` options).

    Attributes:
        input_format: ``csv``, ``jsonl`` or ``txt``; default from the extension (stdin: txt).
        output_format: ``csv`` or ``jsonl``; default from the extension (stdout: jsonl).
        text_column: the field holding the note (the column name given to txt lines).
        delimiter: CSV delimiter; None: sniffed from a CSV input's header (``,`` otherwise).
            The output uses the input's.
        encoding: the input's text encoding; None: UTF-8, or what a byte-order mark says.
        chunk_size: rows read, classified and written at a time.
        batch_size: notes per forward pass.
        strict: stop at the first malformed row (:class:`MalformedRowError`) instead of
            skipping it.
        resume: continue an interrupted run into the same output file.
        escape_formulas: prefix CSV cells that a spreadsheet would run as formulas with
            ``'`` (see :mod:`.writing`).
        progress: show a progress bar on stderr; None: only if stderr is a terminal.
    """

    input_format: str | None = None
    output_format: str | None = None
    text_column: str = "text"
    delimiter: str | None = None
    encoding: str | None = None
    chunk_size: int = DEFAULT_CHUNK_SIZE
    batch_size: int = 32
    strict: bool = False
    resume: bool = False
    escape_formulas: bool = True
    progress: bool | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.chunk_size, int) or self.chunk_size < 1:
            raise BatchUsageError(f"chunk size must be a positive integer, got "
                                  f"{self.chunk_size!r}")
        if self.delimiter == "auto":
            self.delimiter = None
        if self.delimiter is not None and len(self.delimiter) != 1:
            raise BatchUsageError(f"the CSV delimiter must be one character, got "
                                  f"{self.delimiter!r}")


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
    stdin: IO[bytes] | None = None,
    stdout: IO[bytes] | None = None,
    stderr: IO[str] | None = None,
    **options,
) -> BatchStats:
    """Classify the notes of a file (or stdin, or ``texts``) into a file (or stdout).

    Args:
        load_classifier: called once, after the arguments and input are checked.
        input_path: CSV, JSONL or text file; ``None`` or ``"-"`` reads stdin.
        texts: notes given directly (instead of an input file).
        output_path: CSV or JSONL file; ``None`` or ``"-"`` writes stdout.
        stdin, stdout, stderr: streams to use instead of the process's own.
        **options: the fields of :class:`BatchOptions` (``text_column``, ``strict``,
            ``resume`` ...).

    Returns:
        The counts; ``stats.ok`` is False if any row was skipped.

    Raises:
        BatchUsageError: arguments or files that cannot work (before any row is read).
        MalformedRowError: a malformed row with ``strict``; rows recorded before it are
            kept in ``<output>.partial`` for ``--resume``.
    """
    run = _Run(BatchOptions(**options), stderr if stderr is not None else sys.stderr)
    source = _Source.of(input_path, texts, stdin, run.options)
    target = _target(output_path, source, run.options)
    with source:
        rows = source.open_rows()
        state = Checkpoint(input=source.identity, input_format=source.fmt,
                           output_format=target.fmt, text_column=run.options.text_column,
                           delimiter=source.delimiter, encoding=source.codec,
                           input_offset=source.offset, input_sha256=source.digest_hex())
        sink: Sink = (StdoutSink(stdout if stdout is not None else sys.stdout.buffer, state)
                      if target.path is None else
                      FileSink(target.path, state, run.options.resume, run.warn))
        if sink.done:
            return run.finished(sink.state, str(target.path))
        if source.header is not None and set(source.header) & set(OUTPUT_COLUMNS):
            run.warn(f"input column(s) {sorted(set(source.header) & set(OUTPUT_COLUMNS))} are "
                     "replaced by the classifier's output")
        if sink.state.rows_consumed:
            source.seek(sink.state, getattr(sink, "input_digest", None))
            run.stats.resumed_at_row = sink.state.rows_consumed
        if target.fmt == "csv" and sink.state.columns is None and source.header is not None:
            sink.state.columns = csv_columns(source.header)
        encoder = RowEncoder(target.fmt, sink.state.columns, source.delimiter or ",",
                             run.options.escape_formulas)
        try:
            run.process(rows(), sink, encoder, source, load_classifier)
        except MalformedRowError as exc:
            kept = sink.close_failed()
            if kept:
                exc.hint = (f"fix or remove the row and continue with the same command and "
                            f"--resume: the {sink.state.rows_consumed} rows before it are "
                            f"kept in {kept}")
            raise
        sink.finish()
    return run.finished(sink.state, "<stdout>" if target.path is None else str(target.path))


def read_rows(input_path: str | Path, options: BatchOptions | None = None) -> Iterator[Row]:
    """The rows of a CSV, JSON Lines or text file, read as ``salesnlp classify`` reads them
    (encoding, delimiter and malformed rows alike); each :class:`Row` has its line and
    either its fields or the reason it is malformed."""
    options = options or BatchOptions()
    with _Source.of(input_path, None, None, options) as source:
        yield from source.open_rows()()


@dataclass
class _Target:
    path: Path | None
    fmt: str


def _target(output_path, source: _Source, options: BatchOptions) -> _Target:
    to_stdout = output_path is None or str(output_path) == "-"
    fmt = format_for(None if to_stdout else output_path, options.output_format, OUTPUT_FORMATS,
                     "jsonl", "output")
    if options.resume and (to_stdout or source.path is None):
        raise BatchUsageError("--resume needs an --input file and an --output file")
    if to_stdout:
        return _Target(None, fmt)
    path = Path(output_path)
    if not path.parent.is_dir():
        raise BatchUsageError(f"the directory of {path} does not exist")
    if path.is_dir():
        raise BatchUsageError(f"{path} is a directory; give an output file name")
    if source.path is not None:
        written = {p.resolve() for p in protected_paths(path)}
        if source.path.resolve() in written:
            raise BatchUsageError(
                f"the input {source.path} is a file this run writes (the output, or its "
                f".partial/.progress file); it would be overwritten",
                hint="copy or rename the input first, or choose another --output")
    return _Target(path, fmt)


class _Source:
    """The input: a file, stdin or given texts, its format, encoding and lines."""

    def __init__(self, name: str, path: Path | None, texts, stream: IO[bytes] | None,
                 fmt: str, options: BatchOptions) -> None:
        self.name, self.path, self.texts, self.stream = name, path, texts, stream
        self.fmt, self.options = fmt, options
        self.header: list[str] | None = None
        self.delimiter = options.delimiter
        self.codec, self.offset = "utf-8", 0
        self.lines: Lines | None = None
        self._handle: IO[bytes] | None = None

    @classmethod
    def of(cls, input_path, texts, stdin, options: BatchOptions) -> _Source:
        if texts is not None:
            return cls("<args>", None, texts, None, "txt", options)
        if input_path is None or str(input_path) == "-":
            fmt = format_for(None, options.input_format, INPUT_FORMATS, "txt", "input")
            return cls("<stdin>", None, None, stdin if stdin is not None else sys.stdin.buffer,
                       fmt, options)
        path = Path(input_path)
        if not path.is_file():
            raise BatchUsageError(f"{input_path} does not exist or is not a file")
        fmt = format_for(path, options.input_format, INPUT_FORMATS, "txt", "input")
        return cls(str(input_path), path, None, None, fmt, options)

    @property
    def identity(self) -> str | None:
        return str(self.path.resolve()) if self.path is not None else None

    def __enter__(self) -> _Source:
        return self

    def __exit__(self, *exc) -> None:
        if self._handle is not None:
            self._handle.close()

    def open_rows(self) -> Callable[[], Iterator[Row]]:
        """Open the input, read a CSV header; return what makes the row iterator."""
        column = self.options.text_column
        if self.texts is not None:
            return lambda: rows_of_texts(self.texts, column)
        handle = self.stream if self.path is None else open(self.path, "rb")  # noqa: SIM115
        if self.path is not None:
            self._handle = handle
        head = handle.read(4096)
        self.codec, self.offset = sniff_encoding(head, self.options.encoding)
        self.lines = Lines(handle, self.codec, offset=self.offset, pending=head[self.offset:])
        self.lines.digest.update(head[: self.offset])
        if self.fmt == "csv":
            self.header, self.delimiter = read_csv_header(self.lines, column, self.delimiter,
                                                          self.name)
        lines = self.lines
        readers = {"csv": lambda: read_csv(lines, self.header, column, self.delimiter),
                   "jsonl": lambda: read_jsonl(lines, column),
                   "txt": lambda: read_txt(lines, column)}
        return readers[self.fmt]

    def digest_hex(self) -> str:
        return self.lines.digest.hexdigest() if self.lines is not None else ""

    def seek(self, state: Checkpoint, digest) -> None:
        assert self.lines is not None
        self.lines.seek(state.input_offset, state.input_line, digest)

    @property
    def position(self) -> int | None:
        return self.lines.offset if self.lines is not None and self.path is not None else None


class _Run:
    def __init__(self, options: BatchOptions, err: IO[str]) -> None:
        self.options = options
        self.err = err
        self.stats = BatchStats()
        self.started = time.perf_counter()
        self.crash = _crash_point()

    def warn(self, message: str) -> None:
        print(f"salesnlp classify: warning: {message}", file=self.err, flush=True)

    def process(self, rows: Iterator[Row], sink: Sink, encoder: RowEncoder, source: _Source,
                load_classifier: Callable[[], Classifier]) -> None:
        state = sink.state
        self.stats.classified, self.stats.skipped = state.classified, state.skipped
        self.stats.rows = state.rows_consumed
        classifier = load_classifier()
        self.started = time.perf_counter()  # the rate is about classifying, not loading
        total = os.path.getsize(source.path) if source.path is not None else None
        column = self.options.text_column
        with file_progress(self.options.progress, self.err, total, source.position or 0) as bar:
            for number, chunk in enumerate(_chunked(rows, self.options.chunk_size), 1):
                good = self.check(chunk, source.name)
                self._maybe_crash(number, "classify")
                results = classifier.classify_many([r.fields[column] for r in good],
                                                   batch_size=self.options.batch_size
                                                   ) if good else []
                flat = encoder.fmt == "csv"
                out_rows = [{**r.fields, **result_fields(res, flat=flat)}
                            for r, res in zip(good, results, strict=True)]
                if flat and encoder.columns is None and out_rows:
                    encoder.columns = state.columns = csv_columns(out_rows[0])
                data = (encoder.header() if state.output_bytes == 0 else b"")
                data += encoder.rows(out_rows, self.warn)
                self._write(sink, data, number)
                state.rows_consumed += len(chunk)
                state.classified += len(good)
                state.skipped += len(chunk) - len(good)
                if source.lines is not None:
                    state.input_offset, state.input_line = source.lines.offset, source.lines.line
                    state.input_sha256 = source.lines.digest.hexdigest()
                sink.commit()
                self._maybe_crash(number, "committed")
                self.stats.rows = state.rows_consumed
                self.stats.classified, self.stats.skipped = state.classified, state.skipped
                self.stats.classified_this_run += len(good)
                bar.update(source.position if source.position is not None else self.stats.rows,
                           self.stats.classified_this_run)
        if encoder.fmt == "csv" and state.output_bytes == 0 and encoder.columns:
            sink.write(encoder.header())
            sink.commit()

    def _write(self, sink: Sink, data: bytes, number: int) -> None:
        if self.crash == (number, "write"):
            sink.write(data[: len(data) // 2])
            self._maybe_crash(number, "write")
        sink.write(data)
        self._maybe_crash(number, "written")

    def _maybe_crash(self, number: int, stage: str) -> None:
        if self.crash == (number, stage):
            if os.environ.get(_CRASH_ENV + "_RAISE"):
                raise SystemExit(137)
            os._exit(137)

    def check(self, chunk: list[Row], name: str) -> list[Row]:
        good = []
        for row in chunk:
            if row.error is None:
                good.append(row)
                continue
            if self.options.strict:
                raise MalformedRowError(
                    f"{name}:{row.line}: {row.error}",
                    hint="fix or remove the row, or run without --strict to skip bad rows")
            self.stats.skipped_lines.append(row.line)
            print(f"{name}:{row.line}: skipped: {row.error}", file=self.err, flush=True)
        return good

    def finished(self, state: Checkpoint, output: str) -> BatchStats:
        self.stats.classified, self.stats.skipped = state.classified, state.skipped
        self.stats.rows = state.rows_consumed
        self.stats.output = output
        self.stats.seconds = time.perf_counter() - self.started
        return self.stats


def _crash_point() -> tuple[int, str] | None:
    value = os.environ.get(_CRASH_ENV, "")
    if not value:
        return None
    chunk, _, stage = value.partition(":")
    return int(chunk), stage or "written"


def _chunked(rows: Iterator[Row], size: int) -> Iterator[list[Row]]:
    chunk: list[Row] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


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
