"""Fetch and read the offline sources of human-written text used by the language-ID benchmark.

Every text here was written by a person: the translated user-interface strings (gettext ``.mo``
catalogues) that volunteer translators wrote for Debian packages, and their English originals.
The packages are fetched with ``apt-get download`` (no dependencies, nothing installed) and
unpacked with ``dpkg -x`` into a cache directory (``$SALESNLP_LANGID_CACHE``, default
``~/.cache/salesnlp-langid``).

Packages are split by name into three disjoint groups, so that the benchmark's test texts never
come from a document (catalogue) that the detector was trained on:

* ``test``  - packages in :data:`TEST_PACKAGES`: the benchmark's test part;
* ``dev``   - packages in :data:`DEV_PACKAGES`: used to tune thresholds/temperature;
* ``train`` - all others: used to train the shipped model.
"""

from __future__ import annotations

import glob
import os
import re
import struct
import subprocess
import unicodedata
from collections.abc import Iterator

#: Debian (bookworm) packages whose gettext catalogues are read.
PACKAGES: tuple[str, ...] = (
    "aptitude-common", "baobab", "brasero-common", "caja-common", "cheese-common", "coreutils",
    "debconf-i18n", "diffutils", "e2fsprogs-l10n", "eog", "evince-common", "evolution-common",
    "file-roller", "findutils", "geany-common", "gedit-common", "gettext", "gimp-data",
    "gnome-calculator", "gnome-calendar", "gnome-clocks", "gnome-contacts",
    "gnome-control-center-data", "gnome-disk-utility", "gnome-maps", "gnome-shell-common",
    "gnome-software-common", "gnome-system-monitor", "gnome-terminal-data", "gnome-weather",
    "gnucash-common", "gnumeric-common", "gnupg-l10n", "grep", "gucharmap", "hexchat-common",
    "inkscape", "libc-l10n", "libglib2.0-data", "libgtk-3-common", "libgtk2.0-common",
    "libxfce4ui-common", "lxpanel-data", "mate-desktop-common", "mousepad", "nautilus-data",
    "network-manager-gnome", "pcmanfm", "pidgin-data", "pluma-common", "rhythmbox-data",
    "seahorse", "sed", "shotwell-common", "simple-scan", "synaptic", "tar", "thunar-data",
    "totem-common", "util-linux-locales", "vlc-l10n", "wget", "xfce4-panel", "xfce4-session",
)

#: Packages whose catalogues form the benchmark's test part (never used for training).
TEST_PACKAGES: frozenset[str] = frozenset({
    "evolution-common", "gnucash-common", "gnome-software-common", "pidgin-data", "gedit-common",
    "simple-scan", "synaptic", "xfce4-session", "wget", "coreutils", "gnome-maps", "baobab",
    "mate-desktop-common", "evince-common",
})

#: Packages used to tune the detector's thresholds (never used for training or testing).
DEV_PACKAGES: frozenset[str] = frozenset({
    "totem-common", "file-roller", "geany-common", "thunar-data", "gnome-clocks", "tar",
})


def split_of(package: str) -> str:
    """Return ``"test"``, ``"dev"`` or ``"train"`` for a package name."""
    if package in TEST_PACKAGES:
        return "test"
    if package in DEV_PACKAGES:
        return "dev"
    return "train"


def cache_dir() -> str:
    """Directory where the ``.deb`` files are downloaded and unpacked."""
    return os.environ.get(
        "SALESNLP_LANGID_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "salesnlp-langid")
    )


def fetch_packages(packages: tuple[str, ...] = PACKAGES) -> dict[str, str]:
    """Download (``apt-get download``) and unpack (``dpkg -x``) the packages.

    Returns:
        Mapping package name -> ``name_version_arch.deb`` file name (for provenance).
    """
    root = cache_dir()
    debs = os.path.join(root, "debs")
    os.makedirs(debs, exist_ok=True)
    missing = [p for p in packages if not glob.glob(os.path.join(debs, f"{p}_*.deb"))]
    if missing:
        subprocess.run(["apt-get", "download", *missing], cwd=debs, check=True)
    found: dict[str, str] = {}
    for p in packages:
        files = sorted(glob.glob(os.path.join(debs, f"{p}_*.deb")))
        if not files:
            continue
        found[p] = os.path.basename(files[-1])
        target = os.path.join(root, "x", p)
        if not os.path.isdir(target):
            os.makedirs(target)
            subprocess.run(["dpkg", "-x", files[-1], target], check=True)
    return found


def read_mo(path: str) -> Iterator[tuple[str, str]]:
    """Yield ``(msgid, msgstr)`` pairs of a gettext ``.mo`` file (first plural form only)."""
    with open(path, "rb") as fh:
        data = fh.read()
    if len(data) < 28:
        return
    magic = struct.unpack("<I", data[:4])[0]
    order = "<" if magic == 0x950412DE else ">"
    _, n, o_orig, o_trans = struct.unpack(order + "4I", data[4:20])
    for i in range(n):
        ln, off = struct.unpack(order + "2I", data[o_orig + 8 * i : o_orig + 8 * i + 8])
        lt, offt = struct.unpack(order + "2I", data[o_trans + 8 * i : o_trans + 8 * i + 8])
        try:
            msgid = data[off : off + ln].decode("utf-8")
            msgstr = data[offt : offt + lt].decode("utf-8")
        except UnicodeDecodeError:
            continue
        if not msgid or not msgstr:
            continue
        msgid = msgid.split("\x04")[-1].split("\x00")[0]
        msgstr = msgstr.split("\x00")[0]
        yield msgid, msgstr


_PLACEHOLDER = re.compile(
    r"%(?:\([^)]*\))?[-+ #0-9.*lhqjzt]*[a-zA-Z%]"  # printf
    r"|\{[^{}\s]*\}"  # python / .NET
    r"|\$\{?[A-Za-z_][A-Za-z0-9_]*\}?"  # shell variables
    r"|<[^<>]{0,200}>"  # markup
    r"|&[a-z]+;|&#\d+;"  # entities
    r"|https?://\S+|www\.\S+|\S+@\S+\.\S+"  # URLs, e-mail
    r"|(?<![\w])--?[a-zA-Z][\w-]*"  # command-line options
    r"|\S*[/\\]\S*"  # paths
    r"|\S*[_=]\S*"  # identifiers, key=value
)
_SPACE = re.compile(r"\s+")


def clean(text: str) -> str:
    """Remove placeholders, markup, mnemonics, options and paths; collapse whitespace."""
    text = unicodedata.normalize("NFC", text)
    text = text.replace("\\n", " ").replace("\\t", " ")
    text = re.sub(r"(?<=\w)_(?=\w)|^_(?=\w)|(?<=\s)_(?=\w)", "", text)  # mnemonics _File
    text = re.sub(r"(?<=\w)&(?=\w)|(?<=\s)&(?=\w)|^&(?=\w)", "", text)  # mnemonics &File
    text = _PLACEHOLDER.sub(" ", text)
    text = _SPACE.sub(" ", text).strip(" \t:;,-|*•")
    return text


def letters(text: str) -> int:
    """Count alphabetic characters."""
    return sum(ch.isalpha() for ch in text)


#: Locale directory names mapped to the ISO 639-1 (or 639-3) code used here.
_LOCALE_FIX = {"mo": "ro", "no": "nb", "pt_BR": "pt", "pt_PT": "pt", "ro_MD": "ro",
               "sr@latin": "sr", "sr@Latn": "sr", "sr@ije": "sr", "nb_NO": "nb", "nl_NL": "nl",
               "de_DE": "de", "de_CH": "de", "ms_MY": "ms"}
_SKIP_LOCALES = re.compile(r"^(en|be@latin|be@tarask|uz@cyrillic|tt@iqtelif|zh.*|ca@valencia)")


def locale_to_lang(locale: str) -> str | None:
    """Map a locale directory name (``pt_BR``, ``sr@latin``) to a language code, or None."""
    if locale in _LOCALE_FIX:
        return _LOCALE_FIX[locale]
    if _SKIP_LOCALES.match(locale):
        return None
    if "_" in locale or "@" in locale:
        return None  # regional variants other than the fixed ones: skip (avoid duplicates)
    return locale


def iter_pairs(package: str) -> Iterator[tuple[str, str, str]]:
    """Yield ``(lang, english_msgid, translation)`` for every catalogue entry of a package."""
    root = os.path.join(cache_dir(), "x", package)
    for path in sorted(glob.glob(os.path.join(root, "**", "LC_MESSAGES", "*.mo"), recursive=True)):
        locale = path.split(os.sep + "locale" + os.sep)[-1].split(os.sep)[0]
        lang = locale_to_lang(locale)
        if lang is None:
            continue
        for msgid, msgstr in read_mo(path):
            yield lang, msgid, msgstr


def collect(package: str) -> dict[str, list[str]]:
    """Return cleaned, de-duplicated human-written texts of one package, per language.

    Translations identical to their English original (untranslated strings) are dropped; the
    English originals themselves are returned under ``"en"``.
    """
    out: dict[str, dict[str, None]] = {}
    for lang, msgid, msgstr in iter_pairs(package):
        src = clean(msgid)
        tgt = clean(msgstr)
        if letters(src) >= 3:
            out.setdefault("en", {})[src] = None
        if letters(tgt) < 3 or tgt.casefold() == src.casefold():
            continue
        out.setdefault(lang, {})[tgt] = None
    return {lang: list(texts) for lang, texts in out.items()}


def corpus() -> dict[str, dict[str, list[str]]]:
    """Return ``{split: {lang: [text, ...]}}`` over all packages, cached as JSON.

    Within a split a text appears once per language; its order is deterministic (package order,
    then catalogue order).
    """
    import json

    path = os.path.join(cache_dir(), "corpus.json")
    if os.path.exists(path):
        with open(path, encoding="utf-8") as fh:
            return json.load(fh)
    fetch_packages()
    out: dict[str, dict[str, dict[str, None]]] = {"train": {}, "dev": {}, "test": {}}
    for package in PACKAGES:
        split = split_of(package)
        for lang, texts in collect(package).items():
            bucket = out[split].setdefault(lang, {})
            for t in texts:
                bucket[t] = None
    result = {s: {lang: list(t) for lang, t in sorted(d.items())} for s, d in out.items()}
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(result, fh, ensure_ascii=False)
    return result


def package_versions() -> dict[str, str]:
    """Return ``{package: deb file name}`` of the cached packages (provenance)."""
    debs = os.path.join(cache_dir(), "debs")
    out = {}
    for p in PACKAGES:
        files = sorted(glob.glob(os.path.join(debs, f"{p}_*.deb")))
        if files:
            out[p] = os.path.basename(files[-1])
    return out
