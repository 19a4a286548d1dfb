"""Document preparation: e-mail parts, signatures, disclaimers, HTML quotes, offsets."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from salesnlp.prepare.document import prepare_document
from salesnlp.prepare.email import BODY, DISCLAIMER, HEADER, QUOTED, SIGNATURE, segment_email

REPLY = """Tere Marko,

praegusest partnerist ma rääkida ei saa, see jääb meie vahele.

Lugupidamisega
Olga Ivanova
Ostujuht | Narva Metall AS
+372 5555 1234

This e-mail and any attachments are confidential and intended solely for the addressee.
If you have received it in error, please notify the sender and delete it.

Saatja: Marko Sepp <marko@trackon.ee>
Saadetud: 12. märts 2025 10:14
Adressaat: Olga Ivanova <olga@metall.ee>
Teema: Pakkumine

Tere, Olga! Kellega te praegu tahhograafide andmete alal koostööd teete?
Marko
"""


def kinds_of(text: str, quote_starts=()) -> dict[str, str]:
    return {s.kind: text[s.start:s.end] for s in segment_email(text, quote_starts)}


def test_a_reply_is_cut_into_its_parts():
    parts = {}
    for s in segment_email(REPLY):
        parts.setdefault(s.kind, "")
        parts[s.kind] += REPLY[s.start:s.end]
    assert "partnerist ma rääkida ei saa" in parts[BODY]
    assert "Lugupidamisega" in parts[SIGNATURE] and "+372" in parts[SIGNATURE]
    assert "intended solely for the addressee" in parts[DISCLAIMER]
    assert "Saatja:" in parts[HEADER] and "Teema:" in parts[HEADER]
    assert "Kellega te praegu" in parts[QUOTED]
    assert "Kellega" not in parts[BODY] and "Lugupidamisega" not in parts[BODY]


@pytest.mark.parametrize("header", [
    "-----Original Message-----\nFrom: A\nSent: Monday\nTo: B\nSubject: x",
    "-----Oorspronkelijk bericht-----",
    "Van: Jan de Vries <jan@x.nl>\nVerzonden: dinsdag 12 maart 2025 10:14\nAan: Piet",
    "Lähettäjä: Matti <m@x.fi>\nLähetetty: tiistai\nVastaanottaja: Pia\nAihe: tarjous",
    "Від: Олена <o@x.ua>\nНадіслано: вівторок\nКому: Андрій\nТема: КП",
    "От: Олег <o@x.ru>\nОтправлено: вторник\nКому: Андрей\nТема: КП",
    "De la: Ion Popescu <ion@x.ro>\nTrimis: marți\nCătre: Ana\nSubiect: ofertă",
    "On Tue, 12 Mar 2025 at 10:14, Jan de Vries <jan@x.nl> wrote:",
    "Op di 12 mrt 2025 om 10:14 schreef Jan de Vries <jan@x.nl>:",
    "ti 12.3.2025 klo 10.14 Matti Virtanen <matti@x.fi> kirjoitti:",
    "K, 12. märts 2025 kell 10:14 kirjutas Mari Tamm <mari@x.ee>:",
    "вт, 12 бер. 2025 р. о 10:14 Олена Коваль <o@x.ua> пише:",
    "În mar., 12 mar. 2025 la 10:14, Ion Popescu <ion@x.ro> a scris:",
    "> Hei, onko tarjous tullut perille?\n> Jere",
])
def test_reply_headers_in_many_languages_start_the_history(header):
    newest = "Vastaus: emme kerro nykyistä toimittajaa, se on meidän asiamme.\n\n"
    text = newest + header + "\n\nEarlier message text that is not the newest one here.\n"
    body = "".join(text[s.start:s.end] for s in segment_email(text) if s.kind == BODY)
    assert body.strip() == newest.strip()


@pytest.mark.parametrize("note", [
    "Status: Proposal\nNext step: call 12.03\nComment: won't say who supplies them now",
    "Soitto. Ei päättäjä. Palaa asiaan??",
    "Kohtumine 12.03.\n- osalesid: Kadri, Mart\n- teema: hind\nKiitos kõigile!",
    "From the meeting: they asked for 40% off and 120-day terms.\nTo do: discuss internally.",
    "Hind on konfidentsiaalne, aga nad ostavad Smurfit Kappast. Leping kehtib 2025 lõpuni.",
])
def test_notes_without_mail_structure_are_all_body(note):
    assert [s.kind for s in segment_email(note)] == [BODY]
    assert prepare_document(note).text == note


def test_an_appended_english_disclaimer_is_not_read():
    note = ("Asiakas sanoi taas, että katsotaan syksyllä, eikä antanut mitään päivämäärää.\n\n"
            "This message may contain confidential information and is intended solely for the "
            "addressee. If you are not the intended recipient, please notify the sender and "
            "delete it. Any unauthorised use or disclosure is prohibited.")
    document = prepare_document(note)
    assert "confidential" not in document.text and "katsotaan syksyllä" in document.text


def test_a_forward_reads_the_first_quoted_message_as_newest():
    text = ("FYI, see below.\n\n-----Original Message-----\nFrom: Buyer\nSent: Monday\n"
            "To: Seller\nSubject: RE: offer\n\nWe will not tell you who won the tender, and "
            "please stop calling us about it.\n\n-----Original Message-----\nFrom: Seller\n"
            "Sent: Friday\nTo: Buyer\n\nWho won the tender?\n")
    body = "".join(text[s.start:s.end] for s in segment_email(text) if s.kind == BODY)
    assert "We will not tell you who won" in body and "Who won the tender?" not in body


def test_html_quote_blocks_and_offsets_into_the_original():
    html = ('<html><body><div><p>Goh, moeilijk te zeggen. We zijn er nog niet uit.</p>'
            '<p>Mvg,<br>Filip</p></div>'
            '<div style="border:none;border-top:solid #E1E1E1 1.0pt"><p><b>Van:</b> Joris'
            '<br><b>Verzonden:</b> vrijdag</p></div><p>Dag Filip, is er meer duidelijkheid?'
            '</p></body></html>')
    document = prepare_document(html)
    body = document.body_text
    assert "moeilijk te zeggen" in body and "duidelijkheid" not in body
    assert "Mvg" not in body and "Verzonden" not in document.text
    start = document.text.index("moeilijk")
    a, b = document.span_in_original(start, start + len("moeilijk te zeggen"))
    assert html[a:b] == "moeilijk te zeggen"


@given(st.text(max_size=400))
def test_segments_cover_any_text_once_and_in_order(text):
    segments = segment_email(text)
    assert segments[0].start == 0 and segments[-1].end == len(text)
    for before, after in zip(segments, segments[1:], strict=False):
        assert before.end == after.start and before.kind != after.kind
    document = prepare_document(text)
    assert len(document.index) == len(document.text)
    assert all(0 <= i < len(text) for i in document.index)
    for a, b in document.body:
        assert 0 <= a <= b <= len(document.text)


def test_the_classifier_reads_documents_unless_told_not_to(tiny_model):
    from salesnlp.inference.classifier import Classifier

    as_trained = Classifier.load(tiny_model, precision="fp32")
    whole = Classifier.load(tiny_model, precision="fp32", structure=False)
    assert as_trained.reads_structure and not whole.reads_structure
    read = as_trained._prepare([REPLY])[0].document
    assert "confidential" not in read.body_text and "partnerist" in read.body_text
    assert "confidential" in whole._prepare([REPLY])[0].document.body_text
    for result in (as_trained.classify(REPLY), whole.classify(REPLY)):
        assert all(REPLY[e.start:e.end] == e.text for e in result.evidence)
