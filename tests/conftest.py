"""Shared fixtures. The real base encoder is built once per machine into the
normal cache (``$SALESNLP_HOME`` or ``~/.cache/salesnlp``) and reused."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def base_dir():
    from salesnlp.base_encoder import build_base

    return build_base()


@pytest.fixture(scope="session")
def base_model_and_tokenizer(base_dir):
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(base_dir).eval()
    tokenizer = AutoTokenizer.from_pretrained(base_dir)
    return model, tokenizer
