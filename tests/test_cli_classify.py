"""``salesnlp classify``: streaming files, malformed rows, exit codes and resume.

The CLI runs in subprocesses against the tiny random model (``SALESNLP_MODEL``);
the finer points of the streaming engine run in-process through
:func:`salesnlp.integrations.files.classify_stream`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from salesnlp.inference.classifier import Classifier
from salesnlp.integrations.files import (
    OUTPUT_COLUMNS,
    BatchUsageError,
    MalformedRowError,
    classify_stream,
)
from salesnlp.labels import LABELS

NOTES = [
    "Ei öelnud, kes hanke võitis.",
    "Kolm kirja, kaks kõnet, vastust pole.",
    "Katsotaan syksyllä, ei päivämäärää.",
    "Подивимось після літа, може.",
    "Am semnat contractul, livrare marți.",
    "Wilde niet zeggen wie de leverancier is.",
]


@pytest.fixture(scope="module")
def classifier(tiny_model) -> Classifier:
    return Classifier.load(tiny_model)


@pytest.fixture(scope="module")
def env(tiny_model) -> dict[str, str]:
    return {**os.environ, "SALESNLP_MODEL": str(tiny_model), "PYTHONIOENCODING": "utf-8"}


def cli(args: list[str], env: dict[str, str], cwd: Path, stdin: str | None = None,
        extra_env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "salesnlp.cli", "classify", *args],
                          input=stdin, capture_output=True, text=True, cwd=cwd,
                          env={**env, **(extra_env or {})}, timeout=300)


def write_csv(path: Path, rows: list[list[str]], header=("id", "lang", "note")) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def many_rows(n: int) -> list[list[str]]:
    return [[f"n{i:04d}", "et", f"{NOTES[i % len(NOTES)]} #{i}"] for i in range(n)]


def run_stream(classifier, **kwargs):
    err = io.StringIO()
    stats = classify_stream(lambda: classifier, stderr=err, **kwargs)
    return stats, err.getvalue()


# --- the command, in subprocesses ------------------------------------------------------


def test_help_has_examples(env, tmp_path):
    done = cli(["--help"], env, tmp_path)
    assert done.returncode == 0
    assert "examples:" in done.stdout and "--resume" in done.stdout


def test_csv_to_csv_keeps_columns_reports_bad_row_and_exits_1(env, tmp_path):
    source = tmp_path / "notes.csv"
    with open(source, "w", newline="", encoding="utf-8") as handle:
        handle.write("id,lang,note\n")
        handle.write('a1,et,"Ei öelnud, kes hanke võitis."\n')
        handle.write('a2,fi,"Two\nlines, quoted"\n')  # lines 3-4
        handle.write("a3,only-two-fields\n")  # line 5: malformed
        handle.write("a4,uk,\n")  # line 6: empty note
        handle.write('a5,nl,"Wilde niet zeggen wie de leverancier is."\n')
    out = tmp_path / "out.csv"
    done = cli(["--input", str(source), "--text-column", "note", "--output", str(out)], env,
               tmp_path)
    assert done.returncode == 1, done.stderr
    assert f"{source}:5: skipped: expected 3 fields" in done.stderr
    assert f"{source}:6: skipped: field 'note' is empty" in done.stderr
    assert "3 classified, 2 skipped" in done.stderr
    assert "\r" not in done.stderr and "notes/s]" not in done.stderr  # no bar when piped
    assert "Loading weights" not in done.stderr
    rows = read_csv(out)
    assert [r["id"] for r in rows] == ["a1", "a2", "a5"]
    assert list(rows[0]) == ["id", "lang", "note", *OUTPUT_COLUMNS]
    assert rows[1]["note"] == "Two\nlines, quoted"
    for row in rows:
        assert 0.0 <= float(row[f"score_{LABELS[0]}"]) <= 1.0
        assert all(label in LABELS for label in row["labels"].split(";") if label)
        assert isinstance(json.loads(row["evidence"]), list)
    assert not list(tmp_path.glob("out.csv.*"))  # no partial file or sidecar left


def test_texts_and_stdin_to_stdout_jsonl(env, tmp_path):
    done = cli([], env, tmp_path, stdin=f"{NOTES[0]}\n\n{NOTES[1]}\n")
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in done.stdout.splitlines()]
    assert [r["text"] for r in rows] == NOTES[:2]
    assert set(rows[0]) == {"text", *OUTPUT_COLUMNS}
    assert isinstance(rows[0]["labels"], list) and isinstance(rows[0]["evidence"], list)
    assert "2 classified, 0 skipped" in done.stderr

    done = cli([NOTES[2], "  "], env, tmp_path)
    assert done.returncode == 1
    assert [json.loads(line)["text"] for line in done.stdout.splitlines()] == [NOTES[2]]
    assert "<args>:2: skipped: field 'text' is empty" in done.stderr


def test_strict_fails_on_a_bad_jsonl_line_and_writes_nothing(env, tmp_path):
    source = tmp_path / "notes.jsonl"
    source.write_text(json.dumps({"note": NOTES[0]}) + "\n{oops\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    done = cli(["-i", str(source), "--text-column", "note", "-o", str(out), "--strict"], env,
               tmp_path)
    assert done.returncode == 1
    assert f"{source}:2: bad JSON" in done.stderr and "E061" in done.stderr
    assert not out.exists() and not list(tmp_path.glob("out.jsonl.*"))


@pytest.mark.parametrize(("args", "message"), [
    (["--input", "notes.csv", "--text-column", "body"], "no column 'body'"),
    (["--input", "notes.xlsx"], "does not exist"),
    (["--input", "notes.csv", "--output", "out.parquet"], "cannot tell the output format"),
    (["--input", "notes.csv", "--text-column", "note", "--resume"], "--resume needs"),
    (["--chunk-size", "0", "x"], "chunk size"),
])
def test_usage_errors_exit_2(env, tmp_path, args, message):
    write_csv(tmp_path / "notes.csv", many_rows(2))
    done = cli(args, env, tmp_path)
    assert done.returncode == 2
    assert message in done.stderr


def test_resume_after_a_crash_mid_chunk_gives_every_row_once(env, tmp_path):
    """Die after writing chunk 3's rows but before recording them; resume redoes chunk 3."""
    rows = many_rows(300)
    source = write_csv(tmp_path / "notes.csv", rows)
    out = tmp_path / "out.csv"
    args = ["-i", str(source), "--text-column", "note", "-o", str(out), "--chunk-size", "40"]
    crashed = cli(args, env, tmp_path,
                  extra_env={"_SALESNLP_CLASSIFY_CRASH": "3:written"})
    assert crashed.returncode == 137
    assert not out.exists()
    progress = json.loads((tmp_path / "out.csv.progress").read_text())
    assert progress["rows_consumed"] == 80  # chunks 1-2 recorded, chunk 3 written only
    partial_rows = read_csv(tmp_path / "out.csv.partial")
    assert len(partial_rows) == 120
    resumed = cli([*args, "--resume"], env, tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    assert "resuming at input row 81" in resumed.stderr
    assert "300 classified, 0 skipped" in resumed.stderr
    assert [r["id"] for r in read_csv(out)] == [r[0] for r in rows]
    assert not (tmp_path / "out.csv.partial").exists()
    assert not (tmp_path / "out.csv.progress").exists()


# --- the streaming engine, in-process ------------------------------------------------------


def test_jsonl_keeps_every_field_and_type(classifier, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps({"id": i, "note": t, "meta": {"k": [1, 2]}}) + "\n"
                              for i, t in enumerate(NOTES)) + "\n", encoding="utf-8")
    out = tmp_path / "out.jsonl"
    stats, err = run_stream(classifier, input_path=source, output_path=out, text_column="note",
                            chunk_size=4)
    assert stats.ok and stats.classified == len(NOTES) and err == ""
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == list(range(len(NOTES)))
    assert rows[0]["meta"] == {"k": [1, 2]}
    assert list(rows[0]) == ["id", "note", "meta", *OUTPUT_COLUMNS]
    single = classifier.classify(NOTES[0])
    assert rows[0]["labels"] == list(single.labels)
    assert rows[0][f"score_{LABELS[1]}"] == pytest.approx(single.scores[LABELS[1]], abs=1e-3)


def test_jsonl_malformed_rows_are_reported_with_line_numbers(classifier, tmp_path):
    lines = [json.dumps({"note": NOTES[0]}), "[1, 2]", json.dumps({"note": 3}),
             json.dumps({"id": "no note"}), "", json.dumps({"note": NOTES[1]}), "{bad"]
    source = tmp_path / "in.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    stats, err = run_stream(classifier, input_path=source, output_path=tmp_path / "o.jsonl",
                            text_column="note", chunk_size=2)
    assert (stats.classified, stats.skipped) == (2, 4)
    assert stats.skipped_lines == [2, 3, 4, 7]
    assert f"{source}:2: skipped: a line must hold a JSON object" in err
    assert f"{source}:3: skipped: field 'note' must be a string, got int" in err
    assert f"{source}:4: skipped: no field 'note'" in err
    assert f"{source}:7: skipped: bad JSON" in err


def test_invalid_utf8_row_is_skipped_not_fatal(classifier, tmp_path):
    source = tmp_path / "in.txt"
    source.write_bytes(NOTES[0].encode() + b"\nbad \xff\xfe bytes\n" + NOTES[1].encode())
    stats, err = run_stream(classifier, input_path=source, output_path=tmp_path / "o.jsonl")
    assert (stats.classified, stats.skipped) == (2, 1)
    assert f"{source}:2: skipped: not valid UTF-8" in err
    rows = (tmp_path / "o.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(r)["text"] for r in rows] == NOTES[:2]


def test_txt_to_csv_and_jsonl_to_csv_headers(classifier, tmp_path):
    (tmp_path / "in.txt").write_text("\n".join(NOTES[:3]), encoding="utf-8")
    run_stream(classifier, input_path=tmp_path / "in.txt", output_path=tmp_path / "a.csv",
               text_column="note")
    rows = read_csv(tmp_path / "a.csv")
    assert [r["note"] for r in rows] == NOTES[:3] and list(rows[0])[0] == "note"

    (tmp_path / "in.jsonl").write_text(
        json.dumps({"note": NOTES[0], "x": 1}) + "\n"
        + json.dumps({"note": NOTES[1], "y": 2}) + "\n", encoding="utf-8")
    _, err = run_stream(classifier, input_path=tmp_path / "in.jsonl",
                        output_path=tmp_path / "b.csv", text_column="note")
    rows = read_csv(tmp_path / "b.csv")
    assert list(rows[0]) == ["note", "x", *OUTPUT_COLUMNS]
    assert rows[1]["x"] == ""
    assert "field 'y' is not among the CSV columns" in err


def test_semicolon_csv_and_replaced_output_columns(classifier, tmp_path):
    source = tmp_path / "in.csv"
    source.write_text(f"note;labels\n{NOTES[0]};old\n", encoding="utf-8")
    _, err = run_stream(classifier, input_path=source, output_path=tmp_path / "o.csv",
                        text_column="note", delimiter=";")
    assert "['labels'] are replaced" in err
    with open(tmp_path / "o.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    assert list(rows[0]) == ["note", "labels", "language", "supported", *OUTPUT_COLUMNS[3:]]
    assert rows[0]["labels"] != "old"


def test_header_only_and_bom_csv(classifier, tmp_path):
    source = tmp_path / "in.csv"
    source.write_bytes(b"\xef\xbb\xbfnote,id\n")
    stats, _ = run_stream(classifier, input_path=source, output_path=tmp_path / "o.csv",
                          text_column="note")
    assert stats.ok and stats.classified == 0
    assert (tmp_path / "o.csv").read_text(encoding="utf-8").splitlines() == [
        ",".join(["note", "id", *OUTPUT_COLUMNS])]


def test_strict_raises_in_process(classifier, tmp_path):
    source = write_csv(tmp_path / "in.csv", [["1", "et", NOTES[0]], ["2", "et"]])
    with pytest.raises(MalformedRowError, match=r"in\.csv:3: expected 3 fields"):
        run_stream(classifier, input_path=source, output_path=tmp_path / "o.csv",
                   text_column="note", strict=True)


def test_resume_refuses_a_changed_input_or_other_settings(classifier, tmp_path, monkeypatch):
    source = write_csv(tmp_path / "in.csv", many_rows(30))
    out = tmp_path / "o.csv"
    calls = {"n": 0}
    real = classifier.classify_many

    def dying(texts, batch_size=32):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return real(texts, batch_size=batch_size)

    monkeypatch.setattr(classifier, "classify_many", dying)
    with pytest.raises(KeyboardInterrupt):
        run_stream(classifier, input_path=source, output_path=out, text_column="note",
                   chunk_size=10)
    monkeypatch.setattr(classifier, "classify_many", real)
    assert json.loads((tmp_path / "o.csv.progress").read_text())["rows_consumed"] == 20
    with pytest.raises(BatchUsageError, match="text_column differ"):
        run_stream(classifier, input_path=source, output_path=out, text_column="id",
                   resume=True)
    os.utime(source, ns=(0, 0))  # a touched file whose bytes are the same still resumes
    original = source.read_bytes()
    source.write_bytes(original.replace(b"n0003", b"n0X03"))  # inside the rows already done
    with pytest.raises(BatchUsageError, match="changed since the interrupted run"):
        run_stream(classifier, input_path=source, output_path=out, text_column="note",
                   resume=True)
    source.write_bytes(original.replace(b"n0025", b"n0X25"))  # after them: a fix is allowed
    stats, _ = run_stream(classifier, input_path=source, output_path=out, text_column="note",
                          resume=True)
    assert stats.classified == 30
    assert [r["id"] for r in read_csv(out)] == [f"n{i:04d}" if i != 25 else "n0X25"
                                                for i in range(30)]
    source.write_bytes(original)
    # without --resume a fresh run starts over and succeeds
    stats, _ = run_stream(classifier, input_path=source, output_path=out, text_column="note",
                          chunk_size=10)
    assert stats.classified == 30 and len(read_csv(out)) == 30


def test_resume_without_a_sidecar_starts_over(classifier, tmp_path):
    source = write_csv(tmp_path / "in.csv", many_rows(5))
    stats, err = run_stream(classifier, input_path=source, output_path=tmp_path / "o.csv",
                            text_column="note", resume=True)
    assert "starting from the beginning" in err and stats.classified == 5


def test_reading_is_chunked_not_whole_file(classifier, tmp_path, monkeypatch):
    """Rows reach the classifier in chunks while the file is still being read."""
    source = write_csv(tmp_path / "in.csv", many_rows(50))
    sizes = []
    real = classifier.classify_many

    def spy(texts, batch_size=32):
        sizes.append(len(texts))
        return real(texts, batch_size=batch_size)

    monkeypatch.setattr(classifier, "classify_many", spy)
    run_stream(classifier, input_path=source, output_path=tmp_path / "o.jsonl",
               text_column="note", chunk_size=16)
    assert sizes == [16, 16, 16, 2]
