"""``salesnlp demo``: classify a few test-split notes per language and show why."""

from __future__ import annotations

import random
import textwrap
import time
from pathlib import Path

from salesnlp.labels import LABELS, SUPPORTED_LANGUAGES

_FALLBACK_NOTES = {
    "et": "Küsisin, kes eelmise aasta hanke võitis. Vastus: \"see pole teie asi\".",
    "fi": "Kolmas palaveri, edelleen \"pitää miettiä\", ei päivämäärää.",
    "uk": "Надіслали КП на їхній запит, три листи і два дзвінки — тиша.",
    "ro": "Au ales alt furnizor din cauza termenului de livrare, ne-au mulțumit pentru ofertă.",
    "nl": "Hij zei alleen 'een groot internationaal bedrijf' toen ik vroeg wie hun training doet.",
}


def demo_notes(corpus: Path | None = None, per_language: int = 2, seed: int = 7) -> list:
    """Notes from the corpus test split (two per language), or built-in ones."""
    from salesnlp.corpus.notes import load_corpus

    corpus = corpus or Path(__file__).resolve().parents[2] / "corpus"
    if not corpus.is_dir():
        return [(lang, text, None) for lang, text in _FALLBACK_NOTES.items()]
    notes = load_corpus(corpus, split="test")
    rng = random.Random(seed)
    picked = []
    for lang in SUPPORTED_LANGUAGES:
        pool = [n for n in notes if n.lang == lang and len(n.text) < 400]
        labelled = [n for n in pool if n.labels]
        unlabelled = [n for n in pool if not n.labels]
        choice = rng.sample(labelled, 1) + rng.sample(unlabelled, per_language - 1)
        picked += [(n.lang, n.text, n.labels) for n in choice]
    return picked


def run_demo(model: str | None = None) -> None:
    """Load the shipped (or given) model and print language, labels, scores and evidence."""
    from salesnlp.inference.classifier import Classifier

    start = time.perf_counter()
    classifier = Classifier.load(model)
    print(f"Loaded {classifier.path} in {time.perf_counter() - start:.1f} s\n")
    notes = demo_notes()
    results = classifier.classify_many([text for _, text, _ in notes])
    for (_, text, gold), result in zip(notes, results, strict=True):
        print(textwrap.fill(text, 100, initial_indent="  > ", subsequent_indent="    "))
        scores = "  ".join(f"{label} {result.scores[label]:.2f}" for label in LABELS)
        print(f"  language: {result.language}   labels: {', '.join(result.labels) or 'none'}"
              + (f"   (annotated: {', '.join(gold) or 'none'})" if gold is not None else ""))
        print(f"  scores:   {scores}")
        for e in result.evidence:
            print(f"  evidence: [{e.label} {e.score:.2f}] chars {e.start}-{e.end}: {e.text!r}")
        print()
