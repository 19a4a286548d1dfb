"""How well does each splitter find the newest message of the corpus's e-mail threads?

For every v2 text of genre ``email`` the corpus records ``newest_span``, the body of
the top message. A splitter *finds the newest message* when the text it keeps as the
reply contains the start of that body (first 200 characters, whitespace folded) and
not much more (under 1.8 × its length + 200 characters). We also count the annotated
evidence spans the kept text still holds, and the threads whose history (the last 50
characters after the newest body) was removed.

    python -m benchmarks.email_split.run                     # train, dev (never test)
    python -m benchmarks.email_split.run --splits train dev

Peers are measured when installed (``pip install quotequail mail-parser-reply
email-reply-parser talon``); they are not dependencies of salesnlp. Writes
``benchmarks/email_split/results.md``.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from salesnlp.corpus.notes import Note, load_corpus
from salesnlp.prepare.email import BODY, segment_email

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]


def _fold(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@dataclass
class Score:
    name: str
    emails: int = 0
    newest_found: int = 0
    evidence_kept: int = 0
    evidence_total: int = 0
    history_removed: int = 0
    errors: int = 0
    seconds: float = 0.0

    def row(self) -> str:
        ms = 1000 * self.seconds / max(self.emails, 1)
        return (f"| {self.name} | {self.newest_found}/{self.emails} | "
                f"{self.evidence_kept}/{self.evidence_total} | "
                f"{self.history_removed}/{self.emails} | {self.errors} | {ms:.2f} |")


def measure(name: str, newest_of: Callable[[str], str], emails: list[Note]) -> Score:
    """Score one splitter (a function text -> the text it keeps as the newest message)."""
    score = Score(name, emails=len(emails))
    start = time.perf_counter()
    for note in emails:
        try:
            kept = _fold(newest_of(note.text) or "")
        except Exception:  # a peer that crashes keeps nothing found
            score.errors += 1
            kept = _fold(note.text)
        begin, end = note.extra["newest_span"]
        newest = _fold(note.text[begin:end])
        if newest[:200] in kept and len(kept) < 1.8 * len(newest) + 200:
            score.newest_found += 1
        for span in note.extra.get("evidence", []):
            score.evidence_total += 1
            score.evidence_kept += _fold(note.text[span["start"]:span["end"]]) in kept
        history = _fold(note.text[end:])
        if len(history) > 50 and history[-50:] not in kept:
            score.history_removed += 1
    score.seconds = time.perf_counter() - start
    return score


def salesnlp_newest(text: str) -> str:
    return "".join(text[s.start:s.end] for s in segment_email(text) if s.kind == BODY)


def peers() -> dict[str, Callable[[str], str]]:
    """The reply parsers that are installed, by name."""
    found: dict[str, Callable[[str], str]] = {}
    if importlib.util.find_spec("quotequail"):
        import quotequail

        found["quotequail"] = lambda t: "".join(p for shown, p in quotequail.quote(t) if shown)
    if importlib.util.find_spec("mailparser_reply"):
        from mailparser_reply import EmailReplyParser

        languages = ["en", "de", "nl", "fr", "it", "sv", "pl", "fi", "da", "cz"]
        found["mail-parser-reply"] = (
            lambda t: EmailReplyParser(languages=languages).read(t).latest_reply)
    if importlib.util.find_spec("email_reply_parser"):
        from email_reply_parser import EmailReplyParser as Erp

        found["email-reply-parser"] = Erp.parse_reply
    if importlib.util.find_spec("talon"):
        import talon
        from talon import quotations

        talon.init()
        found["talon"] = quotations.extract_from_plain
    return found


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", default=str(ROOT / "corpus"))
    parser.add_argument("--splits", nargs="+", default=["train", "dev"],
                        choices=["train", "dev", "test"])
    parser.add_argument("--out", default=str(HERE / "results.md"))
    args = parser.parse_args(argv)
    lines = ["# E-mail thread splitting: newest message found",
             "", "`python -m benchmarks.email_split.run --splits "
             + " ".join(args.splits) + "` (see the script's docstring for the criteria).",
             "", f"Load average at start: {os.getloadavg()[0]:.1f} (ms/mail are wall-clock).", ""]
    for split in args.splits:
        emails = [n for n in load_corpus(args.corpus, split=split)
                  if n.genre == "email" and "newest_span" in n.extra]
        splitters = {"salesnlp.prepare.email": salesnlp_newest, **peers()}
        lines += [f"## {split}: {len(emails)} threads", "",
                  "| splitter | newest found | evidence kept | history removed | errors"
                  " | ms/mail |",
                  "| --- | --- | --- | --- | --- | --- |"]
        lines += [measure(name, fn, emails).row() for name, fn in splitters.items()]
        lines.append("")
    Path(args.out).write_text("\n".join(lines), encoding="utf-8")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
