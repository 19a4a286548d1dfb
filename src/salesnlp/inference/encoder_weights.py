"""The fine-tuned encoder's weights as numpy arrays, read without PyTorch.

A saved model stores only what training changed in the encoder: LoRA factors (and any
fully trained tensor) of its layers, named as in the model file
(``encoder.encoder.layer.N...``). :func:`merge_model_tensors` lays them over the base
encoder's own tensors (Hugging Face ``BertModel`` names: ``embeddings...``,
``encoder.layer.N...``), adding ``scale · B @ A`` for each adapted weight, so that
inference runs a plain encoder. A student keeps only some of the base's layers
(``adaptation.encoder_layers``), renumbered from 0 (:func:`renumber_layers`).

Both networks are built from the result: the PyTorch one
(:func:`salesnlp.inference.torch_model.build_model`) and the int8 ONNX graph
(:mod:`salesnlp.export.onnx`), which :func:`read_base_encoder` lets be built where
PyTorch is not installed.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from salesnlp.errors import ModelLoadError

WORD_EMBEDDINGS = "embeddings.word_embeddings.weight"
MODEL_PREFIX = "encoder."  # the model file's encoder tensors: "encoder." + the base's name
_LAYER_KEY = re.compile(r"^(.*?encoder\.layer\.)(\d+)\.")


@dataclass(frozen=True)
class BertShape:
    """The sizes of a BERT encoder, from its Hugging Face ``config.json``."""

    hidden: int
    heads: int
    ffn: int
    layers: int
    eps: float

    @classmethod
    def of(cls, config: dict) -> BertShape:
        """Raise ``ValueError`` for encoders other than BERT with absolute positions and
        exact GELU (the only kind the int8 graph is written for)."""
        kind = (config.get("model_type", "bert"),
                config.get("position_embedding_type", "absolute"))
        if kind != ("bert", "absolute"):
            raise ValueError(f"only BERT encoders with absolute positions are supported, "
                             f"not {kind[0]!r} with {kind[1]!r} positions")
        if config.get("hidden_act", "gelu") not in ("gelu", "gelu_python"):
            raise ValueError(f"unsupported activation {config['hidden_act']!r}")
        return cls(hidden=config["hidden_size"], heads=config["num_attention_heads"],
                   ffn=config["intermediate_size"], layers=config["num_hidden_layers"],
                   eps=float(config.get("layer_norm_eps", 1e-12)))


def renumber_layers(tensors: dict, source: list[int] | None, target: list[int] | None) -> dict:
    """Tensors of an encoder whose layers are the base's ``source`` layers, named for one
    keeping the base's ``target`` layers (None: all, in order); tensors of layers the target
    does not keep are left out. Works on model-file and base names alike."""
    if source == target:
        return dict(tensors)
    out = {}
    for key, value in tensors.items():
        match = _LAYER_KEY.match(key)
        if match is None:
            out[key] = value
            continue
        base_layer = source[int(match[2])] if source is not None else int(match[2])
        if target is None or base_layer in target:
            new = base_layer if target is None else target.index(base_layer)
            out[f"{match[1]}{new}.{key[match.end():]}"] = value
    return out


def merge_model_tensors(base: dict[str, np.ndarray], config, tensors: dict) -> dict:
    """The base tensors that the model changes, with the change applied (new arrays; ``base``
    is left as it is): the model's full tensors replace the base's, LoRA factors are added
    as ``scale · B @ A``. ``base`` holds the kept layers already, numbered from 0.

    Raises:
        ModelLoadError: a model tensor has no counterpart in the base.
    """
    encoder = {k[len(MODEL_PREFIX):]: np.asarray(v, dtype=np.float32)
               for k, v in tensors.items() if k.startswith(MODEL_PREFIX)}
    changed = {k: v for k, v in encoder.items() if ".lora_" not in k}
    factors = {k: v for k, v in encoder.items() if k.endswith(".lora_A")}
    scale = float(config.adaptation.get("scale", 1.0))
    for key, a in factors.items():
        name = key[: -len(".lora_A")]
        weight = changed.get(name, base.get(name))
        if weight is None:
            continue  # reported below
        changed[name] = weight + scale * (encoder[name + ".lora_B"] @ a)
    unknown = sorted(k for k in changed if k not in base)
    unknown += sorted(k for k in factors if k[: -len(".lora_A")] not in base)
    if unknown:
        raise ModelLoadError(f"the model's weights do not fit the base encoder: {unknown[:3]}")
    return changed


def read_base_encoder(base_path: str, layers: list[int] | None
                      ) -> tuple[BertShape, dict[str, np.ndarray]]:
    """The base's shape and tensors (only ``layers``, renumbered; None: all) from its
    ``config.json`` and ``model.safetensors``, with no PyTorch.

    Raises:
        ValueError: the base is not a BERT encoder (see :meth:`BertShape.of`) or has no
            ``model.safetensors``.
    """
    from safetensors.numpy import load_file

    directory = _local_directory(base_path)
    config = json.loads((directory / "config.json").read_text(encoding="utf-8"))
    shape = BertShape.of(config)
    weights = directory / "model.safetensors"
    if not weights.is_file():
        raise ValueError(f"{directory} has no model.safetensors")
    state = {k.removeprefix("bert."): v for k, v in load_file(str(weights)).items()}
    if layers is not None:
        if not layers or min(layers) < 0 or max(layers) >= shape.layers:
            raise ValueError(f"encoder layers must be in 0..{shape.layers - 1}, got {layers}")
        state = renumber_layers(state, None, layers)
        shape = replace(shape, layers=len(layers))
    return shape, state


def _local_directory(base_path: str) -> Path:
    """A base's local directory; a hub id is fetched (config and weights only)."""
    path = Path(base_path)
    if path.is_dir():
        return path
    from huggingface_hub import snapshot_download

    return Path(snapshot_download(base_path, allow_patterns=["config.json", "*.safetensors"]))
