"""Tests of salesnlp.langid.detector: the language detector for sellers' notes."""

from __future__ import annotations

import threading
import time

import pytest

import salesnlp
from salesnlp.langid.detector import (
    SUPPORTED_LANGUAGES,
    LanguageGuess,
    LanguageSpan,
    detect_language,
    detect_languages,
)


def lang(text: str) -> str:
    return detect_language(text).language


def test_public_api_and_supported_set():
    assert salesnlp.detect_language is detect_language
    assert salesnlp.detect_languages is detect_languages
    assert tuple(SUPPORTED_LANGUAGES) == ("et", "fi", "uk", "ro", "nl")
    g = detect_language("Kliendil pole eelarvet, helistan homme tagasi.")
    assert isinstance(g, LanguageGuess)
    assert g.to_dict() == {"language": "et", "confidence": g.confidence, "supported": True}
    assert 0.0 <= g.confidence <= 1.0
    with pytest.raises(AttributeError):
        g.language = "fi"  # frozen


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Helistan homme tagasi", "et"),
        ("Kliendil pole sel aastal eelarvet", "et"),
        ("Soitan huomenna takaisin", "fi"),
        ("Asiakkaalla ei ole budjettia tänä vuonna", "fi"),
        ("Передзвоню завтра", "uk"),
        ("Клієнт попросив знижку", "uk"),
        ("Revin mâine cu un telefon", "ro"),
        ("Clientul nu are buget anul acesta", "ro"),
        ("Ik bel morgen terug", "nl"),
        ("De klant heeft dit jaar geen budget", "nl"),
    ],
)
def test_short_texts_of_the_five(text, expected):
    g = detect_language(text)
    assert (g.language, g.supported) == (expected, True)


@pytest.mark.parametrize(
    "text, expected",
    [
        # Finnish vs Estonian
        ("Asiakas lupasi vastata ensi viikolla", "fi"),
        ("Klient lubas järgmisel nädalal vastata", "et"),
        ("Tarjous lähetetty, odotamme päätöstä", "fi"),
        ("Pakkumine saadetud, ootame otsust", "et"),
    ],
)
def test_finnish_vs_estonian(text, expected):
    assert lang(text) == expected


@pytest.mark.parametrize(
    "text, expected, supported",
    [
        ("Клієнт ще не вирішив, чекаємо відповіді до п'ятниці", "uk", True),
        ("Клиент ещё не решил, ждём ответа до пятницы", "ru", False),
        ("Кліент яшчэ не вырашыў, чакаем адказу да пятніцы", "be", False),
        ("Клиентът още не е решил, чакаме отговор до петък", "bg", False),
    ],
)
def test_ukrainian_vs_russian_belarusian_bulgarian(text, expected, supported):
    g = detect_language(text)
    assert (g.language, g.supported) == (expected, supported)


@pytest.mark.parametrize(
    "text",
    [
        "Клієнт ще думає, щас нема бюджету, канєшно передзвонить",
        "Короче, вони сказали що ладно, підпишуть договір після свят",
        "Зустріч перенесли, бо директор шо-то захворів",
    ],
)
def test_surzhyk_is_still_ukrainian(text):
    assert lang(text) == "uk"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Revin maine cu oferta, clientul vrea o reducere", "ro"),
        ("Clientul a cerut o intalnire saptamana viitoare", "ro"),
        ("Klient ootab pakkumist jargmisel nadalal", "et"),
        ("Raakisin juhatajaga, eelarve kinnitatakse oktoobris", "et"),
    ],
)
def test_without_diacritics(text, expected):
    assert lang(text) == expected


def test_romanian_cedilla_and_comma_forms_agree():
    comma = detect_language("Ședința s-a mutat, și clientul așteaptă oferta")
    cedilla = detect_language("Şedinţa s-a mutat, şi clientul aşteaptă oferta")
    assert comma.language == cedilla.language == "ro"
    assert comma.confidence == pytest.approx(cedilla.confidence)


@pytest.mark.parametrize(
    "text, expected, supported",
    [
        ("We gaan da morgen doen, 't is nog nie zeker, amai", "nl", True),  # Flemish
        ("Ge moogt hem morgen bellen, hij is er gerust mee", "nl", True),  # Flemish
        ("Ons sal jou môre bel oor die kontrak", "af", False),
        ("Wir rufen Sie morgen wegen des Vertrags an", "de", False),
        ("Wij bellen u morgen over het contract", "nl", True),
    ],
)
def test_dutch_and_flemish_vs_afrikaans_and_german(text, expected, supported):
    g = detect_language(text)
    assert (g.language, g.supported) == (expected, supported)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Follow-up: klient ootab RFP-d reedeni, deal on peaaegu valmis", "et"),
        ("Follow-up huomenna, deal on melkein valmis ja RFP tulossa", "fi"),
        ("Follow-up завтра, deal майже закритий, чекаємо RFP", "uk"),
        ("Follow-up mâine, deal-ul e aproape gata, așteptăm RFP", "ro"),
        ("Follow-up morgen, de deal is bijna rond, RFP volgt", "nl"),
    ],
)
def test_english_sales_jargon_mixed_in(text, expected):
    assert lang(text) == expected


@pytest.mark.parametrize(
    "text, expected",
    [
        ("Клиент попросил скидку и обещал ответить на следующей неделе", "ru"),
        ("Der Kunde hat um einen Rabatt gebeten und antwortet nächste Woche", "de"),
        ("Klients lūdza atlaidi un solīja atbildēt nākamnedēļ", "lv"),
        ("Klientas paprašė nuolaidos ir žadėjo atsakyti kitą savaitę", "lt"),
        ("Klient poprosił o rabat i obiecał odpowiedzieć w przyszłym tygodniu", "pl"),
        ("The customer asked for a discount and will answer next week", "en"),
        ("Kunden bad om rabatt och lovade att svara nästa vecka", "sv"),
        ("Az ügyfél kedvezményt kért, és jövő héten válaszol", "hu"),
        ("Il cliente ha chiesto uno sconto e risponderà la prossima settimana", "it"),
        ("El cliente pidió un descuento y responderá la próxima semana", "es"),
        ("Le client a demandé une remise et répondra la semaine prochaine", "fr"),
        ("O cliente pediu um desconto e responderá na próxima semana", "pt"),
        ("Zákazník požádal o slevu a odpoví příští týden", "cs"),
        ("Zákazník požiadal o zľavu a odpovie budúci týždeň", "sk"),
    ],
)
def test_open_set_languages_are_not_supported(text, expected):
    g = detect_language(text)
    assert g.supported is False
    assert g.language == expected


@pytest.mark.parametrize(
    "text",
    ["Ο πελάτης ζήτησε έκπτωση", "顧客は割引を求めました", "客户要求折扣", "العميل طلب خصما"],
)
def test_other_scripts_are_never_supported(text):
    g = detect_language(text)
    assert g.supported is False
    assert g.language != "und"


@pytest.mark.parametrize(
    "text",
    ["", "   \n\t ", "12345 678", "😀🎉👍", "https://example.com/a?b=1", "!!! ??? ...", "<br/><hr>",
     "&nbsp;&amp;", "jane.doe@example.com"],
)
def test_odd_inputs_are_und(text):
    assert detect_language(text) == LanguageGuess("und", 0.0, False)


def test_html_is_stripped():
    assert lang("<p>Klient <b>lubas</b> järgmisel nädalal vastata</p>") == "et"


@pytest.mark.parametrize("value", [None, 42, 3.5, ["tere"], {"text": "tere"}])
def test_non_str_raises_type_error(value):
    with pytest.raises(TypeError, match=type(value).__name__):
        detect_language(value)
    with pytest.raises(TypeError):
        detect_languages(value)


@pytest.mark.parametrize("value", [b"tere", bytearray(b"tere")])
def test_bytes_raise_type_error_that_says_decode(value):
    with pytest.raises(TypeError, match="decode"):
        detect_language(value)


def test_one_megabyte_is_sampled_fast():
    text = "Klient lubas järgmisel nädalal vastata ja ootab pakkumist. " * 18_000
    assert len(text) > 1_000_000
    t0 = time.perf_counter()
    g = detect_language(text)
    assert time.perf_counter() - t0 < 0.5
    assert g.language == "et"
    t0 = time.perf_counter()
    spans = detect_languages(text)
    assert time.perf_counter() - t0 < 10
    assert spans and all(s.language == "et" for s in spans[:50])


def test_deterministic_and_thread_safe():
    texts = ["Helistan homme tagasi", "Ik bel morgen terug", "Передзвоню завтра", "Suna maine"]
    expected = [detect_language(t) for t in texts]
    results: list[list[LanguageGuess]] = []

    def work():
        results.append([detect_language(t) for t in texts * 20][: len(texts)])

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert all(r == expected for r in results)
    assert [detect_language(t) for t in texts] == expected


def test_detect_languages_spans_point_at_the_text():
    text = (
        "Helistan homme tagasi, klient ootab pakkumist.  "
        "The customer wants a discount on the whole deal!\n"
        "Ik bel morgen terug over het contract. Клієнт попросив знижку до п'ятниці."
    )
    spans = detect_languages(text)
    assert [s.language for s in spans] == ["et", "en", "nl", "uk"]
    for s in spans:
        assert isinstance(s, LanguageSpan)
        assert text[s.start : s.end] == s.text
        assert s.text == s.text.strip()
        assert s.to_dict()["start"] == s.start
    assert spans[0].start == 0 and spans[-1].end == len(text)
    assert [s.supported for s in spans] == [True, False, True, True]


def test_detect_languages_empty_and_single():
    assert detect_languages("") == []
    assert detect_languages("   ") == []
    (span,) = detect_languages("  Soitan huomenna takaisin  ")
    assert (span.start, span.end, span.language) == (2, 26, "fi")


# --- the fast paths give exactly what the straightforward computation gives ------------------

_MIXED = [
    "Kliendil pole eelarvet, helistan homme tagasi.",
    "Follow-up: klient ootab RFP-d reedeni, deal on peaaegu valmis",
    "Клієнт ще не вирішив, чекаємо відповіді до п'ятниці",
    "Клиент ещё не решил, ждём ответа до пятницы",
    "Кліент яшчэ не вырашыў, чакаем адказу да пятніцы",
    "Şedinţa s-a mutat, şi clientul aşteaptă oferta de la ACME SRL",
    "KLIENT OOTAB PAKKUMIST JA RFP",
    "Asiakas Asiakas asiakas: tarjous tarjous lähetetty zzqxv qqqq",
    "don\u2019t l\u00b4eau it`s ʼok <b>Ik</b> bel &amp; www.example.com #tag @jan a@b.cc",
    "Ο πελάτης ζήτησε έκπτωση, Klient ootab",
    "x" * 3000 + " Klient ootab pakkumist " + "y" * 3000,
]


def _reference_normalise(text):
    """normalise() as first written: translate tables, unconditional regex passes."""
    import re
    import unicodedata

    from salesnlp.langid import detector as L

    text = L._NOISE.sub(" ", text)
    tokens = L._TOKEN.findall(text)
    caps = [t for t in tokens if t.isupper()]
    if caps and len(caps) * 2 <= len(tokens):
        caps_set = set(caps)
        text = re.sub(L._TOKEN, lambda m: " " if m.group() in caps_set else m.group(), text)
    text = unicodedata.normalize("NFC", text).lower()
    return text.translate(L._APOSTROPHES).translate(L._CEDILLA)


@pytest.mark.parametrize("text", _MIXED + ["", "ŞŢ şţ ’ʼ`´", "ab CD ef", "AB CD ef", "Ǆemal ǅ"])
def test_normalise_matches_reference(text):
    from salesnlp.langid.detector import normalise

    assert normalise(text) == _reference_normalise(text)


def test_per_word_sums_match_the_feature_rows(monkeypatch):
    import numpy as np

    from salesnlp.langid import detector as L

    model = L._model()
    for cold in (True, False):
        for text in _MIXED:
            if cold:
                model.sums.clear()
            wl = L.words(L.normalise(L.sample(text)))
            letters = "".join(wl)
            fast = model.posterior_words(wl, letters)
            slow = model.posterior(model.ids(wl), letters)
            assert (fast is None) == (slow is None)
            if fast is not None:
                np.testing.assert_array_equal(fast, slow)  # bit-identical
    assert model.posterior_words([], "") is None
    assert model.posterior_words(["\u0e01\u0e02"], "") is None  # no known feature
    # The cache is bounded: a small bound clears it and results do not change.
    before = [detect_language(t) for t in _MIXED]
    from salesnlp.langid import model as langid_model

    monkeypatch.setattr(langid_model, "_CACHE_SIZE", 5)
    model.sums.clear()
    most = max(len(set(L.words(L.normalise(L.sample(t))))) for t in _MIXED)
    for _ in range(2):
        assert [detect_language(t) for t in _MIXED] == before
        assert len(model.sums) <= 5 + most


def test_thread_safe_while_the_word_cache_is_cleared(monkeypatch):

    texts = _MIXED + [f"Klient {i} ootab pakkumist number{i}" for i in range(40)]
    expected = [detect_language(t) for t in texts]
    expected_spans = [detect_languages(t) for t in texts]
    from salesnlp.langid import model as langid_model

    monkeypatch.setattr(langid_model, "_CACHE_SIZE", 20)  # forces frequent clears
    errors: list[BaseException] = []

    def work():
        try:
            for _ in range(5):
                assert [detect_language(t) for t in texts] == expected
                assert [detect_languages(t) for t in texts] == expected_spans
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_detect_languages_smoothing_of_long_sampled_sentence():
    # A >1,000-character sentence with few words is sampled for the guess but its words are
    # counted in full for the smoothing rule.
    text = "Helistan homme tagasi, klient ootab pakkumist.\nOk " + "5" * 1500 + " ja.\nTere."
    spans = detect_languages(text)
    assert [text[s.start : s.end] for s in spans] == [s.text for s in spans]
    assert len(spans) == 3 and spans[0].language == "et"


def test_a_detector_over_chosen_languages():
    from salesnlp.langid import LanguageDetector

    five = LanguageDetector.from_languages("et", "fi", "uk", "ro", "nl")
    russian = "Он так и не сказал, кто выиграл тендер в прошлом году."
    assert detect_language(russian).language == "ru"
    assert five.detect(russian).language == "uk"  # the likeliest of the candidates
    values = five.confidence_values("Helistan homme tagasi, küsin hinna üle.")
    assert [lang for lang, _ in values][0] == "et"
    assert {lang for lang, _ in values} <= {"et", "fi", "uk", "ro", "nl"}
    assert sum(p for _, p in values) == pytest.approx(1.0, abs=1e-3)
    everything = LanguageDetector.from_all_languages().confidence_values(russian)
    assert everything[0][0] == "ru" and len(everything) > 5
    assert five.detect("Καλημέρα σας, τι κάνετε;").language == "und"
    spans = five.detect_spans("Helistan homme tagasi ja küsin hinna üle. "
                              "Soitan huomenna takaisin ja kysyn hinnasta.")
    assert [s.language for s in spans] == ["et", "fi"]
    with pytest.raises(ValueError, match="unknown language"):
        LanguageDetector.from_languages("et", "xx")
