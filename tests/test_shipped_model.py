"""The shipped model: loads offline, classifies each language, and its recorded test
metrics are what evaluation computes now (about a minute on 2 cores)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import salesnlp
from salesnlp.inference.model_dir import DEFAULT_MODEL_NAME

MODEL = Path(__file__).resolve().parents[1] / "models" / DEFAULT_MODEL_NAME
STUDENT_NAME = "salesnlp-e5-small-v2-student8"  # the faster model shipped next to it
pytestmark = [pytest.mark.skipif(not (MODEL / "config.json").is_file(),
                                 reason=f"{MODEL} is not built yet"),
              pytest.mark.slow]  # the shipped model runs on the real base encoder

NOTES = {
    "et": ("Küsisin, kes nende praegune koolituspartner on. Vastus: \"üks suur rahvusvaheline "
           "firma\", nime ei öelnud.", "partner_concealment"),
    "fi": ("Lähetimme pyydetyn tarjouksen kolme viikkoa sitten. Kolme sähköpostia ja kaksi "
           "soittoa, ei mitään vastausta.", "supplier_disrespect"),
    "uk": ("Третя зустріч, і знову «треба подумати», жодної дати. Директора так і не побачили.",
           "evasive_stalling"),
    "ro": ("Au ales oferta altui furnizor din cauza termenului de livrare și ne-au mulțumit "
           "pentru ofertă. Contractul cu ei se termină în mai.", None),
    "nl": ("Hij wilde niet zeggen wie de aanbesteding vorig jaar gewonnen heeft en belt "
           "sindsdien niet meer terug.", "partner_concealment"),
}


@pytest.fixture(scope="module")
def shipped():
    return salesnlp.load()


def test_shipped_models_fit_the_budget():
    size = sum(p.stat().st_size for p in MODEL.parent.rglob("*") if p.is_file())
    assert size < 50 * 1024 * 1024
    assert not list(MODEL.parent.rglob("*.bin")) and not list(MODEL.parent.rglob("*.pt"))


@pytest.mark.parametrize("lang", sorted(NOTES))
def test_classifies_each_language(shipped, lang):
    text, expected = NOTES[lang]
    result = shipped.classify(text)
    assert result.language == lang
    if expected is None:
        assert result.labels == ()
    else:
        assert expected in result.labels
        assert result.evidence_for(expected)


def test_module_level_api_uses_the_shipped_model():
    result = salesnlp.classify(NOTES["nl"][0])
    assert result.to_dict()["labels"] == list(result.labels)
    many = salesnlp.classify_many([t for t, _ in NOTES.values()])
    assert [r.language for r in many] == list(NOTES)


@pytest.mark.parametrize("name", [DEFAULT_MODEL_NAME, STUDENT_NAME])
def test_recorded_test_metrics_are_reproduced(name):
    model = MODEL.parent / name
    recorded = json.loads((model / "evaluation.json").read_text())["heldout"]
    report = salesnlp.evaluate(name, recorded["corpus"], "test", subset=recorded["subset"],
                               precision=recorded["precision"])
    assert report["overall"]["macro_f1"] == pytest.approx(recorded["overall"]["macro_f1"],
                                                          abs=0.005)
    for lang, value in recorded["per_language_macro_f1"].items():
        assert report["per_language_macro_f1"][lang] == pytest.approx(value, abs=0.01)
