"""The fast inference path: an int8 encoder in ONNX Runtime and an int8 embedding table.

``Classifier.load(path, precision=...)`` (and ``salesnlp.load``) choose the
network that turns token windows into token states:

- ``"fp32"``: the fine-tuned PyTorch model exactly as trained (the plain path);
- ``"int8"``: the encoder layers as an int8 ONNX graph run by ONNX Runtime
  (activations quantised per token at run time, weights per column; see
  :mod:`salesnlp.export.onnx`), word embeddings from an int8 table (one
  scale per row) memory-mapped from disk, pooling and the head in fp32 as before.
  The tokenizer and the table keep only the 92,908 of 250,002 vocabulary pieces
  that text in our languages uses (:mod:`salesnlp.encoder.compact_vocab`; 98.8 % of the
  test notes tokenize identically, the others fall back to shorter pieces).
  This path imports neither PyTorch, spaCy nor scikit-learn;
- ``"auto"`` (default): ``"int8"`` when ``onnxruntime`` and ``onnx`` are
  installed and the encoder is a BERT (the e5 base is), else ``"fp32"``.

The int8 files are written from the model's numpy weights on first use (about 10 s,
no PyTorch needed, in a child process so that this one keeps none of the build's
memory; :mod:`salesnlp.export.int8`) into
``$SALESNLP_HOME/fastpath/<key>/``, where ``key`` is a checksum of the
model's weights file, its adaptation settings, the base encoder's checksum
and this module's recipe version. They are never part of a model directory.
The entry is written to a temporary sibling and renamed into place; a
missing, truncated or corrupt entry is rebuilt. Everything after loading is
read-only (ONNX Runtime's ``InferenceSession.run`` is thread-safe), so one
classifier can serve many threads.

Quantising changes scores slightly (on the shipped model: 99.4 % of the test
split's label sets identical to fp32, macro-F1 within 0.01); a note's scores do
not depend on its batch mates, as in fp32. ``benchmarks/`` measures both.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import threading
from pathlib import Path

import numpy as np

from salesnlp.errors import ModelLoadError

logger = logging.getLogger(__name__)

PRECISIONS = ("auto", "fp32", "int8")
# Bump when the recipe below changes, so cached entries are rebuilt.
RECIPE_VERSION = 6
RECIPE = {"version": RECIPE_VERSION, "embedding": "int8-per-row",
          "vocabulary": "compact (salesnlp/data/compact_vocab.json) where it fits the base",
          "products": "int8, activations per token, weights per column",
          "symmetric": True,
          "fused": "MultiHeadAttention, SkipLayerNormalization, BiasGelu"}
ONNX_FILE = "encoder.int8.onnx"
EMB_ROWS_FILE = "word_embeddings.int8.npy"
EMB_SCALES_FILE = "word_embeddings.scale.npy"
META_FILE = "fastpath.json"
TOKENIZER_FILE = "tokenizer.json"  # the compact tokenizer, when there is one
VOCAB_IDS_FILE = "vocab_ids.npy"  # its id -> the base tokenizer's id
# Per ONNX Runtime call: at most this many window tokens, and this many attention
# scores per head (rows x length^2). ORT's transient memory grows ~55 KB per token in a
# call (measured: +285 MB for 32 windows of 160 tokens), so runs are kept small; on 2
# cores smaller runs were no slower (64 notes: 8192 -> 6.0 s, 2048 -> 4.8 s, loaded CPU).
MAX_TOKENS_PER_RUN = 2048
MAX_SCORES_PER_RUN = 4 * 512 * 512
# Entries kept under $SALESNLP_HOME/fastpath (most recently used first); older ones are
# deleted after a build, so retrained or temporary models do not pile up.
KEEP_ENTRIES = 6
STALE_PARTIAL_S = 3600.0  # a build takes seconds; a partial this old belongs to a dead one

_build_lock = threading.Lock()


class FastPathUnavailable(Exception):
    """The int8 path cannot be used here (missing package, unsupported encoder, ...)."""


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    return precision


# -- the int8 embedding table ---------------------------------------------------------

class Int8Embedding:
    """A word-embedding table as int8 rows and one fp32 scale per row.

    ``row ≈ rows[i] * scales[i]`` with ``scales[i] = max|row| / 127``; the error
    of any element is at most half a step (``scales[i] / 2``). The table takes
    a quarter of the fp32 size (96 MB instead of 384 MB for e5's 250k × 384)
    and, loaded with ``mmap``, only the rows actually looked up become resident.
    """

    def __init__(self, rows: np.ndarray, scales: np.ndarray) -> None:
        if rows.dtype != np.int8 or rows.ndim != 2 or scales.shape != (rows.shape[0],):
            raise ValueError("rows must be int8 [vocab, hidden] with one scale per row")
        self.rows = rows
        self.scales = scales.astype(np.float32, copy=False)

    @property
    def shape(self) -> tuple[int, int]:
        return self.rows.shape

    def lookup(self, ids: np.ndarray) -> np.ndarray:
        """fp32 vectors ``[*ids.shape, hidden]`` of the given token ids."""
        return self.rows[ids].astype(np.float32) * self.scales[ids][..., None]

    @classmethod
    def load(cls, directory: Path, mmap: bool = True) -> Int8Embedding:
        mode = "r" if mmap else None
        return cls(np.load(directory / EMB_ROWS_FILE, mmap_mode=mode),
                   np.load(directory / EMB_SCALES_FILE, mmap_mode=mode))


# -- the network ------------------------------------------------------------------------

class Int8Network:
    """The int8 network behind :class:`~salesnlp.inference.classifier.Classifier`: token states from
    the int8 graph, and the same fp32 head as the PyTorch model. Needs no PyTorch."""

    def __init__(self, session, embedding: Int8Embedding, head_weight: np.ndarray,
                 head_bias: np.ndarray, directory: Path | None = None) -> None:
        self.session = session
        self.embedding = embedding
        self.head_weight = np.asarray(head_weight, dtype=np.float32)
        self.head_bias = np.asarray(head_bias, dtype=np.float32)
        self.directory = directory

    def token_states(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Last hidden states ``[windows, length, hidden]`` (float32)."""
        from salesnlp.inference.onnx_runtime import INPUT_EMBEDS, INPUT_MASK, OUTPUT_STATES

        ids = np.asarray(input_ids)
        mask = np.asarray(attention_mask).astype(np.int64, copy=False)
        rows, length = ids.shape
        step = max(1, min(MAX_TOKENS_PER_RUN // max(length, 1),
                          MAX_SCORES_PER_RUN // max(length * length, 1)))
        parts = []
        for a in range(0, rows, step):
            feed = {INPUT_EMBEDS: self.embedding.lookup(ids[a : a + step]),
                    INPUT_MASK: mask[a : a + step]}
            parts.append(self.session.run([OUTPUT_STATES], feed)[0])
        return parts[0] if len(parts) == 1 else np.concatenate(parts)


# -- loading -----------------------------------------------------------------------------

def load_network(config, tensors: dict[str, np.ndarray], model_dir: Path,
                 precision: str = "auto", cache_dir: Path | None = None):
    """The network and tokenizer of a saved model at ``precision``.

    With ``"auto"``, a model whose int8 files cannot be used or built here (a missing
    package, an encoder that is not a BERT, a cache directory that cannot be written)
    gets the fp32 network, with a warning when the cause is one the user can fix.

    Returns:
        ``(network, hf_tokenizer, used_precision)``; ``network`` is an
        :class:`Int8Network` or a :class:`~salesnlp.inference.torch_model.TorchNetwork`.

    Raises:
        ModelLoadError: ``precision="int8"`` was asked for and cannot be provided.
        CacheError: ``precision="int8"`` and the int8 files must be built but the cache
            cannot be written.
    """
    from salesnlp.errors import CacheError

    check_precision(precision)
    if precision != "fp32":
        try:
            model, tokenizer = load_int8(config, tensors, Path(model_dir), cache_dir)
            return model, tokenizer, "int8"
        except FastPathUnavailable as exc:
            if precision == "int8":
                raise ModelLoadError(f"the int8 fast path is unavailable: {exc}",
                                     hint="`pip install onnxruntime onnx`, or load with "
                                          "precision='fp32'") from None
            logger.info("int8 fast path unavailable (%s); using fp32", exc)
        except CacheError as exc:
            if precision == "int8":
                raise
            logger.warning("using the slower fp32 path: the int8 files cannot be built. %s",
                           exc)
    from salesnlp.extras import require

    require("train", "the fp32 path (PyTorch)")
    from salesnlp.inference.torch_model import TorchNetwork, build_model

    model, tokenizer = build_model(config, tensors)
    return TorchNetwork(model), tokenizer, "fp32"


def fastpath_root(cache_dir: Path | None = None) -> Path:
    from salesnlp.cache import home_dir

    return Path(cache_dir) if cache_dir is not None else home_dir() / "fastpath"


def cache_key(config, model_dir: Path, base_id: str) -> str:
    """Checksum of everything the int8 files are derived from; ``base_id`` is the base's
    tensor digest (or, for a base without one, its path or hub id)."""
    from salesnlp.cache import sha256_file
    from salesnlp.inference.model_dir import WEIGHTS_FILE

    facts = {
        "recipe": RECIPE,
        "weights_sha256": sha256_file(Path(model_dir) / WEIGHTS_FILE),
        "adaptation": config.adaptation,
        "base_model": config.base_model,
        "base": base_id,
        "keep_list_sha256": _keep_list_sha256(),
    }
    return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:24]


def base_id(config) -> str:
    """What identifies the model's base: the tensor digest it pins, else (older models,
    hub ids) the resolved base's digest or location. Only the latter needs the base."""
    if config.base_tensors_sha256:
        return config.base_tensors_sha256
    from salesnlp.encoder.base import resolve_base
    from salesnlp.inference.model_dir import base_tensors_sha256

    base_path = resolve_base(config.base_model)
    return base_tensors_sha256(base_path) or str(base_path)


def _keep_list_sha256() -> str | None:
    from importlib import resources

    from salesnlp.encoder.compact_vocab import KEEP_LIST_RESOURCE

    try:
        data = resources.files("salesnlp").joinpath("data", KEEP_LIST_RESOURCE).read_bytes()
    except (OSError, FileNotFoundError):
        return None
    return hashlib.sha256(data).hexdigest()


def load_int8(config, tensors: dict[str, np.ndarray], model_dir: Path,
              cache_dir: Path | None = None):
    """Load (building on first use) the int8 network of a saved model. Serving from a
    sound entry needs neither the base encoder nor PyTorch."""
    _require_packages()
    entry = fastpath_root(cache_dir) / cache_key(config, model_dir, base_id(config))
    for attempt in range(2):
        if attempt or not entry_is_sound(entry):
            with _build_lock, _process_lock(entry):
                if attempt or not entry_is_sound(entry):
                    _build(model_dir, entry)
        try:
            session, embedding = _open_entry(entry)
            tokenizer = _tokenizer(entry)
            _touch(entry)
            break
        except Exception as exc:  # noqa: BLE001 - any unreadable file means: rebuild once
            if attempt:
                raise ModelLoadError(f"the int8 files in {entry} cannot be loaded ({exc})",
                                     hint=f"delete {entry}, or load with precision='fp32'"
                                     ) from None
            logger.warning("rebuilding the int8 files in %s: %s", entry, exc)
    return Int8Network(session, embedding, tensors["head.weight"], tensors["head.bias"],
                       entry), tokenizer


@contextlib.contextmanager
def _process_lock(entry: Path):
    """Hold a lock file beside ``entry`` so that processes on one machine (Spark workers,
    server workers) build it once; go without where the cache cannot be written (the
    build then reports that)."""
    try:
        from filelock import FileLock

        entry.parent.mkdir(parents=True, exist_ok=True)
        lock = FileLock(str(entry.with_name(entry.name + ".lock")), timeout=600)
        lock.acquire()
    except (ImportError, OSError):
        yield
        return
    try:
        yield
    finally:
        lock.release()


def _build(model_dir: Path, entry: Path) -> None:
    """Build a missing or damaged entry: the one place where loading triggers the named
    build step of :mod:`salesnlp.export.int8`, which runs it in a child process (serving
    from a built entry never imports it)."""
    from salesnlp.export.int8 import build_entry_in_child

    build_entry_in_child(model_dir, entry)


def entry_is_sound(entry: Path) -> bool:
    """True if ``entry`` is a complete build whose every file matches its recorded
    SHA-256 (a damaged file of the same size is caught too)."""
    from salesnlp.cache import check_manifest

    return not check_manifest(entry, full=True)


def _touch(entry: Path) -> None:
    import os

    try:
        os.utime(entry)
    except OSError:  # a read-only cache still works
        pass


def prune(root: Path, keep: int = KEEP_ENTRIES) -> list[Path]:
    """Delete all but the ``keep`` most recently used entries under ``root``, and the
    half-written directories of builds that were killed (untouched for an hour)."""
    import shutil
    import time

    children = [p for p in root.iterdir() if p.is_dir()] if root.is_dir() else []
    entries = [p for p in children if len(p.name) == 24
               and all(c in "0123456789abcdef" for c in p.name)]
    entries.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    stale = [p for p in children if ".partial-" in p.name
             and p.stat().st_mtime < time.time() - STALE_PARTIAL_S]
    for old in entries[keep:] + stale:
        shutil.rmtree(old, ignore_errors=True)
    return entries[keep:] + stale


def _open_entry(entry: Path):
    from salesnlp.inference.onnx_runtime import session

    embedding = Int8Embedding.load(entry)
    if embedding.scales.shape[0] != embedding.rows.shape[0]:
        raise ValueError("the embedding rows and scales disagree")
    return session(entry / ONNX_FILE), embedding


def _require_packages() -> None:
    import importlib.util

    missing = [name for name in ("onnxruntime", "onnx") if importlib.util.find_spec(name) is None]
    if missing:
        raise FastPathUnavailable(f"{' and '.join(missing)} not installed")


class LightTokenizer:
    """What :meth:`NoteTokenizer.from_pretrained` reads from a Hugging Face tokenizer,
    loaded straight from ``tokenizer.json`` (importing transformers and building its
    tokenizer object takes about 2 s of a cold start). The special ids are recorded
    from the real ``AutoTokenizer`` when the entry is built, which also checks that
    both encode the probes identically."""

    ATTRIBUTES = ("cls_token_id", "bos_token_id", "sep_token_id", "eos_token_id",
                  "pad_token_id", "model_max_length")

    def __init__(self, backend_tokenizer, facts: dict) -> None:
        self.backend_tokenizer = backend_tokenizer
        for name in self.ATTRIBUTES:
            setattr(self, name, facts.get(name))

    @classmethod
    def facts_of(cls, hf_tokenizer) -> dict:
        return {name: getattr(hf_tokenizer, name, None) for name in cls.ATTRIBUTES}


def _tokenizer(entry: Path) -> LightTokenizer:
    from tokenizers import Tokenizer

    facts = json.loads((entry / META_FILE).read_text())["tokenizer"]
    return LightTokenizer(Tokenizer.from_file(str(entry / TOKENIZER_FILE)), facts)
