"""The network: a multilingual encoder, mean pooling and a multi-label head.

Notes are cut into token windows by :mod:`salesnlp.encoder.tokenization`. The
note vector is the mean of every token state over all its windows (for a
short note: plain e5 mean pooling). Because the head is linear, the same
states also score any sentence of the note (its tokens plus the window's
special tokens), which is how evidence is found without a second pass.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from salesnlp.encoder.tokenization import EncodedNote, pad_windows


class NoteClassifierModel(nn.Module):
    """Encoder + mean pooling over all windows of a note + linear multi-label head."""

    def __init__(self, encoder: nn.Module, n_labels: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.encoder = encoder
        hidden = encoder.config.hidden_size
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(hidden, n_labels)

    def token_states(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        return self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, window_to_note: torch.Tensor,
        n_notes: int,
    ) -> torch.Tensor:
        """Logits ``[n_notes, n_labels]`` for a batch of windows belonging to ``n_notes`` notes."""
        pooled = pool_notes(self.token_states(input_ids, attention_mask), attention_mask,
                            window_to_note, n_notes)
        return self.head(self.dropout(pooled))


def pool_notes(states: torch.Tensor, attention_mask: torch.Tensor, window_to_note: torch.Tensor,
               n_notes: int) -> torch.Tensor:
    """Mean of all token states per note, over all of its windows."""
    mask = attention_mask.unsqueeze(-1).to(states.dtype)
    sums = (states * mask).sum(1)
    counts = mask.sum(1)
    note_sums = torch.zeros(n_notes, states.shape[-1], dtype=states.dtype).index_add_(
        0, window_to_note, sums)
    note_counts = torch.zeros(n_notes, 1, dtype=states.dtype).index_add_(0, window_to_note, counts)
    return note_sums / note_counts.clamp(min=1.0)


def collate_windows(notes: list[EncodedNote], pad_id: int):
    """Pad every window of ``notes`` into one batch; return ids, mask and window->note index."""
    return tuple(torch.from_numpy(a) for a in pad_windows(notes, pad_id))


class TorchNetwork:
    """The exact fp32 path behind :class:`~salesnlp.inference.classifier.Classifier`: numpy in,
    numpy out, over a :class:`NoteClassifierModel` (kept as ``model``)."""

    def __init__(self, model: NoteClassifierModel) -> None:
        self.model = model.eval()
        self.head_weight = model.head.weight.detach().numpy().astype(np.float32)
        self.head_bias = model.head.bias.detach().numpy().astype(np.float32)

    def token_states(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        """Last hidden states ``[windows, length, hidden]``."""
        with torch.inference_mode():
            return self.model.token_states(torch.from_numpy(input_ids),
                                           torch.from_numpy(attention_mask)).numpy()


def attention_mask_4d(encoder: nn.Module, hidden: torch.Tensor, mask: torch.Tensor):
    """The attention mask the encoder's layers expect, whatever the transformers version."""
    try:
        from transformers.masking_utils import create_bidirectional_mask
    except ImportError:  # transformers 4.x
        return encoder.get_extended_attention_mask(mask, mask.shape)
    return create_bidirectional_mask(config=encoder.config, inputs_embeds=hidden,
                                     attention_mask=mask)


def run_layers(encoder: nn.Module, layers, hidden: torch.Tensor, mask: torch.Tensor
               ) -> torch.Tensor:
    """Run ``hidden`` through some of a BERT encoder's layers."""
    mask4d = attention_mask_4d(encoder, hidden, mask)
    for layer in layers:
        hidden = layer(hidden, mask4d)
        if isinstance(hidden, tuple):
            hidden = hidden[0]
    return hidden


def embed_and_run(encoder: nn.Module, ids: torch.Tensor, mask: torch.Tensor, n_layers: int
                  ) -> torch.Tensor:
    """Embeddings followed by the first ``n_layers`` layers of a BERT encoder."""
    hidden = encoder.embeddings(input_ids=ids)
    return run_layers(encoder, encoder.encoder.layer[:n_layers], hidden, mask)


def keep_layers(encoder: nn.Module, layers: list[int] | None) -> nn.Module:
    """Keep only the base encoder's ``layers`` (in this order, renumbered from 0); None keeps
    all. A student encoder is the base's bottom layers with the adapted top moved down."""
    if layers is None:
        return encoder
    stack = encoder.encoder.layer
    if not layers or min(layers) < 0 or max(layers) >= len(stack):
        raise ValueError(f"encoder layers must be in 0..{len(stack) - 1}, got {layers}")
    encoder.encoder.layer = nn.ModuleList([stack[i] for i in layers])
    encoder.config.num_hidden_layers = len(layers)
    return encoder


def build_model(config, tensors: dict[str, np.ndarray | torch.Tensor]):
    """Rebuild the inference network (LoRA merged) and its tokenizer from a saved model."""
    from transformers import AutoModel

    from salesnlp.encoder.base import base_tokenizer, quiet_transformers, resolve_base
    from salesnlp.inference.encoder_weights import merge_model_tensors
    from salesnlp.inference.model_dir import check_base_identity

    base_path = resolve_base(config.base_model, verify=True)
    check_base_identity(config, base_path)
    with quiet_transformers():
        encoder = AutoModel.from_pretrained(base_path)
    keep_layers(encoder, config.adaptation.get("encoder_layers"))
    arrays = {k: v.detach().numpy() if isinstance(v, torch.Tensor) else np.asarray(v)
              for k, v in tensors.items()}
    base = {k: v.numpy() for k, v in encoder.state_dict().items()}
    merged = merge_model_tensors(base, config, arrays)
    encoder.load_state_dict({k: torch.from_numpy(v) for k, v in merged.items()}, strict=False)
    model = NoteClassifierModel(encoder, len(config.labels))
    model.head.load_state_dict({"weight": torch.from_numpy(arrays["head.weight"]),
                                "bias": torch.from_numpy(arrays["head.bias"])})
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model, base_tokenizer(base_path)
