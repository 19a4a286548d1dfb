"""Measure the shipped compact vocabulary against the full base tokenizer.

* agreement on the corpus **test** notes (never used to build the keep-list), per language:
  notes tokenized identically (ids mapped back through ``old_ids``), tokens that differ, and
  the length ratio (compact tokens / full tokens);
* the same on a few English, Russian and odd texts (emoji, HTML, Chinese, German ...), with
  ``<unk>`` counts, to show the fallback;
* RSS and load time of a fresh Python process loading each ``tokenizer.json``, and of one
  that builds the compact tokenizer from the full ``tokenizer.json`` at load time.

Usage::

    python -m benchmarks.compact_vocab.measure          # writes results.json beside this file
"""

from __future__ import annotations

import os

os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import json  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

from benchmarks.compact_vocab.build import (  # noqa: E402
    agreement,
    base_tokenizer_path,
    by_language,
    corpus_notes,
)
from salesnlp.encoder import compact_vocab as cv  # noqa: E402

HERE = Path(__file__).resolve().parent

EXTRA: dict[str, list[str]] = {
    "en": [
        "Called the procurement manager, she said the budget is frozen until Q3.",
        "They asked for a 15% discount and 90-day payment terms, otherwise no deal.",
        "Follow-up meeting scheduled for next Tuesday, need to send the revised quote.",
        "Decision maker is on holiday; the assistant could not confirm anything.",
        "Competitor offered free shipping and a two-year warranty.",
    ],
    "ru": [
        "Позвонил закупщику, сказал что бюджет заморожен до осени.",
        "Попросили скидку 20% и отсрочку платежа на 60 дней.",
        "Встреча перенесена на четверг, директор в командировке.",
        "Не говорят, кто у них сейчас поставщик, уходят от ответа.",
        "Договорились созвониться после праздников, точной даты нет.",
    ],
    "odd": [
        "Super meeting 🎉🎉 👍 deal closed 🤝💰",
        "<p>Klient: <b>OÜ Tere</b><br/>Summa: 12 500 €</p> &nbsp; <a href=\"x\">link</a>",
        "客户说下周再联系我们，价格太高了。",
        "Der Einkäufer möchte nächste Woche ein überarbeitetes Angebot sehen.",
        "Ο πελάτης ζήτησε έκπτωση 10%.",
        "العميل طلب خصم إضافي",
        "#CRM-4471 → https://crm.example.com/deals/4471?tab=notes  (ref: PO-2024/117)",
        "ＦＵＬＬＷＩＤＴＨ ｔｅｘｔ and math: x² + y² ≤ 3½",
    ],
}

_RSS = r"""
def rss():
    d = {}
    for line in open("/proc/self/status"):
        k, _, v = line.partition(":")
        if k in ("VmRSS", "VmHWM"):
            d[k] = int(v.split()[0]) / 1024
    return d
"""

_PROBE = _RSS + r"""
import sys, time
import tokenizers
before = rss()["VmRSS"]
t = time.perf_counter()
tok = tokenizers.Tokenizer.from_file(sys.argv[1])
load = time.perf_counter() - t
tok.encode("warm up")
after = rss()
print(before, after["VmRSS"], after["VmHWM"], load)
"""


_PROBE_BUILD = _RSS + r"""
import json, sys, time
import tokenizers
from salesnlp.encoder.compact_vocab import compact_base_tokenizer
before = rss()["VmRSS"]
t = time.perf_counter()
new_json, old_ids = compact_base_tokenizer(sys.argv[1])
tok = tokenizers.Tokenizer.from_str(json.dumps(new_json))
del new_json
load = time.perf_counter() - t
tok.encode("warm up")
after = rss()
print(before, after["VmRSS"], after["VmHWM"], load)
"""


def probe(path: Path, repeats: int, script: str = _PROBE) -> dict[str, float]:
    """Median RSS (MB) and load time (s) of fresh processes loading ``path``."""
    rows = []
    for _ in range(repeats):
        out = subprocess.run([sys.executable, "-c", script, str(path)], check=True,
                             capture_output=True, text=True).stdout.split()
        rows.append([float(x) for x in out])
    cols = list(zip(*rows, strict=True))
    before, after, peak, load = (statistics.median(c) for c in cols)
    return {"rss_before_mb": round(before, 1), "rss_after_mb": round(after, 1),
            "rss_delta_mb": round(after - before, 1), "peak_rss_mb": round(peak, 1),
            "load_s": round(load, 3), "file_mb": round(path.stat().st_size / 2**20, 2)}


def odd_rows(full, compact, old_ids) -> list[dict]:
    rows = []
    unk_full, unk_compact = full.token_to_id("<unk>"), compact.token_to_id("<unk>")
    for group, texts in EXTRA.items():
        for text in texts:
            a = full.encode(text, add_special_tokens=False)
            b = compact.encode(text, add_special_tokens=False)
            rows.append({"group": group, "text": text, "full_tokens": len(a.ids),
                         "compact_tokens": len(b.ids),
                         "identical": old_ids[b.ids].tolist() == a.ids,
                         "unk_full": a.ids.count(unk_full), "unk_compact": b.ids.count(unk_compact),
                         "compact": b.tokens})
    return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)

    from tokenizers import Tokenizer

    path = base_tokenizer_path()
    spec = cv.load_keep_list()
    new_json, old_ids = cv.compact_base_tokenizer(path, spec)
    full = Tokenizer.from_file(str(path))
    with tempfile.TemporaryDirectory() as tmp:
        compact_path = Path(tmp) / "tokenizer.json"
        compact_path.write_text(json.dumps(new_json, ensure_ascii=False), encoding="utf-8")
        compact = Tokenizer.from_file(str(compact_path))
        memory = {"full": probe(path, args.repeats), "compact": probe(compact_path, args.repeats),
                  "compact_built_at_load": probe(path, args.repeats, _PROBE_BUILD)}

    test = by_language(full, compact, old_ids, corpus_notes(("test",)))
    extra = {g: agreement(full, compact, old_ids, t) for g, t in EXTRA.items()}
    hidden = 384  # e5-small
    result = {
        "n_pieces": len(old_ids), "base_vocab_size": full.get_vocab_size(),
        "test_split": test, "extra": extra, "extra_rows": odd_rows(full, compact, old_ids),
        "memory": memory,
        "embedding_int8_mb": {"full": round(full.get_vocab_size() * hidden / 2**20, 1),
                              "compact": round(len(old_ids) * hidden / 2**20, 1)},
    }
    text = json.dumps(result, ensure_ascii=False, indent=1)
    print(text)
    if not args.no_write:
        (HERE / "results.json").write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
