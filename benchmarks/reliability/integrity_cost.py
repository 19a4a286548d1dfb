"""What the content checks cost when a model is loaded.

Every file of the model directory, of its int8 cache entry and (once per process) of
the base encoder is checked against the SHA-256 in its ``MANIFEST.json``. This times
those checks on the shipped model, next to a whole ``salesnlp.load()``, each in a
fresh process with warm file caches (median of 5).

    python -m benchmarks.reliability.integrity_cost     # writes integrity_cost.{json,md}
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

PROBE = """
import json, time
from pathlib import Path
start = time.perf_counter()
import salesnlp
from salesnlp.cache import check_manifest
from salesnlp.encoder.base import resolve_base
clf = salesnlp.load(precision="int8")
loaded = time.perf_counter() - start
timings = {"load_int8_s": loaded}
parts = {"model_dir": Path(clf.path), "int8_entry": Path(clf.network.directory),
         "base": Path(resolve_base(clf.config.base_model))}
for name, directory in parts.items():
    t = time.perf_counter()
    problems = check_manifest(directory, full=True)
    timings[name + "_s"] = time.perf_counter() - t
    timings[name + "_mb"] = sum(p.stat().st_size for p in directory.rglob("*")
                                if p.is_file()) / 2**20
    assert not problems, problems
print(json.dumps(timings))
"""


def main() -> None:
    runs = []
    for _ in range(5):
        out = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True,
                             check=True)
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    median = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    (HERE / "integrity_cost.json").write_text(json.dumps(median, indent=1) + "\n")
    rows = [f"| {name} | {median[name + '_mb']:.0f} | {median[name + '_s'] * 1000:.0f} |"
            for name in ("model_dir", "int8_entry", "base")]
    text = "\n".join([
        "# Content checks on load", "",
        "`python -m benchmarks.reliability.integrity_cost` (median of 5 fresh processes, "
        "warm file cache).", "",
        "| checked | MB | ms to hash |", "| --- | --- | --- |", *rows, "",
        f"A whole `salesnlp.load(precision=\"int8\")` (import included): "
        f"{median['load_int8_s']:.2f} s. The base is only hashed when a model is trained "
        "or loaded on the fp32 path (once per process); the int8 path checks the model "
        "directory and its int8 entry.", ""])
    (HERE / "integrity_cost.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
