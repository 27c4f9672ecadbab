"""The fast prefilter: which documents, and which windows of them, presidio must see.

Every entity scrubbed here contains a character that is rare in prose: a digit (any
Unicode decimal digit, as presidio's patterns and python-phonenumbers read them; cards,
phones, SSNs, IBANs, IPv4, public IPv6 addresses, which all start with 2 or 3, and
Bitcoin addresses, which start with 1, 3 or ``bc1``), or an ``@`` (e-mail). One
compiled regex over those characters decides whether a document needs the recognizers
at all; a document without a digit or an ``@`` never reaches presidio. For the others,
each trigger opens a window of `margin` characters on both sides (wider than the
longest entity around its trigger: 64 is the RFC 5321 local-part limit and more than a
62-character Bech32 address), overlapping windows merge, and each window's edges move
out to the nearest whitespace (none of the entities but phone numbers contain
whitespace, and their whitespace is within the margin), so no candidate is cut.

When IP addresses are scrubbed including private and reserved ranges
(``keep_private_ips: false``), ``::`` is also a trigger, for IPv6 addresses written
with hex letters only (``fe80::beef``).

Inside the windows, each entity has a gate (`gate`): a pattern every match of its
recognizer must contain (a dotted quad or two colons for IPs, ``AA00`` for IBANs...),
so a window without it is skipped with nothing lost. Two recognizers get narrower input:

- phone numbers (python-phonenumbers costs more than all other recognizers together):
  only the candidates of phonenumbers' own candidate pattern with at least seven digits,
  minus bare digit runs and dates/year ranges, each with 32 characters of context
  (`phone_candidates`);
- e-mail addresses: only the whitespace-delimited tokens that pass the e-mail gate
  (`email_candidates`); presidio's pattern cannot cross whitespace.

That skipping changes nothing is tested: on real documents the stage returns exactly
what presidio's `AnalyzerEngine` returns with the same recognizers on whole documents.

This is the recipe of datatrove's and dolma's PII taggers (a cheap pattern gate before
the expensive matcher), applied to presidio's recognizers.
"""

from __future__ import annotations

import re
from typing import Iterable

# Trigger kinds: which characters open a window, and which entities read which kind.
DIGIT, AT, COLONS = "digit", "at", "colons"
# Clusters of triggers no more than `gap` characters apart: each becomes one window
# (matched in C, instead of one Python step per digit run).
_CLUSTER_PATTERNS = {
    DIGIT: r"\d+(?:\D{{1,{gap}}}\d+)*",
    AT: r"@(?:[^@]{{0,{gap}}}@)*",
    COLONS: r"::(?:[\s\S]{{0,{gap}}}?::)*",
}
_WHITESPACE = (" ", "\n", "\t", "\r")
_SPACE_OR_NEWLINE = re.compile(r"[ \n]")


# Per entity, a necessary condition for its recognizer to find anything in a window: a
# superset of what the recognizer's own pattern can match, so skipping windows without
# a gate match never changes the result (tests compare with presidio's AnalyzerEngine).
_GATES: dict[str, re.Pattern[str]] = {
    # presidio's pattern: local part, "@", a \w label, more labels after dots.
    "EMAIL_ADDRESS": re.compile(r"[!#$%&'*+\-/=?^_`{|}~\w.]@\w[\w\-]*\.\w"),
    # a dotted quad, or two colons with at most four hex digits between (every IPv6 form).
    "IP_ADDRESS": re.compile(r"\d\.\d{1,3}\.\d{1,3}\.\d|:[0-9A-Fa-f]{0,4}:"),
    # the delimited SSN pattern, 3-2-4.
    "US_SSN": re.compile(r"\d{3}[- .]\d{2}[- .]\d{4}"),
    # country code and check digits (presidio matches IBANs case-sensitively).
    "IBAN_CODE": re.compile(r"[A-Z]{2}[0-9]{2}"),
    # Base58 / Bech32 address heads (presidio's pattern, case-insensitive).
    "CRYPTO": re.compile(r"(?:bc1|[13])[a-zA-Z0-9]{25}", re.IGNORECASE),
}


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


def phone_candidates(text: str, start: int, end: int, min_digits: int = 7
                     ) -> list[tuple[int, int]]:
    """Spans python-phonenumbers would consider, with at least `min_digits` digits.

    Uses the matcher's own candidate pattern (`PhoneNumberMatcher` only ever parses
    substrings of its matches), minus bare digit runs, dates and decimals, which
    `PhoneNumberRecognizer` drops; so every number the recognizer returns lies in one
    of these spans.
    """
    pattern = _phone_pattern()
    out = []
    for m in pattern.finditer(text, start, end):
        value = m.group()
        if is_bare_number(value):
            # Every match inside a bare digit run is a bare digit run, which
            # `PhoneNumberRecognizer` drops (ids, epoch times, arithmetic).
            continue
        if DATE_RE.match(value) or DECIMAL_RE.match(value):
            continue  # any phone inside is the whole value, or too short
        if sum(1 for c in value if c.isdigit()) >= min_digits:
            out.append(m.span())
    return out


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


def email_candidates(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """The whitespace-delimited tokens of text[start:end] that pass the e-mail gate.

    presidio's e-mail pattern cannot match whitespace, so its matches lie inside these
    tokens; each token keeps the whitespace around it, so its word boundaries are the
    same as in the whole text.
    """
    out: list[tuple[int, int]] = []
    for m in _GATES["EMAIL_ADDRESS"].finditer(text, start, end):
        at = m.start()
        if out and at < out[-1][1]:
            continue
        s = max(text.rfind(c, start, at) for c in _WHITESPACE)
        s = start if s < 0 else s
        found = [i for i in (text.find(c, at, end) for c in _WHITESPACE) if i >= 0]
        e = min(found) + 1 if found else end
        if out and s <= out[-1][1]:
            out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out


def gate(entity: str, text: str, start: int, end: int) -> bool:
    """False when the recognizer of `entity` cannot find anything in text[start:end]."""
    pattern = _GATES.get(entity)
    return pattern is None or pattern.search(text, start, end) is not None


def entity_triggers(entity: str, keep_private_ips: bool) -> tuple[str, ...]:
    """The trigger kinds whose windows an entity's recognizer must read."""
    if entity == "EMAIL_ADDRESS":
        return (AT,)
    if entity == "IP_ADDRESS" and not keep_private_ips:
        return (DIGIT, COLONS)
    return (DIGIT,)


class Prefilter:
    """Finds the windows of a text that may hold the configured entities.

    Args:
        entities: the entity names that will be searched.
        keep_private_ips: whether non-public IPs are left alone (then ``::`` needs no
            trigger: every public IPv6 address contains a digit).
        margin: characters kept on each side of a trigger.
        snap: how far a window edge may move further out to reach whitespace.
    """

    def __init__(self, entities: Iterable[str], keep_private_ips: bool = True,
                 margin: int = 64, snap: int = 256) -> None:
        self.margin = margin
        self.snap = snap
        self.entity_kinds = {e: entity_triggers(e, keep_private_ips) for e in entities}
        kinds = sorted({k for ks in self.entity_kinds.values() for k in ks})
        self.kinds = tuple(kinds)
        self._clusters = {k: re.compile(_CLUSTER_PATTERNS[k].format(gap=2 * margin)) for k in kinds}
        alternatives = {DIGIT: r"\d", AT: "@", COLONS: "::"}
        self._any = re.compile("|".join(alternatives[k] for k in kinds)) if kinds else None

    def needs_scan(self, text: str) -> bool:
        """True when `text` contains any trigger (one regex search, stops at the first)."""
        return self._any is not None and self._any.search(text) is not None

    def windows(self, text: str) -> dict[str, list[tuple[int, int]]]:
        """Windows per entity: sorted, non-overlapping ``(start, end)`` offsets."""
        by_kind = {k: self._kind_windows(text, self._clusters[k]) for k in self.kinds}
        out: dict[str, list[tuple[int, int]]] = {}
        for entity, kinds in self.entity_kinds.items():
            spans = by_kind[kinds[0]] if len(kinds) == 1 else _merge(
                sorted(w for k in kinds for w in by_kind[k]))
            if spans:
                out[entity] = spans
        return out

    def _kind_windows(self, text: str, clusters: re.Pattern[str]) -> list[tuple[int, int]]:
        margin = self.margin
        return _merge([self._snap(text, m.start() - margin, m.end() + margin)
                       for m in clusters.finditer(text)])

    def _snap(self, text: str, start: int, end: int) -> tuple[int, int]:
        n = len(text)
        if start <= 0:
            start = 0
        else:
            # Spaces and newlines only: any whitespace is a safe edge, these two are
            # the common ones (two C calls instead of a regex per edge).
            lo = max(0, start - self.snap)
            ws = max(text.rfind(" ", lo, start + 1), text.rfind("\n", lo, start + 1))
            start = ws if ws >= 0 else lo
        if end >= n:
            end = n
        else:
            hi = min(n, end + self.snap)
            m = _SPACE_OR_NEWLINE.search(text, end - 1, hi)
            end = m.end() if m else hi
        return start, end


def _merge(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for s, e in spans:
        if out and s <= out[-1][1]:
            if e > out[-1][1]:
                out[-1] = (out[-1][0], e)
        else:
            out.append((s, e))
    return out
