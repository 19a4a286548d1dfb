"""The network: a multilingual encoder, mean pooling and a multi-label head.

A note is tokenised once; if it is longer than the encoder's 512 positions it
is cut into consecutive windows that each get ``<s> passage: … </s>``. The
note vector is the mean of every token state over all its windows (for a
short note: plain e5 mean pooling). Because the head is linear, the same
states also score any sentence of the note (its tokens plus the window's
special tokens), which is how evidence is found without a second pass.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

E5_PREFIX = "passage: "


@dataclass
class EncodedNote:
    """Token windows of one note and the character span of each content token."""

    windows: list[list[int]]
    # per window: (start, end) char offsets of each position; None for special/prefix tokens
    offsets: list[list[tuple[int, int] | None]]
    n_tokens: int = 0


@dataclass
class NoteTokenizer:
    """Turns texts into :class:`EncodedNote` windows with a fast tokenizer.

    Only the Rust tokenizer's ``encode_batch`` is used and its settings are
    never changed after construction, so one instance is safe to share
    between threads.
    """

    tokenizer: object  # tokenizers.Tokenizer
    bos_id: int
    eos_id: int
    max_length: int = 512
    prefix: str = E5_PREFIX
    prefix_ids: list[int] = field(default_factory=list)

    @classmethod
    def from_pretrained(cls, hf_tokenizer, max_length: int = 512, prefix: str = E5_PREFIX):
        backend = hf_tokenizer.backend_tokenizer
        backend.no_truncation()
        backend.no_padding()
        bos = hf_tokenizer.cls_token_id if hf_tokenizer.cls_token_id is not None \
            else hf_tokenizer.bos_token_id
        eos = hf_tokenizer.sep_token_id if hf_tokenizer.sep_token_id is not None \
            else hf_tokenizer.eos_token_id
        prefix_ids = (
            backend.encode(prefix.strip(), add_special_tokens=False).ids if prefix.strip() else []
        )
        max_length = min(max_length, getattr(hf_tokenizer, "model_max_length", max_length))
        return cls(backend, bos, eos, max_length, prefix, prefix_ids)

    @property
    def window_capacity(self) -> int:
        return self.max_length - 2 - len(self.prefix_ids)

    def encode(self, texts: list[str], max_windows: int | None = None) -> list[EncodedNote]:
        stripped = [t.lstrip() for t in texts]
        encodings = self.tokenizer.encode_batch(stripped, add_special_tokens=False)
        capacity = self.window_capacity
        head = [self.bos_id, *self.prefix_ids]
        out = []
        for text, clean, enc in zip(texts, stripped, encodings, strict=True):
            shift = len(text) - len(clean)
            ids, offsets = enc.ids, [(a + shift, b + shift) for a, b in enc.offsets]
            n_windows = max(1, -(-len(ids) // capacity))
            if max_windows is not None:
                n_windows = min(n_windows, max_windows)
            windows, window_offsets = [], []
            for w in range(n_windows):
                chunk = slice(w * capacity, (w + 1) * capacity)
                windows.append([*head, *ids[chunk], self.eos_id])
                window_offsets.append([None] * len(head) + offsets[chunk] + [None])
            out.append(EncodedNote(windows, window_offsets, len(ids)))
        return out


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
    windows = [w for note in notes for w in note.windows]
    owner = [i for i, note in enumerate(notes) for _ in note.windows]
    longest = max(len(w) for w in windows)
    ids = torch.full((len(windows), longest), pad_id, dtype=torch.long)
    mask = torch.zeros((len(windows), longest), dtype=torch.long)
    for row, window in enumerate(windows):
        ids[row, : len(window)] = torch.tensor(window, dtype=torch.long)
        mask[row, : len(window)] = 1
    return ids, mask, torch.tensor(owner, dtype=torch.long)


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
