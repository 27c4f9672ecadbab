"""FreeLaw (the Pile's "FreeLaw" component): court opinions from CourtListener bulk data.

Upstream: the Free Law Project's CourtListener bulk files,
``https://com-courtlistener-storage.s3-us-west-2.amazonaws.com/bulk-data/opinions-<date>.csv.bz2``:
full snapshots of the ``search_opinion`` table written by PostgreSQL ``COPY ... CSV
HEADER``, tens of GB each. They are streamed through bz2 and ``csv`` record by record;
fields may span many lines.

The CSV dialect changed over time (``dialect`` option; ``auto`` decides per file):

- ``plain`` (2023-06): ``"`` quotes where needed, doubled inside a field;
- ``quote_all`` (2023-09): every field quoted with ``"`` (read as ``plain``);
- ``backtick`` (2024-08 to 2025-01): `````` ` `````` as the quote character, doubled inside;
- ``backslash`` (since 2025-01): `````` ` `````` quotes, and ``\\`` escapes the quote and
  itself inside a field (read with ``escapechar='\\\\'``, ``doublequote=False``).

``auto`` looks at the first data record: a leading `````` ` `````` means the backtick family,
and then the dump's date in its file name picks ``backtick`` (before 2025-01-01) or
``backslash`` (from then, and when the name has no date); anything else is read as
``plain``.

No whole-field limit breaks a long opinion: the csv module's field limit is raised to
``run.max_record_bytes`` (or the source's own ``max_record_bytes``), counted in
characters. A record whose fields add up to more is dropped (``too_large``); a single
field longer than the limit cannot be skipped by the csv parser, so it fails the file
with that reason, as does malformed CSV or invalid UTF-8.

Text (``text_rule`` option, named behaviours):

- ``pile_v1``: the Pile's rule, the *last* non-empty field of ``plain_text``, ``html``,
  ``html_lawbox``;
- ``courtlistener_v1`` (default): the *first* non-empty field of ``html_with_citations``
  (CourtListener's own best rendering, built from the best source it has),
  ``html_columbia``, ``html_lawbox``, ``xml_harvard`` (curated editions),
  ``html_anon_2020``, ``html`` (scraped from court sites), ``plain_text`` (extracted from
  PDFs, the most OCR noise).

HTML and XML fields become text. Records whose text is CourtListener's placeholder
"Unable to extract the content..." are dropped (``unable_to_extract``), records with no
text at all ``no_text``. Ids are ``<source>/<opinion id>``; ``meta.text_field`` names
the field used.

Courts (``courts: true``): the opinions dump has no court column. CourtListener's
clusters and dockets dumps of the same date (``opinion-clusters-<date>.csv.bz2``,
``dockets-<date>.csv.bz2``; with local ``paths`` recognised by those names) link an
opinion to its court: ``opinions.cluster_id`` -> ``opinion-clusters.id``,
``opinion-clusters.docket_id`` -> ``dockets.id``, ``dockets.court_id``. Those dumps are
tens of GB, so the join is an on-disk SQLite index (`CourtIndex`, in
``raw/<source>/.courts-<hash>.sqlite``) of cluster id -> docket id and docket id ->
court id, built once, streaming, by the first worker that reads an opinions dump (a
temporary name, then a rename: a second builder only repeats the same work), and looked
up per opinion; memory stays at SQLite's page cache whatever the dumps' size. It fills
``meta.court_id`` (and ``meta.docket_id``); an opinion whose cluster or docket is not in
the dumps has neither. A damaged clusters or dockets dump fails the opinions file that
needed it, naming the damaged dump.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import os
import re
import sqlite3
import sys
from pathlib import Path
from typing import Any, ClassVar, Iterator

from pile.config import SourceConfig
from pile.document import Document
from pile.errors import ConfigError, SourceError
from pile.sources.base import RemoteFile, Source
from pile.sources.stackexchange import html_to_text
from pile.sources.xmlsafe import open_compressed
from pile.stage import Dropped

log = logging.getLogger(__name__)

BULK_URL = ("https://com-courtlistener-storage.s3-us-west-2.amazonaws.com/bulk-data/"
            "opinions-{date}.csv.bz2")
CLUSTERS_PREFIX = "opinion-clusters-"
DOCKETS_PREFIX = "dockets-"

DIALECTS: dict[str, dict[str, Any]] = {
    "plain": {"quotechar": '"', "doublequote": True},
    "quote_all": {"quotechar": '"', "doublequote": True},
    "backtick": {"quotechar": "`", "doublequote": True},
    "backslash": {"quotechar": "`", "doublequote": False, "escapechar": "\\"},
}
BACKSLASH_SINCE = "2025-01-01"

TEXT_RULES: dict[str, tuple[str, tuple[str, ...]]] = {
    # rule: ("first" | "last" non-empty wins, fields in order)
    "pile_v1": ("last", ("plain_text", "html", "html_lawbox")),
    "courtlistener_v1": ("first", ("html_with_citations", "html_columbia", "html_lawbox",
                                   "xml_harvard", "html_anon_2020", "html", "plain_text")),
}
UNABLE_PREFIX = "unable to extract the content"
_DATE_RE = re.compile(r"(\d{4}-\d{2}-\d{2})")
_DATE_OPTION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def allow_long_fields(limit: int) -> None:
    """Raise the csv module's per-field limit (128 KiB by default) to `limit` characters,
    so a long opinion or abstract is read whole. The limit is process-wide, so it is only
    ever raised (a source with a smaller one checks its records itself)."""
    if csv.field_size_limit() < limit:
        csv.field_size_limit(min(limit, sys.maxsize))


def dialect_for(first_bytes: bytes, filename: str) -> str:
    """The dialect of a dump from the start of its first data record and its name."""
    if not first_bytes.startswith(b"`"):
        return "plain"
    found = _DATE_RE.search(filename)
    if found and found.group(1) < BACKSLASH_SINCE:
        return "backtick"
    return "backslash"


def choose_text(record: dict[str, str], rule: str) -> tuple[str, str]:
    """(field name, raw value) the rule picks; ("", "") when every field is empty."""
    order, fields = TEXT_RULES[rule]
    present = [(f, record.get(f) or "") for f in fields]
    present = [(f, v) for f, v in present if v.strip()]
    if not present:
        return "", ""
    return present[-1] if order == "last" else present[0]


def field_text(name: str, value: str) -> str:
    """A text field as plain text (HTML and XML editions rendered, plain text as is)."""
    if name == "plain_text":
        return value.replace("\r\n", "\n").strip()
    return html_to_text(value)


def detect_dialect(path: Path) -> str:
    """The dialect of a dump file, from its first data byte and its name (`dialect_for`)."""
    with open_compressed(path) as fh:
        fh.readline()  # the header row is never quoted by COPY ... HEADER
        return dialect_for(fh.read(1), path.name)


def _open_dump(path: Path, dialect: str) -> tuple[Any, Any]:
    """(the open stream, a csv reader) over a CourtListener dump in `dialect` (``auto``:
    `detect_dialect`)."""
    if dialect == "auto":
        dialect = detect_dialect(path)
    raw = open_compressed(path)
    text = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", newline="")
    return raw, csv.reader(text, strict=True, **DIALECTS[dialect])


class CourtIndex:
    """cluster id -> (docket id, court id), from the clusters and dockets dumps, in SQLite.

    Built once per pair of dumps (see the module doc); `lookup` is one indexed query.
    """

    BATCH = 20_000

    def __init__(self, clusters: Path, dockets: Path, folder: Path, dialect: str,
                 field_limit: int) -> None:
        stamp = "|".join(f"{p.resolve()}:{p.stat().st_size}:{p.stat().st_mtime_ns}"
                         for p in (clusters, dockets))
        digest = hashlib.sha256(stamp.encode("utf-8", "surrogateescape")).hexdigest()[:16]
        self.path = Path(folder) / f".courts-{digest}.sqlite"
        if not self.path.is_file():
            self._build(clusters, dockets, dialect, field_limit)
        self.db = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)

    def _build(self, clusters: Path, dockets: Path, dialect: str, field_limit: int) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        tmp.unlink(missing_ok=True)
        db = sqlite3.connect(tmp)
        try:
            db.execute("PRAGMA journal_mode=OFF")
            db.execute("PRAGMA synchronous=OFF")
            db.execute("CREATE TABLE dockets (id INTEGER PRIMARY KEY, court TEXT)")
            db.execute("CREATE TABLE clusters (id INTEGER PRIMARY KEY, docket INTEGER)")
            allow_long_fields(field_limit)
            for table, path, column in (("dockets", dockets, "court_id"),
                                        ("clusters", clusters, "docket_id")):
                self._load(db, table, path, column, dialect)
            db.commit()
        except BaseException:
            db.close()
            tmp.unlink(missing_ok=True)  # never a half-built index
            raise
        db.close()
        os.replace(tmp, self.path)
        log.info("%s: court index built from %s and %s", self.path, clusters.name, dockets.name)

    def _load(self, db: sqlite3.Connection, table: str, path: Path, column: str,
              dialect: str) -> None:
        raw, reader = _open_dump(path, dialect)
        batch: list[tuple[int, Any]] = []
        try:
            header = next(reader, None) or []
            if "id" not in header or column not in header:
                raise SourceError(f"{path}: not a CourtListener {table} dump (no id and "
                                  f"{column} columns in its header)")
            id_at, value_at = header.index("id"), header.index(column)
            for row in reader:
                if len(row) <= max(id_at, value_at) or not row[id_at].isdigit():
                    continue  # a ragged row links nothing
                value = row[value_at]
                batch.append((int(row[id_at]),
                              value if table == "dockets" else (int(value) if value.isdigit() else None)))
                if len(batch) >= self.BATCH:
                    db.executemany(f"INSERT OR REPLACE INTO {table} VALUES (?, ?)", batch)
                    batch.clear()
            db.executemany(f"INSERT OR REPLACE INTO {table} VALUES (?, ?)", batch)
        except (csv.Error, UnicodeDecodeError) as exc:
            raise SourceError(f"{path}: the {table} dump for the court join is damaged "
                              f"({exc})") from None
        finally:
            raw.close()

    def lookup(self, cluster_id: str) -> tuple[str, str] | None:
        """(docket id, court id) of an opinion's cluster, None when it is not linked."""
        if not cluster_id.isdigit():
            return None
        row = self.db.execute("SELECT c.docket, d.court FROM clusters c JOIN dockets d "
                              "ON d.id = c.docket WHERE c.id = ?", (int(cluster_id),)).fetchone()
        return (str(row[0]), row[1]) if row and row[1] else None

    def close(self) -> None:
        self.db.close()


def _join_role(path: Path) -> str:
    """``clusters``, ``dockets`` or ``opinions``, by CourtListener's file names."""
    name = path.name.lower()
    if name.startswith(CLUSTERS_PREFIX):
        return "clusters"
    if name.startswith(DOCKETS_PREFIX):
        return "dockets"
    return "opinions"


class FreeLawSource(Source):
    """CourtListener opinions bulk CSV -> one document per opinion.

    Options:
        date: the dump's date (``opinions-<date>.csv.bz2``).
        dialect: ``auto`` or one of `DIALECTS`.
        text_rule: ``courtlistener_v1`` (default) or ``pile_v1``.
        courts: also fetch the clusters and dockets dumps of ``date`` and fill
            ``meta.court_id`` from them (see the module doc).
    """

    kind: ClassVar[str] = "freelaw"
    pile_set_name: ClassVar[str] = "FreeLaw"
    license: ClassVar[str] = ("court opinions are public domain (US government works); "
                              "CourtListener bulk data free to use (Free Law Project)")
    upstream: ClassVar[str] = ("com-courtlistener-storage.s3-us-west-2.amazonaws.com/bulk-data/ "
                               "opinions-<date>.csv.bz2 (PostgreSQL COPY CSV)")
    options_schema: ClassVar[dict[str, Any]] = {
        "date": "2025-10-31", "dialect": "auto", "text_rule": "courtlistener_v1",
        "courts": False}

    def __init__(self, cfg: SourceConfig, raw_dir: Path) -> None:
        super().__init__(cfg, raw_dir)
        field = f"sources.{self.name}.options"
        opts = self.options
        if not isinstance(opts["date"], str) or not _DATE_OPTION_RE.match(opts["date"]):
            raise ConfigError(f"{field}.date: expected YYYY-MM-DD, got {opts['date']!r}")
        if opts["dialect"] not in ("auto", *DIALECTS):
            raise ConfigError(f"{field}.dialect: expected auto or one of {', '.join(DIALECTS)}, "
                              f"got {opts['dialect']!r}")
        if opts["text_rule"] not in TEXT_RULES:
            raise ConfigError(f"{field}.text_rule: expected one of {', '.join(TEXT_RULES)}, "
                              f"got {opts['text_rule']!r}")
        if not isinstance(opts["courts"], bool):
            raise ConfigError(f"{field}.courts: expected true or false, got {opts['courts']!r}")

    def list_files(self) -> list[RemoteFile]:
        """The opinions dump of ``date`` (CourtListener publishes no checksum for it), and
        with ``courts: true`` the clusters and dockets dumps of the same date."""
        if self.cfg.urls:
            return super().list_files()
        url = BULK_URL.format(date=self.options["date"])
        names = ["opinions"] + (["opinion-clusters", "dockets"] if self.options["courts"] else [])
        urls = [url.replace("/opinions-", f"/{name}-") for name in names]
        return [RemoteFile(url=u, name=u.rsplit("/", 1)[-1]) for u in urls]

    def _all_files(self) -> list[Path]:
        return super().inputs()

    def inputs(self) -> list[Path]:
        """The opinions dumps (the clusters and dockets dumps are the join's)."""
        return [p for p in self._all_files() if _join_role(p) == "opinions"]

    def court_index(self, opinions: Path) -> CourtIndex | None:
        """The court index for an opinions dump: the clusters and dockets dumps of its
        date among the source's files, else the newest of each; None without them.

        Raises:
            SourceError: ``courts: true`` and one of the two dumps is missing, or one is
                damaged.
        """
        if not self.options["courts"]:
            return None
        files = self._all_files()
        date = _DATE_RE.search(opinions.name)
        picked = []
        for role in ("clusters", "dockets"):
            found = sorted(p for p in files if _join_role(p) == role)
            same = [p for p in found if date and date.group(1) in p.name]
            if not found:
                raise SourceError(f"sources.{self.name}.options.courts: no {role} dump "
                                  f"({CLUSTERS_PREFIX if role == 'clusters' else DOCKETS_PREFIX}"
                                  "<date>.csv.bz2) among the source's files")
            picked.append((same or found)[-1])
        return CourtIndex(picked[0], picked[1], self.raw_dir, self.options["dialect"],
                          self.max_record_bytes)

    def read(self, path: Path) -> Iterator[Document | Dropped]:
        """One opinions dump (``.csv``, ``.csv.bz2``...) -> opinion documents.

        Raises:
            SourceError: no header / no id column, malformed CSV, invalid UTF-8, a field
                longer than ``max_record_bytes`` or a damaged bz2 stream, after the
                records read before it.
        """
        path = Path(path)
        dialect = self.options["dialect"]
        if dialect == "auto":
            dialect = detect_dialect(path)
            log.info("%s: reading as the %s CSV dialect", path, dialect)
        allow_long_fields(self.max_record_bytes)
        rule = self.options["text_rule"]
        courts = self.court_index(path)
        try:
            yield from self._opinions(path, dialect, rule, courts)
        finally:
            if courts is not None:
                courts.close()

    def _opinions(self, path: Path, dialect: str, rule: str, courts: CourtIndex | None
                  ) -> Iterator[Document | Dropped]:
        with open_compressed(path) as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8", errors="strict", newline="")
            reader = csv.reader(text, strict=True, **DIALECTS[dialect])
            row_no = 0
            last_id = "<header>"
            try:
                header = next(reader, None)
                if not header or "id" not in header:
                    raise SourceError(f"{path}: not a CourtListener opinions dump (no header "
                                      "row with an id column)")
                index = {name: i for i, name in enumerate(header)}
                for row_no, row in enumerate(reader, 1):
                    record = dict(zip(header, row))
                    last_id = record.get("id") or f"row{row_no}"
                    yield self._opinion(record, last_id, rule, len(row) != len(index), courts)
            except csv.Error as exc:
                raise SourceError(f"{path}: malformed {dialect} CSV after opinion {last_id} "
                                  f"(record {row_no + 1}): {exc}") from None
            except UnicodeDecodeError as exc:
                # The decoder reads ahead of the parser: the bad bytes are somewhere after.
                raise SourceError(f"{path}: invalid UTF-8 in the records after opinion "
                                  f"{last_id}: {exc.reason}") from None

    def _opinion(self, record: dict[str, str], key: str, rule: str, ragged: bool,
                 courts: CourtIndex | None = None) -> Document | Dropped:
        meta = {k: record[k] for k in ("cluster_id", "type", "author_str", "date_created")
                if record.get(k)}
        linked = courts.lookup(record.get("cluster_id") or "") if courts else None
        if linked:
            meta["docket_id"], meta["court_id"] = linked
        if ragged:
            return self.dropped(key, "wrong_field_count", **meta)
        if sum(len(v) for v in record.values()) > self.max_record_bytes:
            return self.dropped(key, "too_large", **meta)
        name, value = choose_text(record, rule)
        if not name:
            return self.dropped(key, "no_text", **meta)
        text = field_text(name, value)
        if not text:
            return self.dropped(key, "no_text", text_field=name, **meta)
        if text.lower().startswith(UNABLE_PREFIX):
            return self.dropped(key, "unable_to_extract", text_field=name, **meta)
        return self.document(key, text, opinion_id=key, text_field=name, **meta)


__all__ = ["BULK_URL", "CourtIndex", "DIALECTS", "FreeLawSource", "TEXT_RULES",
           "allow_long_fields", "choose_text", "dialect_for", "field_text"]
