"""The optimisation loop: adapt the encoder's top layers and the head.

The layers below the adapted ones are frozen, so their output is computed once per
note and cached (:func:`frozen_states`); each step runs only the top layers. The loss
has three parts (weights in :class:`~salesnlp.training.config.TrainingConfig`):

- the note's score as inference computes it (``aggregation="max"``: the higher of the
  mean-pooled vector's and the best sentence's), against the note's labels;
- the mean-pooled score alone (``doc_weight``), which keeps the note vector useful;
- each sentence's score against its target (``sentence_weight``; see
  :mod:`salesnlp.training.examples`).
"""

from __future__ import annotations

import logging
import math
import random

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from salesnlp.inference.torch_model import pool_notes, run_layers
from salesnlp.progress import counter
from salesnlp.training.config import TrainingConfig
from salesnlp.training.examples import Example

logger = logging.getLogger(__name__)


def first_trained_layer(encoder: nn.Module, config: TrainingConfig) -> int:
    n_layers = len(encoder.encoder.layer)
    return n_layers if config.method == "head" else max(0, n_layers - config.train_layers)


def frozen_states(encoder: nn.Module, examples: list[Example], first: int, pad_id: int,
                  batch_size: int = 32) -> list[list[torch.Tensor]]:
    """Per example and window, the hidden states after the frozen bottom ``first`` layers."""
    from salesnlp.encoder.tokenization import length_sorted_chunks
    from salesnlp.inference.torch_model import collate_windows, embed_and_run

    cache: list[list[torch.Tensor]] = [[] for _ in examples]
    encoded = [e.encoded for e in examples]
    encoder.eval()
    with torch.inference_mode():
        for chunk in length_sorted_chunks(encoded, batch_size):
            ids, mask, owner = collate_windows([encoded[i] for i in chunk], pad_id)
            hidden = embed_and_run(encoder, ids, mask, first)
            for row, note in enumerate(owner.tolist()):
                cache[chunk[note]].append(hidden[row, : int(mask[row].sum())].clone())
    return cache


def fit(model: nn.Module, examples: list[Example], config: TrainingConfig, pad_id: int,
        progress: bool) -> None:
    """Train ``model`` (a :class:`~salesnlp.inference.torch_model.NoteClassifierModel`
    whose encoder has its trainable parameters set) on ``examples``, in place.

    Under ``torchrun`` (or ``accelerate launch``) with N processes, every process takes
    the same batches in the same order but reads only its own share of each batch
    (example ``i`` belongs to process ``i % N``, whose frozen states only it caches);
    the losses are normalised by the whole batch and the gradients summed across
    processes, so each step is the one a single process would take (exactly, up to float
    rounding, when every dropout is 0: dropout masks are drawn per process).
    """
    world, rank = distributed()
    groups = _parameter_groups(model, config)
    params = [p for g in groups for p in g["params"]]
    steps = math.ceil(len(examples) / config.batch_size) * config.epochs
    optimizer = torch.optim.AdamW(groups, weight_decay=config.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, _schedule(steps, config))
    encoder = model.encoder
    first = first_trained_layer(encoder, config)
    mine = [i for i in range(len(examples)) if i % world == rank]
    logger.info("caching the output of the %d frozen layers for %d notes", first, len(mine))
    cached = dict(zip(mine, frozen_states(encoder, [examples[i] for i in mine], first, pad_id),
                      strict=True))
    rng = random.Random(config.seed)
    bar = counter(steps, progress and rank == 0, unit="batch", desc="train")
    model.train()
    for epoch in range(config.epochs):
        running = 0.0
        batches = _length_bucketed_batches(examples, config.batch_size, rng)
        for step, batch in enumerate(batches, 1):
            optimizer.zero_grad(set_to_none=True)
            own = [i for i in batch if i % world == rank]
            if own:
                loss = _batch_loss(model, [examples[i] for i in own], [cached[i] for i in own],
                                   encoder.encoder.layer[first:], config,
                                   _totals([examples[i] for i in batch]))
                loss.backward()
                running += loss.item()
            if world > 1:
                _sum_gradients(params)
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            bar.set_postfix(epoch=epoch + 1, loss=f"{running / step:.4f}")
            bar.update(1)
        logger.info("epoch %d: mean loss %.4f", epoch + 1, running / max(1, len(batches)))
    bar.close()
    model.eval()


def distributed() -> tuple[int, int]:
    """``(world size, rank)``; joins the process group ``torchrun`` set up (gloo on CPU,
    NCCL with GPUs), or ``(1, 0)`` for a single process."""
    import os

    import torch.distributed as dist

    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    if dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


def _sum_gradients(params: list[torch.Tensor]) -> None:
    import torch.distributed as dist

    for p in params:
        if p.grad is None:
            p.grad = torch.zeros_like(p)
        dist.all_reduce(p.grad, op=dist.ReduceOp.SUM)


def _totals(batch: list[Example]) -> tuple[int, float]:
    """The whole batch's note count and sentence-target weight (the losses' denominators)."""
    weight = float(sum(e.sentence_weights.sum() for e in batch))
    return len(batch), weight


def init_head(model: nn.Module, examples: list[Example]) -> None:
    """A neutral start for a new head: small weights, each label at its base rate."""
    labels = torch.tensor(np.stack([e.labels for e in examples]))
    positives = labels.mean(0).clamp(min=0.02)
    with torch.no_grad():
        nn.init.normal_(model.head.weight, std=0.02)
        model.head.bias.copy_(torch.log(positives / (1 - positives)))


def _batch_loss(model: nn.Module, batch: list[Example], cached: list[list[torch.Tensor]],
                top: nn.ModuleList, config: TrainingConfig, totals: tuple[int, float]
                ) -> torch.Tensor:
    """The loss of ``batch``'s notes, normalised by the whole batch's ``totals`` (the same
    batch when training in one process)."""
    n_notes, sentence_weight = totals
    per_note = n_notes * model.head.out_features
    hidden, mask, owner = _collate_states(cached)
    states = run_layers(model.encoder, top, hidden, mask)
    doc_logits = model.head(model.dropout(pool_notes(states, mask, owner, len(batch))))
    sentence_logits, sentence_owner = _sentence_logits(model, states, owner, batch)
    targets = torch.tensor(np.stack([e.labels for e in batch]))
    note_logits = doc_logits
    if config.aggregation == "max" and len(sentence_owner):
        best = torch.full_like(doc_logits, -torch.inf).scatter_reduce(
            0, sentence_owner[:, None].expand_as(sentence_logits), sentence_logits, "amax")
        note_logits = torch.maximum(doc_logits, best)
    loss = F.binary_cross_entropy_with_logits(note_logits, targets, reduction="sum") / per_note
    if config.aggregation == "max" and config.doc_weight:
        loss = loss + config.doc_weight * F.binary_cross_entropy_with_logits(
            doc_logits, targets, reduction="sum") / per_note
    if config.sentence_weight and len(sentence_owner) and sentence_weight > 0:
        targets = torch.from_numpy(np.concatenate([e.sentence_targets for e in batch]))
        weights = torch.from_numpy(np.concatenate([e.sentence_weights for e in batch]))
        losses = F.binary_cross_entropy_with_logits(sentence_logits, targets, reduction="none")
        loss = loss + config.sentence_weight * (losses * weights).sum() / sentence_weight
    return loss


def _sentence_logits(model: nn.Module, states: torch.Tensor, owner: torch.Tensor,
                     batch: list[Example]) -> tuple[torch.Tensor, torch.Tensor]:
    """Head logits of every sentence of the batch (pooled by each example's plan, as
    inference pools them) and the example each belongs to."""
    first_window = torch.zeros(len(batch), dtype=torch.long)
    first_window[1:] = torch.bincount(owner, minlength=len(batch)).cumsum(0)[:-1]
    rows, windows, positions, counts, sentence_owner = [], [], [], [], []
    offset = 0
    for k, example in enumerate(batch):
        plan = example.plan
        if not len(plan):
            continue
        rows.append(torch.from_numpy(plan.sentence) + offset)
        windows.append(torch.from_numpy(plan.window) + first_window[k])
        positions.append(torch.from_numpy(plan.position))
        counts.append(torch.from_numpy(plan.counts))
        sentence_owner.append(torch.full((len(plan),), k, dtype=torch.long))
        offset += len(plan)
    if not rows:
        return torch.zeros(0, model.head.out_features), torch.zeros(0, dtype=torch.long)
    gathered = states[torch.cat(windows), torch.cat(positions)]
    sums = torch.zeros(offset, states.shape[-1]).index_add(0, torch.cat(rows), gathered)
    vectors = sums / torch.cat(counts)[:, None]
    return model.head(model.dropout(vectors)), torch.cat(sentence_owner)


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


def _parameter_groups(model: nn.Module, config: TrainingConfig) -> list[dict]:
    head = list(model.head.parameters())
    body = [p for n, p in model.named_parameters() if p.requires_grad and not n.startswith("head.")]
    groups = [{"params": head, "lr": config.head_learning_rate}]
    if body:
        groups.append({"params": body, "lr": config.learning_rate})
    return groups


def _schedule(total_steps: int, config: TrainingConfig):
    warmup = max(1, int(config.warmup_fraction * total_steps))

    def factor(step: int) -> float:  # linear warm-up, then linear decay to 0
        return min((step + 1) / warmup, max(0.0, (total_steps - step) / max(1, total_steps
                                                                              - warmup)))
    return factor


def _length_bucketed_batches(examples: list[Example], batch_size: int,
                             rng: random.Random) -> list[list[int]]:
    """Batches of similar length (less padding), in random order."""
    order = list(range(len(examples)))
    rng.shuffle(order)
    pool = batch_size * 20
    batches = []
    for start in range(0, len(order), pool):
        chunk = sorted(order[start : start + pool],
                       key=lambda i: sum(map(len, examples[i].encoded.windows)))
        batches += [chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size)]
    rng.shuffle(batches)
    return batches
