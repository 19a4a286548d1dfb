"""Shared fixtures. The real base encoder is built once per machine into the
normal cache (``$SALESNLP_HOME`` or ``~/.cache/salesnlp``) and reused."""

from __future__ import annotations

import ast
import subprocess
import sys
import threading

import pytest

HEAVY_MODULES = ("torch", "spacy", "sklearn", "scipy", "transformers")
# What the train and spacy extras install (with their own dependencies' top-level names)
TRAIN_AND_SPACY = ("torch", "functorch", "torchgen", "triton", "peft", "sklearn",
                   "scikit_learn", "scipy", "spacy", "thinc")


def heavy_modules_imported_by(code: str) -> list[str]:
    """Run ``code`` in a fresh interpreter; which of :data:`HEAVY_MODULES` it imported."""
    probe = f"{code}\nimport sys; print(sorted(m for m in {HEAVY_MODULES!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                         check=True).stdout.strip().splitlines()
    return ast.literal_eval(out[-1])


def run_without(packages: tuple[str, ...], directory, code: str, *, source=None, **env: str
                ) -> subprocess.CompletedProcess:
    """Run ``code`` in a fresh interpreter that sees this environment's packages except
    ``packages`` (top-level names and dist-info, by prefix), as on a host where they were
    never installed; salesnlp comes from ``source`` (default ``src/``). ``directory``
    receives the view."""
    import os
    import sysconfig
    from pathlib import Path

    import salesnlp

    site = Path(sysconfig.get_paths()["purelib"])
    directory.mkdir(parents=True, exist_ok=True)
    for entry in site.iterdir():
        if not entry.name.lower().startswith((*packages, "salesnlp")) and \
                entry.suffix != ".pth":
            (directory / entry.name).symlink_to(entry)
    src = source or Path(salesnlp.__file__).resolve().parents[1]
    # -S: no site-packages and no .pth files; the path is exactly src and the view
    preamble = f"import sys; sys.path[:0] = [{str(src)!r}, {str(directory)!r}]\n"
    return subprocess.run([sys.executable, "-S", "-c", preamble + code], capture_output=True,
                          text=True, env={**os.environ, **env})


def scores_from_threads(classify, texts: list[str], n_threads: int = 6) -> list[list[dict]]:
    """Each of ``n_threads`` threads classifies all ``texts`` at once; their score dicts.
    The first error raised in a thread is raised here."""
    results: dict[int, list] = {}
    errors: list[BaseException] = []

    def work(worker: int) -> None:
        try:
            results[worker] = [classify(t).scores for t in texts]
        except BaseException as exc:  # noqa: BLE001 - re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]
    return [results[i] for i in range(n_threads)]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Everything that needs the real base encoder (directly or through the tiny model
    trained on it) is ``slow``, so ``pytest -m "not slow"`` is the quick loop."""
    for item in items:
        if "base_dir" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.slow)


@pytest.fixture(scope="session")
def base_dir():
    from salesnlp.encoder.base import build_base

    return build_base()


@pytest.fixture(scope="session")
def base_model_and_tokenizer(base_dir):
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(base_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    return model, tokenizer


# --- a tiny random model, trained once per session ---------------------------------
# A 2-layer, hidden-32 BERT with the real e5 tokenizer, fine-tuned for a few steps on
# the notes below. It goes through the real code path (training, LoRA merge,
# calibration, serialization, windowing, evidence) in seconds. Tests of the CLI, the
# pandas and spaCy integrations point at it (``SALESNLP_MODEL`` for subprocesses).

TINY_NOTES = {
    "partner_concealment": [
        "Asked who won last year's tender; she would not say.",
        "Ei öelnud, kes hanke võitis.",
        "Не сказав, хто виграв тендер.",
        "Wilde niet zeggen wie de leverancier is.",
    ],
    "supplier_disrespect": [
        "No reply to three e-mails and two calls after they asked for the offer.",
        "Kolm kirja, kaks kõnet, vastust pole.",
        "Meeting cancelled ten minutes before, for the third time.",
        "Ze vroegen 40% korting en 120 dagen betaaltermijn.",
    ],
    "evasive_stalling": [
        "Third meeting, still 'we need to think about it', no date.",
        "Katsotaan syksyllä, ei päivämäärää.",
        "Подивимось після літа, може.",
        "Vedem după vară, nu știu.",
    ],
    "": [
        "They use Acme, contract ends in May.",
        "Board meets 12 March, we present then.",
        "Hyvä palaveri, seuraava askel sovittu.",
        "Am semnat contractul, livrare marți.",
    ],
}


def tiny_notes(split: str):
    """The tiny training (or dev) set as :class:`~salesnlp.corpus.notes.Note` records."""
    from salesnlp.corpus.notes import Note

    out = []
    for label, texts in TINY_NOTES.items():
        for i, text in enumerate(texts):
            out.append(Note(f"{split}-{label}-{i}", "und", text, (label,) if label else (), split))
    return out


@pytest.fixture(scope="session")
def tiny_base(base_dir, tmp_path_factory):
    """A randomly initialised 2-layer BERT with the real e5 tokenizer."""
    import json
    import shutil

    import torch
    from transformers import BertConfig, BertModel

    directory = tmp_path_factory.mktemp("tiny-base")
    real = json.loads((base_dir / "config.json").read_text())
    config = BertConfig(vocab_size=real["vocab_size"], hidden_size=32, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=64,
                        max_position_embeddings=512, pad_token_id=1)
    torch.manual_seed(0)
    BertModel(config).save_pretrained(directory)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        if (base_dir / name).exists():
            shutil.copy(base_dir / name, directory / name)
    return directory


@pytest.fixture(scope="session")
def tiny_model(tiny_base, tmp_path_factory):
    """A salesnlp model directory fine-tuned from ``tiny_base`` on ``TINY_NOTES``."""
    from salesnlp.training.trainer import TrainingConfig, train

    out = tmp_path_factory.mktemp("models") / "tiny"
    config = TrainingConfig(base_model=str(tiny_base), method="lora", train_layers=1, epochs=3,
                            batch_size=4, learning_rate=1e-2, head_learning_rate=1e-2,
                            prefix="passage: ")
    result = train("unused", out, config, progress=False, train_notes=tiny_notes("train"),
                   dev_notes=tiny_notes("dev"))
    assert result.model_dir == out
    return out


@pytest.fixture(scope="session")
def tiny_int8_root(tiny_model, tmp_path_factory):
    """The tiny model's int8 files, built once per session into a cache root of their own."""
    from salesnlp.inference import int8 as fastpath
    from salesnlp.inference.classifier import Classifier

    root = tmp_path_factory.mktemp("int8") / "fastpath"
    real = fastpath.fastpath_root
    fastpath.fastpath_root = lambda cache_dir=None: root
    try:
        Classifier.load(tiny_model, precision="int8")
    finally:
        fastpath.fastpath_root = real
    return root


@pytest.fixture()
def built_int8_cache(tiny_int8_root, tmp_path, monkeypatch):
    """A private copy of the session's built int8 cache, for tests that read or damage it
    (a copy costs milliseconds, a build seconds)."""
    import shutil

    from salesnlp.inference import int8 as fastpath

    root = tmp_path / "fastpath"
    shutil.copytree(tiny_int8_root, root)
    monkeypatch.setattr(fastpath, "fastpath_root", lambda cache_dir=None: root)
    return root


# --- hypothesis: bounded in CI, long with ``make fuzz`` (HYPOTHESIS_PROFILE=long) ---------
try:
    import os

    from hypothesis import settings as _hypothesis_settings

    _hypothesis_settings.register_profile("ci", max_examples=40, deadline=None,
                                          derandomize=True, print_blob=True)
    _hypothesis_settings.register_profile(
        "long", max_examples=int(os.environ.get("SALESNLP_FUZZ_EXAMPLES", "2000")),
        deadline=None, print_blob=True)
    _hypothesis_settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
except ImportError:  # pragma: no cover - hypothesis is a dev dependency
    pass
