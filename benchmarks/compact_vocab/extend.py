"""Extend the shipped keep-list with the pieces of the corpus's train and dev notes.

The full build (:mod:`.build`) reads Debian packages for its other sources; when only the
corpus grows (corpus v2 added e-mails, HTML, minutes and code-switched notes by 25 new
writers), this adds every piece of the new train and dev notes (whole texts, and their
words in the same variants as the build: as written, lower-cased, Capitalised, the other
Romanian s/t form, and without diacritics) to the existing list, and checks that every
train and dev note tokenizes exactly as with the full vocabulary. Never the test split.

    python -m benchmarks.compact_vocab.extend
"""

from __future__ import annotations

import json
import re
import sys

import numpy as np
from tokenizers import Tokenizer

from benchmarks.compact_vocab.build import OUTPUT, corpus_notes, piece_counts, word_variants
from salesnlp.encoder import compact_vocab as cv
from salesnlp.encoder.base import build_base


def main() -> int:
    spec = json.loads(OUTPUT.read_text(encoding="utf-8"))
    tokenizer_path = build_base() / "tokenizer.json"
    if spec["base_tokenizer_sha256"] != cv.tokenizer_sha256(tokenizer_path):
        raise SystemExit("the keep-list was built for another base tokenizer")
    tokenizer = Tokenizer.from_file(str(tokenizer_path))
    notes = corpus_notes(("train", "dev"))
    keep = set(spec["keep_ids"])
    before = len(keep)
    for lang in ("et", "fi", "uk", "ro", "nl"):
        texts = [n.text for n in notes if n.lang == lang]
        words, folded = word_variants(texts)
        used = (set(np.flatnonzero(piece_counts(tokenizer, words)).tolist())
                | set(np.flatnonzero(piece_counts(tokenizer, folded)).tolist())
                | cv.pieces_used(tokenizer, texts))
        added = used - keep
        keep |= used
        key = f"corpus-v2-train+dev:{lang}"
        spec["counts"][key] = spec["counts"].get(key, 0) + len(added)
        print(f"{lang}: {len(texts)} notes, {len(added)} pieces added", file=sys.stderr)
    ids = sorted(keep)
    base_json = json.loads(tokenizer_path.read_text(encoding="utf-8"))
    compact, old_ids = cv.compact_tokenizer(base_json, ids)
    compact_tok = Tokenizer.from_str(json.dumps(compact))
    old_ids = np.asarray(old_ids)
    for note in notes:  # the guarantee the shipped list gives its reference notes
        got = old_ids[compact_tok.encode(note.text).ids].tolist()
        if got != tokenizer.encode(note.text).ids:
            raise SystemExit(f"{note.id} tokenizes differently")
    spec["keep_ids"] = ids
    spec["n_pieces"] = len(ids)
    spec["description"] = (spec["description"].rstrip(".")
                           + "; extended with corpus v2 train+dev notes by "
                             "benchmarks/compact_vocab/extend.py.")
    text = json.dumps(spec, ensure_ascii=False, indent=1)
    text = re.sub(r'"keep_ids": \[[^\]]*\]',
                  lambda _: '"keep_ids": ' + json.dumps(ids, separators=(",", ":")), text)
    OUTPUT.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {OUTPUT}: {before:,} -> {len(ids):,} pieces", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
