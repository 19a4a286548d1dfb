"""Building the int8 fast-path files of a model: the named step behind ``salesnlp export-int8``.

:func:`build_int8` (and :meth:`Classifier.load <salesnlp.Classifier.load>` when the files
are missing) writes the fine-tuned encoder (its numpy weights, LoRA merged) as an int8 ONNX graph
(:mod:`.onnx`), quantises the word-embedding table per row, keeps the compact vocabulary
where it fits the base, and writes everything atomically with a manifest of content
checksums into ``$SALESNLP_HOME/fastpath/<key>/`` (see :mod:`salesnlp.inference.int8`).
Needs ``onnx``, ``onnxruntime`` and transformers' tokenizer, not PyTorch; serving the
result needs only ``onnxruntime`` and ``tokenizers``.
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

_ROWS_PER_BLOCK = 16_384


def quantise_embedding(weight: np.ndarray) -> Int8Embedding:
    """An :class:`Int8Embedding` of a fp32 table: int8 rows with one scale per row,
    ``scale = max|row| / 127``."""
    w = np.asarray(weight, dtype=np.float32)
    rows = np.empty(w.shape, dtype=np.int8)
    scales = np.empty(len(w), dtype=np.float32)
    for start in range(0, len(w), _ROWS_PER_BLOCK):  # float temporaries a block at a time
        block = slice(start, start + _ROWS_PER_BLOCK)
        absmax = np.abs(w[block]).max(axis=1)
        scales[block] = np.where(absmax > 0, absmax / 127.0, 1.0)
        rows[block] = np.clip(np.rint(w[block] / scales[block, None]), -127, 127)
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


# Probe texts for the build-time check (the int8 graph must stay close to fp32).
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
    from salesnlp.encoder.base import base_tokenizer, resolve_base
    from salesnlp.export.onnx import build_int8_graph
    from salesnlp.inference.encoder_weights import WORD_EMBEDDINGS
    from salesnlp.inference.model_dir import check_base_identity

    started = time.perf_counter()
    ensure_writable(entry.parent)  # before a minute of work, not after
    base_path = resolve_base(config.base_model, verify=True)
    check_base_identity(config, base_path)
    shape, state = encoder_state(config, tensors, base_path)
    logger.info("building the int8 fast path into %s (once per model)", entry)
    # the graph takes word embeddings as input: the fp32 table (384 MB for e5) is freed here,
    # before the tokenizer takes its 300 MB
    embedding = quantise_embedding(state.pop(WORD_EMBEDDINGS))
    hf_tokenizer = base_tokenizer(base_path)
    with atomic_directory(entry) as staging:
        try:
            facts = build_int8_graph(shape, state, staging / ONNX_FILE,
                                     _probe_windows(config, hf_tokenizer, embedding),
                                     RECIPE["symmetric"])
        except ValueError as exc:
            raise FastPathUnavailable(str(exc)) from None
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
            "recipe": RECIPE, "base_model": config.base_model, "hidden": shape.hidden,
            "heads": shape.heads, "layers": shape.layers, "vocab": int(embedding.shape[0]),
            "compact_vocabulary": compact is not None, **facts,
            "tokenizer": tokenizer_facts,
            "build_seconds": round(time.perf_counter() - started, 2),
        }, indent=2))
        write_manifest(staging)
    logger.info("int8 fast path built in %.1f s", time.perf_counter() - started)
    prune(entry.parent)
    return entry


def encoder_state(config, tensors: dict[str, np.ndarray], base_path: str):
    """The model's encoder as ``(BertShape, weights)``: the base's kept layers with the
    model's changes merged, in numpy.

    Raises:
        FastPathUnavailable: the base is not a BERT encoder the graph can be written for.
        ModelLoadError: the model's tensors do not fit the base.
    """
    from salesnlp.inference.encoder_weights import merge_model_tensors, read_base_encoder

    try:
        shape, base = read_base_encoder(base_path, config.adaptation.get("encoder_layers"))
    except ValueError as exc:
        raise FastPathUnavailable(str(exc)) from None
    return shape, {**base, **merge_model_tensors(base, config, tensors)}


def _probe_windows(config, hf_tokenizer, embedding: Int8Embedding):
    """Word embeddings and mask of the probe texts' windows (float32, int64)."""
    from salesnlp.encoder.tokenization import NoteTokenizer, pad_windows

    note_tokenizer = NoteTokenizer.from_pretrained(hf_tokenizer, config.max_length, config.prefix)
    ids, mask, _ = pad_windows(note_tokenizer.encode(list(_PROBES)), hf_tokenizer.pad_token_id)
    return embedding.lookup(ids), mask


# Longest a child process may take to build (a build takes ~10 s on 2 cores).
CHILD_TIMEOUT_S = 900.0
# The child reads its request on stdin: the parent's sys.path first, so that it imports
# the same salesnlp and packages; its last line of output is the JSON reply.
_CHILD_CODE = ("import json, sys\nrequest = json.loads(sys.stdin.read())\n"
               "sys.path[:] = request['sys_path']\n"
               "from salesnlp.export.int8 import serve_build_request\n"
               "print(json.dumps(serve_build_request(request)))\n")


def build_entry_in_child(model_dir: Path, entry: Path) -> None:
    """:func:`build_entry` in a fresh interpreter, the way loading builds on first use.

    A process that built in place kept its memory and imports (830 MB resident after the
    first classify against 240 MB for one that found the files built, measured with the
    default model; transformers, and PyTorch through it where installed), which a CRM
    plugin or a Spark worker would carry for its whole life. The child gets this
    process's ``sys.path`` and ``-I``/``-E``/``-S`` flags; errors come back as the same
    salesnlp errors. Where no child can be started (an embedded interpreter whose
    ``sys.executable`` is not Python), the build runs here.

    Raises:
        FastPathUnavailable: the build failed unexpectedly or took over
            :data:`CHILD_TIMEOUT_S`.
        CacheError, ModelLoadError, BaseModelError: as :func:`build_entry`.
    """
    import subprocess
    import sys

    flags = [flag for flag, on in (("-I", sys.flags.isolated), ("-E", sys.flags.ignore_environment),
                                   ("-S", sys.flags.no_site)) if on]
    request = json.dumps({"model_dir": str(model_dir), "entry": str(entry),
                          "sys_path": sys.path})
    try:
        done = subprocess.run([sys.executable, *flags, "-c", _CHILD_CODE], input=request,
                              capture_output=True, text=True, timeout=CHILD_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise FastPathUnavailable(f"building the int8 files took over {CHILD_TIMEOUT_S:.0f} s"
                                  ) from None
    except OSError as exc:
        done = subprocess.CompletedProcess([], -1, "", str(exc))
    reply = _last_json_line(done.stdout)
    if reply is None:
        logger.warning("building the int8 files in this process: a child process could not "
                       "(%s)", (done.stderr or "no output").strip()[-500:])
        from salesnlp.inference.model_dir import read_model_dir

        build_entry(*read_model_dir(model_dir), entry)
    elif "error" in reply:
        raise _error_from(reply["error"])


def serve_build_request(request: dict) -> dict:
    """The child's side of :func:`build_entry_in_child`: build, and say how it went."""
    from salesnlp.errors import SalesNLPError
    from salesnlp.inference.model_dir import read_model_dir

    try:
        build_entry(*read_model_dir(request["model_dir"]), Path(request["entry"]))
    except SalesNLPError as exc:
        return {"error": {"type": type(exc).__name__, "message": exc.message, "hint": exc.hint}}
    except Exception as exc:  # noqa: BLE001 - reported to the parent, which decides
        return {"error": {"type": type(exc).__name__, "message": str(exc)}}
    return {"built": request["entry"]}


def _last_json_line(text: str) -> dict | None:
    for line in reversed(text.strip().splitlines()):
        try:
            reply = json.loads(line)
        except ValueError:
            continue
        return reply if isinstance(reply, dict) else None
    return None


def _error_from(error: dict) -> Exception:
    """The exception a child reported: salesnlp's own errors as themselves, anything else
    (FastPathUnavailable included) as FastPathUnavailable."""
    from salesnlp import errors

    kind = getattr(errors, error["type"], None)
    if isinstance(kind, type) and issubclass(kind, errors.SalesNLPError):
        return kind(error["message"], hint=error.get("hint"))
    if error["type"] != "FastPathUnavailable":
        logger.warning("building the int8 files failed: %s: %s", error["type"],
                       error["message"])
    return FastPathUnavailable(error["message"])


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
    from salesnlp.inference.int8 import (
        _require_packages,
        base_id,
        cache_key,
        entry_is_sound,
        fastpath_root,
    )
    from salesnlp.inference.model_dir import read_model_dir, resolve_model_path

    _require_packages()
    path = resolve_model_path(model)
    config, tensors = read_model_dir(path)
    # the key Classifier.load computes, so that loading finds what this built
    entry = fastpath_root(cache_dir) / cache_key(config, path, base_id(config))
    if force or not entry_is_sound(entry):
        build_entry(config, tensors, entry)
    return entry
