"""The n-gram component's plain-Python TF-IDF equals scikit-learn's."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import heavy_modules_imported_by
from hypothesis import given
from hypothesis import strategies as st
from sklearn.feature_extraction.text import TfidfVectorizer

from salesnlp.inference.ngram import (
    VECTORIZER_PARAMS,
    CharNgramFeatures,
    CharNgramModel,
    _GramIndex,
)
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
    out = np.zeros((len(texts), len(features)))
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


class _WeakHashIndex(_GramIndex):
    hash = staticmethod(len)  # every n-gram of a length shares one hash


_grams = st.text(alphabet="ab öй", min_size=1, max_size=5)


@given(vocabulary=st.lists(_grams, unique=True, max_size=40),
       probes=st.lists(_grams, max_size=30))
@pytest.mark.parametrize("index_class", [_GramIndex, _WeakHashIndex])
def test_gram_index_finds_exactly_the_vocabulary_ids(index_class, vocabulary, probes):
    index = index_class(vocabulary)
    expected = {gram: i for i, gram in enumerate(vocabulary)}
    queries = probes + vocabulary[::-1]
    assert index.ids(queries).tolist() == [expected.get(g, -1) for g in queries]
    assert index.grams() == vocabulary


def test_rows_stay_exact_from_many_threads_while_the_word_cache_starts_over():
    from concurrent.futures import ThreadPoolExecutor

    y = np.array([[i % 2, (i // 2) % 2, int(i > 5)] for i in range(len(TRAIN))])
    features = fit_char_ngrams(TRAIN, y).features
    texts = (TRAIN + PROBES) * 30
    expected = _dense(features, TRAIN + PROBES)
    features.cache_words = 5  # far fewer than the texts' words: the cache is cleared often
    with ThreadPoolExecutor(max_workers=8) as pool:
        rows = list(pool.map(features.row, texts))
    got = np.zeros((len(texts), expected.shape[1]))
    for i, (ids, values) in enumerate(rows):
        got[i, ids] = values
    np.testing.assert_allclose(got, np.tile(expected, (30, 1)), atol=1e-12)
    features._word_ids.clear()
    for text in texts:  # one thread: the cache never outgrows its size and one text's words
        features.row(text)
        assert len(features._word_ids) <= 5 + len(features._words(text))
