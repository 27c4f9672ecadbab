"""Checksums and issuer rules that decide whether a number is PII, and the card finder.

Card numbers follow ISO/IEC 7812: an issuer prefix (IIN) that names the network, a
length the network allows, and a Luhn (mod 10) check digit. `card_network` encodes the
published IIN ranges of the major networks (Visa, Mastercard including the 2-series,
American Express, Discover, JCB, Diners Club, UnionPay, Maestro), so a Luhn-valid number
that no network issues (an order number that happens to pass Luhn one time in ten) is
not taken for a card.

`iter_card_candidates` is the one definition of "what a written card number looks like",
shared by the scrubber's presidio recognizer (`pile.pii.recognizers.CardRecognizer`) and
the validate-time leak scanner (`pile.pii.leaks`), so everything the scanner would flag
the scrubber has already removed. A candidate is a run of digit groups joined by one
consistent separator (space, dash, dot or none); every contiguous sub-run of groups that
has a card layout is a candidate, so a card right after a year or a quantity in a table
row (``2023 4111 1111 1111 1111``) is still found.
"""

from __future__ import annotations

import ipaddress
import re
from typing import Iterator

# A run of digit groups joined by one repeated separator. Letters, digits and "_" on
# either side mean the digits belong to an identifier or a hex constant (0x41..., a
# hash), not to a written card number; a "+" before it makes it an E.164 phone number.
_CARD_RUN_RE = re.compile(
    r"(?<![0-9A-Za-z_+])"
    r"[0-9]+(?:(?P<sep>[ .\-])[0-9]+(?:(?P=sep)[0-9]+)*)?"
    r"(?![0-9A-Za-z_])"
)
_GROUP_RE = re.compile(r"[0-9]+")

CARD_MIN_DIGITS = 13
CARD_MAX_DIGITS = 19

# Card layouts written with separators besides the 4-digit groups (whose last group may
# be shorter: 4-4-4-4-3 for 19-digit cards, 4-4-4-1 for 13-digit Visa).
_SPECIAL_LAYOUTS = frozenset({(4, 6, 5), (4, 6, 4), (4, 4, 5), (6, 13), (4, 4, 4, 3)})


def luhn_valid(digits: str) -> bool:
    """True when the digit string passes the Luhn (mod 10) check.

    Args:
        digits: ASCII digits only, no separators.

    Returns:
        Whether the last digit is the Luhn check digit of the others.
    """
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i & 1:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def luhn_check_digit(body: str) -> str:
    """The digit that makes ``body + digit`` Luhn-valid (used to generate test cards)."""
    for d in "0123456789":
        if luhn_valid(body + d):
            return d
    raise AssertionError("unreachable: one of ten digits always completes Luhn")


def card_network(digits: str) -> str | None:
    """The card network whose issuer ranges and lengths contain `digits`, or None.

    Args:
        digits: the number without separators.

    Returns:
        ``"visa"``, ``"mastercard"``, ``"amex"``, ``"discover"``, ``"jcb"``,
        ``"diners"``, ``"unionpay"``, ``"maestro"``, or None when no network issues a
        number of this prefix and length. The Luhn check is separate (`luhn_valid`).
    """
    n = len(digits)
    if not CARD_MIN_DIGITS <= n <= CARD_MAX_DIGITS or not digits.isascii() or not digits.isdigit():
        return None
    p2, p3, p4, p6 = int(digits[:2]), int(digits[:3]), int(digits[:4]), int(digits[:6])
    if digits[0] == "4":
        return "visa" if n in (13, 16, 19) else None
    if (51 <= p2 <= 55 or 2221 <= p4 <= 2720) and n == 16:
        return "mastercard"
    if p2 in (34, 37) and n == 15:
        return "amex"
    if (p4 == 6011 or 644 <= p3 <= 649 or p2 == 65 or 622126 <= p6 <= 622925) and 16 <= n <= 19:
        return "discover"
    if 3528 <= p4 <= 3589 and 16 <= n <= 19:
        return "jcb"
    if (300 <= p3 <= 305 or p4 == 3095 or p2 in (36, 38, 39)) and 14 <= n <= 19:
        return "diners"
    if p2 == 62 and 16 <= n <= 19:
        return "unionpay"
    if (p2 in (50, 56, 57, 58) or p4 in (6304, 6759, 6761, 6762, 6763) or p2 == 67
            or p3 == 639) and 13 <= n <= 19:
        return "maestro"
    return None


def is_card_number(digits: str) -> bool:
    """Luhn-valid and inside a network's issuer ranges and lengths."""
    return card_network(digits) is not None and luhn_valid(digits)


def _card_layout(lengths: tuple[int, ...]) -> bool:
    total = sum(lengths)
    if not CARD_MIN_DIGITS <= total <= CARD_MAX_DIGITS:
        return False
    if len(lengths) == 1:
        return True
    if lengths in _SPECIAL_LAYOUTS:
        return True
    return all(g == 4 for g in lengths[:-1]) and 1 <= lengths[-1] <= 4


def _after_iban_head(text: str, start: int, sep: str) -> bool:
    """True when the digit run at `start` continues a group of four letters and digits
    (``ES06 3859 2775 ...``, ``IT12 D320 6469 ...``): the body of an IBAN written in
    groups, not a card."""
    if start < 5 or text[start - 1] != sep:
        return False
    head = text[start - 5:start - 1]
    if not (head.isascii() and head.isalnum()) or head.isdigit() or head.isalpha():
        return False
    return start < 6 or not text[start - 6].isalnum()


def iter_card_candidates(text: str, start: int = 0, end: int | None = None
                         ) -> Iterator[tuple[int, int]]:
    """Spans of `text` written like a card number (layout only; no checksum yet).

    Args:
        text: the text to search.
        start: search from this offset.
        end: search up to this offset (default: the end of `text`).

    Yields:
        ``(start, end)`` offsets of each candidate, possibly overlapping (every
        contiguous sub-run of digit groups with a card layout).
    """
    end = len(text) if end is None else end
    for run in _CARD_RUN_RE.finditer(text, start, end):
        if run.end() - run.start() < CARD_MIN_DIGITS:
            continue
        sep = run.group("sep")
        if sep is None:
            if CARD_MIN_DIGITS <= run.end() - run.start() <= CARD_MAX_DIGITS:
                yield run.start(), run.end()
            continue
        if _after_iban_head(text, run.start(), sep):
            continue
        groups = [(m.start(), m.end()) for m in _GROUP_RE.finditer(text, run.start(), run.end())]
        lengths = [e - s for s, e in groups]
        for i in range(len(groups)):
            # A single group next to others joined by "." is a decimal's integer or
            # fraction part (3.4111111111111111), not a card.
            total = 0
            for j in range(i, len(groups)):
                total += lengths[j]
                if total > CARD_MAX_DIGITS:
                    break
                if total < CARD_MIN_DIGITS:
                    continue
                if i == j and sep == "." and len(groups) > 1:
                    continue
                if _card_layout(tuple(lengths[i:j + 1])):
                    yield groups[i][0], groups[j][1]


def find_cards(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """Validated card numbers in ``text[start:end]``, longest first where they overlap.

    Returns:
        Non-overlapping ``(start, end)`` spans in text order, each Luhn-valid with a
        network's prefix and length.
    """
    found: list[tuple[int, int]] = []
    for s, e in iter_card_candidates(text, start, end):
        digits = "".join(_GROUP_RE.findall(text, s, e))
        if is_card_number(digits):
            found.append((s, e))
    return remove_overlaps(found)


def remove_overlaps(spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Keep the longest of overlapping spans (earliest on ties), in text order."""
    kept: list[tuple[int, int]] = []
    for s, e in sorted(spans, key=lambda se: (se[0] - se[1], se[0])):
        if all(e <= ks or s >= ke for ks, ke in kept):
            kept.append((s, e))
    return sorted(kept)


def is_public_ip(value: str) -> bool:
    """True for a globally routable address; False for private, reserved, loopback,
    link-local, multicast, unspecified and documentation ranges (RFC 6890).

    Args:
        value: an IPv4 or IPv6 address, optionally with a ``/prefix`` or ``%zone``.
    """
    try:
        addr = ipaddress.ip_interface(value.split("%", 1)[0]).ip
    except ValueError:
        return False
    if isinstance(addr, ipaddress.IPv6Address) and addr.ipv4_mapped is not None:
        addr = addr.ipv4_mapped
    # `is_global` alone lets IETF-reserved IPv6 through (::2 is "global" to Python).
    if isinstance(addr, ipaddress.IPv6Address) and addr.is_site_local:
        return False  # fec0::/10, deprecated but never global
    return addr.is_global and not (addr.is_multicast or addr.is_reserved)


def isbn_valid(value: str) -> bool:
    """True when `value` (digits, hyphens, spaces, a final X) is a valid ISBN-10 or -13."""
    chars = [c for c in value if c.isdigit() or c in "xX"]
    if len(chars) == 10:
        if any(c in "xX" for c in chars[:9]):
            return False
        total = sum((10 - i) * (10 if c in "xX" else int(c)) for i, c in enumerate(chars))
        return total % 11 == 0
    if len(chars) == 13 and all(c.isdigit() for c in chars) and "".join(chars[:3]) in ("978", "979"):
        total = sum((1 if i % 2 == 0 else 3) * int(c) for i, c in enumerate(chars))
        return total % 10 == 0
    return False
