"""Classify the notes of a Parquet dataset with Spark and write the results as Parquet.

    spark-submit examples/spark_classify_parquet.py \
        --input crm_notes.parquet --output scored.parquet --column note [--model DIR]

Every input column is kept; salesnlp's columns are added (language, supported, labels,
score_<label>, evidence). ``--model`` is a model directory on the driver, copied to the
executors with ``SparkContext.addFile``; without it, executors use the model shipped
with their salesnlp installation.
"""

from __future__ import annotations

import argparse

from pyspark.sql import SparkSession

from salesnlp.spark import classify_frame, distribute_model


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", required=True, help="Parquet file or directory")
    parser.add_argument("--output", required=True, help="Parquet directory to write")
    parser.add_argument("--column", default="note", help="the column holding the note text")
    parser.add_argument("--model", default=None, help="model directory on the driver")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    spark = SparkSession.builder.appName("salesnlp-classify").getOrCreate()
    model = distribute_model(spark, args.model) if args.model else None
    notes = spark.read.parquet(args.input)
    scored = classify_frame(notes, column=args.column, model=model, batch_size=args.batch_size)
    scored.write.mode("overwrite").parquet(args.output)
    spark.stop()


if __name__ == "__main__":
    main()
