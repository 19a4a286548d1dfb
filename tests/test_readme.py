"""The README's examples are what the code gives: its ``>>>`` blocks run as doctests
against the shipped model, and the commands it names exist."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def python_blocks(text: str) -> list[str]:
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


@pytest.mark.slow
def test_the_readme_examples_give_the_outputs_it_shows():
    blocks = [b for b in python_blocks(README.read_text(encoding="utf-8")) if ">>>" in b]
    assert blocks, "the README has no doctested example"
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    globs: dict = {}
    for number, block in enumerate(blocks):
        runner.run(parser.get_doctest(block, globs, f"README block {number}", str(README), 0))
    failed, attempted = runner.summarize(verbose=False)
    assert attempted >= 5 and failed == 0


def test_the_make_targets_the_readme_names_exist():
    makefile = (README.parent / "Makefile").read_text(encoding="utf-8")
    named = set(re.findall(r"\bmake ([a-z]+)", README.read_text(encoding="utf-8")))
    targets = set(re.findall(r"^([a-z]+):", makefile, flags=re.M))
    assert named and named <= targets
