"""Common Crawl web pages (the Pile's "Pile-CC" component).

Follows the Pile (Gao et al. 2020, section 2 and appendix: Pile-CC): raw WARC files
rather than Common Crawl's own WET text, with the main text of each HTML page extracted
and boilerplate (menus, footers, link lists) removed. The Pile used jusText (Pomikálek
2011); that recipe is ``extractor: justext_v1``. The default is ``resiliparse_v1``
(Resiliparse's main-content extraction): on the real Common Crawl captures of the test
data jusText keeps nothing, even with ``stoplist: none`` (short pages: its paragraph
length and context rules class every paragraph as boilerplate), while Resiliparse keeps
the article, runs 6-13x faster than jusText and keeps about as much text as jusText and
trafilatura on long pages (``benchmarks/bench_extract.py``). English only, which the
Pile also required, is the cleaning stage's job (`pile.clean`), not this module's; for
jusText, option ``stoplist: none`` runs it language-independently.

Per WARC record:

- ``response`` with an HTML (or unlabelled) HTTP body and status 200 -> the page's main
  text via ``extractor``: ``resiliparse_v1`` (default), ``justext_v1`` (the Pile's own
  recipe: ``extractor: justext_v1``) or ``trafilatura_v1``; non-HTML bodies
  are dropped as ``not_html``, other statuses as ``http_status``, bodies over
  ``max_html_bytes`` as ``too_large``, pages with no main text as ``no_main_text``;
- ``conversion`` (WET files) -> the text as Common Crawl extracted it (``invalid_utf8``
  when it is not UTF-8, which WET text always is);
- ``warcinfo``, ``request``, ``revisit``, ``metadata`` (and WAT files) carry no page text
  and are skipped (they are not documents).

Ids are ``<source>/<WARC-Record-ID uuid>``; ``meta`` has the URL, the capture date and,
for WET records, Common Crawl's language guess. A truncated or corrupt file yields the
records before the damage and then fails with `SourceError`.

A record-gzipped file (each record its own gzip member, as Common Crawl writes them) larger
than a unit is read as several units (`spans`): each owns the records whose member starts
in its byte range, found from any offset by the next gzip header that inflates to
``WARC/``; a plain ``.warc`` is read whole.

Upstream listing: ``data.commoncrawl.org/crawl-data/<crawl>/warc.paths.gz`` (or
``wet.paths.gz``) names the crawl's ~90,000 files. `list_files` first returns that
listing (stored under ``raw/<source>/_listing/``); once it is downloaded, it also returns
``segments`` files from ``first`` on, so the downloader repeats ``list_files`` until the
list stops growing.
"""

from __future__ import annotations

import gzip
import logging
import re
import zlib
from pathlib import Path
from typing import Any, Iterator

from pile.config import SourceConfig
from pile.document import Document
from pile.errors import ConfigError, SourceError
from pile.sources.archive import refuse_empty
from pile.sources.base import END_OF_FILE, RemoteFile, Source, even_spans
from pile.stage import Dropped

log = logging.getLogger(__name__)

BASE = "https://data.commoncrawl.org/"
LISTING_DIR = "_listing"
_CRAWL_RE = re.compile(r"^CC-MAIN-\d{4}-\d{2}$")
_CHARSET_RE = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", re.IGNORECASE)
_HTML_TYPES = ("text/html", "application/xhtml+xml", "")
_UUID_RE = re.compile(r"^<?(?:urn:uuid:)?([^<>]+)>?$")


def _record_key(record_id: str) -> str:
    match = _UUID_RE.match(record_id.strip())
    return match.group(1) if match else record_id.strip()


def justext_main_text(html: bytes, stoplist: frozenset[str], encoding: str | None) -> str:
    """The non-boilerplate paragraphs of a page, as jusText classifies them (Pile-CC)."""
    import justext

    kwargs: dict[str, Any] = {"encoding": encoding} if encoding else {}
    if not stoplist:
        # Language-independent mode (jusText's documented setting for unknown languages).
        kwargs.update(stopwords_low=0.0, stopwords_high=0.0)
    paragraphs = justext.justext(html, stoplist, **kwargs)
    return "\n".join(p.text for p in paragraphs if not p.is_boilerplate)


def trafilatura_main_text(html: bytes, encoding: str | None) -> str:
    """The main text of a page according to trafilatura (an alternative extractor)."""
    import trafilatura

    text = html.decode(encoding or "utf-8", errors="replace")
    return trafilatura.extract(text, include_comments=False, include_tables=False,
                               deduplicate=False) or ""


def resiliparse_main_text(html: bytes, encoding: str | None) -> str:
    """The main text of a page according to Resiliparse (Bevendorff et al. 2018), the
    extractor of the ChatNoir web search engine: a rule-based DOM pass in C++ that drops
    navigation, headers, footers and other boilerplate elements."""
    from resiliparse.extract.html2text import extract_plain_text
    from resiliparse.parse.encoding import detect_encoding
    from resiliparse.parse.html import HTMLTree

    tree = HTMLTree.parse_from_bytes(html, encoding or detect_encoding(html))
    return extract_plain_text(tree, main_content=True, alt_texts=False, links=False,
                              form_fields=False, noscript=False, comments=False)


# Extractor names carry a version (a changed behaviour gets a new name); the unversioned
# names of the first release mean their ``_v1``.
EXTRACTORS: dict[str, str] = {
    "justext_v1": "justext", "trafilatura_v1": "trafilatura", "resiliparse_v1": "resiliparse",
    "justext": "justext", "trafilatura": "trafilatura",
}


class CommonCrawlSource(Source):
    """Common Crawl WARC (or WET) files -> one main-text document per page."""

    kind = "commoncrawl"
    pile_set_name = "Pile-CC"
    license = "Common Crawl Terms of Use; page text copyright of its owners (fair-use research corpora)"
    upstream = "https://data.commoncrawl.org/crawl-data/<crawl>/warc.paths.gz"
    options_schema: dict[str, Any] = {
        "crawl": "CC-MAIN-2024-22",   # crawl id
        "format": "warc",             # warc (Pile-CC: jusText on raw HTML) or wet
        "first": 0,                   # first listed file to take
        "segments": 1,                # how many files of the listing to take
        # resiliparse_v1 (default), justext_v1 (the Pile-CC recipe) or trafilatura_v1
        "extractor": "resiliparse_v1",
        "stoplist": "English",        # jusText stop list; "none": language independent
        "max_html_bytes": 5_000_000,  # larger HTML bodies are dropped (too_large)
    }

    def __init__(self, cfg: SourceConfig, raw_dir: Path) -> None:
        super().__init__(cfg, raw_dir)
        field = f"sources.{self.name}.options"
        opts = self.options
        if not isinstance(opts["crawl"], str) or not _CRAWL_RE.match(opts["crawl"]):
            raise ConfigError(f"{field}.crawl: expected a crawl id like CC-MAIN-2024-22, got {opts['crawl']!r}")
        if opts["format"] not in ("warc", "wet"):
            raise ConfigError(f"{field}.format: expected warc or wet, got {opts['format']!r}")
        if opts["extractor"] not in EXTRACTORS:
            raise ConfigError(f"{field}.extractor: expected one of {', '.join(sorted(EXTRACTORS))}, "
                              f"got {opts['extractor']!r}")
        for key in ("first", "segments", "max_html_bytes"):
            value = opts[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < (0 if key == "first" else 1):
                raise ConfigError(f"{field}.{key}: expected an integer >= {0 if key == 'first' else 1}, "
                                  f"got {value!r}")
        if opts["stoplist"] != "none":
            import justext

            if opts["stoplist"] not in justext.get_stoplists():
                raise ConfigError(f"{field}.stoplist: expected a jusText stop list (English, German, "
                                  f"...) or none, got {opts['stoplist']!r}")
        self._stoplist: frozenset[str] | None = None

    # -- listing ---------------------------------------------------------------------------

    def list_files(self) -> list[RemoteFile]:
        """The crawl's path listing, then ``segments`` files from it once it is downloaded."""
        if self.cfg.urls:
            return super().list_files()
        crawl, fmt = self.options["crawl"], self.options["format"]
        listing = RemoteFile(url=f"{BASE}crawl-data/{crawl}/{fmt}.paths.gz",
                             name=f"{LISTING_DIR}/{crawl}-{fmt}.paths.gz")
        files = [listing]
        local = self.raw_dir / listing.name
        if local.is_file():
            first, count = self.options["first"], self.options["segments"]
            try:
                with gzip.open(local, "rt", encoding="utf-8") as fh:
                    for index, line in enumerate(fh):
                        if index >= first + count:
                            break
                        path = line.strip()
                        if index >= first and path:
                            files.append(RemoteFile(url=BASE + path, name=path))
            except (OSError, EOFError, zlib.error, UnicodeDecodeError) as exc:
                raise SourceError(f"{local}: expected a gzipped list of crawl paths ({exc})") from None
        return files

    def inputs(self) -> list[Path]:
        """The downloaded WARC/WET files (not the listing)."""
        return [p for p in super().inputs() if LISTING_DIR not in p.parts]

    # -- extraction ------------------------------------------------------------------------

    def _stop(self) -> frozenset[str]:
        if self._stoplist is None:
            import justext

            name = self.options["stoplist"]
            self._stoplist = frozenset() if name == "none" else justext.get_stoplist(name)
        return self._stoplist

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_stoplist"] = None  # rebuilt on use; keeps pickles small
        return state

    def read(self, path: Path) -> Iterator[Document | Dropped]:
        """One WARC/WET file (gzipped per record, or plain) -> documents.

        Raises:
            SourceError: the file cannot be opened, or is truncated/corrupt (after the
                records before the damage).
        """
        yield from self._read_records(Path(path), 0, END_OF_FILE)

    def spans(self, path: Path, target: int) -> list[tuple[int, int]] | None:
        """Byte ranges of a record-gzipped file (every record its own gzip member, as
        Common Crawl writes them): a range owns the records whose member starts in it,
        found from any offset (`_next_member`). A plain ``.warc`` is read whole: its
        record headers cannot be told from page text that quotes one."""
        path = Path(path)
        size = path.stat().st_size
        if size <= target:
            return None
        with open(path, "rb") as fh:
            if fh.read(2) != b"\x1f\x8b":
                return None
        return even_spans(size, target)

    def read_span(self, path: Path, span: tuple[int, int]) -> Iterator[Document | Dropped]:
        """The records whose gzip member starts inside `span`; ids are WARC record ids,
        so the spans of a file give exactly the documents of a whole read, in order."""
        path = Path(path)
        start, end = span
        if start == 0:
            yield from self._read_records(path, 0, end)
            return
        try:
            with open(path, "rb") as fh:
                first = _next_member(fh, start)
        except OSError as exc:
            raise SourceError(f"{path}: cannot open ({exc.strerror or exc})") from None
        if first is not None and first < end:
            yield from self._read_records(path, first, end)

    def _read_records(self, path: Path, first: int, end: int) -> Iterator[Document | Dropped]:
        """Records from byte `first` (a record's start) while they start before `end`."""
        from warcio.archiveiterator import ArchiveIterator
        from warcio.exceptions import ArchiveLoadFailed

        refuse_empty(path, "WARC")
        try:
            fh = open(path, "rb")
        except OSError as exc:
            raise SourceError(f"{path}: cannot open ({exc.strerror or exc})") from None
        warc_file = path.name
        with fh:
            fh.seek(first)
            checked = _GzipCheck(fh) if fh.read(2) == b"\x1f\x8b" else None
            fh.seek(first)
            # Each record's result is held back until the next record starts, so a record
            # cut short by a truncated file is never handed out.
            pending: Document | Dropped | None = None
            stopped = False
            try:
                records = ArchiveIterator(checked or fh)
                for record in records:
                    # `offset`: the file offset where this record starts (warcio sets it
                    # when it finishes the previous one; not `get_record_offset`, which
                    # reads the record to its end).
                    if records.offset >= end:
                        stopped = True  # the next range's first record: complete before it
                        break
                    out = self._record(record, warc_file)
                    _check_complete(record, path)
                    if pending is not None:
                        yield pending
                    pending = out
            except ArchiveLoadFailed as exc:
                raise SourceError(f"{path}: not a readable WARC file ({str(exc).splitlines()[0]})") from None
            except (EOFError, zlib.error, OSError, ValueError) as exc:
                raise SourceError(f"{path}: truncated or corrupt WARC data ({exc or type(exc).__name__})") from None
            if not stopped and checked is not None and checked.truncated():
                raise SourceError(f"{path}: truncated gzip data (the file ends inside a record)")
            if pending is not None:
                yield pending

    def _record(self, record: Any, warc_file: str) -> Document | Dropped | None:
        headers = record.rec_headers
        kind = record.rec_type
        if kind not in ("response", "conversion"):
            return None
        key = _record_key(headers.get_header("WARC-Record-ID") or "")
        meta: dict[str, Any] = {"url": headers.get_header("WARC-Target-URI"),
                                "date": headers.get_header("WARC-Date"), "warc": warc_file}
        if kind == "conversion":
            language = headers.get_header("WARC-Identified-Content-Language")
            if language:
                meta["cc_language"] = language
            data = self.read_record(record.content_stream(), key, **meta)
            if isinstance(data, Dropped):
                return data
            try:
                text = data.decode("utf-8").strip()  # WET text is always UTF-8
            except UnicodeDecodeError:
                return self.dropped(key, "invalid_utf8", **meta)
            if not text:
                return self.dropped(key, "empty", **meta)
            return self.document(key, text + "\n", **meta)
        http = record.http_headers
        if http is None:
            return self.dropped(key, "not_http", **meta)
        status = http.get_statuscode()
        if status != "200":
            return self.dropped(key, "http_status", status=status, **meta)
        content_type = (http.get_header("Content-Type") or "").lower()
        if content_type.split(";", 1)[0].strip() not in _HTML_TYPES:
            return self.dropped(key, "not_html", content_type=content_type[:100], **meta)
        limit = min(self.options["max_html_bytes"], self.max_record_bytes)
        body = record.content_stream().read(limit + 1)
        if len(body) > limit:
            return self.dropped(key, "too_large", **meta)  # the rest: `_check_complete`
        charset = _CHARSET_RE.search(content_type)
        encoding = charset.group(1) if charset else None
        try:
            if encoding:
                "".encode(encoding)  # an unknown charset name: let the extractor guess
        except LookupError:
            encoding = None
        try:
            extractor = EXTRACTORS[self.options["extractor"]]
            if extractor == "justext":
                text = justext_main_text(body, self._stop(), encoding)
            elif extractor == "resiliparse":
                text = resiliparse_main_text(body, encoding)
            else:
                text = trafilatura_main_text(body, encoding)
        except Exception as exc:  # every extractor raises on some malformed pages
            return self.dropped(key, "extract_error", detail=f"{type(exc).__name__}: {exc}"[:200], **meta)
        text = text.strip()
        if not text:
            return self.dropped(key, "no_main_text", **meta)
        return self.document(key, text + "\n", **meta)


def _check_complete(record: Any, path: Path) -> None:
    """Read what the parser left of `record` and check that it had all the bytes its
    ``Content-Length`` announces.

    warcio stops quietly at the end of a plain ``.warc`` cut inside a record, handing
    out a shortened body (the page's navigation, without its text); the gzip check below
    only covers record-gzipped files. warcio bounds each record's stream by its
    ``Content-Length`` (`LimitReader`), so bytes left to read after the stream ran dry
    mean the file ended inside the record.

    Raises:
        SourceError: the record is short (the file fails from this record on).
    """
    stream = record.raw_stream
    while stream.read(1 << 16):
        pass
    missing = getattr(stream, "limit", 0)
    if missing > 0:
        length = record.rec_headers.get_header("Content-Length")
        rid = _record_key(record.rec_headers.get_header("WARC-Record-ID") or "?")
        raise SourceError(f"{path}: truncated: record {rid} ends {missing} bytes before its "
                          f"Content-Length of {length}")


def _next_member(fh: Any, start: int, chunk: int = 1 << 16) -> int | None:
    """The offset of the first gzip member at or after `start` that holds a WARC record,
    or None. A candidate is a gzip header (``1f 8b 08``) whose member inflates to text
    starting ``WARC/``: those bytes inside compressed data would also have to form a valid
    deflate stream that begins with a WARC version line, which real data does not."""
    pos = start
    fh.seek(pos)
    buf = fh.read(chunk)
    while len(buf) >= 3:
        at = buf.find(b"\x1f\x8b\x08")
        if at < 0:
            pos += len(buf) - 2  # a header may straddle the chunk boundary
            fh.seek(pos)
            buf = fh.read(chunk)
            continue
        if _starts_warc_member(fh, pos + at):
            return pos + at
        pos += at + 1
        fh.seek(pos)
        buf = fh.read(chunk)
    return None


def _starts_warc_member(fh: Any, offset: int) -> bool:
    inflate = zlib.decompressobj(31)
    fh.seek(offset)
    out = b""
    try:
        while len(out) < 6:
            data = fh.read(1 << 12)
            if not data:
                break
            out += inflate.decompress(data, 64)
            if inflate.eof:
                break
    except zlib.error:
        return False
    return out.startswith(b"WARC/")


class _GzipCheck:
    """A pass-through reader that checks the gzip members warcio reads are complete.

    warcio stops quietly at a cut in a record-gzipped file, handing out a shortened last
    record; this wrapper decompresses the same bytes on the side (output discarded) and
    tells, at the end, whether the file stopped inside a gzip member.
    """

    def __init__(self, raw: Any) -> None:
        self._raw = raw
        self._inflate = zlib.decompressobj(31)
        self._fed = False

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self._feed(data)
        return data

    def readline(self, size: int = -1) -> bytes:
        data = self._raw.readline(size)
        self._feed(data)
        return data

    def tell(self) -> int:
        return self._raw.tell()

    def _feed(self, data: bytes) -> None:
        while data:
            self._fed = True
            self._inflate.decompress(data, 1 << 20)
            while self._inflate.unconsumed_tail:  # bounded output; we only need the state
                self._inflate.decompress(self._inflate.unconsumed_tail, 1 << 20)
            if not self._inflate.eof:
                return
            data = self._inflate.unused_data
            self._inflate = zlib.decompressobj(31)
            self._fed = False

    def truncated(self) -> bool:
        """True when the bytes read so far end inside a gzip member."""
        return self._fed and not self._inflate.eof
