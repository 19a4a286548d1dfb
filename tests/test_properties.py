"""Property-based tests (hypothesis): whatever the text or file, only documented errors.

Invariants: no exception but the documented ones (``TypeError`` for non-text,
``BatchUsageError`` for files that cannot work); evidence offsets inside the text and
``text[start:end] == evidence.text``; scores in [0, 1] and labels exactly those at or
above their thresholds; a note's result the same alone and in a batch.

CI runs a bounded number of examples (profile ``ci``); ``make fuzz`` runs the long
profile (``HYPOTHESIS_PROFILE=long``, see the README for its count).
"""

from __future__ import annotations

import csv
import io
import json
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from salesnlp.inference.classifier import Classifier
from salesnlp.integrations.files import BatchUsageError, classify_stream
from salesnlp.labels import LABELS, SUPPORTED_LANGUAGES

# Characters that break naive text handling: lone surrogates, controls, NUL, combining
# marks, right-to-left text and marks, zero-width and bidi controls, BOM, U+FFFD, line
# and paragraph separators, emoji with modifiers, fullwidth forms, markup.
TRICKY = ["\ud800", "\udfff", "\ud83d", "\x00", "\x01", "\x1b", "\x7f", "\x85", "\u0301",
          "\u0308", "\u05d0", "\u0627", "\u200f", "\u202e", "\u2066", "\u200b", "\u200d",
          "\ufeff", "\ufffd", "\u2028", "\u2029", "\r", "\n", "\t", "👍🏽", "🇪🇪", "Ａ", "ß",
          "İ", "ǅ", "<", ">", "&amp;", "&#0;", "&#xD800;", "<p>", "</div>", "<!--", "\\"]
NOTE_WORDS = ["Ei", "öelnud,", "kes", "hanke", "võitis.", "Katsotaan", "syksyllä.",
              "Не", "сказав,", "хто", "виграв.", "Vedem", "după", "vară.", "Wilde", "niet",
              "zeggen.", "Он", "не", "ответил.", "He", "would", "not", "say."]

pieces = st.one_of(st.characters(), st.sampled_from(TRICKY),
                   st.integers(0xD800, 0xDFFF).map(chr))
texts = st.one_of(
    st.lists(pieces, max_size=200).map("".join),
    st.lists(st.one_of(st.sampled_from(NOTE_WORDS), st.lists(pieces, max_size=5).map("".join)),
             max_size=40).map(" ".join),
    st.tuples(st.sampled_from(["a", " ", "🙂", "ж", "\u0301", ".", "\n"]),
              st.integers(1000, 20_000)).map(lambda pair: pair[0] * pair[1]),
)
PROPERTY = settings(suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


@pytest.fixture(scope="module")
def classifier(tiny_model) -> Classifier:
    return Classifier.load(tiny_model)


def check_result(result, text: str, thresholds: dict) -> None:
    assert result.text == text
    assert set(result.scores) == set(LABELS)
    assert all(0.0 <= v <= 1.0 and not math.isnan(v) for v in result.scores.values())
    assert result.labels == tuple(lb for lb in LABELS if result.scores[lb] >= thresholds[lb])
    assert result.supported == (result.language in SUPPORTED_LANGUAGES)
    for e in result.evidence:
        assert 0 <= e.start <= e.end <= len(text)
        assert text[e.start:e.end] == e.text
        assert e.label in result.labels and 0.0 <= e.score <= 1.0
    json.dumps(result.to_dict())  # JSON-ready


@PROPERTY
@given(text=texts)
def test_classify_any_text(classifier, text):
    check_result(classifier.classify(text), text, classifier.thresholds)


@PROPERTY
@given(batch=st.lists(texts, min_size=1, max_size=6))
def test_a_note_scores_the_same_alone_and_in_a_batch(classifier, batch):
    together = classifier.classify_many(batch, batch_size=4)
    for text, result in zip(batch, together, strict=True):
        alone = classifier.classify(text)
        check_result(result, text, classifier.thresholds)
        assert result.language == alone.language
        for label in LABELS:
            assert result.scores[label] == pytest.approx(alone.scores[label], abs=1e-4)


@PROPERTY
@given(item=st.one_of(st.none(), st.integers(), st.binary(max_size=5), st.floats(),
                      st.lists(st.text(max_size=3), max_size=2)))
def test_anything_but_text_is_a_type_error(classifier, item):
    with pytest.raises(TypeError, match="position 1"):
        classifier.classify_many(["ok", item])


@PROPERTY
@given(text=texts)
def test_detect_language_any_text(text):
    from salesnlp import detect_language, detect_languages

    guess = detect_language(text)
    assert 0.0 <= guess.confidence <= 1.0
    assert guess.supported == (guess.language in SUPPORTED_LANGUAGES)
    end = 0
    for span in detect_languages(text):
        assert end <= span.start < span.end <= len(text)
        assert text[span.start:span.end] == span.text
        assert 0.0 <= span.confidence <= 1.0
        end = span.end


@PROPERTY
@given(cells=st.lists(st.one_of(texts, st.none(), st.just(float("nan"))), min_size=1,
                      max_size=5))
def test_classify_frame_any_cells(classifier, cells):
    import pandas as pd

    from salesnlp import classify_frame

    index = [f"k{i}" for i in range(len(cells))]
    frame = pd.DataFrame({"note": pd.Series(cells, dtype=object, index=index)})
    scored = classify_frame(frame, model=classifier)
    assert list(scored.index) == list(frame.index)
    expected = classifier.classify_many([c if isinstance(c, str) else "" for c in cells])
    for (_, row), want in zip(scored.iterrows(), expected, strict=True):
        assert row["language"] == want.language and list(row["labels"]) == list(want.labels)
        assert row[f"score_{LABELS[0]}"] == pytest.approx(want.scores[LABELS[0]], abs=1e-3)


# -- the CLI's readers ----------------------------------------------------------------------

def run(classifier, data: bytes, tmp_path, fmt: str, out_fmt: str, **options):
    source = tmp_path / f"in.{fmt}"
    source.write_bytes(data)
    out = tmp_path / f"out.{out_fmt}"
    err = io.StringIO()
    try:
        stats = classify_stream(lambda: classifier, input_path=source, output_path=out,
                                stderr=err, text_column="note", **options)
    except BatchUsageError:
        return None, None
    return stats, out.read_bytes()


@PROPERTY
@given(data=st.one_of(st.binary(max_size=400),
                      st.lists(st.sampled_from([b'{"note": "x"}', b"\xff\xfe", b"\x00",
                                                b"note,id", b'"', b"\r", b"\n", b";", b"\t",
                                                b"\xef\xbb\xbf", b'{"note": "\\ud83d"}',
                                                "Ei öelnud".encode()]),
                               max_size=30).map(b"".join)),
       fmt=st.sampled_from(["csv", "jsonl", "txt"]), out_fmt=st.sampled_from(["csv", "jsonl"]))
def test_any_bytes_as_input_file(classifier, tmp_path_factory, data, fmt, out_fmt):
    stats, output = run(classifier, data, tmp_path_factory.mktemp("b"), fmt, out_fmt)
    if stats is None:
        return  # a documented usage error (no header, UTF-16 without a BOM, ...)
    text = output.decode("utf-8")  # always valid UTF-8
    if out_fmt == "jsonl":
        rows = [json.loads(line) for line in text.splitlines()]
        assert len(rows) == stats.classified
    else:
        rows = list(csv.reader(io.StringIO(text, newline="")))
        assert len(rows) == stats.classified + (1 if rows else 0)


@PROPERTY
@given(notes=st.lists(st.text(st.characters(exclude_characters="\x00"), min_size=1,
                              max_size=60), min_size=1, max_size=8),
       delimiter=st.sampled_from([",", ";", "\t", "|"]),
       quoting=st.sampled_from([csv.QUOTE_MINIMAL, csv.QUOTE_ALL, csv.QUOTE_NONNUMERIC]),
       terminator=st.sampled_from(["\n", "\r\n"]),
       encoding=st.sampled_from(["utf-8", "utf-8-sig", "utf-16"]))
def test_any_csv_dialect_reads_back_its_notes(classifier, tmp_path_factory, notes, delimiter,
                                               quoting, terminator, encoding):
    assume(not any(any("\ud800" <= c <= "\udfff" for c in n) for n in notes))
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, delimiter=delimiter, quoting=quoting, lineterminator=terminator)
    writer.writerow(["id", "note"])
    writer.writerows([[str(i), note] for i, note in enumerate(notes)])
    stats, output = run(classifier, buffer.getvalue().encode(encoding),
                        tmp_path_factory.mktemp("d"), "csv", "jsonl")
    assert stats is not None
    kept = [n for n in notes if n.strip()]
    rows = [json.loads(line) for line in output.decode("utf-8").splitlines()]
    assert [r["note"] for r in rows] == kept
    assert stats.skipped == len(notes) - len(kept)


def test_scores_are_finite_for_a_very_long_note(classifier):
    text = ("Ei öelnud, kes hanke võitis. " * 4000)[:100_000]
    result = classifier.classify(text)
    assert np.isfinite(list(result.scores.values())).all()
