"""Spark integration: :func:`classify_frame` over a Spark DataFrame (``salesnlp.spark``).

Built on Spark's Arrow-based Python execution (``DataFrame.mapInArrow``): each Python
worker loads the classifier once (a per-process cache, reused across tasks and
batches as Spark reuses its Python workers) and classifies whole Arrow batches with
``classify_many``. Only the model's *location* travels with the task, never the model.

Where the model comes from, on every executor:

- ``model=None``: the model shipped with salesnlp (``$SALESNLP_MODEL`` if set there);
- ``model="/shared/path/model"``: a directory every executor can read (a shared file
  system, DBFS, or a path baked into the executor image);
- ``model=distribute_model(spark, "models/mine")``: the driver's directory, copied to
  each executor with ``SparkContext.addFile`` and found there with ``SparkFiles.get``.

The int8 files are built on first use in each executor's ``$SALESNLP_HOME`` (about
15 s, once per machine; builds racing on one machine are serialised by a file lock),
or ahead of time with ``salesnlp export-int8`` in the image.

Needs the ``spark`` extra (``pip install "salesnlp[spark]"``); importing ``salesnlp``
does not import pyspark.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from salesnlp.labels import LABELS
from salesnlp.results import ROW_COLUMNS

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession

SPARK_FILES = "sparkfiles:"
_SURROGATES = re.compile("[\ud800-\udfff]")
_classifiers: dict[tuple, Any] = {}
_lock = threading.Lock()


def classify_frame(df: DataFrame, column: str = "note", *, model: str | None = None,
                   batch_size: int = 32, precision: str = "auto",
                   unsupported_language: str = "score") -> DataFrame:
    """Classify the notes in one column of a Spark DataFrame.

    Returns a new DataFrame with every input column and the columns the pandas
    :func:`salesnlp.classify_frame` adds: ``language`` (string), ``supported``
    (boolean), ``labels`` (array<string>), ``score_<label>`` (double, one per label)
    and ``evidence`` (array<struct<label, text, start, end, score>>). An input column of
    one of those names is replaced. Null and empty notes give neutral rows. Results
    equal ``classify_many`` on the same notes.

    Args:
        df: the notes.
        column: the string column holding the note text.
        model: where executors find the model (see the module docstring).
        batch_size: notes per forward pass inside each Arrow batch.
        precision, unsupported_language: as for :func:`salesnlp.load`.

    Raises:
        ValueError: ``column`` is not a column of ``df`` (the message lists them).
        TypeError: ``column`` is not a string column, or ``df`` not a Spark DataFrame.
    """
    from pyspark.sql import DataFrame as SparkDataFrame

    if not isinstance(df, SparkDataFrame):
        raise TypeError(f"classify_frame takes a Spark DataFrame, not {type(df).__name__}; "
                        "for pandas use salesnlp.classify_frame")
    _check_column(df, column)
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive int, got {batch_size!r}")
    kept = [f.name for f in df.schema.fields if f.name not in ROW_COLUMNS or f.name == column]
    source = df.select(*kept)
    schema = output_schema(source.schema)
    settings = (model, precision, unsupported_language, batch_size)

    def classify_batches(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return classify_arrow(batches, column, settings)

    return source.mapInArrow(classify_batches, schema)


def distribute_model(spark: SparkSession, path: str) -> str:
    """Copy a model directory from the driver to every executor (``SparkContext.addFile``);
    pass the returned reference as ``model=`` to :func:`classify_frame`."""
    from pathlib import Path

    directory = Path(path).expanduser().resolve()
    if not (directory / "config.json").is_file():
        raise ValueError(f"{path} is not a salesnlp model directory (no config.json)")
    spark.sparkContext.addFile(str(directory), recursive=True)
    return SPARK_FILES + directory.name


def output_schema(input_schema):
    """The input schema plus the added columns (Spark types)."""
    from pyspark.sql.types import (
        ArrayType,
        BooleanType,
        DoubleType,
        IntegerType,
        StringType,
        StructField,
        StructType,
    )

    evidence = StructType([StructField("label", StringType()), StructField("text", StringType()),
                           StructField("start", IntegerType()), StructField("end", IntegerType()),
                           StructField("score", DoubleType())])
    added = {"language": StringType(), "supported": BooleanType(),
             "labels": ArrayType(StringType()), "evidence": ArrayType(evidence),
             **{f"score_{label}": DoubleType() for label in LABELS}}
    return StructType([*input_schema.fields,
                       *(StructField(name, added[name]) for name in ROW_COLUMNS)])


def classify_arrow(batches, column: str, settings: tuple) -> Iterator[pa.RecordBatch]:
    """Classify Arrow record batches on an executor (the body of ``mapInArrow``)."""
    import pyarrow as pa

    classifier = worker_classifier(*settings[:3])
    batch_size = settings[3]
    for batch in batches:
        notes = batch.column(batch.schema.get_field_index(column)).to_pylist()
        results = classifier.classify_many([n if isinstance(n, str) else "" for n in notes],
                                           batch_size=batch_size)
        rows = [r.to_row() for r in results]
        arrays = [_arrow_column(name, [row[name] for row in rows]) for name in ROW_COLUMNS]
        yield pa.RecordBatch.from_arrays([*batch.columns, *arrays],
                                         names=[*batch.schema.names, *ROW_COLUMNS])


def worker_classifier(model: str | None, precision: str, unsupported_language: str):
    """The classifier of this Python worker, loaded on its first batch and kept."""
    key = (model, precision, unsupported_language)
    with _lock:
        if key not in _classifiers:
            from salesnlp.inference.classifier import Classifier

            # an executor's tasks share its cores: idle ONNX Runtime threads sleep
            os.environ.setdefault("SALESNLP_ORT_SPINNING", "0")

            _classifiers[key] = Classifier.load(_resolve(model), precision,
                                                unsupported_language=unsupported_language)
        return _classifiers[key]


def _resolve(model: str | None) -> str | None:
    if model is not None and model.startswith(SPARK_FILES):
        from pyspark import SparkFiles

        return SparkFiles.get(model[len(SPARK_FILES):])
    return model


def _check_column(df, column: str) -> None:
    from pyspark.sql.types import StringType

    fields = {f.name: f for f in df.schema.fields}
    if column not in fields:
        raise ValueError(f"no column {column!r} in the DataFrame; its columns are "
                         f"{list(fields)} (pass column=...)")
    if not isinstance(fields[column].dataType, StringType):
        raise TypeError(f"column {column!r} is {fields[column].dataType.simpleString()}, not "
                        f"string; cast it first, e.g. df.withColumn({column!r}, "
                        f"F.col({column!r}).cast('string'))")


def _arrow_column(name: str, values: list):
    import pyarrow as pa

    if name.startswith("score_"):
        return pa.array(values, pa.float64())
    if name == "supported":
        return pa.array(values, pa.bool_())
    if name == "labels":
        return pa.array(values, pa.list_(pa.string()))
    if name == "evidence":
        struct = pa.struct([("label", pa.string()), ("text", pa.string()), ("start", pa.int32()),
                            ("end", pa.int32()), ("score", pa.float64())])
        return pa.array([[{**e, "text": _valid(e["text"])} for e in row] for row in values],
                        pa.list_(struct))
    return pa.array(values, pa.string())


def _valid(text: str) -> str:
    """Text Arrow can hold (UTF-8): lone surrogates become U+FFFD."""
    return _SURROGATES.sub("\ufffd", text)
