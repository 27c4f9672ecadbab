"""The PII evaluation set: real text with planted values and decoys, and its scoring.

Base text is real (``shared/data``): the Enron mail bodies (which hold real e-mail
addresses and phone numbers), WikiText-2, Tiny Shakespeare, a Project Gutenberg book,
Botchan and two Europarl sessions, cut into documents of about two thousand characters.
Into them the generator plants, with a seeded `random.Random`:

- positives: card numbers generated for every network (valid Luhn, a prefix drawn from
  the network's issuer ranges, random digits; not the famous test numbers) in every
  formatting (none, spaces, dashes, dots) in prose and in table rows; e-mail addresses;
  phone numbers valid for their region (python-phonenumbers) in international and E.164
  formats, and in national formats for the regions the default config reads nationally
  (US, CA, GB, FR); public IPv4/IPv6 addresses; SSNs; IBANs with valid check digits;
  Base58Check Bitcoin addresses;
- decoys, which must stay unchanged: ISBN-10/13, order and tracking numbers (Amazon,
  UPS, USPS, FedEx), UUIDs, timestamps (ISO and epoch), version strings, decimals,
  arithmetic, hex constants, private and reserved IPs, card-shaped numbers with a wrong
  check digit or no issuing network, labelled order numbers, e-mail look-alikes.

The real e-mail addresses of the Enron bodies are labelled too: every occurrence in a
body of an address from the mailbox's own From/To/Cc headers is a positive (the labels
come from the headers, not from the detector being measured).

`evaluate` scores any detector (a function from text to ``(entity, start, end)``
spans) per entity: a positive is found when a detection of its entity covers it
entirely; a false positive is a detection that covers no positive of its entity and
lies on a decoy, in a document from a corpus without real PII (everything but Enron),
or, for cards, anywhere (no real card numbers occur in these corpora). Detections in
Enron text that match no label are reported as ``unlabeled`` (real but unlabelled PII
such as signatures' phone numbers) and not counted against precision.
"""

from __future__ import annotations

import hashlib
import ipaddress
import mailbox
import random
import re
import string
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from pile.pii.validators import luhn_check_digit, luhn_valid

CARD_NETWORKS = ("visa", "mastercard", "amex", "discover", "jcb", "diners", "unionpay", "maestro")
CARD_SEPARATORS = ("", " ", "-", ".")
ENTITIES = ("CREDIT_CARD", "EMAIL_ADDRESS", "PHONE_NUMBER", "IP_ADDRESS", "US_SSN",
            "IBAN_CODE", "CRYPTO")

_TEXT_FILES = {  # corpus name -> path under shared/data
    "wikitext": "text/wikitext-2/test.txt",
    "shakespeare": "text/tinyshakespeare.txt",
    "botchan": "text/botchan.txt",
    "gutenberg": "samples/gutenberg/3261.txt",
    "europarl": "samples/europarl/en/ep-00-01-17.txt",
    "europarl2": "samples/europarl/en/ep-00-02-03.txt",
}

# Project Gutenberg texts carry the foundation's real contact e-mail addresses and
# phone number in their licence sections.
_REAL_PII = frozenset({"gutenberg", "botchan"})


@dataclass(frozen=True)
class Planted:
    """A labelled span: `entity` is None for a decoy; `kind` says what was planted."""

    entity: str | None
    kind: str
    start: int
    end: int


@dataclass
class EvalDoc:
    """One evaluation document.

    Attributes:
        id: ``"<corpus>/<n>"``.
        corpus: where the base text comes from (``enron``, ``wikitext``...).
        text: base text with the planted values.
        labels: positives and decoys, in text order.
        real_pii: whether the base text holds real, unlabelled PII (Enron).
    """

    id: str
    corpus: str
    text: str
    labels: list[Planted] = field(default_factory=list)
    real_pii: bool = False


# --- base text -------------------------------------------------------------------

def chunk_lines(text: str, target: int) -> list[str]:
    """`text` cut at line ends into pieces of about `target` characters (a short tail dropped)."""
    out: list[str] = []
    cur: list[str] = []
    size = 0
    for line in text.splitlines(keepends=True):
        cur.append(line)
        size += len(line)
        if size >= target:
            out.append("".join(cur))
            cur, size = [], 0
    if cur and size > target // 4:
        out.append("".join(cur))
    return out


_ADDR_RE = re.compile(r"[\w.+'\-]+@[\w\-]+(?:\.[\w\-]+)+")


def _enron_docs(shared_data: Path, target: int) -> list[EvalDoc]:
    """Enron bodies, with header addresses' occurrences in the bodies labelled."""
    docs: list[EvalDoc] = []
    messages = []
    known: set[str] = set()
    for path in sorted((shared_data / "samples" / "enron").glob("*.mbox")):
        for msg in mailbox.mbox(str(path)):
            for header in ("From", "To", "Cc", "Bcc", "X-From", "X-To"):
                known.update(a.lower().strip("'.-") for a in _ADDR_RE.findall(str(msg.get(header, ""))))
            body = msg.get_payload(decode=False)
            if isinstance(body, str) and body.strip():
                messages.append(body)
    n = 0
    for body in messages:
        for chunk in chunk_lines(body, target) if len(body) > 2 * target else [body]:
            labels = []
            lower = chunk.lower()
            for addr in known:
                for m in re.finditer(re.escape(addr), lower):
                    s, e = m.span()
                    if (s > 0 and (lower[s - 1].isalnum() or lower[s - 1] in "._+-'")) or (
                            e < len(lower) and (lower[e].isalnum() or lower[e] in "_-" or
                                                (lower[e] == "." and e + 1 < len(lower) and lower[e + 1].isalnum()))):
                        continue
                    labels.append(Planted("EMAIL_ADDRESS", "enron_email", s, e))
            docs.append(EvalDoc(f"enron/{n}", "enron", chunk, sorted(labels, key=lambda p: p.start),
                                real_pii=True))
            n += 1
    return docs


def base_documents(shared_data: Path, target_chars: int = 2000) -> list[EvalDoc]:
    """The real documents, without plants: Enron bodies and the plain-text corpora."""
    docs = _enron_docs(shared_data, target_chars)
    for corpus, rel in _TEXT_FILES.items():
        text = (shared_data / rel).read_text(encoding="utf-8", errors="replace")
        for i, chunk in enumerate(chunk_lines(text, target_chars)):
            docs.append(EvalDoc(f"{corpus}/{i}", corpus, chunk, real_pii=corpus in _REAL_PII))
    return docs


# --- generated values ----------------------------------------------------------------

def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(n))


def generate_card(rng: random.Random, network: str) -> str:
    """A Luhn-valid number with a prefix from `network`'s issuer ranges, random body."""
    if network == "visa":
        prefix, length = "4", rng.choice((16, 16, 16, 13, 19))
    elif network == "mastercard":
        prefix, length = (str(rng.randint(51, 55)) if rng.random() < 0.5
                          else str(rng.randint(2221, 2720))), 16
    elif network == "amex":
        prefix, length = rng.choice(("34", "37")), 15
    elif network == "discover":
        prefix = rng.choice(("6011", str(rng.randint(644, 649)), "65", str(rng.randint(622126, 622925))))
        length = rng.choice((16, 16, 19))
    elif network == "jcb":
        prefix, length = str(rng.randint(3528, 3589)), rng.choice((16, 16, 19))
    elif network == "diners":
        prefix, length = rng.choice((("36", 14), (str(rng.randint(300, 305)), 14), ("38", 16), ("39", 16)))
    elif network == "unionpay":
        prefix, length = "62" + str(rng.choice((0, 1, 3, 4, 5, 7, 8))), rng.choice((16, 17, 18, 19))
    elif network == "maestro":
        prefix = rng.choice(("50", "56", "57", "58", "6304", "6759", "6761", "6762", "6763"))
        length = rng.choice((16, 19, 13))
    else:
        raise ValueError(f"unknown card network {network!r}")
    body = prefix + _digits(rng, length - len(prefix) - 1)
    return body + luhn_check_digit(body)


def format_card(digits: str, sep: str) -> str:
    """Write a card number the way people do: 4-4-4-4(-3), Amex 4-6-5, Diners 4-6-4."""
    if not sep:
        return digits
    n = len(digits)
    if n == 15:
        groups = [digits[:4], digits[4:10], digits[10:]]
    elif n == 14:
        groups = [digits[:4], digits[4:10], digits[10:]]
    elif n == 13:
        groups = [digits[:4], digits[4:8], digits[8:]]
    else:
        groups = [digits[i:i + 4] for i in range(0, n, 4)]
    return sep.join(groups)


_FIRST = ("john", "mary", "li", "ana", "oluwaseun", "pierre", "k", "jean-luc", "sarah", "wei",
          "maria", "o'neil", "dmitri", "priya", "tom")
_LAST = ("smith", "garcia", "nguyen", "mueller", "okafor", "dubois", "tanaka", "kowalski",
         "o'brien", "patel", "johansson", "rossi")
_DOMAINS = ("gmail.com", "yahoo.co.uk", "mail.example.org", "uni-heidelberg.de", "enron.com",
            "company.io", "dept.cs.stanford.edu", "orange.fr", "web-mail.net", "hotmail.com",
            "post.gov.au", "startup.ai")


def generate_email(rng: random.Random) -> str:
    first, last = rng.choice(_FIRST).replace("'", ""), rng.choice(_LAST).replace("'", "")
    local = rng.choice((f"{first}.{last}", f"{first}{last}{rng.randint(1, 99)}",
                        f"{first[0]}{last}", f"{first}_{last}+news", f"{last}.{first}"))
    addr = f"{local}@{rng.choice(_DOMAINS)}"
    return addr.upper() if rng.random() < 0.1 else addr


def generate_phone(rng: random.Random) -> str:
    """A number valid for its region (python-phonenumbers), in one of its written forms."""
    import phonenumbers
    from phonenumbers import PhoneNumberFormat, PhoneNumberType

    while True:
        region = rng.choice(("US", "US", "GB", "DE", "FR", "IN", "CA"))
        kind = rng.choice((PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE))
        example = phonenumbers.example_number_for_type(region, kind)
        if example is None:
            continue
        national = str(example.national_number)
        national = national[:-4] + _digits(rng, 4)
        num = phonenumbers.parse("+" + str(example.country_code) + national)
        if not phonenumbers.is_valid_number(num):
            continue
        # National formats only for regions the default config reads nationally;
        # others are written internationally (+CC), as they are across borders.
        fmt = rng.choice(((PhoneNumberFormat.NATIONAL,) if region in ("US", "CA", "GB", "FR") else ())
                         + (PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.E164))
        text = phonenumbers.format_number(num, fmt)
        if region in ("US", "CA") and rng.random() < 0.3:
            d = national
            text = rng.choice((f"{d[:3]}-{d[3:6]}-{d[6:]}", f"{d[:3]}.{d[3:6]}.{d[6:]}",
                               f"+1-{d[:3]}-{d[3:6]}-{d[6:]}"))
        return text


def generate_public_ip(rng: random.Random) -> str:
    while True:
        if rng.random() < 0.7:
            addr = ipaddress.IPv4Address(rng.getrandbits(32))
        else:
            addr = ipaddress.IPv6Address((0x2 << 124) | rng.getrandbits(125) & ((1 << 125) - 1))
        if addr.is_global and not addr.is_multicast:
            if isinstance(addr, ipaddress.IPv6Address) and rng.random() < 0.5:
                return addr.exploded
            return str(addr)


def generate_private_ip(rng: random.Random) -> str:
    net = rng.choice(("10.0.0.0/8", "192.168.0.0/16", "172.16.0.0/12", "127.0.0.0/8",
                      "169.254.0.0/16", "fc00::/7", "fe80::/10"))
    network = ipaddress.ip_network(net)
    return str(network[rng.randrange(1, min(network.num_addresses - 1, 1 << 32))])


def generate_ssn(rng: random.Random) -> str:
    while True:
        area = rng.randint(1, 899)
        if area != 666:
            break
    return f"{area:03d}-{rng.randint(1, 99):02d}-{rng.randint(1, 9999):04d}"


_IBAN_BBAN = {  # country -> BBAN generator (formats from the IBAN registry)
    "DE": lambda r: _digits(r, 18),
    "GB": lambda r: "".join(r.choice(string.ascii_uppercase) for _ in range(4)) + _digits(r, 14),
    "FR": lambda r: _digits(r, 23),
    "ES": lambda r: _digits(r, 20),
    "NL": lambda r: "".join(r.choice(string.ascii_uppercase) for _ in range(4)) + _digits(r, 10),
    "IT": lambda r: r.choice(string.ascii_uppercase) + _digits(r, 22),
}


def generate_iban(rng: random.Random) -> str:
    """A syntactically valid IBAN (mod-97 check digits), compact or in groups of four."""
    country = rng.choice(sorted(_IBAN_BBAN))
    bban = _IBAN_BBAN[country](rng)
    numeric = "".join(str(int(c, 36)) for c in bban + country + "00")
    iban = f"{country}{98 - int(numeric) % 97:02d}{bban}"
    if rng.random() < 0.5:
        iban = " ".join(iban[i:i + 4] for i in range(0, len(iban), 4))
    return iban


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def generate_bitcoin(rng: random.Random) -> str:
    """A Base58Check P2PKH (``1...``) or P2SH (``3...``) address over random bytes."""
    payload = bytes([rng.choice((0, 5))]) + bytes(rng.getrandbits(8) for _ in range(20))
    raw = payload + hashlib.sha256(hashlib.sha256(payload).digest()).digest()[:4]
    n = int.from_bytes(raw, "big")
    out = ""
    while n:
        n, rem = divmod(n, 58)
        out = _B58[rem] + out
    pad = len(raw) - len(raw.lstrip(b"\0"))
    return "1" * pad + out


# --- decoys ---------------------------------------------------------------------------

def _isbn13(rng: random.Random) -> str:
    body = "978" + _digits(rng, 9)
    total = sum((1 if i % 2 == 0 else 3) * int(c) for i, c in enumerate(body))
    d = body + str((10 - total % 10) % 10)
    return f"{d[:3]}-{d[3]}-{d[4:7]}-{d[7:12]}-{d[12]}"


def _isbn10(rng: random.Random) -> str:
    body = _digits(rng, 9)
    check = (11 - sum((10 - i) * int(c) for i, c in enumerate(body)) % 11) % 11
    d = body + ("X" if check == 10 else str(check))
    return f"{d[0]}-{d[1:4]}-{d[4:9]}-{d[9]}"


def _card_bad_luhn(rng: random.Random) -> str:
    digits = generate_card(rng, rng.choice(CARD_NETWORKS))
    bad = digits[:-1] + str((int(digits[-1]) + rng.randint(1, 9)) % 10)
    assert not luhn_valid(bad)
    return format_card(bad, rng.choice(CARD_SEPARATORS))


def _card_no_network(rng: random.Random) -> str:
    body = rng.choice("1789") + _digits(rng, 14)
    return format_card(body + luhn_check_digit(body), rng.choice(CARD_SEPARATORS))


def _hex(rng: random.Random) -> str:
    return rng.choice((f"0x{rng.getrandbits(32):08x}", f"0x{rng.getrandbits(64):016X}",
                       "0x" + _digits(rng, 16), "0x7fffffff", f"#{rng.getrandbits(24):06x}"))


DECOYS: dict[str, Callable[[random.Random], str]] = {
    "isbn13": _isbn13,
    "isbn10": _isbn10,
    "amazon_order": lambda r: f"{_digits(r, 3)}-{_digits(r, 7)}-{_digits(r, 7)}",
    "ups_tracking": lambda r: "1Z" + "".join(r.choice(string.ascii_uppercase + string.digits)
                                             for _ in range(6)) + "03" + _digits(r, 8),
    "usps_tracking": lambda r: "9400" + _digits(r, 18),
    "fedex_tracking": lambda r: _digits(r, 12),
    "order_labelled": lambda r: f"Order #{_digits(r, 10)}",
    "invoice_labelled": lambda r: f"invoice no. {_digits(r, 3)}-{_digits(r, 3)}-{_digits(r, 4)}",
    "uuid": lambda r: str(uuid.UUID(int=r.getrandbits(128), version=4)),
    "timestamp_iso": lambda r: f"20{r.randint(0, 29):02d}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d}"
                               f"T{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}Z",
    "timestamp_log": lambda r: f"20{r.randint(0, 29):02d}-{r.randint(1, 12):02d}-{r.randint(1, 28):02d} "
                               f"{r.randint(0, 23):02d}:{r.randint(0, 59):02d}:{r.randint(0, 59):02d}"
                               f".{_digits(r, 3)}",
    "epoch_ms": lambda r: str(r.randint(1_000_000_000_000, 1_900_000_000_000)),
    "epoch_s": lambda r: str(r.randint(1_000_000_000, 1_900_000_000)),
    "version": lambda r: r.choice((f"v{r.randint(0, 9)}.{r.randint(0, 30)}.{r.randint(0, 99)}",
                                   f"version {r.randint(1, 9)}.{r.randint(0, 9)}.{r.randint(0, 9)}.{r.randint(0, 99)}",
                                   f"Python {r.randint(2, 3)}.{r.randint(0, 13)}.{r.randint(0, 20)}")),
    "decimal": lambda r: r.choice((f"{r.randint(0, 9)}.{_digits(r, 16)}", f"{r.random() * 1e6:,.2f}",
                                   f"-{r.randint(1, 99)}.{_digits(r, 14)}e-{r.randint(1, 9)}")),
    "arithmetic": lambda r: r.choice((f"{_digits(r, 5)} + {_digits(r, 5)} = {_digits(r, 6)}",
                                      f"What is {_digits(r, 7)} * {_digits(r, 6)}?",
                                      f"Let x = {_digits(r, 10)} - {_digits(r, 9)}.",
                                      f"({_digits(r, 4)} - {_digits(r, 4)}) / {_digits(r, 3)}")),
    "hex": _hex,
    "private_ip": generate_private_ip,
    "card_bad_luhn": _card_bad_luhn,
    "card_no_network": _card_no_network,
    "email_lookalike": lambda r: r.choice(("user@localhost", "a@b.T", "@handle", "x @-@ y",
                                           "name at example dot com", "foo@bar",
                                           f"{r.randint(1, 9)} @,@ {_digits(r, 3)}")),
}

POSITIVES: dict[str, Callable[[random.Random], str]] = {
    "EMAIL_ADDRESS": generate_email,
    "PHONE_NUMBER": generate_phone,
    "IP_ADDRESS": generate_public_ip,
    "US_SSN": generate_ssn,
    "IBAN_CODE": generate_iban,
    "CRYPTO": generate_bitcoin,
}

_PROSE = (
    "Please charge {v} for the remaining balance.",
    "My details are: {v}.",
    "You can reach it at {v} during office hours.",
    "The value on file is {v}, as discussed.",
    "({v})",
    "Ref: {v}\n",
    "-- sent with {v} attached",
    "\"{v}\"",
)
_TABLES = (
    "\n| name | value | date |\n|------|-------|------|\n| J. Doe | {v} | 2021-04-03 |\n| total | 1,204.50 | |\n",
    "\nname\tvalue\texp\nR. Roe\t{v}\t04/27\n",
    "\nid,value,amount\n{n},{v},{amt}\n",
)


def _snippet(rng: random.Random, value: str, table: bool) -> tuple[str, int]:
    template = rng.choice(_TABLES if table else _PROSE)
    text = template.replace("{n}", str(rng.randint(1, 999))).replace(
        "{amt}", f"{rng.randint(1, 9999)}.{rng.randint(0, 99):02d}")
    return text.replace("{v}", value), text.index("{v}")


def _items(rng: random.Random, scale: int) -> list[tuple[str | None, str, str]]:
    """(entity or None, kind, value) for everything to plant."""
    items: list[tuple[str | None, str, str]] = []
    for network in CARD_NETWORKS:
        for sep in CARD_SEPARATORS:
            for _ in range(scale):
                items.append(("CREDIT_CARD", f"card_{network}",
                              format_card(generate_card(rng, network), sep)))
    for entity, gen in POSITIVES.items():
        for _ in range(scale * 4):
            items.append((entity, entity.lower(), gen(rng)))
    for kind, gen in DECOYS.items():
        for _ in range(scale * 2):
            items.append((None, kind, gen(rng)))
    rng.shuffle(items)
    return items


def build_evalset(shared_data: Path, seed: int = 0, scale: int = 4,
                  max_docs: int | None = None, plant_fraction: float | None = None,
                  target_chars: int = 2000) -> list[EvalDoc]:
    """Real documents with planted positives and decoys (deterministic for a seed).

    Args:
        shared_data: the ``shared/data`` folder.
        seed: seeds every random choice.
        scale: cards planted per network and formatting (positives of other entities:
            4x scale each; decoys: 2x scale per kind).
        max_docs: keep this many base documents (a seeded sample; all Enron bodies
            first); None keeps all (about 1,700).
        plant_fraction: plant into this fraction of documents only (a realistic rate
            for benchmarks, e.g. 0.03); None spreads the plants over all documents.
        target_chars: size of the documents cut from the plain-text corpora.

    Returns:
        The documents, each with its labels in text order.
    """
    rng = random.Random(seed)
    docs = base_documents(shared_data, target_chars)
    if max_docs is not None and max_docs < len(docs):
        enron = [d for d in docs if d.corpus == "enron"]
        rest = [d for d in docs if d.corpus != "enron"]
        keep = enron[:max_docs // 2]
        keep += rng.sample(rest, max_docs - len(keep))
        docs = keep
    items = _items(rng, scale)
    if plant_fraction is None:
        hosts = list(range(len(docs)))
    else:
        hosts = rng.sample(range(len(docs)), max(1, round(plant_fraction * len(docs))))
    per_doc: dict[int, list[tuple[str | None, str, str]]] = defaultdict(list)
    for i, item in enumerate(items):
        per_doc[hosts[i % len(hosts)] if plant_fraction is not None else rng.choice(hosts)].append(item)
    for index, planted in per_doc.items():
        _plant(rng, docs[index], planted)
    return docs


def _plant(rng: random.Random, doc: EvalDoc, items: list[tuple[str | None, str, str]]) -> None:
    text = doc.text
    gaps = [m.end() for m in re.finditer(r"\s", text)] or [len(text)]
    positions = sorted(rng.choice(gaps) for _ in items)
    pieces: list[str] = []
    new_labels: list[Planted] = []
    shift: list[tuple[int, int]] = []  # (original offset, inserted length) for old labels
    prev = 0
    out_len = 0
    for pos, (entity, kind, value) in zip(positions, items):
        pieces.append(text[prev:pos])
        out_len += pos - prev
        snippet, offset = _snippet(rng, value, table=rng.random() < 0.3)
        snippet = " " + snippet + " "
        offset += 1
        new_labels.append(Planted(entity, kind, out_len + offset, out_len + offset + len(value)))
        pieces.append(snippet)
        out_len += len(snippet)
        shift.append((pos, len(snippet)))
        prev = pos
    pieces.append(text[prev:])

    def moved(offset: int) -> int:
        return offset + sum(n for at, n in shift if at <= offset)

    old = [Planted(p.entity, p.kind, moved(p.start), moved(p.start) + (p.end - p.start))
           for p in doc.labels]
    doc.text = "".join(pieces)
    doc.labels = sorted(old + new_labels, key=lambda p: p.start)


# --- scoring -----------------------------------------------------------------------------

@dataclass
class EntityScore:
    """Recall and precision of one entity type."""

    entity: str
    positives: int = 0
    found: int = 0
    false_positives: int = 0
    unlabeled: int = 0
    missed: list[str] = field(default_factory=list)

    @property
    def recall(self) -> float:
        return self.found / self.positives if self.positives else 1.0

    @property
    def precision(self) -> float:
        return self.found / (self.found + self.false_positives) if self.found + self.false_positives else 1.0


@dataclass
class EvalReport:
    """Per-entity scores and, per decoy kind, how many decoys were (wrongly) detected."""

    entities: dict[str, EntityScore]
    decoys: dict[str, tuple[int, int]]
    false_positive_examples: list[tuple[str, str, str]] = field(default_factory=list)

    def table(self) -> str:
        """A plain-text table of the figures."""
        lines = [f"{'entity':<14} {'positives':>9} {'found':>6} {'recall':>7} {'FP':>4} "
                 f"{'precision':>9} {'unlabeled':>9}"]
        for s in self.entities.values():
            lines.append(f"{s.entity:<14} {s.positives:>9} {s.found:>6} {s.recall:>7.4f} "
                         f"{s.false_positives:>4} {s.precision:>9.4f} {s.unlabeled:>9}")
        lines.append("decoys flagged: " + ", ".join(
            f"{k} {flagged}/{n}" for k, (n, flagged) in sorted(self.decoys.items())))
        return "\n".join(lines)


def evaluate(detect: Callable[[str], Iterable[tuple[str, int, int]]],
             docs: list[EvalDoc], entities: Iterable[str] = ENTITIES) -> EvalReport:
    """Score `detect` on `docs`.

    Args:
        detect: text -> ``(entity, start, end)`` detections.
        docs: from `build_evalset`.
        entities: the entity types to score (positives of others are ignored).

    Returns:
        The per-entity recall/precision and per-decoy-kind counts.
    """
    entities = tuple(entities)
    scores = {e: EntityScore(e) for e in entities}
    decoys: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    examples: list[tuple[str, str, str]] = []
    for doc in docs:
        found = [(e, s, t) for e, s, t in detect(doc.text) if e in scores]
        for label in doc.labels:
            if label.entity is None:
                decoys[label.kind][0] += 1
                if any(s < label.end and t > label.start for _, s, t in found):
                    decoys[label.kind][1] += 1
                continue
            if label.entity not in scores:
                continue
            score = scores[label.entity]
            score.positives += 1
            if any(e == label.entity and s <= label.start and t >= label.end for e, s, t in found):
                score.found += 1
            else:
                score.missed.append(f"{doc.id} {label.kind} {doc.text[label.start:label.end]!r}")
        for entity, s, t in found:
            if any(p.entity == entity and s < p.end and t > p.start for p in doc.labels):
                continue
            on_decoy = any(p.entity is None and s < p.end and t > p.start for p in doc.labels)
            if on_decoy or not doc.real_pii or entity == "CREDIT_CARD":
                scores[entity].false_positives += 1
                examples.append((doc.id, entity, doc.text[max(0, s - 20):t + 20]))
            else:
                scores[entity].unlabeled += 1
    return EvalReport(scores, {k: (v[0], v[1]) for k, v in decoys.items()}, examples)
