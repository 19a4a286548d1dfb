"""Smaller encoders: keeping some of the base's layers, moving adapters down with them,
distilling a teacher's probabilities, and loading shipped models by name (tiny encoder)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import tiny_notes

from salesnlp.errors import ModelLoadError
from salesnlp.inference.classifier import Classifier
from salesnlp.inference.encoder_weights import renumber_layers
from salesnlp.inference.model_dir import read_model_dir, resolve_model_path, shipped_models_dir
from salesnlp.inference.torch_model import keep_layers
from salesnlp.training.trainer import TrainingConfig, train


def _lora(tensors: dict, layer: int) -> dict:
    tag = f"encoder.encoder.layer.{layer}."
    return {k[len(tag):]: v for k, v in tensors.items() if k.startswith(tag) and ".lora_" in k}


@pytest.fixture(scope="module")
def student(tiny_model, tmp_path_factory):
    """The tiny 2-layer model cut to its top layer (the adapted one), its adapters moved
    down, continued with a learning rate of ~0."""
    config = TrainingConfig(init_from=str(tiny_model), encoder_layers=(1,), epochs=1,
                            batch_size=4, learning_rate=1e-12, head_learning_rate=1e-12,
                            prefix="passage: ")
    out = tmp_path_factory.mktemp("student") / "student"
    train("unused", out, config, progress=False, train_notes=tiny_notes("train"),
          dev_notes=tiny_notes("dev"))
    return out


def test_a_student_keeps_the_chosen_layers_and_moves_the_adapters_down(tiny_model, student):
    teacher_config, teacher = read_model_dir(tiny_model)
    config, tensors = read_model_dir(student)
    assert config.adaptation["encoder_layers"] == [1]
    assert teacher_config.adaptation.get("encoder_layers") is None
    moved, original = _lora(tensors, 0), _lora(teacher, 1)
    assert moved and moved.keys() == original.keys()
    for key in moved:
        np.testing.assert_allclose(moved[key], original[key], atol=1e-6)
    assert not _lora(tensors, 1)
    model = Classifier.load(student, precision="fp32").network.model
    assert len(model.encoder.encoder.layer) == 1 == model.encoder.config.num_hidden_layers


def test_a_student_trains_at_the_base_learning_rates_and_a_continued_one_at_a_fifth(
        tiny_model, student, tmp_path):
    from salesnlp.training.config import ADAPT_LR_SHARE, LEARNING_RATES
    from salesnlp.training.trainer import _with_init_settings

    reshaped = _with_init_settings(TrainingConfig(init_from=str(tiny_model),
                                                  encoder_layers=(1,)))
    assert (reshaped.learning_rate, reshaped.head_learning_rate) == LEARNING_RATES
    continued = _with_init_settings(TrainingConfig(init_from=str(student)))
    assert continued.encoder_layers == (1,)  # a student's layers carry over
    assert continued.learning_rate == pytest.approx(LEARNING_RATES[0] * ADAPT_LR_SHARE)


def test_the_students_int8_path_agrees_with_its_fp32_path(student, tmp_path, monkeypatch):
    from salesnlp.inference import int8 as fastpath

    monkeypatch.setattr(fastpath, "fastpath_root", lambda cache_dir=None: tmp_path / "fp")
    texts = [n.text for n in tiny_notes("dev")]
    fp32 = Classifier.load(student, precision="fp32").predict_logits(texts)
    int8 = Classifier.load(student, precision="int8")
    assert int8.precision == "int8"
    np.testing.assert_allclose(int8.predict_logits(texts), fp32, atol=0.15)


def test_renumber_layers_maps_base_layers_and_drops_the_others():
    tensors = {"encoder.encoder.layer.2.q.lora_A": 1, "encoder.encoder.layer.0.q.lora_A": 0,
               "head.weight": 9}
    # a model of base layers (3, 8, 9) -> a model keeping (0, 9): layer 2 (base 9) -> 1
    out = renumber_layers(tensors, [3, 8, 9], [0, 9])
    assert out == {"encoder.encoder.layer.1.q.lora_A": 1, "head.weight": 9}
    assert renumber_layers(tensors, None, None) == tensors
    assert renumber_layers({"encoder.encoder.layer.1.x": 5}, [4, 7], None) == \
        {"encoder.encoder.layer.7.x": 5}


def test_keep_layers_refuses_layers_the_base_lacks(tiny_base):
    from transformers import AutoModel

    encoder = AutoModel.from_pretrained(tiny_base)
    with pytest.raises(ValueError, match="0..1"):
        keep_layers(encoder, [0, 2])
    with pytest.raises(ValueError):
        TrainingConfig(encoder_layers=(1, 1))
    top = encoder.encoder.layer[1]
    assert list(keep_layers(encoder, [1]).encoder.layer) == [top]


@pytest.mark.parametrize("weight", [0.0, 0.5, 1.0])
def test_distillation_mixes_the_teachers_probabilities_into_the_targets(tiny_model, weight):
    from salesnlp.training.distill import soften_targets
    from salesnlp.training.examples import build_examples

    teacher = Classifier.load(tiny_model, precision="fp32")
    notes = tiny_notes("train")
    examples = build_examples(notes, teacher.note_tokenizer, structure=True)
    labels = np.stack([e.labels for e in examples])
    soften_targets(examples, tiny_model, weight)
    probs = 1 / (1 + np.exp(-teacher.predict_logits([n.text for n in notes])))
    np.testing.assert_allclose(np.stack([e.labels for e in examples]),
                               (1 - weight) * labels + weight * probs, atol=1e-5)


def test_shipped_models_load_by_name(tmp_path, monkeypatch):
    monkeypatch.delenv("SALESNLP_MODEL", raising=False)
    assert resolve_model_path("salesnlp-e5-small-v2") == \
        shipped_models_dir() / "salesnlp-e5-small-v2"
    assert resolve_model_path(None) == shipped_models_dir() / "salesnlp-e5-small-v2"
    missing = tmp_path / "salesnlp-e5-small-v2"  # a path is a path, even with that name
    assert resolve_model_path(missing) == missing
    assert resolve_model_path("no-such-model") == Path("no-such-model")
    with pytest.raises(ModelLoadError, match="no-such-model"):
        Classifier.load("no-such-model")


def test_a_reshaped_student_may_adapt_more_layers_than_its_start(tiny_model, tmp_path):
    config = TrainingConfig(init_from=str(tiny_model), encoder_layers=(0, 1), train_layers=2,
                            epochs=1, batch_size=4, learning_rate=1e-12,
                            head_learning_rate=1e-12, prefix="passage: ")
    train("unused", tmp_path / "s", config, progress=False, train_notes=tiny_notes("train"),
          dev_notes=tiny_notes("dev"))
    (start, start_tensors), (got, tensors) = read_model_dir(tiny_model), read_model_dir(
        tmp_path / "s")
    assert start.adaptation["layers"] == 1 and got.adaptation["layers"] == 2
    for key, value in _lora(start_tensors, 1).items():  # the start's adapters, kept
        np.testing.assert_allclose(_lora(tensors, 1)[key], value, atol=1e-6)
    fresh = _lora(tensors, 0)  # new adapters on the lower layer, still zero in effect
    assert fresh.keys() == _lora(start_tensors, 1).keys()
    assert all(np.abs(v).max() < 1e-9 for k, v in fresh.items() if k.endswith("lora_B"))
