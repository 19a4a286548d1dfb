"""Training, saving, loading and classifying, on a tiny random encoder.

The tiny model (2 layers, hidden 32) goes through exactly the code path of the
real one: the same tokenizer, training loop, LoRA merge, calibration,
serialization, windowing and evidence.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from conftest import TINY_NOTES, scores_from_threads, tiny_notes

from salesnlp.encoder.tokenization import NoteTokenizer
from salesnlp.errors import ModelLoadError
from salesnlp.inference.classifier import Classifier
from salesnlp.inference.torch_model import pool_notes
from salesnlp.labels import LABELS
from salesnlp.results import Classification
from salesnlp.training.trainer import TrainingConfig, train

NOTES = TINY_NOTES
_notes = tiny_notes


@pytest.fixture(scope="module")
def classifier(tiny_model) -> Classifier:
    return Classifier.load(tiny_model, precision="fp32")


def test_model_directory_is_safetensors_and_json(tiny_model):
    names = {p.name for p in tiny_model.iterdir()}
    assert {"README.md", "config.json", "model.safetensors"} <= names
    assert names <= {"README.md", "config.json", "model.safetensors", "ngram.json",
                     "MANIFEST.json"}
    config = json.loads((tiny_model / "config.json").read_text())
    assert config["labels"] == list(LABELS)
    assert config["adaptation"]["method"] == "lora"
    assert set(config["thresholds"]) == set(LABELS)
    card = (tiny_model / "README.md").read_text()
    assert "Dev metrics" in card
    assert f"model_name: {tiny_model.name}\n" in card and ".partial" not in card


def test_training_is_reproducible(tiny_base, tiny_model, tmp_path):
    config = TrainingConfig(base_model=str(tiny_base), method="lora", train_layers=1, epochs=3,
                            batch_size=4, learning_rate=1e-2, head_learning_rate=1e-2,
                            prefix="passage: ")
    train("unused", tmp_path / "again", config, progress=False, train_notes=_notes("train"),
          dev_notes=_notes("dev"))
    from safetensors.torch import load_file

    first = load_file(tiny_model / "model.safetensors")
    second = load_file(tmp_path / "again" / "model.safetensors")
    assert first.keys() == second.keys()
    assert all(torch.allclose(first[k], second[k]) for k in first)


def test_saved_model_reproduces_in_process_dev_predictions(classifier, tiny_model):
    """LoRA merged at load time gives the same dev metrics training recorded."""
    from salesnlp.evaluation.metrics import label_matrix, multilabel_report

    dev = _notes("dev")
    probs = classifier.predict_proba([n.text for n in dev])
    pred = np.stack([probs[:, k] >= classifier.thresholds[lb] for k, lb in enumerate(LABELS)], 1)
    report = multilabel_report(label_matrix([n.labels for n in dev]), pred.astype(int))
    recorded = json.loads((tiny_model / "config.json").read_text())["training"]["dev"]
    assert report["macro_f1"] == pytest.approx(recorded["macro_f1"], abs=1e-6)


def test_result_type_scores_and_to_dict(classifier):
    result = classifier.classify("Ei öelnud, kes hanke võitis. Kolm kirja, vastust pole.")
    assert isinstance(result, Classification)
    assert set(result.scores) == set(LABELS)
    assert all(0.0 <= v <= 1.0 for v in result.scores.values())
    assert result.language == "et"
    data = json.loads(json.dumps(result.to_dict()))
    assert data["labels"] == list(result.labels)
    assert set(data["scores"]) == set(LABELS)


def test_thresholds_decide_labels(classifier):
    text = "Kolm kirja, kaks kõnet, vastust pole."
    scores = classifier.classify(text).scores
    saved = dict(classifier.thresholds)
    try:
        for label in LABELS:
            classifier.thresholds[label] = 0.0
        assert classifier.classify(text).labels == LABELS
        for label in LABELS:
            classifier.thresholds[label] = 1.01
        assert classifier.classify(text).labels == ()
        target = LABELS[1]
        classifier.thresholds[target] = scores[target] - 1e-6
        assert target in classifier.classify(text).labels
        classifier.thresholds[target] = scores[target] + 1e-6
        assert target not in classifier.classify(text).labels
    finally:
        classifier.thresholds.update(saved)


def test_evidence_spans_point_at_the_text(classifier):
    text = "  Hyvä palaveri.\nEi öelnud, kes hanke võitis!  Kolm kirja, vastust pole.\n- ok"
    saved = dict(classifier.thresholds)
    try:
        classifier.thresholds.update(dict.fromkeys(LABELS, 0.0))
        result = classifier.classify(text)
    finally:
        classifier.thresholds.update(saved)
    assert result.evidence
    assert {e.label for e in result.evidence} == set(LABELS)
    sentences = {"Hyvä palaveri.", "Ei öelnud, kes hanke võitis!", "Kolm kirja, vastust pole.",
                 "- ok"}
    for e in result.evidence:
        assert text[e.start : e.end] == e.text
        assert e.text in sentences
        assert 0.0 <= e.score <= 1.0


def test_evidence_spans_in_html_point_into_the_original(classifier):
    html = "<p>Hyvä palaveri.</p><p>Ei <b>öelnud</b>, kes hanke võitis &amp; miks.</p>"
    saved = dict(classifier.thresholds)
    try:
        classifier.thresholds.update(dict.fromkeys(LABELS, 0.0))
        result = classifier.classify(html)
    finally:
        classifier.thresholds.update(saved)
    spans = {html[e.start : e.end] for e in result.evidence}
    assert "Ei <b>öelnud</b>, kes hanke võitis &amp; miks." in spans
    assert all("<p>" not in e.text for e in result.evidence)


def test_long_note_is_windowed_not_truncated(classifier):
    sentence = "Kolm kirja, kaks kõnet, vastust pole ja pakkumine ootab ikka. "
    long_text = sentence * 150  # ≈ 2,500 tokens
    encoded = classifier.note_tokenizer.encode([long_text])[0]
    assert len(encoded.windows) >= 4
    assert all(len(w) <= 512 for w in encoded.windows)
    assert encoded.n_tokens == sum(len(w) - 2 - len(classifier.note_tokenizer.prefix_ids)
                                   for w in encoded.windows)
    result = classifier.classify(long_text)
    assert not result.truncated
    # the last sentence of the note can still be evidence: its tokens were read
    last = classifier.note_tokenizer.encode([long_text])[0].offsets[-1]
    assert max(off[1] for off in last if off) >= len(long_text.rstrip()) - 1


def test_pool_notes_averages_over_all_windows():
    states = torch.arange(2 * 3 * 2, dtype=torch.float32).reshape(2, 3, 2)
    mask = torch.tensor([[1, 1, 1], [1, 0, 0]])
    pooled = pool_notes(states, mask, torch.tensor([0, 0]), 1)
    expected = torch.cat([states[0], states[1, :1]]).mean(0)
    assert torch.allclose(pooled[0], expected)


def test_note_tokenizer_matches_plain_tokenization(classifier, base_model_and_tokenizer):
    _, tokenizer = base_model_and_tokenizer
    text = "  Директор вирішує, але номер не дав."
    ours = classifier.note_tokenizer.encode([text])[0].windows[0]
    assert ours == tokenizer("passage: " + text.strip())["input_ids"]


def test_classify_many_matches_classify_and_keeps_order(classifier):
    texts = [t for group in NOTES.values() for t in group] + ["", "🙂"]
    many = classifier.classify_many(texts, batch_size=3)
    assert [r.text for r in many] == texts
    for text, result in zip(texts, many, strict=True):
        single = classifier.classify(text)
        assert single.labels == result.labels
        assert all(abs(single.scores[k] - result.scores[k]) < 1e-4 for k in LABELS)


def test_thread_safety(classifier):
    texts = [t for group in NOTES.values() for t in group] * 3
    expected = [r.scores for r in classifier.classify_many(texts)]
    for scores in scores_from_threads(classifier.classify, texts):
        for got, want in zip(scores, expected, strict=True):
            assert all(abs(got[k] - want[k]) < 1e-4 for k in LABELS)


# --- odd input -----------------------------------------------------------------


@pytest.mark.parametrize("text", ["", "   \n\t "])
def test_empty_text_gives_neutral_result(classifier, text):
    result = classifier.classify(text)
    assert result.language == "und" and result.labels == () and result.evidence == ()
    assert result.scores == dict.fromkeys(LABELS, 0.0)


@pytest.mark.parametrize(("value", "message"), [(None, "not NoneType"), (b"tere", "decode"),
                                                 (42, "not int"), (["a"], "not list")])
def test_non_text_raises_type_error(classifier, value, message):
    with pytest.raises(TypeError, match=message):
        classifier.classify(value)


def test_classify_many_rejects_a_bare_string_and_bad_batch_size(classifier):
    with pytest.raises(TypeError, match="list of notes"):
        classifier.classify_many("one note")
    with pytest.raises(ValueError, match="batch_size"):
        classifier.classify_many(["x"], batch_size=0)


@pytest.mark.parametrize(
    "text",
    [
        "🙂🙂🙂 👍",
        "\x00\x01\x02 \ufffd \udcff".encode("utf-8", "surrogatepass").decode("utf-8", "replace"),
        "".join(chr(c) for c in range(0x20, 0x3000, 7)),
        "Перезвоните завтра, пожалуйста, сейчас неудобно.",
        "<html><body><script>alert(1)</script><p>Hallo &amp; tot ziens</p></body></html>",
        "https://example.com/offer?id=123 +372 5555 1234 2024-05-01",
    ],
)
def test_odd_text_never_crashes(classifier, text):
    result = classifier.classify(text)
    assert set(result.scores) == set(LABELS)
    assert all(np.isfinite(v) for v in result.scores.values())
    json.dumps(result.to_dict())


def test_megabyte_of_text_is_cut_and_flagged(classifier):
    text = ("Kolm kirja, vastust pole. " * 40_000)[:1_000_000]
    result = classifier.classify(text)
    assert result.truncated
    assert all(e.end <= 200_000 for e in result.evidence)


# --- corrupt or missing model ----------------------------------------------------


def test_missing_model_directory(tmp_path):
    with pytest.raises(ModelLoadError, match="does not exist"):
        Classifier.load(tmp_path / "nope")


@pytest.mark.parametrize("damage", ["truncate_weights", "garbage_weights", "no_weights",
                                    "bad_config", "wrong_format"])
def test_corrupt_model_gets_a_clear_error(tiny_model, tmp_path, damage):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    weights, config = broken / "model.safetensors", broken / "config.json"
    if damage == "truncate_weights":
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "garbage_weights":
        weights.write_bytes(b"\x00\xff" * 1000)
    elif damage == "no_weights":
        weights.unlink()
    elif damage == "bad_config":
        config.write_text("{not json")
    else:
        config.write_text(json.dumps({"salesnlp_format": 99}))
    with pytest.raises(ModelLoadError) as info:
        Classifier.load(broken)
    assert "What to do" in str(info.value)


def test_interrupted_training_leaves_previous_model_untouched(tiny_base, tiny_model, tmp_path,
                                                              monkeypatch):
    target = tmp_path / "model"
    shutil.copytree(tiny_model, target)
    before = (target / "model.safetensors").read_bytes()

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("salesnlp.inference.model_dir.save_model_dir", boom)
    config = TrainingConfig(base_model=str(tiny_base), train_layers=1, epochs=1, batch_size=8)
    with pytest.raises(KeyboardInterrupt):
        train("unused", target, config, progress=False, train_notes=_notes("train"),
              dev_notes=_notes("dev"))
    assert (target / "model.safetensors").read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


@pytest.mark.parametrize("method", ["top_layers", "head"])
def test_other_adaptation_methods_train_and_load(tiny_base, tmp_path, method):
    config = TrainingConfig(base_model=str(tiny_base), method=method, train_layers=1, epochs=1,
                            batch_size=8)
    result = train("unused", tmp_path / method, config, progress=False,
                   train_notes=_notes("train"), dev_notes=_notes("dev"))
    from safetensors.numpy import load_file

    from salesnlp.inference.model_dir import read_model_dir

    clf = Classifier.load(result.model_dir)
    assert clf.config.adaptation["method"] == method
    _, tensors = read_model_dir(result.model_dir)
    stored = sorted(k for k in tensors if k.startswith("encoder."))
    if method == "head":  # only the head is trained, so only the head is stored
        assert stored == []
    else:  # the top layer, trained: stored, and moved away from the base's weights
        assert stored and all(".layer.1." in k for k in stored)
        base = load_file(str(tiny_base / "model.safetensors"))
        key = next(k for k in stored if k.endswith("output.dense.weight"))
        original = next(v for k, v in base.items() if key.endswith(k.removeprefix("bert.")))
        assert np.abs(tensors[key] - original).max() > 1e-4
    probs = clf.predict_proba(["Ei öelnud.", "Kolm kirja, vastust pole."])
    assert probs.shape == (2, len(LABELS)) and ((probs >= 0) & (probs <= 1)).all()


def test_training_config_validates_arguments():
    with pytest.raises(ValueError, match="method"):
        TrainingConfig(method="full")
    with pytest.raises(ValueError, match="epochs"):
        TrainingConfig(epochs=0)


def test_note_tokenizer_window_capacity(classifier):
    tok: NoteTokenizer = classifier.note_tokenizer
    assert tok.window_capacity == 512 - 2 - len(tok.prefix_ids)


def test_ngram_blend_is_chosen_on_dev_and_applied(tiny_model, classifier):
    config = json.loads((tiny_model / "config.json").read_text())
    weight = config["ensemble"]["ngram_weight"]
    tried = config["ensemble"]["dev_macro_f1_by_weight"]
    assert 0.0 <= weight <= 0.5 and tried[f"{weight:.1f}"] == max(tried.values())
    assert classifier.ngram_weight == weight
    texts = ["Ei öelnud, kes hanke võitis.", "Hyvä palaveri."]
    blended = classifier.predict_proba(texts)
    from salesnlp.inference.calibration import apply_calibration, apply_final_calibration

    calibration = classifier.config.calibration
    assert "final" in calibration
    encoder_only = apply_calibration(classifier.predict_logits(texts), calibration, LABELS)
    if weight == 0.0:
        expected = encoder_only
    else:
        ngram = classifier.ngram.predict_proba(texts)
        expected = (1 - weight) * encoder_only + weight * ngram
    # one-sentence notes: the note is its own best sentence
    assert np.allclose(blended, apply_final_calibration(expected, calibration, LABELS),
                       atol=1e-6)


def test_save_pretrained_round_trips_and_the_config_reads_as_a_classifiers(tiny_model,
                                                                            tmp_path):
    import json

    from salesnlp.errors import ModelLoadError

    clf = Classifier.from_pretrained(tiny_model, precision="fp32")
    clf.thresholds[LABELS[0]] = 0.11  # a user's re-tuned threshold travels with the model
    saved = clf.save_pretrained(tmp_path / "copy")
    again = Classifier.from_pretrained(saved, precision="fp32")
    assert again.thresholds[LABELS[0]] == 0.11
    text = "Ei öelnud, kes hanke võitis."
    assert again.classify(text).scores == pytest.approx(clf.classify(text).scores, abs=1e-6)
    config = json.loads((saved / "config.json").read_text())
    assert config["id2label"] == {str(k): lb for k, lb in enumerate(LABELS)}
    assert config["problem_type"] == "multi_label_classification"
    card = (saved / "README.md").read_text()
    assert card.startswith("---\n") and "library_name: salesnlp" in card
    assert "pipeline_tag: text-classification" in card and "- uk" in card
    assert "model_name: copy\n" in card
    with pytest.raises(ModelLoadError, match="neither a model directory"):
        Classifier.from_pretrained("no-such-owner/no-such-model")  # no hub here


def test_training_continues_from_a_model(tiny_model, tiny_base, tmp_path):
    from salesnlp.inference.model_dir import read_model_dir

    config = TrainingConfig(init_from=str(tiny_model), epochs=1, batch_size=4,
                            learning_rate=1e-9, head_learning_rate=1e-9, prefix="passage: ")
    result = train("unused", tmp_path / "continued", config, progress=False,
                   train_notes=tiny_notes("train"), dev_notes=tiny_notes("dev"))
    before, after = read_model_dir(tiny_model)[1], read_model_dir(result.model_dir)[1]
    # a learning rate of ~0 leaves the continued weights where the first model left them
    for key in ("head.weight", *[k for k in before if ".lora_" in k][:4]):
        np.testing.assert_allclose(after[key], before[key], atol=1e-6)
    facts = read_model_dir(result.model_dir)[0]
    assert facts.adaptation == read_model_dir(tiny_model)[0].adaptation
    assert facts.training["config"]["init_from"] == str(tiny_model)


def write_corpus(directory, notes, split: str):
    """``notes`` as a corpus directory, all in ``split``."""
    from dataclasses import replace

    from salesnlp.corpus.splitting import write_by_language

    write_by_language([replace(n, split=split) for n in notes], directory)
    return directory


def test_adapting_without_dev_keeps_the_tuning_and_replays_old_notes(tiny_model, tmp_path):
    from salesnlp.inference.model_dir import read_model_dir

    mine = write_corpus(tmp_path / "mine", tiny_notes("test")[:6], "train")
    old = write_corpus(tmp_path / "old", tiny_notes("train"), "train")
    config = TrainingConfig(init_from=str(tiny_model), epochs=1, batch_size=4,
                            prefix="passage: ", replay_corpus=str(old), replay_ratio=2.0)
    result = train(mine, tmp_path / "adapted", config, progress=False)
    assert result.dev_metrics == {} and result.n_dev == 0
    assert result.n_train == 6 + 12  # two replayed notes per new note
    start, adapted = read_model_dir(tiny_model)[0], read_model_dir(result.model_dir)[0]
    assert adapted.thresholds == start.thresholds
    assert adapted.calibration == start.calibration and adapted.ensemble == start.ensemble
    recorded = adapted.training["config"]
    # continuing a model takes a fifth of the learning rates of training from the base
    assert recorded["learning_rate"] == pytest.approx(5e-4 * 0.2)
    assert recorded["head_learning_rate"] == pytest.approx(2e-3 * 0.2)
    probs = Classifier.load(result.model_dir, precision="fp32").predict_proba(["x", "y"])
    assert probs.shape == (2, len(LABELS)) and np.isfinite(probs).all()


def test_replayed_notes_are_a_seeded_sample_without_the_new_ones(tmp_path):
    from salesnlp.training.trainer import replayed

    old = write_corpus(tmp_path / "old", tiny_notes("train"), "train")
    new = tiny_notes("train")[:3]
    config = TrainingConfig(replay_corpus=str(old), replay_ratio=1.5, seed=3)
    sample = replayed(new, config)
    assert len(sample) == round(1.5 * 3)
    assert not {n.id for n in sample} & {n.id for n in new}
    assert [n.id for n in replayed(new, config)] == [n.id for n in sample]
    everything = replayed(new, TrainingConfig(replay_corpus=str(old), replay_ratio=1000.0))
    assert len(everything) == len(tiny_notes("train")) - 3
    with pytest.raises(ValueError, match="replay_ratio"):
        TrainingConfig(replay_ratio=-1.0)


def test_training_from_the_base_needs_a_dev_split(tmp_path):
    only_train = write_corpus(tmp_path / "c", tiny_notes("train"), "train")
    with pytest.raises(ValueError, match="dev split"):
        train(only_train, tmp_path / "m", TrainingConfig(), progress=False)


def test_adapting_records_the_forgetting_guard_and_logs_to_mlflow(tiny_model, tmp_path,
                                                                   monkeypatch):
    import json

    import mlflow

    from salesnlp.evaluation.evaluate import evaluate

    guard = tmp_path / "guard.jsonl"
    rows = [{**n.to_dict(), "split": "test", "writer": "g-w1"} for n in tiny_notes("test")]
    rows.append({**tiny_notes("train")[0].to_dict(), "writer": "g-v1"})
    guard.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    config = TrainingConfig(init_from=str(tiny_model), epochs=2, batch_size=4,
                            learning_rate=1e-2, head_learning_rate=1e-2, prefix="passage: ",
                            guard_corpus=str(guard), mlflow=True)
    result = train("unused", tmp_path / "adapted", config, progress=False,
                   train_notes=tiny_notes("train")[:8], dev_notes=tiny_notes("dev"))

    def heldout(model) -> float:
        report = evaluate(model, guard, "test", subset="heldout", precision="fp32")
        assert report["overall"]["n"] == len(rows) - 1
        return round(report["overall"]["macro_f1"], 4)

    assert result.forgetting == {"corpus": str(guard), "before": heldout(tiny_model),
                                 "after": heldout(result.model_dir),
                                 "change": pytest.approx(heldout(result.model_dir)
                                                         - heldout(tiny_model), abs=1e-4)}
    run = mlflow.search_runs(search_all_experiments=True, output_format="list")[0]
    assert run.data.metrics["dev.macro_f1"] == pytest.approx(result.dev_metrics["macro_f1"])
    assert run.data.metrics["n_train"] == 8
    assert run.data.params["init_from"] == str(tiny_model)
    logged = {a.path for a in mlflow.MlflowClient().list_artifacts(run.info.run_id, "model")}
    assert {"model/config.json", "model/model.safetensors"} <= logged


def test_mlflow_without_mlflow_installed_fails_before_training(monkeypatch, tmp_path):
    import importlib.util

    from salesnlp.training.records import MlflowUnavailable

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(MlflowUnavailable, match="salesnlp\\[mlflow\\]"):
        train("no-such-corpus", tmp_path / "m", TrainingConfig(mlflow=True), progress=False)


@pytest.mark.slow
def test_torchrun_with_two_processes_trains_the_same_model(tiny_base, tmp_path):
    """Two gloo processes, each reading half of every batch, take the steps one process
    takes: weights equal within 1e-4 (float sums in another order)."""
    import subprocess
    import sys
    import textwrap
    from pathlib import Path

    from salesnlp.inference.model_dir import read_model_dir

    script = tmp_path / "run.py"
    script.write_text(textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from conftest import tiny_notes
        from salesnlp.training.trainer import TrainingConfig, train
        config = TrainingConfig(base_model={str(tiny_base)!r}, train_layers=1, epochs=2,
            batch_size=4, learning_rate=1e-2, head_learning_rate=1e-2, prefix="passage: ",
            lora_dropout=0.0, head_dropout=0.0, encoder_dropout=0.0, ngram_weight_max=0.0,
            threads=1)
        train("unused", sys.argv[1], config, progress=False,
              train_notes=tiny_notes("train"), dev_notes=tiny_notes("dev"))
    """))
    single = subprocess.run([sys.executable, str(script), str(tmp_path / "one")],
                            capture_output=True, text=True, timeout=600)
    assert single.returncode == 0, single.stderr[-2000:]
    double = subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone",
                             "--nproc_per_node", "2", str(script), str(tmp_path / "two")],
                            capture_output=True, text=True, timeout=600)
    assert double.returncode == 0, double.stderr[-2000:]
    one, two = read_model_dir(tmp_path / "one")[1], read_model_dir(tmp_path / "two")[1]
    assert set(one) == set(two)
    for key in one:
        np.testing.assert_allclose(two[key], one[key], atol=1e-4, err_msg=key)


def test_retune_refits_dev_choices_on_other_notes_and_keeps_the_weights(tiny_model, tmp_path):
    from salesnlp.evaluation.metrics import expected_calibration_error, label_matrix
    from salesnlp.inference.model_dir import read_model_dir
    from salesnlp.training.tuning import retune

    dev = tmp_path / "mine.jsonl"
    notes = tiny_notes("dev") + tiny_notes("train")
    dev.write_text("".join(json.dumps({**n.to_dict(), "split": "dev"}) + "\n" for n in notes))
    metrics = retune(tiny_model, dev, tmp_path / "retuned")
    config, tensors = read_model_dir(tmp_path / "retuned")
    before, old_tensors = read_model_dir(tiny_model)
    assert config.training["retuned"]["n_dev"] == len(notes) == metrics["n"]
    assert set(config.calibration["final"]["slope"]) == set(LABELS)
    for key in ("head.weight", *[k for k in old_tensors if ".lora_" in k]):
        np.testing.assert_array_equal(tensors[key], old_tensors[key])
    retuned = Classifier.load(tmp_path / "retuned", precision="fp32")
    texts = [n.text for n in notes]
    probs = retuned.predict_proba(texts)
    y = label_matrix([n.labels for n in notes])
    without_final = Classifier.load(tmp_path / "retuned", precision="fp32")
    without_final.config.calibration.pop("final")
    assert expected_calibration_error(y, probs) <= expected_calibration_error(
        y, without_final.predict_proba(texts)) + 1e-9
    for result in retuned.classify_many(texts):  # a note scores at least its evidence
        assert all(e.score <= result.scores[e.label] + 1e-9 for e in result.evidence)


def test_leave_one_language_out_refuses_an_unknown_language_before_any_work():
    from salesnlp.evaluation.evaluate import leave_one_language_out

    with pytest.raises(ValueError, match=r"unknown languages \['xx'\]"):
        leave_one_language_out("no-such-corpus", languages=["et", "xx"])
