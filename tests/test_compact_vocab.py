"""The compact vocabulary: a Unigram tokenizer restricted to the pieces reference text uses.

Unit tests run on a tiny synthetic Unigram tokenizer whose special tokens sit between ordinary
pieces, so every id is really renumbered; two tests use the real base tokenizer and the shipped
keep-list.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors

from salesnlp.encoder.compact_vocab import (
    always_kept,
    compact_base_tokenizer,
    compact_tokenizer,
    load_keep_list,
    pieces_used,
    tokenizer_sha256,
)

# Specials are interleaved with pieces that get dropped, so their ids shift.
VOCAB = [
    ("▁zzz", -9.0), ("<s>", 0.0), ("▁qq", -9.5), ("<pad>", 0.0), ("</s>", 0.0),
    ("▁xy", -8.0), ("<unk>", 0.0), ("▁", -2.0), ("a", -3.0), ("b", -3.0), ("c", -3.0),
    ("d", -3.5), ("z", -6.0), ("▁a", -2.5), ("▁b", -2.5), ("ab", -2.0), ("bc", -2.2),
    ("cd", -2.4), ("▁ab", -1.5), ("▁abc", -1.0), ("▁cd", -1.8), ("▁abcd", -1.2),
    ("bcd", -1.9), ("▁dab", -1.1), ("<mask>", 0.0),
]
SPECIALS = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")


def tiny_json(post: str = "template") -> dict:
    tok = Tokenizer(models.Unigram(VOCAB, unk_id=6, byte_fallback=False))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tok.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    if post == "template":
        tok.post_processor = processors.TemplateProcessing(
            single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>",
            special_tokens=[("<s>", 1), ("</s>", 4)])
    else:
        tok.post_processor = processors.RobertaProcessing(("</s>", 4), ("<s>", 1))
    tok.add_special_tokens(list(SPECIALS))
    return json.loads(tok.to_str())


def load(d: dict) -> Tokenizer:
    return Tokenizer.from_str(json.dumps(d))


def old_ids_of(tok: Tokenizer, old_ids: np.ndarray, text: str, **kw) -> list[int]:
    return old_ids[tok.encode(text, **kw).ids].tolist()


@pytest.mark.parametrize("post", ["template", "roberta"])
def test_special_ids_are_kept_and_remapped(post):
    d = tiny_json(post)
    new, old_ids = compact_tokenizer(d, [])
    tok = load(new)
    assert old_ids.dtype == np.int32
    assert list(old_ids) == sorted(old_ids)
    for piece in SPECIALS:
        new_id = tok.token_to_id(piece)
        assert new_id is not None and VOCAB[old_ids[new_id]][0] == piece
    assert {t["content"]: t["id"] for t in new["added_tokens"]} == {
        p: tok.token_to_id(p) for p in SPECIALS}
    # "▁zzz" dropped; "▁qq" kept (lowest score)
    assert (tok.token_to_id("<s>"), tok.token_to_id("<pad>")) == (0, 2)
    assert tok.token_to_id("<mask>") == len(old_ids) - 1
    enc = tok.encode("ab")
    assert enc.tokens[0] == "<s>" and enc.tokens[-1] == "</s>"
    assert [enc.ids[0], enc.ids[-1]] == [tok.token_to_id("<s>"), tok.token_to_id("</s>")]
    pair = tok.encode("ab", "cd")
    assert pair.tokens.count("</s>") == 3


def test_unk_id_is_remapped():
    d = tiny_json()
    new, old_ids = compact_tokenizer(d, [])
    assert new["model"]["unk_id"] == 4  # "<unk>" was 6; "▁zzz" and "▁xy" dropped before it
    assert VOCAB[old_ids[new["model"]["unk_id"]]][0] == "<unk>"
    full, tok = load(d), load(new)
    text = "a Ω b"  # Ω is in neither vocabulary
    assert old_ids_of(tok, old_ids, text) == full.encode(text).ids
    assert new["model"]["unk_id"] in tok.encode(text).ids


def test_reference_texts_keep_their_segmentation():
    d = tiny_json()
    full = load(d)
    reference = ["abcd dab", "ab cd", "bcd"]
    used = pieces_used(full, reference)
    assert used == {i for t in reference for i in full.encode(t, add_special_tokens=False).ids}
    new, old_ids = compact_tokenizer(d, sorted(used))
    assert len(old_ids) < len(VOCAB)
    tok = load(new)
    for text in reference:
        assert old_ids_of(tok, old_ids, text) == full.encode(text).ids
    # pieces never chosen in a best segmentation are gone
    assert tok.token_to_id("▁abc") is None and tok.token_to_id("▁zzz") is None


def test_unseen_text_falls_back_to_smaller_pieces_not_unk():
    d = tiny_json()
    full = load(d)
    new, old_ids = compact_tokenizer(d, sorted(pieces_used(full, ["dab"])))
    tok = load(new)
    assert full.encode("abcd", add_special_tokens=False).tokens == ["▁abcd"]
    fallback = tok.encode("abcd", add_special_tokens=False).tokens
    assert fallback != ["▁abcd"] and "".join(fallback) == "▁abcd"
    assert new["model"]["unk_id"] not in tok.encode("abcd").ids
    # characters (and "▁" + character) are always kept, so every known character still maps
    for piece in ("▁", "a", "b", "c", "d", "z", "▁a", "▁b"):
        assert tok.token_to_id(piece) is not None
    assert new["model"]["unk_id"] not in tok.encode("zz dz").ids


def test_always_kept_and_bad_input():
    d = tiny_json()
    keep = {VOCAB[i][0] for i in always_kept(d)}
    assert keep >= set(SPECIALS) | {"▁", "a", "z", "▁a", "▁b"}
    assert "▁qq" in keep  # the lowest score: the Unigram model's <unk> penalty derives from it
    assert not keep & {"▁zzz", "▁abc", "ab"}
    with pytest.raises(ValueError, match="out of range"):
        compact_tokenizer(d, [len(VOCAB)])
    with pytest.raises(ValueError, match="Unigram"):
        compact_tokenizer({"model": {"type": "BPE"}}, [])
    before = json.dumps(d)
    compact_tokenizer(d, [0, 5])
    assert json.dumps(d) == before  # the input is not modified


def test_pieces_used_lifts_truncation_and_restores_it():
    full = load(tiny_json())
    full.enable_truncation(max_length=2)
    used = pieces_used(full, ["ab cd dab bcd"], chunk_size=1)
    assert {full.id_to_token(i) for i in used} == {"▁ab", "▁cd", "▁dab", "▁", "bcd"}
    assert full.truncation["max_length"] == 2


# --- the real base tokenizer and the shipped keep-list --------------------------------------

@pytest.fixture(scope="module")
def shipped(base_dir):
    path = base_dir / "tokenizer.json"
    spec = load_keep_list()
    if spec["base_tokenizer_sha256"] != tokenizer_sha256(path):
        pytest.fail("the shipped keep-list was built for another base tokenizer.json")
    new, old_ids = compact_base_tokenizer(path, spec)
    return Tokenizer.from_file(str(path)), load(new), old_ids, spec


def test_shipped_keep_list_matches_on_reference_notes(shipped):
    from salesnlp.corpus.notes import load_corpus

    full, tok, old_ids, spec = shipped
    assert spec["keep_ids"] == sorted(set(spec["keep_ids"]))
    assert len(old_ids) == spec["n_pieces"] < full.get_vocab_size() // 2
    notes = [n.text for n in load_corpus("corpus") if n.split in ("train", "dev")]
    assert len(notes) > 2000
    for text in notes:
        assert old_ids_of(tok, old_ids, text) == full.encode(text).ids


def test_shipped_keep_list_degrades_gracefully(shipped):
    full, tok, old_ids, _ = shipped
    for text in ("Встреча перенесена на четверг 🙂", "<b>Preis</b> 20 % günstiger",
                 "我们下周见面", "Tervetuloa! Ми домовились"):
        a, b = full.encode(text), tok.encode(text)
        assert b.ids.count(tok.token_to_id("<unk>")) == a.ids.count(full.token_to_id("<unk>"))
        assert tok.decode(b.ids) == full.decode(a.ids)
    with pytest.raises(ValueError, match="not the tokenizer"):
        compact_base_tokenizer(__file__)
