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


def demo_notes(corpus: Path | None = None, seed: int = 7) -> list:
    """Per language, from the test notes of writers the model never saw: one short note
    and one document (an e-mail thread, long minutes or an HTML body); built-in notes
    when the corpus is not at hand (an installed package)."""
    from salesnlp.corpus.notes import load_corpus
    from salesnlp.evaluation.evaluate import select

    corpus = corpus or Path(__file__).resolve().parents[2] / "corpus"
    if not corpus.is_dir():
        return [(lang, text, None) for lang, text in _FALLBACK_NOTES.items()]
    everything = load_corpus(corpus)
    notes = select([n for n in everything if n.split == "test"], "heldout", everything)
    rng = random.Random(seed)
    picked = []
    for lang in SUPPORTED_LANGUAGES:
        short = [n for n in notes if n.lang == lang and len(n.text) < 400]
        documents = [n for n in notes if n.lang == lang and n.labels
                     and n.genre in ("email", "minutes", "html")]
        for pool in (short, documents):
            if pool:
                note = rng.choice(pool)
                picked.append((note.lang, note.text, note.labels))
    return picked


def _shown(text: str, limit: int = 360) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else f"{flat[:limit]} … ({len(text)} characters)"


def run_demo(model: str | None = None) -> None:
    """Load the shipped (or given) model and print language, labels, scores and evidence."""
    from salesnlp.inference.classifier import Classifier

    start = time.perf_counter()
    classifier = Classifier.load(model)
    print(f"Loaded {classifier.path} in {time.perf_counter() - start:.1f} s\n")
    notes = demo_notes()
    start = time.perf_counter()
    results = classifier.classify_many([text for _, text, _ in notes])
    seconds = time.perf_counter() - start
    for (_, text, gold), result in zip(notes, results, strict=True):
        print(textwrap.fill(_shown(text), 100, initial_indent="  > ", subsequent_indent="    "))
        scores = "  ".join(f"{label} {result.scores[label]:.2f}" for label in LABELS)
        print(f"  language: {result.language}   labels: {', '.join(result.labels) or 'none'}"
              + (f"   (annotated: {', '.join(gold) or 'none'})" if gold is not None else ""))
        print(f"  scores:   {scores}")
        for e in result.evidence:
            print(f"  evidence: [{e.label} {e.score:.2f}] chars {e.start}-{e.end}: "
                  f"{_shown(e.text, 200)!r}")
        print()
    annotated = [(gold, r) for (_, _, gold), r in zip(notes, results, strict=True)
                 if gold is not None]
    if annotated:
        same = sum(tuple(gold) == r.labels for gold, r in annotated)
        print(f"{same} of {len(annotated)} label sets as annotated; {len(notes)} texts "
              f"classified in {seconds:.1f} s")
