"""Turning note texts into token windows: the part of the network that needs no PyTorch.

A note is tokenised once; if it is longer than the encoder's 512 positions it
is cut into consecutive windows that each get ``<s> passage: … </s>``.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

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


def pad_windows(notes: list[EncodedNote], pad_id: int
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pad every window of ``notes`` into one batch: ids, mask (int64 ``[windows, length]``)
    and the index of the note each window belongs to."""
    windows = [w for note in notes for w in note.windows]
    owner = np.fromiter((i for i, note in enumerate(notes) for _ in note.windows),
                        dtype=np.int64, count=len(windows))
    longest = max(len(w) for w in windows)
    ids = np.full((len(windows), longest), pad_id, dtype=np.int64)
    mask = np.zeros((len(windows), longest), dtype=np.int64)
    for row, window in enumerate(windows):
        ids[row, : len(window)] = window
        mask[row, : len(window)] = 1
    return ids, mask, owner


def length_sorted_chunks(notes: list[EncodedNote], size: int) -> Iterator[list[int]]:
    """Indices of ``notes`` in chunks of ``size``, shortest first, so that the notes of a
    chunk pad to similar lengths."""
    order = sorted(range(len(notes)), key=lambda k: sum(map(len, notes[k].windows)))
    for start in range(0, len(order), size):
        yield order[start : start + size]
