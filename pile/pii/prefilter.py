"""The fast prefilter: which documents, and which pieces of them, presidio must see.

Every entity scrubbed here contains a character that is rare in prose: a digit (any
Unicode decimal digit, as presidio's patterns and python-phonenumbers read them; cards,
phones, SSNs, IBANs, IPv4, public IPv6 addresses, which all start with 2 or 3, and
Bitcoin addresses, which start with 1, 3 or ``bc1``), or an ``@`` (e-mail). One
compiled regex over those characters decides whether a document needs the recognizers
at all (`Prefilter.needs_scan`); a document without a digit or an ``@`` never reaches
presidio. (When IP addresses are scrubbed including private and reserved ranges,
``keep_private_ips: false``, ``::`` is a trigger too: ``fe80::beef``.)

In the others, each recognizer reads only pieces that can hold its entity, cut where no
match of its pattern can be cut and no boundary its pattern tests moves:

- e-mail, IP and Bitcoin addresses contain no whitespace: their recognizers read the
  whitespace-delimited tokens around a gate match (`email_candidates`, `ip_candidates`,
  `crypto_candidates`): ``@`` and a dotted domain; a dotted quad's ``.d.d.d``, an IPv6
  ``::`` or seven colons; a ``1`` or ``3`` and 25 letters or digits. Each gate starts
  with a literal, which Python's regex engine finds far faster than a class. IP pieces
  keep the 12 characters before a token that `ScopedIpRecognizer` reads for labels.
- cards, SSNs, IBANs and phone numbers have two digits at most five characters apart
  and never cross a line break: their recognizers read the lines that have such a pair
  (`Prefilter.zones`; why every phone number has one is in `Prefilter`), cards only with
  13 digits, SSNs and IBANs only with their gate (`gated_zones`).
- phone numbers (python-phonenumbers costs more than all other recognizers together):
  only the candidates of phonenumbers' own candidate pattern that are not bare digit runs
  and may hold a valid number (`phone_candidates`, `pile.pii.phones.PhoneGate`: enough
  digits, and a reading whose national number is one of its country's number types, for
  which regions), each read with its context by the matchers of those regions only
  (`phone_pieces`).

That none of this changes a finding is tested: on real documents and on planted numbers
in many formats the stage returns exactly what presidio's `AnalyzerEngine` returns with
the same recognizers (presidio's own phone matching) on whole documents.

This is the recipe of datatrove's and dolma's PII taggers (a cheap pattern gate before
the expensive matcher), applied to presidio's recognizers.
"""

from __future__ import annotations

import re
from typing import Iterable

from pile.pii.phones import PhoneGate
from pile.pii.validators import CARD_MIN_DIGITS

_WHITESPACE = (" ", "\n", "\t", "\r")
_WS_RE = re.compile(r"[ \n\t\r]")
_DIGIT_RUN_RE = re.compile(r"\d+")
# The e-mail gate from its "@" (a literal: found fast), and the local-part characters
# one of which must come before it (besides letters, digits and "_").
_EMAIL_AT = re.compile(r"@\w[\w\-]*\.\w")
_EMAIL_LOCAL = frozenset("!#$%&'*+-/=?^_`{|}~.")
# The IP gates, each from a literal: a dotted quad's last three parts; and the two
# colons every compressed IPv6 form has, or the seven of the full form (presidio's
# IPv6 patterns allow no other; an IPv4-embedded one also holds a dotted quad).
_IPV4_GATE = re.compile(r"\.\d{1,3}\.\d{1,3}\.\d")
_IPV6_GATES = (re.compile("::"), re.compile(r":(?:[0-9A-Fa-f]{1,4}:){6}"))
# Base58 / Bech32 address heads: a 1 or 3 and 25 more letters or digits (a "bc1"
# address has its 1 followed by at least 25; presidio's pattern is case-insensitive),
# as two patterns that each start with a literal.
_CRYPTO_GATES = (re.compile(r"1[a-zA-Z0-9]{25}", re.IGNORECASE),
                 re.compile(r"3[a-zA-Z0-9]{25}", re.IGNORECASE))
# Characters before an IP address that `ScopedIpRecognizer` reads (its label pattern).
IP_LABEL_CONTEXT = 12
# Characters before a phone number that `PhoneNumberRecognizer` reads (its labels).
PHONE_LABEL_CONTEXT = 24
# Every ASCII character a match of phonenumbers' candidate pattern (its _PATTERN) can
# hold: digits, its punctuation and leading characters, and those of its extension forms
# (" ext. 12", " x12", ";ext=12", ", #12", "anexo", "int"), both cases (the pattern is
# case-insensitive). A test checks this against the pattern's parse tree.
PHONE_PATTERN_CHARS = frozenset("0123456789 \t()[]+-./~,:;=#" "aeinostxAEINOSTX")
# A match with this many digit groups may be cut by the pattern's block limit (1 + 20
# groups of at most 20 digits) and go on in the next one: such a match reads to the end
# of its line.
PHONE_BLOCK_LIMIT = 21


# Per zoned entity, a necessary condition for its recognizer to find anything in a zone:
# a superset of what the recognizer's own pattern can match, so skipping zones without a
# gate match never changes the result (tests compare with presidio's AnalyzerEngine).
_GATES: dict[str, re.Pattern[str]] = {
    # the delimited SSN pattern, 3-2-4.
    "US_SSN": re.compile(r"\d{3}[- .]\d{2}[- .]\d{4}"),
    # country code and check digits (presidio matches IBANs case-sensitively).
    "IBAN_CODE": re.compile(r"[A-Z]{2}[0-9]{2}"),
}


# A zone with fewer digits than this cannot hold the entity; its recognizer is not
# called (cards have 13+, a delimited SSN 9). Phone numbers have their floor per
# candidate instead (`pile.pii.phones`: letters can become digits there).
MIN_DIGITS: dict[str, int] = {"CREDIT_CARD": CARD_MIN_DIGITS, "US_SSN": 9, "IBAN_CODE": 2}


# Dates (05/17/2000, 2021-04-03, with an hour after them) and year ranges
# ((1955 - 1968)): the most common phone-shaped candidates in prose and mail, and never
# phone numbers (`pile.pii.recognizers.PhoneNumberRecognizer` drops them too).
DATE_RE = re.compile(
    r"(?:\d{1,2}/\d{1,2}/(?:\d{2}|\d{4})|\d{4}-\d{2}-\d{2}|[(\[]?\s*\d{4}\s*[-\u2013\u2014/]\s*\d{4})"
    r"(?:\s+\d{1,2})?$")


# Decimal numbers only, one or a row of them (0.333333333, +35236450.6, a table row
# "189.80 (20.00) -0.62"): not phone numbers either. Each has one separator, so dotted
# phone formats (512.327.5078, 01.42.68.53.00) do not match.
_ONE_DECIMAL = r"[(\[]?[+\-\u2212]?\d+[.,]\d+[)\]]?"
DECIMAL_RE = re.compile(rf"{_ONE_DECIMAL}(?:\s+{_ONE_DECIMAL})*$")


def is_bare_number(value: str) -> bool:
    """A digit run with at most brackets or a minus sign around it (``(-2147483646)``):
    ids, epoch times, literals and arithmetic, not a written phone number."""
    return value.strip("()[]-\u2212").isdigit()


def phone_candidates(text: str, zones: list[tuple[int, int]], phones: PhoneGate
                     ) -> list[tuple[int, int, frozenset[str]]]:
    """Spans python-phonenumbers would consider in `zones` that may hold a valid number,
    each with the default regions that may read one there.

    Uses the matcher's own candidate pattern (`PhoneNumberMatcher` only ever parses
    substrings of its matches), minus bare digit runs, which `PhoneNumberRecognizer`
    drops, and minus spans in which no string can parse as a valid number
    (`pile.pii.phones.PhoneGate`: too few digits, or no reading whose national number
    matches a number type of its country); so every number the recognizer returns lies
    in one of these spans, and is found by the matcher of one of its regions. A match
    long enough to reach the pattern's block limit reads to the end of its line, with
    every region (`PHONE_BLOCK_LIMIT`).
    """
    finditer = _phone_pattern().finditer
    shortest = min(phones.floors)
    out = []
    for start, end in zones:
        for m in finditer(text, start, end):
            if m.end() - m.start() < shortest:
                continue  # most matches: a short number (0, 42, 2022)
            value = m.group()
            if is_bare_number(value):
                # Every match inside a bare digit run is a bare digit run, which
                # `PhoneNumberRecognizer` drops (ids, epoch times, arithmetic).
                continue
            regions = phones.regions_for(text, m.start(), m.end())
            if not regions:
                continue
            stop = m.end()
            if len(value) > 2 * PHONE_BLOCK_LIMIT - 2 and _digit_groups(value) >= PHONE_BLOCK_LIMIT:
                # The matcher, resuming inside this match, may read on past its end.
                stop = text.find("\n", stop)
                stop = len(text) if stop < 0 else stop
                regions = phones.all_regions
            out.append((m.start(), stop, regions))
    return out


def _digit_groups(value: str) -> int:
    """How many of the pattern's digit groups (at most 20 digits each) `value` needs."""
    return sum((len(run) + 19) // 20 for run in _DIGIT_RUN_RE.findall(value))


def phone_pieces(text: str, candidates: list[tuple[int, int, frozenset[str]]]
                 ) -> list[tuple[int, int, frozenset[str]]]:
    """The text each phone candidate is read in, merged (regions joined).

    A piece starts at least `PHONE_LABEL_CONTEXT` + 1 characters before its candidate
    (the recognizer reads labels there) and ends at least 3 after it (phonenumbers reads
    a time stamp's ``:mm`` there), and both ends move out to a character no match of
    phonenumbers' candidate pattern can hold (`PHONE_PATTERN_CHARS`; a line break at the
    latest), the one at the end kept in the piece. So no match of that pattern is cut,
    and the matcher, which never reads a string across such a character, tries in the
    piece exactly the strings it tries there in the whole text.
    """
    out: list[tuple[int, int, frozenset[str]]] = []
    n = len(text)
    for cs, ce, regions in candidates:
        s = _pattern_free_before(text, max(0, cs - PHONE_LABEL_CONTEXT - 1))
        e = _pattern_free_after(text, min(n, ce + 3))
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(e, out[-1][1]), out[-1][2] | regions)
        else:
            out.append((s, e, regions))
    return out


def _pattern_free_before(text: str, at: int) -> int:
    """The last offset at or before `at` whose preceding character is not in
    `PHONE_PATTERN_CHARS` (or 0)."""
    stop = max(0, at - 256)
    while at > stop and _in_phone_pattern(text[at - 1]):
        at -= 1
    if at > 0 and _in_phone_pattern(text[at - 1]):
        return text.rfind("\n", 0, at) + 1  # a long run of such characters: the line start
    return at


def _pattern_free_after(text: str, at: int) -> int:
    """Just past the first character at or after `at` not in `PHONE_PATTERN_CHARS` (or
    the end)."""
    n = len(text)
    stop = min(n, at + 256)
    while at < stop and _in_phone_pattern(text[at]):
        at += 1
    if at < n and _in_phone_pattern(text[at]):
        at = text.find("\n", at)  # a long run of such characters: the line end
        at = n if at < 0 else at
    return min(n, at + 1)


def _in_phone_pattern(c: str) -> bool:
    # Any character outside ASCII counts as one (phonenumbers' punctuation, fullwidth
    # forms, its extension words in other scripts).
    return c in PHONE_PATTERN_CHARS or not c.isascii()


def _phone_pattern() -> re.Pattern[str]:
    global _PHONE_PATTERN
    if _PHONE_PATTERN is None:
        from phonenumbers import phonenumbermatcher

        # A private name of python-phonenumbers (stable since its 2011 port); should it
        # go, a looser pattern keeps the superset: digits and phone punctuation.
        _PHONE_PATTERN = getattr(phonenumbermatcher, "_PATTERN", None) or re.compile(
            r"[+(\[\uFF08\uFF0B]*\d[\d\s().\-/\[\]~\u2010-\u2015\u2212\u30FC\uFF0D-\uFF0F]*\d")
    return _PHONE_PATTERN


_PHONE_PATTERN: re.Pattern[str] | None = None


def token_start(text: str, at: int) -> int:
    """Offset of a space or newline before `at` (the nearest one), or 0.

    The recognizers that read tokens cannot match whitespace, so a piece that starts
    at a whitespace character (kept in the piece: it is what the patterns' look-behinds
    and word boundaries see) cuts no match and changes no boundary; an earlier one
    than the token's own (a tab in between) only adds text.
    """
    reach = 256
    while True:
        lo = max(0, at - reach)
        i = max(text.rfind(" ", lo, at), text.rfind("\n", lo, at))
        if i >= 0 or lo == 0:
            return max(i, 0)
        reach *= 16  # a long token (minified code, base64): look further back


def token_end(text: str, at: int) -> int:
    """Offset just past the first whitespace character at or after `at`, or the end."""
    m = _WS_RE.search(text, at)
    return m.end() if m else len(text)


def token_pieces(text: str, hits: Iterable[tuple[int, int]], before: int = 0
                 ) -> list[tuple[int, int]]:
    """The whitespace-delimited tokens around `hits` (in text order), merged.

    Args:
        before: characters of context the recognizer reads before a match (labels
            such as ``version``); the piece starts at a whitespace at least this far
            before the token, so those characters and the one before them are in it.
    """
    out: list[tuple[int, int]] = []
    for hs, he in hits:
        if out and he <= out[-1][1]:
            continue  # in a token already taken
        s = token_start(text, hs)
        if before and s > 0:
            s = token_start(text, max(0, s - before + 1))
        e = token_end(text, he)
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], max(e, out[-1][1]))
        else:
            out.append((s, e))
    return out


def email_candidates(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """The whitespace-delimited tokens of text[start:end] that pass the e-mail gate.

    presidio's e-mail pattern cannot match whitespace, so its matches lie inside these
    tokens; each token keeps the whitespace around it, so its word boundaries are the
    same as in the whole text. (The gate is found from its "@", a literal the regex
    engine finds fast; the local-part character before it is checked here.)
    """
    end = len(text) if end is None else end
    hits = []
    for m in _EMAIL_AT.finditer(text, start, end):
        at = m.start()
        prev = text[at - 1] if at > start else ""
        if prev and (prev.isalnum() or prev in _EMAIL_LOCAL):
            hits.append((at - 1, m.end()))
    return token_pieces(text, hits)


def ip_candidates(text: str) -> list[tuple[int, int]]:
    """Tokens of `text` that may hold an IP address, with the 12 characters before them
    that `pile.pii.recognizers.ScopedIpRecognizer` reads for ``version``-like labels.

    Every IPv4 match holds ``.d.d.d`` and every IPv6 form ``::`` or seven colons
    (`_IPV6_GATES`); the gates start with a literal, which the regex engine finds fast,
    and no IP address contains whitespace.
    """
    hits = sorted(m.span() for gate in (_IPV4_GATE, *_IPV6_GATES) for m in gate.finditer(text))
    return token_pieces(text, hits, before=IP_LABEL_CONTEXT + 1)


def crypto_candidates(text: str) -> list[tuple[int, int]]:
    """Tokens around the heads of Bitcoin addresses (no whitespace in an address).

    The gate is searched as two patterns, from a "1" and from a "3" (a literal each,
    found fast; one pattern starting with either is three times slower)."""
    hits = sorted(m.span() for gate in _CRYPTO_GATES for m in gate.finditer(text))
    return token_pieces(text, hits)


def gated_zones(entity: str, text: str, zones: list[tuple[int, int]], digits: list[int]
                ) -> list[tuple[int, int]]:
    """The zones with enough digits for `entity` (`MIN_DIGITS`; `digits` per zone) and
    a match of its gate."""
    need = MIN_DIGITS.get(entity, 0)
    pattern = _GATES.get(entity)
    if pattern is None:
        return [z for z, n in zip(zones, digits) if n >= need]
    search = pattern.search
    return [(s, e) for (s, e), n in zip(zones, digits) if n >= need and search(text, s, e)]


# Entities whose candidates are found on the whole text, not in dense lines: their
# gates start with a literal ("@", ".", ":") that the regex engine finds fast, or (a
# Bitcoin address) need not have two digits close together.
TOKEN_ENTITIES = frozenset({"EMAIL_ADDRESS", "IP_ADDRESS", "CRYPTO"})
# Two digits at most five characters apart, on one line: every card, SSN and IBAN has
# two adjacent digits, and every string python-phonenumbers accepts has two digits that
# close (see `Prefilter`). None of these entities spans a line break.
_DENSE_RE = re.compile(r"\d[^\n]{0,4}\d")


class Prefilter:
    """Which documents need the recognizers, and which lines of them the card, SSN, IBAN
    and phone recognizers must read.

    A line is read when it holds two digits at most five characters apart (`zones`).
    Cards (13+ digits in groups), delimited SSNs and IBANs (``DE89``) have two adjacent
    digits. A phone number python-phonenumbers accepts is a piece of its candidate
    pattern's match, which puts at most four punctuation characters between digit
    groups, and ``parse`` takes only numbers of two digits (``\\d{2}``) or of three or
    more with only punctuation between them (its ``_VALID_PHONE_NUMBER``): so two of
    them are adjacent, or in the main part (at most five apart), or in the one digit run
    of the extension. None of them crosses a line break (no pattern allows one), so a
    line is a piece with the same boundaries as in the whole text.

    Args:
        entities: the entity names that will be searched.
        keep_private_ips: whether non-public IPs are left alone (then ``::`` needs no
            trigger: every public IPv6 address contains a digit).
    """

    def __init__(self, entities: Iterable[str], keep_private_ips: bool = True) -> None:
        entities = tuple(entities)
        # Entities read in dense lines (all but TOKEN_ENTITIES).
        self.zoned = tuple(e for e in entities if e not in TOKEN_ENTITIES)
        triggers = [r"\d"] if any(e != "EMAIL_ADDRESS" for e in entities) else []
        if "EMAIL_ADDRESS" in entities:
            triggers.append("@")
        if "IP_ADDRESS" in entities and not keep_private_ips:
            triggers.append("::")  # fe80::beef: an address without a digit
        self._any = re.compile("|".join(triggers)) if triggers else None

    def needs_scan(self, text: str) -> bool:
        """True when `text` contains any trigger (one regex search, stops at the first)."""
        return self._any is not None and self._any.search(text) is not None

    def zones(self, text: str) -> list[tuple[int, int]]:
        """The lines with two digits close together, consecutive ones joined: sorted,
        non-overlapping ``(start, end)`` offsets, from a line's start to a line's end
        (no newline). (Joining lines further apart reads more text than it saves calls.)"""
        if not self.zoned:
            return []
        out: list[tuple[int, int]] = []
        pos, n = 0, len(text)
        search = _DENSE_RE.search
        while pos < n:
            m = search(text, pos)
            if m is None:
                break
            start = text.rfind("\n", 0, m.start()) + 1
            end = text.find("\n", m.end())
            end = n if end < 0 else end
            if out and start <= out[-1][1] + 1:
                out[-1] = (out[-1][0], end)  # the next line: one zone
            else:
                out.append((start, end))
            pos = end
        return out
