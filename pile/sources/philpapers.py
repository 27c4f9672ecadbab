"""PhilPapers (the Pile's "PhilPapers" component): the open-access papers of PhilArchive.

Upstream: PhilArchive's OAI-PMH interface, ``https://philarchive.org/oai.pl?verb=
ListRecords&metadataPrefix=oai_dc``, walked page by page through its resumption tokens,
and for each record the paper itself, ``https://philarchive.org/archive/<KEY>`` (the
key is the last part of the record's identifier, ``oai:philpapers.org/rec/SILGGG``).

Terms: PhilArchive's terms of use forbid mass scripted harvesting of its content, and its
robots.txt says ``ai-train=no``. The kind refuses to download until the config says
``accept_terms: true`` (the user has PhilArchive's permission), fetches politely (one
request every 2 s, robots.txt obeyed) and shows the terms in ``pile sources``.

Downloading: the listing grows as it is fetched (``listing_rounds``): page 1 is stored as
``raw/<source>/oai/00001.xml``; once a page is on disk, the next page (if it gave a
non-empty resumption token) and the papers of its records (``archive/<KEY>.pdf``) are
listed. Parsed pages are remembered by name, size and mtime, so a listing of n pages
parses each page once.

Reading: one unit per OAI page, so every record is accounted for. A deleted record
(``<header status="deleted">``) is dropped as ``deleted``, a record whose paper could not
be fetched with the downloader's reason (``not_found``...; ``not_fetched`` before any
download), a file that is not a PDF as ``not_pdf``, a PDF pdfminer cannot read as
``pdf_error`` (``pdf_encrypted``), a paper larger than ``max_record_bytes`` as
``too_large``, and a text of at most 1,000 characters as ``too_short`` (the Pile kept
papers over 1,000 characters). The PDF becomes paragraphs with `pile.sources.pdftext`.
A record listed twice in one page is ``duplicate_record``. Ids are ``<source>/<KEY>``;
meta has the title, authors, date, language and subjects of the ``oai_dc`` record.
"""

from __future__ import annotations

import re
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterator

from pile.config import SourceConfig
from pile.document import Document
from pile.errors import ConfigError, SourceError
from pile.sources.base import RemoteFile, Source
from pile.sources.pdftext import PdfError, pdf_text
from pile.sources.xmlsafe import iterparse, local_name
from pile.stage import Dropped

OAI_URL = "https://philarchive.org/oai.pl"
ARCHIVE_URL = "https://philarchive.org/archive/{key}"
PAGES_DIR = "oai"
PAPERS_DIR = "archive"
MIN_CHARS = 1000  # the Pile kept papers over 1,000 characters
_KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


@dataclass
class OaiRecord:
    """One ``<record>`` of a ListRecords page."""

    identifier: str
    deleted: bool
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> str:
        """The PhilArchive key (``SILGGG``), '' when the identifier has none usable."""
        key = self.identifier.rstrip("/").rsplit("/", 1)[-1]
        return key if _KEY_RE.match(key) else ""


@dataclass
class OaiPage:
    """A parsed ListRecords response: its records and the token of the next page."""

    records: list[OaiRecord]
    token: str  # '' on the last page


_DC_FIELDS = {"title": "title", "creator": "authors", "date": "date", "language": "language",
              "subject": "subjects"}


def parse_oai_page(path: Path, limit: int) -> OaiPage:
    """Parse one ListRecords page (streamed, entities refused).

    Raises:
        SourceError: malformed XML, or an OAI-PMH ``<error>`` (named with its code);
            ``noRecordsMatch`` is an empty page, not an error.
    """
    records: list[OaiRecord] = []
    token = ""
    for elem in iterparse(path, {"record", "resumptionToken", "error"}, limit):
        name = local_name(elem)
        if name == "error":
            code = elem.get("code") or "error"
            if code == "noRecordsMatch":
                continue
            raise SourceError(f"{path}: OAI-PMH error {code}: {(elem.text or '').strip()[:200]}")
        if name == "resumptionToken":
            token = (elem.text or "").strip()
            continue
        header = next((c for c in elem if local_name(c) == "header"), None)
        if header is None:
            continue
        identifier = next(((c.text or "").strip() for c in header
                           if local_name(c) == "identifier"), "")
        meta: dict[str, Any] = {}
        for dc in elem.iter():
            key = _DC_FIELDS.get(local_name(dc))
            value = " ".join((dc.text or "").split())
            if key and value:
                if key in ("authors", "subjects"):
                    meta.setdefault(key, []).append(value)
                else:
                    meta.setdefault(key, value)
        records.append(OaiRecord(identifier, header.get("status") == "deleted", meta))
    return OaiPage(records, token)


class PhilPapersSource(Source):
    """PhilArchive OAI-PMH records and their PDFs -> one document per paper.

    Options:
        set: an OAI set spec to harvest ('' = all records).
        from_date / until_date: OAI ``from`` / ``until`` (YYYY-MM-DD, '' = open).
        max_pages: stop listing after this many ListRecords pages (0 = all).
    """

    kind: ClassVar[str] = "philpapers"
    pile_set_name: ClassVar[str] = "PhilPapers"
    license: ClassVar[str] = ("each paper's own: authors keep their copyright; PhilArchive "
                              "distributes open-access papers under their authors' terms")
    upstream: ClassVar[str] = ("philarchive.org/oai.pl (OAI-PMH ListRecords, oai_dc) and "
                               "philarchive.org/archive/<KEY> (the papers' PDFs)")
    terms: ClassVar[str] = ("PhilArchive's terms of use forbid mass scripted harvesting of its "
                            "content and its robots.txt says ai-train=no: download only with "
                            "PhilArchive's permission")
    options_schema: ClassVar[dict[str, Any]] = {"set": "", "from_date": "", "until_date": "",
                                                "max_pages": 0}
    # every round lists one more page (and the papers of the previous one)
    listing_rounds: ClassVar[int] = 1_000_000
    # each paper that could not be fetched is a record dropped with the download's reason
    counts_fetch_failures: ClassVar[bool] = True

    def __init__(self, cfg: SourceConfig, raw_dir: Path) -> None:
        super().__init__(cfg, raw_dir)
        field_ = f"sources.{self.name}.options"
        for key in ("from_date", "until_date"):
            value = self.options[key]
            if not isinstance(value, str) or (value and not _DATE_RE.match(value)):
                raise ConfigError(f"{field_}.{key}: expected YYYY-MM-DD or '', got {value!r}")
        if not isinstance(self.options["set"], str):
            raise ConfigError(f"{field_}.set: expected an OAI set spec, got {self.options['set']!r}")
        pages = self.options["max_pages"]
        if not isinstance(pages, int) or isinstance(pages, bool) or pages < 0:
            raise ConfigError(f"{field_}.max_pages: expected an integer >= 0, got {pages!r}")
        self._pages: dict[str, tuple[int, int, OaiPage]] = {}

    def __getstate__(self) -> dict[str, Any]:
        # the parsed-page memo is the listing's, not the workers'
        return {**self.__dict__, "_pages": {}}

    # -- listing -----------------------------------------------------------------------

    def first_url(self) -> str:
        query = {"verb": "ListRecords", "metadataPrefix": "oai_dc"}
        for option, param in (("set", "set"), ("from_date", "from"), ("until_date", "until")):
            if self.options[option]:
                query[param] = self.options[option]
        return f"{OAI_URL}?{urllib.parse.urlencode(query)}"

    def _page(self, path: Path) -> OaiPage:
        st = path.stat()
        memo = self._pages.get(str(path))
        if memo is None or memo[:2] != (st.st_size, st.st_mtime_ns):
            memo = (st.st_size, st.st_mtime_ns, parse_oai_page(path, self.max_record_bytes))
            self._pages[str(path)] = memo
        return memo[2]

    def list_files(self) -> list[RemoteFile]:
        """The ListRecords pages fetched so far and the next one, and the papers of the
        records on the pages already on disk (see the module doc)."""
        if self.cfg.urls:
            return super().list_files()
        page_file = RemoteFile(url=self.first_url(), name=f"{PAGES_DIR}/00001.xml", robots=True)
        files = [page_file]
        number = 1
        limit = self.options["max_pages"]
        while (self.raw_dir / page_file.name).is_file():
            try:
                page = self._page(self.raw_dir / page_file.name)
            except SourceError:
                break  # `read` reports the damaged page; the listing stops there
            for record in page.records:
                if not record.deleted and record.key:
                    files.append(RemoteFile(url=ARCHIVE_URL.format(key=record.key),
                                            name=f"{PAPERS_DIR}/{record.key}.pdf", robots=True))
            if not page.token or (limit and number >= limit):
                break
            number += 1
            token = urllib.parse.quote(page.token, safe="")
            page_file = RemoteFile(url=f"{OAI_URL}?verb=ListRecords&resumptionToken={token}",
                                   name=f"{PAGES_DIR}/{number:05d}.xml", robots=True)
            files.append(page_file)
        unique: dict[str, RemoteFile] = {}
        for f in files:
            unique.setdefault(f.name, f)  # a paper listed on two pages is fetched once
        return list(unique.values())

    def inputs(self) -> list[Path]:
        """The ListRecords pages on disk (each page is read with its papers)."""
        if self.cfg.paths:
            return super().inputs()
        folder = self.raw_dir / PAGES_DIR
        return sorted(folder.glob("*.xml")) if folder.is_dir() else []

    # -- reading -----------------------------------------------------------------------

    def read(self, path: Path) -> Iterator[Document | Dropped]:
        """One ListRecords page -> one document (or drop) per record.

        Raises:
            SourceError: the page is malformed or an OAI-PMH error.
        """
        from pile.sources.download import load_failures

        page = parse_oai_page(Path(path), self.max_record_bytes)
        failures = load_failures(self.raw_dir)
        seen: set[str] = set()
        for index, record in enumerate(page.records):
            key = record.key or f"{Path(path).stem}#{index}"
            meta = {"oai_identifier": record.identifier, **record.meta}
            if record.deleted:
                yield self.dropped(key, "deleted", **meta)
            elif not record.key:
                yield self.dropped(key, "bad_identifier", **meta)
            elif key in seen:
                yield self.dropped(f"{key}#dup{index}", "duplicate_record", **meta)
            else:
                seen.add(key)
                name = f"{PAPERS_DIR}/{key}.pdf"
                yield self._paper(key, self.raw_dir / name, failures.get(name), meta)

    def _paper(self, key: str, pdf: Path, failure: dict[str, Any] | None,
               meta: dict[str, Any]) -> Document | Dropped:
        meta = {**meta, "url": ARCHIVE_URL.format(key=key)}
        if not pdf.is_file():
            reason = failure.get("reason", "failed") if failure else "not_fetched"
            extra = {"error": failure.get("error")} if failure else {}
            return self.dropped(key, reason, **meta, **extra)
        size = pdf.stat().st_size
        if size > self.max_record_bytes:
            return self.dropped(key, "too_large", record_bytes=size, **meta)
        with open(pdf, "rb") as fh:
            if not fh.read(1024).lstrip().startswith(b"%PDF-"):
                return self.dropped(key, "not_pdf", **meta)
        try:
            text = pdf_text(pdf, self.max_record_bytes)
        except PdfError as exc:
            message = str(exc)
            reason = ("too_large" if message.startswith("too_large") else
                      "pdf_encrypted" if message.startswith("encrypted") else "pdf_error")
            return self.dropped(key, reason, error=message, **meta)
        if len(text) <= MIN_CHARS:
            return self.dropped(key, "too_short", chars=len(text), **meta)
        return self.document(key, text, **meta)


__all__ = ["ARCHIVE_URL", "MIN_CHARS", "OAI_URL", "OaiPage", "OaiRecord", "PhilPapersSource",
           "parse_oai_page"]
