"""A compact vocabulary for the base encoder's Unigram tokenizer.

The base tokenizer (XLM-R / multilingual-e5-small, 250,002 pieces) costs about 280 MB of RSS
and a second to load, and its embedding table has a row for every piece. Text in our languages
uses a small part of it. A Unigram tokenizer picks the maximum-score (Viterbi) segmentation, so
removing pieces that never occur in the best segmentation of some reference text leaves the
segmentation of that text unchanged: its best path is still there and no new path appears. On
unseen text a removed piece may have been the best choice; the word then falls back to other,
smaller pieces (a small, measured drift).

Functions:

* :func:`pieces_used` - the ids that occur in the best segmentations of some texts;
* :func:`compact_tokenizer` - a ``tokenizer.json`` dict restricted to a keep-list, plus the
  ``old_ids`` map (new id -> old id) to slice the embedding table, ``emb[old_ids]``;
* :func:`load_keep_list` / :func:`compact_base_tokenizer` - the keep-list shipped in
  ``salesnlp/data/compact_vocab.json`` (built by ``benchmarks/compact_vocab/build.py``).

Pieces kept whatever the keep-list says: the special tokens, every single-character piece and
every ``"▁" + character`` piece (so any script still falls back to characters, not ``<unk>``,
where the full vocabulary could), the piece with the lowest score (the Unigram model derives
the ``<unk>`` penalty from it), byte-fallback pieces if the model uses them, and every id the
post-processor or ``added_tokens`` refer to.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import tokenizers

SPECIAL_TOKENS: tuple[str, ...] = ("<s>", "<pad>", "</s>", "<unk>", "<mask>")
META_SPACE = "\u2581"
KEEP_LIST_RESOURCE = "compact_vocab.json"
_BYTE_PIECE = re.compile(r"^<0x[0-9A-Fa-f]{2}>$")


def pieces_used(
    tokenizer: tokenizers.Tokenizer, texts: Iterable[str], *, chunk_size: int = 4096
) -> set[int]:
    """Return the ids that occur in the best segmentations of ``texts`` (no special tokens).

    Texts are encoded with ``encode_batch`` in chunks of ``chunk_size``. A truncation setting
    of the tokenizer is lifted for the call (and restored), so no piece is missed.
    """
    used: set[int] = set()
    truncation = tokenizer.truncation
    if truncation is not None:
        tokenizer.no_truncation()
    try:
        batch: list[str] = []
        for text in texts:
            batch.append(text)
            if len(batch) >= chunk_size:
                _add_ids(tokenizer, batch, used)
                batch = []
        if batch:
            _add_ids(tokenizer, batch, used)
    finally:
        if truncation is not None:
            kwargs = {k: truncation[k] for k in ("max_length", "stride", "strategy", "direction")}
            tokenizer.enable_truncation(**kwargs)
    return used


def _add_ids(tokenizer: tokenizers.Tokenizer, batch: list[str], used: set[int]) -> None:
    for encoding in tokenizer.encode_batch(batch, add_special_tokens=False):
        used.update(encoding.ids)


def always_kept(tokenizer_json: dict) -> set[int]:
    """Ids kept in every compact vocabulary of this tokenizer (see the module docstring)."""
    model = _unigram(tokenizer_json)
    vocab = model["vocab"]
    keep: set[int] = set()
    for i, (piece, _score) in enumerate(vocab):
        if (
            len(piece) == 1
            or (len(piece) == 2 and piece[0] == META_SPACE)
            or piece in SPECIAL_TOKENS
            or (model.get("byte_fallback") and _BYTE_PIECE.match(piece))
        ):
            keep.add(i)
    if vocab:
        keep.add(min(range(len(vocab)), key=lambda i: vocab[i][1]))
    if model.get("unk_id") is not None:
        keep.add(int(model["unk_id"]))
    keep.update(int(t["id"]) for t in tokenizer_json.get("added_tokens") or ())
    keep.update(_processor_ids(tokenizer_json.get("post_processor")))
    padding = tokenizer_json.get("padding")
    if padding and padding.get("pad_id") is not None:
        keep.add(int(padding["pad_id"]))
    return keep


def compact_tokenizer(tokenizer_json: dict, keep_ids: Sequence[int]) -> tuple[dict, np.ndarray]:
    """Restrict a Unigram ``tokenizer.json`` to ``keep_ids`` (plus :func:`always_kept`).

    Args:
        tokenizer_json: the parsed ``tokenizer.json`` of a ``tokenizers`` Unigram tokenizer
            (not modified).
        keep_ids: ids of the pieces to keep, in any order.

    Returns:
        ``(new_json, old_ids)``: the new ``tokenizer.json`` dict, whose ``model.vocab`` holds
        the kept pieces with their original scores, renumbered ``0..n-1`` in the original
        order, with ``unk_id``, ``added_tokens``, the post-processor's special-token ids and a
        padding ``pad_id`` remapped; and ``old_ids`` (``int32``, new id -> old id), so that
        ``emb[old_ids]`` is the matching embedding table.

    Raises:
        ValueError: the model is not Unigram, or an id is out of range.
    """
    model = _unigram(tokenizer_json)
    size = len(model["vocab"])
    keep = {int(i) for i in keep_ids}
    bad = [i for i in keep if not 0 <= i < size]
    if bad:
        raise ValueError(f"ids out of range 0..{size - 1}: {sorted(bad)[:5]}")
    keep |= always_kept(tokenizer_json)
    old_ids = np.fromiter(sorted(keep), dtype=np.int32, count=len(keep))
    new_of_old = {int(old): new for new, old in enumerate(old_ids)}

    out = copy.deepcopy({k: v for k, v in tokenizer_json.items() if k != "model"})
    new_model = {k: v for k, v in model.items() if k != "vocab"}
    new_model["vocab"] = [list(model["vocab"][old]) for old in old_ids]
    if new_model.get("unk_id") is not None:
        new_model["unk_id"] = new_of_old[int(model["unk_id"])]
    out["model"] = new_model
    for token in out.get("added_tokens") or ():
        token["id"] = new_of_old[int(token["id"])]
    if out.get("post_processor"):
        _remap_processor(out["post_processor"], new_of_old)
    if out.get("padding") and out["padding"].get("pad_id") is not None:
        out["padding"]["pad_id"] = new_of_old[int(out["padding"]["pad_id"])]
    return out, old_ids


def tokenizer_sha256(path: str | Path) -> str:
    """SHA-256 (hex) of a ``tokenizer.json`` file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def load_keep_list(path: str | Path | None = None) -> dict[str, Any]:
    """Read a keep-list file (default: the one shipped in ``salesnlp/data``).

    Returns the parsed JSON: ``keep_ids`` (sorted ids of the base vocabulary),
    ``base_tokenizer_sha256``, ``n_pieces``, ``sources`` and ``counts``.
    """
    if path is None:
        text = (resources.files("salesnlp") / "data" / KEEP_LIST_RESOURCE).read_text("utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return json.loads(text)


def compact_base_tokenizer(
    tokenizer_path: str | Path, keep_list: str | Path | dict | None = None
) -> tuple[dict, np.ndarray]:
    """Apply a keep-list (default: the shipped one) to a base ``tokenizer.json`` file.

    Returns ``(new_json, old_ids)`` as :func:`compact_tokenizer`; save ``new_json`` with
    ``json.dump`` and load it with ``tokenizers.Tokenizer.from_file``.

    Raises:
        ValueError: the file is not the tokenizer the keep-list was built for.
    """
    spec = keep_list if isinstance(keep_list, dict) else load_keep_list(keep_list)
    raw = Path(tokenizer_path).read_bytes()
    digest = hashlib.sha256(raw).hexdigest()
    if digest != spec["base_tokenizer_sha256"]:
        raise ValueError(
            f"{tokenizer_path} (sha256 {digest[:12]}...) is not the tokenizer the keep-list was "
            f"built for (sha256 {spec['base_tokenizer_sha256'][:12]}...)"
        )
    return compact_tokenizer(json.loads(raw), spec["keep_ids"])


def _unigram(tokenizer_json: dict) -> dict:
    model = tokenizer_json.get("model") or {}
    if model.get("type") != "Unigram":
        raise ValueError(f"not a Unigram tokenizer (model type {model.get('type')!r})")
    return model


def _processor_ids(processor: dict | None) -> set[int]:
    """Ids a post-processor refers to (TemplateProcessing, Roberta/Bert, Sequence)."""
    if not processor:
        return set()
    kind = processor.get("type")
    if kind == "Sequence":
        return set().union(*(_processor_ids(p) for p in processor.get("processors", ())))
    if kind == "TemplateProcessing":
        return {int(i) for t in processor.get("special_tokens", {}).values() for i in t["ids"]}
    if kind in ("RobertaProcessing", "BertProcessing"):
        return {int(processor[k][1]) for k in ("sep", "cls") if k in processor}
    return set()


def _remap_processor(processor: dict, new_of_old: dict[int, int]) -> None:
    kind = processor.get("type")
    if kind == "Sequence":
        for p in processor.get("processors", ()):
            _remap_processor(p, new_of_old)
    elif kind == "TemplateProcessing":
        for token in processor.get("special_tokens", {}).values():
            token["ids"] = [new_of_old[int(i)] for i in token["ids"]]
    elif kind in ("RobertaProcessing", "BertProcessing"):
        for key in ("sep", "cls"):
            if key in processor:
                processor[key] = [processor[key][0], new_of_old[int(processor[key][1])]]
