"""PubMed Central open-access articles (the Pile's "PubMed Central" component).

Follows the Pile (Gao et al. 2020, appendix: PubMed Central): the full text of the PMC
open-access subset, one document per article, converted from its JATS XML (the Pile ran
pandoc on the ``.nxml``; this module walks the JATS tree itself, without pandoc):

- the article title, then the abstract (option ``include_abstract``), then the body;
- sections keep their headings (label and title, e.g. ``2.1 Study design``) as their own
  paragraphs; lists become ``- item`` lines; boxed text and quotes are kept;
- figures, tables, display formulas, supplementary material, and the whole back matter
  (reference list, acknowledgements, footnotes) are dropped; inline citations keep their
  visible text (``[16]``); inline formulas keep their TeX when given, else their text;
- articles with no body text (scanned PDFs-only, corrections) are dropped with reason
  ``no_body``.

Inputs: single ``.nxml``/``.xml`` articles, or the OA bulk packages (``.tar.gz`` of many
articles, read through `pile.sources.archive.iter_archive`, which refuses unsafe members).
XML is parsed with `pile.sources.xmlsafe.iterparse` (no entity expansion, no external
references). Ids are ``<source>/PMC<number>`` (the member or file name when an article
has no PMC id).

Upstream listing: the OA bulk directory (``oa_bulk/<group>/xml/``) names its packages
with a baseline date that changes, so `list_files` first returns the directory's index
page (saved under ``raw/<source>/_listing/``) and, once that is downloaded, also the
baseline packages it links to; the downloader repeats ``list_files`` until the list stops
growing.
"""

from __future__ import annotations

import re
from pathlib import Path, PurePosixPath
from typing import IO, Any, Iterator
from xml.etree.ElementTree import Element

from pile.config import SourceConfig
from pile.document import Document
from pile.errors import ConfigError, SourceError
from pile.sources.archive import MemberRanges, iter_archive
from pile.sources.base import RemoteFile, Source
from pile.sources.xmlsafe import iterparse, local_name
from pile.stage import Dropped

OA_BULK = "https://ftp.ncbi.nlm.nih.gov/pub/pmc/oa_bulk/{group}/xml/"
GROUPS = ("oa_comm", "oa_noncomm", "oa_other")
LISTING_DIR = "_listing"
_PACKAGE_RE = re.compile(r'href="((oa_(?:comm|noncomm|other))_xml\.PMC\d+x+\.baseline\.[0-9-]+\.tar\.gz)"')
_WS_RE = re.compile(r"[ \t\r\n]+")

# Whole subtrees that carry no prose for a language model.
_DROP = {"fig", "fig-group", "table-wrap", "table-wrap-group", "table", "disp-formula",
         "disp-formula-group", "graphic", "media", "supplementary-material", "ref-list",
         "fn-group", "alternatives", "inline-graphic", "chem-struct-wrap", "object-id",
         "processing-meta", "array"}
# Elements rendered as blocks (their own paragraphs) when met inside a paragraph.
_BLOCKS = {"list", "disp-quote", "boxed-text", "statement", "def-list", "verse-group"}


def _clean(text: str) -> str:
    return _WS_RE.sub(" ", text).strip()


def _inline(elem: Element) -> str:
    """The running text of an element, skipping dropped and block children."""
    parts: list[str] = []
    if elem.text:
        parts.append(elem.text)
    for child in elem:
        name = local_name(child)
        if name in _DROP or name in _BLOCKS:
            pass
        elif name == "inline-formula":
            tex = next((c for c in child.iter() if local_name(c) == "tex-math"), None)
            parts.append((tex.text or "") if tex is not None else "".join(child.itertext()))
        else:
            parts.append(_inline(child))
        if child.tail:
            parts.append(child.tail)
    return "".join(parts)


def render_blocks(elem: Element, out: list[str]) -> None:
    """Append the paragraphs of a JATS container (body, sec, abstract...) to `out`."""
    for child in elem:
        name = local_name(child)
        if name in _DROP:
            continue
        if name in ("sec", "app", "boxed-text", "disp-quote", "statement", "abstract"):
            heading = _heading(child)
            before = len(out)
            if heading:
                out.append(heading)
            render_blocks(child, out)
            if heading and len(out) == before + 1:
                out.pop()  # a heading over dropped content only (figures, files)
        elif name in ("title", "label"):
            continue  # handled by _heading
        elif name == "p":
            text = _clean(_inline(child))
            if text:
                out.append(text)
            for block in child:
                if local_name(block) in _BLOCKS:
                    render_blocks_single(block, out)
        elif name in ("list", "def-list"):
            render_blocks_single(child, out)
        else:
            text = _clean(_inline(child))
            if text:
                out.append(text)


def render_blocks_single(block: Element, out: list[str]) -> None:
    """Render one block element met inside running text (a list, a quote...)."""
    name = local_name(block)
    if name in ("list", "def-list"):
        items = []
        for item in block:
            if local_name(item) in ("list-item", "def-item"):
                text = _clean(" ".join(_inline(p) for p in item) or _inline(item))
                if text:
                    items.append(f"- {text}")
        if items:
            out.append("\n".join(items))
    else:
        render_blocks(block, out)


def _heading(sec: Element) -> str:
    label = title = ""
    for child in sec:
        name = local_name(child)
        if name == "label" and not label:
            label = _clean(_inline(child))
        elif name == "title" and not title:
            title = _clean(_inline(child))
    return " ".join(part for part in (label, title) if part)


def article_to_text(article: Element, include_abstract: bool = True) -> tuple[str, str, dict[str, Any]]:
    """Convert one JATS ``<article>``.

    Returns:
        ``(pmcid, text, meta)``: `pmcid` is ``PMC<n>`` or ``""``; `text` is empty when the
        article has no body text.
    """
    meta: dict[str, Any] = {}
    pmcid = ""
    article_meta = article.find("front/article-meta")
    title = ""
    abstract: list[str] = []
    if article_meta is not None:
        for aid in article_meta.findall("article-id"):
            kind, value = aid.get("pub-id-type", ""), (aid.text or "").strip()
            if kind in ("pmc", "pmcid") and value:
                pmcid = value if value.upper().startswith("PMC") else f"PMC{value}"
            elif kind in ("pmid", "doi") and value:
                meta[kind] = value
        title_el = article_meta.find("title-group/article-title")
        title = _clean(_inline(title_el)) if title_el is not None else ""
        if include_abstract:
            for abs_el in article_meta.findall("abstract"):
                if abs_el.get("abstract-type") in ("graphical", "teaser", "toc"):
                    continue
                render_blocks(abs_el, abstract)
    if title:
        meta["title"] = title
    body_el = article.find("body")
    body: list[str] = []
    if body_el is not None:
        render_blocks(body_el, body)
    if not body:
        return pmcid, "", meta
    head = [title] if title else []
    if abstract:
        head += ["Abstract", *abstract]
    return pmcid, "\n\n".join(head + body) + "\n", meta


class PubmedCentralSource(MemberRanges, Source):
    """PMC open-access JATS articles -> one full-text document per article."""

    archive_suffixes = (".tar.gz", ".tgz", ".tar")  # any other name is one article

    kind = "pubmed_central"
    pile_set_name = "PubMed Central"
    license = "per article: CC BY / CC0 / other open licences (oa_comm), see each article's <license>"
    upstream = "https://ftp.ncbi.nlm.nih.gov/pub/pmc/oa_bulk/ (JATS XML baseline packages)"
    options_schema: dict[str, Any] = {
        "groups": ["oa_comm"],      # oa_comm, oa_noncomm, oa_other (licence groups)
        "include_abstract": True,  # put the abstract between the title and the body
    }

    def __init__(self, cfg: SourceConfig, raw_dir: Path) -> None:
        super().__init__(cfg, raw_dir)
        groups = self.options["groups"]
        if not isinstance(groups, (list, tuple)) or not groups or any(g not in GROUPS for g in groups):
            raise ConfigError(f"sources.{self.name}.options.groups: expected a non-empty list of "
                              f"{', '.join(GROUPS)}, got {groups!r}")
        if not isinstance(self.options["include_abstract"], bool):
            raise ConfigError(f"sources.{self.name}.options.include_abstract: expected true or "
                              f"false, got {self.options['include_abstract']!r}")

    def list_files(self) -> list[RemoteFile]:
        """Index pages of the configured groups, then the baseline packages they link to."""
        if self.cfg.urls:
            return super().list_files()
        files: list[RemoteFile] = []
        for group in self.options["groups"]:
            index = RemoteFile(url=OA_BULK.format(group=group), name=f"{LISTING_DIR}/{group}.html")
            files.append(index)
            local = self.raw_dir / index.name
            if not local.is_file():
                continue
            html = local.read_text("utf-8", errors="replace")
            for name in sorted({m.group(1) for m in _PACKAGE_RE.finditer(html)
                                if m.group(2) == group}):
                files.append(RemoteFile(url=OA_BULK.format(group=group) + name, name=name))
        return files

    def inputs(self) -> list[Path]:
        """Downloaded packages and articles (not the index pages)."""
        return [p for p in super().inputs() if LISTING_DIR not in p.parts]

    def read_members(self, path: Path, span: tuple[int, int] | None) -> Iterator[Document | Dropped]:
        """One ``.nxml``/``.xml`` article or one ``.tar.gz`` package -> documents.

        Raises:
            SourceError: unreadable or truncated file, unsafe archive member, malformed
                XML or a refused entity (after the articles read before the damage).
        """
        name = path.name.lower()
        if name.endswith(self.archive_suffixes):
            for member, fileobj in iter_archive(path, span):
                if member.lower().endswith((".nxml", ".xml")):
                    yield from self._articles(fileobj, PurePosixPath(member).stem, f"{path}:{member}")
            return
        try:
            fileobj = open(path, "rb")
        except OSError as exc:
            raise SourceError(f"{path}: cannot read the article ({exc.strerror or exc})") from None
        with fileobj:
            yield from self._articles(fileobj, path.name.split(".nxml")[0].rsplit(".xml", 1)[0],
                                      str(path))

    def _articles(self, stream: IO[bytes], stem: str, label: str) -> Iterator[Document | Dropped]:
        for article in iterparse(_Named(stream, label), {"article"}, self.max_record_bytes):
            pmcid, text, meta = article_to_text(article, self.options["include_abstract"])
            key = pmcid or stem
            meta["pmcid"] = pmcid or None
            if not text:
                yield self.dropped(key, "no_body", **meta)
            else:
                yield self.document(key, text, **meta)


class _Named:
    """A binary stream with a ``name`` (so XML errors name the file and member)."""

    def __init__(self, stream: IO[bytes], name: str) -> None:
        self._stream = stream
        self.name = name

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(size)
