"""Corpus loader, validator, statistics, splits and the shipped corpus itself."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest

from salesnlp.corpus.notes import Note, corpus_stats, load_corpus, validate_corpus
from salesnlp.corpus.splitting import assign_splits, leaks_across_splits, near_duplicate_pairs
from salesnlp.errors import CorpusError
from salesnlp.labels import LABELS, SUPPORTED_LANGUAGES

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
GOOD = {"id": "fi-1", "lang": "fi", "text": "Ei kertonut, kuka voitti kilpailutuksen.",
        "labels": ["partner_concealment"], "split": "train", "source": "written"}


def write_jsonl(path: Path, rows: list) -> Path:
    with open(path, "w", encoding="utf-8") as handle:
        for row in rows:
            handle.write((row if isinstance(row, str) else json.dumps(row, ensure_ascii=False))
                         + "\n")
    return path


@pytest.mark.parametrize(
    ("bad", "message"),
    [
        ({**GOOD, "labels": ["rudeness"]}, "unknown label"),
        ({**GOOD, "lang": "sv"}, "unknown language"),
        ({**GOOD, "text": "   \n"}, "is empty"),
        ({**GOOD, "text": None}, "must be a string"),
        ({**GOOD, "split": "validation"}, "unknown split"),
        ('{"id": "x", "text": "broken', "bad JSON"),
        ("[1, 2]", "JSON object"),
    ],
)
def test_validator_names_file_and_line(tmp_path, bad, message):
    path = write_jsonl(tmp_path / "notes.jsonl", [GOOD, {**GOOD, "id": "fi-2"}, bad])
    report = validate_corpus(path, check_language=False)
    assert not report.ok
    assert len(report.errors) == 1
    problem = report.errors[0]
    assert problem.line == 3 and problem.file.endswith("notes.jsonl")
    assert message in problem.message
    assert f"notes.jsonl:3: error: {problem.message}" in str(problem)


def test_validator_flags_duplicate_ids_with_both_places(tmp_path):
    path = write_jsonl(tmp_path / "n.jsonl", [GOOD, {**GOOD, "text": "toinen"}])
    report = validate_corpus(path, check_language=False)
    assert [p.line for p in report.errors] == [2]
    message = report.errors[0].message
    assert "duplicate id 'fi-1'" in message and "n.jsonl:1" in message


def test_validator_reports_language_mismatch_as_warning(tmp_path):
    rows = [GOOD, {**GOOD, "id": "fi-2", "text": "Директор вирішує, але номер телефону не дав."}]
    report = validate_corpus(write_jsonl(tmp_path / "n.jsonl", rows))
    assert report.ok
    assert [(w.line, w.severity) for w in report.warnings] == [(2, "warning")]
    assert "reads as 'uk'" in report.warnings[0].message


def test_loader_raises_on_first_bad_row(tmp_path):
    path = write_jsonl(tmp_path / "n.jsonl", [GOOD, {**GOOD, "id": "b", "labels": ["x"]}])
    with pytest.raises(CorpusError, match="n.jsonl:2"):
        load_corpus(path)


def test_loader_reads_user_csv_with_column_options(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("note,tags,language\n"
                    '"Ei vastannut, ghostaa",supplier_disrespect;evasive_stalling,fi\n'
                    "Hyvä palaveri,none,fi\n"
                    'Kein Kommentar,"[]",\n', encoding="utf-8")
    notes = load_corpus(path, text_column="note", labels_column="tags", lang_column="language")
    assert [n.labels for n in notes] == [("evasive_stalling", "supplier_disrespect"), (), ()]
    assert [n.lang for n in notes] == ["fi", "fi", "und"]
    assert notes[0].id == "mine.csv:2"


def test_loader_filters_split_and_language(tmp_path):
    rows = [GOOD, {**GOOD, "id": "2", "split": "test"}, {**GOOD, "id": "3", "lang": "et"}]
    path = write_jsonl(tmp_path / "n.jsonl", rows)
    assert [n.id for n in load_corpus(path, split="test")] == ["2"]
    assert [n.id for n in load_corpus(path, languages=["et"])] == ["3"]
    with pytest.raises(CorpusError, match="no notes in split"):
        load_corpus(path, split="dev")


def test_near_duplicates_found_and_kept_in_one_split():
    base = "Helistasin kolm korda, vastust pole ja pakkumine on ikka õhus. "
    notes = [Note(f"et-{i}", "et", base + ("!" * (i % 2)), ("supplier_disrespect",))
             for i in range(6)]
    rng = random.Random(0)
    words = "soitto tarjous päättäjä kilpailutus hinta palaveri toimitus sopimus".split()
    notes += [Note(f"fi-{i}", "fi", " ".join(rng.choices(words, k=12)) + f" {i}", ())
              for i in range(30)]
    pairs = near_duplicate_pairs([n.text for n in notes])
    assert {(i, j) for i, j, _ in pairs} >= {(0, 1), (0, 2), (4, 5)}
    split = assign_splits(notes, seed=1)
    assert len({n.split for n in split[:6]}) == 1
    assert leaks_across_splits(split) == []
    counts = {s: sum(n.split == s for n in split[6:]) for s in ("train", "dev", "test")}
    assert counts["train"] > counts["dev"] > 0 and counts["test"] > 0


# --- the shipped corpus ------------------------------------------------------

@pytest.fixture(scope="module")
def shipped():
    return load_corpus(CORPUS)


def test_shipped_corpus_validates():
    report = validate_corpus(CORPUS, check_language=False)
    assert report.ok, report.errors[:5]


def test_shipped_corpus_meets_size_and_balance(shipped):
    stats = corpus_stats(shipped)
    assert set(stats["languages"]) == set(SUPPORTED_LANGUAGES)
    for lang, s in stats["languages"].items():
        assert s["notes"] >= 1080, lang
        assert all(s["labels"][label] >= 200 for label in LABELS), (lang, s["labels"])
        assert s["multi_label"] / s["notes"] >= 0.10, lang
        assert s["none"] / s["notes"] >= 0.30, lang
        assert s["hard_negatives"] >= s["none"] / 2, lang


def test_corpus_v2_writers_genres_and_writer_held_out_splits(shipped):
    genres = {"note", "phone", "code_switched", "email", "html", "minutes", "field_dump",
              "article"}
    for lang in SUPPORTED_LANGUAGES:
        notes = [n for n in shipped if n.lang == lang and not n.writer.endswith("-v1")]
        writers = {n.writer for n in notes}
        assert len(notes) >= 400 and len(writers) >= 3, lang
        assert sum(not n.labels for n in notes) / len(notes) >= 0.35, lang
        by_split = {s: {n.writer for n in notes if n.split == s} for s in ("train", "dev", "test")}
        assert by_split["dev"] and by_split["test"], lang
        trained = {n.writer for n in shipped if n.split == "train"}
        assert not (by_split["dev"] | by_split["test"]) & trained, lang  # writer-held-out
        assert {n.genre for n in notes if n.split == "test"} == genres, lang
        for genre in genres:  # hard negatives of every genre
            assert any(not n.labels and n.extra["boundary"] != "plain" for n in notes
                       if n.genre == genre), (lang, genre)
    v1_test = [n for n in shipped if n.writer.endswith("-v1") and n.split == "test"]
    assert len(v1_test) == 515  # the v1 test split is kept as it was


@pytest.mark.slow
def test_shipped_corpus_has_no_near_duplicates_across_splits(shipped):
    assert leaks_across_splits(shipped) == []


def test_cli_validate_and_stats(tmp_path):
    exe = [sys.executable, "-m", "salesnlp.cli"]
    bad = write_jsonl(tmp_path / "bad.jsonl", [GOOD, {**GOOD, "labels": ["nope"]}])
    result = subprocess.run([*exe, "corpus", "validate", str(bad), "--no-language-check"],
                            capture_output=True, text=True)
    assert result.returncode == 1 and "bad.jsonl:2" in result.stderr
    good = write_jsonl(tmp_path / "good.jsonl", [GOOD])
    result = subprocess.run([*exe, "corpus", "stats", str(good)], capture_output=True, text=True)
    assert result.returncode == 0 and "| fi | 1 |" in result.stdout
    result = subprocess.run([*exe, "corpus"], capture_output=True, text=True)
    assert result.returncode == 2
