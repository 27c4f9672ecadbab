"""The prefilter: which documents and windows reach presidio, and that skipping the rest
changes nothing (the stage agrees with presidio's AnalyzerEngine on real documents)."""

from __future__ import annotations

import pytest

from pile.config import PII_ENTITIES, PiiConfig
from pii_evalset import build_evalset
from pile.pii.prefilter import Prefilter, email_candidates, gate, ip_candidates, phone_candidates
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
    assert [text[s:e] for s, e in ip_candidates(text)] == [text]  # both tokens, with context


def test_windows_cover_triggers_merge_and_end_on_whitespace():
    pre = Prefilter(["CREDIT_CARD", "EMAIL_ADDRESS"], margin=10, snap=50)
    filler = "word " * 40
    text = filler + "card 4532015112830366 and 12 " + filler + "a@example.com " + filler
    windows = pre.windows(text)
    (cs, ce), = windows["CREDIT_CARD"]        # two digit runs, one merged window
    assert "card 4532015112830366 and 12" in text[cs:ce] and ce - cs < 60
    assert text[cs] == " " and text[ce - 1] == " "
    (es, ee), = windows["EMAIL_ADDRESS"]
    assert "a@example.com" in text[es:ee] and ee - es < 40
    assert text[es] == " " and text[ee - 1] == " "


def test_window_edges_cut_long_tokens_only_beyond_the_snap_distance():
    pre = Prefilter(["CREDIT_CARD"], margin=10, snap=20)
    text = "x" * 100 + "4532015112830366" + "y" * 100
    (s, e), = pre.windows(text)["CREDIT_CARD"]
    assert s == 100 - 10 - 20 and e == 116 + 10 + 20


@pytest.mark.parametrize("entity, text, passes", [
    ("EMAIL_ADDRESS", "x a@example.com y", True),
    ("EMAIL_ADDRESS", "x @-@ y and user@localhost", False),
    ("IP_ADDRESS", "at 8.8.8.8", True),
    ("IP_ADDRESS", "at 2a00:1450::1", True),
    ("IP_ADDRESS", "version 3.11.7", False),
    ("US_SSN", "ssn 219-09-9999", True),
    ("US_SSN", "tel 212-555-0147", False),
    ("IBAN_CODE", "DE89 3704", True),
    ("IBAN_CODE", "de89 3704", False),
    ("CRYPTO", "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", True),
    ("CRYPTO", "1 2 3", False),
])
def test_gates(entity, text, passes):
    assert gate(entity, text, 0, len(text)) is passes


def test_phone_candidates_skip_dates_and_bare_digit_runs():
    text = "on 05/17/2000, ( 1955 - 1968 ), id 2125550147, call (212) 555-0147 now"
    gate = PhoneGate(DEFAULT_PHONE_REGIONS)
    assert [text[s:e] for s, e in phone_candidates(text, 0, len(text), gate)] == ["(212) 555-0147"]


def test_email_candidates_are_whole_tokens():
    text = "a\nreply to <jane.doe@example.com>, or x@y.org\tnow"
    spans = email_candidates(text, 0, len(text))
    assert [text[s:e] for s, e in spans] == [" <jane.doe@example.com>, ", " x@y.org\t"]


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
