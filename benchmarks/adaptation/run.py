"""Learning curves of adapting the shipped model to writers it has never seen.

The notes of the corpus's test writers (the writer-held-out test split: one writer per
language, 100 notes each, none of them seen in training) are split per writer, for each
seed, into a labelling pool (60 per writer) and an evaluation set (the other 40). From
the pool, k notes are chosen either by ``salesnlp label suggest`` (uncertain first,
spread, a 10 % random share) or at random; the shipped model is adapted on them
(``salesnlp train --init-from``, 3 epochs, no dev split, so the shipped calibration and
thresholds are kept, with ``--replay-corpus corpus``: as many notes of the corpus's
train split replayed as there are new ones) and scored on the evaluation set. The
shipped model itself is the k = 0 point. Nothing here feeds back into the shipped model.

The recipe (learning rates, replay) is chosen with ``--writers dev``: the same protocol
on the dev writers, so that the test writers are only used to report.

    python -m benchmarks.adaptation.run                    # k = 25 50 100 200, 3 seeds
    python -m benchmarks.adaptation.run --sizes 25 --seeds 0   # one point
    python -m benchmarks.adaptation.run --writers dev --sizes 100 --seeds 0 \
        --lr-share 1 --replay-ratio 0                      # one recipe on the dev writers

Results go to ``benchmarks/adaptation/results.{json,md}`` (``recipes.{json,md}`` for the
dev writers); points already there are kept (a re-run resumes). Adapted models are
written under ``--work-dir`` (default: a temporary directory) and removed unless
``--keep``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from salesnlp.corpus.notes import Note, load_corpus
from salesnlp.evaluation.evaluate import score, select

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
POOL_PER_WRITER = 60
#: notes of a held-out language offered to label from (``--language``), per seed
LANGUAGE_POOL = 300
EPOCHS = 3
#: torch threads for training and scoring (1 lets another long job have the other core)
THREADS = int(os.environ.get("SALESNLP_BENCH_THREADS", "2"))


def pool_and_eval(test: list[Note], seed: int) -> tuple[list[Note], list[Note]]:
    """Per writer, ``POOL_PER_WRITER`` notes to label from and the rest to score on."""
    pool, held = [], []
    for writer in sorted({n.writer for n in test}):
        notes = sorted((n for n in test if n.writer == writer), key=lambda n: n.id)
        random.Random(f"{seed}-{writer}").shuffle(notes)
        pool += notes[:POOL_PER_WRITER]
        held += notes[POOL_PER_WRITER:]
    return pool, held


def choose(strategy: str, pool: list[Note], k: int, seed: int, classifier) -> list[Note]:
    if strategy == "random":
        return random.Random(seed).sample(pool, k)
    from salesnlp.labelling import suggest

    chosen = suggest([n.text for n in pool], classifier, k, seed=seed,
                     fields=[{"genre": n.genre} for n in pool])
    return [pool[s.position] for s in chosen]


def adapt(model: Path, chosen: list[Note], args, out: Path, seed: int) -> Path:
    """``salesnlp train --init-from MODEL`` on the chosen notes alone (no dev split: the
    shipped calibration and thresholds are kept), with the recipe of ``args``."""
    from salesnlp.training.config import learning_rates
    from salesnlp.training.trainer import TrainingConfig, train

    encoder_lr, head_lr = learning_rates(args.lr_share)
    config = TrainingConfig(init_from=str(model), epochs=EPOCHS, seed=seed, threads=THREADS,
                            learning_rate=encoder_lr, head_learning_rate=head_lr,
                            replay_corpus=str(args.replay), replay_ratio=args.replay_ratio)
    return train(None, out, config, progress=False, train_notes=chosen,
                 dev_notes=[]).model_dir


def scored(model, notes: list[Note]) -> dict:
    """Macro-F1 on ``notes``, overall and per writer (one prediction pass)."""
    import numpy as np

    import salesnlp
    from salesnlp.inference.calibration import decide

    classifier = salesnlp.load(model, precision="fp32")
    probs = classifier.predict_proba([n.text for n in notes])
    pred = decide(probs, classifier.thresholds, classifier.labels)
    writers = np.array([n.writer for n in notes])
    per_writer = {w: score([n for n in notes if n.writer == w], pred[writers == w],
                           probs[writers == w])["overall"]["macro_f1"]
                  for w in sorted(set(writers))}
    return {"macro_f1": score(notes, pred, probs)["overall"]["macro_f1"],
            "per_writer": per_writer}


def language_pool_and_eval(corpus: list[Note], language: str, seed: int):
    """A held-out language: a seeded sample of ``LANGUAGE_POOL`` of its train and dev notes
    to label from, and its whole test split to score on."""
    pool = sorted((n for n in corpus if n.lang == language and n.split != "test"),
                  key=lambda n: n.id)
    held = [n for n in corpus if n.lang == language and n.split == "test"]
    return random.Random(f"{seed}-{language}").sample(pool, LANGUAGE_POOL), held


def replay_file(corpus: list[Note], args, work: Path) -> Path:
    """The corpus's train split to replay from (without the held-out language's notes)."""
    if not args.language:
        return args.corpus
    from salesnlp.corpus.splitting import write_by_language

    directory = work / f"replay-without-{args.language}"
    write_by_language([n for n in corpus if n.split == "train" and n.lang != args.language],
                      directory)
    return directory


def target_notes(corpus: list[Note], writers: str) -> list[Note]:
    """The notes of the writers to adapt to: the writer-held-out test writers, or the dev
    writers (to choose the recipe without looking at the test writers)."""
    if writers == "dev":
        return [n for n in corpus if n.split == "dev"]
    return select([n for n in corpus if n.split == "test"], "heldout", corpus)


def run_point(key: str, args, model: Path, corpus: list[Note], results: dict, work: Path):
    import salesnlp

    strategy, k, seed = key.split("/")[-3:]
    if args.language:
        pool, held = language_pool_and_eval(corpus, args.language, int(seed))
    else:
        pool, held = pool_and_eval(target_notes(corpus, args.writers), int(seed))
    start = time.time()
    if strategy == "none":
        results[key] = scored(model, held)
    else:
        classifier = salesnlp.load(model, precision="fp32")
        chosen = choose(strategy, pool, int(k), int(seed), classifier)
        adapted = adapt(model, chosen, args, work / key.replace("/", "-"), int(seed))
        results[key] = scored(adapted, held)
        if not args.keep:
            shutil.rmtree(adapted, ignore_errors=True)
    results[key]["seconds"] = round(time.time() - start, 1)
    print(f"{key}: macro-F1 {results[key]['macro_f1']:.3f} ({results[key]['seconds']:.0f} s)",
          flush=True)


def markdown(results: dict, args, model: str) -> str:
    """The learning-curve table of every recipe in ``results``, one per recipe."""
    def cell(prefix: str, k: int) -> str:
        values = [results[f"{prefix}/{k}/{s}"]["macro_f1"] for s in args.seeds
                  if f"{prefix}/{k}/{s}" in results]
        if not values:
            return "–"
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        return f"{statistics.mean(values):.3f} ± {spread:.3f} (n={len(values)})"

    if args.language:
        title = f"a model trained without {args.language} to {args.language}"
        command = f"--language {args.language} --model {args.model}"
        protocol = (f"evaluation: the {args.language} test split; pool: {LANGUAGE_POOL} of "
                    f"its train/dev notes per seed; replayed: the train split without "
                    f"{args.language}")
    else:
        title = f"the shipped model to unseen writers ({args.writers} writers)"
        command = f"--writers {args.writers}"
        protocol = (f"evaluation: 40 notes per {args.writers} writer (200), pool: the "
                    f"other {POOL_PER_WRITER} per writer")
    lines = [f"# Adapting {title}", "",
             f"`python -m benchmarks.adaptation.run {command}`; model `{model}`; {protocol}; "
             f"mean ± sd over seeds {args.seeds}; macro-F1, fp32; calibration and thresholds "
             "kept from the starting model.", "",
             f"Not adapted (k = 0): {cell('none', 0)}", ""]
    if args.writers == "dev":
        lines += ["The shipped thresholds and calibration were fitted on these writers' notes "
                  "(the evaluation notes among them), which favours k = 0 here; the recipes "
                  "are compared with each other.", ""]
    for recipe in sorted({key.rsplit("/", 3)[0] for key in results} - {"none"}):
        lines += [f"Recipe `{recipe}` (learning rates × lr share; replayed corpus notes "
                  "per new note):", "",
                  "| labelled notes | chosen by `label suggest` | chosen at random |",
                  "| --- | --- | --- |"]
        lines += [f"| {k} | {cell(f'{recipe}/suggested', k)} | {cell(f'{recipe}/random', k)} |"
                  for k in sorted({int(key.split('/')[-2]) for key in results
                                   if key.startswith(recipe + "/")})]
        lines += ["", per_writer_table(results, recipe, args.seeds), ""]
    return "\n".join(lines)


def per_writer_table(results: dict, recipe: str, seeds: list[int]) -> str:
    """Macro-F1 per evaluated writer, mean over seeds, for every point of ``recipe``."""
    points = ["none/0"] + sorted({key.rsplit("/", 1)[0] for key in results
                                  if key.startswith(recipe + "/")},
                                 key=lambda p: (int(p.split("/")[-1]), p))
    writers = sorted({w for v in results.values() for w in v["per_writer"]})

    def mean(point: str, writer: str) -> str:
        values = [results[f"{point}/{s}"]["per_writer"][writer] for s in seeds
                  if f"{point}/{s}" in results]
        return f"{statistics.mean(values):.3f}" if values else "–"

    rows = ["| point | " + " | ".join(writers) + " |", "|---" * (len(writers) + 1) + "|"]
    rows += [f"| {point.removeprefix(recipe + '/')} | "
             + " | ".join(mean(point, w) for w in writers) + " |" for point in points]
    return "Per writer, mean over seeds:\n\n" + "\n".join(rows)


def main(argv: list[str] | None = None) -> None:
    from salesnlp.inference.model_dir import default_model_path
    from salesnlp.training.config import ADAPT_LR_SHARE

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    parser.add_argument("--writers", choices=["test", "dev"], default="test",
                        help="adapt to the held-out test writers, or to the dev writers "
                             "(where the recipe is chosen)")
    parser.add_argument("--language", default=None,
                        help="adapt a model trained without this language (e.g. lolo/"
                             "without-uk from `salesnlp evaluate --leave-one-language-out "
                             "--work-dir lolo`) to it; scored on its test split")
    parser.add_argument("--sizes", type=int, nargs="+", default=[25, 50, 100, 200])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--strategies", nargs="+", default=["suggested", "random"])
    parser.add_argument("--lr-share", type=float, default=ADAPT_LR_SHARE,
                        help="learning rates as a share of training from the base encoder")
    parser.add_argument("--replay-ratio", type=float, default=1.0,
                        help="corpus train notes replayed per new note (0: none)")
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--work-dir", type=Path, default=None)
    parser.add_argument("--keep", action="store_true", help="keep the adapted models")
    args = parser.parse_args(argv)
    import torch

    torch.set_num_threads(THREADS)
    model = args.model or default_model_path()
    corpus = load_corpus(args.corpus)
    stem = (f"language-{args.language}" if args.language else
            "results" if args.writers == "test" else "recipes")
    results_path = args.out / f"{stem}.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="salesnlp-adapt-"))
    work.mkdir(parents=True, exist_ok=True)
    args.replay = replay_file(corpus, args, work)
    recipe = f"lr{args.lr_share:g}-replay{args.replay_ratio:g}"
    keys = [f"none/0/{s}" for s in args.seeds] + [
        f"{recipe}/{strategy}/{k}/{s}" for k in args.sizes for s in args.seeds
        for strategy in args.strategies]
    for key in keys:
        if key not in results:
            run_point(key, args, model, corpus, results, work)
            results_path.write_text(json.dumps(results, indent=1) + "\n")
    (args.out / f"{stem}.md").write_text(markdown(results, args, Path(model).name),
                                         encoding="utf-8")
    print((args.out / f"{stem}.md").read_text())


if __name__ == "__main__":
    main()
