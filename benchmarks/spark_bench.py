"""Spark benchmark: ``salesnlp.spark.classify_frame`` in local[1] and local[2] against
in-process ``classify_many`` on the same notes, in one run.

    python -m benchmarks.spark_bench            # 5,000 notes; writes benchmarks/spark/results.*
    python -m benchmarks.spark_bench --notes 1000

Each Spark run starts its own session, warms the Python workers (each loads the model
once) on a small frame, then times classifying the notes into Spark's ``noop`` sink.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "spark"


def spark_run(master: str, texts: list[str], partitions: int) -> dict:
    from pyspark.sql import SparkSession

    from salesnlp.spark import classify_frame

    os.environ["PYSPARK_PYTHON"] = sys.executable
    spark = (SparkSession.builder.master(master).appName("salesnlp-bench")
             .config("spark.ui.enabled", "false").config("spark.driver.bindAddress", "127.0.0.1")
             .config("spark.sql.execution.arrow.maxRecordsPerBatch", "2000").getOrCreate())
    try:
        cores = int(master.removeprefix("local[").removesuffix("]"))
        warm = spark.createDataFrame([(i, texts[i]) for i in range(8 * cores)],
                                     "id long, note string").repartition(cores)
        started = time.perf_counter()
        classify_frame(warm).write.format("noop").mode("overwrite").save()
        warm_up = time.perf_counter() - started
        df = spark.createDataFrame(list(enumerate(texts)), "id long, note string")
        df = df.repartition(partitions).cache()
        df.count()
        started = time.perf_counter()
        classify_frame(df).write.format("noop").mode("overwrite").save()
        seconds = time.perf_counter() - started
    finally:
        spark.stop()
    return {"master": master, "partitions": partitions, "notes": len(texts),
            "seconds": round(seconds, 2), "notes_per_s": round(len(texts) / seconds, 1),
            "worker_warm_up_s": round(warm_up, 2)}


def main(argv: list[str] | None = None) -> int:
    import salesnlp
    from benchmarks.serve_load import typical_notes

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notes", type=int, default=5000)
    args = parser.parse_args(argv)
    texts = typical_notes(args.notes)
    clf = salesnlp.load()
    clf.classify_many(texts[:64])
    started = time.perf_counter()
    clf.classify_many(texts, batch_size=32)
    in_process = len(texts) / (time.perf_counter() - started)
    runs = [spark_run("local[1]", texts, 4), spark_run("local[2]", texts, 4)]
    for run in runs:
        run["share_of_in_process"] = round(run["notes_per_s"] / in_process, 3)
    report = {"date": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "cores": os.cpu_count(),
              "loadavg_start": os.getloadavg(), "in_process_notes_per_s": round(in_process, 1),
              "runs": runs,
              "local2_over_local1": round(runs[1]["notes_per_s"] / runs[0]["notes_per_s"], 2)}
    OUT.mkdir(exist_ok=True)
    (OUT / "results.json").write_text(json.dumps(report, indent=2))
    lines = ["# Spark benchmark", "",
             f"{report['date']}, {report['cores']} cores; `python -m benchmarks.spark_bench "
             f"--notes {args.notes}` (~40-token notes, int8 path).", "",
             f"In-process `classify_many`: **{report['in_process_notes_per_s']} notes/s**.", "",
             "| master | notes/s | share of in-process | worker warm-up s |",
             "| --- | --- | --- | --- |"]
    lines += [f"| {r['master']} | {r['notes_per_s']} | {r['share_of_in_process']:.2f} | "
              f"{r['worker_warm_up_s']} |" for r in runs]
    lines += ["", f"local[2] / local[1]: {report['local2_over_local1']}×."]
    (OUT / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
