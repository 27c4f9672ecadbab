"""The zero-cards guarantee: find card numbers and e-mail addresses left in output text.

`pile validate` runs `scan_for_leaks` on every output document and on the text decoded
from the token shards, and fails naming the document when it finds anything. The scan
uses the same definitions as the scrubber, without presidio and without windows, so it
is an independent pass over the whole text:

- cards: every written card layout (`validators.iter_card_candidates`: digit groups
  joined by one consistent space, dash or dot, or none) that passes Luhn and has a
  network's issuer prefix and length (`validators.is_card_number`);
- e-mail addresses: presidio's e-mail pattern whose domain ends in a public suffix of
  tldextract's bundled snapshot (`recognizers.email_domain_valid`).

Placeholders (``<CREDIT_CARD>``, ``<EMAIL>``), masks (``****``) and hashed
replacements (``<EMAIL:1a2b3c4d5e6f>``: 12 hex digits, fewer than any card) never match.
"""

from __future__ import annotations

import functools
import re
from typing import Iterable

from pile.pii import validators

CARD = "CREDIT_CARD"
EMAIL = "EMAIL_ADDRESS"
_GROUP_RE = re.compile(r"[0-9]+")


@functools.lru_cache(maxsize=1)
def _email_re():
    """presidio's e-mail pattern, compiled with `regex` as presidio does, so the scan and
    the scrubber agree on what an address is."""
    import regex
    from presidio_analyzer.predefined_recognizers import EmailRecognizer

    return regex.compile(EmailRecognizer.PATTERNS[0].regex,
                         regex.DOTALL | regex.MULTILINE | regex.IGNORECASE)


def scan_for_leaks(text: str, entities: Iterable[str] = (CARD, EMAIL)) -> list[tuple[str, int, int]]:
    """Card numbers and e-mail addresses still present in `text`.

    Args:
        text: an output document's text, or text decoded from a token shard.
        entities: which of ``"CREDIT_CARD"`` and ``"EMAIL_ADDRESS"`` to look for (a
            build that did not scrub e-mail addresses should not be failed for them);
            other names are ignored.

    Returns:
        ``(entity, start, end)`` per finding, in text order; entity is
        ``"CREDIT_CARD"`` or ``"EMAIL_ADDRESS"``. Empty when the text is clean.
    """
    wanted = set(entities)
    found: list[tuple[str, int, int]] = []
    if CARD in wanted and any(c in text for c in "0123456789"):
        found.extend((CARD, s, e) for s, e in validators.find_cards(text))
    if EMAIL in wanted and "@" in text:
        from pile.pii.prefilter import email_candidates
        from pile.pii.recognizers import email_domain_valid

        # presidio's pattern tried at every word of a long text is the slowest part of
        # `pile validate`; its matches cannot cross whitespace and hold the e-mail gate, so
        # they all lie in the gated tokens (whitespace kept around them: same \b).
        pattern = _email_re()
        for start, end in email_candidates(text, 0, len(text)):
            for m in pattern.finditer(text[start:end]):
                if email_domain_valid(m.group()):
                    found.append((EMAIL, start + m.start(), start + m.end()))
    return sorted(found, key=lambda f: (f[1], f[2]))
