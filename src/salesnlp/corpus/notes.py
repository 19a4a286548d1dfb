"""Reading, validating and counting labelled notes.

The corpus format (see ``corpus/README.md``) is JSON Lines, one note a line::

    {"id": "et-0001", "lang": "et", "text": "...", "labels": [...],
     "split": "train", "source": "written"}

:func:`load_corpus` reads our corpus directory or a user's own JSONL/CSV file
(with column options) into :class:`Note` records; training and evaluation
use it. :func:`validate_corpus` reports every problem with file and line.
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from salesnlp.errors import CorpusError
from salesnlp.jsonl import parse_json_object
from salesnlp.labels import LABELS, SUPPORTED_LANGUAGES, check_labels

SPLITS: tuple[str, ...] = ("train", "dev", "test")
#: Genres of corpus v2 (``corpus/README.md``); notes without one are ``note``.
GENRES: tuple[str, ...] = ("note", "phone", "code_switched", "email", "html", "minutes",
                           "field_dump", "article")
_LABEL_SEPARATORS = (";", "|", ",")


@dataclass(frozen=True)
class Note:
    """One labelled note."""

    id: str
    lang: str
    text: str
    labels: tuple[str, ...]
    split: str | None = None
    source: str | None = None
    extra: dict = field(default_factory=dict, compare=False, hash=False, repr=False)

    @property
    def writer(self) -> str | None:
        """Who wrote the note (corpus v2 records it; v1 notes are ``<lang>-v1``)."""
        return self.extra.get("writer")

    @property
    def genre(self) -> str:
        """The note's genre (``note``, ``email``, ``minutes`` ...); ``note`` if unrecorded."""
        return self.extra.get("genre") or "note"

    def to_dict(self) -> dict:
        row = {"id": self.id, "lang": self.lang, "text": self.text, "labels": list(self.labels),
               "split": self.split, "source": self.source}
        row.update(self.extra)
        return row


@dataclass(frozen=True)
class Problem:
    """A problem found in a corpus file, with its place."""

    file: str
    line: int
    message: str
    severity: str = "error"

    def __str__(self) -> str:
        return f"{self.file}:{self.line}: {self.severity}: {self.message}"


@dataclass
class ValidationReport:
    """What :func:`validate_corpus` found."""

    n_notes: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return not self.errors


def corpus_files(path: str | Path) -> list[Path]:
    """The data files behind ``path``: itself, or the ``*.jsonl`` files directly in it."""
    path = Path(path)
    if path.is_dir():
        files = sorted(path.glob("*.jsonl"))
        if not files:
            raise CorpusError(f"no *.jsonl files in {path}", hint="point at a corpus directory "
                              "or at a .jsonl/.csv file")
        return files
    if not path.exists():
        raise CorpusError(f"{path} does not exist")
    if path.suffix.lower() not in (".jsonl", ".csv"):
        raise CorpusError(f"{path}: unsupported file type {path.suffix!r}",
                          hint="use .jsonl or .csv")
    return [path]


def parse_labels(value: object, known: tuple[str, ...] = LABELS) -> tuple[str, ...]:
    """Labels as users store them: a list, a JSON list, ``a;b`` (or ``|``, ``,``), or
    empty / ``none`` for no label; checked against ``known`` (``ValueError``)."""
    if value is None or value == "":
        return ()
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            value = json.loads(stripped)
        else:
            sep = next((s for s in _LABEL_SEPARATORS if s in stripped), None)
            value = [v.strip() for v in stripped.split(sep)] if sep else [stripped]
            value = [v for v in value if v and v.lower() != "none"]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"labels must be a list of strings, got {value!r}")
    if len(set(value)) != len(value):
        raise ValueError(f"repeated label in {value}")
    return check_labels(value, known)


def _iter_rows(path: Path) -> Iterator[tuple[int, dict | None, str | None]]:
    """Yield (line number, row or None, parse error or None)."""
    if path.suffix.lower() == ".csv":
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            for row in reader:
                yield reader.line_num, row, None
        return
    with open(path, encoding="utf-8") as handle:
        for line_no, line in enumerate(handle, 1):
            if not line.strip():
                continue
            row, error = parse_json_object(line)
            yield line_no, row, error


def _read(
    path: str | Path,
    *,
    text_column: str,
    labels_column: str,
    lang_column: str,
    id_column: str,
    split_column: str,
    labels: tuple[str, ...],
    require_split: bool,
) -> Iterator[tuple[Path, int, Note | None, str | None]]:
    for file in corpus_files(path):
        for line_no, row, error in _iter_rows(file):
            if error:
                yield file, line_no, None, error
                continue
            try:
                yield file, line_no, _note_from_row(
                    row, file, line_no, text_column=text_column, labels_column=labels_column,
                    lang_column=lang_column, id_column=id_column, split_column=split_column,
                    labels=labels, require_split=require_split,
                ), None
            except ValueError as exc:
                yield file, line_no, None, str(exc)


def _note_from_row(row: dict, file: Path, line_no: int, *, text_column, labels_column,
                   lang_column, id_column, split_column, labels, require_split) -> Note:
    text = row.get(text_column)
    if not isinstance(text, str):
        raise ValueError(f"field {text_column!r} must be a string, got {type(text).__name__}")
    if not text.strip():
        raise ValueError(f"field {text_column!r} is empty")
    _check_v2_fields(row, text)
    if labels_column not in row:
        raise ValueError(f"field {labels_column!r} is missing")
    note_labels = parse_labels(row.get(labels_column), labels)
    lang = row.get(lang_column) or "und"
    if lang not in SUPPORTED_LANGUAGES and lang != "und":
        raise ValueError(f"unknown language {lang!r}; accepted: {list(SUPPORTED_LANGUAGES)}")
    split = row.get(split_column) or None
    if split is not None and split not in SPLITS:
        raise ValueError(f"unknown split {split!r}; accepted: {list(SPLITS)}")
    if require_split and split is None:
        raise ValueError(f"field {split_column!r} is missing")
    note_id = row.get(id_column)
    note_id = str(note_id) if note_id not in (None, "") else f"{file.name}:{line_no}"
    known = {text_column, labels_column, lang_column, id_column, split_column, "source"}
    extra = {k: v for k, v in row.items() if k not in known}
    return Note(note_id, lang, text, note_labels, split, row.get("source"), extra)


def _check_v2_fields(row: dict, text: str) -> None:
    """The optional corpus v2 fields: genre, writer, evidence spans, the newest message."""
    genre = row.get("genre")
    if genre is not None and genre not in GENRES:
        raise ValueError(f"unknown genre {genre!r}; accepted: {list(GENRES)}")
    writer = row.get("writer")
    if writer is not None and (not isinstance(writer, str) or not writer):
        raise ValueError("field 'writer' must be a non-empty string")
    for item in row.get("evidence") or []:
        try:
            start, end, label = int(item["start"]), int(item["end"]), item["label"]
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"evidence {item!r} needs label, start and end") from None
        if not 0 <= start < end <= len(text) or text[start:end] != item.get("quote",
                                                                          text[start:end]):
            raise ValueError(f"evidence span {start}-{end} is not the quote in the text")
        if label not in (row.get("labels") or []):
            raise ValueError(f"evidence for {label!r}, which is not among the labels")
    span = row.get("newest_span")
    if span is not None and not (isinstance(span, list) and len(span) == 2
                                 and 0 <= span[0] < span[1] <= len(text)):
        raise ValueError(f"newest_span {span!r} is not a span of the text")


def load_corpus(
    path: str | Path,
    *,
    split: str | Iterable[str] | None = None,
    languages: Iterable[str] | None = None,
    text_column: str = "text",
    labels_column: str = "labels",
    lang_column: str = "lang",
    id_column: str = "id",
    split_column: str = "split",
    labels: Iterable[str] = LABELS,
) -> list[Note]:
    """Read labelled notes from a corpus directory, a JSONL file or a CSV file.

    Args:
        path: a directory of ``*.jsonl`` files (like ``corpus/``) or one ``.jsonl``/``.csv``.
        split: keep only this split (or these splits).
        languages: keep only these language codes.
        text_column, labels_column, lang_column, id_column, split_column: field names in
            the user's data. Labels may be a JSON list or a string separated by ``;``,
            ``|`` or ``,`` (``none`` or empty for no label).
        labels: the accepted label ids.

    Returns:
        The notes in file order.

    Raises:
        CorpusError: on the first malformed row, naming file and line (run
            :func:`validate_corpus` to see them all).
    """
    wanted_splits = {split} if isinstance(split, str) else set(split) if split else None
    wanted_langs = set(languages) if languages else None
    notes: list[Note] = []
    for file, line_no, note, error in _read(
        path, text_column=text_column, labels_column=labels_column, lang_column=lang_column,
        id_column=id_column, split_column=split_column, labels=tuple(labels),
        require_split=False,
    ):
        if error:
            raise CorpusError(f"{file}:{line_no}: {error}",
                              hint=f"run `salesnlp corpus validate {path}` to list every problem")
        if wanted_splits and note.split not in wanted_splits:
            continue
        if wanted_langs and note.lang not in wanted_langs:
            continue
        notes.append(note)
    if wanted_splits and not notes:
        raise CorpusError(f"{path} has no notes in split(s) {sorted(wanted_splits)}")
    return notes


def validate_corpus(path: str | Path, *, check_language: bool = True,
                    require_split: bool = True) -> ValidationReport:
    """Check every note in ``path``; return all problems, each with file and line.

    Errors: bad JSON, unknown labels, languages or split names, empty texts,
    duplicate ids. Warnings: a note whose text :func:`salesnlp.detect_language`
    places in another language than its ``lang`` field.
    """
    report = ValidationReport()
    seen_ids: dict[str, tuple[str, int]] = {}
    detect = None
    if check_language:
        from salesnlp.langid.detector import detect_language as detect
    for file, line_no, note, error in _read(
        path, text_column="text", labels_column="labels", lang_column="lang", id_column="id",
        split_column="split", labels=LABELS, require_split=require_split,
    ):
        if error:
            report.problems.append(Problem(str(file), line_no, error))
            continue
        report.n_notes += 1
        if note.id in seen_ids:
            first_file, first_line = seen_ids[note.id]
            report.problems.append(Problem(
                str(file), line_no, f"duplicate id {note.id!r} (first at {first_file}:{first_line})"
            ))
        else:
            seen_ids[note.id] = (str(file), line_no)
        if detect is not None:
            guess = detect(note.text)
            if guess.language not in (note.lang, "und"):
                report.problems.append(Problem(
                    str(file), line_no,
                    f"note {note.id!r} is marked {note.lang!r} but reads as {guess.language!r} "
                    f"(confidence {guess.confidence:.2f})", severity="warning",
                ))
    return report


def label_set_name(labels: tuple[str, ...]) -> str:
    return "+".join(labels) if labels else "none"


def corpus_stats(notes: Iterable[Note]) -> dict:
    """Counts per language x label x split, multi-label and none shares, hard negatives."""
    notes = list(notes)
    stats: dict = {"total": len(notes), "languages": {}}
    for lang in sorted({n.lang for n in notes}):
        subset = [n for n in notes if n.lang == lang]
        per_split = Counter(n.split for n in subset)
        label_counts = {
            label: {s: sum(1 for n in subset if label in n.labels and n.split == s)
                    for s in SPLITS} for label in LABELS
        }
        none = [n for n in subset if not n.labels]
        hard = [n for n in none if n.extra.get("boundary") not in (None, "", "plain")]
        stats["languages"][lang] = {
            "notes": len(subset),
            "splits": {s: per_split.get(s, 0) for s in SPLITS},
            "labels": {label: sum(c.values()) for label, c in label_counts.items()},
            "labels_by_split": label_counts,
            "none": len(none),
            "none_by_split": {s: sum(1 for n in none if n.split == s) for s in SPLITS},
            "hard_negatives": len(hard),
            "multi_label": sum(1 for n in subset if len(n.labels) >= 2),
            "genres": dict(sorted(Counter(n.genre for n in subset).items())),
            "writers": {w: {"split": next(n.split for n in subset if (n.writer or "?") == w),
                            "notes": c}
                        for w, c in sorted(Counter(n.writer or "?" for n in subset).items())},
        }
    return stats


def format_stats(stats: dict) -> str:
    """Render :func:`corpus_stats` as a Markdown table (language x label x split)."""
    head = ("| lang | notes | train/dev/test | " + " | ".join(LABELS)
            + " | none (hard) | multi-label |")
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for lang, s in stats["languages"].items():
        def cell(counts: dict, total: int) -> str:
            return f"{total} ({'/'.join(str(counts[k]) for k in SPLITS)})"

        label_cells = [cell(s["labels_by_split"][lb], s["labels"][lb]) for lb in LABELS]
        n = s["notes"]
        lines.append(
            f"| {lang} | {n} | {'/'.join(str(s['splits'][k]) for k in SPLITS)} | "
            + " | ".join(label_cells)
            + f" | {s['none']} ({s['hard_negatives']} hard) = {s['none'] / max(n, 1):.0%}"
            + f" | {s['multi_label']} = {s['multi_label'] / max(n, 1):.0%} |"
        )
    lines.append(f"\nTotal notes: {stats['total']}. Label cells: total (train/dev/test).")
    genres = sorted({g for s in stats["languages"].values() for g in s["genres"]})
    if len(genres) > 1:
        lines += ["", "| lang | " + " | ".join(genres) + " |", "|" + " --- |" * (len(genres) + 1)]
        lines += [f"| {lang} | " + " | ".join(str(s["genres"].get(g, 0)) for g in genres) + " |"
                  for lang, s in stats["languages"].items()]
        lines += ["", "| lang | writers (notes): train | dev | test |", "| --- | --- | --- | --- |"]
        for lang, s in stats["languages"].items():
            cells = [", ".join(f"{w} ({v['notes']})" for w, v in s["writers"].items()
                               if v["split"] == split) for split in SPLITS]
            lines.append(f"| {lang} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
