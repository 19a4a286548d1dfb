"""The n-gram component's plain-Python TF-IDF equals scikit-learn's."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import heavy_modules_imported_by
from sklearn.feature_extraction.text import TfidfVectorizer

from salesnlp.inference.ngram import VECTORIZER_PARAMS, CharNgramFeatures, CharNgramModel
from salesnlp.training.ngram import fit_char_ngrams

TRAIN = ["Ei öelnud, kes hanke võitis.", "Katsotaan syksyllä uudestaan.",
         "Не сказав, хто виграв тендер.", "Vedem după vară, nu știu.",
         "Ze reageren niet meer op mails.", "Meeting went fine, next call Monday.",
         "Ei öelnud midagi.", "Katsotaan ensi vuonna.", "Vedem după Crăciun."]
PROBES = ["", "   ", "a", "Ei  öelnud\t\tmidagi\n", "KATSOTAAN Syksyllä!", "🙂 ok 🙂",
          "nu știu nu știu nu știu", "x" * 300, "Не сказав.  Хто?", "<b>html</b> &amp;"]


def _sklearn(vocabulary, idf):
    params = dict(VECTORIZER_PARAMS, ngram_range=tuple(VECTORIZER_PARAMS["ngram_range"]),
                  vocabulary={g: i for i, g in enumerate(vocabulary)}, min_df=1,
                  max_features=None)
    vectorizer = TfidfVectorizer(**params)
    vectorizer.idf_ = np.asarray(idf, dtype=np.float64)
    return vectorizer


def _dense(features: CharNgramFeatures, texts):
    out = np.zeros((len(texts), len(features.vocabulary)))
    for i, text in enumerate(texts):
        ids, values = features.row(text)
        out[i, ids] = values
    return out


def test_ngrams_match_scikit_learn_analyzer():
    analyzer = TfidfVectorizer(analyzer="char_wb", ngram_range=(1, 5)).build_analyzer()
    features = CharNgramFeatures([], np.zeros(0))
    for text in TRAIN + PROBES:
        assert features.ngrams(text) == analyzer(text)


def test_rows_match_scikit_learn_transform():
    y = np.array([[i % 2, (i // 2) % 2, int(i > 5)] for i in range(len(TRAIN))])
    model = fit_char_ngrams(TRAIN, y)
    reference = _sklearn(model.features.vocabulary, model.features.idf)
    expected = reference.transform(TRAIN + PROBES).toarray()
    np.testing.assert_allclose(_dense(model.features, TRAIN + PROBES), expected, atol=1e-12)


def test_shipped_model_logits_match_scikit_learn():
    import json

    from safetensors.numpy import load_file

    from salesnlp.inference.model_dir import default_model_path

    model_dir = default_model_path()
    facts = json.loads((model_dir / "ngram.json").read_text(encoding="utf-8"))
    arrays = load_file(str(model_dir / "model.safetensors"))
    model = CharNgramModel.from_state(facts, arrays)
    texts = TRAIN + PROBES
    x = _sklearn(facts["vocabulary"], arrays["ngram.idf"]).transform(texts)
    expected = np.asarray(x @ model.coef.T) + model.intercept
    np.testing.assert_allclose(model.logits(texts), expected, rtol=1e-5, atol=1e-5)


def test_unsupported_settings_are_refused():
    facts = {"params": dict(VECTORIZER_PARAMS, analyzer="word"), "vocabulary": ["a"]}
    arrays = {"ngram.idf": np.ones(1), "ngram.coef": np.ones((3, 1)),
              "ngram.intercept": np.zeros(3), "ngram.platt_slope": np.ones(3),
              "ngram.platt_offset": np.zeros(3)}
    with pytest.raises(ValueError, match="unsupported"):
        CharNgramModel.from_state(facts, arrays)


def test_predicting_does_not_import_scikit_learn():
    code = ("import numpy as np; from salesnlp.inference.ngram import CharNgramFeatures; "
            "CharNgramFeatures(['a', ' a '], np.ones(2)).row('a b')")
    assert "sklearn" not in heavy_modules_imported_by(code)
