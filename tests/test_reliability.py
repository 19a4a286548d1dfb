"""Regression tests for what a new user and an integrator met: lost work, crashes, silent
wrong answers and unclear errors. Each test names the failure it guards against."""

from __future__ import annotations

import codecs
import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from salesnlp.inference.classifier import Classifier
from salesnlp.integrations.files import BatchUsageError, MalformedRowError
from salesnlp.integrations.files.writing import escape_formula
from salesnlp.labels import LABELS

NOTES = ["Ei öelnud, kes hanke võitis.", "Kolm kirja, kaks kõnet, vastust pole.",
         "Katsotaan syksyllä, ei päivämäärää.", "Подивимось після літа, може.",
         "Am semnat contractul, livrare marți.", "Wilde niet zeggen wie de leverancier is."]


@pytest.fixture(scope="module")
def classifier(tiny_model) -> Classifier:
    return Classifier.load(tiny_model)


@pytest.fixture(scope="module")
def env(tiny_model) -> dict[str, str]:
    return {**os.environ, "SALESNLP_MODEL": str(tiny_model), "PYTHONIOENCODING": "utf-8"}


def cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "salesnlp.cli", "classify", *args],
                          capture_output=True, text=True, cwd=cwd, env=env, timeout=300)


def run(classifier, **kwargs):
    import io

    from salesnlp.integrations.files import classify_stream

    err = io.StringIO()
    return classify_stream(lambda: classifier, stderr=err, **kwargs), err.getvalue()


def csv_file(path: Path, n: int, encoding: str = "utf-8", delimiter: str = ",") -> Path:
    with open(path, "w", newline="", encoding=encoding) as handle:
        writer = csv.writer(handle, delimiter=delimiter)
        writer.writerow(["id", "note"])
        writer.writerows([[f"r{i}", f"{NOTES[i % len(NOTES)]} #{i}"] for i in range(n)])
    return path


def jsonl_rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


# -- lost work -------------------------------------------------------------------------------

@pytest.mark.parametrize("suffix", [".partial", ".progress", ".progress.tmp", ""])
def test_an_input_that_the_run_would_write_is_refused(env, tmp_path, suffix):
    source = csv_file(tmp_path / "notes.csv", 20)
    name = "notes.csv" if suffix else "notes.csv"
    target = tmp_path / (name + suffix)
    source.rename(target)
    before = target.read_bytes()
    out = tmp_path / "notes.csv"
    done = cli(["-i", str(target), "--format", "csv", "--text-column", "note", "-o", str(out),
                "--output-format", "csv"], env, tmp_path)
    assert done.returncode == 2, done.stderr
    assert "is a file this run writes" in done.stderr
    assert target.read_bytes() == before


def test_a_failing_strict_resume_keeps_the_rows_done_before(classifier, tmp_path, monkeypatch):
    source = csv_file(tmp_path / "in.csv", 30)
    out = tmp_path / "out.jsonl"
    monkeypatch.setenv("_SALESNLP_CLASSIFY_CRASH", "2:committed")
    monkeypatch.setenv("_SALESNLP_CLASSIFY_CRASH_RAISE", "1")
    with pytest.raises(SystemExit):
        run(classifier, input_path=source, output_path=out, text_column="note", chunk_size=10)
    monkeypatch.delenv("_SALESNLP_CLASSIFY_CRASH")
    good_row = f"r23,{NOTES[5]} #23".encode()  # a row without a comma: not quoted
    original = source.read_bytes()
    source.write_bytes(original.replace(good_row, b"r23-bad-row-with-one-field"))
    with pytest.raises(MalformedRowError) as error:
        run(classifier, input_path=source, output_path=out, text_column="note", chunk_size=10,
            resume=True, strict=True)
    assert "--resume" in str(error.value) and "20 rows before it are kept" in str(error.value)
    partial = tmp_path / "out.jsonl.partial"
    assert [r["id"] for r in jsonl_rows(partial)] == [f"r{i}" for i in range(20)]
    assert (tmp_path / "out.jsonl.progress").exists()
    source.write_bytes(original.replace(good_row, b"r23,fixed note"))
    stats, _ = run(classifier, input_path=source, output_path=out, text_column="note",
                   chunk_size=10, resume=True, strict=True)
    assert stats.classified == 30
    assert [r["id"] for r in jsonl_rows(out)] == [f"r{i}" for i in range(30)]


# -- crashes -----------------------------------------------------------------------------------

def test_lone_surrogates_are_classified_not_fatal(classifier):
    texts = ["a \ud800 b", "\ud83d", NOTES[0] + " \udfff", NOTES[1]]
    results = classifier.classify_many(texts)
    assert [r.text for r in results] == texts
    for result in results:
        for e in result.evidence:
            assert result.text[e.start:e.end] == e.text
    assert results[3].scores == pytest.approx(classifier.classify(NOTES[1]).scores, abs=1e-5)


def test_a_surrogate_escape_in_jsonl_gives_valid_output(classifier, tmp_path):
    rows = [{"id": i, "note": f"{NOTES[i % 6]} {i}"} for i in range(700)]
    rows[599]["note"] = "Ei öelnud \ud83d kes võitis"
    source = tmp_path / "in.jsonl"
    source.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="ascii")
    stats, _ = run(classifier, input_path=source, output_path=tmp_path / "o.jsonl",
                   text_column="note")
    assert stats.ok and stats.classified == 700
    back = jsonl_rows(tmp_path / "o.jsonl")
    assert back[599]["note"] == rows[599]["note"]  # the escape reads back exactly
    run(classifier, input_path=source, output_path=tmp_path / "o.csv", text_column="note")
    text = (tmp_path / "o.csv").read_bytes().decode("utf-8")  # valid UTF-8
    assert "Ei öelnud \ufffd kes võitis" in text


@pytest.mark.parametrize(("encoding", "bom"), [("utf-16-le", codecs.BOM_UTF16_LE),
                                                ("utf-16-be", codecs.BOM_UTF16_BE),
                                                ("utf-32-le", codecs.BOM_UTF32_LE)])
def test_utf16_and_utf32_files_with_a_bom_are_read(classifier, tmp_path, encoding, bom):
    source = csv_file(tmp_path / "in.csv", 12, encoding=encoding)
    source.write_bytes(bom + source.read_bytes())
    stats, _ = run(classifier, input_path=source, output_path=tmp_path / "o.csv",
                   text_column="note")
    assert stats.ok and stats.classified == 12
    with open(tmp_path / "o.csv", newline="", encoding="utf-8") as handle:
        assert [r["note"] for r in csv.DictReader(handle)] == [
            f"{NOTES[i % 6]} #{i}" for i in range(12)]
    text_file = tmp_path / "in.txt"
    text_file.write_bytes(bom + "\n".join(NOTES).encode(encoding))
    stats, _ = run(classifier, input_path=text_file, output_path=tmp_path / "t.jsonl")
    assert [r["text"] for r in jsonl_rows(tmp_path / "t.jsonl")] == NOTES


def test_utf16_without_a_bom_is_a_clear_usage_error(classifier, tmp_path):
    source = tmp_path / "in.txt"
    source.write_bytes("\n".join(NOTES).encode("utf-16-le"))
    with pytest.raises(BatchUsageError, match="UTF-16") as error:
        run(classifier, input_path=source, output_path=tmp_path / "o.jsonl")
    assert "--encoding utf-16-le" in str(error.value)
    stats, _ = run(classifier, input_path=source, output_path=tmp_path / "o.jsonl",
                   encoding="utf-16-le")
    assert [r["text"] for r in jsonl_rows(tmp_path / "o.jsonl")] == NOTES


# -- silent wrong answers ------------------------------------------------------------------

@pytest.mark.parametrize("text", ["-", "?", "0", "—", "🙂🙂🙂", "  ...  ", "12.03.2025", "+++"])
def test_a_note_without_letters_is_neutral(classifier, text):
    result = classifier.classify(text)
    assert (result.language, result.labels, result.evidence) == ("und", (), ())
    assert set(result.scores.values()) == {0.0}
    assert result.supported is False


def test_unsupported_languages_are_flagged_and_the_policy_applies(tiny_model):
    ru = "Он так и не сказал, кто выиграл тендер в прошлом году, и перестал отвечать."
    en = "She would not tell us who won last year's tender and stopped answering calls."
    scored = Classifier.load(tiny_model).classify_many([ru, en, NOTES[0]])
    assert [r.language for r in scored] == ["ru", "en", "et"]
    assert [r.supported for r in scored] == [False, False, True]
    assert scored[0].to_dict()["supported"] is False
    assert any(v > 0 for v in scored[0].scores.values())  # "score": classified anyway
    neutral = Classifier.load(tiny_model, unsupported_language="neutral").classify_many(
        [ru, en, NOTES[0]])
    assert [r.language for r in neutral] == ["ru", "en", "et"]
    assert neutral[0].labels == () and set(neutral[0].scores.values()) == {0.0}
    assert neutral[2].scores == scored[2].scores
    with pytest.raises(ValueError, match="unsupported_language"):
        Classifier.load(tiny_model, unsupported_language="drop")


@pytest.mark.parametrize(("text", "language"), [
    ("Narva, Lotos-Stroi, Ljudmila. Pakkumine saadetud 3 nädalat tagasi. Helistan – «Ой, "
     "я ещё не смотрела, давайте на следующей неделе». Sama jutt juba kolmandat korda.", "et"),
    ("Kohtumine Maardus. Sergei ütles otse: \"Нет, в этом году менять поставщика не будем\". "
     "Järgmine kõne jaanuaris, saadan talle hinnakirja.", "et"),
    ("Зустріч з Вадимом, агрохолдинг під Хмельницьким. Каже: «ну давай потом, сейчас не до "
     "этого». Знову без дати, директора не дає, обіцяє передзвонити наступного тижня.", "uk"),
    ("Deal besproken met de procurement lead, follow-up volgende week; ze willen eerst een "
     "business case en een demo voor het hele team.", "nl"),
])
def test_mixed_language_notes_report_their_main_language(text, language):
    from salesnlp import detect_language

    assert detect_language(text).language == language


# -- unclear errors --------------------------------------------------------------------------

def test_semicolon_csv_is_sniffed_and_a_wrong_delimiter_gets_a_hint(classifier, tmp_path):
    source = csv_file(tmp_path / "in.csv", 5, delimiter=";")
    stats, _ = run(classifier, input_path=source, output_path=tmp_path / "o.csv",
                   text_column="note")
    assert stats.classified == 5
    assert (tmp_path / "o.csv").read_text(encoding="utf-8").startswith("id;note;language")
    with pytest.raises(BatchUsageError) as error:
        run(classifier, input_path=source, output_path=tmp_path / "o2.csv",
            text_column="note", delimiter=",")
    assert "--delimiter ';'" in str(error.value)


def test_a_bad_item_in_classify_many_names_its_position(classifier):
    with pytest.raises(TypeError, match="position 1 must be str, not NoneType"):
        classifier.classify_many(["a", None, "b"])


def test_a_jsonl_line_without_its_closing_brace_says_so(classifier, tmp_path):
    source = tmp_path / "in.jsonl"
    source.write_text(json.dumps({"note": NOTES[0]}) + "\n" + '{"note": "abc"\n',
                      encoding="utf-8")
    _, err = run(classifier, input_path=source, output_path=tmp_path / "o.jsonl",
                 text_column="note")
    assert "in.jsonl:2: skipped: bad JSON: the line ends before the object is complete" in err
    assert "column 1)" not in err


@pytest.mark.parametrize("encoding", ["cp1257", "latin-1"])
def test_a_legacy_encoding_gets_a_hint_and_reads_with_encoding(classifier, tmp_path, encoding):
    text = "Ei öelnud, kes hanke võitis" if encoding == "cp1257" else "Hij zei: één keer, ça va"
    source = tmp_path / "in.txt"
    source.write_bytes((text + "\n").encode(encoding))
    stats, err = run(classifier, input_path=source, output_path=tmp_path / "o.jsonl")
    assert stats.skipped == 1 and "--encoding" in err
    stats, _ = run(classifier, input_path=source, output_path=tmp_path / "o.jsonl",
                   encoding=encoding)
    assert stats.ok and jsonl_rows(tmp_path / "o.jsonl")[0]["text"] == text


def test_formula_cells_are_neutralised_in_csv_output(classifier, tmp_path):
    source = tmp_path / "in.jsonl"
    cells = ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(1)", "-2+3", "-5",
             "+3.5", "\t=1", "plain"]
    source.write_text("".join(json.dumps({"note": NOTES[0], "x": c}) + "\n" for c in cells),
                      encoding="utf-8")
    run(classifier, input_path=source, output_path=tmp_path / "o.csv", text_column="note")
    with open(tmp_path / "o.csv", newline="", encoding="utf-8") as handle:
        got = [r["x"] for r in csv.DictReader(handle)]
    assert got == ["'" + cells[0], "'" + cells[1], "'@SUM(1)", "'-2+3", "-5", "+3.5", "'\t=1",
                   "plain"]
    run(classifier, input_path=source, output_path=tmp_path / "raw.csv", text_column="note",
        escape_formulas=False)
    with open(tmp_path / "raw.csv", newline="", encoding="utf-8") as handle:
        assert [r["x"] for r in csv.DictReader(handle)] == cells
    assert escape_formula("=1") == "'=1" and escape_formula("1e5") == "1e5"


def test_supported_is_a_column_everywhere(classifier, tmp_path):
    import pandas as pd

    from salesnlp import classify_frame

    frame = classify_frame(pd.DataFrame({"note": [NOTES[0], "Hello, who won the tender?",
                                                  None, "-"]}), model=classifier)
    assert frame["supported"].tolist() == [True, False, False, False]
    assert frame["supported"].dtype == bool
    assert all(math.isclose(v, 0.0) for v in frame.loc[2:, [f"score_{x}" for x in LABELS]]
               .to_numpy().ravel())
