"""Low-rank adapters (LoRA) on the encoder's top layers, through ``peft``.

Training injects adapters with :func:`add_lora`; saving keeps only the small ``A``/``B``
matrices (:func:`lora_state`, in salesnlp's own key format, so loading needs no peft);
loading merges ``W += scale · B @ A`` into a plain encoder
(:func:`salesnlp.inference.encoder_weights.merge_model_tensors`), so inference runs at
the speed of the unadapted model.
"""

from __future__ import annotations

import torch
from torch import nn

ADAPTER = "default"


def add_lora(encoder: nn.Module, targets: tuple[str, ...], layers: list[int], rank: int,
             alpha: float, dropout: float = 0.0) -> nn.Module:
    """Inject adapters into the ``targets`` linear layers of the encoder's ``layers``;
    everything else stays frozen. Returns the encoder (changed in place)."""
    from peft import LoraConfig, inject_adapter_in_model

    config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout,
                        target_modules=list(targets), layers_to_transform=layers,
                        layers_pattern="layer", bias="none")
    return inject_adapter_in_model(config, encoder, adapter_name=ADAPTER)


def load_lora_state(encoder: nn.Module, state: dict[str, torch.Tensor]) -> int:
    """Set the injected adapters from a :func:`lora_state` dict; return how many."""
    loaded = 0
    modules = dict(encoder.named_modules())
    for key, a in state.items():
        if not key.endswith(".weight.lora_A"):
            continue
        module = modules[key[: -len(".weight.lora_A")]]
        with torch.no_grad():
            module.lora_A[ADAPTER].weight.copy_(a)
            module.lora_B[ADAPTER].weight.copy_(state[key[: -len("A")] + "B"])
        loaded += 1
    if not loaded:
        raise ValueError("no adapter weights to continue from")
    return loaded


def lora_state(encoder: nn.Module) -> dict[str, torch.Tensor]:
    """``{"<weight name>.lora_A": A, "<weight name>.lora_B": B}`` for every adapter, with
    the weight named as in the plain encoder's ``state_dict``."""
    state = {}
    for name, module in encoder.named_modules():
        if hasattr(module, "lora_A") and ADAPTER in getattr(module, "lora_A", {}):
            state[f"{name}.weight.lora_A"] = module.lora_A[ADAPTER].weight.detach().clone()
            state[f"{name}.weight.lora_B"] = module.lora_B[ADAPTER].weight.detach().clone()
    return state
