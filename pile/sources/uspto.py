"""USPTO patent backgrounds (the Pile's "USPTO Backgrounds" component).

Follows the Pile (Gao et al. 2020, appendix: USPTO Backgrounds): from each granted patent
in the USPTO's bulk full-text files, only the BACKGROUND section, whose text is a
non-technical summary of the problem the invention addresses. A document starts at the
first paragraph of the background (the "BACKGROUND" heading itself is left out; its
sub-headings such as "Field of the Invention" stay as their own lines) and ends at the
next heading that is not part of the background (SUMMARY, BRIEF DESCRIPTION, ...).
Patents without a background section are dropped with reason ``no_background``.

Input formats (the weekly files concatenate one XML document per patent, each starting
with its own ``<?xml`` declaration; the files are split there and each patent is parsed
on its own, so memory stays bounded by the largest patent):

- ``us-patent-grant`` / ``us-patent-application`` (DTD v4.0-v4.7, 2005 on): ``<heading>``
  and ``<p>`` elements inside ``<description>``;
- ST.32 v2.5 ``<PATDOC>`` (2002-2004 grants): ``<H>`` and ``<PARA>`` inside ``<SDODE>``.
  These use named entities from the external DTD (``&ldquo;``); the DOCTYPE (with its
  internal subset) is removed and named entities are mapped through the HTML5 entity
  table, so no DTD or external entity is ever loaded.

- APS, the USPTO's "Green Book" full-text format of 1976-2001 grants (weekly
  ``pftapsYYYYMMDD_wkNN.zip``, one ``.txt`` inside), following the USPTO document
  "Patent Full-Text/APS Green Book" (``PatentFullTextAPSDoc_GreenBook.pdf`` in the 1976
  folder of the bulk data): fixed-field text lines, a four-character tag in columns 1-4
  (section tags such as ``PATN``, ``ABST``, ``BSUM``, ``DETD``, ``CLMS`` alone on their
  line; field tags such as ``WKU``, ``TTL``, ``ISD``, ``PAC``, ``PAR``), the data from
  column 6, continuation lines blank in columns 1-5. Each patent starts at its ``PATN``
  line. The background comes from the brief summary section ``BSUM``, the same section
  the 2002-2004 format calls ``BRFSUM``: ``PAC`` lines are its headings, ``PAR``/``PA0``-
  ``PA9``/``PAL`` its paragraphs (``TBL`` tables and ``EQU`` equations left out). The
  patent number is the ``WKU`` without its last (check) character, so US 6,334,226 is
  ``06334226`` in every format. The text is ASCII; other bytes are read as Latin-1.

Sequence listings and other non-patent documents found in the weekly files are dropped
with reason ``not_a_patent``; a patent that is not well-formed XML with ``xml_error``.
Weekly ``.zip`` files are read through `pile.sources.archive.iter_archive`.
Ids are ``<source>/<country><number><kind>`` (``uspto/US09358892B1``).
"""

from __future__ import annotations

import datetime as dt
import html.entities
import re
from pathlib import Path
from typing import IO, Any, Callable, Iterable, Iterator

from lxml import etree

from pile.config import DEFAULT_MAX_RECORD_BYTES, SourceConfig
from pile.document import Document
from pile.errors import ConfigError, SourceError
from pile.sources.base import RemoteFile, Source, bounded_lines
from pile.stage import Dropped

BULKDATA = "https://bulkdata.uspto.gov/data/patent/grant/redbook/fulltext/{year}/{prefix}{yymmdd}.zip"
BULKDATA_APS = ("https://bulkdata.uspto.gov/data/patent/grant/redbook/fulltext/{year}/"
                "pftaps{yyyymmdd}_wk{week:02d}.zip")
FIRST_YEAR = 1976      # the first year of the bulk full text (APS)
FIRST_XML_YEAR = 2002  # 1976-2001 grants are in the APS text format

_DOCTYPE_RE = re.compile(rb"<!DOCTYPE[^\[>]*(?:\[.*?\]\s*)?>", re.DOTALL)
_ENTITY_RE = re.compile(rb"&([A-Za-z][A-Za-z0-9]*);")
_XML_ENTITIES = {b"amp", b"lt", b"gt", b"quot", b"apos"}
_WS_RE = re.compile(r"\s+")

# Headings that open the background section: first choice, then fall-backs used when a
# patent has no "BACKGROUND" heading at all.
_BACKGROUND_RE = re.compile(r"\bBACKGROUND\b", re.IGNORECASE)
_FALLBACK_RE = re.compile(r"\b(?:PRIOR ART|RELATED ART|DESCRIPTION OF (?:THE )?RELATED)\b", re.IGNORECASE)
# Sub-headings that stay inside the background section.
_INSIDE_RE = re.compile(
    r"\b(?:BACKGROUND|FIELD|PRIOR ART|RELATED ART|RELATED TECHNOLOGY|CONVENTIONAL|"
    r"DESCRIPTION OF (?:THE )?(?:RELATED|PRIOR|BACKGROUND)|STATE OF THE ART|DISCUSSION OF)\b",
    re.IGNORECASE)
# Headings that always end it, even when they also mention the prior art.
_AFTER_RE = re.compile(r"\b(?:SUMMARY|BRIEF DESCRIPTION|DETAILED DESCRIPTION|OBJECTS?|"
                       r"DISCLOSURE OF|EMBODIMENTS?)\b", re.IGNORECASE)

_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                          dtd_validation=False, huge_tree=False, remove_pis=True,
                          remove_comments=True)
# Inline elements whose text is not prose (tables, formulas, chemical structures).
_SKIP_TAGS = {"tables", "table", "maths", "math", "chemistry", "chem-cwu", "img", "TABLE", "EMI",
              "CHEMCDX", "CHEMMOL", "MATH-US", "CWU"}


def _map_entity(match: re.Match[bytes]) -> bytes:
    name = match.group(1)
    if name in _XML_ENTITIES:
        return match.group(0)
    char = html.entities.html5.get(name.decode("ascii") + ";")
    return char.encode("utf-8") if char else b""


_ENTITY_DECL_RE = re.compile(rb"<!ENTITY\s[^>]*>")


def refused_entity(doc: bytes) -> str | None:
    """The first entity declaration of the document's DTD that is not an unparsed
    (``NDATA``) image reference, or None.

    The 2002 format declares its drawings as ``<!ENTITY x SYSTEM "x.TIF" NDATA TIF>``;
    any other declaration (an internal entity, an expansion bomb, an external parsed
    entity pointing at a local file) has no place in a patent and refuses the patent,
    as the other XML kinds refuse it, rather than being silently dropped.
    """
    doctype = _DOCTYPE_RE.search(doc)
    if doctype is None:
        return None
    for decl in _ENTITY_DECL_RE.findall(doctype.group(0)):
        if b"NDATA" not in decl:
            return decl[:80].decode("utf-8", "replace")
    return None


def prepare_xml(doc: bytes) -> bytes:
    """Remove the DOCTYPE and map DTD-defined named entities to characters."""
    doc = _DOCTYPE_RE.sub(b"", doc, count=1)
    return _ENTITY_RE.sub(_map_entity, doc)


def split_documents(stream: IO[bytes], limit: int = DEFAULT_MAX_RECORD_BYTES) -> Iterator[bytes | int]:
    """Split a weekly file into its XML documents (each starts with ``<?xml``).

    Yields:
        each document's bytes, or its size (an int) for a document over `limit` bytes,
        which was streamed past rather than kept.
    """
    return _split_at(stream, limit, lambda line: line.lstrip().startswith(b"<?xml"), True)


def _split_at(stream: IO[bytes], limit: int, is_start: Callable[[bytes], bool],
              preamble: bool) -> Iterator[bytes | int]:
    """The records of a file of concatenated records, each starting at a line `is_start`
    accepts (lines before the first one are a record too when `preamble`, else skipped);
    a record over `limit` bytes comes out as its size, never held whole."""
    current: list[bytes] = []
    size = 0
    inside = preamble
    content = False  # anything but blank lines in `current`
    for _lineno, line in bounded_lines(stream, limit):
        if isinstance(line, bytes) and is_start(line):
            if inside and content:
                yield size if size > limit else b"".join(current)
            current, size, content, inside = [], 0, False, True
        if not inside:
            continue
        size += line if isinstance(line, int) else len(line)
        content = content or isinstance(line, int) or bool(line.strip())
        if size > limit:
            current = []
        else:
            current.append(line)  # type: ignore[arg-type]  # ints only when size > limit
    if inside and content:
        yield size if size > limit else b"".join(current)


def _text(element: etree._Element) -> str:
    """The prose of an element: skip tables/formulas, collapse whitespace."""
    parts: list[str] = []

    def walk(el: etree._Element) -> None:
        if not isinstance(el.tag, str):
            if el.tail:
                parts.append(el.tail)
            return
        if el.tag not in _SKIP_TAGS:
            if el.text:
                parts.append(el.text)
            for child in el:
                walk(child)
        if el.tail:
            parts.append(el.tail)

    if element.text:
        parts.append(element.text)
    for child in element:
        walk(child)
    return _WS_RE.sub(" ", "".join(parts)).strip()


def background(blocks: Iterable[tuple[str, str]]) -> list[str]:
    """Pick the background section out of a description's ``(kind, text)`` blocks.

    Args:
        blocks: ``("heading", text)`` and ``("p", text)`` in document order.

    Returns:
        The background's paragraphs (sub-headings included as their own paragraphs),
        without its opening heading; empty when there is no background section.
    """
    blocks = list(blocks)
    headings = [i for i, (kind, _) in enumerate(blocks) if kind == "heading"]
    start = next((i for i in headings if _BACKGROUND_RE.search(blocks[i][1])), None)
    if start is None:
        start = next((i for i in headings if _FALLBACK_RE.search(blocks[i][1])
                      and not _AFTER_RE.search(blocks[i][1])), None)
    if start is None:
        return []
    out: list[str] = []
    for kind, text in blocks[start + 1:]:
        if kind == "heading" and (_AFTER_RE.search(text) or not _INSIDE_RE.search(text)):
            break
        if text:
            out.append(text)
    return out


def _first(root: etree._Element, path: str) -> str:
    found = root.find(path)
    return _text(found) if found is not None else ""


def parse_patent(doc: bytes) -> dict[str, Any]:
    """Parse one patent document.

    Returns:
        ``{"format", "country", "number", "kind", "date", "title", "paragraphs"}``;
        ``format`` is ``"other"`` for documents that are not patents.

    Raises:
        etree.XMLSyntaxError: the document is not well-formed.
    """
    root = etree.fromstring(prepare_xml(doc), parser=_PARSER)
    tag = root.tag if isinstance(root.tag, str) else ""
    if tag in ("us-patent-grant", "us-patent-application"):
        biblio = root.find("us-bibliographic-data-grant")
        if biblio is None:
            biblio = root.find("us-bibliographic-data-application")
        info = {"format": f"{tag} {root.get('dtd-version', '').split(' ')[0]}".strip()}
        if biblio is not None:
            info.update(country=_first(biblio, "publication-reference/document-id/country"),
                        number=_first(biblio, "publication-reference/document-id/doc-number"),
                        kind=_first(biblio, "publication-reference/document-id/kind"),
                        date=_first(biblio, "publication-reference/document-id/date"),
                        title=_first(biblio, "invention-title"))
        description = root.find("description")
        blocks = [] if description is None else [
            ("heading" if el.tag == "heading" else "p", _text(el))
            for el in description.iter("heading", "p")]
        info["paragraphs"] = background(blocks)
        return info
    if tag == "PATDOC":
        info = {"format": "PATDOC v2.5", "country": _first(root, "SDOBI/B100/B190") or "US",
                "number": _first(root, "SDOBI/B100/B110/DNUM"),
                "kind": _first(root, "SDOBI/B100/B130"),
                "date": _first(root, "SDOBI/B100/B140/DATE"),
                "title": _first(root, "SDOBI/B500/B540")}
        description = root.find("SDODE")
        blocks = [] if description is None else [
            ("heading" if el.tag == "H" else "p", _text(el))
            for el in description.iter("H", "PARA")]
        info["paragraphs"] = background(blocks)
        return info
    return {"format": "other", "root": tag}


_APS_TEXT_TAGS = {"PAR", "PAL", "PA0", "PA1", "PA2", "PA3", "PA4", "PA5", "PA6", "PA7", "PA8",
                  "PA9"}


def split_aps(stream: IO[bytes], limit: int = DEFAULT_MAX_RECORD_BYTES) -> Iterator[bytes | int]:
    """Split an APS weekly file into its patents (each starts at a ``PATN`` line; the
    file's header line before the first one is not a patent).

    Yields:
        each patent's bytes, or its size (an int) for one over `limit` bytes, streamed
        past rather than kept.
    """
    return _split_at(stream, limit, lambda line: line.rstrip() == b"PATN", False)


def aps_fields(record: bytes) -> list[tuple[str, str, str]]:
    """(section, tag, data) per field of one APS patent, continuation lines joined."""
    try:
        text = record.decode("ascii")
    except UnicodeDecodeError:
        text = record.decode("latin-1")
    fields: list[tuple[str, str, str]] = []
    section = ""
    for raw in text.splitlines():
        line = raw.rstrip()
        if not line:
            continue
        tag, data = line[:4].strip(), line[5:].strip() if len(line) > 5 else ""
        if not tag:  # a continuation of the field above
            if fields:
                s_, t_, d_ = fields[-1]
                fields[-1] = (s_, t_, f"{d_} {data}".strip())
            continue
        if len(tag) == 4 and not data:
            section = tag
            continue
        fields.append((section, tag, data))
    return fields


def parse_aps(record: bytes) -> dict[str, Any]:
    """Parse one APS patent: the same keys as `parse_patent` (``format`` is ``APS``)."""
    fields = aps_fields(record)
    first = {}
    for section, tag, data in fields:
        if section == "PATN":
            first.setdefault(tag, data)
    wku = first.get("WKU", "")
    blocks = [("heading" if tag == "PAC" else "p", _WS_RE.sub(" ", data).strip())
              for section, tag, data in fields
              if section == "BSUM" and (tag == "PAC" or tag in _APS_TEXT_TAGS)]
    return {"format": "APS", "country": "US", "number": wku[:-1] if len(wku) > 1 else wku,
            "kind": "", "date": first.get("ISD", ""), "title": first.get("TTL", ""),
            "paragraphs": background(blocks)}


def grant_tuesdays(year: int) -> list[dt.date]:
    """The Tuesdays of `year` (the USPTO issues grants, and weekly files, on Tuesdays)."""
    day = dt.date(year, 1, 1)
    day += dt.timedelta(days=(1 - day.weekday()) % 7)
    out = []
    while day.year == year:
        out.append(day)
        day += dt.timedelta(days=7)
    return out


class UsptoSource(Source):
    """USPTO weekly grant full-text files -> one background section per patent."""

    kind = "uspto"
    pile_set_name = "USPTO Backgrounds"
    license = "US patent text is a work of the US government (public domain)"
    upstream = ("bulkdata.uspto.gov patent grant full text (redbook/fulltext), weekly zip files: "
                "APS text 1976-2001, XML from 2002")
    options_schema: dict[str, Any] = {
        "years": [2020],      # grant years to list (1976 on; APS before 2002; the Pile: 1976-2020)
        "min_chars": 100,     # backgrounds shorter than this are dropped (too_short)
    }

    def __init__(self, cfg: SourceConfig, raw_dir: Path) -> None:
        super().__init__(cfg, raw_dir)
        years = self.options["years"]
        this_year = dt.date.today().year
        if not isinstance(years, (list, tuple)) or not all(
                isinstance(y, int) and not isinstance(y, bool) and FIRST_YEAR <= y <= this_year
                for y in years):
            raise ConfigError(f"sources.{self.name}.options.years: expected years from "
                              f"{FIRST_YEAR} to {this_year}, got {years!r}")

    def list_files(self) -> list[RemoteFile]:
        """One weekly zip per grant Tuesday (``pftapsYYYYMMDD_wkNN.zip`` 1976-2001,
        ``pgYYMMDD.zip`` 2002-2004, ``ipgYYMMDD.zip`` after)."""
        if self.cfg.urls:
            return super().list_files()
        files = []
        for year in sorted(self.options["years"]):
            prefix = "pg" if year <= 2004 else "ipg"
            for week, day in enumerate(grant_tuesdays(year), 1):
                if day > dt.date.today():
                    break
                if year < FIRST_XML_YEAR:
                    name = f"pftaps{day:%Y%m%d}_wk{week:02d}.zip"
                    files.append(RemoteFile(url=BULKDATA_APS.format(
                        year=year, yyyymmdd=f"{day:%Y%m%d}", week=week), name=f"{year}/{name}"))
                    continue
                yymmdd = day.strftime("%y%m%d")
                files.append(RemoteFile(url=BULKDATA.format(year=year, prefix=prefix, yymmdd=yymmdd),
                                        name=f"{year}/{prefix}{yymmdd}.zip"))
        return files

    def read(self, path: Path) -> Iterator[Document | Dropped]:
        """A weekly ``.zip`` or ``.xml`` file -> one document per patent with a background.

        Raises:
            SourceError: the file cannot be read, or the zip is damaged or unsafe.
        """
        path = Path(path)
        if path.name.lower().endswith(".zip"):
            from pile.sources.archive import iter_archive

            for member, fileobj in iter_archive(path):
                if member.lower().endswith((".xml", ".sgm")):
                    yield from self._patents(fileobj, f"{self.key_for(path)}:{member}")
                elif member.lower().endswith(".txt"):
                    yield from self._aps_patents(fileobj, f"{self.key_for(path)}:{member}")
            return
        try:
            with open(path, "rb") as fileobj:
                if path.name.lower().endswith(".txt"):
                    yield from self._aps_patents(fileobj, self.key_for(path))
                else:
                    yield from self._patents(fileobj, self.key_for(path))
        except OSError as exc:
            raise SourceError(f"{path}: cannot read the patent file ({exc.strerror or exc})") from None

    def _aps_patents(self, stream: IO[bytes], file_key: str) -> Iterator[Document | Dropped]:
        for index, doc in enumerate(split_aps(stream, self.max_record_bytes)):
            fallback_key = f"{file_key}#{index}"
            if isinstance(doc, int):
                yield self.dropped(fallback_key, "too_large", record_bytes=doc)
                continue
            yield self._patent_document(parse_aps(doc), fallback_key)

    def _patents(self, stream: IO[bytes], file_key: str) -> Iterator[Document | Dropped]:
        for index, doc in enumerate(split_documents(stream, self.max_record_bytes)):
            fallback_key = f"{file_key}#{index}"
            if isinstance(doc, int):
                yield self.dropped(fallback_key, "too_large", record_bytes=doc)
                continue
            refused = refused_entity(doc)
            if refused is not None:
                yield self.dropped(fallback_key, "xml_entity_refused", detail=refused)
                continue
            try:
                info = parse_patent(doc)
            except etree.XMLSyntaxError as exc:
                yield self.dropped(fallback_key, "xml_error", detail=str(exc)[:200])
                continue
            if info["format"] == "other":
                yield self.dropped(fallback_key, "not_a_patent", root=info["root"])
                continue
            yield self._patent_document(info, fallback_key)

    def _patent_document(self, info: dict[str, Any], fallback_key: str) -> Document | Dropped:
        key = f"{info['country']}{info['number']}{info['kind']}" if info["number"] else fallback_key
        meta = {"patent": key, "date": info["date"], "title": info["title"],
                "format": info["format"]}
        text = "\n\n".join(info["paragraphs"])
        if not text:
            return self.dropped(key, "no_background", **meta)
        if len(text) < self.options["min_chars"]:
            return self.dropped(key, "too_short", **meta)
        return self.document(key, text + "\n", **meta)
