"""Training notes seen without quotation marks (salesnlp.training.augment)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from salesnlp.corpus.notes import Note
from salesnlp.training.augment import QUOTES, blank_quotes, without_quotes
from salesnlp.training.config import TrainingConfig


@pytest.mark.parametrize(("text", "expected"), [
    ("Third meeting, still 'we need to think about it', no date.",
     "Third meeting, still  we need to think about it , no date."),
    ('Vastus: "see pole teie asi".', "Vastus:  see pole teie asi ."),
    ("Сказав «подумаємо», п'ять разів.", "Сказав  подумаємо , п'ять разів."),
    ("Hij zei „misschien” en z'n baas don't know.",
     "Hij zei  misschien  en z'n baas don't know."),
])
def test_quotes_at_word_boundaries_are_blanked_and_apostrophes_in_words_kept(text, expected):
    assert blank_quotes(text) == expected


def test_html_tags_keep_their_attribute_quotes():
    html = '<p class="note">Він сказав: "подумаємо".</p>'
    assert blank_quotes(html) == '<p class="note">Він сказав:  подумаємо .</p>'


@given(st.text(alphabet=st.sampled_from(list(QUOTES) + list("ab .,<>p/=\n'")), max_size=60)
       | st.text(max_size=60))
def test_blanking_keeps_length_and_only_turns_quotes_into_spaces(text):
    out = blank_quotes(text)
    assert len(out) == len(text)
    assert all(a == b or (a in QUOTES and b == " ") for a, b in zip(text, out, strict=True))


def test_a_stable_share_of_notes_is_chosen_and_evidence_offsets_stay_valid():
    text = 'Küsisin, kes hanke võitis. Vastus: "see pole teie asi".'
    start = text.index("Vastus")
    notes = [Note(f"n{i}", "et", text, ("partner_concealment",),
                  extra={"evidence": [{"label": "partner_concealment", "start": start,
                                       "end": len(text)}]}) for i in range(2000)]
    changed = [n for n in without_quotes(notes, 0.5, seed=13) if n.text != text]
    assert 900 < len(changed) < 1100
    assert [n.id for n in changed] == [n.id for n in without_quotes(notes, 0.5, seed=13)
                                       if n.text != text]
    assert {n.id for n in changed} != {n.id for n in without_quotes(notes, 0.5, seed=14)
                                       if n.text != text}
    assert changed[0].text[start:].startswith("Vastus:  see pole")
    assert without_quotes(notes, 0.0, seed=13) == notes


def test_the_share_is_checked():
    with pytest.raises(ValueError, match="quote_dropout"):
        TrainingConfig(quote_dropout=1.5)
    with pytest.raises(ValueError, match="quote_dropout"):
        without_quotes([], -0.1, seed=1)
