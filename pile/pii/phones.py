"""Phone numbers: what python-phonenumbers can accept, read from its own metadata.

- `digit_floors` / `FloorMatcher`: how few digits a string phonenumbers accepts has, and
  a matcher that answers "no match" below that without parsing (same matches);
- `ValidityGate`: which regions can read a valid number in a phone candidate at all;
- `PhoneGate`: both, as the prefilter's per-candidate test (`pile.pii.prefilter`).

presidio's `PhoneRecognizer` runs python-phonenumbers' `PhoneNumberMatcher` once per
configured region. For every phone-shaped run of the text the matcher parses and
validates the whole run and then its pieces (split at slashes, brackets, dashes, dots
and spaces), so on code and changelogs (``Tue May 3 15:09:54 2022 -0700``) it parses a
string per digit group: most of the phone time goes to ``54``, ``2022`` and ``-0700``.

None of those can be valid, and phonenumbers' own metadata says so: a parsed number is
valid only when its national significant number (NSN) has one of the lengths of its
region's general description (`_is_number_matching_desc`, first test of
`is_valid_number`), and every digit of the NSN comes from the string, except those a
region's national-prefix transform rule writes in (San Marino's ``0549\\1`` adds four).
Letters can become digits too (vanity numbers), so they are counted as digits. Hence,
for a region R the matcher parses with (`digit_floors`):

- a string with a plus sign is at least ``min over country codes cc of len(cc) +
  shortest NSN of cc - digits its main region's transform adds``
  (``+43 1110``: six);
- a string without one is a national number of R (``shortest NSN of R's country code -
  digits R's transform adds``), or starts with R's own country code, or with R's
  international prefix (at least the prefix's shortest length more than the first).

`FloorMatcher` returns "no match" at once for a string below its floor, before
phonenumbers parses it; every other string goes to phonenumbers unchanged, and the
matcher's walk over the text (which strings it tries, its retry budget) is the same, so
the matches are exactly those of `PhoneNumberMatcher` (tests compare the two on real
text). The floors hold for leniency VALID and stricter; POSSIBLE also accepts
"local only" lengths, so it gets no floor.
"""

from __future__ import annotations

import functools
import itertools
import re
from typing import Iterable, NamedTuple

import phonenumbers
from phonenumbers import Leniency, PhoneMetadata, PhoneNumberMatcher, re_util

PLUS_CHARS = "+\uFF0B"  # phonenumbers' _PLUS_CHARS: ASCII and fullwidth plus
# Characters that may become digits of a parsed number: any Unicode digit and any
# letter (python-phonenumbers maps Latin letters to keypad digits); counting more
# characters than phonenumbers does only lowers the count's power, never its truth.
_DIGIT_OR_LETTER_RE = re.compile(r"[^\W_]")
# Literal digits in a transform rule (``0549\1``: 4); backreferences are \1, \2...
_BACKREF_RE = re.compile(r"\\\d|\$\d")
# International prefixes longer than this are counted as this long (a lower bound).
_IDD_PROBE = 4


class Floors(NamedTuple):
    """The fewest digits (and letters) of a string phonenumbers can accept for a region."""

    with_plus: int
    without_plus: int

    def of(self, text: str) -> int:
        """The floor that applies to `text` (which may or may not hold a plus sign)."""
        return self.with_plus if any(p in text for p in PLUS_CHARS) else self.without_plus


def countable(text: str) -> int:
    """Digits and letters of `text`: an upper bound on the NSN digits it can yield."""
    return len(_DIGIT_OR_LETTER_RE.findall(text))


def _shortest_nsn(metadata: PhoneMetadata) -> int:
    lengths = metadata.general_desc.possible_length if metadata.general_desc else ()
    # No lengths listed: no length test; phonenumbers' floor is _MIN_LENGTH_FOR_NSN (2).
    return min(lengths) if lengths else 2


def _added_digits(metadata: PhoneMetadata) -> int:
    """Most digits the region's national-prefix transform can add to a number."""
    rule = metadata.national_prefix_transform_rule
    if not rule:
        return 0
    refs = _BACKREF_RE.findall(rule)
    if len(refs) != len(set(refs)):
        return 1 << 10  # a group written twice could add any number: no floor
    # Every group the rule writes back was read from the number, so only the literal
    # digits are new (the prefix it replaces is at least zero digits long).
    return sum(c.isdigit() for c in _BACKREF_RE.sub("", rule))


def _metadata(cc: int, region: str) -> PhoneMetadata | None:
    return PhoneMetadata.metadata_for_region_or_calling_code(cc, region)


@functools.lru_cache(maxsize=None)
def _country_floors() -> dict[int, tuple[int, int]]:
    """Country code -> (shortest NSN over its regions, digits its main region's transform adds)."""
    out: dict[int, tuple[int, int]] = {}
    for cc, regions in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.items():
        metas = [m for m in (_metadata(cc, r) for r in regions) if m is not None]
        if not metas:
            continue
        # parse strips the national prefix with the metadata of the code's main region
        main = _metadata(cc, phonenumbers.region_code_for_country_code(cc))
        out[cc] = (min(_shortest_nsn(m) for m in metas), _added_digits(main) if main else 1 << 10)
    return out


def _shortest_idd(pattern: str | None) -> int:
    """Fewest digits a match of the international prefix pattern can have (at most 4)."""
    if not pattern:
        return _IDD_PROBE  # no prefix: this way of reading a country code does not exist
    compiled = re.compile(pattern)
    for n in range(_IDD_PROBE):
        if any(compiled.fullmatch("".join(d)) for d in itertools.product("0123456789", repeat=n)):
            return n
    return _IDD_PROBE


@functools.lru_cache(maxsize=None)
def _plus_floor() -> int:
    return max(0, min(len(str(cc)) + nsn - added for cc, (nsn, added) in _country_floors().items()))


@functools.lru_cache(maxsize=None)
def digit_floors(region: str) -> Floors:
    """The floors of strings parsed with default region `region` (see the module doc)."""
    metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
    plus = _plus_floor()
    if metadata is None:
        return Floors(0, 0)  # phonenumbers raises on an unknown region anyway
    cc = metadata.country_code
    nsn, main_added = _country_floors()[cc]
    national = nsn - _added_digits(metadata)
    own_code = len(str(cc)) + nsn - main_added
    idd = _shortest_idd(metadata.international_prefix) + plus
    without = max(0, min(national, own_code, idd))
    # A string with a plus sign may still be read without it (phonenumbers retries
    # after an unknown country code), so its floor is the lower of the two.
    return Floors(min(plus, without), without)


def candidate_floors(regions: Iterable[str]) -> Floors:
    """The lowest floors over `regions`: what a string must hold for any of them."""
    floors = [digit_floors(r) for r in regions]
    if not floors:
        return Floors(0, 0)
    return Floors(min(f.with_plus for f in floors), min(f.without_plus for f in floors))


class FloorMatcher(PhoneNumberMatcher):
    """`PhoneNumberMatcher` that answers "no match" for strings below the floor without
    parsing them (exactly the same matches; see the module docstring)."""

    def __init__(self, text: str, region: str, leniency: int = Leniency.VALID) -> None:
        # phonenumbers compiles its metadata patterns through `re`'s cache, which holds
        # 512; validation over the 25 NANP regions alone thrashes it. Its own unbounded
        # cache (a few thousand patterns) keeps each compiled once.
        re_util.enable_pattern_cache()
        super().__init__(text, region, leniency=leniency)
        self._floors = digit_floors(region) if leniency >= Leniency.VALID else Floors(0, 0)

    # Overrides python-phonenumbers' parse-and-verify step, the one private hook of it
    # used here (stable since its 2011 port; tests/test_pii_equivalence.py checks it is
    # still there). Should it go, this override is never called and the matcher is
    # phonenumbers' own: slower, the same matches.
    def _parse_and_verify(self, candidate, offset):
        if countable(candidate) < self._floors.of(candidate):
            return None
        return _PARSE_AND_VERIFY(self, candidate, offset)


_PARSE_AND_VERIFY = getattr(PhoneNumberMatcher, "_parse_and_verify")


# -- the candidate gate: can any string the matcher tries in a span be a valid number? ---

# The descriptions `_number_type_helper` tries; a valid number matches one of them.
_NUMBER_TYPES = ("premium_rate", "toll_free", "shared_cost", "voip", "personal_number", "pager",
                 "uan", "voicemail", "fixed_line", "mobile")
# Spans made of these only: ASCII digits, the punctuation phonenumbers skips (an "x"
# among it), and the other extension marks. With fewer than three letters none becomes
# a digit (phonenumbers maps letters to digits only in strings with three), an "x" cuts
# at most a second number (after a slash) or an extension, and an extension only drops
# the digits after its mark; so in these spans a parsed number's digits are digits of
# the span, in order (see `ValidityGate`).
_PLAIN_SPAN_RE = re.compile(r"[0-9 \-./()\[\]#,;~xX]+")
_MAX_LETTERS = 2
_RUN_RE = re.compile(r"[0-9]+")
# A longer run is split by the matcher's block limits (\d{1,20}): no gate for it.
_MAX_RUN = 20
# phonenumbers' _FIRST_GROUP_ONLY_PREFIX_PATTERN: a formatting rule that writes no prefix.
_FIRST_GROUP_ONLY_RE = re.compile(r"\(?\\1\)?")
_ANY = object()


class _Route(NamedTuple):
    """How a number parsed with one default region gets its country code and NSN."""

    country_code: int
    prefix: re.Pattern[str] | None   # the region's national_prefix_for_parsing
    main_prefix: re.Pattern[str] | None  # that of its country code's main region
    idd: re.Pattern[str] | None      # its international prefix


def _prefix_re(metadata: PhoneMetadata | None) -> re.Pattern[str] | None:
    pattern = metadata.national_prefix_for_parsing if metadata else None
    return _compiled(pattern) if pattern else None


@functools.lru_cache(maxsize=None)
def _compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)  # metadata patterns: a few hundred, each compiled once


def _stripped(prefix: re.Pattern[str] | None, digits: str) -> tuple[str, ...]:
    """The number with and without the national prefix (parse keeps one of the two)."""
    m = prefix.match(digits) if prefix is not None and digits else None
    return (digits, digits[m.end():]) if m and m.end() else (digits,)


class ValidityGate:
    """Which default regions can read a valid number in a phone candidate.

    For a span of ASCII digits, plain punctuation and non-letter extension marks
    (`_PLAIN_SPAN_RE`), with no digit right outside it and no run longer than 20
    digits, every string the matcher parses (the whole span, or a piece cut at its
    punctuation) starts at a digit run and ends at one; ``parse`` reads its digits D in
    order, drops the digits of an extension (a suffix) and takes the national
    significant number (NSN) after at most these prefixes, each tried as parse tries it:

    - the region's national prefix (``national_prefix_for_parsing``: one match at the
      start, stripped or not); the country code is the region's;
    - the region's own country code, then the national prefixes of the region and of
      the code's main region;
    - the region's international prefix (``international_prefix``), then the first 1-3
      digits that are a country code, then that code's main region's national prefix.

    The number is valid (leniency VALID) only if the NSN matches one of its country's
    number types (`_NUMBER_TYPES` of any region of the code, `_number_type_helper`), and,
    read with the first route, the national prefix is there when the number's format
    requires it (phonenumbers' `_is_national_prefix_present_if_required`: ``2820210500``
    is a Belfast number only as ``028 2021 0500``). A region is left out for a span only
    when no run-aligned piece and no prefix choice gives such a reading; spans of other
    characters (plus signs, letters, other scripts) and regions whose national-prefix
    transform rules write digits are left to phonenumbers.

    Args:
        regions: the default regions the recognizer parses with.
    """

    def __init__(self, regions: Iterable[str]) -> None:
        routes: dict[_Route, list[str]] = {}
        self.regions = tuple(regions)
        self.open_regions: set[str] = set()  # no gate for these
        for region in self.regions:
            metadata = PhoneMetadata.metadata_for_region(region.upper(), None)
            if metadata is None:
                continue  # phonenumbers parses nothing for an unknown region
            cc = metadata.country_code
            main = _metadata(cc, phonenumbers.region_code_for_country_code(cc))
            if metadata.national_prefix_transform_rule or (main and main.national_prefix_transform_rule):
                self.open_regions.add(region)  # a transform writes digits: NSN not from D
                continue
            idd = re.compile(metadata.international_prefix) if metadata.international_prefix else None
            routes.setdefault(_Route(cc, _prefix_re(metadata), _prefix_re(main), idd), []).append(region)
        self.routes = tuple((route, frozenset(names)) for route, names in routes.items())
        self._all = frozenset(self.regions)
        self._types: dict[int, object] = {}
        self._formats: dict[int, tuple] = {}
        self._pieces: dict[str, frozenset[str]] = {}  # digits of a piece -> regions
        self._spans: dict[str, frozenset[str]] = {}   # a plain span -> regions

    def regions_for(self, text: str, start: int, end: int) -> frozenset[str]:
        """The regions whose matcher may find a valid number in text[start:end]."""
        span = text[start:end]
        if not (span.isascii() and _PLAIN_SPAN_RE.fullmatch(span)) or \
                span.count("x") + span.count("X") > _MAX_LETTERS:
            return self._all
        if (start > 0 and text[start - 1].isdigit()) or (end < len(text) and text[end].isdigit()):
            return self._all  # the span is part of a longer run (block limits): no gate
        runs = _RUN_RE.findall(span)
        if any(len(r) > _MAX_RUN for r in runs):
            return self._all
        known = self._spans.get(span)
        if known is not None:
            return known
        found = set(self.open_regions)
        for i in range(len(runs)):
            digits = ""
            for run in runs[i:]:
                digits += run
                found.update(self._piece_regions(digits))
        known = frozenset(found)
        if len(self._spans) > 1 << 16:
            self._spans.clear()  # bounded memory on a long-running worker
        self._spans[span] = known
        return known

    def _piece_regions(self, digits: str) -> frozenset[str]:
        known = self._pieces.get(digits)
        if known is None:
            known = frozenset(r for route, names in self.routes
                              if self._route_reads(route, digits) for r in names)
            if len(self._pieces) > 1 << 16:
                self._pieces.clear()  # bounded memory on a long-running worker
            self._pieces[digits] = known
        return known

    def _route_reads(self, route: _Route, digits: str) -> bool:
        """True when parse, on a route, may read `digits` (D of a piece) as a valid number."""
        cc = route.country_code
        for nsn in _stripped(route.prefix, digits):
            if self._is_typed(cc, nsn) and self._prefix_present(cc, nsn, digits, route.main_prefix):
                return True
        code = str(cc)
        if digits.startswith(code):
            for rest in _stripped(route.prefix, digits[len(code):]):
                if any(self._is_typed(cc, nsn) for nsn in _stripped(route.main_prefix, rest)):
                    return True
        m = route.idd.match(digits) if route.idd is not None else None
        rest = digits[m.end():] if m else ""
        if rest[:1] not in ("", "0"):  # parse does not take a 0 after the IDD
            for k in range(1, min(3, len(rest)) + 1):
                other = int(rest[:k])
                if other in phonenumbers.COUNTRY_CODE_TO_REGION_CODE:
                    main = _metadata(other, phonenumbers.region_code_for_country_code(other))
                    if main is None or main.national_prefix_transform_rule:
                        return True
                    return any(self._is_typed(other, nsn) for nsn in _stripped(_prefix_re(main), rest[k:]))
        return False

    def _is_typed(self, cc: int, nsn: str) -> bool:
        types = self._types.get(cc)
        if types is None:
            types = self._types[cc] = (_nsn_lengths(cc), _type_patterns(cc))
        lengths, pattern = types
        if lengths is not None and len(nsn) not in lengths:
            return False  # `_is_number_matching_desc` tests the length first, as here
        return pattern is _ANY or pattern.fullmatch(nsn) is not None

    def _prefix_present(self, cc: int, nsn: str, digits: str, main_prefix: re.Pattern[str] | None) -> bool:
        """False only when the number's format requires the national prefix and `digits`
        (the string's digits) cannot start with it (`_is_national_prefix_present_if_required`)."""
        formats = self._formats.get(cc)
        if formats is None:
            formats = self._formats[cc] = _formats(cc)
        for leading, pattern, requires in formats:
            if (leading is None or leading.match(nsn)) and pattern.fullmatch(nsn):
                return not requires or main_prefix is None or main_prefix.match(digits) is not None
        return True


def _formats(cc: int) -> tuple:
    """(leading digits, pattern, requires the national prefix) of each number format of
    the main region of `cc`, in phonenumbers' order (`_choose_formatting_pattern_for_number`)."""
    main = PhoneMetadata.metadata_for_region(phonenumbers.region_code_for_country_code(cc), None)
    out = []
    for fmt in (main.number_format if main else ()):
        rule = fmt.national_prefix_formatting_rule
        requires = bool(rule) and not fmt.national_prefix_optional_when_formatting and \
            not _FIRST_GROUP_ONLY_RE.fullmatch(rule)
        leading = re.compile(fmt.leading_digits_pattern[-1]) if fmt.leading_digits_pattern else None
        out.append((leading, re.compile(fmt.pattern), requires))
    return tuple(out)


def _nsn_lengths(cc: int) -> frozenset[int] | None:
    """The lengths a valid NSN of `cc` can have (any region's general description), or
    None when a region lists none (then phonenumbers tests no length)."""
    lengths: set[int] = set()
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(cc, ()):
        metadata = _metadata(cc, region)
        if metadata is None:
            continue
        if metadata.general_desc is None or not metadata.general_desc.possible_length:
            return None
        lengths.update(metadata.general_desc.possible_length)
    return frozenset(lengths)


def _type_patterns(cc: int):
    """One pattern matching every number type of every region of `cc` (or `_ANY`)."""
    patterns = []
    for region in phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(cc, ()):
        metadata = _metadata(cc, region)
        if metadata is None:
            continue
        for name in _NUMBER_TYPES:
            desc = getattr(metadata, name, None)
            if desc is not None and desc.national_number_pattern:
                patterns.append(desc.national_number_pattern)
    if not patterns:
        return re.compile(r"(?!)")  # no number of this code is ever valid
    try:
        return re.compile("|".join(f"(?:{p})" for p in dict.fromkeys(patterns)))
    except re.error:
        return _ANY


class PhoneGate:
    """The two per-candidate tests of `pile.pii.prefilter.phone_candidates`: enough
    digits for any region (`candidate_floors`), and the regions that may read a valid
    number (`ValidityGate`).

    Args:
        regions: the default regions the phone recognizer parses with.
    """

    def __init__(self, regions: Iterable[str]) -> None:
        regions = tuple(regions)
        self.all_regions = frozenset(regions)
        self.floors = candidate_floors(regions)
        self.validity = ValidityGate(regions)

    def regions_for(self, text: str, start: int, end: int) -> frozenset[str]:
        """The regions whose matcher may find a valid number in text[start:end]."""
        value = text[start:end]
        if countable(value) < self.floors.of(value):
            return frozenset()
        return self.validity.regions_for(text, start, end)
