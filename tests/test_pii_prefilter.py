"""The prefilter: which documents and pieces reach presidio, and that skipping the rest
changes nothing (the stage agrees with presidio's AnalyzerEngine on real documents;
tests/test_pii_equivalence.py holds the wider comparison)."""

from __future__ import annotations

import pytest

from pile.config import PII_ENTITIES, PiiConfig
from pii_evalset import build_evalset
from pile.pii.prefilter import (
    PHONE_PATTERN_CHARS,
    Prefilter,
    crypto_candidates,
    email_candidates,
    gated_zones,
    ip_candidates,
    phone_candidates,
    phone_pieces,
)
from pile.pii.phones import PhoneGate
from pile.pii.recognizers import DEFAULT_PHONE_REGIONS, build_analyzer_engine, build_recognizers
from pile.pii.scrub import PiiScrubber, Span, merge_spans


@pytest.mark.parametrize("text, needs", [
    ("plain prose: no numbers, no at-signs; colons: fine", False),
    ("one digit 7", True),
    ("mail someone @ home", True),
    ("", False),
])
def test_needs_scan(text, needs):
    assert Prefilter(PII_ENTITIES).needs_scan(text) is needs


def test_colons_trigger_only_when_private_ips_are_scrubbed():
    text = "std::vector and dead::beef"
    assert not Prefilter(PII_ENTITIES, keep_private_ips=True).needs_scan(text)
    assert Prefilter(PII_ENTITIES, keep_private_ips=False).needs_scan(text)


def test_zones_are_whole_lines_with_two_digits_close_together():
    text = ("prose line\n"
            "x = f(1, 2)\n"                      # two digits, but 3 apart: dense
            "only one 7 digit here\n"
            "card 4532015112830366 here\n"
            "next line 42\n"                     # joins the line before it
            "again prose 1 and much later 2\n")  # digits far apart: not read
    zones = Prefilter(PII_ENTITIES).zones(text)
    assert [text[s:e] for s, e in zones] == [
        "x = f(1, 2)", "card 4532015112830366 here\nnext line 42"]
    for s, e in zones:  # from a line start to a line end
        assert (s == 0 or text[s - 1] == "\n") and (e == len(text) or text[e] == "\n")


def test_token_pieces_keep_whole_tokens_and_their_whitespace():
    text = "a\nreply to <jane.doe@example.com>, or x@y.org\tnow"
    spans = email_candidates(text)
    assert [text[s:e] for s, e in spans] == [" <jane.doe@example.com>, ", " x@y.org\t"]
    long_token = "z" * 5000 + "a@example.com" + "z" * 5000
    text = "see " + long_token + " end"
    (s, e), = email_candidates(text)          # no cut in a long token, however long
    assert text[s:e] == " " + long_token + " "


def test_ip_pieces_hold_the_label_before_the_token():
    text = "words and words, see version 1.2.3.4 and host 8.8.8.8."
    pieces = [text[s:e] for s, e in ip_candidates(text)]
    assert len(pieces) == 1 and "version 1.2.3.4" in pieces[0] and "8.8.8.8." in pieces[0]
    assert pieces[0][0] == " "                # starts at a whitespace
    # timestamps and Python slices have colons but no IPv6 shape
    assert ip_candidates("at 14:22:54 and a[1:2:3] and d = {1: 2}") == []
    assert ip_candidates("std::vector") != []  # "::" reaches the recognizer


@pytest.mark.parametrize("text, found", [
    ("x a@example.com y", True),
    ("x @-@ y and user@localhost", False),
    ("@handle and foo@bar", False),
])
def test_email_gate(text, found):
    assert bool(email_candidates(text)) is found


@pytest.mark.parametrize("text, found", [
    ("send to 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2 now", True),
    ("bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", True),
    ("1 2 3 and 1abc", False),
])
def test_crypto_gate(text, found):
    assert bool(crypto_candidates(text)) is found


@pytest.mark.parametrize("entity, text, passes", [
    ("US_SSN", "ssn 219-09-9999", True),
    ("US_SSN", "tel 212-555-0147", False),
    ("US_SSN", "ssn 219-09", False),           # fewer than nine digits
    ("IBAN_CODE", "DE89 3704", True),
    ("IBAN_CODE", "de89 3704", False),
    ("CREDIT_CARD", "card 4532 0151 1283 0366", True),   # no gate: the recognizer decides
    ("CREDIT_CARD", "only eleven digits 12345678901", False),
])
def test_zone_gates(entity, text, passes):
    zone = [(0, len(text))]
    digits = [sum(c.isdigit() for c in text)]
    assert (gated_zones(entity, text, zone, digits) == zone) is passes


def test_phone_candidates_skip_bare_digit_runs_and_numbers_no_region_reads():
    text = "id 2125550147, at 54 2022 -0700, call (212) 555-0147 now, or +44 20 7946 0958"
    phones = PhoneGate(DEFAULT_PHONE_REGIONS)
    found = {text[s:e]: regions for s, e, regions in phone_candidates(text, [(0, len(text))], phones)}
    assert found == {"(212) 555-0147": {"US", "CA"},            # NANP only
                     "+44 20 7946 0958": set(DEFAULT_PHONE_REGIONS)}  # a plus: no gate


def test_phone_pieces_end_where_the_candidate_pattern_cannot_reach():
    text = "Customer order no. 42, call (212) 555-0147 extension 12 today"
    phones = PhoneGate(DEFAULT_PHONE_REGIONS)
    cands = phone_candidates(text, [(0, len(text))], phones)
    (s, e, _), = phone_pieces(text, cands)
    cs = text.index("(212)")
    assert s <= cs - 25 and text[s - 1] not in PHONE_PATTERN_CHARS   # labels are read
    assert text[e - 1] not in PHONE_PATTERN_CHARS and "extension 12" in text[s:e]


def test_stage_finds_what_the_engine_finds_on_real_documents(shared_data):
    """Skipping documents and windows changes nothing: on Enron mail and the plain-text
    corpora with planted PII and decoys, the stage and presidio's AnalyzerEngine (same
    recognizers, whole documents) return the same spans."""
    docs = build_evalset(shared_data, seed=3, scale=1, max_docs=160)
    stage = PiiScrubber(PiiConfig(entities=PII_ENTITIES))
    engine = build_analyzer_engine(build_recognizers(PII_ENTITIES, reference=True).values())
    compared = 0
    for doc in docs:
        results = engine.analyze(doc.text, language="en", entities=list(PII_ENTITIES))
        expected = merge_spans([Span(r.entity_type, r.start, r.end) for r in results])
        assert stage.find_spans(doc.text) == expected, doc.id
        compared += len(expected)
    assert compared > 100
    assert stage.docs_scanned < len(docs)


def test_unicode_digits_trigger_too():
    """presidio's patterns and phonenumbers read any Unicode digit; so does the gate."""
    text = "電話 +81 ３-１２３４-５６７８ まで"
    assert Prefilter(PII_ENTITIES).needs_scan(text)
    stage = PiiScrubber(PiiConfig(entities=("PHONE_NUMBER",)))
    engine = build_analyzer_engine(build_recognizers(["PHONE_NUMBER"], reference=True).values())
    expected = [Span(r.entity_type, r.start, r.end) for r in engine.analyze(text, language="en")]
    assert stage.find_spans(text) == expected
