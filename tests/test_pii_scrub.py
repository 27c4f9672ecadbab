"""The pii_v1 stage: detection per entity, replacement, offsets, audit, prefilter,
pickling, offline operation, and agreement with presidio's AnalyzerEngine."""

from __future__ import annotations

import json
import logging
import pickle
import re
import socket

import pytest

from pile.config import PII_ENTITIES, PiiConfig, parse_config
from pile.document import Document
from pile.errors import ConfigError
from pile.pii import recognizers
from pile.pii.scrub import PLACEHOLDERS, PiiScrubber, Span, merge_spans

ALL = PiiConfig(entities=PII_ENTITIES)


@pytest.fixture(scope="module")
def scrubber() -> PiiScrubber:
    stage = PiiScrubber(ALL)
    stage.ensure_setup()
    return stage


def _found(stage: PiiScrubber, text: str) -> list[tuple[str, str]]:
    return [(s.entity, text[s.start:s.end]) for s in stage.find_spans(text)]


POSITIVES = [
    # (entity, text, value)
    ("CREDIT_CARD", "Charge 4532 0151 1283 0366 today.", "4532 0151 1283 0366"),
    ("CREDIT_CARD", "card=5425-2334-3010-9903;", "5425-2334-3010-9903"),
    ("CREDIT_CARD", "mc 2223.0031.2200.3222 ok", "2223.0031.2200.3222"),
    ("CREDIT_CARD", "amex 374245455400126.", "374245455400126"),
    ("CREDIT_CARD", "| Roe | 3566 0020 2036 0505 | 04/27 |", "3566 0020 2036 0505"),
    ("EMAIL_ADDRESS", "Write to jane.o-neil+news@mail.uni-heidelberg.de.", "jane.o-neil+news@mail.uni-heidelberg.de"),
    ("EMAIL_ADDRESS", "From: <Phillip.K.Allen@ENRON.com>", "Phillip.K.Allen@ENRON.com"),
    ("EMAIL_ADDRESS", "mailto:info@company.io?subject=x", "info@company.io"),
    ("PHONE_NUMBER", "Call (212) 555-0147 after six.", "(212) 555-0147"),
    ("PHONE_NUMBER", "Tel: +44 20 7946 0958", "+44 20 7946 0958"),
    ("PHONE_NUMBER", "Mobil +49 151 23456789.", "+49 151 23456789"),
    ("PHONE_NUMBER", "bureau 01 42 68 53 00, Paris", "01 42 68 53 00"),
    # six digits with the country code: valid for phonenumbers, missed by a 7-digit floor
    ("PHONE_NUMBER", "Kurzwahl +43 1110 im Netz", "+43 1110"),
    ("PHONE_NUMBER", "reach us at (212) 555-0147 ext. 12 today", "(212) 555-0147 ext. 12"),
    ("IP_ADDRESS", "client 8.8.4.4 connected", "8.8.4.4"),
    ("IP_ADDRESS", "host 2a00:1450:4001:81c::200e up", "2a00:1450:4001:81c::200e"),
    ("US_SSN", "SSN: 219-09-9999.", "219-09-9999"),
    ("IBAN_CODE", "IBAN DE89 3704 0044 0532 0130 00 please", "DE89 3704 0044 0532 0130 00"),
    ("IBAN_CODE", "to GB82WEST12345698765432.", "GB82WEST12345698765432"),
    ("CRYPTO", "send to 1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2 now", "1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2"),
    ("CRYPTO", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", "bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"),
]


@pytest.mark.parametrize("entity, text, value", POSITIVES)
def test_positives(scrubber, entity, text, value):
    assert _found(scrubber, text) == [(entity, value)]


NEGATIVES = [
    "ISBN 978-3-16-148410-0 and ISBN 0-306-40615-2",
    "Order 114-3941689-8772361 shipped, tracking 1Z999AA10123456784",
    "USPS 9400111202555123456789 and FedEx 449044304137821",
    "Order #2125550147 and invoice no. 212-555-0147",
    "id 123e4567-e89b-12d3-a456-426614174000",
    "at 2023-01-15T12:30:45Z and 2023-01-15 12:30:45.123, epoch 1673785845123",
    "Python 3.11.7, v2.10.3 and version 1.2.3.4",
    "pi = 3.14159265358979323, x = 0.4539015112830366, total 1,234,567.89",
    "What is 4532015112 * 8303661? 12345 + 67890 = 80235; Let x = 9726275112 - 073507486.",
    "mask = 0x7fffffff; key = 0x4532015112830366; color #a1b2c3",
    "servers 10.0.0.1, 192.168.1.20, 172.16.5.4, 127.0.0.1, fe80::1 and ::",
    "card-like 4532 0151 1283 0367 (bad check digit), 9111 1111 1111 1111 (no network)",
    "x @-@ y, 1 @,@ 000, user@localhost, a@b.T, @handle, foo@bar",
    "In 1645 and 1677, between 1971 – 2000, pages 350 – 380",
    "Let y = (1901 - 8225) / 844 and (0712 - 0979) / 099.",
    "Decimal('0.333333333'), Decimal('+35236450.6'), e.g. \"aix-6107-1415-32\"",
    "assertEqual(b[::2], b'ac'); a[10::-1]; std::vector<int>",
    "tf_i(-2147483646), assertEquals(2147483647, 017777777777), HP part no 33471-90901",
    "spec section 8.2.4.44, rfc7231#section-7.1.1.1, versions 3.1.1.6.2, 1.0.0.127.in-addr.arpa",
    "IPv6Network('fec0::/10')",
    "Net   189.80 (20.00) -0.62\n       10178.09 (226.65) -2.18\n",
]


@pytest.mark.parametrize("text", NEGATIVES)
def test_negatives(scrubber, text):
    assert _found(scrubber, text) == []


def test_private_ips_scrubbed_when_configured():
    stage = PiiScrubber(PiiConfig(entities=("IP_ADDRESS",), keep_private_ips=False))
    text = "servers 10.0.0.1 and fe80::beef, public 8.8.8.8"
    assert [v for _, v in _found(stage, text)] == ["10.0.0.1", "fe80::beef", "8.8.8.8"]


def test_only_configured_entities_run():
    stage = PiiScrubber(PiiConfig(entities=("EMAIL_ADDRESS",)))
    text = "mail a.b@example.com, card 4532 0151 1283 0366, call (212) 555-0147"
    assert _found(stage, text) == [("EMAIL_ADDRESS", "a.b@example.com")]


def test_adjacent_entities_keep_their_own_placeholders(scrubber):
    text = "x 4532015112830366,jane@example.com,+44 20 7946 0958;8.8.8.8 y"
    out, spans = scrubber.scrub(text)
    assert out == "x <CREDIT_CARD>,<EMAIL>,<PHONE>;<IP_ADDRESS> y"
    assert [(s.entity, text[s.start:s.end]) for s in spans] == [
        ("CREDIT_CARD", "4532015112830366"), ("EMAIL_ADDRESS", "jane@example.com"),
        ("PHONE_NUMBER", "+44 20 7946 0958"), ("IP_ADDRESS", "8.8.8.8")]


def test_overlapping_entities_merge_into_one_span(scrubber):
    # The phone recognizer finds "+12125550147", the e-mail one "12125550147@example.com".
    text = "reply to +12125550147@example.com today"
    out, spans = scrubber.scrub(text)
    assert out == "reply to <EMAIL> today"
    assert spans == [Span("EMAIL_ADDRESS", 9, 33)]


@pytest.mark.parametrize("spans, merged", [
    ([Span("PHONE_NUMBER", 0, 10), Span("EMAIL_ADDRESS", 5, 20)], [Span("EMAIL_ADDRESS", 0, 20)]),
    ([Span("PHONE_NUMBER", 0, 10), Span("PHONE_NUMBER", 10, 20)],
     [Span("PHONE_NUMBER", 0, 10), Span("PHONE_NUMBER", 10, 20)]),
    ([Span("US_SSN", 4, 8), Span("CREDIT_CARD", 0, 19), Span("PHONE_NUMBER", 15, 25)],
     [Span("CREDIT_CARD", 0, 25)]),
    ([Span("IP_ADDRESS", 30, 40), Span("IBAN_CODE", 0, 5)],
     [Span("IBAN_CODE", 0, 5), Span("IP_ADDRESS", 30, 40)]),
])
def test_merge_spans(spans, merged):
    assert merge_spans(spans) == merged


def _doc(text: str, source: str = "enron") -> Document:
    return Document(id=f"{source}/1", source=source, text=text, meta={"pile_set_name": "Enron Emails"})


PLANTED = ("Hi, card 4532 0151 1283 0366 and 5425-2334-3010-9903, mail jane@example.com, "
           "call (212) 555-0147, ssn 219-09-9999.")
VALUES = ("4532 0151 1283 0366", "5425-2334-3010-9903", "jane@example.com", "(212) 555-0147",
          "219-09-9999")


def test_map_meta_counts_audit_and_stats(scrubber):
    stage = pickle.loads(pickle.dumps(scrubber))
    doc = _doc(PLANTED)
    out = stage.process_batch([doc])[0][0]
    assert out.text == ("Hi, card <CREDIT_CARD> and <CREDIT_CARD>, mail <EMAIL>, "
                        "call <PHONE>, ssn <US_SSN>.")
    assert out.meta["pii"] == {"CREDIT_CARD": 2, "EMAIL_ADDRESS": 1, "US_SSN": 1, "PHONE_NUMBER": 1}
    spans = out.meta["_pii_spans"]
    assert [PLANTED[s:e] for _, s, e in spans] == list(VALUES)   # original offsets
    assert [e for e, _, _ in spans] == ["CREDIT_CARD", "CREDIT_CARD", "EMAIL_ADDRESS",
                                        "PHONE_NUMBER", "US_SSN"]
    assert out.meta["pile_set_name"] == "Enron Emails" and doc.text == PLANTED  # input untouched
    # Nothing the runner writes (documents, audit lines) holds an original value.
    written = out.to_pile_json() + json.dumps(out.meta)
    assert not any(v in written for v in VALUES)
    assert "_pii_spans" not in out.to_pile_json()
    assert stage.drain_counters() == {("enron", "pii.CREDIT_CARD"): 2, ("enron", "pii.EMAIL_ADDRESS"): 1,
                                      ("enron", "pii.PHONE_NUMBER"): 1, ("enron", "pii.US_SSN"): 1}


def test_clean_document_is_returned_unchanged(scrubber):
    doc = _doc("Nothing here but 42 apples and 7 pears.")
    out = scrubber.map(doc)
    assert out is doc and "pii" not in out.meta and "_pii_spans" not in out.meta


def test_audit_off_leaves_no_spans():
    stage = PiiScrubber(PiiConfig(entities=PII_ENTITIES, audit=False))
    out = stage.map(_doc(PLANTED))
    assert "_pii_spans" not in out.meta and out.meta["pii"]["CREDIT_CARD"] == 2


def test_disabled_stage_changes_nothing():
    stage = PiiScrubber(PiiConfig(enabled=False))
    doc = _doc(PLANTED)
    assert stage.map(doc) is doc


def test_mask_keeps_length():
    stage = PiiScrubber(PiiConfig(entities=PII_ENTITIES, replacement="mask"))
    out, _ = stage.scrub(PLANTED)
    assert len(out) == len(PLANTED)
    assert "card ******************* and *******************, mail ****************," in out


def test_hash_is_keyed_and_stable():
    a = PiiScrubber(PiiConfig(entities=PII_ENTITIES, replacement="hash", hash_key="k1"))
    b = PiiScrubber(PiiConfig(entities=PII_ENTITIES, replacement="hash", hash_key="k2"))
    text = "mail jane@example.com twice: jane@example.com; other bob@example.com"
    out_a, _ = a.scrub(text)
    out_b, _ = b.scrub(text)
    tokens = out_a.split()
    assert tokens[1].startswith("<EMAIL:") and tokens[1] == tokens[3].rstrip(";")
    assert tokens[1] != tokens[5]            # another value, another token
    assert out_a != out_b                    # another key, other tokens
    assert "jane" not in out_a


def test_documents_without_digits_or_at_never_reach_presidio():
    stage = PiiScrubber(ALL)
    docs = [_doc("Plain prose, no numbers at all. Twice as plain."),
            _doc("Another: with colons: and dots... and dashes -- fine.")]
    stage.process_batch(docs)
    assert (stage.docs_scanned, stage.recognizer_calls) == (0, 0)
    stage.process_batch([_doc("one digit: 7")])
    assert stage.docs_scanned == 1


def test_recognizers_read_lines_not_whole_documents(scrubber, monkeypatch):
    seen: list[int] = []
    card = scrubber._recognizers["CREDIT_CARD"]
    original = card.analyze

    def spy(text, entities, nlp_artifacts=None, regex_flags=None):
        seen.append(len(text))
        return original(text, entities, nlp_artifacts)

    monkeypatch.setattr(card, "analyze", spy)
    prose = "All work and no play makes Jack a dull boy.\n" * 200
    text = prose + "card 4532 0151 1283 0366 here.\n" + prose
    out, spans = scrubber.scrub(text)
    assert "<CREDIT_CARD>" in out and len(spans) == 1
    assert seen and max(seen) < 400 < len(text)


def test_pickle_round_trip_before_and_after_setup():
    stage = PiiScrubber(ALL)
    fresh = pickle.loads(pickle.dumps(stage))
    stage.ensure_setup()
    blob = pickle.dumps(stage)
    assert len(blob) < 5_000                 # recognizers are transient
    copy = pickle.loads(blob)
    assert copy._recognizers is None and copy.name == "pii_v1"
    assert copy.scrub(PLANTED) == stage.scrub(PLANTED) == fresh.scrub(PLANTED)


class _NetworkAttempt(ConnectionRefusedError):
    pass


@pytest.fixture
def no_network(monkeypatch):
    """Sockets that refuse to connect or resolve; records every attempt."""
    attempts: list[str] = []

    def refuse(*args, **kwargs):
        attempts.append(repr(args[:2]))
        raise _NetworkAttempt("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    return attempts


def test_no_network_and_no_noise(no_network, caplog):
    recognizers._offline_suffix_extractor.cache_clear()   # build the extractor under the guard
    caplog.set_level(logging.INFO)
    stage = PiiScrubber(ALL)
    text = "mail jane@example.co.uk or a@b.T, card 4532 0151 1283 0366"
    assert _found(stage, text) == [("EMAIL_ADDRESS", "jane@example.co.uk"),
                                   ("CREDIT_CARD", "4532 0151 1283 0366")]
    assert no_network == []
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.INFO] == []


def test_network_guard_catches_tldextract_default_fetch(no_network, tmp_path):
    """The guard is real: tldextract's default set-up does try to fetch the suffix list."""
    import tldextract

    extract = tldextract.TLDExtract(cache_dir=str(tmp_path))
    extract("example.com")                     # falls back to its snapshot after failing
    assert no_network


def test_stage_agrees_with_presidio_analyzer_engine(scrubber):
    engine = recognizers.build_analyzer_engine(
        recognizers.build_recognizers(PII_ENTITIES, reference=True).values())
    texts = [PLANTED, *(text for _, text, _ in POSITIVES), *NEGATIVES]
    for text in texts:
        results = engine.analyze(text, language="en", entities=list(PII_ENTITIES))
        expected = merge_spans([Span(r.entity_type, r.start, r.end) for r in results])
        assert scrubber.find_spans(text) == expected, text


def test_placeholder_names_documented():
    assert set(PLACEHOLDERS) == set(PII_ENTITIES)
    assert PLACEHOLDERS["EMAIL_ADDRESS"] == "<EMAIL>" and PLACEHOLDERS["PHONE_NUMBER"] == "<PHONE>"


def _config(pii: dict):
    return parse_config({"sources": [{"name": "x", "kind": "files", "paths": ["a.txt"]}], "pii": pii})


@pytest.mark.parametrize("pii, field", [
    ({"entities": ["CREDIT_CARD", "PASSPORT"]}, "pii.entities[1]"),
    ({"entities": ["EMAIL_ADDRESS", "EMAIL_ADDRESS"]}, "pii.entities"),
    ({"replacement": "redact"}, "pii.replacement"),
    ({"replacement": "hash"}, "pii.hash_key"),
    ({"phone_regions": ["US", "XX"]}, "pii.phone_regions[1]"),
    ({"phone_regions": []}, "pii.phone_regions"),
    ({"phone_regions": "us"}, "pii.phone_regions[0]"),
    ({"keep_private_ips": "yes"}, "pii.keep_private_ips"),
])
def test_config_validation(pii, field):
    with pytest.raises(ConfigError, match="^" + re.escape(field) + ":"):
        _config(pii)


def test_config_accepts_crypto_and_regions():
    cfg = _config({"entities": ["CRYPTO", "PHONE_NUMBER"], "phone_regions": ["DE"]}).pii
    assert cfg.entities == ("CRYPTO", "PHONE_NUMBER") and cfg.phone_regions == ("DE",)
    assert _config({"entities": ["CREDIT_CARD"], "phone_regions": []}).pii.phone_regions == ()
