"""The ``"salesnlp"`` spaCy component on the tiny random model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

from salesnlp.inference.classifier import Classifier
from salesnlp.labels import LABELS

spacy = pytest.importorskip("spacy")

TEXT = "Katsotaan syksyllä, ei päivämäärää. Kolm kirja, vastust pole.\nEi öelnud, kes võitis."


@pytest.fixture(scope="module")
def nlp(tiny_model):
    import salesnlp.integrations.spacy  # noqa: F401 - registers the factory in this process

    nlp = spacy.blank("fi")
    nlp.add_pipe("sentencizer")
    nlp.add_pipe("salesnlp", config={"model": str(tiny_model), "batch_size": 4})
    return nlp


def test_entry_point_works_in_a_fresh_process_without_importing_salesnlp(tiny_model):
    code = textwrap.dedent(f"""
        import json, sys
        import spacy
        nlp = spacy.blank("fi")
        nlp.add_pipe("sentencizer")
        nlp.add_pipe("salesnlp", config={{"model": {str(tiny_model)!r}}})
        doc = nlp({TEXT!r})
        print(json.dumps({{
            "type": type(doc._.salesnlp).__name__,
            "language": doc._.salesnlp.language,
            "sentences": [s._.salesnlp_scores for s in doc.sents],
            "pipe_names": nlp.pipe_names,
        }}))
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          env=dict(os.environ), timeout=300)
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout.strip().splitlines()[-1])
    assert data["type"] == "Classification"
    assert data["pipe_names"] == ["sentencizer", "salesnlp"]
    assert len(data["sentences"]) == 3
    assert all(set(s) == set(LABELS) for s in data["sentences"])


def test_doc_and_sentence_attributes(nlp):

    classifier: Classifier = nlp.get_pipe("salesnlp").classifier
    doc = nlp(TEXT)
    expected = classifier.classify(TEXT)
    assert doc._.salesnlp.labels == expected.labels
    assert doc._.salesnlp.language == expected.language
    assert doc._.salesnlp.scores == pytest.approx(expected.scores, abs=1e-3)
    assert doc.cats == pytest.approx(expected.scores, abs=1e-6)
    sents = list(doc.sents)
    assert [s.text.strip() for s in sents] == ["Katsotaan syksyllä, ei päivämäärää.",
                                       "Kolm kirja, vastust pole.", "Ei öelnud, kes võitis."]
    # sentence scores come from the document's own pass: each sentence read in context
    _, in_context = classifier.classify_with_spans(
        [TEXT], [[(s.start_char, s.end_char) for s in sents]])[0]
    for sent, scores in zip(sents, in_context, strict=True):
        assert set(sent._.salesnlp_scores) == set(LABELS)
        assert sent._.salesnlp_scores == pytest.approx(scores, abs=1e-6)


def test_threshold_config_decides_labels_and_nlp_evaluate_scores(tiny_model):
    from spacy.training import Example

    import salesnlp.integrations.spacy  # noqa: F401

    nlp = spacy.blank("fi")
    nlp.add_pipe("salesnlp", config={"model": str(tiny_model), "threshold": 0.0})
    doc = nlp(TEXT)
    assert doc._.salesnlp.labels == LABELS  # every score passes a threshold of 0
    high = spacy.blank("fi")
    high.add_pipe("salesnlp", config={"model": str(tiny_model),
                                      "threshold": {label: 1.01 for label in LABELS}})
    assert high(TEXT)._.salesnlp.labels == ()
    with pytest.raises(ValueError, match="unknown labels"):
        spacy.blank("fi").add_pipe("salesnlp", config={"model": str(tiny_model),
                                                       "threshold": {"rude": 0.3}})
    gold = {LABELS[0]: 1.0, LABELS[1]: 0.0, LABELS[2]: 1.0}
    examples = [Example.from_dict(nlp.make_doc(TEXT), {"cats": gold})]
    scores = nlp.evaluate(examples)
    per_type = scores["cats_f_per_type"]
    assert set(per_type) == set(LABELS)
    # threshold 0: everything predicted, so precision 1 where gold is 1 and 0 elsewhere
    assert per_type[LABELS[0]]["f"] == 1.0 and per_type[LABELS[1]]["f"] == 0.0
    assert scores["cats_macro_f"] == pytest.approx(2 / 3)


def test_without_sentences_only_the_doc_is_classified(tiny_model):
    import salesnlp.integrations.spacy  # noqa: F401

    nlp = spacy.blank("et")
    nlp.add_pipe("salesnlp", config={"model": str(tiny_model)})
    text = "Ei öelnud, kes hanke võitis."
    doc = nlp(text)
    expected = Classifier.load(tiny_model).classify(text)
    assert doc._.salesnlp.language == expected.language == "et"
    assert doc.cats == pytest.approx(expected.scores, abs=1e-6)
    assert doc._.salesnlp.labels == expected.labels
    assert doc[0:2]._.salesnlp_scores is None


def test_pipe_batches_through_classify_many(nlp, monkeypatch):
    component = nlp.get_pipe("salesnlp")
    calls = []
    real = component.classifier.classify_with_spans

    def spy(texts, spans, batch_size=32):
        calls.append(len(texts))
        return real(texts, spans, batch_size=batch_size)

    monkeypatch.setattr(component.classifier, "classify_with_spans", spy)
    texts = ["Ei öelnud. Kolm kirja.", "Katsotaan.", "", "Vedem după vară."] * 3
    docs = list(nlp.pipe(texts, batch_size=4))
    assert [d.text for d in docs] == texts
    # 3 batches of 4 docs: one pass each, sentences scored in the same pass
    assert calls == [4, 4, 4]
    assert docs[2]._.salesnlp.labels == () and docs[2]._.salesnlp.language == "und"


def test_results_survive_serialization(nlp):
    from spacy.tokens import Doc, DocBin

    doc = nlp(TEXT)
    again = Doc(nlp.vocab).from_bytes(doc.to_bytes())
    assert again._.salesnlp == doc._.salesnlp
    assert [s._.salesnlp_scores for s in again.sents] == [s._.salesnlp_scores
                                                           for s in doc.sents]
    box = DocBin(store_user_data=True, docs=[doc])
    (restored,) = DocBin().from_bytes(box.to_bytes()).get_docs(nlp.vocab)
    assert restored._.salesnlp.evidence == doc._.salesnlp.evidence


def test_extensions_are_declared_once_and_redeclaring_is_safe(nlp, tiny_model):
    from spacy.tokens import Doc

    from salesnlp.integrations.spacy import declare_extensions

    getter = Doc.get_extension("salesnlp")
    declare_extensions()
    assert Doc.get_extension("salesnlp") == getter
    second = spacy.blank("nl")
    second.add_pipe("salesnlp", config={"model": str(tiny_model)})
    assert second.get_pipe("salesnlp").classifier is nlp.get_pipe("salesnlp").classifier
    assert second("Wilde niet zeggen wie.")._.salesnlp is not None


def test_config_is_validated(tiny_model):
    import salesnlp.integrations.spacy  # noqa: F401

    nlp = spacy.blank("ro")
    with pytest.raises(Exception, match="batch_size"):
        nlp.add_pipe("salesnlp", config={"model": str(tiny_model), "batch_size": "many"})
    with pytest.raises(ValueError, match="batch_size must be a positive int"):
        nlp.add_pipe("salesnlp", config={"model": str(tiny_model), "batch_size": 0})
