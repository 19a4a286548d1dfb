"""`salesnlp label suggest|import`: choosing notes to label and reading labels back."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from salesnlp.errors import CorpusError
from salesnlp.inference.classifier import Classifier
from salesnlp.labelling import (
    LABEL_STUDIO_CONFIG,
    agreement_report,
    label_studio_tasks,
    merge_annotations,
    read_annotations,
    suggest,
)
from salesnlp.labelling.agreement import cohen_kappa, fleiss_kappa
from salesnlp.labelling.selection import uncertainty
from salesnlp.labels import LABELS

ET_NOTES = [
    "Küsisin, kes hanke võitis, aga ta ei öelnud midagi.",
    "Kolm kirja ja kaks kõnet, vastust pole siiani.",
    "Arutame sügisel, kuupäeva ei pannud.",
    "Leping allkirjastatud, tarne teisipäeval Tartusse.",
    "Juhatus otsustab 12. märtsil, esitleme siis.",
    "Nad kasutavad praegu Telia lahendust, leping lõpeb mais.",
]
FI_NOTES = [
    "Kysyin kuka voitti tarjouskilpailun, ei kertonut.",
    "Katsotaan syksyllä, ei päivämäärää.",
    "Sopimus allekirjoitettu, toimitus tiistaina.",
]


@pytest.fixture(scope="module")
def classifier(tiny_model) -> Classifier:
    return Classifier.load(tiny_model, precision="fp32")


FILLER = ("klient", "hind", "tarne", "leping", "kohtumine", "pakkumine", "arve", "ladu",
          "juht", "projekt", "eelarve", "Tartu", "Pärnu", "Narva", "esmaspäev", "reede",
          "asiakas", "hinta", "toimitus", "kokous", "tarjous", "Oulu", "Vaasa", "Lahti")


def unlabelled(n_et: int = 60, n_fi: int = 8, seed: int = 0) -> list[str]:
    """Distinct notes: a sentence plus eight random words (no two near-duplicates)."""
    rng = np.random.default_rng(seed)

    def filler() -> str:
        return " ".join(rng.choice(FILLER, 8)) + f" {rng.integers(1000, 9999)}."

    return ([f"{ET_NOTES[i % len(ET_NOTES)]} {filler()}" for i in range(n_et)]
            + [f"{FI_NOTES[i % len(FI_NOTES)]} {filler()}" for i in range(n_fi)])


def test_suggest_takes_the_uncertain_first_then_a_random_share(classifier):
    texts = unlabelled()
    chosen = suggest(texts, classifier, 20, random_share=0.25, seed=3)
    reasons = [s.reason for s in chosen]
    assert len(chosen) == 20 and reasons.count("random") == 5
    assert len({s.position for s in chosen}) == 20
    picked = [s.uncertainty for s in chosen if s.reason == "uncertain"]
    everyone = [uncertainty(r) for r in classifier.classify_many(texts)]
    assert np.mean(picked) > np.mean(everyone)
    assert all(s.text == texts[s.position] for s in chosen)


def test_suggest_never_returns_near_duplicates_or_notes_without_letters(classifier):
    texts = ["Küsisin, kes hanke võitis, aga ta ei öelnud."] * 6 + ["—", "123"] + unlabelled(10, 0)
    chosen = suggest(texts, classifier, 30, random_share=0.5)
    positions = {s.position for s in chosen}
    assert len(positions & set(range(6))) <= 1
    assert not positions & {6, 7}


def test_suggest_spreads_over_languages(classifier):
    texts = unlabelled(60, 8)
    chosen = suggest(texts, classifier, 12, random_share=0.0)
    languages = {s.result.language for s in chosen}
    assert {"et", "fi"} <= languages


def test_suggest_checks_its_arguments(classifier):
    with pytest.raises(ValueError, match="random_share"):
        suggest(["a b"], classifier, 5, random_share=1.5)
    with pytest.raises(ValueError, match="n must be"):
        suggest(["a b"], classifier, 0)


def test_label_studio_tasks_match_the_labelling_config(classifier):
    chosen = suggest(unlabelled(20, 4), classifier, 8, fields=[{"id": f"n{i}"} for i in range(24)])
    tasks = label_studio_tasks(chosen, "tiny")
    config = ET.fromstring(LABEL_STUDIO_CONFIG)
    choices = config.find("Choices")
    text = config.find("Text")
    assert [c.get("value") for c in choices.findall("Choice")] == list(LABELS)
    assert choices.get("toName") == text.get("name") and text.get("value") == "$text"
    for task, s in zip(tasks, chosen, strict=True):
        assert task["data"]["text"] == s.text and task["data"]["id"] == s.fields["id"]
        result = task["predictions"][0]["result"][0]
        assert result["from_name"] == choices.get("name") and result["to_name"] == "text"
        assert result["value"]["choices"] == list(s.result.labels)
        assert task["data"][f"score_{LABELS[0]}"] == round(s.result.scores[LABELS[0]], 4)


def export_of(texts: list[str], votes: list[dict[int, list[str]]]) -> list[dict]:
    """A Label Studio JSON export: annotator id -> chosen labels, per task."""
    return [{"id": 100 + i, "data": {"text": t, "id": f"n{i}", "lang": "et"},
             "annotations": [{"completed_by": who, "was_cancelled": False,
                              "result": [{"from_name": "labels", "to_name": "text",
                                          "type": "choices", "value": {"choices": labels}}]}
                             for who, labels in by.items()]}
            for i, (t, by) in enumerate(zip(texts, votes, strict=True))]


def test_import_keeps_majority_labels_annotators_and_disputes(tmp_path):
    votes = [{1: ["evasive_stalling"], 2: ["evasive_stalling"], 3: []},
             {1: ["partner_concealment"], 2: []},
             {1: []}]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(export_of(ET_NOTES[:3], votes)))
    rows = merge_annotations(read_annotations(path))
    assert [r["labels"] for r in rows] == [["evasive_stalling"], [], []]
    assert rows[1]["disputed"] == ["partner_concealment"]
    assert rows[0]["annotators"] == {"1": ["evasive_stalling"], "2": ["evasive_stalling"],
                                     "3": []}
    assert rows[0]["id"] == "n0" and rows[0]["lang"] == "et"


def test_import_skips_cancelled_annotations_and_names_the_task_of_a_bad_label(tmp_path):
    tasks = export_of(ET_NOTES[:2], [{1: ["evasive_stalling"]}, {1: ["rude_buyer"]}])
    tasks[0]["annotations"].append({"completed_by": 9, "was_cancelled": True, "result": []})
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks))
    with pytest.raises(CorpusError, match=r"task 2: unknown label\(s\) \['rude_buyer'\]"):
        read_annotations(path)
    path.write_text(json.dumps(tasks[:1]))
    assert list(read_annotations(path)[0].by_annotator) == ["1"]


def test_import_of_csv_rows_groups_annotators_by_id_and_names_the_line(tmp_path):
    path = tmp_path / "labels.csv"
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "text", "labels", "annotator"])
        writer.writerow(["a", ET_NOTES[0], "partner_concealment", "mari"])
        writer.writerow(["a", ET_NOTES[0], "partner_concealment;evasive_stalling", "jaan"])
        writer.writerow(["b", ET_NOTES[3], "none", "mari"])
    notes = read_annotations(path)
    assert [n.by_annotator for n in notes] == [
        {"mari": ("partner_concealment",),
         "jaan": ("partner_concealment", "evasive_stalling")}, {"mari": ()}]
    rows = merge_annotations(notes)
    assert rows[0]["labels"] == ["partner_concealment"]
    assert rows[0]["disputed"] == ["evasive_stalling"]
    with open(path, "a", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerow(["c", ET_NOTES[4], "stalling", "mari"])
    with pytest.raises(CorpusError, match=r"labels\.csv:5: unknown label"):
        read_annotations(path)


def test_fleiss_kappa_matches_the_worked_example_of_fleiss_1971():
    # The example on Wikipedia's "Fleiss' kappa" page: 10 subjects, 14 raters, 5 categories.
    counts = [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0],
              [2, 2, 8, 1, 1], [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2],
              [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    assert fleiss_kappa(np.array(counts)) == pytest.approx(0.210, abs=5e-4)


def test_agreement_report_per_label_and_pair():
    from salesnlp.labelling import Annotated

    rng = np.random.default_rng(0)
    notes = []
    for i in range(40):
        truth = tuple(lb for lb in LABELS if rng.random() < 0.4)
        noisy = tuple(lb for lb in LABELS if (lb in truth) != (i % 10 == 0 and lb == LABELS[0]))
        notes.append(Annotated(f"n{i}", "x", {"a": truth, "b": noisy}))
    report = agreement_report(notes)
    pair = report["cohen"]["a vs b"]
    assert pair["n"] == 40
    assert pair[LABELS[1]] == 1.0 and pair[LABELS[2]] == 1.0
    first_a = [LABELS[0] in n.by_annotator["a"] for n in notes]
    first_b = [LABELS[0] in n.by_annotator["b"] for n in notes]
    assert pair[LABELS[0]] == round(cohen_kappa(first_a, first_b), 4) < 1.0
    assert report["fleiss"][LABELS[1]] == 1.0 and report["fleiss"][LABELS[0]] < 1.0


def test_the_commands_round_trip_through_label_studio(tiny_model, tmp_path):
    env = {**os.environ, "SALESNLP_MODEL": str(tiny_model)}
    source = tmp_path / "notes.jsonl"
    source.write_text("".join(json.dumps({"id": f"n{i}", "note": t}, ensure_ascii=False) + "\n"
                              for i, t in enumerate(unlabelled(30, 6))) + '{"id": "bad"}\n',
                      encoding="utf-8")
    tasks_path = tmp_path / "tasks.json"
    done = subprocess.run(
        [sys.executable, "-m", "salesnlp.cli", "label", "suggest", "--input", str(source),
         "--text-column", "note", "--n", "10", "--output", str(tasks_path)],
        capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "10 of 36 notes suggested (9 uncertain, 1 random)" in done.stdout
    assert "notes.jsonl:37: skipped: no field 'note'" in done.stderr
    tasks = json.loads(tasks_path.read_text())
    assert (tmp_path / "tasks.label_config.xml").read_text() == LABEL_STUDIO_CONFIG
    for number, task in enumerate(tasks):  # two annotators accept the pre-annotation
        task["annotations"] = [{"completed_by": who, "result": task["predictions"][0]["result"]}
                               for who in (1, 2)]
        task["id"] = number
    export = tmp_path / "export.json"
    export.write_text(json.dumps(tasks))
    done = subprocess.run(
        [sys.executable, "-m", "salesnlp.cli", "label", "import", str(export), "--output",
         str(tmp_path / "labelled.jsonl"), "--agreement", str(tmp_path / "kappa.json")],
        capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    rows = [json.loads(line) for line in (tmp_path / "labelled.jsonl").read_text().splitlines()]
    assert [r["id"] for r in rows] == [t["data"]["id"] for t in tasks]
    assert all(r["labels"] == t["predictions"][0]["result"][0]["value"]["choices"]
               for r, t in zip(rows, tasks, strict=True))
    validated = subprocess.run([sys.executable, "-m", "salesnlp.cli", "corpus", "validate",
                                str(tmp_path / "labelled.jsonl"), "--no-split"],
                               capture_output=True, text=True, env=env, timeout=300)
    assert validated.returncode == 0, validated.stderr
    assert json.loads((tmp_path / "kappa.json").read_text())["notes_with_several_annotators"] \
        == 10
