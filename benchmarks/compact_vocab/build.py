"""Build the compact-vocabulary keep-list shipped in ``src/salesnlp/data/compact_vocab.json``.

Reference text (never the corpus test split):

* ``corpus``      - the train and dev notes of our corpus (et, fi, uk, ro, nl), whole texts;
* ``gettext``     - translated UI strings of 64 Debian packages and their English originals
  (:mod:`benchmarks.langid.sources`), et, fi, uk, ro, nl, en, ru and sv (Finnish notes mix in
  Finland-Swedish);
* ``thunderbird`` - Thunderbird's language packs (mail, calendar, address-book strings),
  et, fi, uk, ro, nl, ru;
* ``libreoffice`` - LibreOffice's translated UI catalogues (et, fi, uk, ro, nl, ru) and its
  translated help pages (et, fi, nl, ru: prose; partly untranslated English);
* ``freedict``    - the Finnish-English and English-Finnish FreeDict dictionaries (Finnish
  headwords, definitions and examples; Finnish has no hunspell dictionary in Debian);
* ``hunspell``    - hunspell dictionaries with every affixed form: et, uk, ro, ru and en
  expanded by hunspell's ``unmunch``; Dutch uses ``FLAG long``, which ``unmunch`` cannot read,
  so it is expanded by :func:`expand_affixes` here. (The Swedish one, ``sv_FI``, added 1,600
  pieces and nothing on the dev notes, so it is left out.)
* ``numbers``     - generated numbers, decimals, thousands, dates, times and percentages as
  notes write them (``62``, ``1.9``, ``250.000``, ``12.11.``, ``14:30``, ``15%``).

Every text is split into words; each word is also taken lower-cased and Capitalised, Romanian
words also with the other form of s/t-comma (``ș``/``ş``, ``ț``/``ţ``: both are in use), and
words of Latin script also without diacritics (``kõne`` -> ``kone``, ``știu`` -> ``stiu``:
sellers often type without them), counted apart as ``fold`` variants. A Unigram tokenizer segments
every word on its own (``Metaspace`` pre-tokenizer), so counting pieces over unique words gives
exactly the pieces of the texts' best segmentations.

Selection: the always-kept pieces
(:func:`salesnlp.encoder.compact_vocab.always_kept`), every piece of
the corpus notes, and per source every piece used by at least ``k`` distinct words of it
(``--k-text`` for text sources, ``--k-dict`` for dictionaries, ``--k-fold`` for diacritic-free
variants). ``--sweep`` measures size against agreement on the corpus *dev* notes with a keep-list
built without them (train notes only), to choose the thresholds without touching the test split.

Usage::

    python -m benchmarks.compact_vocab.build --sweep   # trade-off table on dev (writes nothing)
    python -m benchmarks.compact_vocab.build           # writes the keep-list

Downloads, unpacked packages and per-source piece counts are cached under
``$SALESNLP_LANGID_CACHE`` (default ``~/.cache/salesnlp-langid``).
"""

from __future__ import annotations

import os

# One tokenizer thread: the build is meant to run beside other work (override if you like).
os.environ.setdefault("RAYON_NUM_THREADS", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import argparse  # noqa: E402
import gzip  # noqa: E402
import json  # noqa: E402
import re  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import unicodedata  # noqa: E402
import zipfile  # noqa: E402
from collections.abc import Callable, Iterable, Iterator  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

from benchmarks.langid import sources  # noqa: E402
from salesnlp.encoder import compact_vocab as cv  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
OUTPUT = REPO / "src" / "salesnlp" / "data" / cv.KEEP_LIST_RESOURCE
CORPUS_LANGS = ("et", "fi", "uk", "ro", "nl")
#: Finnish notes mix in Finland-Swedish (see the corpus README and the train notes).
LANGS = (*CORPUS_LANGS, "en", "ru", "sv")
#: Bump when a reader or the word variants change (invalidates the cached counts).
COUNTS_VERSION = 2

#: lang -> (package, dictionary name, expand with unmunch (else with expand_affixes))
HUNSPELL: dict[str, tuple[str, str, bool]] = {
    "et": ("myspell-et", "et_EE", True),
    "uk": ("hunspell-uk", "uk_UA", True),
    "ro": ("hunspell-ro", "ro_RO", True),
    "nl": ("hunspell-nl", "nl", False),  # FLAG long: expanded by expand_affixes
    "ru": ("hunspell-ru", "ru_RU", True),
    "en": ("hunspell-en-us", "en_US", True),
}
THUNDERBIRD_LANGS = ("et", "fi", "uk", "ro", "nl", "ru")
LIBREOFFICE_L10N_LANGS = ("et", "fi", "uk", "ro", "nl", "ru")
LIBREOFFICE_HELP_LANGS = ("et", "fi", "nl", "ru")  # no Ukrainian or Romanian help in Debian
FREEDICT = ("dict-freedict-fin-eng", "dict-freedict-eng-fin")
EXTRA_PACKAGES: tuple[str, ...] = (
    *(p for p, _, _ in HUNSPELL.values()),
    "hunspell-tools",
    *FREEDICT,
    *(f"thunderbird-l10n-{lang}" for lang in THUNDERBIRD_LANGS),
    *(f"libreoffice-l10n-{lang}" for lang in LIBREOFFICE_L10N_LANGS),
    *(f"libreoffice-help-{lang}" for lang in LIBREOFFICE_HELP_LANGS),
)

#: Default thresholds (chosen with ``--sweep``, see README.md).
K_TEXT = 1
K_DICT = 1
K_FOLD = 1


@dataclass(frozen=True)
class Source:
    """One reference source: a name, a language, a kind and a reader of its texts."""

    name: str
    lang: str
    kind: str  # "text" or "dict"
    read: Callable[[], Iterable[str]]
    packages: tuple[str, ...] = ()

    @property
    def key(self) -> str:
        return f"{self.name}:{self.lang}"


# --- readers --------------------------------------------------------------------------------

def _x(package: str) -> Path:
    return Path(sources.cache_dir()) / "x" / package


def read_gettext(lang: str) -> list[str]:
    """All cleaned gettext strings of a language (every split of the langid sources)."""
    out: dict[str, None] = {}
    for split in sources.corpus().values():
        for text in split.get(lang, ()):
            out[text] = None
    return list(out)


_FTL = re.compile(r"^\s*(?:[A-Za-z][\w-]*|\.[\w-]+|\*?\[[^\]]*\])\s*=?\s*(.*)$")
_PROPERTIES = re.compile(r"^\s*[^#!\s][^=:]*[=:]\s*(.*)$")
_DTD = re.compile(r'<!ENTITY\s+[\w.-]+\s+"([^"]*)"\s*>')
_FTL_SYNTAX = re.compile(r"\{[^{}]*\}|^\s*[*]?\[[^\]]*\]\s*")


def read_thunderbird(lang: str) -> list[str]:
    """Cleaned strings of Thunderbird's language pack (``.ftl``, ``.properties``, ``.dtd``)."""
    out: dict[str, None] = {}
    for xpi in sorted(_x(f"thunderbird-l10n-{lang}").rglob("*.xpi")):
        with zipfile.ZipFile(xpi) as z:
            for name in sorted(z.namelist()):
                if not name.endswith((".ftl", ".properties", ".dtd")):
                    continue
                text = z.read(name).decode("utf-8", "replace")
                values: list[str] = []
                if name.endswith(".dtd"):
                    values = _DTD.findall(text)
                else:
                    pattern = _FTL if name.endswith(".ftl") else _PROPERTIES
                    for line in text.splitlines():
                        if line.lstrip().startswith("#"):
                            continue
                        m = pattern.match(line)
                        values.append(m.group(1) if m else line)
                for value in values:
                    value = sources.clean(_FTL_SYNTAX.sub(" ", value))
                    if sources.letters(value) >= 2:
                        out[value] = None
    return list(out)


_TAG = re.compile(r"(?s)<(script|style|head)\b.*?</\1>|<[^<>]*>")


def _libreoffice_packages(lang: str) -> tuple[str, ...]:
    out = [f"libreoffice-l10n-{lang}"] if lang in LIBREOFFICE_L10N_LANGS else []
    return (*out, *([f"libreoffice-help-{lang}"] if lang in LIBREOFFICE_HELP_LANGS else []))


def _libreoffice_fix(text: str) -> str:
    """Expand LibreOffice's product-name variables and drop its ``~`` mnemonics."""
    text = text.replace("%PRODUCTNAME", "LibreOffice").replace("%PRODUCTVERSION", "7.4")
    return re.sub(r"~(?=\w)", "", text)


def read_libreoffice(lang: str) -> list[str]:
    """LibreOffice's UI catalogues (``.mo``) and help pages (``.html``) of a language."""
    import html

    out: dict[str, None] = {}
    for package in _libreoffice_packages(lang):
        root = _x(package)
        for path in sorted(root.rglob("*.mo")):
            for _msgid, msgstr in sources.read_mo(str(path)):
                text = sources.clean(_libreoffice_fix(msgstr))
                if sources.letters(text) >= 2:
                    out[text] = None
        for path in sorted(root.rglob("*.html")):
            page = html.unescape(_TAG.sub("\n", path.read_text("utf-8", "replace")))
            for line in page.splitlines():
                text = sources.clean(_libreoffice_fix(line))
                if sources.letters(text) >= 2:
                    out[text] = None
    return list(out)


def read_numbers() -> list[str]:
    """Numbers as notes write them: integers, decimals, thousands, dates, times, percents."""
    out: list[str] = [str(i) for i in range(10_000)]
    out += [f"{i}{sep}{j}" for i in range(100) for j in range(100) for sep in ".,"]
    out += [f"{i}{sep}000" for i in range(1, 1000) for sep in ".,"]
    out += [f"{i}%" for i in range(101)] + [f"{i}k" for i in range(1, 1000)]
    for d in range(1, 32):
        for m in range(1, 13):
            for fmt in ("{d}.{m}.", "{d:02}.{m:02}.", "{d}.{m}", "{d}/{m}", "{d:02}.{m:02}"):
                out.append(fmt.format(d=d, m=m))
            out += [f"{d}.{m}.{y}" for y in range(2020, 2031)]
            out += [f"{d:02}.{m:02}.{y}" for y in range(2020, 2031)]
    out += [f"{h}{sep}{m:02}" for h in range(24) for m in range(0, 60, 5) for sep in ":."]
    return out


_PHONETIC = re.compile(r"/[^/\n]*/|<[^<>\n]*>")


def read_freedict() -> list[str]:
    """Lines of the Finnish-English and English-Finnish FreeDict dictionaries."""
    out: dict[str, None] = {}
    for package in FREEDICT:
        for path in sorted(_x(package).rglob("*.dict.dz")):
            with gzip.open(path, "rt", encoding="utf-8", errors="replace") as fh:
                for line in fh:
                    line = sources.clean(_PHONETIC.sub(" ", line))
                    if sources.letters(line) >= 2 and not line.startswith("00database"):
                        out[line] = None
    return list(out)


def _aff_encoding(aff: Path) -> str:
    with open(aff, "rb") as fh:
        for raw in fh:
            if raw.startswith(b"SET "):
                return raw[4:].decode("ascii").strip().replace("ISO8859", "ISO-8859")
    return "utf-8"


def read_hunspell(lang: str) -> Iterator[str]:
    """Words of a hunspell dictionary with all their affixed forms."""
    package, name, expand = HUNSPELL[lang]
    base = _x(package) / "usr" / "share" / "hunspell"
    dic, aff = base / f"{name}.dic", base / f"{name}.aff"
    encoding = _aff_encoding(aff)
    if expand:
        unmunch = _x("hunspell-tools") / "usr" / "bin" / "unmunch"
        proc = subprocess.Popen([str(unmunch), str(dic), str(aff)], stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL)
        assert proc.stdout is not None
        for raw in proc.stdout:
            word = raw.decode(encoding, "replace").strip()
            if word and "/" not in word:
                yield word
        proc.wait()
    else:
        yield from expand_affixes(dic, aff)


def _split_flags(flags: str, kind: str) -> list[str]:
    if kind == "long":
        return [flags[i:i + 2] for i in range(0, len(flags) - 1, 2)]
    if kind == "num":
        return [f for f in flags.split(",") if f]
    return list(flags)


def expand_affixes(dic: Path, aff: Path) -> Iterator[str]:
    """Every form of a hunspell dictionary: stems, with each suffix and prefix rule applied,
    prefix and suffix combined where both allow it, and one level of continuation suffixes.

    A small stand-in for ``unmunch`` that reads every ``FLAG`` type (``unmunch`` misreads
    ``FLAG long``). Compounding is not expanded (neither does ``unmunch``).
    """
    encoding = _aff_encoding(aff)
    kind = "char"
    rules: dict[str, tuple[str, bool, list[tuple[str, str, list[str], re.Pattern]]]] = {}
    with open(aff, encoding=encoding, errors="replace") as fh:
        for line in fh:
            f = line.split()
            if len(f) >= 2 and f[0] == "FLAG":
                kind = f[1].lower()
            if len(f) >= 4 and f[0] in ("SFX", "PFX") and f[2] in ("Y", "N") and f[1] not in rules:
                rules[f[1]] = (f[0], f[2] == "Y", [])
            elif len(f) >= 5 and f[0] in ("SFX", "PFX") and f[1] in rules:
                strip = "" if f[2] == "0" else f[2]
                add, _, cont = f[3].partition("/")
                add = "" if add == "0" else add
                cond = "." if f[4] == "." else f[4]
                pattern = re.compile(cond + "$" if f[0] == "SFX" else "^" + cond)
                rules[f[1]][2].append((strip, add, _split_flags(cont, kind), pattern))

    def apply(word: str, flag: str) -> Iterator[tuple[str, list[str]]]:
        rule = rules.get(flag)
        if rule is None:
            return
        sfx = rule[0] == "SFX"
        for strip, add, cont, pattern in rule[2]:
            if not pattern.search(word):
                continue
            if sfx and word.endswith(strip):
                yield word[:len(word) - len(strip)] + add, cont
            elif not sfx and word.startswith(strip):
                yield add + word[len(strip):], cont

    with open(dic, encoding=encoding, errors="replace") as fh:
        next(fh, None)  # the word count
        for line in fh:
            entry = line.split("\t")[0].split(" ")[0].strip()
            if not entry:
                continue
            word, _, flag_text = entry.partition("/")
            flags = _split_flags(flag_text, kind)
            yield word
            suffixed: list[str] = []
            for flag in flags:
                if flag not in rules or rules[flag][0] != "SFX":
                    continue
                for form, cont in apply(word, flag):
                    yield form
                    if rules[flag][1]:
                        suffixed.append(form)
                    for flag2 in cont:
                        if flag2 in rules and rules[flag2][0] == "SFX":
                            yield from (f for f, _ in apply(form, flag2))
            for flag in flags:
                if flag not in rules or rules[flag][0] != "PFX":
                    continue
                for base in (word, *(suffixed if rules[flag][1] else ())):
                    yield from (f for f, _ in apply(base, flag))


def corpus_notes(splits: tuple[str, ...]) -> list:
    from salesnlp.corpus.notes import load_corpus

    return [n for n in load_corpus(REPO / "corpus") if n.split in splits]


def all_sources(reference_splits: tuple[str, ...] = ("train", "dev")) -> list[Source]:
    """The reference sources, in a fixed order."""
    out: list[Source] = []
    notes = corpus_notes(reference_splits)
    for lang in CORPUS_LANGS:
        texts = [n.text for n in notes if n.lang == lang]
        out.append(Source("corpus-" + "+".join(reference_splits), lang, "text",
                          lambda texts=texts: texts))
    for lang in LANGS:
        out.append(Source("gettext", lang, "text", lambda lang=lang: read_gettext(lang),
                          tuple(sources.PACKAGES)))
    for lang in THUNDERBIRD_LANGS:
        out.append(Source("thunderbird", lang, "text", lambda lang=lang: read_thunderbird(lang),
                          (f"thunderbird-l10n-{lang}",)))
    for lang in LANGS:
        if _libreoffice_packages(lang):
            out.append(Source("libreoffice", lang, "text",
                              lambda lang=lang: read_libreoffice(lang),
                              _libreoffice_packages(lang)))
    out.append(Source("freedict", "fi", "text", read_freedict, FREEDICT))
    for lang, (package, _, _) in HUNSPELL.items():
        out.append(Source("hunspell", lang, "dict", lambda lang=lang: read_hunspell(lang),
                          (package, "hunspell-tools")))
    out.append(Source("numbers", "num", "text", read_numbers))
    return out


# --- words and counting ---------------------------------------------------------------------

def fold(word: str) -> str:
    """``word`` without diacritics if that leaves plain ASCII (Latin script), else ``word``."""
    stripped = "".join(c for c in unicodedata.normalize("NFD", word)
                       if unicodedata.category(c) != "Mn")
    return stripped if stripped.isascii() else word


_CEDILLA = str.maketrans("șțȘȚşţŞŢ", "şţŞŢșțȘȚ")


def variants(word: str) -> set[str]:
    """``word`` as written, lower-cased and Capitalised (and with s/t-comma <-> s/t-cedilla)."""
    low = word.lower()
    out = {word, low, low[:1].upper() + low[1:]}
    if any(c in word for c in "șțȘȚşţŞŢ"):
        out |= {w.translate(_CEDILLA) for w in out}
    return out


def word_variants(texts: Iterable[str]) -> tuple[list[str], list[str]]:
    """Unique words of ``texts`` with their :func:`variants`; and the new diacritic-free forms
    of those (:func:`fold`)."""
    words: dict[str, None] = {}
    for text in texts:
        for w in text.split():
            for v in variants(w):
                words[v] = None
    folded = {f: None for f in map(fold, words) if f not in words}
    return list(words), list(folded)


def stream_variants(words: Iterable[str], folded: bool, tally: list[int]) -> Iterator[str]:
    """Stream a dictionary's word list with :func:`variants` (or only their new diacritic-free
    forms), de-duplicated per entry only: its lines are distinct already, and no global set keeps
    memory small. ``tally[0]`` counts what was yielded."""
    for w in words:
        vs = variants(w)
        out = {f for f in map(fold, vs) if f not in vs} if folded else vs
        tally[0] += len(out)
        yield from out


def piece_counts(tokenizer, words: Iterable[str], chunk: int = 2000) -> np.ndarray:
    """For every id, how many of ``words`` use it (segmented exactly as in a text)."""
    counts = np.zeros(tokenizer.get_vocab_size(), dtype=np.int64)
    batch: list[str] = []

    def flush() -> None:
        enc = tokenizer.encode(" ".join(batch), add_special_tokens=False)
        counts[:] += np.bincount(np.asarray(enc.ids, dtype=np.int64), minlength=len(counts))
        batch.clear()

    for w in words:
        batch.append(w)
        if len(batch) >= chunk:
            flush()
    if batch:
        flush()
    return counts


def source_counts(tokenizer, source: Source, sha: str) -> dict[str, np.ndarray | int]:
    """Piece counts of a source (``plain``, ``fold``) and its sizes; cached on disk."""
    cache = Path(sources.cache_dir()) / "compact_vocab" / f"v{COUNTS_VERSION}-{sha[:12]}"
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{source.name}-{source.lang}.npz"
    if path.exists() and not source.name.startswith("corpus"):
        with np.load(path, allow_pickle=False) as z:
            return {k: (z[k] if z[k].ndim else int(z[k])) for k in z.files}
    t0 = time.time()
    if source.kind == "dict":
        n_words, n_folded = [0], [0]
        plain = piece_counts(tokenizer, stream_variants(source.read(), False, n_words))
        fold_counts = piece_counts(tokenizer, stream_variants(source.read(), True, n_folded))
        n_texts = sum(1 for _ in source.read())
        sizes = (n_texts, n_words[0], n_folded[0])
    else:
        texts = list(source.read())
        words, folded = word_variants(texts)
        plain = piece_counts(tokenizer, words)
        fold_counts = piece_counts(tokenizer, folded)
        sizes = (len(texts), len(words), len(folded))
    if source.name.startswith("corpus"):
        # Whole notes too, so the guarantee holds for the texts themselves, not only their words.
        for i in cv.pieces_used(tokenizer, texts):
            plain[i] = max(plain[i], 1)
    out: dict[str, np.ndarray | int] = {
        "plain": plain, "fold": fold_counts,
        "n_texts": sizes[0], "n_words": sizes[1], "n_folded": sizes[2],
    }
    np.savez_compressed(path, **out)
    print(f"  {source.key}: {sizes[0]:,} texts, {sizes[1]:,} words, {sizes[2]:,} folded, "
          f"{int((plain > 0).sum()):,} pieces ({time.time() - t0:.0f} s)", file=sys.stderr)
    return out


# --- selection and measurement ----------------------------------------------------------------

def select(counts: dict[str, dict], srcs: list[Source], base_json: dict, k_text: int, k_dict: int,
           k_fold: int) -> tuple[list[int], dict[str, int]]:
    """Keep-list for thresholds ``k_*`` (0 turns a kind off); returns ids and pieces per source.

    The corpus notes' pieces are always kept (``k`` = 1).
    """
    keep = set(cv.always_kept(base_json))
    per_source: dict[str, int] = {"always_kept": len(keep)}
    for s in srcs:
        c = counts[s.key]
        k = 1 if s.name.startswith("corpus") else (k_text if s.kind == "text" else k_dict)
        chosen: set[int] = set()
        if k:
            chosen |= set(np.flatnonzero(c["plain"] >= k).tolist())
        if k_fold:
            chosen |= set(np.flatnonzero(c["fold"] >= max(k, k_fold)).tolist())
        per_source[s.key] = len(chosen)
        keep |= chosen
    return sorted(keep), per_source


def agreement(full, compact, old_ids: np.ndarray, texts: list[str]) -> dict[str, float]:
    """Identical notes (%), differing tokens (% of the full tokenizer's) and length ratio."""
    import difflib

    same = differ = n_full = n_compact = 0
    for text in texts:
        a = full.encode(text, add_special_tokens=False).ids
        b = old_ids[compact.encode(text, add_special_tokens=False).ids].tolist()
        n_full += len(a)
        n_compact += len(b)
        if a == b:
            same += 1
            continue
        matched = sum(m.size for m in difflib.SequenceMatcher(None, a, b, autojunk=False)
                      .get_matching_blocks())
        differ += len(a) - matched
    return {"notes": len(texts), "identical_pct": 100 * same / max(1, len(texts)),
            "tokens_differ_pct": 100 * differ / max(1, n_full),
            "length_ratio": n_compact / max(1, n_full)}


def build_compact(base_json: dict, keep: list[int]):
    from tokenizers import Tokenizer

    new_json, old_ids = cv.compact_tokenizer(base_json, keep)
    return Tokenizer.from_str(json.dumps(new_json)), old_ids


def by_language(full, compact, old_ids, notes) -> dict[str, dict[str, float]]:
    out = {lang: agreement(full, compact, old_ids, [n.text for n in notes if n.lang == lang])
           for lang in CORPUS_LANGS}
    out["all"] = agreement(full, compact, old_ids, [n.text for n in notes])
    return out


# --- main -------------------------------------------------------------------------------------

def base_tokenizer_path() -> Path:
    from salesnlp.encoder.base import resolve_base

    return Path(resolve_base(None)) / "tokenizer.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--k-text", type=int, default=K_TEXT)
    parser.add_argument("--k-dict", type=int, default=K_DICT)
    parser.add_argument("--k-fold", type=int, default=K_FOLD)
    parser.add_argument("--sweep", action="store_true",
                        help="print size vs agreement on dev notes (train-only corpus reference)")
    parser.add_argument("--out", type=Path, default=OUTPUT)
    args = parser.parse_args(argv)

    from tokenizers import Tokenizer

    tok_path = base_tokenizer_path()
    sha = cv.tokenizer_sha256(tok_path)
    base_json = json.loads(tok_path.read_text(encoding="utf-8"))
    full = Tokenizer.from_file(str(tok_path))
    found = sources.fetch_packages(EXTRA_PACKAGES)
    sources.corpus()  # fetches and parses the gettext packages once

    splits = ("train",) if args.sweep else ("train", "dev")
    srcs = all_sources(splits)
    print(f"counting pieces of {len(srcs)} sources (cached after the first run)", file=sys.stderr)
    counts = {s.key: source_counts(full, s, sha) for s in srcs}

    if args.sweep:
        dev = corpus_notes(("dev",))
        rows = []
        grid = [(1, 0, 0), (1, 1, 0), (1, 1, 1), (1, 2, 2), (1, 3, 3), (1, 5, 5), (1, 10, 10),
                (2, 1, 1), (2, 2, 2), (2, 3, 3), (2, 5, 5), (3, 3, 3), (3, 10, 10), (5, 10, 10),
                (5, 20, 20), (10, 50, 50)]
        for k_text, k_dict, k_fold in grid:
            keep, _ = select(counts, srcs, base_json, k_text, k_dict, k_fold)
            compact, old_ids = build_compact(base_json, keep)
            m = by_language(full, compact, old_ids, dev)
            row = {"k_text": k_text, "k_dict": k_dict, "k_fold": k_fold, "pieces": len(keep),
                   **{f"{lang}_identical": round(m[lang]["identical_pct"], 1) for lang in m},
                   "tokens_differ_pct": round(m["all"]["tokens_differ_pct"], 2)}
            rows.append(row)
            print(json.dumps(row), flush=True)
        return 0

    keep, per_source = select(counts, srcs, base_json, args.k_text, args.k_dict, args.k_fold)
    compact, old_ids = build_compact(base_json, keep)
    # Self-check: every reference note tokenizes exactly as with the full vocabulary.
    ref = corpus_notes(splits)
    check = agreement(full, compact, old_ids, [n.text for n in ref])
    if check["identical_pct"] != 100.0:
        raise SystemExit(f"reference notes changed: {check}")
    provenance = {p: found.get(p) for s in srcs for p in s.packages if p in found}
    provenance.update(sources.package_versions())
    spec = {
        "description": "Ids of the base tokenizer's pieces kept in the compact vocabulary "
                       "(salesnlp.encoder.compact_vocab); built by "
                       "benchmarks/compact_vocab/build.py.",
        "base_tokenizer_sha256": sha,
        "base_vocab_size": len(base_json["model"]["vocab"]),
        "n_pieces": len(keep),
        "thresholds": {"k_text": args.k_text, "k_dict": args.k_dict, "k_fold": args.k_fold},
        "sources": [{"name": s.name, "lang": s.lang, "kind": s.kind,
                     "texts": int(counts[s.key]["n_texts"]),
                     "words": int(counts[s.key]["n_words"]),
                     "folded_words": int(counts[s.key]["n_folded"]),
                     "pieces_used": int((counts[s.key]["plain"] > 0).sum()),
                     "pieces_kept": per_source[s.key]} for s in srcs],
        "counts": per_source,
        "packages": dict(sorted(provenance.items())),
        "keep_ids": keep,
    }
    text = json.dumps(spec, ensure_ascii=False, indent=1)
    # One line for the id list keeps the file short and diffable.
    ids = json.dumps(keep, separators=(",", ":"))
    text = re.sub(r'"keep_ids": \[[^\]]*\]', lambda _: '"keep_ids": ' + ids, text)
    args.out.write_text(text + "\n", encoding="utf-8")
    print(f"wrote {args.out}: {len(keep):,} pieces of {spec['base_vocab_size']:,}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
