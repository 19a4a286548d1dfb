"""The wheel: what ``pip install salesnlp`` gets is a working classifier, shipped models
included, without the extras."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
from conftest import TRAIN_AND_SPACY, run_without

from salesnlp.inference.model_dir import shipped_model_names

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def unpacked_wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "--quiet", str(REPO), "-w", str(out)], check=True, capture_output=True)
    (wheel,) = out.glob("salesnlp-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(out / "unpacked")
    return out / "unpacked"


@pytest.mark.slow
def test_the_wheel_carries_every_shipped_model_byte_for_byte(unpacked_wheel):
    names = shipped_model_names()
    assert "salesnlp-e5-small-v2" in names
    for name in names:
        ours = sorted(p for p in (REPO / "models" / name).iterdir() if p.is_file())
        assert ours
        for path in ours:
            packed = unpacked_wheel / "salesnlp" / "models" / name / path.name
            assert packed.read_bytes() == path.read_bytes(), packed


@pytest.mark.slow
def test_the_installed_wheel_classifies_with_its_own_model_and_no_extras(
        unpacked_wheel, base_dir, tmp_path):
    home = tmp_path / "home"
    (home / "bases").mkdir(parents=True)
    (home / "bases" / base_dir.name).symlink_to(base_dir)  # built once per machine, not again
    code = ("import salesnlp\n"
            "r = salesnlp.classify('Küsisin, kes eelmise aasta hanke võitis. "
            "Vastus: \"see pole teie asi\".')\n"
            "print(salesnlp.__file__)\nprint(salesnlp.load().path)\nprint(*r.labels)\n")
    out = run_without(TRAIN_AND_SPACY, tmp_path / "site", code, source=unpacked_wheel,
                      SALESNLP_HOME=str(home))
    assert out.returncode == 0, out.stderr[-2000:]
    module, model, labels = out.stdout.strip().splitlines()[-3:]
    assert Path(module).is_relative_to(unpacked_wheel)
    assert Path(model) == unpacked_wheel / "salesnlp" / "models" / "salesnlp-e5-small-v2"
    assert labels == "partner_concealment"
