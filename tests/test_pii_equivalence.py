"""The gates lose nothing: the stage finds exactly what presidio finds on whole documents.

The reference is presidio's `AnalyzerEngine` over the same recognizers, with presidio's
own phone matching (`build_recognizers(..., reference=True)`: python-phonenumbers'
`PhoneNumberMatcher` on every whole document, for every configured region). The stage
adds every gate: the document trigger, dense lines, token pieces, the phone candidates
and their validity gate, the per-region matchers and `FloorMatcher`. Both run over

- real text: every sample and text corpus in shared/data (mail with real phone numbers,
  IRC logs, tables, patents, LaTeX, JSON, subtitles...) and Python standard library
  source (the default corpus), cut into documents;
- planted numbers: example numbers of 40 regions, every phonenumbers format, with dots,
  dashes, spaces and brackets, extensions, international prefixes, fullwidth digits,
  next to letters, labels, dates and long runs of other numbers;

with the default phone regions and with a second set (German, Indian, Japanese and
Israeli numbers, and Brazil and San Marino, whose national-prefix rules write digits).
Every span must be the same. The parts are also checked one by one: the matcher with
floors against phonenumbers' own, the validity gate against the matcher on random
spans, and the candidate pattern's character set against its parse tree.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import random
import re
import string
from pathlib import Path

import phonenumbers
import pytest
from phonenumbers import Leniency, PhoneNumberFormat, PhoneNumberMatcher, PhoneNumberType, phonenumbermatcher

from pile.config import PII_ENTITIES, PiiConfig
from pii_evalset import chunk_lines
from pile.pii.phones import FloorMatcher, PhoneGate, digit_floors
from pile.pii.prefilter import PHONE_PATTERN_CHARS
from pile.pii.recognizers import DEFAULT_PHONE_REGIONS, build_analyzer_engine, build_recognizers
from pile.pii.scrub import PiiScrubber, Span, merge_spans

OTHER_REGIONS = ("DE", "IN", "JP", "IL", "BR", "SM")
DOC_CHARS = 4000
PER_FILE = 60_000


def _read(path: Path) -> str:
    opener = {".gz": gzip.open, ".bz2": bz2.open, ".xz": lzma.open}.get(path.suffix, open)
    with opener(path, "rb") as f:
        data = f.read(4 * PER_FILE)
    return data.decode("utf-8", errors="replace")[:PER_FILE]


def real_documents(shared_data: Path) -> list[str]:
    """Documents from every text-like sample of shared/data and from the standard library."""
    skip = {".epub", ".pdf", ".ftz", ".rdf", ".model", ".v1", ".v3", ".tiktoken"}
    files = [p for base in ("samples", "text") for p in sorted((shared_data / base).rglob("*"))
             if p.is_file() and p.suffix not in skip]
    stdlib = Path(os.__file__).parent
    files += sorted(stdlib.glob("*.py"))[::12] + sorted((stdlib / "email").glob("*.py"))
    docs = [chunk for p in files for chunk in chunk_lines(_read(p), DOC_CHARS)]
    assert len(docs) > 400
    return docs


# Regions whose example numbers are planted: every continent, short and long numbers,
# national prefixes and none, NANP members, and transform rules (AR, BR, SM, MG).
PLANT_REGIONS = ("US", "CA", "GB", "FR", "DE", "IN", "CN", "JP", "BR", "MX", "RU", "IT", "ES",
                 "NL", "CH", "SE", "IL", "ZA", "NG", "AR", "SM", "AU", "NZ", "AT", "LU", "BE",
                 "PL", "TR", "KR", "SG", "HK", "AE", "EG", "KE", "IE", "PT", "GR", "JM", "BB", "MG")
TYPES = (PhoneNumberType.FIXED_LINE, PhoneNumberType.MOBILE, PhoneNumberType.TOLL_FREE)
FORMATS = (PhoneNumberFormat.E164, PhoneNumberFormat.INTERNATIONAL, PhoneNumberFormat.NATIONAL,
           PhoneNumberFormat.RFC3966)
TEMPLATES = (
    "Call {v} today.", "tel: {v}\n", "Fax:{v}", "| J. Doe | {v} | 2021-04-03 |", "({v})",
    "{v}x", "abc{v}", "order no. {v} shipped", "reach me at {v}, or by mail",
    "Date:   Tue May 3 15:09:54 2022 -0700 {v}", "1 2 3 {v} 4 5", "{v}\n{v}",
    " -- Jane Roe <jane@example.org>  Thu, 23 Jun 2022 09:00:54 +0200 {v}",
    "version 1.14.10 (2023-09-01) {v} 3.11.7", "x={v};", "ids 2125550147 {v} 9780306406157",
    "[{v}]", "{v}/{v}", "mobil {v}.", "12345678901234567890123 {v}",
    " ".join(str(i) for i in range(30)) + " {v}",
)
EXTENSIONS = ("", " ext. 123", " x 45", " x45", ";ext=9", ", #22", " #7", " extension 12")
FULLWIDTH = str.maketrans("0123456789", "０１２３４５６７８９")


def _variants(number) -> list[str]:
    out = [phonenumbers.format_number(number, f) for f in FORMATS]
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    intl = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    nsn = phonenumbers.national_significant_number(number)
    cc = str(number.country_code)
    out += [national.replace(" ", sep) for sep in (".", "-", "")]
    out += [intl.replace(" ", sep) for sep in (".", "-")]
    out += [f"00 {intl[1:]}", f"011 {intl[1:]}", f"{cc} {nsn}", f"+{cc} ({nsn[:3]}) {nsn[3:]}",
            f"0{nsn}", nsn, f"({nsn[:3]}) {nsn[3:6]}-{nsn[6:]}", f"+{cc}-{nsn}",
            national.translate(FULLWIDTH)]
    return out


def planted_documents(seed: int = 5) -> list[str]:
    rng = random.Random(seed)
    values = []
    for region in PLANT_REGIONS:
        for kind in TYPES:
            example = phonenumbers.example_number_for_type(region, kind)
            if example is None:
                continue
            for text in _variants(example):
                values.append(text + rng.choice(EXTENSIONS))
    # International numbers of six to eight digits (+43 1110), and short national ones.
    values += ["+43 1110", "+49 1640", "+98 9601", "+683 4002", "+290 22001", "116 123",
               "+1 650-253-0000", "1-800-555-0199", "(0)20 7946 0958", "+44 (0)20 7946 0958"]
    docs = []
    for i in range(0, len(values), 12):
        lines = [rng.choice(TEMPLATES).replace("{v}", v) for v in values[i:i + 12]]
        docs.append("\n".join(lines) + "\n")
    assert len(values) > 1000
    return docs


@pytest.fixture(scope="module")
def corpus(shared_data):
    return real_documents(shared_data) + planted_documents()


def _reference(regions):
    engine = build_analyzer_engine(build_recognizers(PII_ENTITIES, phone_regions=regions,
                                                     reference=True).values())
    entities = list(PII_ENTITIES)

    def spans(text: str) -> list[Span]:
        results = engine.analyze(text, language="en", entities=entities)
        return merge_spans([Span(r.entity_type, r.start, r.end) for r in results])
    return spans


@pytest.mark.parametrize("regions", [DEFAULT_PHONE_REGIONS, OTHER_REGIONS], ids=["default", "other"])
def test_stage_finds_exactly_what_presidio_finds(corpus, regions):
    reference = _reference(regions)
    stage = PiiScrubber(PiiConfig(entities=PII_ENTITIES, phone_regions=regions))
    differ, phones = [], 0
    for i, text in enumerate(corpus):
        expected = reference(text)
        got = stage.find_spans(text)
        if got != expected:
            differ.append((i, [(s.entity, text[s.start:s.end]) for s in set(expected) ^ set(got)]))
        for span in expected:
            if span.entity == "PHONE_NUMBER":
                phones += 1
                # The reason phones are only looked for in dense lines (`Prefilter`).
                assert re.search(r"\d[^\n]{0,4}\d", text[span.start:span.end]), text[span.start:span.end]
    assert differ == []
    assert phones > 500                       # the comparison is not vacuous
    assert stage.docs_scanned < len(corpus)


def test_floor_matcher_matches_phonenumbers_matcher():
    """On random digit strings (the shortest valid numbers are among them) and on the
    planted texts, `FloorMatcher` returns phonenumbers' own matches, for many regions."""
    rng = random.Random(11)
    texts = planted_documents(seed=2)[:40]
    for _ in range(600):
        digits = "".join(rng.choice(string.digits) for _ in range(rng.randint(2, 12)))
        texts.append(rng.choice(("+", "", "(", "00", "0")) + " ".join(
            digits[i:i + rng.randint(1, 4)] for i in range(0, len(digits), 3)))
    for region in ("US", "GB", "FR", "DE", "AT", "IN", "SM", "BR", "LU", "NU"):
        for text in texts:
            ours = [(m.start, m.end) for m in FloorMatcher(text, region, Leniency.VALID)]
            theirs = [(m.start, m.end) for m in PhoneNumberMatcher(text, region, Leniency.VALID)]
            assert ours == theirs, (region, text)


def test_floors_are_below_every_valid_number():
    """No valid number has fewer digits than the floor: every "+" number of up to five
    digits is checked, and the six-digit ones the floor lets through exist."""
    assert digit_floors("US").with_plus == 6
    for i in range(1, 10 ** 5):
        try:
            number = phonenumbers.parse(f"+{i}", None)
        except phonenumbers.NumberParseException:
            continue
        assert not phonenumbers.is_valid_number(number), i
    assert phonenumbers.is_valid_number(phonenumbers.parse("+431110"))


@pytest.mark.parametrize("regions", [DEFAULT_PHONE_REGIONS, ("DE", "IN", "JP", "IL", "AU")],
                         ids=["default", "other"])
def test_validity_gate_keeps_every_region_whose_matcher_finds_a_number(regions):
    """Random spans of digits and plain punctuation, and valid numbers written with it:
    whenever a region's matcher finds a number in a candidate (a match of phonenumbers'
    candidate pattern), the gate keeps that region for the candidate."""
    rng = random.Random(3)
    gate = PhoneGate(regions)
    spans = []
    for region in PLANT_REGIONS:
        example = phonenumbers.example_number_for_type(region, PhoneNumberType.FIXED_LINE)
        if example is not None:
            spans += [v for v in _variants(example) if v.isascii()]
    for _ in range(2500):
        groups = [str(rng.randint(0, 10 ** rng.randint(1, 5))) for _ in range(rng.randint(1, 6))]
        seps = [rng.choice((" ", "-", ".", "/", " - ", ") ", " (", "#", ", #", "x", " x ", "~"))
                for _ in groups]
        spans.append("".join(g + s for g, s in zip(groups, seps)).strip())
    pattern = getattr(phonenumbermatcher, "_PATTERN")
    checked = 0
    for text in spans:
        cands = [m.span() for m in pattern.finditer(text)]
        for region in regions:
            for m in PhoneNumberMatcher(text, region, Leniency.VALID):
                (s, e), = [(s, e) for s, e in cands if s <= m.start and m.end <= e]
                assert region in gate.regions_for(text, s, e), (region, text, m.raw_string)
                checked += 1
    assert checked > 500


def test_phone_pattern_chars_hold_every_ascii_character_of_the_pattern():
    """`PHONE_PATTERN_CHARS` against the parse tree of phonenumbers' candidate pattern:
    every ASCII character a match can hold (literals, ranges, digits, both cases)."""
    import re._parser as sre_parse  # the standard library's own parser, for the check

    pattern = getattr(phonenumbermatcher, "_PATTERN")
    chars: set[str] = set()

    def walk(items) -> None:
        for op, arg in items:
            name = str(op)
            if name == "LITERAL":
                chars.add(chr(arg))
            elif name == "IN":
                walk(arg)
            elif name == "RANGE":
                chars.update(chr(c) for c in range(arg[0], min(arg[1], 127) + 1))
            elif name == "CATEGORY":
                assert str(arg) == "CATEGORY_DIGIT", arg   # no \s, \w: nothing wider
                chars.update(string.digits)
            elif name in ("MAX_REPEAT", "MIN_REPEAT"):
                walk(arg[2])
            elif name == "SUBPATTERN":
                walk(arg[3])
            elif name == "BRANCH":
                for branch in arg[1]:
                    walk(branch)
            else:
                assert name not in ("ANY", "NEGATE", "NOT_LITERAL"), name

    walk(sre_parse.parse(pattern.pattern, pattern.flags))
    ascii_chars = {c for c in chars if c.isascii()}
    ascii_chars |= {c.swapcase() for c in ascii_chars}        # the pattern ignores case
    assert "\n" not in ascii_chars and ascii_chars <= PHONE_PATTERN_CHARS, ascii_chars - PHONE_PATTERN_CHARS


def test_the_matcher_hook_exists():
    """`FloorMatcher` overrides phonenumbers' parse-and-verify step by name; if a new
    phonenumbers renamed it the override would be dead (slower, not wrong): fail loudly."""
    hook = getattr(PhoneNumberMatcher, "_parse_and_verify", None)
    assert callable(hook) and hook.__code__.co_varnames[:3] == ("self", "candidate", "offset")
