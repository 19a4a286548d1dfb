"""Building the int8 fast-path files of a model: the named step behind ``salesnlp export-int8``.

:func:`build_int8` (and :meth:`Classifier.load <salesnlp.Classifier.load>` when the files
are missing) exports the fine-tuned encoder to an int8 ONNX graph (:mod:`.onnx`), quantises
the word-embedding table per row, keeps the compact vocabulary where it fits the base, and
writes everything atomically with a manifest of content checksums into
``$SALESNLP_HOME/fastpath/<key>/`` (see :mod:`salesnlp.inference.int8`). Needs PyTorch,
``onnx`` and ``onnxruntime``; serving the result needs only ``onnxruntime``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from salesnlp.inference.int8 import (
    EMB_ROWS_FILE,
    EMB_SCALES_FILE,
    META_FILE,
    ONNX_FILE,
    RECIPE,
    TOKENIZER_FILE,
    VOCAB_IDS_FILE,
    FastPathUnavailable,
    Int8Embedding,
    LightTokenizer,
    prune,
)

logger = logging.getLogger(__name__)


def quantise_embedding(weight) -> Int8Embedding:
    """An :class:`Int8Embedding` of a fp32 table (a tensor or an array): int8 rows with one
    scale per row, ``scale = max|row| / 127``."""
    w = weight.detach().float().numpy() if hasattr(weight, "detach") else \
        np.asarray(weight, dtype=np.float32)
    absmax = np.abs(w).max(axis=1)
    scales = np.where(absmax > 0, absmax / 127.0, 1.0).astype(np.float32)
    rows = np.clip(np.rint(w / scales[:, None]), -127, 127).astype(np.int8)
    return Int8Embedding(rows, scales)


def save_embedding(embedding: Int8Embedding, directory: Path) -> None:
    np.save(directory / EMB_ROWS_FILE, embedding.rows)
    np.save(directory / EMB_SCALES_FILE, embedding.scales)


def _light_tokenizer_facts(hf_tokenizer, light, old_ids: np.ndarray | None = None
                           ) -> dict | None:
    """The facts for :class:`LightTokenizer` if ``light`` (a ``tokenizers.Tokenizer``)
    encodes the probes exactly like ``hf_tokenizer``; ids of a compact ``light`` are
    compared through ``old_ids`` (its id -> the base's id)."""
    texts = [*_PROBES, "passage:", "  two  spaces\tand\nlines "]
    if old_ids is None:  # a compact vocabulary may cut odd text into other pieces
        texts.append("ÄÖÜ ŠŽ ąę 🙂 &amp; <b>x</b>")
    for a, b in zip(light.encode_batch(texts, add_special_tokens=False),
                    hf_tokenizer.backend_tokenizer.encode_batch(texts, add_special_tokens=False),
                    strict=True):
        ids = a.ids if old_ids is None else old_ids[a.ids].tolist()
        if ids != b.ids or a.offsets != b.offsets:
            return None
    facts = LightTokenizer.facts_of(hf_tokenizer)
    if old_ids is not None:
        new_id = {int(old): new for new, old in enumerate(old_ids.tolist())}
        for name in LightTokenizer.ATTRIBUTES:
            if name.endswith("_id") and facts[name] is not None:
                facts[name] = new_id[facts[name]]
    return facts


def _compact_vocabulary(base_path: str, hf_tokenizer):
    """``(tokenizer_json, old_ids, facts)`` of the base's compact vocabulary, or None when
    the shipped keep-list does not fit this base."""
    from tokenizers import Tokenizer

    from salesnlp.encoder.compact_vocab import compact_base_tokenizer

    tokenizer_file = Path(base_path) / "tokenizer.json"
    if not tokenizer_file.is_file():
        return None
    try:
        compact, old_ids = compact_base_tokenizer(tokenizer_file)
    except (OSError, ValueError, KeyError) as exc:
        logger.info("full vocabulary for the int8 path: %s", exc)
        return None
    old_ids = np.asarray(old_ids, dtype=np.int64)
    facts = _light_tokenizer_facts(hf_tokenizer, Tokenizer.from_str(json.dumps(compact)),
                                   old_ids)
    if facts is None:
        logger.warning("the compact vocabulary tokenizes the probes differently; using the "
                       "full vocabulary")
        return None
    return compact, old_ids, facts


def _encoder_kind(base_path: str) -> tuple[str, str]:
    """``(model_type, position_embedding_type)`` of the base, without importing transformers
    when it is a local directory."""
    config_file = Path(base_path) / "config.json"
    if config_file.is_file():
        facts = json.loads(config_file.read_text(encoding="utf-8"))
    else:  # a hub id
        from transformers import AutoConfig

        facts = AutoConfig.from_pretrained(base_path).to_dict()
    return facts.get("model_type", "?"), facts.get("position_embedding_type", "absolute")



# Probe texts for the build-time checks (the exported graph must match the model).
_PROBES = (
    "Küsisin, kes hanke võitis – ei öelnud. Järgmine kõne 12.11.",
    "Katsotaan syksyllä, ei päivämäärää.",
    "Не сказав, хто виграв тендер; зустріч перенесли втретє.",
    "Vedem după vară, nu știu.",
    "Ze vroegen 40% korting en 120 dagen betaaltermijn.",
    "No reply to three e-mails and two calls after they asked for the offer.",
)


def build_entry(config, tensors: dict[str, np.ndarray], entry: Path) -> Path:
    """Build the int8 files of a model into ``entry`` (atomically)."""
    import time

    from salesnlp.cache import atomic_directory, ensure_writable, write_manifest
    from salesnlp.encoder.base import resolve_base
    from salesnlp.inference.torch_model import build_model

    started = time.perf_counter()
    ensure_writable(entry.parent)  # before a minute of work, not after
    base_path = resolve_base(config.base_model, verify=True)
    model_type, positions = _encoder_kind(base_path)
    if model_type != "bert" or positions != "absolute":
        raise FastPathUnavailable(f"the encoder is a {model_type!r}, not a BERT")
    logger.info("building the int8 fast path into %s (once per model)", entry)
    model, hf_tokenizer = build_model(config, tensors)
    bert = model.encoder
    embedding = quantise_embedding(bert.embeddings.word_embeddings.weight)
    probes = _probe_states(config, bert, hf_tokenizer, embedding)
    with atomic_directory(entry) as staging:
        facts = _write_graph(bert, staging, probes)
        compact = _compact_vocabulary(base_path, hf_tokenizer)
        if compact is not None:
            tokenizer_json, old_ids, tokenizer_facts = compact
            embedding = Int8Embedding(embedding.rows[old_ids], embedding.scales[old_ids])
            tokenizer_text = json.dumps(tokenizer_json, ensure_ascii=False)
            np.save(staging / VOCAB_IDS_FILE, old_ids)
        else:  # the base's own tokenizer, so that serving never needs the base
            tokenizer_text = hf_tokenizer.backend_tokenizer.to_str()
            tokenizer_facts = LightTokenizer.facts_of(hf_tokenizer)
        (staging / TOKENIZER_FILE).write_text(tokenizer_text, encoding="utf-8")
        save_embedding(embedding, staging)
        (staging / META_FILE).write_text(json.dumps({
            "recipe": RECIPE, "base_model": config.base_model,
            "hidden": bert.config.hidden_size, "heads": bert.config.num_attention_heads,
            "layers": bert.config.num_hidden_layers, "vocab": int(embedding.shape[0]),
            "compact_vocabulary": compact is not None, **facts,
            "tokenizer": tokenizer_facts,
            "build_seconds": round(time.perf_counter() - started, 2),
        }, indent=2))
        write_manifest(staging)
    logger.info("int8 fast path built in %.1f s", time.perf_counter() - started)
    prune(entry.parent)
    return entry


def _probe_states(config, bert, hf_tokenizer, embedding: Int8Embedding):
    """Probe windows (embeddings, mask) and the fp32 model's states for them; checks that
    the exportable re-implementation of the encoder matches the model."""
    import torch

    from salesnlp.encoder.tokenization import NoteTokenizer
    from salesnlp.export import onnx as exporter
    from salesnlp.inference.torch_model import collate_windows

    note_tokenizer = NoteTokenizer.from_pretrained(hf_tokenizer, config.max_length, config.prefix)
    try:
        plain = exporter.ExportableEncoder(bert).eval()
    except ValueError as exc:
        raise FastPathUnavailable(str(exc)) from None
    ids, mask, _ = collate_windows(note_tokenizer.encode(list(_PROBES)),
                                   hf_tokenizer.pad_token_id)
    embeds = torch.from_numpy(embedding.lookup(ids.numpy()))
    with torch.inference_mode():  # the re-implementation must match the HF forward
        expected = bert(inputs_embeds=embeds, attention_mask=mask).last_hidden_state
        diff = float((expected - plain(embeds, mask))[mask.bool()].abs().max())
    if diff > 1e-3:
        raise FastPathUnavailable(f"the exportable encoder differs from the model by {diff:.2g}")
    return embeds, mask, expected


def _write_graph(bert, directory: Path, probes) -> dict:
    """Export and quantise the graph into ``directory``; check it against fp32 on the
    probes (every real token's state within cosine 0.98)."""
    import torch

    from salesnlp.export import onnx as exporter

    embeds, mask, expected = probes
    facts = exporter.build_int8_graph(bert, directory, ONNX_FILE, RECIPE["symmetric"])
    got = torch.from_numpy(exporter.run_states(exporter.session(directory / ONNX_FILE),
                                               embeds.numpy(), mask.numpy()))
    real = mask.bool()
    cosine = float(torch.nn.functional.cosine_similarity(got[real], expected[real]).min())
    if cosine < 0.98:
        raise FastPathUnavailable(f"the int8 graph is too far from fp32 (cosine {cosine:.3f})")
    return {**facts, "probe_min_token_cosine": cosine}


def build_int8(model: str | Path | None = None, *, cache_dir: str | Path | None = None,
               force: bool = False) -> Path:
    """Build (or find) the int8 fast-path files of a model directory; return their entry.

    Args:
        model: the model directory (default: the shipped model, or ``$SALESNLP_MODEL``).
        cache_dir: where entries live (default ``$SALESNLP_HOME/fastpath``).
        force: rebuild even if a sound entry exists.

    Raises:
        ModelLoadError: the model directory is missing or corrupt.
        FastPathUnavailable: the model's encoder cannot take the int8 path.
    """
    from salesnlp.encoder.base import resolve_base
    from salesnlp.inference.int8 import _require_packages, cache_key, entry_is_sound, fastpath_root
    from salesnlp.inference.model_dir import read_model_dir, resolve_model_path

    _require_packages()
    path = resolve_model_path(model)
    config, tensors = read_model_dir(path)
    entry = fastpath_root(cache_dir) / cache_key(config, path, resolve_base(config.base_model))
    if force or not entry_is_sound(entry):
        build_entry(config, tensors, entry)
    return entry
