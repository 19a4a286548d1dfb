"""Speed, memory and accuracy benchmark of salesnlp's inference paths.

Usage::

    python -m benchmarks.run            # full run, writes benchmarks/results.{json,md}
    python -m benchmarks.run --quick    # fewer repetitions, for checking the script

Every speed figure is measured in this run for three paths and given as a
ratio against the first:

- ``hf-fp32``: the reference, plain Hugging Face inference of the same
  fine-tuned model (``AutoModel`` forward, mean pooling, the head, Platt
  calibration, thresholds; padding to the batch's longest note, no sorting,
  no evidence, no language detection, notes cut at 512 tokens);
- ``fp32``: ``salesnlp.load(precision="fp32")``, the exact PyTorch path;
- ``int8``: ``salesnlp.load(precision="int8")``, the fast path
  (``precision="auto"``, the default, resolves to it when onnxruntime is
  installed).

Timed figures are medians; fresh-process figures (import time, first
classify, peak RSS, memory scaling) come from subprocesses. See
``benchmarks/README.md`` for what each figure means.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import platform
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
BUDGETS = {
    "import_s": 0.5,
    "first_classify_s": 5.0,
    "peak_rss_mb": 600.0,
    "throughput_notes_per_s": 200.0,
    "single_note_median_ms": 15.0,
    "detect_language_median_us": 100.0,
    "macro_f1_cost": 0.01,
}
BATCH_SIZES = (1, 8, 32, 128)
SCALING_WORDS = (50, 200, 1000, 5000)


# -- helpers -----------------------------------------------------------------------------

def _median(xs):
    return float(statistics.median(xs))


def _p95(xs):
    xs = sorted(xs)
    return float(xs[min(len(xs) - 1, int(round(0.95 * (len(xs) - 1))))])


def _subprocess(code: str, timeout: int = 600) -> dict:
    """Run ``code`` in a fresh interpreter; it prints one JSON object as its last line."""
    env = dict(os.environ)
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                         text=True, timeout=timeout, env=env, cwd=str(ROOT))
    if out.returncode != 0:
        raise RuntimeError(f"benchmark subprocess failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- the reference -------------------------------------------------------------------------

class HFReference:
    """Plain HF fp32 inference of the fine-tuned model: tokenizer(padding=True) → AutoModel
    → mean pooling → head → calibration (→ the model's n-gram blend, if it has one) →
    thresholds. No sorting, no windows, no evidence, no language detection."""

    def __init__(self, classifier) -> None:
        from transformers import AutoTokenizer

        from salesnlp.encoder.base import resolve_base

        self.encoder = classifier.model.encoder
        self.head = classifier.model.head
        self.config = classifier.config
        self.labels = classifier.labels
        self.ngram, self.ngram_weight = classifier.ngram, classifier.ngram_weight
        self.tokenizer = AutoTokenizer.from_pretrained(resolve_base(self.config.base_model))

    def logits(self, texts):
        import torch

        batch = self.tokenizer([self.config.prefix + t for t in texts], padding=True,
                               truncation=True, max_length=512, return_tensors="pt")
        with torch.inference_mode():
            states = self.encoder(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(states.dtype)
            return self.head((states * mask).sum(1) / mask.sum(1)).numpy()

    def predict(self, texts, batch_size: int = 32):
        """Label tuples, in input order, batches in input order."""
        import numpy as np

        from salesnlp.inference.calibration import apply_calibration

        out = []
        for a in range(0, len(texts), batch_size):
            chunk = texts[a : a + batch_size]
            probs = apply_calibration(self.logits(chunk), self.config.calibration, self.labels)
            if self.ngram is not None and self.ngram_weight:
                probs = (1 - self.ngram_weight) * probs + \
                    self.ngram_weight * self.ngram.predict_proba(chunk)
            for row in probs:
                out.append(tuple(lb for lb, p in zip(self.labels, row, strict=True)
                                 if p >= self.config.thresholds[lb]))
        return out if out else np.zeros(0)


# -- note sets -----------------------------------------------------------------------------

def note_sets(classifier, notes, seed: int = 0) -> dict[str, list[str]]:
    """Real notes by token count: short ~15, typical ~40, long ~300 (concatenated)."""
    import random

    rng = random.Random(seed)
    counts = [e.n_tokens for e in classifier.note_tokenizer.encode([n.text for n in notes])]
    short = [n.text for n, c in zip(notes, counts, strict=True) if 12 <= c <= 18]
    typical = [n.text for n, c in zip(notes, counts, strict=True) if 36 <= c <= 44]
    rng.shuffle(short)
    rng.shuffle(typical)
    by_lang: dict[str, list[tuple[str, int]]] = {}
    for n, c in zip(notes, counts, strict=True):
        by_lang.setdefault(n.lang, []).append((n.text, c))
    long = []
    langs = sorted(by_lang)
    for i in range(24):
        pool = by_lang[langs[i % len(langs)]]
        parts, total = [], 0
        while total < 290:
            text, c = pool[rng.randrange(len(pool))]
            if total + c > 320:
                continue
            parts.append(text)
            total += c + 1
        long.append("\n".join(parts))
    return {"short": short, "typical": typical, "long": long}


def document_sets(notes) -> dict[str, list[str]]:
    """The corpus's real documents: minutes of 250-350 words, e-mail threads of 4-6 messages
    (3 or more reply headers: the corpus's longest threads)."""
    from salesnlp.prepare.email import segment_email

    minutes = [n.text for n in notes
               if n.genre == "minutes" and 250 <= len(n.text.split()) <= 350]
    threads = [n.text for n in notes if n.genre == "email"
               and sum(s.kind == "header" for s in segment_email(n.text)) >= 3]
    return {"minutes_300_words": minutes[:24], "thread_4_to_6_messages": threads[:24]}


def words_note(notes, n_words: int, lang: str = "et") -> str:
    """A note of exactly ``n_words`` words, concatenated from real notes of one language."""
    words: list[str] = []
    pool = [n.text for n in notes if n.lang == lang]
    i = 0
    while len(words) < n_words:
        words.extend(pool[i % len(pool)].split())
        i += 1
    return " ".join(words[:n_words])


# -- in-process measurements ---------------------------------------------------------------

def latency(fn, texts, repeats: int, warm_up: int = 3) -> dict:
    for t in texts[:warm_up]:
        fn(t)
    times = []
    for _ in range(repeats):
        for t in texts:
            start = time.perf_counter_ns()
            fn(t)
            times.append(time.perf_counter_ns() - start)
    return {"median_ms": _median(times) / 1e6, "p95_ms": _p95(times) / 1e6, "n": len(times)}


def throughput(fn, texts, batch_size: int, repeats: int) -> dict:
    fn(texts[: max(batch_size, 8)], batch_size)  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(texts, batch_size)
        times.append(time.perf_counter() - start)
    best = min(times)
    return {"notes_per_s": len(texts) / _median(times), "best_notes_per_s": len(texts) / best,
            "n_notes": len(texts), "repeats": repeats}


def macro_f1(notes, predicted: list[tuple[str, ...]], labels) -> float:
    from salesnlp.evaluation.metrics import label_matrix, multilabel_report

    return multilabel_report(label_matrix([n.labels for n in notes], labels),
                             label_matrix(predicted, labels), labels=labels)["macro_f1"]


def detect_language_latency(texts, repeats: int) -> dict:
    from salesnlp.langid.detector import detect_language

    timed = latency(detect_language, texts, repeats, warm_up=20)
    return {"median_us": timed["median_ms"] * 1e3, "p95_us": timed["p95_ms"] * 1e3,
            "n": timed["n"]}


# -- fresh-process measurements --------------------------------------------------------------

# Peak RSS is VmHWM, the high-water mark of the process's own address space. It is what
# getrusage(RUSAGE_SELF).ru_maxrss reports, except that on Linux ru_maxrss also keeps the
# (copy-on-write) RSS of the parent the child was forked from, here the ~2 GB benchmark
# process, so the two agree only when the process grows past its parent.
_RSS = """
import resource
def rss_mb():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def ru_maxrss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
def current_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * resource.getpagesize() / 2**20
"""

_LOAD = {
    "hf-fp32": """
import numpy as np, torch
from salesnlp.inference.classifier import load_ngram
from salesnlp.inference.model_dir import default_model_path
from salesnlp.inference.model_dir import read_model_dir
from salesnlp.inference.torch_model import build_model
from salesnlp.inference.calibration import apply_calibration
config, tensors = read_model_dir(default_model_path())
model, tok = build_model(config, tensors)
ngram, weight = load_ngram(default_model_path(), config, tensors)
def classify_many(texts, batch_size):
    out = []
    for a in range(0, len(texts), batch_size):
        chunk = texts[a:a + batch_size]
        b = tok([config.prefix + t for t in chunk], padding=True,
                truncation=True, max_length=512, return_tensors="pt")
        with torch.inference_mode():
            s = model.encoder(**b).last_hidden_state
            m = b["attention_mask"].unsqueeze(-1).float()
            p = apply_calibration(model.head((s * m).sum(1) / m.sum(1)).numpy(),
                                  config.calibration, config.labels)
        if ngram is not None and weight:
            p = (1 - weight) * p + weight * ngram.predict_proba(chunk)
        out.extend(p)
    return out
classify = lambda text: classify_many([text], 1)[0]
""",
    "fp32": """
import salesnlp
clf = salesnlp.load(precision="fp32")
classify = clf.classify
classify_many = lambda texts, batch_size: clf.classify_many(texts, batch_size=batch_size)
""",
    "int8": """
import salesnlp
clf = salesnlp.load(precision="int8")
classify = clf.classify
classify_many = lambda texts, batch_size: clf.classify_many(texts, batch_size=batch_size)
""",
}


def import_time(repeats: int) -> dict:
    code = """
    import json, sys, time
    t = time.perf_counter()
    import salesnlp
    dt = time.perf_counter() - t
    heavy = [m for m in ("torch", "transformers", "spacy", "onnxruntime", "numpy")
             if m in sys.modules]
    print(json.dumps({"s": dt, "heavy": heavy}))
    """
    runs = [_subprocess(code) for _ in range(repeats)]
    return {"median_s": _median([r["s"] for r in runs]), "runs_s": [r["s"] for r in runs],
            "heavy_modules_imported": runs[-1]["heavy"]}


def first_classify(path: str, text: str, repeats: int) -> dict:
    """Seconds from before ``import salesnlp`` to the first result, base (and fast-path
    files) already cached."""
    if path == "auto":
        body = "import salesnlp\nr = salesnlp.classify(TEXT)\nprecision = " \
               "salesnlp.api.default_classifier().precision"
    elif path == "hf-fp32":
        body = _LOAD["hf-fp32"] + "\nr = classify(TEXT)\nprecision = 'fp32'"
    else:
        body = _LOAD[path] + "\nr = classify(TEXT)\nprecision = clf.precision"
    code = ("import json, time\n_t0 = time.perf_counter()\nTEXT = " + repr(text) + "\n"
            + body + "\nprint(json.dumps({'s': time.perf_counter() - _t0, "
                     "'precision': precision}))\n")
    runs = [_subprocess(code) for _ in range(repeats)]
    return {"median_s": _median([r["s"] for r in runs]), "runs_s": [r["s"] for r in runs],
            "precision": runs[-1]["precision"]}


def peak_rss(path: str, singles: list[str], batch: list[str]) -> dict:
    """Max RSS of a fresh process that loads ``path`` and serves classify calls."""
    code = (_RSS + _LOAD[path] + "\nimport json\nSINGLES = " + repr(singles)
            + "\nBATCH = " + repr(batch) + """
loaded = rss_mb()
for t in SINGLES:
    classify(t)
classify_many(BATCH, 32)
print(json.dumps({"peak_rss_mb": rss_mb(), "after_load_mb": loaded,
                  "ru_maxrss_mb": ru_maxrss_mb()}))
""")
    return _subprocess(code)


def memory_scaling(path: str, texts: dict[str, str], batches: dict[int, list[str]]) -> dict:
    """Seconds and peak RSS growth over the loaded, warmed-up process: one fresh process
    for note lengths and one for batch sizes, steps in ascending order (so the running
    maximum is that step's peak)."""
    head = _RSS + _LOAD[path] + """
import json, time
classify("Warm-up: küsisin, kes hanke võitis – ei öelnud.")
base = current_mb()
out = {}
"""
    lengths = head + "TEXTS = " + repr(texts) + """
for key, text in TEXTS.items():
    classify(text)  # the first call of a new length sets up buffers; time the second
    t = time.perf_counter(); classify(text); dt = time.perf_counter() - t
    out[key] = {"peak_growth_mb": rss_mb() - base, "s": dt}
print(json.dumps({"baseline_mb": base, "steps": out}))
"""
    sizes = head + "BATCHES = " + repr({str(k): v for k, v in batches.items()}) + """
for key, texts in BATCHES.items():
    classify_many(texts[:8], int(key))
    t = time.perf_counter(); classify_many(texts, int(key)); dt = time.perf_counter() - t
    out[key] = {"peak_growth_mb": rss_mb() - base, "s": dt, "n": len(texts)}
print(json.dumps({"baseline_mb": base, "steps": out}))
"""
    by_length, by_batch = _subprocess(lengths, timeout=1200), _subprocess(sizes, timeout=1200)
    return {"baseline_mb": by_length["baseline_mb"], "length": by_length["steps"],
            "batch": by_batch["steps"]}


# -- the run ---------------------------------------------------------------------------------

def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--out", type=Path, default=HERE, help="where results.* go")
    parser.add_argument("--no-candidates", action="store_true",
                        help="skip the candidate speed-ups that lost")
    parser.add_argument("--from-json", type=Path, default=None,
                        help="only rewrite results.md from an existing results.json")
    args = parser.parse_args(argv)
    if args.from_json:
        results = json.loads(args.from_json.read_text())
        (args.out / "results.md").write_text(markdown(results))
        return 0
    reps = 1 if args.quick else 3
    started = time.time()

    import numpy as np

    import salesnlp
    from salesnlp.inference.classifier import Classifier
    from salesnlp.inference.model_dir import default_model_path

    model_path = default_model_path()
    _log(f"model {model_path}")
    corpus = salesnlp.load_corpus(ROOT / "corpus")
    test = [n for n in corpus if n.split == "test"]
    results: dict = {"machine": _machine(), "model": _shown_path(model_path), "quick": args.quick}

    # Build (or check) the fast-path files first: their one-time cost is a figure too.
    t = time.perf_counter()
    int8 = Classifier.load(model_path, precision="int8")
    results["int8_load_s_this_process"] = time.perf_counter() - t
    meta = json.loads((int8.network.directory / "fastpath.json").read_text())
    results["int8_build_s"] = meta.get("build_seconds")
    results["int8_files"] = {p.name: p.stat().st_size for p in int8.network.directory.iterdir()}
    fp32 = Classifier.load(model_path, precision="fp32")
    ref = HFReference(fp32)
    sets = note_sets(fp32, corpus)
    results["sets"] = {k: {"n": len(v), "median_tokens": _median(
        [e.n_tokens for e in fp32.note_tokenizer.encode(v)])} for k, v in sets.items()}
    typical = sets["typical"][:128]
    paths = {
        "hf-fp32": (lambda t: ref.predict([t], 1), lambda ts, b: ref.predict(ts, b)),
        "fp32": (fp32.classify, lambda ts, b: fp32.classify_many(ts, batch_size=b)),
        "int8": (int8.classify, lambda ts, b: int8.classify_many(ts, batch_size=b)),
    }

    _log("accuracy on the test split")
    acc = {}
    labels_by_path = {}
    for name, (_, many) in paths.items():
        out = many([n.text for n in test], 32)
        labels_by_path[name] = [r.labels if hasattr(r, "labels") else r for r in out]
        acc[name] = {"macro_f1": macro_f1(test, labels_by_path[name], fp32.labels)}
    for name in paths:
        same = [a == b for a, b in zip(labels_by_path[name], labels_by_path["fp32"], strict=True)]
        acc[name]["label_agreement_with_fp32"] = float(np.mean(same))
        acc[name]["macro_f1_cost_vs_fp32"] = acc["fp32"]["macro_f1"] - acc[name]["macro_f1"]
    single = [int8.classify(n.text) for n in test[:64]]
    acc["int8"]["agreement_single_vs_batched"] = float(np.mean(
        [a.labels == b for a, b in zip(single, labels_by_path["int8"][:64], strict=True)]))
    results["accuracy"] = acc

    _log("single-note latency")
    lat = {}
    for name, (one, _) in paths.items():
        lat[name] = {}
        for kind, texts in sets.items():
            n = {"short": 48, "typical": 48, "long": 16}[kind]
            lat[name][kind] = latency(one, texts[:n], reps if kind != "long" else 1)
    results["latency"] = lat

    _log("documents: minutes of ~300 words, threads of 4-6 messages")
    results["documents"] = {
        name: {kind: latency(one, texts, 1) for kind, texts in document_sets(corpus).items()}
        for name, (one, _) in paths.items()}

    _log("classify_many throughput")
    thr = {name: {} for name in paths}
    for b in BATCH_SIZES:
        n_notes = 64 if b == 1 else len(typical)
        for name, (_, many) in paths.items():
            thr[name][str(b)] = throughput(many, typical[:n_notes], b, reps if b > 1 else 1)
    results["throughput"] = thr

    _log("detect_language")
    results["detect_language"] = detect_language_latency([n.text for n in test],
                                                         5 if not args.quick else 1)

    if not args.no_candidates:
        _log("candidates")
        results["candidates"] = candidates(fp32, int8, test, typical, reps)

    texts = {str(w): words_note(corpus, w) for w in SCALING_WORDS}
    results["scaling_tokens"] = {
        k: {"tokens": e.n_tokens, "windows": len(e.windows)}
        for k, e in zip(texts, fp32.note_tokenizer.encode(list(texts.values())), strict=True)}
    _log("fresh processes: import time")
    results["import"] = import_time(7 if not args.quick else 3)
    _log("fresh processes: first classify")
    note = sets["typical"][0]
    results["first_classify"] = {p: first_classify(p, note, reps)
                                 for p in ("auto", "int8", "fp32", "hf-fp32")}
    _log("fresh processes: peak RSS")
    results["peak_rss"] = {p: peak_rss(p, sets["typical"][:32], typical)
                           for p in ("int8", "fp32", "hf-fp32")}
    _log("fresh processes: scaling")
    batches = {b: typical[: max(b, 32)] for b in BATCH_SIZES}
    results["scaling"] = {p: memory_scaling(p, texts, batches) for p in ("int8", "fp32")}
    results["elapsed_s"] = time.time() - started
    results["machine"]["loadavg_end"] = os.getloadavg()
    results["budgets"] = budget_table(results)

    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=2) + "\n")  # first
    (args.out / "results.md").write_text(markdown(results))
    _log(f"done in {results['elapsed_s']:.0f} s; wrote {args.out / 'results.md'}")
    print(markdown(results))
    return 0


def candidates(fp32, int8, test, typical, reps: int) -> dict:
    """Speed-ups measured and not chosen (same batching, evidence and int8 embedding table as
    the fast path): torch dynamic int8, ORT fp32, ORT's per-batch dynamic int8, per-token
    asymmetric int8."""
    import copy
    import tempfile
    import warnings

    import onnx
    import torch

    from salesnlp.export import onnx as exporter
    from salesnlp.inference.classifier import Classifier
    from salesnlp.inference.encoder_weights import BertShape
    from salesnlp.inference.int8 import Int8Network
    from salesnlp.inference.torch_model import TorchNetwork

    out = {}

    def measure(name, network):
        # ONNX candidates read the fast path's (compact-vocabulary) embedding table, so they
        # take its tokenizer; the PyTorch one the full model's.
        source = int8 if isinstance(network, Int8Network) else fp32
        clf = Classifier(network, source.note_tokenizer, fp32.config, source.pad_id, fp32.path,
                         precision=name)
        clf.ngram, clf.ngram_weight = fp32.ngram, fp32.ngram_weight
        res = clf.classify_many([n.text for n in test], batch_size=32)
        f1 = macro_f1(test, [r.labels for r in res], fp32.labels)
        ref = fp32.classify_many([n.text for n in test], batch_size=32)
        agree = sum(a.labels == b.labels for a, b in zip(res, ref, strict=True)) / len(test)
        out[name] = {
            "macro_f1": f1, "label_agreement_with_fp32": agree,
            "throughput_b32": throughput(lambda ts, b: clf.classify_many(ts, batch_size=b),
                                         typical, 32, reps)["notes_per_s"],
            "single_typical_median_ms": latency(clf.classify, typical[:32], reps)["median_ms"],
        }
        _log(f"candidate {name}: {out[name]}")

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        q = copy.deepcopy(fp32.model)
        q.encoder = torch.ao.quantization.quantize_dynamic(q.encoder, {torch.nn.Linear},
                                                           dtype=torch.qint8)
    measure("torch-dynamic-int8", TorchNetwork(q))
    del q
    bert = fp32.model.encoder
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        state = {k: v.numpy() for k, v in bert.state_dict().items()}
        fused = exporter.encoder_graph(BertShape.of(bert.config.to_dict()), state)
        onnx.save(fused, tmp / "fused.onnx")
        head = (fp32.network.head_weight, fp32.network.head_bias)
        measure("ort-fp32", Int8Network(exporter.session(tmp / "fused.onnx"),
                                        int8.network.embedding, *head))
        _quantise_per_batch(tmp / "fused.onnx", tmp / "int8.onnx")
        measure("ort-int8-per-batch", Int8Network(exporter.session(tmp / "int8.onnx"),
                                                  int8.network.embedding, *head))
        exporter.quantise_per_token(fused, symmetric=False)
        onnx.save(fused, tmp / "asym.onnx")
        measure("ort-int8-per-token-asymmetric",
                Int8Network(exporter.session(tmp / "asym.onnx"), int8.network.embedding,
                            *head))
    return out


def _quantise_per_batch(src: Path, dst: Path) -> None:
    """ONNX Runtime's own dynamic quantisation: one activation scale per batch."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with _quiet_onnxruntime():
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8, per_channel=True,
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})


@contextlib.contextmanager
def _quiet_onnxruntime():
    """Silence the chatty loggers of ONNX Runtime's python tools for a while."""
    loggers = [logging.getLogger(), logging.getLogger("onnxruntime"),
               logging.getLogger("onnxruntime.transformers")]
    saved = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.ERROR)
    try:
        yield
    finally:
        for lg, level in zip(loggers, saved, strict=True):
            lg.setLevel(level)


def _machine() -> dict:
    import onnxruntime
    import torch
    import transformers

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "onnxruntime": onnxruntime.__version__,
            "loadavg_start": os.getloadavg(),
            "date": time.strftime("%Y-%m-%d %H:%M:%S %Z")}


def _shown_path(path: Path) -> str:
    """The model path as the report shows it: relative to the repository when inside it."""
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return Path(path).name


def budget_table(r: dict) -> list[dict]:
    """One row per budget: measured (default path), budget, pass, ratio vs hf-fp32."""
    def row(what, value, budget, higher_is_better, reference=None, unit=""):
        ok = value >= budget if higher_is_better else value <= budget
        if reference is None:
            ratio = None
        else:
            ratio = value / reference if higher_is_better else reference / value
        return {"what": what, "value": value, "budget": budget, "unit": unit, "pass": ok,
                "speedup_vs_hf_fp32": ratio}

    lat, thr = r["latency"], r["throughput"]
    return [
        row("import salesnlp", r["import"]["median_s"], BUDGETS["import_s"], False, unit="s"),
        row("first classify, fresh process (default path)",
            r["first_classify"]["auto"]["median_s"], BUDGETS["first_classify_s"], False,
            r["first_classify"]["hf-fp32"]["median_s"], "s"),
        row("peak RSS serving classify (int8)", r["peak_rss"]["int8"]["peak_rss_mb"],
            BUDGETS["peak_rss_mb"], False, r["peak_rss"]["hf-fp32"]["peak_rss_mb"], "MB"),
        row("classify_many, ~40-token notes, batch 32 (int8)",
            thr["int8"]["32"]["notes_per_s"], BUDGETS["throughput_notes_per_s"], True,
            thr["hf-fp32"]["32"]["notes_per_s"], "notes/s"),
        row("one classify, ~40-token note, median (int8)",
            lat["int8"]["typical"]["median_ms"], BUDGETS["single_note_median_ms"], False,
            lat["hf-fp32"]["typical"]["median_ms"], "ms"),
        row("detect_language, median", r["detect_language"]["median_us"],
            BUDGETS["detect_language_median_us"], False, unit="µs"),
        row("macro-F1 cost of int8 vs fp32", r["accuracy"]["int8"]["macro_f1_cost_vs_fp32"],
            BUDGETS["macro_f1_cost"], False),
    ]


def _fmt(x, digits=3):
    if x is None:
        return "–"
    if isinstance(x, bool):
        return "pass" if x else "**FAIL**"
    if isinstance(x, float):
        if abs(x) >= 100:
            return f"{x:,.0f}"
        return f"{x:.{digits}g}" if abs(x) < 1 else f"{x:.{digits}g}" if abs(x) < 10 \
            else f"{x:.1f}"
    return str(x)


def markdown(r: dict) -> str:
    m = r["machine"]
    busy = m["loadavg_start"][0] > 0.5
    shared = " (CPU shared with other jobs: figures are noisy)" if busy else ""
    lines = [
        "# salesnlp inference benchmark",
        "",
        f"`python -m benchmarks.run` on {m['cpu']}, {m['cores']} cores, {m['date']}; "
        f"torch {m['torch']}, onnxruntime {m['onnxruntime']}, transformers "
        f"{m['transformers']}; load average at start {m['loadavg_start'][0]:.2f}"
        f"{shared}."
        f" Model: `{r['model']}`. Took {r['elapsed_s'] / 60:.1f} min.",
        "",
        "Speed-ups are against `hf-fp32`, plain Hugging Face fp32 inference of the same "
        "fine-tuned model measured in this run (higher is better).",
        "",
        "## Budgets",
        "",
        "| what | measured | budget | pass | speed-up vs hf-fp32 |",
        "| --- | --- | --- | --- | --- |",
    ]
    for b in r["budgets"]:
        cmp = "≥" if "notes/s" in b["unit"] else "≤"
        lines.append(f"| {b['what']} | {_fmt(b['value'])} {b['unit']} | {cmp} "
                     f"{_fmt(b['budget'])} {b['unit']} | {_fmt(b['pass'])} | "
                     f"{_fmt(b['speedup_vs_hf_fp32']) + '×' if b['speedup_vs_hf_fp32'] else '–'}"
                     f" |")
    acc = r["accuracy"]
    lines += ["", "## Accuracy (corpus test split: writer-held-out and v1 test notes, 1,015 texts; "
              "classify_many batch 32)", "",
              "| path | macro-F1 | cost vs fp32 | labels identical to fp32 |",
              "| --- | --- | --- | --- |"]
    for name, a in acc.items():
        lines.append(f"| {name} | {a['macro_f1']:.4f} | {a['macro_f1_cost_vs_fp32']:+.4f} | "
                     f"{a['label_agreement_with_fp32']:.1%} |")
    if "agreement_single_vs_batched" in acc["int8"]:
        lines.append(f"\nint8: labels of `classify(note)` equal to the batched ones for "
                     f"{acc['int8']['agreement_single_vs_batched']:.1%} of 64 notes "
                     f"(activations are quantised per token, so batch mates do not matter).")
    lat = r["latency"]
    lines += ["", "## One note (`classify`), latency in ms", "",
              "| path | short median | short p95 | typical median | typical p95 | long median "
              "| long p95 | typical speed-up |",
              "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for name, v in lat.items():
        sp = lat["hf-fp32"]["typical"]["median_ms"] / v["typical"]["median_ms"]
        cells = [f"{v[k]['median_ms']:.1f} | {v[k]['p95_ms']:.1f}"
                 for k in ("short", "typical", "long")]
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {sp:.2f}× |")
    s = r["sets"]
    lines.append(f"\nSets (median tokens): short {s['short']['median_tokens']:.0f}, typical "
                 f"{s['typical']['median_tokens']:.0f}, long {s['long']['median_tokens']:.0f} "
                 f"(long = real notes of one language concatenated).")
    thr = r["throughput"]
    lines += ["", "## `classify_many` throughput, ~40-token notes (notes/s)", "",
              "| path | " + " | ".join(f"batch {b}" for b in BATCH_SIZES) + " |",
              "| --- |" + " --- |" * len(BATCH_SIZES)]
    for name, v in thr.items():
        lines.append(f"| {name} | " + " | ".join(
            f"{v[str(b)]['notes_per_s']:.1f} ({v[str(b)]['notes_per_s'] / thr['hf-fp32'][str(b)]['notes_per_s']:.2f}×)"  # noqa: E501
            for b in BATCH_SIZES) + " |")
    fc = r["first_classify"]
    lines += ["", "## Fresh processes", "",
              f"- `import salesnlp`: median {r['import']['median_s']:.3f} s over "
              f"{len(r['import']['runs_s'])} runs; heavy modules imported: "
              f"{', '.join(r['import']['heavy_modules_imported']) or 'none'}.",
              "- first `classify` (from before `import salesnlp` to the first result, base and "
              "fast-path files cached), median s: " + ", ".join(
                  f"{k} {v['median_s']:.2f}" for k, v in fc.items())
              + f" (`auto` resolved to {fc['auto']['precision']}).",
              f"- one-time build of the int8 files: {_fmt(r.get('int8_build_s'))} s "
              f"(sizes: {', '.join(f'{k} {v / 2**20:.1f} MB' for k, v in r['int8_files'].items() if v > 2**20)}).",  # noqa: E501
              "- peak RSS (load, 32 single calls, classify_many of 128 notes): " + ", ".join(
                  f"{k} {v['peak_rss_mb']:.0f} MB (after load {v['after_load_mb']:.0f})"
                  for k, v in r["peak_rss"].items()) + ".",
              f"- `detect_language`: median {r['detect_language']['median_us']:.1f} µs, "
              f"p95 {r['detect_language']['p95_us']:.1f} µs per text."]
    if "documents" in r:
        docs = r["documents"]
        kinds = list(next(iter(docs.values())))
        lines += ["", "## Real documents (one `classify` each, median / p95 ms)", "",
                  "| path | " + " | ".join(kinds) + " |", "| --- |" + " --- |" * len(kinds)]
        lines += [f"| {p} | " + " | ".join(
            f"{docs[p][k]['median_ms']:.1f} / {docs[p][k]['p95_ms']:.1f} (n={docs[p][k]['n']})"
            for k in kinds) + " |" for p in docs]
    sc = r["scaling"]
    lines += ["", "## Scaling with note length (one `classify`, windows of 512 tokens)", "",
              "| words | tokens | windows | " + " | ".join(
                  f"{p} s | {p} peak +MB" for p in sc) + " |",
              "| --- | --- | --- |" + " --- | --- |" * len(sc)]
    for w in SCALING_WORDS:
        tk = r["scaling_tokens"][str(w)]
        lines.append(f"| {w} | {tk['tokens']} | {tk['windows']} | " + " | ".join(
            f"{sc[p]['length'][str(w)]['s']:.3f} | {sc[p]['length'][str(w)]['peak_growth_mb']:.0f}"
            for p in sc) + " |")
    lines += ["", "## Scaling with batch size (`classify_many` of max(b, 32) notes, fresh "
              "process)", "",
              "| batch | " + " | ".join(f"{p} notes/s | {p} peak +MB" for p in sc) + " |",
              "| --- |" + " --- | --- |" * len(sc)]
    for b in BATCH_SIZES:
        n = max(b, 32)
        cells = [f"{n / sc[p]['batch'][str(b)]['s']:.1f} | "
                 f"{sc[p]['batch'][str(b)]['peak_growth_mb']:.0f}" for p in sc]
        lines.append(f"| {b} | " + " | ".join(cells) + " |")
    lines.append("\nPeak growth is the peak RSS over the process's RSS after loading and one "
                 "warm-up call; steps run in ascending order in one process per path and table.")
    if "candidates" in r:
        lines += ["", "## Candidates measured and not chosen", "",
                  "| candidate | macro-F1 | labels = fp32 | batch-32 notes/s | one note ms |",
                  "| --- | --- | --- | --- | --- |"]
        for name, c in r["candidates"].items():
            lines.append(f"| {name} | {c['macro_f1']:.4f} | {c['label_agreement_with_fp32']:.1%}"
                         f" | {c['throughput_b32']:.1f} | {c['single_typical_median_ms']:.1f} |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
