"""The structure of an e-mail as CRMs store it: newest message, quoted history, headers,
signatures and legal disclaimers.

Reply-parsing libraries (quotequail, mail-parser-reply, email-reply-parser, talon) know
English and a few other locales' reply headers; on the corpus's e-mails in our five
languages they found the newest message in 30-52 % of them (ours: 99 %)
(``benchmarks/email_split``). This module reads the headers and sign-offs mail clients
write in Estonian, Finnish, Ukrainian, Romanian, Dutch, Russian, English, German and
Swedish, and the quote marks of Outlook and Gmail HTML (see
:attr:`~salesnlp.prepare.text.CleanText.quote_starts`).

:func:`segment_email` cuts a text into :class:`Segment` s of kinds

- ``body``: the newest message (what the buyer's behaviour is read from);
- ``quoted``: earlier messages below it (context);
- ``header``: reply headers and separator lines;
- ``signature``: the sign-off and what follows it (name, title, phones), "Sent from ...";
- ``disclaimer``: legal or confidentiality notices, in any position after the opening.

A text without any of these is one ``body`` segment, so notes pass through unchanged.
Signatures and disclaimers are never evidence (annotation guide).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BODY, QUOTED, HEADER, SIGNATURE, DISCLAIMER = "body", "quoted", "header", "signature", \
    "disclaimer"
KINDS = (BODY, QUOTED, HEADER, SIGNATURE, DISCLAIMER)
#: A newest message with fewer words than this (a forward, "FYI, see below") is read
#: together with the first quoted message (annotation guide).
MIN_BODY_WORDS = 8

_FROM = r"(from|van|saatja|lähettäjä|від|от|de la|de|von|från|od|nuo|afzender|kimden)"
_SENT = (r"(sent|date|verzonden|datum|saadetud|kuupäev|lähetetty|päivämäärä|надіслано|дата|"
         r"отправлено|trimis|data|gesendet|skickat|envoyé|wysłano|verstuurd)")
_TO = r"(to|aan|adressaat|saaja|vastaanottaja|кому|către|catre|an|till|à|pour|do)"
_SUBJECT = r"(subject|onderwerp|teema|aihe|тема|subiect|betreff|ämne|objet|temat)"
_CC = r"(cc|koopia|kopio|копія|копия|kopie|kopia)"
_HEADER_LINE = re.compile(rf"^\s*[*>]*\s*({_FROM}|{_SENT}|{_TO}|{_SUBJECT}|{_CC})\s*:\s*\S?",
                          re.I)
_FROM_LINE = re.compile(rf"^\s*[*>]*\s*{_FROM}\s*:", re.I)
_SEPARATOR = re.compile(r"^\s*(-{3,}\s*[^-\n]{3,80}?\s*-{3,}|_{10,}|-{10,}|={10,})\s*$")
# "On <date>, <name> <address> wrote:" in any word order ("Op ... schreef Jan <jan@x>:"),
# with an address or a digit so that "Marko wrote:" in a note is not taken for one.
_ATTRIBUTION = re.compile(
    r"^(?=.*(@|\d)).*\b(wrote|kirjutas|kirjoitti|пише|писав|писала|написал|написала|написав|"
    r"a scris|schreef|skrev|schrieb|a écrit|escribió|napisał|rašė)\b.*:\s*$", re.I)
_SIGN_OFFS = re.compile(
    r"^\s*(best regards|kind regards|warm regards|regards|best wishes|best|cheers|thanks|"
    r"thank you|many thanks|sincerely|br|"
    r"lugupidamisega|parimat|parimate soovidega|tervitades|tervitusega|heade soovidega|"
    r"tänan|aitäh|"
    r"ystävällisin terveisin|parhain terveisin|terveisin|yst\.? ?terv\.?|t\.|kiitos|"
    r"hyvää päivänjatkoa|"
    r"з повагою|з найкращими побажаннями|дякую|гарного дня|щиро|"
    r"с уважением|спасибо|всего доброго|с наилучшими пожеланиями|"
    r"cu stimă|cu stima|cu respect|o zi bună|o zi buna|mulțumesc|mulţumesc|multumesc|"
    r"toate cele bune|numai bine|salutări|salutari|"
    r"met vriendelijke groet(en)?|vriendelijke groet(en)?|hartelijke groet(en)?|mvg|groet(en|jes)?|"
    r"gr\.?|alvast bedankt|"
    r"med vänliga hälsningar|vänliga hälsningar|hälsningar|mvh|"
    r"mit freundlichen grüßen|viele grüße|mfg)"
    r"\s*([,.!/:–-].{0,40})?$", re.I)
_SENT_FROM = re.compile(
    r"^\s*(sent from my|saadetud minu|lähetetty (iphonesta|androidista|puhelimesta)|"
    r"надіслано з|отправлено с|trimis de pe|verzonden (vanaf|met) mijn|verstuurd vanaf mijn|"
    r"von meinem .* gesendet|skickat från)", re.I)
_SIGNATURE_DELIMITER = re.compile(r"^--\s?$")
# Formulaic phrases of legal notices; a paragraph with two of them (or a notice heading
# and one) is a disclaimer.
_DISCLAIMER_HEADING = re.compile(
    r"^\s*(disclaimer|confidentiality( notice)?|notice|legal notice|important|"
    r"konfidentsiaalsus(teade|nõue)?|luottamuksellisuus|luottamuksellinen|vastuuvapaus|"
    r"конфіденційність|конфиденциальность|confidențialitate|confidentialitate|"
    r"vertrouwelijk(heid)?|disclaimer|haftungsausschluss|nb!?|huom\.?|teade|teave)\s*[:!/]",
    re.I)
_DISCLAIMER_PHRASES = [re.compile(p, re.I) for p in (
    r"intended (solely |only |exclusively )?(for|to)",
    r"if you (are not|have received)",
    r"received (this|it|the message)[a-z ]{0,20}(in error|by mistake)",
    r"notify the sender",
    r"(delete|destroy) (it|this|the)",
    r"confidential|privileged",
    r"unauthori[sz]ed",
    r"accepts? no (liability|responsibility)",
    r"(any|the) (disclosure|copying|distribution|dissemination|use)",
    r"mõeldud (ainult|üksnes) adressaadile|konfidentsiaal|ekslikult|eksikombel|"
    r"teavita(ge)? (palun )?saatja|kustuta",
    r"luottamuksellis|tarkoitettu (ainoastaan|vain)|erehdyksessä|vahingossa|"
    r"ilmoita (siitä )?lähettäjälle|poista viesti|hävitä viesti",
    r"конфіденційн|призначен[оа] (лише|виключно)|помилково|повідомте відправника|видаліть",
    r"конфиденциальн|предназначен[оа]? (только|исключительно)|по ошибке|уведомите отправителя|"
    r"удалите",
    r"confiden[țţt]ial|destinat[ea]? exclusiv|din greșeală|din greseala|"
    r"(informa|anun[țţt]a)[țţt]i expeditorul|șterge|sterge",
    r"vertrouwelijk|uitsluitend bestemd|(bestemd|bedoeld) voor de geadresseerde|"
    r"afzender (te )?(informeren|op de hoogte)|vernietigen|geen rechten (worden )?ontleend",
    r"vertraulich|ausschließlich für|irrtümlich",
)]
_WORD = re.compile(r"\w+")


@dataclass(frozen=True)
class Segment:
    """A span ``[start, end)`` of a text and what it is (one of :data:`KINDS`)."""

    start: int
    end: int
    kind: str


def segment_email(text: str, quote_starts: tuple[int, ...] = ()) -> list[Segment]:
    """Cut ``text`` into body, quoted history, headers, signatures and disclaimers.

    Args:
        text: plain text (HTML already reduced to text, see
            :func:`salesnlp.prepare.text.clean`).
        quote_starts: offsets where HTML marked the start of quoted history.

    Returns:
        Segments in order, covering every character of ``text`` exactly once.
    """
    lines = _lines(text)
    kinds = [BODY] * len(lines)
    boundary = _quote_boundary(lines, quote_starts)
    messages = _messages(lines, boundary)
    for number, (first, last) in enumerate(messages):
        body_kind = BODY if number == 0 else QUOTED
        for i in range(first, last):
            kinds[i] = HEADER if _is_header_line(lines, i) else body_kind
        _mark_signature(lines, kinds, first, last)
        _mark_disclaimers(lines, kinds, first, last)
    if len(messages) > 1 and _words_of(lines, kinds, BODY) < MIN_BODY_WORDS:
        first, last = messages[1]  # a forward: the first quoted message counts as newest
        kinds[first:last] = [BODY if k == QUOTED else k for k in kinds[first:last]]
    return _segments(text, lines, kinds)


# -- lines -------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Line:
    start: int
    end: int  # without the line break
    text: str


def _lines(text: str) -> list[_Line]:
    out, pos = [], 0
    for raw in text.splitlines(keepends=True):
        body = raw.rstrip("\r\n\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029")
        out.append(_Line(pos, pos + len(body), body))
        pos += len(raw)
    return out


def _blank(line: _Line) -> bool:
    return not line.text.strip()


def _is_header_line(lines: list[_Line], i: int) -> bool:
    text = lines[i].text
    return bool(_SEPARATOR.match(text) or _ATTRIBUTION.search(text)
                or (_HEADER_LINE.match(text) and _in_header_block(lines, i)))


def _in_header_block(lines: list[_Line], i: int) -> bool:
    """True if line ``i`` belongs to a block of at least two header lines with a From."""
    first = i
    while first > 0 and _HEADER_LINE.match(lines[first - 1].text):
        first -= 1
    last = i
    while last + 1 < len(lines) and _HEADER_LINE.match(lines[last + 1].text):
        last += 1
    block = range(first, last + 1)
    return last > first and any(_FROM_LINE.match(lines[k].text) for k in block)


# -- quoted history --------------------------------------------------------------------------

def _quote_boundary(lines: list[_Line], quote_starts: tuple[int, ...]) -> int | None:
    """Index of the first line of the quoted history, or None."""
    candidates = []
    for i, line in enumerate(lines):
        text = line.text
        if _SEPARATOR.match(text) and i > 0:
            candidates.append(i)
            break
        if _FROM_LINE.match(text) and _in_header_block(lines, i):
            candidates.append(i)
            break
        if _ATTRIBUTION.search(text) or (i + 1 < len(lines) and _ATTRIBUTION.search(
                f"{text} {lines[i + 1].text}") and "@" in f"{text}{lines[i + 1].text}"):
            candidates.append(i)
            break
        if text.lstrip().startswith(">") and _quoted_run(lines, i):
            candidates.append(i)
            break
    for offset in quote_starts:
        at = next((i for i, line in enumerate(lines) if line.end >= offset), None)
        if at is not None and any(not _blank(x) for x in lines[:at]):
            candidates.append(at)
            break
    return min(candidates) if candidates else None


def _quoted_run(lines: list[_Line], i: int) -> bool:
    """True if line ``i`` starts a block of ``>`` lines (two or more, or all the rest) after
    some text of the newest message."""
    rest = [x for x in lines[i:] if not _blank(x)]
    run = 0
    for line in rest:
        if not line.text.lstrip().startswith(">"):
            break
        run += 1
    return (run >= 2 or run == len(rest)) and any(not _blank(x) for x in lines[:i])


def _messages(lines: list[_Line], boundary: int | None) -> list[tuple[int, int]]:
    """``(first, last)`` line ranges: the newest message, then each quoted one."""
    if boundary is None:
        return [(0, len(lines))]
    starts = [0, boundary]
    i = boundary + 1
    while i < len(lines):
        text = lines[i].text
        header_start = (_SEPARATOR.match(text) or _ATTRIBUTION.search(text)
                        or (_FROM_LINE.match(text) and _in_header_block(lines, i)))
        if header_start and not _is_header_line(lines, i - 1):
            starts.append(i)
        i += 1
    starts.append(len(lines))
    return [(a, b) for a, b in zip(starts, starts[1:], strict=False) if b > a]


# -- signatures and disclaimers --------------------------------------------------------------

def _mark_signature(lines: list[_Line], kinds: list[str], first: int, last: int) -> None:
    """From a sign-off line (or "--", "Sent from my ...") to the end of the message."""
    content = [i for i in range(first, last) if not _blank(lines[i]) and kinds[i] != HEADER]
    if len(content) < 2:
        return
    for i in content[1:]:
        text = lines[i].text.lstrip(" >")
        if _SENT_FROM.match(text) or _SIGNATURE_DELIMITER.match(text) or (
                _SIGN_OFFS.match(text) and _short_tail(lines, kinds, i, last)):
            for k in range(i, last):
                if kinds[k] != HEADER:
                    kinds[k] = SIGNATURE
            return


def _short_tail(lines: list[_Line], kinds: list[str], i: int, last: int) -> bool:
    """True if what follows line ``i`` in its message reads like a signature block: short
    lines, apart from disclaimer paragraphs."""
    for k in range(i + 1, last):
        text = lines[k].text
        if kinds[k] == HEADER or _blank(lines[k]):
            continue
        if len(_WORD.findall(text)) > 14 and not _disclaimer_score(text):
            return False
    return True


def _mark_disclaimers(lines: list[_Line], kinds: list[str], first: int, last: int) -> None:
    """Paragraphs (runs of non-blank lines) after the message's first one that read as a
    legal notice."""
    paragraphs, start = [], None
    for i in range(first, last + 1):
        if i == last or _blank(lines[i]) or kinds[i] == HEADER:
            if start is not None:
                paragraphs.append((start, i))
                start = None
        elif start is None:
            start = i
    for a, b in paragraphs[1:]:
        text = " ".join(lines[k].text for k in range(a, b)).lstrip(" >")
        if len(_WORD.findall(text)) >= 8 and _is_disclaimer(text):
            for k in range(a, b):
                kinds[k] = DISCLAIMER


def _disclaimer_score(text: str) -> int:
    return sum(1 for pattern in _DISCLAIMER_PHRASES if pattern.search(text))


def _is_disclaimer(text: str) -> bool:
    score = _disclaimer_score(text)
    return score >= 3 or (score >= 1 and bool(_DISCLAIMER_HEADING.match(text)))


# -- result ----------------------------------------------------------------------------------

def _words_of(lines: list[_Line], kinds: list[str], kind: str) -> int:
    return sum(len(_WORD.findall(line.text)) for line, k in zip(lines, kinds, strict=True)
               if k == kind)


def _segments(text: str, lines: list[_Line], kinds: list[str]) -> list[Segment]:
    """Merge consecutive lines of one kind; blank lines and breaks join the segment before."""
    segments: list[Segment] = []
    for i, line in enumerate(lines):
        end = lines[i + 1].start if i + 1 < len(lines) else len(text)
        kind = kinds[i]
        if _blank(line) and segments:
            kind = segments[-1].kind
        if segments and segments[-1].kind == kind:
            segments[-1] = Segment(segments[-1].start, end, kind)
        else:
            segments.append(Segment(line.start, end, kind))
    if not segments:
        return [Segment(0, len(text), BODY)]
    if segments[0].start > 0:
        segments[0] = Segment(0, segments[0].end, segments[0].kind)
    return segments
