"""Text repairs (ftfy with a proven fast path, normalisation) and the cleaning chain.

The per-document cleaning chain of a source, built by `build_clean_stages`:

1. ``ftfy_v1``: repairs mojibake and broken Unicode exactly like ``ftfy.fix_text`` with its
   default settings (Speer, *ftfy*, 2015-), but without running ftfy on text that cannot
   need it. See `fix_text` for the fast path and why it returns the same string.
2. ``normalize_v1``: a Unicode normal form (NFC by default) and whitespace normalisation
   (line endings, trailing blanks, runs of blank lines); see `normalize_whitespace`.
3. ``length_v1``: drops documents outside ``[min_chars, max_chars]`` (`pile.quality`).
4. ``langid_v1``: fastText lid.176 language identification; writes ``language`` and
   ``language_score`` into ``meta`` and applies the keep-list (`pile.quality`).
5. ``gopher_quality_v1``: the Gopher quality rules (Rae et al. 2021, `pile.quality`).

Every stage is a plain `Mapper` / `Filter`; every drop has a reason string.
"""

from __future__ import annotations

import bisect
import logging
import re
import unicodedata
from itertools import accumulate
from typing import Any

import ftfy
from ftfy import chardata, fixes
from ftfy.badness import BADNESS_RE

from pile.config import CleanConfig
from pile.document import Document
from pile.errors import ConfigError
from pile.quality import GopherQualityFilter, LangIdFilter, LengthFilter, default_langid_model
from pile.stage import Mapper, Stage

__all__ = ["FAST_PATH_AVAILABLE", "FtfyStage", "GopherQualityFilter", "LangIdFilter", "LengthFilter",
           "NormalizeStage", "build_clean_stages", "default_langid_model", "fix_text",
           "normalize_whitespace"]

log = logging.getLogger(__name__)

# --------------------------------------------------------------------------------------
# ftfy fast path
#
# `ftfy.fix_text` (6.x) cuts the text after every "\n" (and every `max_decode_length`
# characters of a longer line) and runs `fix_and_explain` on each segment: HTML
# unescaping (turned off for the rest of the text once a segment holds "<"), mojibake
# repair (a no-op unless the segment is non-ASCII and `is_bad`), then C1 controls,
# ligatures, character width, curly quotes, line breaks, surrogates, terminal escapes,
# control characters and NFC, repeated until the segment stops changing. Most of its
# time is Python overhead per line, spent on lines none of these fixes touch.
#
# The fast path sorts what a segment can contain into three kinds:
#   - "hard": anything that needs ftfy's own logic: an HTML entity, a C1 control, a
#     surrogate, ESC (terminal escapes), a lone CR, U+2028/U+2029, or a mojibake pattern
#     (`BADNESS_RE`). Such segments go through `ftfy.fix_and_explain` exactly as fix_text
#     would call it (same config, same unescape state).
#   - "soft": characters that only per-character fixes change (ligatures, fullwidth
#     forms, curly quotes, the control characters ftfy deletes) plus CRLF endings. Their
#     combined effect is one `str.translate` with a table composed from ftfy's own fixers
#     in ftfy's order, then NFC.
#   - everything else, which no fix changes.
# A segment without hard content becomes, after ftfy's first round, translate+NFC of
# itself; if that result is clean (checked: no hard or soft content, not bad, NFC, no
# entity) ftfy's second round returns it unchanged, so it is ftfy's answer. Any segment
# failing a check is handed to ftfy itself. Checks run once over the whole text, not per
# line: NFC never acts across "\n" (a starter that composes with nothing), the mojibake
# and entity patterns have no context but "^" (searched with MULTILINE), and a match is
# mapped back to the segments it touches. Every check is over-approximate (it may send
# a clean segment to ftfy, never the reverse), so the output equals `ftfy.fix_text`.
# tests/test_clean_ftfy.py checks the equality on every document we can find.
# --------------------------------------------------------------------------------------

_FTFY_CONFIG = ftfy.TextFixerConfig(explain=False)
_FTFY_CONFIG_NO_HTML = _FTFY_CONFIG._replace(unescape_html=False)
_MAX_SEGMENT = _FTFY_CONFIG.max_decode_length


def _regex_parser() -> Any:
    try:
        import re._parser as parser  # Python >= 3.11
    except ImportError:  # pragma: no cover - Python 3.10
        import sre_parse as parser  # type: ignore[no-redef]
    return parser


def _class_chars(items: Any, parser: Any) -> set[str] | None:
    """The characters of one regex item (a literal or a plain class); None if open-ended."""
    c = parser  # the opcode constants are re-exported by the parser module
    op, av = items
    if op is c.LITERAL:
        return {chr(av)}
    if op is not c.IN:
        return None
    chars: set[str] = set()
    for sub_op, sub_av in av:
        if sub_op is c.LITERAL:
            chars.add(chr(sub_av))
        elif sub_op is c.RANGE:
            chars.update(chr(i) for i in range(sub_av[0], sub_av[1] + 1))
        else:  # NEGATE, CATEGORY (\w, \s): not a finite set we can enumerate
            return None
    return chars


def _pattern_chars(pattern: re.Pattern[str]) -> set[str]:
    """The characters matched by a one-item pattern such as ``[\\u2018-\\u201b]``."""
    parser = _regex_parser()
    tree = list(parser.parse(pattern.pattern, pattern.flags))
    if len(tree) != 1:
        raise ValueError(f"expected a single character class, got {pattern.pattern!r}")
    chars = _class_chars(tree[0], parser)
    if chars is None:
        raise ValueError(f"expected a single character class, got {pattern.pattern!r}")
    return chars


def _badness_triggers() -> tuple[set[str], int]:
    """Non-ASCII characters of which every `BADNESS_RE` match holds one, and the longest match.

    Each alternative of the pattern is a sequence; an item outside any repeat must be
    matched, so one such item whose characters are all non-ASCII bounds the alternative.
    The union of one such set per alternative is a set every match intersects.
    """
    parser = _regex_parser()
    c = parser
    tree = parser.parse(BADNESS_RE.pattern, BADNESS_RE.flags)
    width = tree.getwidth()[1]
    items = list(tree)
    if len(items) != 1 or items[0][0] is not c.BRANCH or width > 64:
        raise ValueError("ftfy's BADNESS_RE is not a bounded alternation")
    triggers: set[str] = set()
    for alternative in items[0][1][1]:
        best: set[str] | None = None
        for item in alternative:
            chars = _class_chars(item, parser)
            if chars and all(ord(ch) > 0x7F for ch in chars):
                if best is None or len(chars) < len(best):
                    best = chars
        if best is None:
            raise ValueError("a BADNESS_RE alternative has no required non-ASCII character")
        triggers |= best
    return triggers, width


def _char_class(chars: set[str]) -> str:
    """A regex character class for `chars`, written as ranges of \\U escapes."""
    codes = sorted(ord(ch) for ch in chars)
    parts: list[str] = []
    start = prev = codes[0]
    for code in codes[1:] + [-1]:
        if code == prev + 1:
            prev = code
            continue
        parts.append(f"\\U{start:08x}" if start == prev else f"\\U{start:08x}-\\U{prev:08x}")
        start = prev = code
    return "[" + "".join(parts) + "]"


def _soft_table(soft: set[str]) -> dict[int, str]:
    """Compose ftfy's per-character fixers, in fix_and_explain's order, into one table."""
    table: dict[int, str] = {}
    for ch in soft:
        out = fixes.fix_latin_ligatures(ch)
        out = fixes.fix_character_width(out)
        out = fixes.uncurl_quotes(out)
        out = fixes.remove_control_chars(out)
        table[ord(ch)] = out
    return table


def _build_fast_path() -> dict[str, Any] | None:
    """Derive the fast path's character sets from ftfy's own tables; None if they moved."""
    if not ftfy.__version__.startswith("6."):
        return None
    try:
        esc = "\x1b"
        c1 = _pattern_chars(chardata.C1_CONTROL_RE)
        surrogates = _pattern_chars(fixes.SURROGATE_RE)
        quotes = _pattern_chars(chardata.SINGLE_QUOTE_RE) | _pattern_chars(chardata.DOUBLE_QUOTE_RE)
        if not fixes.ANSI_RE.pattern.startswith(esc):
            return None
        hard = c1 | surrogates | {esc, "\u2028", "\u2029"}
        soft = ({chr(k) for k in chardata.LIGATURES} | {chr(k) for k in chardata.WIDTH_MAP}
                | quotes | {chr(k) for k in chardata.CONTROL_CHARS}) - hard
        if "\r" in soft or "\n" in soft:
            return None
        table = _soft_table(soft)
        # The composed outputs must themselves be inert, or one round would not suffice.
        if any(ch in hard or ch in soft or ch in "\r\n" for out in table.values() for ch in out):
            return None
        triggers, width = _badness_triggers()
    except (ValueError, AttributeError, TypeError) as exc:
        log.warning("ftfy fast path disabled (ftfy %s internals changed: %s)", ftfy.__version__, exc)
        return None
    entity = chardata.HTML_ENTITY_RE.pattern
    return {
        "table": table,
        "width": width,
        "soft_re": re.compile(_char_class(soft)),
        "hard_re": re.compile(f"{_char_class(hard)}|\r(?!\n)|{entity}"),
        "dirty_re": re.compile(f"{_char_class(hard | soft | {chr(13)})}|{entity}"),
        "ascii_suspect_re": re.compile(_char_class(
            {ch for ch in soft | hard | {"\r"} if ch.isascii()})),
        "entity_re": chardata.HTML_ENTITY_RE,
        # MULTILINE: with pos/endpos, "^" then matches exactly at segment starts.
        "bad_re": re.compile(BADNESS_RE.pattern, BADNESS_RE.flags | re.MULTILINE),
        "trigger_re": re.compile(_char_class(triggers)),
        # A stretch of non-triggers long enough to separate two search windows.
        "gap_re": re.compile("[^" + _char_class(triggers)[1:] + f"{{{2 * width - 1},}}"),
    }


_FAST = _build_fast_path()
FAST_PATH_AVAILABLE = _FAST is not None
"""False when the installed ftfy is not the 6.x this fast path was derived from."""

# How `_fix` resolved a document (the stage counts them).
RESOLVED_UNCHANGED = "unchanged"    # no ftfy call: nothing to fix
RESOLVED_TRANSLATED = "translated"  # no ftfy call: per-character fixes only
RESOLVED_SEGMENTS = "segments"      # ftfy ran on some segments only
RESOLVED_FULL = "full"              # ftfy ran on the whole text


def _longest_segment(text: str) -> int:
    return max(map(len, text.split("\n"))) + 1


class _Lines:
    """Where each "\\n"-terminated segment of a text starts (computed on first use)."""

    __slots__ = ("text", "_starts")

    def __init__(self, text: str) -> None:
        self.text = text
        self._starts: list[int] | None = None

    @property
    def starts(self) -> list[int]:
        """Segment start offsets, plus one past the end (len(text) + 1)."""
        if self._starts is None:
            self._starts = list(accumulate(map((1).__add__, map(len, self.text.split("\n"))),
                                           initial=0))
        return self._starts


def _scan(regex: re.Pattern[str], lines: _Lines, hard: set[int], pos: int = 0,
          endpos: int | None = None) -> int:
    """Add to `hard` every segment holding a match of `regex` within [pos, endpos).

    After a match the search resumes at the next segment start: one match is enough to
    hand a segment to ftfy. Any segment containing a match is still found: the search
    before it either finds a match overlapping it, or resumes at a position no later
    than the segment's start. Returns where scanning stopped.
    """
    text = lines.text
    endpos = len(text) if endpos is None else endpos
    search = regex.search
    while pos < endpos:
        m = search(text, pos, endpos)
        if m is None:
            break
        starts = lines.starts
        a, b = m.span()
        first = bisect.bisect_right(starts, a) - 1
        last = bisect.bisect_right(starts, max(a, b - 1)) - 1
        hard.update(range(first, last + 1))
        pos = starts[last + 1]
    return pos


def _scan_bad(lines: _Lines, hard: set[int]) -> None:
    """Add to `hard` every segment that `ftfy.badness.is_bad` would flag.

    Every `BADNESS_RE` match holds a trigger character and spans at most `width`
    characters, so only windows reaching ``width - 1`` characters around clusters of
    triggers are searched; clusters closer than ``2 * width - 1`` share a window, so a
    match never straddles two windows. MULTILINE makes "^" match at segment starts, as
    it does when ftfy searches one segment.
    """
    fast = _FAST
    assert fast is not None
    text = lines.text
    n = len(text)
    width, bad_re = fast["width"], fast["bad_re"]
    trigger_search, gap_search = fast["trigger_re"].search, fast["gap_re"].search
    pos = 0
    run = trigger_search(text)
    while run is not None:
        c0 = run.start()
        gap = gap_search(text, c0)
        c1 = gap.start() if gap is not None else n
        pos = _scan(bad_re, lines, hard, max(pos, c0 - width + 1), min(n, c1 + width - 1))
        if gap is None:
            break
        run = trigger_search(text, max(gap.end(), pos))


def _fix(text: str) -> tuple[str, str, int]:
    """`ftfy.fix_text(text)`, and how it was reached: (text, resolution, ftfy segments)."""
    fast = _FAST
    if fast is None:
        return ftfy.fix_text(text), RESOLVED_FULL, 0
    if not text:
        return text, RESOLVED_UNCHANGED, 0
    if len(text) > _MAX_SEGMENT and _longest_segment(text) > _MAX_SEGMENT:
        # fix_text cuts such lines into chunks mid-line; leave that case to ftfy itself.
        return ftfy.fix_text(text), RESOLVED_FULL, 0
    is_ascii = text.isascii()
    if is_ascii and not fast["ascii_suspect_re"].search(text) and not (
            "&" in text and fast["entity_re"].search(text)):
        return text, RESOLVED_UNCHANGED, 0

    # Round one: segments with hard content go to ftfy.
    lines = _Lines(text)
    hard: set[int] = set()
    _scan(fast["hard_re"], lines, hard)
    if not is_ascii:
        _scan_bad(lines, hard)
    if hard and 2 * len(hard) > len(lines.starts) - 1:
        # Mostly broken text: ftfy alone is cheaper than ftfy plus the second round.
        return ftfy.fix_text(text), RESOLVED_FULL, 0
    # What round one makes of every other segment: CRLF -> LF, per-character fixes, NFC.
    cand = text.replace("\r\n", "\n") if "\r" in text else text
    if fast["soft_re"].search(cand):
        cand = cand.translate(fast["table"])
    if not is_ascii and not unicodedata.is_normalized("NFC", cand):
        cand = unicodedata.normalize("NFC", cand)
    # Round two must find those results clean, or their segments go to ftfy too.
    cand_lines = lines
    if cand is not text:
        cand_lines = _Lines(cand)
        _scan(fast["dirty_re"], cand_lines, hard)
        if not cand.isascii():
            _scan_bad(cand_lines, hard)
    if not hard:
        return cand, (RESOLVED_UNCHANGED if cand == text else RESOLVED_TRANSLATED), 0

    text_starts, cand_starts = lines.starts, cand_lines.starts
    first_lt = text.find("<")
    out: list[str] = []
    prev = 0
    for i in sorted(hard):
        if i > prev:
            out.append(cand[cand_starts[prev]:cand_starts[i]])
        end = text_starts[i + 1]
        # fix_text turns HTML unescaping off from the first segment holding "<" onwards.
        config = _FTFY_CONFIG_NO_HTML if 0 <= first_lt < end else _FTFY_CONFIG
        out.append(ftfy.fix_and_explain(text[text_starts[i]:end], config).text)
        prev = i + 1
    out.append(cand[cand_starts[prev]:])
    return "".join(out), RESOLVED_SEGMENTS, len(hard)


def fix_text(text: str) -> str:
    """Return exactly ``ftfy.fix_text(text)`` (default settings), usually much faster.

    Pure-ASCII text without control characters, CR or HTML entities is returned as is;
    other text is repaired with one `str.translate` and NFC where that provably matches
    ftfy, and only the remaining lines are passed to ftfy (see the module comments).

    Args:
        text: any string, including lone surrogates.

    Returns:
        The repaired text, equal to ``ftfy.fix_text(text)``.
    """
    return _fix(text)[0]


class FtfyStage(Mapper):
    """``ftfy_v1``: `ftfy.fix_text` with default settings, through the fast path.

    Counters: ``ftfy.fast_path`` (documents resolved without calling ftfy),
    ``ftfy.translated`` (of those, changed by per-character fixes only),
    ``ftfy.segments`` (lines handed to ftfy), ``ftfy.full`` (documents fixed by ftfy
    whole) and ``ftfy.changed`` (documents whose text changed).
    """

    name = "ftfy_v1"

    def map(self, doc: Document) -> Document:
        fixed, resolved, segments = _fix(doc.text)
        if resolved in (RESOLVED_UNCHANGED, RESOLVED_TRANSLATED):
            self.count(doc.source, "ftfy.fast_path")
        if resolved == RESOLVED_TRANSLATED:
            self.count(doc.source, "ftfy.translated")
        elif resolved == RESOLVED_FULL:
            self.count(doc.source, "ftfy.full")
        self.count(doc.source, "ftfy.segments", segments)
        if fixed != doc.text:
            self.count(doc.source, "ftfy.changed")
            doc.text = fixed
        return doc


# --------------------------------------------------------------------------------------
# Unicode and whitespace normalisation
# --------------------------------------------------------------------------------------

_LINE_BREAKS_RE = re.compile("\r\n?|[\u2028\u2029]")
_TRAILING_BLANKS_RE = re.compile("[ \t]+(?=\n)")
_BLANK_RUN_RE = re.compile("\n{4,}")


def normalize_whitespace(text: str) -> str:
    """Normalise line endings and blank space, leaving indentation alone.

    The rules, in order:

    1. CRLF, lone CR, U+2028 and U+2029 become ``"\\n"``.
    2. Spaces and tabs at the end of a line are removed.
    3. Runs of more than two blank lines become two (two keep PEP 8's spacing in code).
    4. Blank lines at the start and all whitespace at the end of the text are removed
       (the first line's indentation is kept).

    Args:
        text: the document text.

    Returns:
        The normalised text; applying the function again changes nothing.
    """
    if "\r" in text or "\u2028" in text or "\u2029" in text:
        text = _LINE_BREAKS_RE.sub("\n", text)
    if " \n" in text or "\t\n" in text:
        text = _TRAILING_BLANKS_RE.sub("", text)
    if "\n\n\n\n" in text:
        text = _BLANK_RUN_RE.sub("\n\n\n", text)
    text = text.rstrip()
    if text.startswith("\n") or text[:1] in (" ", "\t"):
        # Drop leading lines that are empty (or blank), keep the first real line whole.
        stripped = text.lstrip(" \t\n")
        head = text[: len(text) - len(stripped)]
        text = head[head.rfind("\n") + 1:] + stripped
    return text


class NormalizeStage(Mapper):
    """``normalize_v1``: a Unicode normal form, then `normalize_whitespace`.

    Args:
        form: ``NFC``, ``NFKC``, ``NFD``, ``NFKD`` or ``none``.
        whitespace: apply `normalize_whitespace`.
    """

    name = "normalize_v1"

    def __init__(self, form: str = "NFC", whitespace: bool = True) -> None:
        super().__init__()
        if form not in ("NFC", "NFKC", "NFD", "NFKD", "none"):
            raise ConfigError(f"clean.normalization: must be one of NFC, NFKC, NFD, NFKD, none; "
                              f"got {form!r}")
        self.form = form
        self.whitespace = whitespace

    def map(self, doc: Document) -> Document:
        text = doc.text
        if self.form != "none" and not text.isascii() and not unicodedata.is_normalized(self.form, text):
            text = unicodedata.normalize(self.form, text)
            self.count(doc.source, f"normalize.{self.form}")
        if self.whitespace:
            text = normalize_whitespace(text)
        if text != doc.text:
            self.count(doc.source, "normalize.changed")
            doc.text = text
        return doc


def build_clean_stages(cfg: CleanConfig) -> list[Stage]:
    """The ordered per-document cleaning stages for one source's clean section.

    Order: ftfy, normalisation, length, language id, Gopher quality; cheap filters run
    before expensive ones. A stage whose settings make it a no-op is left out, except
    language id, which always annotates ``meta``.

    Args:
        cfg: the source's clean section (``Config.clean_for(source)``).

    Returns:
        The stages, un-set-up and picklable; ``[]`` when ``cfg.enabled`` is false.

    Raises:
        ConfigError: the language-id model cannot be found.
    """
    if not cfg.enabled:
        return []
    stages: list[Stage] = []
    if cfg.ftfy:
        stages.append(FtfyStage())
    if cfg.normalization != "none" or cfg.whitespace:
        stages.append(NormalizeStage(cfg.normalization, cfg.whitespace))
    if cfg.min_chars > 0 or cfg.max_chars is not None:
        stages.append(LengthFilter(cfg.min_chars, cfg.max_chars))
    if cfg.langid:
        stages.append(LangIdFilter(cfg.languages, cfg.min_language_score, cfg.langid_model,
                                   cfg.langid_sample_chars))
    if cfg.quality.enabled:
        stages.append(GopherQualityFilter(cfg.quality))
    return stages
