"""``salesnlp.spark.classify_frame`` on a real local[2] Spark session (Java 17)."""

from __future__ import annotations

import math
import os
import sys

import pytest

pyspark = pytest.importorskip("pyspark")

from salesnlp.inference.classifier import Classifier  # noqa: E402
from salesnlp.labels import LABELS  # noqa: E402
from salesnlp.results import ROW_COLUMNS  # noqa: E402

NOTES = ["Ei öelnud, kes hanke võitis. Kolm kirja, vastust pole.",
         "Katsotaan syksyllä, ei päivämäärää.", "Подивимось після літа, може.",
         "Am semnat contractul, livrare marți.", "Wilde niet zeggen wie de leverancier is.",
         "<p>Vedem după vară, nu știu.</p>"]


@pytest.fixture(scope="module")
def spark(tiny_model):
    from pyspark.sql import SparkSession

    env = pytest.MonkeyPatch()  # undone after the module: later tests see no SALESNLP_MODEL
    env.setenv("SALESNLP_MODEL", str(tiny_model))  # the executors' default model
    env.setenv("PYSPARK_PYTHON", sys.executable)
    session = (SparkSession.builder.master("local[2]").appName("salesnlp-tests")
               .config("spark.ui.enabled", "false").config("spark.sql.shuffle.partitions", "2")
               .config("spark.driver.bindAddress", "127.0.0.1")
               .config("spark.executorEnv.SALESNLP_MODEL", str(tiny_model))
               .getOrCreate())
    yield session
    session.stop()
    env.undo()


@pytest.fixture(scope="module")
def classifier(tiny_model):
    return Classifier.load(tiny_model)


def frame(spark, notes, partitions=2):
    rows = [(i, n) for i, n in enumerate(notes)]
    return spark.createDataFrame(rows, "id long, note string").repartition(partitions, "id")


def test_columns_types_and_equality_with_classify_many(spark, classifier, tiny_model):
    from salesnlp.spark import classify_frame

    out = classify_frame(frame(spark, NOTES), model=str(tiny_model)).orderBy("id")
    assert out.columns == ["id", "note", *ROW_COLUMNS]
    types = {f.name: f.dataType.simpleString() for f in out.schema.fields}
    assert types["language"] == "string" and types["supported"] == "boolean"
    assert types["labels"] == "array<string>"
    assert all(types[f"score_{label}"] == "double" for label in LABELS)
    assert types["evidence"] == ("array<struct<label:string,text:string,start:int,end:int,"
                                 "score:double>>")
    rows = out.collect()
    expected = classifier.classify_many(NOTES)
    for row, want in zip(rows, expected, strict=True):
        assert row["language"] == want.language and tuple(row["labels"]) == want.labels
        for label in LABELS:
            assert row[f"score_{label}"] == pytest.approx(want.scores[label], abs=1e-4)
        assert [(e["label"], e["start"], e["end"]) for e in row["evidence"]] == \
            [(e.label, e.start, e.end) for e in want.evidence]


def test_nulls_empty_strings_and_an_empty_partition(spark):
    from salesnlp.spark import classify_frame

    df = spark.createDataFrame([(1, None), (2, ""), (3, "   "), (4, NOTES[0])],
                               "id long, note string").repartition(4, "id")  # >= 1 empty
    rows = {r["id"]: r for r in classify_frame(df).collect()}
    for i in (1, 2, 3):
        assert rows[i]["language"] == "und" and rows[i]["labels"] == []
        assert all(rows[i][f"score_{label}"] == 0.0 for label in LABELS)
    assert rows[4]["language"] == "et"
    empty = spark.createDataFrame([], "id long, note string")
    assert classify_frame(empty).count() == 0


def test_a_note_with_a_lone_surrogate_does_not_fail_the_job(spark):
    from salesnlp.spark import classify_frame

    df = spark.createDataFrame([(1, "Ei öelnud \ud83d kes võitis."), (2, NOTES[1])],
                               "id long, note string")
    rows = classify_frame(df).orderBy("id").collect()
    assert len(rows) == 2 and all(not math.isnan(r[f"score_{LABELS[0]}"]) for r in rows)


def test_schema_errors_are_clear(spark):
    from salesnlp.spark import classify_frame

    df = spark.createDataFrame([(1, 2)], "id long, note long")
    with pytest.raises(ValueError, match=r"no column 'text'.*\['id', 'note'\]"):
        classify_frame(df, column="text")
    with pytest.raises(TypeError, match="column 'note' is bigint, not string"):
        classify_frame(df)
    with pytest.raises(TypeError, match="Spark DataFrame"):
        classify_frame([("a",)])


def test_existing_output_columns_are_replaced_and_the_model_can_be_distributed(
        spark, tiny_model):
    from salesnlp.spark import classify_frame, distribute_model

    df = spark.createDataFrame([(1, NOTES[0], "old")], "id long, note string, labels string")
    reference = distribute_model(spark, str(tiny_model))
    out = classify_frame(df, model=reference)
    assert out.columns == ["id", "note", *ROW_COLUMNS]
    assert isinstance(out.collect()[0]["labels"], list)


def test_importing_salesnlp_does_not_import_pyspark():
    import subprocess

    code = "import salesnlp, sys; salesnlp.classify_frame; print('pyspark' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True)
    assert done.stdout.strip() == "False"


def test_the_spark_submit_example_reads_and_writes_parquet(spark, tiny_model, tmp_path):
    import subprocess
    from pathlib import Path

    import pandas as pd

    source = tmp_path / "notes.parquet"
    pd.DataFrame({"id": range(6), "note": NOTES}).to_parquet(source)
    example = Path(__file__).resolve().parents[1] / "examples" / "spark_classify_parquet.py"
    submit = Path(sys.executable).parent / "spark-submit"
    env = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    done = subprocess.run([str(submit), "--master", "local[2]",
                           "--conf", "spark.driver.bindAddress=127.0.0.1", str(example),
                           "--input", str(source), "--output", str(tmp_path / "out"),
                           "--model", str(tiny_model)], capture_output=True, text=True,
                          env=env, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    scored = pd.read_parquet(tmp_path / "out").sort_values("id")
    assert list(scored.columns) == ["id", "note", *ROW_COLUMNS]
    assert scored["language"].tolist()[:2] == ["et", "fi"]


def test_a_worker_lets_idle_onnx_threads_sleep_unless_told(tiny_model, built_int8_cache,
                                                           monkeypatch):
    from salesnlp.integrations import spark as integration

    def spinning_entry(model: str) -> str:
        monkeypatch.setattr(integration, "_classifiers", {})
        clf = integration.worker_classifier(model, "int8", "score")
        return clf.network.session.get_session_options().get_session_config_entry(
            "session.intra_op.allow_spinning")

    monkeypatch.setenv("SALESNLP_ORT_SPINNING", "1")
    assert spinning_entry(str(tiny_model)) == "1"  # the user's setting wins
    monkeypatch.delenv("SALESNLP_ORT_SPINNING")
    assert spinning_entry(str(tiny_model)) == "0"
    assert os.environ["SALESNLP_ORT_SPINNING"] == "0"
