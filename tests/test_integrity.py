"""Files on disk: reproducible builds, identity by content, damaged files detected.

Every cached or shipped file is checked against a content checksum when it is
loaded: what can be rebuilt (the base encoder, the int8 files) is rebuilt, the
rest (a model directory) is refused with a coded error that says what to do.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from salesnlp.cache import MANIFEST, save_safetensors, tensor_digest
from salesnlp.errors import CacheError, ModelIntegrityError
from salesnlp.inference import int8 as fastpath
from salesnlp.inference.classifier import Classifier

TEXTS = ["Ei öelnud, kes hanke võitis. Kolm kirja, kaks kõnet, vastust pole.",
         "Katsotaan syksyllä, ei päivämäärää.", "Vedem după vară, nu știu."]


def _flip_byte(path: Path, where: float = 0.5) -> None:
    """Change one byte in place: the size stays the same."""
    data = bytearray(path.read_bytes())
    i = int(len(data) * where)
    data[i] = (data[i] + 1) % 256
    path.write_bytes(bytes(data))


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- reproducible bytes, identity by content ---------------------------------------------

SAVE_PROBE = """
import hashlib, sys
import numpy as np
from salesnlp.cache import save_safetensors
save_safetensors({"b": np.ones(3, np.float32), "a": np.arange(6, dtype=np.float32)}, sys.argv[1])
print(hashlib.sha256(open(sys.argv[1], "rb").read()).hexdigest())
"""


def test_safetensors_files_are_byte_identical_whatever_the_hash_seed(tmp_path):
    digests = set()
    for seed in range(6):
        env = dict(os.environ, PYTHONHASHSEED=str(seed))
        out = subprocess.run([sys.executable, "-c", SAVE_PROBE, str(tmp_path / f"{seed}.st")],
                             capture_output=True, text=True, env=env, check=True)
        digests.add(out.stdout.strip())
    assert len(digests) == 1


def test_tensor_digest_ignores_header_layout_but_not_values(tmp_path):
    from safetensors.numpy import save_file

    tensors = {"a": np.arange(6, dtype=np.float32), "b": np.ones((2, 2), np.float16)}
    save_safetensors(tensors, tmp_path / "one.st")
    save_file(tensors, str(tmp_path / "two.st"), metadata={"x": "1", "y": "2", "z": "3"})
    assert _sha256(tmp_path / "one.st") != _sha256(tmp_path / "two.st")
    assert tensor_digest(tmp_path / "one.st") == tensor_digest(tmp_path / "two.st")
    changed = dict(tensors, a=np.arange(6, dtype=np.float32) + 1)
    save_safetensors(changed, tmp_path / "three.st")
    assert tensor_digest(tmp_path / "three.st") != tensor_digest(tmp_path / "one.st")
    renamed = {"c": tensors["a"], "b": tensors["b"]}
    save_safetensors(renamed, tmp_path / "four.st")
    assert tensor_digest(tmp_path / "four.st") != tensor_digest(tmp_path / "one.st")


def test_base_manifest_records_the_content_digest(base_dir):
    manifest = json.loads((base_dir / MANIFEST).read_text())
    assert manifest["content_sha256"]["model.safetensors"] == tensor_digest(
        base_dir / "model.safetensors")


def test_a_base_with_the_same_tensors_in_another_file_layout_is_accepted(
        tmp_path, monkeypatch, base_dir):
    """The failure seen on first use: same tensors, other header bytes -> E030."""
    from safetensors.numpy import load_file, save_file

    from salesnlp.encoder import base as base_module

    home = tmp_path / "home"
    target = base_module.default_base_dir(home)
    shutil.copytree(base_dir, target)
    weights = target / "model.safetensors"
    save_file(load_file(str(weights)), str(weights), metadata={"format": "pt", "z": "other"})
    manifest = json.loads((target / MANIFEST).read_text())
    manifest["files"]["model.safetensors"] = {"bytes": weights.stat().st_size,
                                              "sha256": _sha256(weights)}
    (target / MANIFEST).write_text(json.dumps(manifest))
    monkeypatch.setenv("SALESNLP_HOME", str(home))
    base_module._verified.clear()
    clf = Classifier.load(precision="fp32")
    assert clf.classify(TEXTS[0]).scores


@pytest.mark.slow
def test_base_builds_are_byte_identical_across_processes(tmp_path):
    code = "from salesnlp.encoder.base import build_base; print(build_base())"
    files = []
    for seed in (1, 2):
        env = dict(os.environ, PYTHONHASHSEED=str(seed), SALESNLP_HOME=str(tmp_path / str(seed)))
        built = Path(subprocess.run([sys.executable, "-c", code], capture_output=True,
                                    text=True, env=env, check=True).stdout.strip())
        files.append({p.name: _sha256(p) for p in sorted(built.iterdir())})
    assert files[0] == files[1]


# -- damaged model directories are refused ---------------------------------------------

@pytest.mark.parametrize("name", ["model.safetensors", "config.json", "ngram.json"])
def test_same_size_damage_to_a_model_directory_is_refused(tmp_path, name):
    from salesnlp.inference.model_dir import default_model_path

    model = tmp_path / "model"
    shutil.copytree(default_model_path(), model)
    if not (model / name).is_file():
        pytest.skip(f"the shipped model has no {name}")
    # ``where`` inside the JSON's numbers / the tensors' data, not its syntax
    _flip_byte(model / name, where=0.9)
    with pytest.raises(ModelIntegrityError, match=name) as error:
        Classifier.load(model, precision="int8")
    assert error.value.code == "E031"
    assert "git checkout" in str(error.value) or "reinstall" in str(error.value)


# -- damaged int8 files are rebuilt ----------------------------------------------------------

@pytest.mark.parametrize("name", [fastpath.EMB_ROWS_FILE, fastpath.EMB_SCALES_FILE,
                                  fastpath.TOKENIZER_FILE, fastpath.META_FILE,
                                  fastpath.ONNX_FILE])
def test_same_size_damage_to_an_int8_file_is_rebuilt(tiny_model, built_int8_cache, name):
    clean = Classifier.load(tiny_model, precision="int8").classify_many(TEXTS)
    (entry,) = [p for p in built_int8_cache.iterdir() if p.is_dir()]
    if not (entry / name).is_file():
        pytest.skip(f"this entry has no {name}")
    _flip_byte(entry / name, where=0.7)
    again = Classifier.load(tiny_model, precision="int8").classify_many(TEXTS)
    assert [r.scores for r in again] == [r.scores for r in clean]
    assert fastpath.entry_is_sound(entry)


def test_unwritable_cache_falls_back_to_fp32_with_a_warning(tiny_model, tmp_path,
                                                            monkeypatch, caplog):
    blocker = tmp_path / "fastpath"
    blocker.write_text("a file where the cache directory should be")
    monkeypatch.setattr(fastpath, "fastpath_root", lambda cache_dir=None: blocker / "x")
    with caplog.at_level("WARNING"):
        clf = Classifier.load(tiny_model, precision="auto")
    assert clf.precision == "fp32"
    assert "SALESNLP_HOME" in caplog.text
    with pytest.raises(CacheError) as error:
        Classifier.load(tiny_model, precision="int8")
    assert error.value.code == "E020"
