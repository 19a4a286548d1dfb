"""The encoder's numpy weights (LoRA merged, a student's layers kept) and the ONNX graph
written from them, against the PyTorch encoder they replace."""

from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from salesnlp.errors import ModelLoadError
from salesnlp.inference.encoder_weights import (
    BertShape,
    merge_model_tensors,
    read_base_encoder,
)

pytest.importorskip("onnxruntime", reason="the graph runs in onnxruntime")
pytest.importorskip("onnx", reason="writing the graph needs onnx")


def _windows(hidden: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Word embeddings and a right-padded mask of three windows of unequal length."""
    rng = np.random.default_rng(seed)
    embeds = rng.normal(0, 0.5, size=(3, 11, hidden)).astype(np.float32)
    mask = np.ones((3, 11), dtype=np.int64)
    mask[1, 7:] = 0
    mask[2, 2:] = 0
    return embeds, mask


def _graph_states(shape: BertShape, state: dict, embeds, mask) -> np.ndarray:
    from salesnlp.export.onnx import encoder_graph, run_states, session

    return run_states(session(encoder_graph(shape, state).SerializeToString()), embeds, mask)


def _torch_states(encoder, embeds, mask) -> np.ndarray:
    with torch.inference_mode():
        return encoder(inputs_embeds=torch.from_numpy(embeds),
                       attention_mask=torch.from_numpy(mask)).last_hidden_state.numpy()


@pytest.mark.parametrize("layers", [None, [1], [1, 0]])
def test_the_written_graph_computes_the_base_encoders_states(tiny_base, layers):
    from transformers import AutoModel

    from salesnlp.inference.torch_model import keep_layers

    shape, state = read_base_encoder(str(tiny_base), layers)
    encoder = keep_layers(AutoModel.from_pretrained(tiny_base), layers).eval()
    assert shape.layers == len(encoder.encoder.layer)
    theirs = {k: v.numpy() for k, v in encoder.state_dict().items()}
    kept = [k for k in theirs if k.startswith("encoder.layer.")]
    assert kept and all(np.array_equal(state[k], theirs[k]) for k in kept)
    torch.manual_seed(0)  # the base's biases and norm offsets start at zero: make them count
    with torch.no_grad():
        for parameter in encoder.parameters():
            parameter.add_(torch.randn_like(parameter) * 0.05)
    state = {k: v.numpy() for k, v in encoder.state_dict().items()}
    embeds, mask = _windows(shape.hidden)
    real = mask.astype(bool)
    got = _graph_states(shape, state, embeds, mask)
    want = _torch_states(encoder, embeds, mask)
    np.testing.assert_allclose(got[real], want[real], atol=2e-5)


def test_the_written_graph_of_a_fine_tuned_model_matches_its_pytorch_network(tiny_model):
    from salesnlp.export.int8 import encoder_state
    from salesnlp.inference.model_dir import read_model_dir
    from salesnlp.inference.torch_model import build_model

    config, tensors = read_model_dir(tiny_model)
    assert any(".lora_A" in k for k in tensors)
    shape, state = encoder_state(config, tensors, config.base_model)
    model, _ = build_model(config, tensors)
    embeds, mask = _windows(shape.hidden, seed=1)
    real = mask.astype(bool)
    np.testing.assert_allclose(_graph_states(shape, state, embeds, mask)[real],
                               _torch_states(model.encoder, embeds, mask)[real], atol=2e-5)


def _lora_config(scale: float):
    return SimpleNamespace(adaptation={"scale": scale})


def test_merging_adds_scaled_lora_products_and_replaces_full_tensors():
    rng = np.random.default_rng(0)
    base = {"encoder.layer.0.q.weight": rng.normal(size=(4, 3)).astype(np.float32),
            "encoder.layer.0.norm.weight": np.ones(4, np.float32),
            "embeddings.x": np.zeros(2, np.float32)}
    before = {k: v.copy() for k, v in base.items()}
    a, b = rng.normal(size=(2, 3)), rng.normal(size=(4, 2))
    tensors = {"encoder.encoder.layer.0.q.weight.lora_A": a,
               "encoder.encoder.layer.0.q.weight.lora_B": b,
               "encoder.encoder.layer.0.norm.weight": np.full(4, 2.0, np.float32),
               "head.weight": np.zeros((3, 4))}
    merged = merge_model_tensors(base, _lora_config(2.0), tensors)
    assert sorted(merged) == ["encoder.layer.0.norm.weight", "encoder.layer.0.q.weight"]
    np.testing.assert_allclose(merged["encoder.layer.0.q.weight"],
                               before["encoder.layer.0.q.weight"] + 2.0 * b @ a, rtol=1e-6)
    assert np.all(merged["encoder.layer.0.norm.weight"] == 2.0)
    assert all(np.array_equal(base[k], before[k]) for k in base)  # the base is not changed


@pytest.mark.parametrize("key", ["encoder.encoder.layer.7.q.weight",
                                 "encoder.encoder.layer.7.q.weight.lora_A"])
def test_a_model_tensor_without_a_base_counterpart_is_refused(key):
    base = {"encoder.layer.0.q.weight": np.zeros((2, 2), np.float32)}
    tensors = {key: np.zeros((2, 2)), key.replace("lora_A", "lora_B"): np.zeros((2, 2))}
    with pytest.raises(ModelLoadError, match="do not fit the base"):
        merge_model_tensors(base, _lora_config(1.0), tensors)


@pytest.mark.parametrize(("change", "message"), [
    ({"model_type": "xlm-roberta"}, "only BERT"),
    ({"position_embedding_type": "relative_key"}, "absolute positions"),
    ({"hidden_act": "relu"}, "activation"),
])
def test_encoders_the_graph_is_not_written_for_are_named(change, message):
    config = {"hidden_size": 8, "num_attention_heads": 2, "intermediate_size": 16,
              "num_hidden_layers": 1, **change}
    with pytest.raises(ValueError, match=message):
        BertShape.of(config)


def test_a_student_keeps_only_existing_base_layers(tiny_base):
    layers = json.loads((tiny_base / "config.json").read_text())["num_hidden_layers"]
    with pytest.raises(ValueError, match="encoder layers"):
        read_base_encoder(str(tiny_base), [0, layers])
