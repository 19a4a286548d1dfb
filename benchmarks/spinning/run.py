"""ONNX Runtime's idle threads spinning or sleeping (``SALESNLP_ORT_SPINNING``), measured.

Usage::

    python -m benchmarks.spinning.run           # writes benchmarks/spinning/results.{json,md}
    python -m benchmarks.spinning.run --quick

For each shipped model on the int8 path, in a fresh process per setting: one
``classify`` of a ~40-token note (median), ``classify_many`` in batches of 32, four
threads calling ``classify`` on single notes at once, and the process's CPU seconds per
note in each (what spinning costs the other work on the host).
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

from benchmarks.run import ROOT, _log, _machine, _subprocess, note_sets

HERE = Path(__file__).resolve().parent
MODELS = ("salesnlp-e5-small-v2", "salesnlp-e5-small-v2-student8")

_MEASURE = """
import json, statistics, sys, time
from concurrent.futures import ThreadPoolExecutor
import salesnlp
typical, repeats = json.loads(sys.argv[1]), int(sys.argv[2])
batch = (typical * (1 + 320 // len(typical)))[:320]
clf = salesnlp.load({model!r}, precision="int8")
for t in typical:
    clf.classify(t)

def timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return time.perf_counter() - wall, time.process_time() - cpu

singles, single_cpu = [], 0.0
for _ in range(repeats):
    for t in typical:
        wall, cpu = timed(lambda: clf.classify(t))
        singles.append(wall)
        single_cpu += cpu
batches = [timed(lambda: clf.classify_many(batch, batch_size=32)) for _ in range(repeats)]
with ThreadPoolExecutor(4) as pool:
    threads = [timed(lambda: list(pool.map(clf.classify, batch))) for _ in range(repeats)]
n = len(batch) * repeats
print(json.dumps({{
    "single_ms": statistics.median(singles) * 1e3,
    "single_cpu_ms": single_cpu / len(singles) * 1e3,
    "batch_notes_per_s": len(batch) / statistics.median(w for w, _ in batches),
    "batch_cpu_ms": sum(c for _, c in batches) / n * 1e3,
    "four_threads_notes_per_s": len(batch) / statistics.median(w for w, _ in threads),
    "four_threads_cpu_ms": sum(c for _, c in threads) / n * 1e3}}))
"""


def measure(model: str, spin: bool, typical: list[str], repeats: int) -> dict:
    """One fresh process with ONNX Runtime's idle threads spinning or sleeping."""
    before = os.environ.get("SALESNLP_ORT_SPINNING")
    os.environ["SALESNLP_ORT_SPINNING"] = "1" if spin else "0"
    try:
        args = [json.dumps(typical), str(repeats)]
        return _subprocess(f"import sys; sys.argv[1:] = {args!r}\n"
                           + _MEASURE.format(model=model))
    finally:
        if before is None:
            del os.environ["SALESNLP_ORT_SPINNING"]
        else:
            os.environ["SALESNLP_ORT_SPINNING"] = before


def markdown(result: dict) -> str:
    lines = ["# ONNX Runtime threads spinning or sleeping", "",
             "`python -m benchmarks.spinning.run`; int8 path, ~40-token notes of the test "
             f"split ({result['typical_notes']} notes, {result['repeats']} repeats); "
             f"{result['machine'].get('cpu', '')}, {result['seconds']:.0f} s. "
             "CPU ms: the process's CPU time per note (both cores count).", "",
             "| model | idle threads | one note ms | CPU ms | batches of 32 notes/s | CPU ms "
             "| 4 threads notes/s | CPU ms |", "|---|---|---|---|---|---|---|---|"]
    for model, by_setting in result["models"].items():
        for setting, m in by_setting.items():
            lines.append(f"| {model} | {setting} | {m['single_ms']:.2f} | "
                         f"{m['single_cpu_ms']:.2f} | {m['batch_notes_per_s']:.0f} | "
                         f"{m['batch_cpu_ms']:.2f} | {m['four_threads_notes_per_s']:.0f} | "
                         f"{m['four_threads_cpu_ms']:.2f} |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--out", default=str(HERE))
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = 1
    import salesnlp
    from salesnlp.corpus.notes import load_corpus

    started = time.time()
    notes = load_corpus(ROOT / "corpus", split="test")
    typical = note_sets(salesnlp.load(args.models[0]), notes)["typical"]
    result = {"machine": _machine(), "typical_notes": len(typical), "repeats": args.repeats,
              "models": {}}
    for model in args.models:
        result["models"][model] = {}
        for spin in (False, True, False, True):  # alternated, the second pair kept
            _log(f"{model} spinning={spin}")
            result["models"][model]["spinning" if spin else "sleeping"] = measure(
                model, spin, typical, args.repeats)
    result["seconds"] = round(time.time() - started, 1)
    out = Path(args.out)
    (out / "results.json").write_text(json.dumps(result, indent=2) + "\n")
    (out / "results.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
