"""Luhn, card issuer ranges, written card layouts, public IP ranges, ISBN checksums."""

from __future__ import annotations

import random

import pytest

from pile.pii import validators
from pii_evalset import CARD_NETWORKS, format_card, generate_card


@pytest.mark.parametrize("digits, valid", [
    ("4111111111111111", True),
    ("4111111111111112", False),
    ("79927398713", True),
    ("79927398710", False),
    ("0", True),
])
def test_luhn(digits, valid):
    assert validators.luhn_valid(digits) is valid


@pytest.mark.parametrize("digits, network", [
    ("4111111111111111", "visa"),
    ("4222222222222", "visa"),             # 13-digit Visa
    ("5555555555554444", "mastercard"),
    ("2221000000000009", "mastercard"),    # 2-series
    ("2720990000000007", "mastercard"),
    ("378282246310005", "amex"),
    ("6011111111111117", "discover"),
    ("6445644564456445", "discover"),
    ("3530111333300000", "jcb"),
    ("30569309025904", "diners"),
    ("36227206271667", "diners"),
    ("6200000000000005", "unionpay"),
    ("6759649826438453", "maestro"),
    ("5018000000000009", "maestro"),
    ("9111111111111111", None),            # no network issues 9...
    ("1234567812345670", None),
    ("411111111111111", None),             # Visa has no 15-digit numbers
    ("34343434343434", None),              # Amex is 15 digits
    ("2721000000000004", None),            # just past the Mastercard 2-series
    ("41111111111111111111", None),        # 20 digits
])
def test_card_network(digits, network):
    assert validators.card_network(digits) == network


@pytest.mark.parametrize("network", CARD_NETWORKS)
def test_generated_cards_are_cards_of_their_network(network):
    rng = random.Random(network)
    for _ in range(50):
        digits = generate_card(rng, network)
        assert validators.is_card_number(digits), digits
        # UnionPay 622126-622925 is co-branded with Discover; both are cards.
        assert validators.card_network(digits) in (network, "discover")


@pytest.mark.parametrize("text, expected", [
    ("4111111111111111", ["4111111111111111"]),
    ("pay 4111 1111 1111 1111 now", ["4111 1111 1111 1111"]),
    ("pay 4111-1111-1111-1111.", ["4111-1111-1111-1111"]),
    ("pay 4111.1111.1111.1111, ok", ["4111.1111.1111.1111"]),
    ("amex 3782-822463-10005", ["3782-822463-10005"]),
    ("diners 3056 930902 5904", ["3056 930902 5904"]),
    ("19 digits 6011 0000 0000 0000 001", ["6011 0000 0000 0000 001"]),
    ("2023 4111 1111 1111 1111 | 12/25", ["4111 1111 1111 1111"]),     # after a year
    ("| 4111111111111111 | 5555555555554444 |", ["4111111111111111", "5555555555554444"]),
    ("a,4111111111111111,5555555555554444", ["4111111111111111", "5555555555554444"]),
    # not cards: wrong check digit, decimals, hex, identifiers, E.164, IBAN bodies
    ("4111 1111 1111 1112", []),
    ("pi = 3.4111111111111111", []),
    ("x = 4111111111111111.5", []),
    ("0x4111111111111111", []),
    ("id4111111111111111", []),
    ("+4111111111111111", []),
    ("ES06 4111 1111 1111 1111", []),
    ("4111 1111-1111 1111", []),            # mixed separators
    ("41111111111111111111", []),           # longer than any card
])
def test_find_cards(text, expected):
    assert [text[s:e] for s, e in validators.find_cards(text)] == expected


@pytest.mark.parametrize("sep", ["", " ", "-", "."])
@pytest.mark.parametrize("network", CARD_NETWORKS)
def test_find_cards_every_network_and_formatting(network, sep):
    rng = random.Random(f"{network}{sep}")
    for _ in range(10):
        value = format_card(generate_card(rng, network), sep)
        text = f"Card: {value}, thanks"
        assert [text[s:e] for s, e in validators.find_cards(text)] == [value]


@pytest.mark.parametrize("value, public", [
    ("8.8.8.8", True),
    ("2a00:1450:4001:81c::200e", True),
    ("10.1.2.3", False),
    ("192.168.0.1", False),
    ("172.16.5.4", False),
    ("127.0.0.1", False),
    ("169.254.1.1", False),
    ("224.0.0.1", False),
    ("0.0.0.0", False),
    ("::1", False),
    ("fe80::1%eth0", False),
    ("2001:db8::1", False),                 # documentation range
    ("::2", False),                         # IETF-reserved ::/8 (Python calls it global)
    ("::ffff:10.0.0.1", False),
    ("not an ip", False),
])
def test_is_public_ip(value, public):
    assert validators.is_public_ip(value) is public


@pytest.mark.parametrize("value, valid", [
    ("978-3-16-148410-0", True),
    ("0-306-40615-2", True),
    ("0-8044-2957-X", True),
    ("978-3-16-148410-1", False),
    ("0-306-40615-3", False),
    ("212-555-0147", False),
])
def test_isbn_valid(value, valid):
    assert validators.isbn_valid(value) is valid
