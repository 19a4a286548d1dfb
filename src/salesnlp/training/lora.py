"""Low-rank adapters (LoRA) for the encoder's linear layers.

Training wraps chosen ``nn.Linear`` layers; saving keeps only the small
``A``/``B`` matrices; loading merges ``W += scale · B @ A`` into a plain
encoder, so inference runs at the speed of the unadapted model.
"""

from __future__ import annotations

import math

import torch
from torch import nn


class LoRALinear(nn.Module):
    """``base(x) + scale · B(A(dropout(x)))`` with ``base`` frozen."""

    def __init__(self, base: nn.Linear, rank: int, alpha: float, dropout: float = 0.0) -> None:
        super().__init__()
        self.base = base
        self.rank = rank
        self.scale = alpha / rank
        self.lora_A = nn.Parameter(torch.empty(rank, base.in_features))
        self.lora_B = nn.Parameter(torch.zeros(base.out_features, rank))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.dropout = nn.Dropout(dropout)
        for p in self.base.parameters():
            p.requires_grad_(False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (self.dropout(x) @ self.lora_A.T @ self.lora_B.T) * self.scale


def add_lora(module: nn.Module, targets: tuple[str, ...], rank: int, alpha: float,
             dropout: float = 0.0) -> list[str]:
    """Wrap every ``nn.Linear`` whose qualified name ends with one of ``targets``.

    Returns the qualified names of the wrapped layers' weights (as in the
    unwrapped model's ``state_dict``).
    """
    wrapped = []
    for name, child in list(module.named_modules()):
        if isinstance(child, nn.Linear) and name.endswith(targets):
            parent_name, _, attr = name.rpartition(".")
            parent = module.get_submodule(parent_name) if parent_name else module
            setattr(parent, attr, LoRALinear(child, rank, alpha, dropout))
            wrapped.append(f"{name}.weight")
    if not wrapped:
        raise ValueError(f"no linear layer matches {targets}")
    return wrapped


def lora_state(module: nn.Module) -> dict[str, torch.Tensor]:
    """``{"<weight name>.lora_A": A, "<weight name>.lora_B": B}`` for every adapter."""
    state = {}
    for name, child in module.named_modules():
        if isinstance(child, LoRALinear):
            state[f"{name}.weight.lora_A"] = child.lora_A.detach().clone()
            state[f"{name}.weight.lora_B"] = child.lora_B.detach().clone()
    return state
