"""NIH ExPorter (the Pile's "NIH ExPorter" component): NIH grant application abstracts.

Upstream: NIH RePORTER's ExPORTER abstracts, one file per fiscal year:
``https://reporter.nih.gov/exporter/abstracts/download/<FY>`` answers with
``RePORTER_PRJABS_C_FY<FY>.zip``, a zip holding one CSV with the columns
``APPLICATION_ID,ABSTRACT_TEXT`` (abstracts span lines inside quotes).

Processing, as the Pile's script did, one abstract per document:

- dedup on ``APPLICATION_ID`` (``duplicate_id``), then on identical text after the
  steps below (``duplicate_text``), within each file; the same abstract repeated in
  another fiscal year is left to the corpus-wide MinHash dedup (an exact copy is far
  above its threshold);
- strip the leading boilerplate (``boilerplate_v1``: "DESCRIPTION (provided by
  applicant):", "Project Summary/Abstract", "PROJECT SUMMARY", "Abstract:", ...,
  case-insensitively, repeated ones too);
- collapse whitespace to single spaces.

Older files are not UTF-8: each line that is not valid UTF-8 is decoded with the named
``fallback_encoding`` (cp1252 by default, undecodable bytes replaced), and the
documents built from such lines say so in ``meta.encoding_fallback``. An empty abstract
is dropped (``no_abstract``). A damaged zip or malformed CSV fails the file with
`SourceError`. Ids are ``<source>/<APPLICATION_ID>``.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import re
from pathlib import Path
from typing import IO, Any, ClassVar, Iterator

from pile.config import SourceConfig
from pile.document import Document
from pile.errors import ConfigError, SourceError
from pile.sources.archive import archive_format, iter_archive
from pile.sources.base import RemoteFile, Source
from pile.sources.freelaw import allow_long_fields
from pile.sources.xmlsafe import open_compressed
from pile.stage import Dropped

DOWNLOAD_URL = "https://reporter.nih.gov/exporter/abstracts/download/{fy}"
FILE_NAME = "RePORTER_PRJABS_C_FY{fy}.zip"
# The long labels may stand alone ("PROJECT SUMMARY This project..."); a bare word
# ("Abstract", "Summary") is a label only with its colon, so prose is not cut.
BOILERPLATE_V1 = re.compile(
    r"^\s*(?:(?:description\s*\(provided\s+by\s+(?:the\s+)?(?:applicant|investigator)\)"
    r"|project\s+summary\s*/\s*abstract|project\s+summary|project\s+abstract)\s*[:.\-]?"
    r"|(?:abstract|description|summary)\s*[:.\-])\s*", re.IGNORECASE)


def strip_boilerplate(text: str) -> str:
    """Remove the leading boilerplate labels (``boilerplate_v1``), repeated ones too."""
    while True:
        stripped = BOILERPLATE_V1.sub("", text, count=1)
        if stripped == text:
            return text
        text = stripped


def clean_abstract(text: str) -> str:
    """Boilerplate stripped, whitespace collapsed (the Pile's NIH ExPorter processing)."""
    return " ".join(strip_boilerplate(" ".join(text.split())).split())


class _Lines:
    """Text lines of a binary stream: UTF-8, else the fallback encoding (counted)."""

    def __init__(self, fh: IO[bytes], fallback: str) -> None:
        self.fh = fh
        self.fallback = fallback
        self.fallback_lines = 0

    def __iter__(self) -> Iterator[str]:
        for raw in self.fh:
            try:
                yield raw.decode("utf-8-sig" if raw.startswith(codecs.BOM_UTF8) else "utf-8")
            except UnicodeDecodeError:
                self.fallback_lines += 1
                yield raw.decode(self.fallback, errors="replace")


class NihExporterSource(Source):
    """ExPORTER abstracts zips -> one cleaned abstract per application.

    Options:
        first_year / last_year: the fiscal years to download.
        fallback_encoding: how lines that are not UTF-8 are decoded.
    """

    kind: ClassVar[str] = "nih_exporter"
    pile_set_name: ClassVar[str] = "NIH ExPorter"
    license: ClassVar[str] = "US government work (NIH RePORTER ExPORTER data, public domain)"
    upstream: ClassVar[str] = ("reporter.nih.gov/exporter/abstracts/download/<FY> "
                               "(RePORTER_PRJABS_C_FY<FY>.zip, CSV)")
    options_schema: ClassVar[dict[str, Any]] = {
        "first_year": 1985, "last_year": 2024, "fallback_encoding": "cp1252"}

    def __init__(self, cfg: SourceConfig, raw_dir: Path) -> None:
        super().__init__(cfg, raw_dir)
        field = f"sources.{self.name}.options"
        for key in ("first_year", "last_year"):
            value = self.options[key]
            if not isinstance(value, int) or isinstance(value, bool) or not 1970 <= value <= 2100:
                raise ConfigError(f"{field}.{key}: expected a fiscal year, got {value!r}")
        if self.options["first_year"] > self.options["last_year"]:
            raise ConfigError(f"{field}.first_year: must not exceed last_year "
                              f"({self.options['last_year']}), got {self.options['first_year']}")
        try:
            codecs.lookup(self.options["fallback_encoding"])
        except (LookupError, TypeError):
            raise ConfigError(f"{field}.fallback_encoding: unknown encoding "
                              f"{self.options['fallback_encoding']!r}") from None

    def list_files(self) -> list[RemoteFile]:
        """One zip per fiscal year (no published checksum)."""
        if self.cfg.urls:
            return super().list_files()
        return [RemoteFile(url=DOWNLOAD_URL.format(fy=fy), name=FILE_NAME.format(fy=fy))
                for fy in range(self.options["first_year"], self.options["last_year"] + 1)]

    def read(self, path: Path) -> Iterator[Document | Dropped]:
        """A year's zip (or its bare CSV) -> abstract documents.

        Raises:
            SourceError: a damaged zip, a CSV without the two columns, malformed CSV.
        """
        path = Path(path)
        if archive_format(path) is not None:
            for member, fh in iter_archive(path):
                if member.lower().endswith(".csv"):
                    yield from self._csv(f"{path}:{member}", fh)
            return
        with open_compressed(path) as fh:
            yield from self._csv(str(path), fh)

    def _csv(self, label: str, fh: IO[bytes]) -> Iterator[Document | Dropped]:
        allow_long_fields(self.max_record_bytes)
        lines = _Lines(fh, self.options["fallback_encoding"])
        reader = csv.reader(iter(lines), strict=True)
        seen_ids: set[str] = set()
        seen_texts: set[bytes] = set()
        try:
            header = [h.strip().upper() for h in next(reader, [])]
            if "APPLICATION_ID" not in header or "ABSTRACT_TEXT" not in header:
                raise SourceError(f"{label}: not an ExPORTER abstracts CSV (expected the "
                                  f"columns APPLICATION_ID,ABSTRACT_TEXT, got {header[:5]})")
            id_col, text_col = header.index("APPLICATION_ID"), header.index("ABSTRACT_TEXT")
            row_no = 0
            while True:
                before = lines.fallback_lines
                row = next(reader, None)
                if row is None:
                    break
                row_no += 1
                if len(row) <= max(id_col, text_col):
                    yield self.dropped(f"{Path(label).name}#row{row_no}", "wrong_field_count")
                    continue
                if sum(map(len, row)) > self.max_record_bytes:
                    yield self.dropped(f"{Path(label).name}#row{row_no}", "too_large",
                                       record_chars=sum(map(len, row)))
                    continue
                app_id = row[id_col].strip() or f"{Path(label).name}#row{row_no}"
                meta: dict[str, Any] = {"application_id": app_id}
                if lines.fallback_lines > before:
                    meta["encoding_fallback"] = self.options["fallback_encoding"]
                if app_id in seen_ids:
                    yield self.dropped(f"{app_id}#dup{row_no}", "duplicate_id", **meta)
                    continue
                seen_ids.add(app_id)
                text = clean_abstract(row[text_col])
                if not text:
                    yield self.dropped(app_id, "no_abstract", **meta)
                    continue
                digest = hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()
                if digest in seen_texts:
                    yield self.dropped(app_id, "duplicate_text", **meta)
                    continue
                seen_texts.add(digest)
                yield self.document(app_id, text, **meta)
        except csv.Error as exc:
            raise SourceError(f"{label}: malformed CSV: {exc}") from None


__all__ = ["BOILERPLATE_V1", "NihExporterSource", "clean_abstract", "strip_boilerplate"]
