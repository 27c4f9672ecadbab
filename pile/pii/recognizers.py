"""presidio-analyzer recognizers set up to run offline, with the fixes the corpus needs.

presidio's default `AnalyzerEngine` loads a spaCy model (downloaded on first use, so it
fails offline) and its e-mail recognizer validates domains with `tldextract`, which
fetches the public-suffix list over the network on first use. Neither is needed for the
entities scrubbed here: every one of them is a pattern plus a checksum or a parser, so
the recognizers are called directly (``recognizer.analyze(text, entities)``, no NLP
artifacts), and `build_analyzer_engine` wraps the same set in an engine with presidio's
model-free `NoOpNlpEngine` for comparison.

What is presidio's and what is ours:

- ``CREDIT_CARD``: `CardRecognizer`, a subclass of presidio's `CreditCardRecognizer`
  that keeps its Luhn validation and adds (a) the dotted formatting presidio's pattern
  misses (``4111.1111.1111.1111``), (b) the Amex/Diners 4-6-5/4-6-4 layouts with any
  separator, (c) overlapping candidates, so a card after another number in a table row
  is not lost, and (d) the issuer prefix and length check (`validators.card_network`),
  which presidio's pattern lacks (it accepts any number starting with 1, 3-6).
- ``EMAIL_ADDRESS``: `OfflineEmailRecognizer`, presidio's pattern with the domain
  validated against tldextract's bundled public-suffix snapshot (no fetch, no cache dir).
- ``PHONE_NUMBER``: `PhoneNumberRecognizer`, presidio's `PhoneRecognizer`
  (python-phonenumbers, leniency VALID) for the configured regions, its matcher told
  which strings are too short to parse (`pile.pii.phones.FloorMatcher`: the same
  matches, without parsing ``54`` or ``2022``), minus matches that
  are ISBNs, IPv4 addresses, dates and year ranges, decimals, bare digit runs
  (``2125550147``: ids, epoch times and arithmetic look the same), divisions, parts of
  identifiers (``aix-6107-1415-32``), or labelled as order/invoice/account numbers.
- ``IP_ADDRESS``: `ScopedIpRecognizer`, presidio's `IpRecognizer` minus private and
  reserved ranges (when configured), bare ``::``, version and section numbers
  (``version 1.2.3.4``, ``section 8.2.4.44``) and quads inside longer dotted sequences.
- ``US_SSN``: presidio's `UsSsnRecognizer` restricted to its delimited pattern
  (``123-45-6789``); the undelimited "very weak" 9-digit patterns would take every
  9-digit number for an SSN.
- ``IBAN_CODE``, ``CRYPTO``: presidio's `IbanRecognizer` (mod-97 checksum, per-country
  formats) and `CryptoRecognizer` (Base58Check / Bech32 checksums) unchanged.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import re
from typing import Iterable

from presidio_analyzer import (
    AnalysisExplanation,
    AnalyzerEngine,
    EntityRecognizer,
    Pattern,
    RecognizerResult,
)
from presidio_analyzer.nlp_engine import NoOpNlpEngine
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    CryptoRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    UsSsnRecognizer,
)
from presidio_analyzer.recognizer_registry import RecognizerRegistry

from pile.pii import validators
from pile.pii.phones import FloorMatcher
from pile.pii.prefilter import DATE_RE, DECIMAL_RE, IP_LABEL_CONTEXT, PHONE_LABEL_CONTEXT, is_bare_number

log = logging.getLogger(__name__)

# National formats of these regions count as phone numbers; +CC numbers of every region
# are found anyway. Germany's and India's national plans accept 4- to 12-digit numbers,
# which made years, year ranges and ids into phone numbers on the evaluation set.
DEFAULT_PHONE_REGIONS = ("US", "GB", "CA", "FR")


@functools.lru_cache(maxsize=1)
def _offline_suffix_extractor():
    """A tldextract extractor that reads only its bundled public-suffix snapshot.

    ``suffix_list_urls=()`` means nothing is fetched; ``cache_dir=None`` means nothing
    is written to ``~/.cache``. The snapshot ships with the installed tldextract.
    """
    import tldextract

    return tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


def email_domain_valid(value: str) -> bool:
    """True when the part after '@' ends in a public suffix (``enron.com``, ``ac.uk``).

    Args:
        value: an e-mail-shaped string (``local@domain``).
    """
    return _domain_valid(value.rsplit("@", 1)[-1])


@functools.lru_cache(maxsize=1 << 14)
def _domain_valid(domain: str) -> bool:
    # A mailing list's domain comes back thousands of times; the answer is a function
    # of the domain and the bundled snapshot only.
    return _offline_suffix_extractor()(domain).fqdn != ""


class CardRecognizer(CreditCardRecognizer):
    """Credit card numbers of every major network, in any common formatting.

    Candidates come from `validators.iter_card_candidates` (digit groups joined by one
    consistent space, dash or dot, or none; overlapping sub-runs included); each is
    validated by presidio's Luhn check (`CreditCardRecognizer.validate_result`, with
    dots added to the separators it strips) and by the network's issuer prefix and
    length (`validators.card_network`).
    """

    def __init__(self) -> None:
        # `analyze` below finds the candidates; the pattern only describes them to
        # presidio (PatternRecognizer requires one; `to_dict` and explanations show it).
        super().__init__(
            patterns=[Pattern("card layout (pile)", r"[0-9][0-9 .\-]{11,}[0-9]", 0.5)],
            replacement_pairs=[("-", ""), (" ", ""), (".", "")],
            name="CardRecognizer",
        )

    def validate_result(self, pattern_text: str) -> bool:
        """Luhn (presidio's) and an issuer prefix/length (`validators.card_network`)."""
        digits = EntityRecognizer.sanitize_value(pattern_text, self.replacement_pairs)
        return validators.card_network(digits) is not None and bool(super().validate_result(pattern_text))

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None,
                regex_flags: int | None = None) -> list[RecognizerResult]:
        """Find validated card numbers in `text` (the NLP artifacts are not used)."""
        spans = [(s, e) for s, e in validators.iter_card_candidates(text)
                 if self.validate_result(text[s:e])]
        return [self._result(s, e) for s, e in validators.remove_overlaps(spans)]

    def _result(self, start: int, end: int) -> RecognizerResult:
        return RecognizerResult(
            entity_type="CREDIT_CARD", start=start, end=end, score=EntityRecognizer.MAX_SCORE,
            recognition_metadata={RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                                  RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id})


class OfflineEmailRecognizer(EmailRecognizer):
    """presidio's e-mail pattern; domains checked against the bundled suffix list."""

    def __init__(self) -> None:
        super().__init__(name="OfflineEmailRecognizer")

    def validate_result(self, pattern_text: str) -> bool:
        """True when the domain ends in a known public suffix (no network access)."""
        return email_domain_valid(pattern_text)


# Labels in front of a number that say it is not a phone number.
_NOT_PHONE_LABEL_RE = re.compile(
    r"\b(?:isbn(?:-1[03])?|order|invoice|tracking|acct|account|serial|part|"
    r"page|pp|id|po|case|ticket)\b\.?\s*(?:no\.?|num(?:ber)?\.?|#)?\s*[:#]?\s*$",
    re.IGNORECASE)


_SPACED_SLASH_RE = re.compile(r"\s/|/\s")
_JOINED_TO_WORD_RE = re.compile(r"[^\W\d][\-_]$")
_DOTTED_QUAD_RE = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")


class PhoneNumberRecognizer(PhoneRecognizer):
    """presidio's phone recognizer (python-phonenumbers) without ISBNs, IPv4 addresses,
    bare digit runs, divisions (a slash with a space beside it) and numbers labelled as
    order, invoice, page or account ids.

    Args:
        regions: regions whose national formats count (see `DEFAULT_PHONE_REGIONS`).
        reference: match with presidio's own `PhoneRecognizer.analyze` (phonenumbers'
            matcher, every candidate parsed) instead of `FloorMatcher`: the baseline of
            the benchmarks and what the tests compare the fast path with.
    """

    def __init__(self, regions: Iterable[str] = DEFAULT_PHONE_REGIONS, reference: bool = False) -> None:
        super().__init__(supported_regions=tuple(regions), name="PhoneNumberRecognizer")
        self.reference = reference

    def matches(self, text: str, entities: list[str], nlp_artifacts=None,
                regions: Iterable[str] | None = None) -> list[RecognizerResult]:
        """What presidio's `PhoneRecognizer.analyze` returns for `text` (start, end,
        score), before the filters of `analyze`; `regions` leaves out the matchers of the
        other regions (those that cannot read a valid number in `text`)."""
        if self.reference:
            return super().analyze(text, entities, nlp_artifacts)
        # presidio's loop (one matcher per region, duplicates removed) with the matcher
        # that skips strings too short to be valid; its explanation names the region
        # searched, where presidio's names the region of the number (it parses it again).
        results = []
        wanted = self.supported_regions if regions is None else set(regions)
        for region in self.supported_regions:
            if region not in wanted:
                continue
            for match in FloorMatcher(text, region, leniency=self.leniency):
                results.append(RecognizerResult(
                    entity_type=self.supported_entities[0], start=match.start, end=match.end,
                    score=self.SCORE,
                    analysis_explanation=AnalysisExplanation(
                        recognizer=PhoneRecognizer.__name__, original_score=self.SCORE,
                        textual_explanation=f"Recognized as {region} region phone number, "
                                            f"using PhoneRecognizer"),
                    recognition_metadata={RecognizerResult.RECOGNIZER_NAME_KEY: self.name,
                                          RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: self.id}))
        return EntityRecognizer.remove_duplicates(results)

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None,
                regions: Iterable[str] | None = None) -> list[RecognizerResult]:
        """presidio's matches minus ISBNs and numbers labelled as order/invoice/page ids
        (`regions`: see `matches`)."""
        kept = []
        for res in self.matches(text, entities, nlp_artifacts, regions):
            value = text[res.start:res.end]
            if validators.isbn_valid(value) and value.count("-") == 3:  # 4-part ISBN
                continue
            if _NOT_PHONE_LABEL_RE.search(text, max(0, res.start - PHONE_LABEL_CONTEXT), res.start):
                continue
            if _DOTTED_QUAD_RE.search(value):  # an IPv4 address, which phonenumbers also parses
                continue
            if _SPACED_SLASH_RE.search(value):  # a division: (1901 - 8225) / 844
                continue
            if DATE_RE.match(value):  # 05/17/2000, 2021-04-03, (1955 - 1968)
                continue
            if DECIMAL_RE.match(value):  # 0.333333333, 189.80 (20.00) -0.62
                continue
            if _JOINED_TO_WORD_RE.search(text, max(0, res.start - 2), res.start):
                continue  # aix-6107-1415-32: part of an identifier
            if is_bare_number(value):
                # A bare digit run (no "+", no separators): ids, epoch times and
                # arithmetic operands are written like this far more often than phones.
                continue
            kept.append(res)
        return kept


# Dotted quads after these labels are version or section numbers (version 1.2.3.4,
# section 8.2.4.44, RFC fragments #section-7.1.1.1), not addresses.
_VERSION_LABEL_RE = re.compile(
    r"(?:\bversion|\bver\.?|\brelease|\bv|\bsections?|\bsec\.?|§|\bchapter|\bclause|"
    r"\bstep|\bfig(?:ure)?\.?|\btable|\barticle|\bart\.?|\brule)[\s\-\"'(]*$", re.IGNORECASE)
# A dotted quad inside a longer dotted sequence (1.0.0.127.in-addr.arpa, 3.1.1.6.2).
_LONGER_DOTTED_BEFORE_RE = re.compile(r"\w\.$")
_LONGER_DOTTED_AFTER_RE = re.compile(r"\.\w")


class ScopedIpRecognizer(IpRecognizer):
    """presidio's IPv4/IPv6 recognizer, optionally without non-public ranges.

    Args:
        keep_private_ips: leave private, reserved, loopback, link-local, multicast and
            documentation addresses unchanged (`validators.is_public_ip`).
    """

    def __init__(self, keep_private_ips: bool = True) -> None:
        super().__init__(name="ScopedIpRecognizer")
        self.keep_private_ips = keep_private_ips

    def invalidate_result(self, pattern_text: str) -> bool:
        """presidio's parse check, plus: no alphanumerics (``::``) or a non-public range."""
        if super().invalidate_result(pattern_text):
            return True
        if not any(c.isalnum() for c in pattern_text):
            return True
        return self.keep_private_ips and not validators.is_public_ip(pattern_text)

    def analyze(self, text: str, entities: list[str], nlp_artifacts=None,
                regex_flags: int | None = None) -> list[RecognizerResult]:
        """presidio's matches minus version and section numbers (``version 1.2.3.4``,
        ``section 8.2.4.44``) and quads inside longer dotted sequences."""
        kept = []
        for r in super().analyze(text, entities, nlp_artifacts, regex_flags):
            if _VERSION_LABEL_RE.search(text, max(0, r.start - IP_LABEL_CONTEXT), r.start):
                continue
            if "." in text[r.start:r.end] and (
                    _LONGER_DOTTED_BEFORE_RE.search(text, max(0, r.start - 2), r.start)
                    or _LONGER_DOTTED_AFTER_RE.match(text, r.end)):
                continue
            kept.append(r)
        return kept


@contextlib.contextmanager
def _quiet_presidio():
    """Hold presidio's logger at WARNING while recognizers are built.

    presidio logs one INFO line per recognizer constructed ("Loaded recognizer: ..."),
    which every worker would repeat; warnings and errors still come through.
    """
    logger = logging.getLogger("presidio-analyzer")
    level = logger.level
    logger.setLevel(max(level, logging.WARNING))
    try:
        yield
    finally:
        logger.setLevel(level)


def _ssn_recognizer() -> UsSsnRecognizer:
    delimited = next(p for p in UsSsnRecognizer.PATTERNS if p.name.startswith("SSN5"))
    return UsSsnRecognizer(patterns=[Pattern(delimited.name, delimited.regex, delimited.score)])


def _crypto_recognizer() -> CryptoRecognizer:
    # A fresh Pattern per instance: presidio caches the compiled regex on the Pattern.
    return CryptoRecognizer(patterns=[Pattern(p.name, p.regex, p.score) for p in CryptoRecognizer.PATTERNS])


def build_recognizers(entities: Iterable[str], keep_private_ips: bool = True,
                      phone_regions: Iterable[str] = DEFAULT_PHONE_REGIONS,
                      reference: bool = False) -> dict[str, EntityRecognizer]:
    """One presidio recognizer per entity type, ready to call offline.

    Args:
        entities: entity names from `pile.config.PII_ENTITIES`.
        keep_private_ips: see `ScopedIpRecognizer`.
        phone_regions: ISO 3166 regions whose national formats count as phone numbers
            (international ``+CC`` numbers are found whatever the regions).
        reference: presidio's own phone matching (`PhoneNumberRecognizer`), for the
            benchmarks' baseline and the tests' reference.

    Returns:
        entity name -> recognizer; call ``rec.analyze(text, [entity])``.

    Raises:
        ValueError: an entity name this module does not know.
    """
    makers = {
        "CREDIT_CARD": CardRecognizer,
        "EMAIL_ADDRESS": OfflineEmailRecognizer,
        "PHONE_NUMBER": lambda: PhoneNumberRecognizer(phone_regions, reference),
        "IP_ADDRESS": lambda: ScopedIpRecognizer(keep_private_ips),
        "US_SSN": _ssn_recognizer,
        "IBAN_CODE": IbanRecognizer,
        "CRYPTO": _crypto_recognizer,
    }
    out: dict[str, EntityRecognizer] = {}
    with _quiet_presidio():
        for entity in entities:
            if entity not in makers:
                raise ValueError(f"unknown PII entity {entity!r}; expected one of {', '.join(makers)}")
            out[entity] = makers[entity]()
    # Parse the suffix snapshot now (tldextract does it on first use), not inside the
    # first document.
    if "EMAIL_ADDRESS" in out:
        _offline_suffix_extractor()("example.com")
    return out


def build_analyzer_engine(recognizers: Iterable[EntityRecognizer]) -> AnalyzerEngine:
    """A presidio `AnalyzerEngine` over `recognizers` that needs no spaCy model.

    It uses presidio's `NoOpNlpEngine` (no tokens, no lemmas), so context words do not
    change scores; the recognizers' own validation decides. Used as the benchmark
    baseline and to check that the stage finds what the engine finds.
    """
    with _quiet_presidio():
        nlp = NoOpNlpEngine(models=[{"lang_code": "en", "model_name": "none"}])
        registry = RecognizerRegistry(recognizers=list(recognizers), supported_languages=["en"])
        return AnalyzerEngine(registry=registry, nlp_engine=nlp, supported_languages=["en"])
