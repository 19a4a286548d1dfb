"""Check a writer's notes.jsonl: format, exact evidence quotes, tallies."""
import collections
import json
import sys

LABELS = {"partner_concealment", "evasive_stalling", "supplier_disrespect"}
GENRES = {"note", "phone", "code_switched", "email", "html", "minutes", "field_dump", "article"}
BOUNDARIES = {"competitor_named", "prices_confidential_names_given", "seller_did_not_ask",
              "clear_no_with_reason", "dated_postponement", "non_decider_connects",
              "fair_negotiation", "polite_rejection", "seller_rude", "other_hard", "plain"}


def main(path):
    errors, rows, ids = [], [], set()
    for n, line in enumerate(open(path, encoding="utf-8"), 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except json.JSONDecodeError as e:
            errors.append(f"line {n}: not JSON ({e})")
            continue
        where = f"line {n} ({r.get('id')})"
        for key in ("id", "lang", "writer", "genre", "text", "labels", "evidence", "boundary"):
            if key not in r:
                errors.append(f"{where}: missing key {key!r}")
        if r.get("id") in ids:
            errors.append(f"{where}: duplicate id")
        ids.add(r.get("id"))
        labels = r.get("labels", [])
        if not set(labels) <= LABELS or len(set(labels)) != len(labels):
            errors.append(f"{where}: bad labels {labels}")
        if r.get("genre") not in GENRES:
            errors.append(f"{where}: genre must be one of {sorted(GENRES)}")
        text = r.get("text", "")
        if not isinstance(text, str) or not text.strip():
            errors.append(f"{where}: empty text")
            continue
        ev = r.get("evidence", [])
        if labels and r.get("boundary") is not None:
            errors.append(f"{where}: labelled text must have boundary null")
        if not labels and r.get("boundary") not in BOUNDARIES:
            errors.append(f"{where}: label-less text needs a boundary from {sorted(BOUNDARIES)}")
        if not labels and ev:
            errors.append(f"{where}: evidence given but no labels")
        for lab in labels:
            if not any(e.get("label") == lab for e in ev):
                errors.append(f"{where}: no evidence for {lab}")
        for e in ev:
            if e.get("label") not in labels:
                errors.append(f"{where}: evidence for a label not in labels: {e.get('label')}")
            q = e.get("quote", "")
            if not q or q not in text:
                errors.append(f"{where}: quote is not an exact substring of text: {q[:60]!r}")
        if r.get("genre") == "email":
            nw = r.get("newest")
            if not nw or nw not in text:
                errors.append(f"{where}: email needs 'newest', an exact substring of text")
        words = len(text.split())
        if r.get("genre") == "minutes" and not 150 <= words <= 420:
            errors.append(f"{where}: minutes should have 150-400 words, has {words}")
        rows.append(r)
    for e in errors:
        print("ERROR", e)
    sets = collections.Counter("+".join(sorted(r["labels"])) or "none" for r in rows)
    print(f"\n{len(rows)} texts, {len(errors)} errors")
    print("label sets:", dict(sets))
    print("genres:", dict(collections.Counter(r["genre"] for r in rows)))
    print("boundaries:", dict(collections.Counter(r["boundary"] for r in rows if not r["labels"])))
    by_genre = collections.defaultdict(collections.Counter)
    for r in rows:
        by_genre[r["genre"]]["labelled" if r["labels"] else "none"] += 1
    print("genre x labelled/none:", {g: dict(c) for g, c in by_genre.items()})
    w = sorted(len(r["text"].split()) for r in rows)
    if w:
        print(f"words min/median/max: {w[0]}/{w[len(w) // 2]}/{w[-1]}")


if __name__ == "__main__":
    main(sys.argv[1])
