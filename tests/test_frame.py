"""``salesnlp.classify_frame`` on the tiny random model."""

from __future__ import annotations

import numpy as np
import pytest

from salesnlp.inference.classifier import Classifier
from salesnlp.integrations.files import OUTPUT_COLUMNS
from salesnlp.labels import LABELS

pd = pytest.importorskip("pandas")

NOTES = [
    "Ei öelnud, kes hanke võitis.",
    "Kolm kirja, kaks kõnet, vastust pole.",
    "Katsotaan syksyllä, ei päivämäärää.",
    "Am semnat contractul, livrare marți.",
]


@pytest.fixture(scope="module")
def classifier(tiny_model) -> Classifier:
    return Classifier.load(tiny_model)


def test_returns_a_new_frame_with_the_cli_columns(classifier):
    from salesnlp import classify_frame

    df = pd.DataFrame({"id": [10, 11, 12, 13], "note": NOTES}, index=list("abcd"))
    before = df.copy()
    out = classify_frame(df, model=classifier, batch_size=2)
    pd.testing.assert_frame_equal(df, before)  # input untouched
    assert list(out.columns) == ["id", "note", *OUTPUT_COLUMNS]
    assert list(out.index) == list("abcd")
    for label in LABELS:
        assert out[f"score_{label}"].dtype == np.float64
        assert out[f"score_{label}"].between(0, 1).all()
    for i, text in enumerate(NOTES):
        single = classifier.classify(text)
        row = out.iloc[i]
        assert row["labels"] == list(single.labels)
        assert row["language"] == single.language
        assert row[f"score_{LABELS[0]}"] == pytest.approx(single.scores[LABELS[0]], abs=1e-3)
        spans = [(e["label"], e["text"], e["start"], e["end"]) for e in row["evidence"]]
        assert spans == [(e.label, e.text, e.start, e.end) for e in single.evidence]


def test_missing_cells_give_neutral_rows(classifier):
    from salesnlp.integrations.pandas import classify_frame

    df = pd.DataFrame({"note": [NOTES[0], None, np.nan, "", pd.NA]}, dtype=object)
    out = classify_frame(df, model=classifier)
    for i in (1, 2, 3, 4):
        row = out.iloc[i]
        assert row["language"] == "und" and row["labels"] == [] and row["evidence"] == []
        assert all(row[f"score_{label}"] == 0.0 for label in LABELS)
    assert out.iloc[0]["language"] == "et"


def test_string_dtype_column_and_chunking_and_progress(classifier, monkeypatch, capsys):
    from salesnlp.integrations.pandas import classify_frame

    df = pd.DataFrame({"text": pd.array(NOTES * 5 + [None], dtype="string")})
    sizes = []
    real = classifier.classify_many

    def spy(texts, batch_size=32):
        sizes.append(len(texts))
        return real(texts, batch_size=batch_size)

    monkeypatch.setattr(classifier, "classify_many", spy)
    out = classify_frame(df, column="text", model=classifier, chunk_size=8, progress=True)
    assert sizes == [8, 8, 5]
    assert len(out) == 21 and out.iloc[-1]["language"] == "und"
    assert "21/21" in capsys.readouterr().err


def test_model_as_a_path(tiny_model):
    from salesnlp.integrations.pandas import classify_frame

    out = classify_frame(pd.DataFrame({"note": NOTES[:2]}), model=str(tiny_model))
    expected = Classifier.load(tiny_model).classify_many(NOTES[:2])
    for (_, row), result in zip(out.iterrows(), expected, strict=True):
        assert row["language"] == result.language and row["labels"] == list(result.labels)
        assert [row[f"score_{label}"] for label in LABELS] == pytest.approx(
            [result.scores[label] for label in LABELS], abs=5e-5)  # rows round to 4 places


def test_empty_frame(classifier):
    from salesnlp.integrations.pandas import classify_frame

    out = classify_frame(pd.DataFrame({"note": pd.Series([], dtype=object)}), model=classifier)
    assert list(out.columns) == ["note", *OUTPUT_COLUMNS] and len(out) == 0


def test_clear_errors(classifier):
    from salesnlp.integrations.pandas import classify_frame

    with pytest.raises(KeyError, match=r"no column 'note'.*\['text'\]"):
        classify_frame(pd.DataFrame({"text": NOTES}), model=classifier)
    with pytest.raises(TypeError, match="DataFrame, not list"):
        classify_frame(NOTES, model=classifier)
    with pytest.raises(TypeError, match="to_frame"):
        classify_frame(pd.Series(NOTES, name="note"), model=classifier)
    with pytest.raises(TypeError, match="row 1 of column 'note' is int"):
        classify_frame(pd.DataFrame({"note": [NOTES[0], 5]}), model=classifier)
    with pytest.raises(TypeError, match="model must be"):
        classify_frame(pd.DataFrame({"note": NOTES}), model=42)


def test_existing_output_column_is_replaced_with_a_warning(classifier):
    from salesnlp.integrations.pandas import classify_frame

    df = pd.DataFrame({"note": NOTES[:2], "language": ["xx", "yy"]})
    with pytest.warns(UserWarning, match="replaces the existing column"):
        out = classify_frame(df, model=classifier)
    assert list(out["language"]) == ["et", "et"]
    assert list(df["language"]) == ["xx", "yy"]
