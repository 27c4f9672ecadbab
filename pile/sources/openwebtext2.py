"""OpenWebText2 (the Pile's "OpenWebText2" component): web pages linked from Reddit.

The recipe of EleutherAI/openwebtext2:

- input: PushShift's Reddit submission dumps, one per month (``RS_YYYY-MM.zst``, older
  ``RS_v2_YYYY-MM.xz`` and ``.bz2``), one JSON object per line. They travel by torrent,
  not from a stable HTTP host, so the user brings them (``paths:``, or ``urls:`` of a
  copy). Modern ``.zst`` dumps use a zstd window of up to 2 GiB: they are streamed with
  that ``max_window_size`` (`pile.sources.xmlsafe.open_compressed`), line by line;
- drop self posts (``self_post``) and submissions without a URL (``no_url``);
- skip the blocked domains (`BLOCKED_DOMAINS`: image and video hosts, sites that refuse
  scrapers, Wikipedia) and file extensions (`BLOCKED_EXTENSIONS`), and strings that are
  not http(s) URLs (``blocked_domain``, ``blocked_extension``, ``invalid_url``);
- group the submissions by URL and keep a URL whose summed score is at least
  ``min_score`` (3; ``low_score`` otherwise). The grouping runs per dump file (OWT2
  grouped per month too) in a temporary SQLite table on disk, so a month never has to
  fit in memory; the same URL in two months gives two documents, left to the corpus-wide
  dedup;
- fetch each kept page (the shared downloader: per-host limits and politeness delays,
  timeouts, retries, resumable, robots.txt respected, every fetch and every failure
  recorded under ``raw/<source>/``) and extract its main text with trafilatura (OWT2 used
  newspaper3k, unmaintained since 2018); lines that are only "Advertisement" go;
- meta: ``url``, ``reddit_ids``, ``subreddits`` and ``scores`` as lists (in submission
  order), ``title`` (of the first submission), ``date`` (its UTC date) and ``domain``.

A kept URL whose page could not be fetched is dropped with the downloader's reason
(``unreachable``, ``not_found``, ``robots_disallowed``, ``robots_unavailable``,
``http_403``..., or ``not_fetched`` before any download), a page with no main text is
``no_text``, a page over ``run.max_record_bytes`` is ``page_too_large``. A line that is not JSON is ``malformed_json``; a damaged
compressed stream (or an empty dump) fails the dump with `SourceError` after what was
read before it. Ids are ``<source>/<dump>/<sha1 of the URL>`` (``<dump>`` is its name
without the compression suffix, ``RS_2019-01``): a URL posted in two months is a
document of each, and the corpus-wide dedup keeps one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import os
import re
import sqlite3
import tempfile
from pathlib import Path
from typing import Any, ClassVar, Iterator
from urllib.parse import urlsplit

from pile.config import SourceConfig
from pile.document import Document
from pile.errors import ConfigError, SourceError
from pile.sources.base import RemoteFile, Source
from pile.sources.xmlsafe import open_compressed
from pile.stage import Dropped

log = logging.getLogger(__name__)

# Domains whose pages are not articles, or that refuse scrapers (subdomains included).
BLOCKED_DOMAINS = frozenset({
    # images, video, audio
    "imgur.com", "redd.it", "instagram.com", "discord.gg", "gfycat.com", "giphy.com",
    "reddituploads.com", "redditmedia.com", "twimg.com", "sli.mg", "magaimg.net", "flickr.com",
    "imgflip.com", "youtube.com", "youtu.be", "youtubedoubler.com", "vimeo.com", "twitch.tv",
    "streamable.com", "bandcamp.com", "soundcloud.com",
    # not scraper friendly
    "reddit.com", "gyazo.com", "github.com", "xkcd.com", "twitter.com", "spotify.com",
    "itunes.apple.com", "facebook.com", "gunprime.com", "strawpoll.me", "voyagefusion.com",
    "rollingstone.com", "google.com", "timeanddate.com", "walmart.com", "roanoke.com",
    "spotrac.com",
    # WebText left Wikipedia out (it is its own Pile component)
    "wikipedia.org",
    # one site with very many top posts
    "battleforthenet.com",
})
BLOCKED_EXTENSIONS = (
    ".png", ".jpg", ".jpeg", ".gif", ".gifv", ".pdf", ".mp4", ".mp3", ".ogv", ".webm", ".doc",
    ".docx", ".log", ".csv", ".dat", ".iso", ".bin", ".exe", ".apk", ".jar", ".app", ".ppt",
    ".pps", ".pptx", ".xml", ".gz", ".xz", ".bz2", ".tgz", ".tar", ".zip", ".wma", ".mov",
    ".wmv", ".3gp", ".svg", ".rar", ".wav", ".avi", ".7z",
)
_HOST_RE = re.compile(r"^(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9-]{2,}\.?$|"
                      r"^\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}$")
_ADVERT_RE = re.compile(r"^\s*advertisement\s*$", re.IGNORECASE)


def url_drop_reason(url: str) -> str | None:
    """Why OWT2 would not fetch `url` (``invalid_url``, ``blocked_domain``,
    ``blocked_extension``), or None."""
    if len(url) <= 8 or " " in url or not url.lower().startswith(("http://", "https://")):
        return "invalid_url"
    try:
        host = (urlsplit(url).hostname or "").lower()
    except ValueError:
        return "invalid_url"
    if not _HOST_RE.match(host):
        return "invalid_url"
    labels = host.rstrip(".").split(".")
    if any(".".join(labels[i:]) in BLOCKED_DOMAINS for i in range(len(labels) - 1)):
        return "blocked_domain"
    if url.lower().split("?", 1)[0].endswith(BLOCKED_EXTENSIONS):
        return "blocked_extension"
    return None


def page_name(url: str) -> str:
    """Where a page is kept under ``raw/<source>/`` (a hash: URLs are not file names)."""
    digest = hashlib.sha1(url.encode("utf-8")).hexdigest()
    return f"pages/{digest[:2]}/{digest}.html"


def url_key(url: str) -> str:
    return hashlib.sha1(url.encode("utf-8")).hexdigest()


def dump_key(name: str) -> str:
    """A dump's name without its compression suffix (``RS_2019-01.zst`` -> ``RS_2019-01``)."""
    for suffix in (".zst", ".zstd", ".xz", ".bz2", ".gz", ".json", ".ndjson"):
        name = name.removesuffix(suffix)
    return name


def strip_adverts(text: str) -> str:
    """Remove the lines that are only "Advertisement" (newspaper3k left them in)."""
    return "\n".join(line for line in text.split("\n") if not _ADVERT_RE.match(line)).strip()


def extract_main_text(html: bytes | str, url: str) -> str:
    """The page's main text (trafilatura: no comments, no navigation), adverts removed."""
    import trafilatura

    text = trafilatura.extract(html, url=url, include_comments=False, include_tables=False,
                               deduplicate=False) or ""
    return strip_adverts(text)


class UrlGroups:
    """One dump's link submissions grouped by URL, in an on-disk SQLite table.

    Iterating `submissions` streams the dump once; decisions on single submissions
    (self post, no URL, blocked, malformed line) come out as they are met, and the link
    posts go into the table. `groups` then yields each URL with its submissions, in URL
    order (deterministic).
    """

    def __init__(self, path: Path, label: str) -> None:
        self.path = path
        self.label = label
        fd, self._db_path = tempfile.mkstemp(prefix="owt2-", suffix=".sqlite")
        os.close(fd)
        self.db = sqlite3.connect(self._db_path)
        self.db.execute("PRAGMA journal_mode=OFF")
        self.db.execute("PRAGMA synchronous=OFF")
        self.db.execute("CREATE TABLE s (url TEXT, id TEXT, score INTEGER, subreddit TEXT, "
                        "title TEXT, created INTEGER, line INTEGER)")

    def close(self) -> None:
        self.db.close()
        try:
            os.unlink(self._db_path)
        except OSError:
            pass

    def submissions(self) -> Iterator[tuple[str, str, dict[str, Any]]]:
        """(key, drop reason, meta) for each submission that is not a link to fetch."""
        batch: list[tuple[Any, ...]] = []
        lines = 0
        # zstd's stream reader has no readline: buffer it (bounded by the longest line)
        with open_compressed(self.path) as stream, io.BufferedReader(stream, 1 << 20) as fh:
            for line_no, raw in enumerate(fh, 1):
                lines = line_no
                if not raw.strip():
                    continue
                try:
                    post = json.loads(raw)
                except ValueError:
                    yield f"line{line_no}", "malformed_json", {"line": line_no}
                    continue
                if not isinstance(post, dict):
                    yield f"line{line_no}", "malformed_json", {"line": line_no}
                    continue
                post_id = str(post.get("id") or f"line{line_no}")
                url = post.get("url")
                if post.get("is_self"):
                    yield post_id, "self_post", {"reddit_id": post_id}
                    continue
                if not isinstance(url, str) or not url.strip():
                    yield post_id, "no_url", {"reddit_id": post_id}
                    continue
                url = url.strip()
                reason = url_drop_reason(url)
                if reason:
                    yield post_id, reason, {"reddit_id": post_id, "url": url}
                    continue
                score = post.get("score")
                batch.append((url, post_id, score if isinstance(score, int) else 0,
                              str(post.get("subreddit") or ""), str(post.get("title") or ""),
                              int(post.get("created_utc") or 0), line_no))
                if len(batch) >= 10_000:
                    self.db.executemany("INSERT INTO s VALUES (?,?,?,?,?,?,?)", batch)
                    batch.clear()
        if batch:
            self.db.executemany("INSERT INTO s VALUES (?,?,?,?,?,?,?)", batch)
        if not lines:
            raise SourceError(f"{self.label}: no submissions at all (an empty dump)")

    def groups(self) -> Iterator[tuple[str, int, list[tuple[Any, ...]]]]:
        """(url, summed score, its submissions in dump order), by URL."""
        self.db.execute("CREATE INDEX s_url ON s (url, line)")
        current: str | None = None
        rows: list[tuple[Any, ...]] = []
        for row in self.db.execute("SELECT url, id, score, subreddit, title, created FROM s "
                                   "ORDER BY url, line"):
            if row[0] != current and current is not None:
                yield current, sum(r[2] for r in rows), rows
                rows = []
            current = row[0]
            rows.append(row)
        if current is not None:
            yield current, sum(r[2] for r in rows), rows


def kept_urls(path: Path, min_score: int) -> list[str]:
    """The URLs of one dump that OWT2 fetches (the listing's side of the recipe)."""
    groups = UrlGroups(path, str(path))
    try:
        for _ in groups.submissions():
            pass
        return [url for url, score, _ in groups.groups() if score >= min_score]
    finally:
        groups.close()


class OpenWebText2Source(Source):
    """PushShift Reddit submission dumps -> the main text of the pages they link.

    Options:
        min_score: the summed Reddit score a URL needs (3, as WebText and OWT2).
    """

    kind: ClassVar[str] = "openwebtext2"
    pile_set_name: ClassVar[str] = "OpenWebText2"
    license: ClassVar[str] = ("the linked pages belong to their publishers (no licence for "
                              "redistribution); Reddit metadata under Reddit's terms")
    upstream: ClassVar[str] = ("PushShift Reddit submission dumps RS_YYYY-MM.zst / "
                               "RS_v2_YYYY-MM.xz (by torrent: bring them as paths or urls), "
                               "then every linked page, fetched politely")
    terms: ClassVar[str] = ("the pages are fetched from their publishers' sites, respecting "
                            "robots.txt; their content is copyrighted, and Reddit's data "
                            "API terms cover the dumps")
    options_schema: ClassVar[dict[str, Any]] = {"min_score": 3}
    # round 1: the dumps; round 2: the pages of the dumps now on disk
    listing_rounds: ClassVar[int] = 2
    fetch_with_paths: ClassVar[bool] = True
    # a page that could not be fetched is a drop with its reason in `read`, not a failed file
    counts_fetch_failures: ClassVar[bool] = True

    def __init__(self, cfg: SourceConfig, raw_dir: Path) -> None:
        super().__init__(cfg, raw_dir)
        value = self.options["min_score"]
        if not isinstance(value, int) or isinstance(value, bool):
            raise ConfigError(f"sources.{self.name}.options.min_score: expected an integer, "
                              f"got {value!r}")
        if not (cfg.paths or cfg.urls):
            raise ConfigError(f"sources.{self.name}: give the PushShift dumps as paths or urls "
                              "(they are distributed by torrent, not from a stable HTTP host)")
        self._listing_cache: dict[tuple[str, int, int], list[str]] = {}

    def dumps(self) -> list[RemoteFile]:
        """The dumps of ``urls``, named under ``raw/`` as any source's explicit urls are."""
        return Source.list_files(self)

    def inputs(self) -> list[Path]:
        """The dumps (local ``paths``, or the downloaded ``urls``), never the pages."""
        if self.cfg.paths:
            return super().inputs()
        files = [self.raw_dir / f.name for f in self.dumps()]
        return [p for p in files if p.is_file()]

    def list_files(self) -> list[RemoteFile]:
        """The dumps to download, then the pages of every dump already on disk."""
        out = [] if self.cfg.paths else self.dumps()
        seen: set[str] = set()
        for dump in self.inputs():
            st = dump.stat()
            cache_key = (str(dump), st.st_size, st.st_mtime_ns)
            urls = self._listing_cache.get(cache_key)
            if urls is None:
                try:
                    urls = kept_urls(dump, self.options["min_score"])
                except SourceError as exc:
                    log.error("%s: cannot list its pages (%s)", dump, exc)
                    urls = []
                self._listing_cache[cache_key] = urls
            for url in urls:
                if url not in seen:
                    seen.add(url)
                    out.append(RemoteFile(url=url, name=page_name(url), robots=True))
        return out

    def read(self, path: Path) -> Iterator[Document | Dropped]:
        """One dump -> one document per kept URL whose page was fetched.

        Raises:
            SourceError: the dump's compressed stream is damaged.
        """
        from pile.sources.download import load_failures

        groups = UrlGroups(Path(path), str(path))
        # one dump is one month; a URL posted in two months is a document of each
        month = dump_key(self.key_for(Path(path)))
        try:
            for key, reason, meta in groups.submissions():
                yield self.dropped(f"{month}/{key}", reason, **meta)
            failures = load_failures(self.raw_dir)
            for url, score, rows in groups.groups():
                yield self._page(f"{month}/{url_key(url)}", url, score, rows, failures)
        finally:
            groups.close()

    def _page(self, key: str, url: str, score: int, rows: list[tuple[Any, ...]],
              failures: dict[str, dict[str, Any]]) -> Document | Dropped:
        first = rows[0]
        meta: dict[str, Any] = {
            "url": url, "reddit_ids": [r[1] for r in rows], "subreddits": [r[3] for r in rows],
            "scores": [r[2] for r in rows], "title": first[4],
            "date": dt.datetime.fromtimestamp(first[5], dt.timezone.utc).date().isoformat(),
            "domain": (urlsplit(url).hostname or "").lower()}
        if score < self.options["min_score"]:
            return self.dropped(key, "low_score", **meta)
        name = page_name(url)
        page = self.raw_dir / name
        if not page.is_file():
            failure = failures.get(name)
            reason = failure.get("reason", "failed") if failure else "not_fetched"
            extra = {"error": failure.get("error")} if failure else {}
            return self.dropped(key, reason, **meta, **extra)
        if page.stat().st_size > self.max_record_bytes:
            return self.dropped(key, "page_too_large", **meta)
        try:
            text = extract_main_text(page.read_bytes(), url)
        except (ValueError, OSError) as exc:
            return self.dropped(key, "unparsable_page", **meta, error=str(exc)[:200])
        if not text:
            return self.dropped(key, "no_text", **meta)
        return self.document(key, text, **meta)


__all__ = ["BLOCKED_DOMAINS", "BLOCKED_EXTENSIONS", "OpenWebText2Source",
           "extract_main_text", "kept_urls", "page_name", "strip_adverts", "url_drop_reason"]
