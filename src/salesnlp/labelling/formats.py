"""Label Studio and corpus JSON Lines: tasks out, annotations back in.

Label Studio (https://labelstud.io) projects for salesnlp use :data:`LABEL_STUDIO_CONFIG`
(a text with a multiple-choice ``labels`` control). :func:`label_studio_tasks` writes an
import file whose tasks carry the model's labels as ``predictions`` (pre-annotations);
:func:`read_annotations` reads the project's JSON export (or a plain CSV/JSONL of
labels), and :func:`merge_annotations` turns several annotators' labels into corpus rows.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from salesnlp.corpus.notes import parse_labels
from salesnlp.errors import CorpusError
from salesnlp.labelling.selection import Suggestion
from salesnlp.labels import LABELS, SUPPORTED_LANGUAGES, check_labels

#: The Label Studio labelling configuration that matches these tasks and exports.
LABEL_STUDIO_CONFIG = """<View>
  <Header value="Which buyer behaviours does the note show? (none: choose nothing)"/>
  <Text name="text" value="$text"/>
  <Choices name="labels" toName="text" choice="multiple" showInline="true">
""" + "".join(f'    <Choice value="{label}"/>\n' for label in LABELS) + """  </Choices>
</View>
"""
_FROM_NAME, _TO_NAME = "labels", "text"


def _choices(labels: Iterable[str]) -> list[dict]:
    return [{"from_name": _FROM_NAME, "to_name": _TO_NAME, "type": "choices",
             "value": {"choices": list(labels)}}]


def label_studio_tasks(suggestions: Sequence[Suggestion], model_version: str) -> list[dict]:
    """A Label Studio import file: one task per suggestion, pre-annotated by the model."""
    tasks = []
    for s in suggestions:
        data = {k: v for k, v in s.fields.items() if isinstance(v, (str, int, float, bool))}
        data.update(text=s.text, language=s.result.language, reason=s.reason,
                    **{f"score_{label}": round(s.result.scores[label], 4) for label in LABELS})
        score = round(max(s.result.scores.values()), 4)
        tasks.append({"data": data, "predictions": [
            {"model_version": model_version, "score": score,
             "result": _choices(s.result.labels)}]})
    return tasks


def corpus_rows(suggestions: Sequence[Suggestion]) -> list[dict]:
    """Corpus JSON Lines rows with empty labels, to be filled in by hand."""
    rows = []
    for s in suggestions:
        row = {"id": str(s.fields.get("id", f"suggested-{s.position + 1}")),
               "lang": s.result.language if s.result.language in SUPPORTED_LANGUAGES else "und",
               "text": s.text, "labels": [], "split": None, "source": "suggested",
               "suggested": {"reason": s.reason, "uncertainty": round(s.uncertainty, 4),
                             "predicted": list(s.result.labels)}}
        row.update({k: v for k, v in s.fields.items() if k not in row and k != "text"})
        rows.append(row)
    return rows


@dataclass
class Annotated:
    """One note and the labels each annotator gave it.

    Attributes:
        id: the note's id (the task's ``data.id``, or its Label Studio task id).
        text: the note.
        by_annotator: annotator id → label tuple.
        where: where it was read (``file:line`` or ``file: task N``), for messages.
        fields: the other fields of the task's data or the row.
    """

    id: str
    text: str
    by_annotator: dict[str, tuple[str, ...]] = field(default_factory=dict)
    where: str = ""
    fields: dict = field(default_factory=dict)


def read_annotations(path: str | Path, *, text_column: str = "text",
                     labels_column: str = "labels", annotator_column: str = "annotator",
                     id_column: str = "id") -> list[Annotated]:
    """Read labels from a Label Studio JSON export (``.json``) or a CSV/JSONL file.

    In a CSV or JSONL file each row is one annotator's labels for one note (labels as a
    JSON list or ``a;b``, empty or ``none`` for no label); rows with the same id are
    the same note. Raises :class:`CorpusError` naming the file and task or line of the
    first problem (unknown label, missing text).
    """
    path = Path(path)
    if path.suffix.lower() == ".json":
        return _read_label_studio(path)
    return _read_rows(path, text_column, labels_column, annotator_column, id_column)


def _read_label_studio(path: Path) -> list[Annotated]:
    try:
        tasks = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise CorpusError(f"{path}:{exc.lineno}: not a Label Studio JSON export ({exc.msg})",
                          hint="export the project as JSON (not JSON-MIN or CSV)") from exc
    if not isinstance(tasks, list):
        raise CorpusError(f"{path}: a Label Studio export is a JSON list of tasks")
    notes = []
    for number, task in enumerate(tasks, 1):
        where = f"{path}: task {number}"
        data = task.get("data") if isinstance(task, dict) else None
        if not isinstance(data, dict) or not isinstance(data.get("text"), str):
            raise CorpusError(f"{where}: no data.text")
        note = Annotated(str(data.get("id", task.get("id", number))), data["text"],
                         where=where, fields={k: v for k, v in data.items() if k != "text"})
        for annotation in task.get("annotations") or []:
            if annotation.get("was_cancelled"):
                continue
            annotator = _annotator_id(annotation.get("completed_by"))
            note.by_annotator[annotator] = _checked(_chosen(annotation), where)
        notes.append(note)
    return notes


def _annotator_id(completed_by: object) -> str:
    if isinstance(completed_by, dict):  # some Label Studio versions export the user object
        return str(completed_by.get("email") or completed_by.get("id"))
    return str(completed_by)


def _chosen(annotation: dict) -> list[str]:
    labels: list[str] = []
    for item in annotation.get("result") or []:
        if item.get("from_name") == _FROM_NAME or item.get("type") == "choices":
            labels += item.get("value", {}).get("choices", [])
    return labels


def _checked(labels: object, where: str) -> tuple[str, ...]:
    try:
        return check_labels(labels)
    except (TypeError, ValueError) as exc:
        raise CorpusError(f"{where}: {exc}") from exc


def _read_rows(path: Path, text_column: str, labels_column: str, annotator_column: str,
               id_column: str) -> list[Annotated]:
    from salesnlp.integrations.files.run import BatchOptions, read_rows

    notes: dict[str, Annotated] = {}
    for row in read_rows(path, BatchOptions(text_column=text_column)):
        where = f"{path}:{row.line}"
        if row.error:
            raise CorpusError(f"{where}: {row.error}")
        fields = row.fields or {}
        note_id = str(fields.get(id_column) or fields[text_column])
        note = notes.setdefault(note_id, Annotated(
            note_id, fields[text_column], where=where,
            fields={k: v for k, v in fields.items()
                    if k not in (text_column, labels_column, annotator_column)}))
        annotator = str(fields.get(annotator_column) or f"annotator-{len(note.by_annotator) + 1}")
        try:
            note.by_annotator[annotator] = parse_labels(fields.get(labels_column))
        except ValueError as exc:
            raise CorpusError(f"{where}: {exc}") from exc
    return list(notes.values())


def merge_annotations(notes: Sequence[Annotated], detect=None) -> list[dict]:
    """Corpus rows: a label is kept when more than half of the note's annotators gave it.

    Every row keeps ``annotators`` (id → labels); labels given by exactly half of them
    are listed in ``disputed`` (and left out) so they can be adjudicated. Notes nobody
    annotated are skipped. ``detect`` (default :func:`salesnlp.detect_language`) fills the
    language of rows that have none.
    """
    if detect is None:
        from salesnlp import detect_language as detect
    rows = []
    for note in notes:
        if not note.by_annotator:
            continue
        votes: dict[str, int] = defaultdict(int)
        for labels in note.by_annotator.values():
            for label in labels:
                votes[label] += 1
        n = len(note.by_annotator)
        lang = note.fields.get("lang") or note.fields.get("language") or detect(note.text).language
        rows.append({
            "id": note.id, "lang": lang if lang in SUPPORTED_LANGUAGES else "und",
            "text": note.text, "labels": [lb for lb in LABELS if 2 * votes[lb] > n],
            "split": None, "source": "annotated",
            "annotators": {a: list(labels) for a, labels in note.by_annotator.items()},
            "disputed": [lb for lb in LABELS if 2 * votes[lb] == n]})
    return rows
