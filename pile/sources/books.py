"""Book collections (standing in for the Pile's "Books3" and "BookCorpus2"): local EPUB and
plain-text books.

Neither Pile book component can be downloaded legally: Books3 (Bibliotik's collection) was
taken down after DMCA notices in 2023, and BookCorpus2's books come from Smashwords, whose
terms forbid redistribution. So nothing is downloaded: the kind reads a collection the
user has the right to use (``paths:``), for example Project Gutenberg or Standard Ebooks
EPUBs, or their own library. ``pile_set_name`` defaults to ``Books3``; set it to
``BookCorpus2`` for a second collection.

EPUB (2 and 3), read from the zip without unpacking it:

- ``META-INF/container.xml`` names the OPF package; the OPF gives the metadata (meta:
  ``title``, ``author`` (the ``dc:creator`` entries, joined by "; "), ``language``,
  ``identifier``: the package's unique identifier) and the reading order (the spine);
- each linear spine document (XHTML) becomes paragraphs (`element_text`: block elements
  start paragraphs), in spine order; non-linear ones (auxiliary material) are left out;
- dropped: the navigation document and NCX, ``<nav>`` elements and ``epub:type`` toc /
  landmarks / page-list / loi / lot, a spine document that is a table of contents (most
  of its text is links into the book), and licence boilerplate: ``epub:type``
  copyright-page / imprint / colophon and Project Gutenberg's ``pg-boilerplate``
  header and footer sections;
- Project Gutenberg's licence header and footer are then stripped from the text as in the
  `gutenberg` kind (`pile.sources.gutenberg.strip_headers`), for EPUBs that carry them as
  plain text.

The OPF is parsed with defusedxml and the XHTML with lxml's HTML parser (tolerant of the
broken markup real EPUBs have, no network, no entities expanded). A well-kept EPUB
library was considered: EbookLib is AGPL-3.0 (incompatible with this Apache-2.0 tool when
distributed) and loads every item into memory at open; the container/OPF/spine walk it
would do here is small.

Plain text (``.txt``): UTF-8, or the 8-bit charset a Gutenberg header declares; headers
stripped the same way; the title is the file's stem.

A book that cannot be read (not a zip, no OPF, a damaged member, undecodable text) fails
that file with `SourceError`; a book with no text left is dropped (``no_text``); a spine
member over ``run.max_record_bytes`` (or the source's own ``max_record_bytes``) is left out and counted in ``meta.skipped_items``. Ids are ``<source>/<file key without
extension>``.
"""

from __future__ import annotations

import posixpath
import re
import zipfile
from pathlib import Path
from typing import Any, ClassVar, Iterator
from urllib.parse import unquote

import lxml.etree
import lxml.html
from defusedxml import ElementTree as SafeET

from pile.config import SourceConfig
from pile.document import Document
from pile.errors import ConfigError, SourceError
from pile.sources.archive import DECODE_ERRORS, describe_error
from pile.sources.base import Source
from pile.sources.gutenberg import decode_book, strip_headers
from pile.sources.stackexchange import element_text
from pile.stage import Dropped

# epub:type values whose sections are not the book's text
DROP_EPUB_TYPES = frozenset({"toc", "landmarks", "page-list", "loi", "lot", "copyright-page",
                             "imprint", "colophon"})
DROP_CLASSES = ("pg-boilerplate",)
# A spine document whose text is at least this much link text (with a few links) is a
# table of contents.
TOC_LINK_SHARE = 0.6
TOC_MIN_LINKS = 3

_NS = {"c": "urn:oasis:names:tc:opendocument:xmlns:container",
       "opf": "http://www.idpf.org/2007/opf", "dc": "http://purl.org/dc/elements/1.1/"}
_XHTML_TYPES = {"application/xhtml+xml", "text/html", "application/x-dtbook+xml"}
_BLANKS_RE = re.compile(r"\n{3,}")
_WS_RE = re.compile(r"\s+")
_WRAPPED_RE = re.compile(r"\s\s|[^\S ]")  # whitespace that is not one plain space


def _text(elem: Any) -> str:
    return " ".join("".join(elem.itertext()).split()) if elem is not None else ""


def read_opf(zf: zipfile.ZipFile, label: str) -> tuple[str, Any]:
    """(the OPF's path in the zip, its parsed root)."""
    try:
        container = SafeET.fromstring(zf.read("META-INF/container.xml"))
    except KeyError:
        raise SourceError(f"{label}: not an EPUB (no META-INF/container.xml)") from None
    rootfile = container.find(".//c:rootfile", _NS)
    if rootfile is None or not rootfile.get("full-path"):
        raise SourceError(f"{label}: META-INF/container.xml names no package (rootfile)")
    opf_path = rootfile.get("full-path")
    try:
        return opf_path, SafeET.fromstring(zf.read(opf_path))
    except KeyError:
        raise SourceError(f"{label}: the package {opf_path} named by container.xml is missing") \
            from None


def opf_metadata(opf: Any) -> dict[str, Any]:
    """title, author, language and identifier from an OPF package."""
    meta = opf.find("opf:metadata", _NS)
    if meta is None:
        return {}
    unique = opf.get("unique-identifier")
    identifier = ""
    for elem in meta.findall("dc:identifier", _NS):
        if not identifier or (unique and elem.get("id") == unique):
            identifier = _text(elem)
    authors = [_text(e) for e in meta.findall("dc:creator", _NS) if _text(e)]
    out = {"title": _text(meta.find("dc:title", _NS)), "author": "; ".join(authors),
           "language": _text(meta.find("dc:language", _NS)), "identifier": identifier}
    return {k: v for k, v in out.items() if v}


def _is_dropped_section(elem: Any) -> bool:
    if not isinstance(elem.tag, str):
        return False
    if elem.tag.lower() in ("nav", "script", "style", "head"):
        return True
    types = set((elem.get("epub:type") or elem.get("{http://www.idpf.org/2007/ops}type")
                 or "").split())
    if types & DROP_EPUB_TYPES:
        return True
    classes = elem.get("class") or ""
    return any(c in classes.split() for c in DROP_CLASSES)


def xhtml_to_text(data: bytes, own_names: set[str]) -> tuple[str, str]:
    """(text, ``toc`` when the document is a table of contents else "") of one spine item.

    Args:
        data: the XHTML bytes.
        own_names: the book's spine file names (links to them are internal links).
    """
    root = lxml.html.document_fromstring(data)
    for elem in list(root.iter()):
        if elem.getparent() is not None and _is_dropped_section(elem):
            elem.drop_tree()
    body = root.find("body")
    if body is None:
        body = root
    total = len(" ".join(body.text_content().split()))
    links = [a for a in body.iter("a")
             if (a.get("href") or "").split("#", 1)[0].rsplit("/", 1)[-1] in own_names]
    linked = sum(len(" ".join(a.text_content().split())) for a in links)
    if total and len(links) >= TOC_MIN_LINKS and linked / total >= TOC_LINK_SHARE:
        return "", "toc"
    # HTML wraps its source lines anywhere: a paragraph is one line of text (not in <pre>)
    verbatim = {id(e) for pre in body.iter("pre") for e in pre.iter()}
    for elem in body.iter():
        if id(elem) in verbatim:
            continue
        if elem.text and _WRAPPED_RE.search(elem.text):
            elem.text = _WS_RE.sub(" ", elem.text)
        if elem.tail and _WRAPPED_RE.search(elem.tail):
            elem.tail = _WS_RE.sub(" ", elem.tail)
    text = element_text(body)
    return "\n".join(line.strip() for line in text.split("\n")), ""


class BooksSource(Source):
    """Local EPUB and plain-text books -> one document per book.

    Options:
        strip_gutenberg: strip Project Gutenberg licence headers and footers (true).
    """

    kind: ClassVar[str] = "books"
    pile_set_name: ClassVar[str] = "Books3"
    license: ClassVar[str] = ("each book's own copyright; Books3 was taken down (DMCA) and "
                              "BookCorpus2's Smashwords terms forbid redistribution: use "
                              "books you have the right to use")
    upstream: ClassVar[str] = ("local EPUB / .txt collection only (Books3 and BookCorpus2 "
                               "cannot be downloaded legally)")
    options_schema: ClassVar[dict[str, Any]] = {"strip_gutenberg": True}
    local_only: ClassVar[str] = ("the book collections cannot be downloaded (Books3 was taken "
                                 "down, BookCorpus2's terms forbid redistribution)")

    def __init__(self, cfg: SourceConfig, raw_dir: Path) -> None:
        super().__init__(cfg, raw_dir)
        if not isinstance(self.options["strip_gutenberg"], bool):
            raise ConfigError(f"sources.{self.name}.options.strip_gutenberg: expected true or "
                              f"false, got {self.options['strip_gutenberg']!r}")

    def inputs(self) -> list[Path]:
        """The ``.epub`` and ``.txt`` files under ``paths``."""
        return [p for p in super().inputs() if p.suffix.lower() in (".epub", ".txt")]

    def read(self, path: Path) -> Iterator[Document | Dropped]:
        """One book file -> its document.

        Raises:
            SourceError: the file is not a readable EPUB / text book.
        """
        path = Path(path)
        key = self.key_for(path).rsplit(".", 1)[0]
        if path.suffix.lower() == ".epub":
            text, meta = self._epub(path)
        else:
            try:
                decoded = decode_book(path.read_bytes())
            except OSError as exc:
                raise SourceError(f"{path}: cannot read ({exc.strerror})") from None
            if decoded is None:
                raise SourceError(f"{path}: not UTF-8 and declares no 8-bit charset")
            text, meta = decoded.replace("\r\n", "\n"), {"title": path.stem, "format": "txt"}
        if self.options["strip_gutenberg"]:
            text, fmt = strip_headers(text)
            if fmt != "none":
                meta["gutenberg_header"] = fmt
        text = _BLANKS_RE.sub("\n\n", text).strip()
        if not text:
            yield self.dropped(key, "no_text", **meta)
            return
        yield self.document(key, text, **meta)

    def _epub(self, path: Path) -> tuple[str, dict[str, Any]]:
        label = str(path)
        try:
            zf = zipfile.ZipFile(path)
        except (zipfile.BadZipFile, OSError, EOFError) as exc:
            raise SourceError(f"{label}: not a readable EPUB (zip) file "
                              f"({describe_error(exc)})") from None
        with zf:
            try:
                opf_path, opf = read_opf(zf, label)
            except SafeET.ParseError as exc:
                raise SourceError(f"{label}: malformed package XML ({exc})") from None
            except DECODE_ERRORS as exc:
                raise SourceError(f"{label}: {describe_error(exc)}") from None
            except Exception as exc:  # defusedxml's refusals of entities and DTD tricks
                if type(exc).__module__.startswith("defusedxml"):
                    raise SourceError(f"{label}: unsafe package XML refused "
                                      f"({type(exc).__name__})") from None
                raise
            meta: dict[str, Any] = {**opf_metadata(opf), "format": "epub"}
            base = posixpath.dirname(opf_path)
            manifest = {}
            for item in opf.iterfind("opf:manifest/opf:item", _NS):
                href = posixpath.normpath(posixpath.join(base, unquote(item.get("href") or "")))
                manifest[item.get("id")] = (href, item.get("media-type") or "",
                                            set((item.get("properties") or "").split()))
            spine = opf.find("opf:spine", _NS)
            if spine is None:
                raise SourceError(f"{label}: the package has no spine (no reading order)")
            ncx = spine.get("toc")
            order = [ref for ref in spine.iterfind("opf:itemref", _NS)]
            names = {posixpath.basename(manifest[r.get("idref")][0]) for r in order
                     if r.get("idref") in manifest}
            parts: list[str] = []
            skipped: dict[str, int] = {}
            for ref in order:
                idref = ref.get("idref")
                item = manifest.get(idref)
                reason = None
                if item is None:
                    reason = "not_in_manifest"
                elif ref.get("linear") == "no":
                    reason = "non_linear"
                elif "nav" in item[2] or idref == ncx:
                    reason = "navigation"
                elif item[1] not in _XHTML_TYPES:
                    reason = "not_xhtml"
                if reason is None:
                    href = item[0]
                    if href.startswith("../") or href.startswith("/"):
                        raise SourceError(f"{label}: spine item {href!r} leaves the book; refused")
                    try:
                        info = zf.getinfo(href)
                    except KeyError:
                        reason = "missing"
                    else:
                        if info.file_size > self.max_record_bytes:
                            reason = "too_large"
                if reason:
                    skipped[reason] = skipped.get(reason, 0) + 1
                    continue
                try:
                    data = zf.read(href)
                except DECODE_ERRORS as exc:
                    raise SourceError(f"{label}:{href}: {describe_error(exc)}") from None
                try:
                    text, kind = xhtml_to_text(data, names)
                except (lxml.etree.ParserError, ValueError) as exc:
                    raise SourceError(f"{label}:{href}: unreadable XHTML ({exc})") from None
                if kind:
                    skipped[kind] = skipped.get(kind, 0) + 1
                elif text:
                    parts.append(text)
            meta["skipped_items"] = dict(sorted(skipped.items()))
            return "\n\n".join(parts), meta


__all__ = ["BooksSource", "DROP_EPUB_TYPES", "opf_metadata", "read_opf",
           "xhtml_to_text"]
