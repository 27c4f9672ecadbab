"""The PII stage (`pii_v1`): find entities with presidio behind a prefilter, replace them.

For each document: the prefilter (`pile.pii.prefilter`) skips documents without a digit
or an ``@``; in the rest each configured presidio recognizer (`pile.pii.recognizers`)
reads only the pieces that can hold its entity (the tokens around an ``@``, a dotted
quad or an IPv6 shape; the lines with two digits close together; phone candidates that
python-phonenumbers may read as valid numbers, by the matchers of the regions that
may); overlapping findings merge into one span typed by the most specific entity
(`PRIORITY`); each span is replaced by a placeholder, a mask or a keyed hash. The
findings are exactly those of presidio's `AnalyzerEngine` on the whole document
(tests/test_pii_equivalence.py).

Placeholders (``replacement: placeholder``, the default):

====================  ==================
entity                placeholder
====================  ==================
``CREDIT_CARD``       ``<CREDIT_CARD>``
``EMAIL_ADDRESS``     ``<EMAIL>``
``PHONE_NUMBER``      ``<PHONE>``
``IP_ADDRESS``        ``<IP_ADDRESS>``
``US_SSN``            ``<US_SSN>``
``IBAN_CODE``         ``<IBAN>``
``CRYPTO``            ``<CRYPTO>``
====================  ==================

``replacement: mask`` writes one ``*`` per character of the value (lengths and offsets
of the rest of the text stay as they were); ``replacement: hash`` writes
``<EMAIL:1a2b3c4d5e6f>``, the first 12 hex digits of HMAC-SHA256(hash_key, value), so
the same value maps to the same token across the corpus without being recoverable
without the key. None of the three forms can be read as a card number or an e-mail
address by `pile.pii.leaks.scan_for_leaks`.

What the stage leaves in each document it changed:

- ``meta["pii"]``: entity -> number of spans replaced (only entities found);
- ``meta["_pii_spans"]`` (when ``audit`` is on): ``[[entity, start, end], ...]`` in
  offsets of the ORIGINAL text, for ``pii/audit.jsonl`` (the runner writes it and
  strips ``_``-prefixed keys from the outputs); never the value itself;
- per-source counters ``pii.<ENTITY>`` (`Stage.count`) for ``stats.json``.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import logging
import re
from collections import Counter
from typing import NamedTuple

from pile.config import PiiConfig
from pile.document import Document
from pile.pii.phones import PhoneGate
from pile.pii.prefilter import (
    Prefilter,
    crypto_candidates,
    email_candidates,
    gated_zones,
    ip_candidates,
    phone_candidates,
    phone_pieces,
)
from pile.stage import Mapper

log = logging.getLogger(__name__)

PLACEHOLDERS: dict[str, str] = {
    "CREDIT_CARD": "<CREDIT_CARD>",
    "EMAIL_ADDRESS": "<EMAIL>",
    "PHONE_NUMBER": "<PHONE>",
    "IP_ADDRESS": "<IP_ADDRESS>",
    "US_SSN": "<US_SSN>",
    "IBAN_CODE": "<IBAN>",
    "CRYPTO": "<CRYPTO>",
}

# When findings overlap, the merged span takes the type that comes first here: the
# checksummed entities are the most specific (a card's digits also parse as a phone).
PRIORITY: tuple[str, ...] = ("CREDIT_CARD", "IBAN_CODE", "CRYPTO", "EMAIL_ADDRESS",
                             "US_SSN", "IP_ADDRESS", "PHONE_NUMBER")
_RANK = {e: i for i, e in enumerate(PRIORITY)}

_DROP_DIGITS = str.maketrans("", "", "0123456789")
# Findings of token pieces up to this long are remembered, this many at a time.
SEEN_PIECE_CHARS = 256
SEEN_PIECES = 1 << 14

_UNICODE_DIGIT_RE = re.compile(r"\d")


def _digit_count(text: str, start: int, end: int) -> int:
    chunk = text[start:end]
    if chunk.isascii():
        return len(chunk) - len(chunk.translate(_DROP_DIGITS))
    return len(_UNICODE_DIGIT_RE.findall(chunk))   # fullwidth, Arabic-Indic... digits


class Span(NamedTuple):
    """One finding: entity type and ``[start, end)`` character offsets."""

    entity: str
    start: int
    end: int


def _start(span: Span) -> int:
    return span.start


def _inside(spans: list[Span], span: tuple[int, int]) -> bool:
    """True when `span` lies inside one of `spans` (merged, in text order)."""
    i = bisect.bisect_right(spans, span[0], key=_start) - 1  # the last starting at or before it
    # A phone number inside a merged span would merge into it and not change its type
    # (PHONE_NUMBER comes last in PRIORITY), so candidates there need no parse.
    return i >= 0 and span[1] <= spans[i].end


def merge_spans(spans: list[Span]) -> list[Span]:
    """Union overlapping findings (touching ones stay apart), typed by `PRIORITY`.

    Args:
        spans: findings in any order, possibly overlapping.

    Returns:
        Non-overlapping spans in text order.
    """
    out: list[Span] = []
    for span in sorted(spans, key=lambda s: (s.start, -s.end)):
        if out and span.start < out[-1].end:
            last = out[-1]
            entity = min(last.entity, span.entity, key=_RANK.__getitem__)
            out[-1] = Span(entity, last.start, max(last.end, span.end))
        else:
            out.append(span)
    return out


class PiiScrubber(Mapper):
    """Replaces PII spans in each document (see the module docstring).

    Args:
        cfg: the ``pii`` config section.

    Attributes:
        docs_scanned: documents that passed the prefilter (reached presidio).
        recognizer_calls: ``recognizer.analyze`` calls made (one per entity and piece).
    """

    name = "pii_v1"
    transient = ("_recognizers", "_prefilter", "_phone_gate", "_seen")

    def __init__(self, cfg: PiiConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.docs_scanned = 0
        self.recognizer_calls = 0
        self._recognizers = None
        self._prefilter = None
        self._phone_gate = None
        self._seen: dict | None = None

    def setup(self) -> None:
        """Build the presidio recognizers and the prefilter (offline, no model)."""
        # presidio is imported here, on the workers: the driver only needs the stage's
        # name and config (a second of imports saved on every build, a no-op one too)
        from pile.pii.recognizers import build_recognizers

        self._recognizers = build_recognizers(self.cfg.entities, self.cfg.keep_private_ips,
                                              self.cfg.phone_regions)
        self._prefilter = Prefilter(self.cfg.entities, self.cfg.keep_private_ips)
        self._phone_gate = PhoneGate(self.cfg.phone_regions)
        self._seen = {}

    def find_spans(self, text: str) -> list[Span]:
        """The PII spans of `text`, merged and in text order (nothing is replaced)."""
        self.ensure_setup()
        prefilter = self._prefilter
        if not prefilter.needs_scan(text):
            return []
        self.docs_scanned += 1
        found: list[Span] = []
        entities = self.cfg.entities
        if "EMAIL_ADDRESS" in entities and "@" in text:
            self._analyze_tokens("EMAIL_ADDRESS", text, email_candidates(text), found)
        if "IP_ADDRESS" in entities:
            self._analyze_tokens("IP_ADDRESS", text, ip_candidates(text), found)
        if "CRYPTO" in entities:
            self._analyze_tokens("CRYPTO", text, crypto_candidates(text), found)
        zones = prefilter.zones(text)
        if not zones:
            return merge_spans(found)
        digits = [_digit_count(text, s, e) for s, e in zones]
        for entity in prefilter.zoned:
            if entity != "PHONE_NUMBER":  # phones last: the more is found before, the less parses
                self._analyze(entity, text, gated_zones(entity, text, zones, digits), found)
        if "PHONE_NUMBER" in prefilter.zoned:
            # python-phonenumbers costs more than the other recognizers together: give
            # it only its own candidates, with context on both sides, and not those
            # inside a span already found (they would merge into it).
            covered = merge_spans(found)
            cands = phone_candidates(text, zones, self._phone_gate)
            if covered:
                cands = [c for c in cands if not _inside(covered, c)]
            self._analyze_phones(text, phone_pieces(text, cands), found)
        return merge_spans(found)

    def _analyze_phones(self, text: str, pieces: list[tuple[int, int, frozenset[str]]],
                        found: list[Span]) -> None:
        """The phone recognizer on each piece, with only the regions that may read a
        number in it (`pile.pii.phones.ValidityGate`)."""
        recognizer = self._recognizers["PHONE_NUMBER"]
        for s, e, regions in pieces:
            self.recognizer_calls += 1
            for res in recognizer.analyze(text[s:e], ["PHONE_NUMBER"], None, regions):
                found.append(Span("PHONE_NUMBER", s + res.start, s + res.end))

    def _analyze(self, entity: str, text: str, pieces: list[tuple[int, int]], found: list[Span]) -> None:
        """Run the entity's recognizer on each piece; add its findings (text offsets)."""
        recognizer = self._recognizers[entity]
        for s, e in pieces:
            self.recognizer_calls += 1
            for res in recognizer.analyze(text[s:e], [entity], None):
                found.append(Span(entity, s + res.start, s + res.end))

    def _analyze_tokens(self, entity: str, text: str, pieces: list[tuple[int, int]],
                        found: list[Span]) -> None:
        """`_analyze` for token pieces, whose findings are remembered: the same token
        comes back often (an author's address on every commit of a changelog), and a
        recognizer's findings are a function of the piece's text."""
        recognizer = self._recognizers[entity]
        seen = self._seen
        for s, e in pieces:
            piece = text[s:e]
            spans = seen.get((entity, piece))
            if spans is None:
                self.recognizer_calls += 1
                spans = tuple((r.start, r.end) for r in recognizer.analyze(piece, [entity], None))
                if len(piece) <= SEEN_PIECE_CHARS:
                    if len(seen) >= SEEN_PIECES:
                        seen.clear()  # bounded memory on a long-running worker
                    seen[(entity, piece)] = spans
            for a, b in spans:
                found.append(Span(entity, s + a, s + b))

    def replacement(self, entity: str, value: str) -> str:
        """What replaces `value` under the configured replacement mode."""
        mode = self.cfg.replacement
        if mode == "mask":
            return "*" * len(value)
        if mode == "hash":
            digest = hmac.new(self.cfg.hash_key.encode("utf-8"),
                              value.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()
            return f"{PLACEHOLDERS[entity][:-1]}:{digest[:12]}>"
        return PLACEHOLDERS[entity]

    def scrub(self, text: str) -> tuple[str, list[Span]]:
        """Replace every PII span of `text`.

        Returns:
            The new text and the spans replaced, in offsets of the original `text`.
        """
        spans = self.find_spans(text)
        if not spans:
            return text, []
        pieces: list[str] = []
        pos = 0
        for span in spans:
            pieces.append(text[pos:span.start])
            pieces.append(self.replacement(span.entity, text[span.start:span.end]))
            pos = span.end
        pieces.append(text[pos:])
        return "".join(pieces), spans

    def map(self, doc: Document) -> Document:
        """Scrub one document; record counts and audit spans in its meta."""
        if not self.cfg.enabled:
            return doc
        text, spans = self.scrub(doc.text)
        if not spans:
            return doc
        counts = Counter(span.entity for span in spans)
        meta = dict(doc.meta)
        meta["pii"] = {e: counts[e] for e in PRIORITY if counts[e]}
        if self.cfg.audit:
            meta["_pii_spans"] = [[s.entity, s.start, s.end] for s in spans]
        for entity, n in counts.items():
            self.count(doc.source, f"pii.{entity}", n)
        return Document(id=doc.id, source=doc.source, text=text, meta=meta)
