"""Text normalisation, features and script rules of the language detector.

Shared with the detector's training script (``benchmarks/langid/train_detector.py``):
keep them identical there and here.
"""

from __future__ import annotations

import re
import unicodedata

#: Longest stretch of text that is looked at; longer texts are sampled (start, middle, end).
MAX_CHARS = 1000
CYRILLIC = re.compile("[\u0400-\u04ff]")
LATIN = re.compile("[a-zà-ɏ]")
#: A text whose minority script holds at least this share of its letters is judged by its
#: majority script's words alone.
MIXED_SCRIPT_SHARE = 0.1

# --------------------------------------------------------------------------------------------

_NOISE = re.compile(
    r"<[^<>]{0,500}>"  # HTML / XML tags
    r"|&[a-zA-Z]{2,8};|&#x?[0-9a-fA-F]{1,6};"  # entities
    r"|(?:https?|ftp)://\S*|www\.\S+"  # URLs
    r"|\S+@\S+\.\S+"  # e-mail addresses
    r"|@\w+|#\w+"  # mentions, hashtags
)
# A word: letters (and combining marks), with inner apostrophes / hyphens kept.
_WORD = re.compile(r"[^\W\d_]+(?:['\u2019\u02bc\-][^\W\d_]+)*")
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u02bc": "'", "`": "'", "\u00b4": "'"})
# Romanian s/t with cedilla (legacy) -> comma below; Turkish text is mapped the same way.
_CEDILLA = str.maketrans({"ş": "ș", "ţ": "ț", "Ş": "ș", "Ţ": "ț"})

#: English sales jargon that sellers mix into notes in any language; ignored when the note
#: has other words.
JARGON: frozenset[str] = frozenset(
    """
    follow-up followup follow up deal deals rfp rfq rfi poc pov demo demos meeting call calls
    lead leads pipeline forecast quote quotes pricing price budget kpi kpis crm roi sla nda
    feedback update updates email e-mail mail zoom teams slack ok okay asap eod eow fyi q1 q2 q3
    q4 b2b b2c saas upsell cross-sell churn onboarding kickoff kick-off stakeholder stakeholders
    decision-maker procurement discount contract renewal account manager sales ceo cfo cto coo
    vp head tender proposal offer invoice linkedin webinar checkpoint check-in checkin sync
    win lost closed won pitch target targets budgeting
    """.split()
)


_TOKEN = re.compile(r"[^\W\d_]{2,}[+#]*")
# The same tokens as a capturing split: pieces[1::2] are the tokens, the rest what lies between.
_TOKEN_SPLIT = re.compile(f"({_TOKEN.pattern})")


def _drop_acronyms(text: str) -> str:
    """Remove all-capital tokens (RFP, KPI, MIME) unless the text is mostly capitals."""
    if text.islower():
        return text  # no upper-case letter at all: nothing to drop
    pieces = _TOKEN_SPLIT.split(text)
    tokens = pieces[1::2]
    caps = list(filter(str.isupper, tokens))
    if not caps or len(caps) * 2 > len(tokens):
        return text
    caps_set = set(caps)
    pieces[1::2] = [" " if t in caps_set else t for t in tokens]
    return "".join(pieces)


# Every match of _NOISE contains one of these (a cheap ``in`` test spares the regex scan).
_NOISE_MARKS = ("<", "&", "@", "#", "://", "www.")
# _APOSTROPHES then _CEDILLA as (old, new) pairs: ``str.replace`` of the few characters that
# occur is several times faster than ``str.translate`` with a dict, with the same result
# (no replacement produces a character that another one replaces).
_REPLACE = tuple((chr(k), v) for table in (_APOSTROPHES, _CEDILLA) for k, v in table.items())
_REPLACE_ASCII = tuple((a, b) for a, b in _REPLACE if a.isascii())


def normalise(text: str) -> str:
    """Lower-case, NFC, unify apostrophes and Romanian cedillas, drop URLs/markup/acronyms."""
    for mark in _NOISE_MARKS:
        if mark in text:
            text = _NOISE.sub(" ", text)
            break
    text = unicodedata.normalize("NFC", _drop_acronyms(text)).lower()
    for a, b in _REPLACE_ASCII if text.isascii() else _REPLACE:
        if a in text:
            text = text.replace(a, b)
    return text


def words(text: str) -> list[str]:
    """Return the words of an already :func:`normalise`-d text."""
    found = _WORD.findall(text)
    if len(found) > 1 and not JARGON.isdisjoint(found):
        kept = [w for w in found if w not in JARGON]
        if kept:
            found = kept
    return found


def features(word_list: list[str]) -> list[str]:
    """Character 1-4-grams of `` word `` (space = word boundary) plus ``"\\x01word"``."""
    out: list[str] = []
    ext = out.extend
    for w in word_list:
        p = f" {w} "
        n = len(p)
        ext(w)  # unigrams (letters only)
        ext([p[i : i + 2] for i in range(n - 1)])
        ext([p[i : i + 3] for i in range(n - 2)])
        ext([p[i : i + 4] for i in range(n - 3)])
        out.append("\x01" + w)
    return out


def sample(text: str, limit: int = MAX_CHARS) -> str:
    """Return at most ``limit`` characters: the text itself, or its start, middle and end."""
    if len(text) <= limit:
        return text
    third = limit // 3
    mid = len(text) // 2 - third // 2
    return " ".join((text[:third], text[mid : mid + third], text[-third:]))


# --------------------------------------------------------------------------------------------
# Scripts: texts written mostly in a script none of the five use are decided without the model.
# --------------------------------------------------------------------------------------------

# (first code point, last code point, language code or "und")
_SCRIPTS: tuple[tuple[int, int, str], ...] = (
    (0x0370, 0x03FF, "el"),
    (0x1F00, 0x1FFF, "el"),
    (0x0530, 0x058F, "hy"),
    (0x0590, 0x05FF, "he"),
    (0x0600, 0x06FF, "ar"),
    (0x0750, 0x077F, "ar"),
    (0x0900, 0x097F, "hi"),
    (0x0980, 0x09FF, "bn"),
    (0x0A00, 0x0A7F, "pa"),
    (0x0A80, 0x0AFF, "gu"),
    (0x0B00, 0x0B7F, "or"),
    (0x0B80, 0x0BFF, "ta"),
    (0x0C00, 0x0C7F, "te"),
    (0x0C80, 0x0CFF, "kn"),
    (0x0D00, 0x0D7F, "ml"),
    (0x0D80, 0x0DFF, "si"),
    (0x0E00, 0x0E7F, "th"),
    (0x0E80, 0x0EFF, "lo"),
    (0x0F00, 0x0FFF, "bo"),
    (0x1000, 0x109F, "my"),
    (0x10A0, 0x10FF, "ka"),
    (0x1100, 0x11FF, "ko"),
    (0x1200, 0x139F, "am"),
    (0x1780, 0x17FF, "km"),
    (0x3040, 0x30FF, "ja"),
    (0x3100, 0x312F, "zh"),
    (0x3130, 0x318F, "ko"),
    (0x3400, 0x4DBF, "zh"),
    (0x4E00, 0x9FFF, "zh"),
    (0xAC00, 0xD7AF, "ko"),
)


def _script_of(ch: str) -> str | None:
    cp = ord(ch)
    if cp < 0x0370 or 0x0400 <= cp <= 0x052F:
        return None  # Latin / Cyrillic: the model decides
    for lo, hi, lang in _SCRIPTS:
        if lo <= cp <= hi:
            return lang
    return None


NON_LATIN_CYRILLIC = re.compile("[\u0370-\u03ff\u0530-\U0010ffff]")


def foreign_script(letters: str) -> tuple[str, float] | None:
    """Return (language, share) when most letters are of a script the model does not cover."""
    counts: dict[str, int] = {}
    for ch in letters:
        lang = _script_of(ch)
        if lang is not None:
            counts[lang] = counts.get(lang, 0) + 1
    if not counts:
        return None
    foreign = sum(counts.values())
    if foreign * 2 < len(letters):
        return None
    lang = max(counts, key=lambda k: counts[k])
    if lang == "zh" and "ja" in counts:
        lang = "ja"  # kana + kanji
    return lang, counts[lang] / len(letters)




def majority_script_words(word_list: list[str]) -> list[str] | None:
    """The words of the script (Latin or Cyrillic) that holds most letters, if the other
    holds at least :data:`MIXED_SCRIPT_SHARE` of them; else None."""
    cyrillic = [w for w in word_list if CYRILLIC.search(w)]
    latin = [w for w in word_list if not CYRILLIC.search(w)]
    n_cyrillic = sum(map(len, cyrillic))
    n_latin = sum(map(len, latin))
    if min(n_cyrillic, n_latin) < MIXED_SCRIPT_SHARE * (n_cyrillic + n_latin):
        return None
    return cyrillic if n_cyrillic > n_latin else latin
