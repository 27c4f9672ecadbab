"""scan_for_leaks: the validate-time scan for card numbers and e-mail addresses."""

from __future__ import annotations

import random

import pytest

from pile.config import PII_ENTITIES, PiiConfig
from pii_evalset import CARD_NETWORKS, CARD_SEPARATORS, format_card, generate_card
from pile.pii.leaks import scan_for_leaks
from pile.pii.scrub import PiiScrubber


@pytest.mark.parametrize("sep", CARD_SEPARATORS)
@pytest.mark.parametrize("network", CARD_NETWORKS)
def test_finds_a_planted_card(network, sep):
    value = format_card(generate_card(random.Random(network + sep), network), sep)
    text = f"Thanks!\nCard {value}, exp 04/27.\n"
    start = text.index(value)
    assert scan_for_leaks(text) == [("CREDIT_CARD", start, start + len(value))]


@pytest.mark.parametrize("text, value", [
    ("mail me: jane.doe@example.com.", "jane.doe@example.com"),
    ("<Phillip.K.Allen@ENRON.com>", "Phillip.K.Allen@ENRON.com"),
    ("x,info+tag@dept.cs.stanford.edu,y", "info+tag@dept.cs.stanford.edu"),
])
def test_finds_a_planted_email(text, value):
    start = text.index(value)
    assert scan_for_leaks(text) == [("EMAIL_ADDRESS", start, start + len(value))]


def test_finds_several_in_order():
    text = "a@example.org then 4532015112830366 then b@example.org"
    assert [e for e, _, _ in scan_for_leaks(text)] == ["EMAIL_ADDRESS", "CREDIT_CARD", "EMAIL_ADDRESS"]


@pytest.mark.parametrize("text", [
    "card <CREDIT_CARD>, mail <EMAIL>, phone <PHONE>, ip <IP_ADDRESS>",
    "card *******************, mail ****************",
    "card <CREDIT_CARD:4f1c2a9b0d3e>, mail <EMAIL:123456789012>",
    "4532 0151 1283 0367 has a wrong check digit; 9111111111111111 has no network",
    "user@localhost, a@b.T, x @-@ y, @decorator",
    "0x4532015112830366 and 3.4532015112830366",
    "",
])
def test_ignores_placeholders_and_non_pii(text):
    assert scan_for_leaks(text) == []


@pytest.mark.parametrize("mode", ["placeholder", "mask", "hash"])
def test_scrubbed_text_has_no_leaks(mode):
    stage = PiiScrubber(PiiConfig(entities=PII_ENTITIES, replacement=mode, hash_key="secret"))
    rng = random.Random(mode)
    values = [format_card(generate_card(rng, n), s) for n in CARD_NETWORKS for s in CARD_SEPARATORS]
    values += ["jane.doe@example.com", "bob+x@mail.example.co.uk"]
    text = "\n".join(f"row {i}: {v} ok" for i, v in enumerate(values))
    assert len(scan_for_leaks(text)) == len(values)
    out, _ = stage.scrub(text)
    assert scan_for_leaks(out) == []


def test_entities_restrict_the_scan():
    text = "mail a@example.org, card 4532015112830366"
    assert [e for e, _, _ in scan_for_leaks(text, entities=["CREDIT_CARD"])] == ["CREDIT_CARD"]
    assert [e for e, _, _ in scan_for_leaks(text, entities=["EMAIL_ADDRESS"])] == ["EMAIL_ADDRESS"]
    assert scan_for_leaks(text, entities=[]) == []


def test_email_scan_in_gated_tokens_equals_the_pattern_over_the_whole_text(shared_data):
    """The scan reads only the tokens that pass the e-mail gate; on real mail (Enron, full
    of addresses) it finds exactly what presidio's pattern finds over the whole text."""
    from pile.pii.leaks import _email_re
    from pile.pii.recognizers import email_domain_valid

    total = 0
    for path in sorted((shared_data / "samples" / "enron").glob("*.mbox")):
        text = path.read_text("utf-8", "replace")
        whole = [("EMAIL_ADDRESS", m.start(), m.end()) for m in _email_re().finditer(text)
                 if email_domain_valid(m.group())]
        assert scan_for_leaks(text, entities=["EMAIL_ADDRESS"]) == whole, path.name
        total += len(whole)
    assert total > 100
