"""PDF to paragraphs: the text of a paper as a reader sees it, for PhilPapers.

The Pile turned PhilArchive's PDFs into text with Apache PDFBox. Here the layout analysis
of pdfminer.six does the same job in Python: it groups a page's characters into lines and
lines into text boxes (a box is a paragraph, a heading, a caption, a running header...),
in reading order, columns included. On top of that, `pdf_paragraphs`:

- keeps upright characters only (rotated margin stamps such as arXiv's identifier, and
  the labels of rotated figures, are not prose);
- removes page furniture: boxes in the top or bottom margin band (8% of the page) that
  are page numbers (``12``, ``Page 3``, ``3 of 10``, ``- 4 -``), or whose text, digits
  aside, repeats in that band on several pages (running headers and footers);
- joins the lines of a box into one paragraph: a line ending in a hyphen is joined to the
  next without it when the word is a split word, and keeps it when the hyphen belongs to
  the word, decided by the paper's own vocabulary (`join_lines`): ``encoder-decoder``
  written so elsewhere keeps its hyphen, ``sequence-`` + ``aligned`` too (both halves
  are words of the paper), ``multi-`` + ``plicative`` becomes ``multiplicative``;
- joins a paragraph cut by a page break (no closing punctuation, next page starting in
  lower case; the page's footnotes move after it), one that pdfminer split into two
  boxes right below each other, and a bare section number with its title on the same
  line (``1`` + ``Introduction``);
- expands the Latin ligatures (``ﬁ`` -> ``fi``) that typeset PDFs carry.

Paragraphs are separated by a blank line. `PdfError` is raised for a file pdfminer cannot
read (damaged, encrypted); the text is bounded by a character limit, so a PDF bomb costs
time, never memory.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

from pile.errors import SourceError

MARGIN = 0.08           # the top and bottom bands where headers, footers and page numbers sit
_PAGE_NUMBER_RE = re.compile(r"^[\s\-–—(\[]*(?:page\s+)?\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?[\s\-–—)\]]*$",
                             re.IGNORECASE)
_SECTION_NUMBER_RE = re.compile(r"^(?:\d{1,2}(?:\.\d{1,2})*\.?|[IVX]{1,5}\.?|[A-Z]\.)$")
_WORD_RE = re.compile(r"[^\W\d_]+(?:-[^\W\d_]+)*")
_LIGATURES = str.maketrans({"\ufb00": "ff", "\ufb01": "fi", "\ufb02": "fl", "\ufb03": "ffi",
                            "\ufb04": "ffl", "\ufb05": "st", "\ufb06": "st"})
_CONTROL_RE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
_SPACES_RE = re.compile(r"\s+")
_SENTENCE_END = tuple(".!?:;\"'”’)]")


class PdfError(SourceError):
    """The PDF cannot be turned into text (damaged, encrypted, not a PDF)."""


@dataclass
class Box:
    """One text box of a page: its lines (upright characters only) and where it is."""

    page: int
    lines: list[str]
    x0: float
    y0: float
    y1: float
    height: float  # the page's height

    @property
    def text(self) -> str:
        return " ".join(line.strip() for line in self.lines).strip()

    def in_margin(self) -> bool:
        band = self.height * MARGIN
        return self.y0 >= self.height - band or self.y1 <= band


def read_boxes(source: Path | Any, char_limit: int) -> Iterator[Box]:
    """The text boxes of every page, in pdfminer's reading order.

    Args:
        source: a path or a binary file object.
        char_limit: the most characters read in all; more raises `PdfError`
            (``too_large``).

    Raises:
        PdfError: pdfminer cannot parse the file, it is encrypted, or it holds more
            text than `char_limit`.
    """
    try:
        from pdfminer.high_level import extract_pages
        from pdfminer.layout import LAParams, LTAnno, LTChar, LTTextBox, LTTextLine
    except ImportError:  # pragma: no cover - a core dependency
        raise SourceError("the philpapers kind needs pdfminer.six: pip install pdfminer.six") \
            from None
    total = 0
    try:
        for number, page in enumerate(extract_pages(source, laparams=LAParams()), 1):
            for box in page:
                if not isinstance(box, LTTextBox):
                    continue
                lines = []
                for line in box:
                    if not isinstance(line, LTTextLine):
                        continue
                    text = "".join(c.get_text() for c in line
                                   if isinstance(c, LTAnno) or (isinstance(c, LTChar) and c.upright))
                    if text.strip():
                        lines.append(text.rstrip("\n"))
                        total += len(text)
                if total > char_limit:
                    raise PdfError(f"too_large: more than {char_limit} characters of text")
                if lines:
                    yield Box(number, lines, box.x0, box.y0, box.y1, page.height)
    except PdfError:
        raise
    except Exception as exc:  # pdfminer raises many unrelated types for damaged files
        name = type(exc).__name__
        kind = "encrypted" if "Encrypt" in name or "Password" in name else "damaged"
        raise PdfError(f"{kind} PDF: {name}: {str(exc)[:200]}") from None


def _furniture_key(text: str) -> str:
    return re.sub(r"\d+", "#", _SPACES_RE.sub(" ", text.lower())).strip()


def drop_furniture(boxes: list[Box]) -> list[Box]:
    """Remove page numbers and running headers/footers (see the module doc)."""
    pages = len({b.page for b in boxes})
    seen: Counter[str] = Counter()
    for key in {(b.page, _furniture_key(b.text)) for b in boxes if b.in_margin()}:
        seen[key[1]] += 1
    repeated = max(2, pages // 3)
    out = []
    for box in boxes:
        if box.in_margin():
            if _PAGE_NUMBER_RE.match(box.text):
                continue
            if pages > 1 and seen[_furniture_key(box.text)] >= repeated:
                continue
        out.append(box)
    return out


@dataclass
class Vocabulary:
    """The paper's own words: how often each word occurs on its own (not inside a
    hyphenated form), and which pairs of words it writes joined by a hyphen
    (``English-to-German`` gives ``english-to`` and ``to-german``)."""

    words: Counter[str]
    pairs: Counter[str]


def vocabulary(boxes: Iterable[Box]) -> Vocabulary:
    """The word forms inside the lines (a hyphen ending a line is a break, not a word's)."""
    words: Counter[str] = Counter()
    pairs: Counter[str] = Counter()
    for box in boxes:
        broken = False  # the previous line ended in a hyphen: its last and this first word
        for line in box.lines:
            forms = _WORD_RE.findall(line.rstrip().rstrip("-"))
            ends = line.rstrip().endswith("-")
            for i, form in enumerate(forms):
                parts = form.lower().split("-")
                fragment = (i == 0 and broken) or (i == len(forms) - 1 and ends)
                if len(parts) == 1 and not fragment:  # halves of a split word are no words
                    words[parts[0]] += 1
                pairs.update(f"{a}-{b}" for a, b in zip(parts, parts[1:]))
            broken = ends
    return Vocabulary(words, pairs)


def join_lines(lines: list[str], vocab: Vocabulary) -> str:
    """One paragraph from a box's lines, split words rejoined (see the module doc)."""
    out = ""
    for line in lines:
        line = line.strip()
        if not out:
            out = line
            continue
        if out.endswith("-") and not out.endswith("--") and line[:1].isalpha():
            head = re.search(r"([^\W\d_]+)-$", out)
            tail = re.match(r"[^\W\d_]+", line)
            if head and tail:
                whole = (head.group(1) + tail.group(0)).lower()
                pair = f"{head.group(1)}-{tail.group(0)}".lower()
                if vocab.words[whole]:
                    keep = vocab.pairs[pair] > vocab.words[whole]
                else:
                    # Never written whole: a compound when written so elsewhere, when the
                    # second part is capitalised, or when both halves are words of the
                    # paper long enough not to be syllables ("sequence-" + "aligned");
                    # else a split word ("transduc-" + "tion").
                    halves = (head.group(1).lower(), tail.group(0).lower())
                    keep = vocab.pairs[pair] > 0 or tail.group(0)[0].isupper() or \
                        all(len(h) >= 4 and vocab.words[h] for h in halves)
                out = out + line if keep else out[:-1] + line
                continue
        out = f"{out} {line}"
    return out


def _continues(prev: tuple[Box, str], box: Box, text: str) -> bool:
    """`text` (the first box of a page) goes on with the unfinished paragraph `prev` of
    an earlier page."""
    return prev[0].page < box.page and not prev[1].endswith(_SENTENCE_END) \
        and text[:1].islower()


def _continues_below(prev: tuple[Box, str], box: Box, text: str) -> bool:
    """`text` goes on with the unfinished paragraph just above it on the same page (a
    reference's indented second line makes pdfminer start a new box)."""
    pbox, ptext = prev
    line_height = (pbox.y1 - pbox.y0) / max(1, len(pbox.lines))
    return pbox.page == box.page and not ptext.endswith(_SENTENCE_END) \
        and text[:1].islower() and 0 <= pbox.y0 - box.y1 < line_height


def _join_across_page(paragraphs: list[tuple[Box, str]], box: Box, text: str) -> bool:
    """Join `text`, the first box of a page, to the paragraph the page break cut, which
    may be followed by that page's footnotes (lower on the page, at most a few boxes);
    the footnotes then come after the whole paragraph. True when joined."""
    for back in range(1, min(5, len(paragraphs)) + 1):
        cand = paragraphs[-back]
        between = paragraphs[len(paragraphs) - back + 1:]
        if cand[0].page != box.page - 1 or \
                any(b.page != cand[0].page or b.y1 > cand[0].y0 for b, _ in between):
            return False
        if _continues(cand, box, text):
            paragraphs[-back] = (box, f"{cand[1]} {text}")
            return True
    return False


def pdf_paragraphs(source: Path | Any, char_limit: int) -> list[str]:
    """The paragraphs of a PDF's text (see the module doc).

    Raises:
        PdfError: see `read_boxes`.
    """
    boxes = drop_furniture(list(read_boxes(source, char_limit)))
    vocab = vocabulary(boxes)
    paragraphs: list[tuple[Box, str]] = []
    first_of_page = None
    for box in boxes:
        text = _SPACES_RE.sub(" ", _CONTROL_RE.sub("", join_lines(box.lines, vocab)
                                                   .translate(_LIGATURES))).strip()
        if not text:
            continue
        starts_page = box.page != first_of_page
        first_of_page = box.page
        if paragraphs:
            prev_box, prev = paragraphs[-1]
            if _SECTION_NUMBER_RE.match(prev) and prev_box.page == box.page \
                    and abs(prev_box.y0 - box.y0) < 2.0:
                paragraphs[-1] = (box, f"{prev} {text}")  # "1" + "Introduction"
                continue
            if starts_page and _join_across_page(paragraphs, box, text):
                continue
            if not starts_page and _continues_below(paragraphs[-1], box, text):
                paragraphs[-1] = (box, f"{prev} {text}")  # one paragraph in two boxes
                continue
        paragraphs.append((box, text))
    return [text for _, text in paragraphs]


def pdf_text(source: Path | Any, char_limit: int) -> str:
    """`pdf_paragraphs` joined by blank lines."""
    return "\n\n".join(pdf_paragraphs(source, char_limit))


__all__ = ["Box", "MARGIN", "PdfError", "drop_furniture", "join_lines", "pdf_paragraphs",
           "pdf_text", "read_boxes", "vocabulary"]
