"""Fault injection for ``salesnlp classify``: stop a run at many points, resume, and get
exactly what an uninterrupted run gives, row by row and byte by byte.

Stops in-process use the engine's crash hook (``_SALESNLP_CLASSIFY_CRASH=<chunk>:<stage>``
with ``_SALESNLP_CLASSIFY_CRASH_RAISE``), at stages inside a chunk (before classifying,
with half of the chunk's bytes written, written but not recorded) and after it. Real
``SIGKILL``s hit a CLI subprocess at random moments.
"""

from __future__ import annotations

import csv
import io
import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from salesnlp.inference.classifier import Classifier
from salesnlp.integrations.files import classify_stream

NOTES = ["Ei öelnud, kes hanke võitis.", "Kolm kirja, kaks kõnet, vastust pole.",
         "Katsotaan syksyllä, ei päivämäärää.", "Подивимось після літа, може.",
         "Am semnat contractul, livrare marți.", "Wilde niet zeggen wie de leverancier is."]
STAGES = ("classify", "write", "written", "committed")


@pytest.fixture(scope="module")
def classifier(tiny_model) -> Classifier:
    return Classifier.load(tiny_model)


def source_file(path: Path, n: int) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["id", "note"])
        for i in range(n):
            note = "" if i % 17 == 5 else f"{NOTES[i % len(NOTES)]} #{i}"  # some skipped rows
            writer.writerow([f"r{i}", note])
    return path


def stream(classifier, source: Path, out: Path, resume: bool) -> None:
    classify_stream(lambda: classifier, input_path=source, output_path=out,
                    text_column="note", chunk_size=7, batch_size=4, resume=resume,
                    stderr=io.StringIO())


@pytest.mark.parametrize("out_name", ["out.csv", "out.jsonl"])
def test_stopped_anywhere_and_resumed_equals_one_run(classifier, tmp_path, monkeypatch,
                                                      out_name):
    source = source_file(tmp_path / "in.csv", 97)  # 14 chunks of 7
    reference = tmp_path / f"reference-{out_name}"
    stream(classifier, source, reference, resume=False)
    rng = random.Random(f"faults-{out_name}")
    monkeypatch.setenv("_SALESNLP_CLASSIFY_CRASH_RAISE", "1")
    for trial in range(6):
        out = tmp_path / f"{trial}-{out_name}"
        stops, finished = 0, False
        for _ in range(rng.randint(1, 4)):  # one to four stops, then a clean resume
            monkeypatch.setenv("_SALESNLP_CLASSIFY_CRASH",
                               f"{rng.randint(1, 5)}:{rng.choice(STAGES)}")
            try:
                stream(classifier, source, out, resume=stops > 0)
                finished = True
                break
            except SystemExit:
                stops += 1
        monkeypatch.delenv("_SALESNLP_CLASSIFY_CRASH")
        if not finished:
            stream(classifier, source, out, resume=True)
        assert stops >= 1
        assert out.read_bytes() == reference.read_bytes(), f"trial {trial}"
        assert not out.with_name(out.name + ".partial").exists()
        assert not out.with_name(out.name + ".progress").exists()


def _kill_when(process: subprocess.Popen, sidecar: Path, rows: int) -> bool:
    """SIGKILL ``process`` once its sidecar records at least ``rows`` rows; False if it
    finished first."""
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if json.loads(sidecar.read_text() or "{}").get("rows_consumed", 0) >= rows:
                break
        except (OSError, ValueError):  # not written yet, or caught mid-replace
            pass
        time.sleep(0.005)
    if process.poll() is not None:
        return False
    process.send_signal(signal.SIGKILL)
    process.wait()
    return True


def test_random_sigkills_then_resume_equals_one_run(tiny_model, tmp_path):
    env = {**os.environ, "SALESNLP_MODEL": str(tiny_model)}
    n_rows = 3000
    source = source_file(tmp_path / "in.csv", n_rows)
    args = [sys.executable, "-m", "salesnlp.cli", "classify", "-i", str(source),
            "--text-column", "note", "--chunk-size", "8", "--batch-size", "8", "-q"]
    reference = tmp_path / "reference.jsonl"
    subprocess.run([*args, "-o", str(reference)], env=env, capture_output=True, timeout=300)
    out = tmp_path / "out.jsonl"
    thresholds = sorted(random.Random(11).sample(range(40, n_rows - 200), 3))
    kills = 0
    for attempt, rows in enumerate(thresholds):
        process = subprocess.Popen([*args, "-o", str(out), *(["--resume"] if attempt else [])],
                                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        kills += _kill_when(process, out.with_name(out.name + ".progress"), rows)
    done = subprocess.run([*args, "-o", str(out), "--resume"], env=env, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 1, done.stderr  # rows with an empty note are skipped
    assert kills == len(thresholds)
    got = out.read_text(encoding="utf-8").splitlines()
    want = reference.read_text(encoding="utf-8").splitlines()
    assert [json.loads(r)["id"] for r in got] == [json.loads(r)["id"] for r in want]
    assert got == want
