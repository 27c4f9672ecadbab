"""Project Gutenberg books (the Pile's "Gutenberg (PG-19)" component).

The Pile took its books from PG-19 (Rae et al. 2019, "Compressive Transformers"): Project
Gutenberg books published before 1919, with Project Gutenberg's licence header and
footer removed. This module reads both PG-19 files (already stripped: kept as they are)
and raw gutenberg.org plain-text files, whose header and footer it strips itself:

- modern files (2000s on): the book lies between ``*** START OF THE PROJECT GUTENBERG
  EBOOK ...***`` and ``*** END OF THE PROJECT GUTENBERG EBOOK ...***`` (with or without
  spaces after the stars, "THIS" for "THE");
- pre-2000 etexts: the header ends with the "small print" block
  (``*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*...``) and the footer starts at
  ``End of [the] Project Gutenberg Etext ...``.

A transcriber's credit right after the header ("Produced by ...", "This etext was
produced from ...") is removed too, as PG-19 did. CRLF line ends become LF.

Upstream listing (`list_files`): with the ``ebooks`` option, those book numbers from
gutenberg.org's cache (``/cache/epub/<n>/pg<n>.txt``); otherwise PG-19's ``split``
from its public bucket. The bucket is listed through the Google Cloud Storage JSON API
in pages of 1000 objects: `list_files` first returns the listing page(s), and once a page
is downloaded under ``raw/<source>/_listing/`` it also returns the books and the next
page it names, so the downloader repeats ``list_files`` until the list stops growing.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from pathlib import Path
from typing import Any, Iterator

from pile.config import SourceConfig
from pile.document import Document
from pile.errors import ConfigError, SourceError
from pile.sources.base import RemoteFile, Source
from pile.stage import Dropped

PG19_BUCKET = "deepmind-gutenberg"
PG19_LISTING = "https://storage.googleapis.com/storage/v1/b/{bucket}/o"
PG19_OBJECT = "https://storage.googleapis.com/{bucket}/{name}"
GUTENBERG_EBOOK = "https://www.gutenberg.org/cache/epub/{n}/pg{n}.txt"
LISTING_DIR = "_listing"

_START_RE = re.compile(
    r"^\s*\*{3}\s*START OF (?:THE|THIS) PROJECT GUTENBERG E-?(?:BOOK|TEXT)[^\n]*$",
    re.IGNORECASE | re.MULTILINE)
_END_RE = re.compile(
    r"^\s*\*{3}\s*END OF (?:THE|THIS) PROJECT GUTENBERG E-?(?:BOOK|TEXT)[^\n]*$",
    re.IGNORECASE | re.MULTILINE)
# "*END*THE SMALL PRINT! FOR PUBLIC DOMAIN ETEXTS*Ver.04.29.93*END*" and its variants.
_SMALL_PRINT_END_RE = re.compile(r"^\s*\*+\s*END\s*\*?\s*THE SMALL PRINT[^\n]*$",
                                 re.IGNORECASE | re.MULTILINE)
_OLD_FOOTER_RE = re.compile(
    r"^\s*(?:\*+\s*)?End of (?:the |this )?Project Gutenberg(?:'s)?\s+(?:E-?text|E-?book|Edition)[^\n]*$",
    re.IGNORECASE | re.MULTILINE)
_CREDIT_RE = re.compile(
    r"^\s*(?:Produced by|This (?:e-?text|e-?book) was (?:produced|prepared|transcribed)|"
    r"Transcribed from|E-?text prepared by|Prepared by)\b",
    re.IGNORECASE)
_EBOOK_NO_RE = re.compile(r"\[(?:E-?book|E-?text)\s*#\s*(\d+)\]", re.IGNORECASE)
_TITLE_RE = re.compile(r"^Title:\s*(.+)$", re.MULTILINE)
_CHARSET_RE = re.compile(r"^Character set encoding:\s*(.+)$", re.IGNORECASE | re.MULTILINE)
_FILE_KEY_RE = re.compile(r"^(?:pg)?(\d+)(?:-\d+)?$")


def decode_book(data: bytes) -> str | None:
    """Decode a book: UTF-8, or the 8-bit charset its header declares; None if undecodable.

    Old PG files are often ISO-8859-1 and say so in a ``Character set encoding:`` line;
    a file that declares nothing or UTF-8/ASCII and is not valid UTF-8 is corrupt.
    """
    head = data[:8192].decode("latin-1")
    match = _CHARSET_RE.search(head)
    declared = match.group(1).strip().lower() if match else ""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    for name, codec in (("8859-1", "latin-1"), ("latin-1", "latin-1"), ("latin1", "latin-1"),
                        ("1252", "cp1252"), ("8859-15", "iso8859-15")):
        if name in declared:
            return data.decode(codec, errors="replace")
    return None


def strip_headers(text: str) -> tuple[str, str]:
    """Remove Project Gutenberg's licence header and footer from a book.

    Args:
        text: the whole file, LF line ends.

    Returns:
        ``(body, format)`` where format is ``"modern"``, ``"etext"`` (pre-2000 small
        print) or ``"none"`` (no marker found: the text is returned unchanged apart from
        surrounding blank lines, as for PG-19's already stripped files).
    """
    fmt = "none"
    start = 0
    match = _START_RE.search(text)
    if match:
        fmt, start = "modern", match.end()
    else:
        match = _SMALL_PRINT_END_RE.search(text)
        if match:
            fmt, start = "etext", match.end()
    end = len(text)
    for pattern in (_END_RE, _OLD_FOOTER_RE):
        found = pattern.search(text, start)
        if found:
            end = min(end, found.start())
            if fmt == "none":
                fmt = "modern" if pattern is _END_RE else "etext"
    body = text[start:end].strip("\n")
    if fmt != "none":
        body = _drop_credit(body)
    return body.strip() + "\n" if body.strip() else "", fmt


def _drop_credit(body: str) -> str:
    """Drop a leading transcriber credit paragraph ("Produced by ...")."""
    stripped = body.lstrip("\n ")
    if _CREDIT_RE.match(stripped):
        cut = stripped.find("\n\n")
        return stripped[cut:] if cut >= 0 else ""
    return body


def ebook_key(path: Path) -> str:
    """The stable key of a book file: its PG number when the name carries it.

    ``pg3261.txt``, ``3261.txt``, ``3261-0.txt`` -> ``3261``; other names (old etext
    names like ``nwsnw10.txt``) keep their stem, so two editions never share an id.
    """
    stem = path.name.split(".", 1)[0]
    match = _FILE_KEY_RE.match(stem)
    return match.group(1) if match else stem


class GutenbergSource(Source):
    """Project Gutenberg / PG-19 books, one document per book."""

    kind = "gutenberg"
    pile_set_name = "Gutenberg (PG-19)"
    license = "Public domain in the USA (Project Gutenberg; check your country's copyright law)"
    upstream = "PG-19 (storage.googleapis.com/deepmind-gutenberg) or gutenberg.org plain-text books"
    options_schema: dict[str, Any] = {
        "split": "train",     # PG-19 split: train, validation or test
        "ebooks": [],         # gutenberg.org book numbers instead of PG-19
        "min_chars": 1000,    # books shorter than this after stripping are dropped
    }

    def __init__(self, cfg: SourceConfig, raw_dir: Path) -> None:
        super().__init__(cfg, raw_dir)
        if self.options["split"] not in ("train", "validation", "test"):
            raise ConfigError(f"sources.{self.name}.options.split: expected train, validation or "
                              f"test, got {self.options['split']!r}")
        ebooks = self.options["ebooks"]
        if not isinstance(ebooks, (list, tuple)) or not all(
                isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in ebooks):
            raise ConfigError(f"sources.{self.name}.options.ebooks: expected a list of positive "
                              f"book numbers, got {ebooks!r}")

    def list_files(self) -> list[RemoteFile]:
        """The books to download (see the module docstring for the two-step PG-19 listing)."""
        if self.cfg.urls:
            return super().list_files()
        if self.options["ebooks"]:
            return [RemoteFile(url=GUTENBERG_EBOOK.format(n=n), name=f"pg{n}.txt")
                    for n in self.options["ebooks"]]
        return self._pg19_files()

    def _listing_url(self, token: str | None) -> str:
        query = {"prefix": f"{self.options['split']}/", "maxResults": "1000",
                 "fields": "items(name,size),nextPageToken"}
        if token:
            query["pageToken"] = token
        return PG19_LISTING.format(bucket=PG19_BUCKET) + "?" + urllib.parse.urlencode(query)

    def _pg19_files(self) -> list[RemoteFile]:
        files: list[RemoteFile] = []
        token: str | None = None
        for page in range(10_000):
            listing = RemoteFile(url=self._listing_url(token),
                                 name=f"{LISTING_DIR}/{self.options['split']}-{page:04d}.json")
            files.append(listing)
            local = self.raw_dir / listing.name
            if not local.is_file():
                break
            try:
                data = json.loads(local.read_text("utf-8"))
            except (OSError, ValueError) as exc:
                raise SourceError(f"{local}: expected a GCS JSON listing, got unreadable JSON ({exc})") from None
            for item in data.get("items", []):
                name = item.get("name", "")
                if name.endswith(".txt"):
                    size = int(item["size"]) if str(item.get("size", "")).isdigit() else None
                    files.append(RemoteFile(url=PG19_OBJECT.format(bucket=PG19_BUCKET, name=name),
                                            name=name, size=size))
            token = data.get("nextPageToken")
            if not token:
                break
        return files

    def inputs(self) -> list[Path]:
        """The downloaded books (the listing pages are not books)."""
        return [p for p in super().inputs() if LISTING_DIR not in p.parts and p.suffix == ".txt"]

    def read(self, path: Path) -> Iterator[Document | Dropped]:
        """One book file -> one document (or a Dropped with the reason).

        Raises:
            SourceError: the file cannot be read.
        """
        path = Path(path)
        key = ebook_key(path)
        data = self.read_file(path, key, file=self.key_for(path))
        if isinstance(data, Dropped):
            yield data
            return
        text = decode_book(data)
        if text is None:
            yield self.dropped(key, "invalid_utf8", file=self.key_for(path))
            return
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        head = text[:10_000]
        meta: dict[str, Any] = {"file": self.key_for(path)}
        number = _EBOOK_NO_RE.search(head)
        if number:
            meta["ebook"] = int(number.group(1))
        elif key.isdigit():
            meta["ebook"] = int(key)
        title = _TITLE_RE.search(head)
        if title:
            meta["title"] = title.group(1).strip()
        body, fmt = strip_headers(text)
        meta["header_format"] = fmt
        if len(body) < self.options["min_chars"]:
            yield self.dropped(key, "too_short", **meta)
            return
        yield self.document(key, body, **meta)
