"""The shared downloader: resumable, verified, polite HTTP(S) fetching of upstream files.

Every source's upstream files go through `Downloader.fetch(source)` into
``raw/<source>/``. What it guarantees, whatever the network does:

- **Resume.** Bytes arrive in ``<name>.part`` next to a small ``<name>.part.json`` that
  records the URL and validators (ETag / Last-Modified) they came from. An interrupted
  transfer -- in this run (a dropped connection is retried) or a later one -- continues
  with ``Range: bytes=N-`` and ``If-Range``, so a changed upstream restarts from zero
  instead of splicing two versions together.
- **Verification.** The sha256 and size of every file are computed while it streams
  (the resumed prefix is hashed from disk once). When the upstream publishes a checksum
  (`RemoteFile.checksum`: ``sha256:``, ``sha1:`` or ``md5:`` and the hex digest, as
  Wikimedia's ``md5sums``/``sha1sums``, NCBI's ``.md5`` files or DeepMind's sha256) or a
  size (`.size`), that digest is computed in the same pass (over the resumed prefix
  too) and checked; a mismatch is a `SourceError` naming the file (reason
  ``checksum_mismatch``), the partial data is deleted, the next mirror is tried, and
  nothing appears under the final name. Finished files appear only by atomic rename.
- **Records.** ``raw/<source>/.download.json`` holds, per file name, the URL it came
  from, ETag, Last-Modified, size and sha256 (`download_records` reads it for the
  manifest). A file whose size and mtime match its record is not downloaded or hashed
  again.
- **Retries and politeness.** Timeouts, dropped connections, 429 and 5xx answers are
  retried with exponential backoff (honouring ``Retry-After``), at most ``workers``
  transfers run at once and at most ``per_host`` per host, and requests to one host are
  spaced by that host's politeness delay (`HOST_DELAYS`, e.g. Project Gutenberg's
  robot policy asks for 2 s).
- **Mirrors.** URL rewrite rules ``FROM=TO`` (the ``--mirror`` flag, or entries with
  ``=`` in a source's ``mirrors``) replace URL prefixes; TO may be another server, a
  local folder or a ``file://`` URL. Plain ``mirrors`` entries are alternative base URLs
  that replace the upstream's ``scheme://host`` (Wikimedia mirrors copy the dump tree),
  tried in order when the upstream answers 404/410/403/5xx or times out. A source
  class may name ``default_mirrors`` used when its config names none.
- **Change detection.** `Downloader.check_updates(source)` sends HEAD requests and
  compares ETag, Last-Modified and size with the records (``pile sources``);
  ``fetch(source, refresh=True)`` re-downloads the files that changed.
- **robots.txt.** A `RemoteFile` with ``robots=True`` (a crawled web page, not a dump)
  is fetched only when its host's ``robots.txt`` allows this user agent
  (`urllib.robotparser`; fetched once per host, through the same rewrites, limits and
  timeouts); its ``Crawl-delay`` becomes the host's politeness delay. As RFC 9309 says: a 4xx robots.txt allows everything, a 5xx one forbids
  everything; a host whose robots.txt cannot be reached is unreachable.
- **Failures recorded.** A file that fails is recorded in ``.download.json`` too
  (``failed``: URL, error, and a short `failure_reason` such as ``unreachable``,
  ``not_found``, ``robots_disallowed``), so a source can count what it could not get;
  `load_failures` reads them. A later success clears the entry.
- **Progress.** A rich progress bar with bytes, rate and ETA, on when stderr is a
  terminal (or when asked), off otherwise.
"""

from __future__ import annotations

import email.utils
import hashlib
import json
import logging
import os
import re
import sys
import threading
import time
import urllib.robotparser
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence
from urllib.parse import unquote, urlsplit

import requests

from pile.docs_io import atomic_write_text
from pile.errors import ConfigError, RetryableError, SourceError
from pile.sources.base import RemoteFile, Source, check_unique_names, parse_checksum

log = logging.getLogger(__name__)

STATE_FILE = ".download.json"
STATE_VERSION = 1
USER_AGENT = "pile-corpus-builder/0.1 (+https://github.com/EleutherAI/the-pile)"

# Seconds between two requests to one host, for hosts that ask for it.
HOST_DELAYS: dict[str, float] = {
    "www.gutenberg.org": 2.0,      # PG robot policy: at least 2 s between requests
    "gutenberg.org": 2.0,
    "aleph.gutenberg.org": 2.0,
    "export.arxiv.org": 3.0,       # arXiv API terms: one request every 3 s
    "eutils.ncbi.nlm.nih.gov": 0.34,  # NCBI: at most 3 requests per second without a key
    "dumps.wikimedia.org": 0.5,
    "archive.org": 0.5,
    "philarchive.org": 2.0,        # its terms forbid mass harvesting: a slow, polite pace
}

_NEXT_MIRROR = {403, 404, 410}
_HASH_BLOCK = 1 << 20


# -- results and records ---------------------------------------------------------------


@dataclass(frozen=True)
class DownloadResult:
    """What happened to one upstream file.

    Attributes:
        name: the file's path under ``raw/<source>/``.
        path: the local file (exists when `status` is ``downloaded`` or ``cached``).
        url: where the bytes came from (after rewrites and mirror fallback).
        status: ``downloaded``, ``cached`` (already present and verified) or ``failed``.
        size: bytes on disk.
        sha256: hex digest of the file.
        etag / last_modified: the upstream's validators, when it sent them.
        error: the one-line reason when `status` is ``failed``.
    """

    name: str
    path: Path
    url: str
    status: str
    size: int | None = None
    sha256: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status != "failed"

    def __str__(self) -> str:
        if not self.ok:
            return f"FAILED {self.name}: {self.error}"
        return (f"{self.status:<10} {self.name}  {self.size} bytes  sha256={self.sha256}  "
                f"from {self.url}")


@dataclass(frozen=True)
class UpdateStatus:
    """One upstream file compared with its download record (``pile sources``).

    Attributes:
        name: the file's path under ``raw/<source>/``.
        url: the URL that answered the HEAD request (or the first one tried).
        status: ``unchanged``, ``changed``, ``not_downloaded`` or ``unreachable``.
        changes: what differs (``etag``, ``last_modified``, ``size``) when ``changed``.
        detail: the error when ``unreachable``, else the remote validators in words.
    """

    name: str
    url: str
    status: str
    changes: tuple[str, ...] = ()
    detail: str | None = None


def load_state(source_dir: Path) -> dict[str, dict[str, Any]]:
    """The download records of one source folder (file name -> record); empty if none."""
    path = Path(source_dir) / STATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        log.warning("%s: unreadable download records (%s); starting afresh", path, exc)
        return {}
    files = data.get("files", {}) if isinstance(data, dict) else {}
    return files if isinstance(files, dict) else {}


def download_records(source_dir: Path) -> list[dict[str, Any]]:
    """The records of ``raw/<source>/.download.json`` as a list sorted by name.

    Each record: ``name``, ``url``, ``size``, ``sha256``, ``etag``, ``last_modified``.
    This is what the manifest stores for the source's raw files.
    """
    state = load_state(source_dir)
    return [{"name": name, **{k: v for k, v in rec.items() if k != "mtime_ns"}}
            for name, rec in sorted(state.items())]


def load_failures(source_dir: Path) -> dict[str, dict[str, Any]]:
    """The failed downloads of one source folder (file name -> url, error, reason)."""
    path = Path(source_dir) / STATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    failed = data.get("failed", {}) if isinstance(data, dict) else {}
    return failed if isinstance(failed, dict) else {}


def failure_reason(error: str) -> str:
    """A short, countable reason for a download error message."""
    if "robots.txt disallows" in error:
        return "robots_disallowed"
    if "robots.txt unavailable" in error:
        return "robots_unavailable"
    # bytes that arrived but were wrong say more than a mirror that was also unreachable
    if "size mismatch" in error:
        return "size_mismatch"
    if "mismatch" in error:
        return "checksum_mismatch"
    if "HTTP 404" in error or "HTTP 410" in error:
        return "not_found"
    codes = [c for c in ("401", "403", "429") if f"HTTP {c}" in error]
    if codes:
        return f"http_{codes[0]}"
    if "HTTP 5" in error:
        return "server_error"
    if any(word in error for word in ("ConnectionError", "Timeout", "unreachable",
                                      "connection lost", "connection closed")):
        return "unreachable"
    return "failed"


# -- URL rewriting ---------------------------------------------------------------------


def parse_rewrites(items: Iterable[str] | Mapping[str, str]) -> list[tuple[str, str]]:
    """Parse ``FROM=TO`` rewrite rules (the ``--mirror`` flag) into (from, to) pairs.

    Raises:
        ConfigError: an item without ``=`` or with an empty FROM.
    """
    if isinstance(items, Mapping):
        pairs = list(items.items())
    else:
        pairs = []
        for item in items:
            if "=" not in item:
                raise ConfigError(f"--mirror {item}: expected FROM=TO (a URL prefix and its "
                                  "replacement: a URL, a folder or a file:// URL)")
            src, dst = item.split("=", 1)
            pairs.append((src.strip(), dst.strip()))
    for src, _ in pairs:
        if not src:
            raise ConfigError("--mirror: FROM must not be empty")
    return pairs


def rewrite_url(url: str, rules: Sequence[tuple[str, str]]) -> str:
    """Apply the longest matching prefix rule, if any."""
    best: tuple[str, str] | None = None
    for src, dst in rules:
        if url.startswith(src) and (best is None or len(src) > len(best[0])):
            best = (src, dst)
    if best is None:
        return url
    src, dst = best
    rest = url[len(src):]
    if src.endswith("/") and dst and not dst.endswith("/"):
        dst += "/"  # ``http://a/=/srv/m`` means the folder, not a name prefix
    if dst and not _is_remote(dst) and not dst.startswith("file://"):
        # A folder: join cleanly whether or not either side has the slash.
        return str(Path(dst).expanduser() / unquote(rest.lstrip("/")))
    return dst + rest


def mirror_url(url: str, mirror: str) -> str:
    """`url` on a mirror: the mirror base replaces the upstream's ``scheme://host``."""
    parts = urlsplit(url)
    path = parts.path + (f"?{parts.query}" if parts.query else "")
    if not _is_remote(mirror) and not mirror.startswith("file://"):
        return str(Path(mirror).expanduser() / unquote(path.lstrip("/")))
    return mirror.rstrip("/") + "/" + path.lstrip("/")


def _is_remote(url: str) -> bool:
    return url.startswith(("http://", "https://"))


def _local_path(url: str) -> Path:
    if url.startswith("file://"):
        return Path(unquote(urlsplit(url).path))
    return Path(url).expanduser()


# -- the downloader --------------------------------------------------------------------


class _NextCandidate(Exception):
    """This URL cannot serve the file (404, 403, exhausted retries): try the next one."""


class _Mismatch(SourceError):
    """The bytes from this URL do not match the published size or sha256."""


@dataclass
class _Attempt:
    size: int
    sha256: str
    etag: str | None
    last_modified: str | None
    checksum: str | None = None  # the published algorithm's digest, ``md5:<hex>``


class _Digests:
    """The sha256 every download records, and the digest the upstream published when
    it is another algorithm, fed by one pass over the bytes."""

    def __init__(self, remote: RemoteFile) -> None:
        self.sha256 = hashlib.sha256()
        algo = parse_checksum(remote.checksum)[0] if remote.checksum else "sha256"
        self.algo = algo
        self.other = None if algo == "sha256" else hashlib.new(algo)

    def update(self, block: bytes) -> None:
        self.sha256.update(block)
        if self.other is not None:
            self.other.update(block)

    def update_from(self, path: Path) -> None:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(_HASH_BLOCK), b""):
                self.update(block)

    def attempt(self, size: int, etag: str | None, last_modified: str | None) -> _Attempt:
        sha = self.sha256.hexdigest()
        other = self.other.hexdigest() if self.other is not None else sha
        return _Attempt(size=size, sha256=sha, etag=etag, last_modified=last_modified,
                        checksum=f"{self.algo}:{other}")


@dataclass
class _HostGate:
    semaphore: threading.Semaphore
    lock: threading.Lock = field(default_factory=threading.Lock)
    next_at: float = 0.0


class Downloader:
    """Fetches a source's upstream files into ``raw/<source>/``.

    Args:
        rewrites: ``FROM=TO`` rules (strings or a mapping) applied to every URL first.
        workers: files transferred at once.
        per_host: transfers at once to one host.
        retries: extra attempts per URL after a transient failure.
        backoff: first retry delay in seconds, doubled each attempt.
        max_backoff: cap of one retry delay (also caps ``Retry-After``).
        timeout: connect and read timeout in seconds.
        delays: per-host politeness delays; default `HOST_DELAYS`.
        default_delay: politeness delay for hosts not in `delays`.
        progress: show a progress bar; None = only when stderr is a terminal.
        chunk_size: bytes read per network read.
    """

    def __init__(self, *, rewrites: Iterable[str] | Mapping[str, str] = (), workers: int = 4,
                 per_host: int = 2, retries: int = 4, backoff: float = 1.0,
                 max_backoff: float = 60.0, timeout: float = 60.0,
                 delays: Mapping[str, float] | None = None, default_delay: float = 0.0,
                 progress: bool | None = None, chunk_size: int = 1 << 16) -> None:
        if workers < 1 or per_host < 1:
            raise ConfigError(f"downloader: workers and per_host must be >= 1, got "
                              f"{workers} and {per_host}")
        if retries < 0:
            raise ConfigError(f"downloader: retries must be >= 0, got {retries}")
        self.rewrites = parse_rewrites(rewrites)
        self.workers = workers
        self.per_host = per_host
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.timeout = timeout
        self.delays = dict(HOST_DELAYS if delays is None else delays)
        self.default_delay = default_delay
        self.progress = sys.stderr.isatty() if progress is None else progress
        self.chunk_size = chunk_size
        self._gates: dict[str, _HostGate] = {}
        self._gates_lock = threading.Lock()
        self._state_lock = threading.Lock()
        self._local = threading.local()
        # dest_dir -> (records, failures) read once, and the changes not yet on disk:
        # rewriting the whole state file per file made a crawl of n pages O(n^2)
        self._states: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        self._changes: dict[str, dict[str, tuple[dict[str, Any] | None, dict[str, Any] | None]]] = {}
        self._flushed_at: dict[str, float] = {}
        # (scheme, host) -> parsed robots.txt, or the error that makes the host off limits
        self._robots: dict[str, urllib.robotparser.RobotFileParser | str] = {}
        self._robots_locks: dict[str, threading.Lock] = {}

    # -- public API ----------------------------------------------------------------------

    def fetch(self, source: Source, *, refresh: bool = False) -> list[DownloadResult]:
        """Download every file `source.list_files()` names into ``raw/<source>/``.

        A source configured with local ``paths`` has nothing to download ([]).

        A source whose listing grows as files arrive (``listing_rounds`` > 1) is listed
        again until nothing new appears.

        Args:
            source: the source; its ``cfg.mirrors`` add mirrors and rewrite rules.
            refresh: re-check files already present (HEAD) and re-download changed ones.

        Returns:
            One result per file, in `list_files` order; failures are results with
            ``status == "failed"`` and the reason in ``error`` (one bad file never
            stops the others).
            A source whose terms were not accepted (``accept_terms``) gets one failed
            result naming them, and nothing is fetched.
        """
        if source.cfg.paths and not source.fetch_with_paths:
            return []
        try:
            source.check_terms()
        except ConfigError as exc:
            # One failed entry, not an exception: the other sources of the run go on, and
            # the refusal is named in this source's stats and `pile download`'s report.
            return [DownloadResult(name="(terms of use)", path=source.raw_dir,
                                   url=source.upstream, status="failed", error=str(exc))]
        files = source.list_files()
        check_unique_names(files, f"sources.{source.name}")
        results = self.fetch_files(files, source.raw_dir, mirrors=source_mirrors(source),
                                   refresh=refresh)
        # An API walked level by level (a comment tree's kids) lists more once the
        # previous level is on disk; each name is tried once per fetch, failed or not.
        seen = {f.name for f in files}
        for _ in range(source.listing_rounds - 1):
            new = [f for f in source.list_files() if f.name not in seen]
            if not new:
                break
            seen.update(f.name for f in new)
            results += self.fetch_files(new, source.raw_dir, mirrors=source_mirrors(source),
                                        refresh=refresh)
        return results

    def fetch_files(self, files: Sequence[RemoteFile], dest_dir: Path, *,
                    mirrors: Sequence[str] = (), refresh: bool = False) -> list[DownloadResult]:
        """Download `files` into `dest_dir` (the engine behind `fetch`).

        Raises:
            ConfigError: two of `files` would be stored under one name (before any
                download: one would silently overwrite the other).
        """
        check_unique_names(files, str(dest_dir))
        dest_dir = Path(dest_dir)
        dest_dir.mkdir(parents=True, exist_ok=True)
        rules, bases = self._split_mirrors(mirrors)
        from rich.progress import (BarColumn, DownloadColumn, Progress, TextColumn,
                                   TimeRemainingColumn, TransferSpeedColumn)

        progress = Progress(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                            TransferSpeedColumn(), TimeRemainingColumn(),
                            disable=not self.progress, transient=False)
        try:
            with progress, ThreadPoolExecutor(max_workers=self.workers) as pool:
                futures = [pool.submit(self._fetch_one, f, dest_dir, rules, bases, refresh,
                                       progress) for f in files]
                return [fut.result() for fut in futures]
        finally:
            self._flush(dest_dir)

    def check_updates(self, source: Source) -> list[UpdateStatus]:
        """Compare each upstream file's ETag, Last-Modified and size with its record.

        Returns:
            One status per file of `source.list_files()` ([] for local ``paths``).
        """
        if source.cfg.paths:
            return []
        rules, bases = self._split_mirrors(source_mirrors(source))
        state = load_state(source.raw_dir)
        out = []
        for remote in source.list_files():
            out.append(self._check_one(remote, state.get(remote.name), rules, bases))
        return out

    # -- one file ------------------------------------------------------------------------

    def _split_mirrors(self, mirrors: Sequence[str]) -> tuple[list[tuple[str, str]], list[str]]:
        own_rules = parse_rewrites([m for m in mirrors if "=" in m])
        bases = [m for m in mirrors if "=" not in m]
        return own_rules + self.rewrites, bases

    def _candidates(self, url: str, rules: Sequence[tuple[str, str]], bases: Sequence[str]
                    ) -> list[str]:
        first = rewrite_url(url, rules)
        out = [first]
        if _is_remote(url):
            out += [mirror_url(url, base) for base in bases]
        return list(dict.fromkeys(out))

    def _fetch_one(self, remote: RemoteFile, dest_dir: Path, rules: Sequence[tuple[str, str]],
                   bases: Sequence[str], refresh: bool, progress: Any) -> DownloadResult:
        candidates = self._candidates(remote.url, rules, bases)
        final = Path(dest_dir) / remote.name  # reported in a failure before the check
        try:
            final = _safe_join(dest_dir, remote.name)
            cached = self._cached(remote, final, dest_dir)
            if cached is not None:
                if not refresh:
                    return cached
                status = self._check_one(remote, self._records(dest_dir)[0].get(remote.name),
                                         rules, bases)
                if status.status in ("unchanged", "unreachable"):
                    return cached
                log.info("%s: upstream changed (%s); downloading again", remote.name,
                         ", ".join(status.changes))
            if remote.robots:
                self._check_robots(remote.url, rules)
            errors: list[str] = []
            for url in candidates:
                try:
                    attempt = self._transfer(url, remote, final, progress)
                except _Mismatch as exc:
                    # Corrupt or different bytes on this server: another may be right.
                    errors.append(str(exc))
                    log.warning("%s; trying the next mirror", exc)
                    continue
                except _NextCandidate as exc:
                    errors.append(f"{url}: {exc}")
                    log.warning("%s: %s; trying the next mirror", remote.name, errors[-1])
                    continue
                self._record(dest_dir, remote, url, attempt, final)
                return DownloadResult(name=remote.name, path=final, url=url,
                                      status="downloaded", size=attempt.size,
                                      sha256=attempt.sha256, etag=attempt.etag,
                                      last_modified=attempt.last_modified)
            raise SourceError(f"{remote.name}: no upstream could serve it ("
                              + "; ".join(errors) + ")")
        except (SourceError, RetryableError, OSError) as exc:
            message = str(exc) if isinstance(exc, (SourceError, RetryableError)) \
                else f"{remote.name}: {exc}"
            log.error("download failed: %s", message)
            self._write_record(dest_dir, remote.name, None, failure={
                "url": remote.url, "error": message, "reason": failure_reason(message)})
            return DownloadResult(name=remote.name, path=final, url=candidates[0],
                                  status="failed", error=message)

    def _cached(self, remote: RemoteFile, final: Path, dest_dir: Path) -> DownloadResult | None:
        """The finished file when it is present and valid, else None (download it)."""
        if not final.is_file():
            return None
        st = final.stat()
        record = self._records(dest_dir)[0].get(remote.name)
        published = remote.checksum
        sha_only = published is None or published.startswith("sha256:")
        if record and record.get("size") == st.st_size and record.get("mtime_ns") == st.st_mtime_ns \
                and record.get("sha256") and (sha_only or record.get("checksum") == published):
            digest = record["sha256"]
            checksum = f"sha256:{digest}" if sha_only else published
        else:  # unknown or changed on disk, or checked against another digest before
            digests = _Digests(remote)
            digests.update_from(final)
            found = digests.attempt(st.st_size, None, None)
            digest, checksum = found.sha256, found.checksum
        if (remote.size is not None and remote.size != st.st_size) or \
                (published is not None and published != checksum):
            log.warning("%s: the file on disk does not match the published size/checksum; "
                        "downloading it again", final)
            return None
        record = dict(record or {})
        other = _other_checksum(remote, checksum)
        if record.get("sha256") != digest or record.get("mtime_ns") != st.st_mtime_ns or \
                (other and record.get("checksum") != other):
            record.update(size=st.st_size, sha256=digest, mtime_ns=st.st_mtime_ns)
            if other:
                record["checksum"] = other
            record.setdefault("url", remote.url)
            self._write_record(dest_dir, remote.name, record)
        return DownloadResult(name=remote.name, path=final, url=record.get("url", remote.url),
                              status="cached", size=st.st_size, sha256=digest,
                              etag=record.get("etag"), last_modified=record.get("last_modified"))

    def _transfer(self, url: str, remote: RemoteFile, final: Path, progress: Any) -> _Attempt:
        """Fetch `url` into ``final`` (through ``.part``), retrying transient failures."""
        attempt = 0
        while True:
            try:
                if _is_remote(url):
                    result = self._http_attempt(url, remote, final, progress)
                else:
                    result = self._copy_local(url, remote, final, progress)
                return self._verify_and_commit(url, remote, final, result)
            except RetryableError as exc:
                attempt += 1
                if attempt > self.retries:
                    raise _NextCandidate(f"gave up after {attempt} attempts: {exc}") from None
                delay = getattr(exc, "retry_after", None)
                if delay is None:
                    delay = self.backoff * (2 ** (attempt - 1))
                delay = min(self.max_backoff, delay)
                log.info("%s: %s; retry %d/%d in %.1f s", remote.name, exc, attempt,
                         self.retries, delay)
                time.sleep(delay)

    def _verify_and_commit(self, url: str, remote: RemoteFile, final: Path,
                           result: _Attempt) -> _Attempt:
        part, meta = _part_paths(final)
        problem = None
        if remote.size is not None and result.size != remote.size:
            problem = f"size mismatch: expected {remote.size} bytes, got {result.size}"
        elif remote.checksum is not None and result.checksum != remote.checksum:
            algo = remote.checksum.split(":", 1)[0]
            problem = (f"{algo} mismatch: expected {remote.checksum.split(':', 1)[1]}, got "
                       f"{(result.checksum or ':').split(':', 1)[1]}")
        if problem:
            # Corrupt bytes must neither be resumed nor appear under the final name.
            part.unlink(missing_ok=True)
            meta.unlink(missing_ok=True)
            raise _Mismatch(f"{remote.name}: {problem} (from {url})")
        os.replace(part, final)
        meta.unlink(missing_ok=True)
        return result

    # -- HTTP ----------------------------------------------------------------------------

    def _session(self) -> requests.Session:
        session = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            session.headers["User-Agent"] = USER_AGENT
            # Compression would make Range offsets refer to encoded bytes.
            session.headers["Accept-Encoding"] = "identity"
            self._local.session = session
        return session

    def _gate(self, host: str) -> _HostGate:
        with self._gates_lock:
            gate = self._gates.get(host)
            if gate is None:
                gate = self._gates[host] = _HostGate(threading.Semaphore(self.per_host))
            return gate

    def _polite_wait(self, host: str, gate: _HostGate) -> None:
        delay = self.delays.get(host, self.default_delay)
        with gate.lock:
            now = time.monotonic()
            start = max(now, gate.next_at)
            gate.next_at = start + delay
        if start > now:
            time.sleep(start - now)

    def _request(self, method: str, url: str, headers: dict[str, str]) -> requests.Response:
        host = urlsplit(url).hostname or ""
        gate = self._gate(host)
        self._polite_wait(host, gate)
        try:
            return self._session().request(method, url, headers=headers, stream=True,
                                           timeout=(self.timeout, self.timeout),
                                           allow_redirects=True)
        except (requests.Timeout, requests.ConnectionError) as exc:
            raise RetryableError(f"{type(exc).__name__}: {_first_line(exc)}") from None
        except requests.RequestException as exc:
            raise _NextCandidate(_first_line(exc)) from None

    def _http_attempt(self, url: str, remote: RemoteFile, final: Path, progress: Any) -> _Attempt:
        part, meta_path = _part_paths(final)
        part.parent.mkdir(parents=True, exist_ok=True)
        offset, validator = _resume_point(part, meta_path, url)
        headers: dict[str, str] = {}
        if offset:
            headers["Range"] = f"bytes={offset}-"
            if validator:
                headers["If-Range"] = validator
        host = urlsplit(url).hostname or ""
        gate = self._gate(host)
        with gate.semaphore:
            resp = self._request("GET", url, headers)
            with resp:
                status = resp.status_code
                if status in _NEXT_MIRROR:
                    raise _NextCandidate(f"HTTP {status}")
                if status == 429 or status >= 500:
                    err = RetryableError(f"HTTP {status}")
                    err.retry_after = _retry_after(resp)  # type: ignore[attr-defined]
                    raise err
                if status == 416 and offset:
                    if remote.size is not None and offset == remote.size:
                        return _hash_existing(part, resp, remote)
                    _discard(part, meta_path)
                    raise RetryableError("HTTP 416 for the resume offset; restarting")
                if status not in (200, 206):
                    raise _NextCandidate(f"HTTP {status}")
                etag = resp.headers.get("ETag")
                modified = resp.headers.get("Last-Modified")
                if status == 206:
                    start, total = _content_range(resp.headers.get("Content-Range", ""))
                    if start != offset:
                        _discard(part, meta_path)
                        raise RetryableError(f"server resumed at byte {start}, asked {offset}")
                else:
                    if offset:
                        log.info("%s: the server sent the whole file; restarting", remote.name)
                    offset = 0
                    length = resp.headers.get("Content-Length")
                    total = int(length) if length and length.isdigit() else None
                _write_json(meta_path, {"url": url, "etag": etag, "last_modified": modified,
                                        "size": total})
                digest = _Digests(remote)
                if offset:
                    digest.update_from(part)  # the resumed prefix, hashed once from disk
                task = progress.add_task(remote.name, total=total or remote.size,
                                         completed=offset)
                written = offset
                try:
                    with open(part, "ab" if offset else "wb") as out:
                        for chunk in resp.iter_content(self.chunk_size):
                            out.write(chunk)
                            digest.update(chunk)
                            written += len(chunk)
                            progress.update(task, completed=written)
                except (requests.RequestException, OSError) as exc:
                    # requests' errors are OSErrors too; a local disk error is not retried.
                    if not isinstance(exc, (requests.RequestException, ConnectionError)):
                        raise
                    raise RetryableError(f"connection lost at byte {written}: "
                                         f"{_first_line(exc)}") from None
                finally:
                    progress.remove_task(task)
                if total is not None and written != total:
                    raise RetryableError(f"connection closed at byte {written} of {total}")
                return digest.attempt(written, etag, modified)

    def _copy_local(self, url: str, remote: RemoteFile, final: Path, progress: Any) -> _Attempt:
        src = _local_path(url)
        if not src.is_file():
            raise _NextCandidate("no such local file")
        part, meta_path = _part_paths(final)
        part.parent.mkdir(parents=True, exist_ok=True)
        meta_path.unlink(missing_ok=True)
        st = src.stat()
        digest = _Digests(remote)
        task = progress.add_task(remote.name, total=st.st_size)
        size = 0
        try:
            with open(src, "rb") as fin, open(part, "wb") as fout:
                for block in iter(lambda: fin.read(_HASH_BLOCK), b""):
                    fout.write(block)
                    digest.update(block)
                    size += len(block)
                    progress.update(task, completed=size)
        finally:
            progress.remove_task(task)
        return digest.attempt(size, None, email.utils.formatdate(st.st_mtime, usegmt=True))

    # -- change detection ----------------------------------------------------------------

    def _head(self, url: str) -> dict[str, Any]:
        if not _is_remote(url):
            src = _local_path(url)
            if not src.is_file():
                raise _NextCandidate("no such local file")
            st = src.stat()
            return {"etag": None, "size": st.st_size,
                    "last_modified": email.utils.formatdate(st.st_mtime, usegmt=True)}
        attempt = 0
        while True:
            try:
                resp = self._request("HEAD", url, {})
                with resp:
                    if resp.status_code in _NEXT_MIRROR:
                        raise _NextCandidate(f"HTTP {resp.status_code}")
                    if resp.status_code == 429 or resp.status_code >= 500:
                        raise RetryableError(f"HTTP {resp.status_code}")
                    if resp.status_code >= 400:
                        raise _NextCandidate(f"HTTP {resp.status_code}")
                    length = resp.headers.get("Content-Length")
                    return {"etag": resp.headers.get("ETag"),
                            "last_modified": resp.headers.get("Last-Modified"),
                            "size": int(length) if length and length.isdigit() else None}
            except RetryableError as exc:
                attempt += 1
                if attempt > self.retries:
                    raise _NextCandidate(str(exc)) from None
                time.sleep(min(self.max_backoff, self.backoff * 2 ** (attempt - 1)))

    def _check_one(self, remote: RemoteFile, record: dict[str, Any] | None,
                   rules: Sequence[tuple[str, str]], bases: Sequence[str]) -> UpdateStatus:
        errors = []
        for url in self._candidates(remote.url, rules, bases):
            try:
                head = self._head(url)
            except _NextCandidate as exc:
                errors.append(f"{url}: {exc}")
                continue
            detail = ", ".join(f"{k}={v}" for k, v in head.items() if v is not None) or None
            if not record:
                return UpdateStatus(remote.name, url, "not_downloaded", detail=detail)
            changes = []
            same_server = record.get("url") == url
            for key in ("etag", "last_modified"):
                if same_server and head[key] and record.get(key) and head[key] != record[key]:
                    changes.append(key)
            if head["size"] is not None and record.get("size") is not None \
                    and head["size"] != record["size"]:
                changes.append("size")
            return UpdateStatus(remote.name, url, "changed" if changes else "unchanged",
                                tuple(changes), detail)
        return UpdateStatus(remote.name, self._candidates(remote.url, rules, bases)[0],
                            "unreachable", detail="; ".join(errors))

    # -- records -------------------------------------------------------------------------

    def _record(self, dest_dir: Path, remote: RemoteFile, url: str, attempt: _Attempt,
                final: Path) -> None:
        record = {"url": url, "size": attempt.size, "sha256": attempt.sha256,
                  "etag": attempt.etag, "last_modified": attempt.last_modified,
                  "mtime_ns": final.stat().st_mtime_ns}
        other = _other_checksum(remote, attempt.checksum)
        if other:
            record["checksum"] = other  # verified md5/sha1: a later run need not rehash
        self._write_record(dest_dir, remote.name, record)

    def _records(self, dest_dir: Path) -> tuple[dict[str, Any], dict[str, Any]]:
        """(records, failures) of `dest_dir` as this downloader knows them (disk + changes)."""
        key = str(dest_dir)
        with self._state_lock:
            if key not in self._states:
                self._states[key] = (load_state(dest_dir), load_failures(dest_dir))
            return self._states[key]

    def _write_record(self, dest_dir: Path, name: str, record: dict[str, Any] | None,
                      failure: dict[str, Any] | None = None) -> None:
        """Record a finished file (clearing an earlier failure of it), or a failure.

        Changes reach ``.download.json`` at most once a second and when `fetch_files`
        ends; a record lost to a crash only costs re-hashing that file next time."""
        records, failures = self._records(dest_dir)
        key = str(dest_dir)
        with self._state_lock:
            if record is not None:
                records[name] = record
                failures.pop(name, None)
            if failure is not None:
                failures[name] = failure
            self._changes.setdefault(key, {})[name] = (record, failure)
            due = time.monotonic() - self._flushed_at.get(key, 0.0) >= 1.0
        if due:
            self._flush(dest_dir)

    def _flush(self, dest_dir: Path) -> None:
        """Merge this downloader's changes into ``.download.json`` (another process may
        have written records of other files meanwhile)."""
        key = str(dest_dir)
        with self._state_lock:
            changes = self._changes.pop(key, {})
            self._flushed_at[key] = time.monotonic()
            if not changes:
                return
            state, failed = load_state(dest_dir), load_failures(dest_dir)
            for name, (record, failure) in changes.items():
                if record is not None:
                    state[name] = record
                    failed.pop(name, None)
                if failure is not None:
                    failed[name] = failure
            data: dict[str, Any] = {"version": STATE_VERSION, "files": dict(sorted(state.items()))}
            if failed:
                data["failed"] = dict(sorted(failed.items()))
            _write_json(Path(dest_dir) / STATE_FILE, data)

    # -- robots.txt ----------------------------------------------------------------------

    def _check_robots(self, url: str, rules: Sequence[tuple[str, str]]) -> None:
        """Raise `SourceError` when the host's robots.txt forbids `url` (or cannot be read).

        Fetched once per scheme and host; the robots URL goes through the same rewrite
        rules as the page, so a mirror serves both."""
        parts = urlsplit(url)
        base = f"{parts.scheme}://{parts.netloc}"
        with self._gates_lock:
            lock = self._robots_locks.setdefault(base, threading.Lock())
        with lock:
            verdict = self._robots.get(base)
            if verdict is None:
                verdict = self._robots[base] = self._load_robots(base, rules)
                delay = None if isinstance(verdict, str) else verdict.crawl_delay(USER_AGENT)
                if delay:
                    # the host's Crawl-delay spaces our requests (capped: a robots.txt
                    # asking for hours would stall the crawl; max_backoff bounds it)
                    host = urlsplit(rewrite_url(url, rules)).hostname or ""
                    with self._gates_lock:
                        self.delays[host] = max(self.delays.get(host, 0.0),
                                                min(float(delay), self.max_backoff))
        if isinstance(verdict, str):
            raise SourceError(f"{url}: {verdict}")
        if not verdict.can_fetch(USER_AGENT, url):
            raise SourceError(f"{url}: robots.txt disallows it for {USER_AGENT.split('/')[0]}")

    def _load_robots(self, base: str, rules: Sequence[tuple[str, str]]
                     ) -> urllib.robotparser.RobotFileParser | str:
        robots_url = rewrite_url(base + "/robots.txt", rules)
        parser = urllib.robotparser.RobotFileParser()
        if not _is_remote(robots_url):
            src = _local_path(robots_url)
            parser.parse(src.read_text("utf-8", "replace").splitlines() if src.is_file() else [])
            return parser
        try:
            host = urlsplit(robots_url).hostname or ""
            with self._gate(host).semaphore:
                resp = self._request("GET", robots_url, {})
                with resp:
                    status = resp.status_code
                    # RFC 9309: at most 500 KiB of a robots.txt need be parsed
                    body = resp.raw.read(500 * 1024, decode_content=True) if status == 200 else b""
        except (RetryableError, _NextCandidate, requests.RequestException, OSError) as exc:
            log.info("%s: unreachable (%s)", robots_url, exc)
            return f"host unreachable: robots.txt: {_first_line(exc)}"
        log.info("%s: HTTP %d", robots_url, status)
        if status >= 500 or status == 429:
            return f"robots.txt unavailable (HTTP {status}): the host is treated as off limits"
        if status == 200:
            parser.parse(body.decode("utf-8", "replace").splitlines())
        else:
            parser.allow_all = True  # 4xx: no robots.txt, no restriction
        return parser


# -- entry points for the CLI and the runner ------------------------------------------


def download_sources(sources: Sequence[Source], *, mirror_map: Mapping[str, str] | None = None,
                     progress: bool | None = True, refresh: bool = False,
                     downloader: Downloader | None = None) -> list[DownloadResult]:
    """Download every source's upstream files (``pile download``).

    Args:
        sources: the sources to fetch (local ``paths`` sources are skipped).
        mirror_map: ``--mirror`` rewrite rules, FROM prefix -> TO (URL, folder, file://).
        progress: ``True`` shows bars when stderr is a terminal, ``False`` never.
        refresh: re-download files whose upstream changed (HEAD check first).
        downloader: a configured `Downloader` to use instead of a default one.

    Returns:
        One result per file, source by source; ``str(result)`` is a report line and
        ``result.ok`` is False for a file that failed (the others still downloaded).
    """
    dl = downloader or Downloader(rewrites=dict(mirror_map or {}),
                                  progress=None if progress else False)
    out: list[DownloadResult] = []
    for source in sources:
        results = dl.fetch(source, refresh=refresh)
        failed = [r for r in results if not r.ok]
        log.info("%s: %d file(s) ready, %d failed", source.name, len(results) - len(failed),
                 len(failed))
        out.extend(results)
    return out


def check_updates(source: Source, *, mirror_map: Mapping[str, str] | None = None,
                  downloader: Downloader | None = None) -> list[UpdateStatus]:
    """The downloaded files of `source` whose upstream changed (``pile sources``).

    Only files with status ``changed`` are returned; `Downloader.check_updates` gives
    every file's status (``not_downloaded``, ``unreachable``...).
    """
    dl = downloader or Downloader(rewrites=dict(mirror_map or {}), progress=False)
    return [s for s in dl.check_updates(source) if s.status == "changed"]


def cached_json(url: str, cache: Path, *, timeout: float = 60.0) -> Any:
    """A JSON listing (archive.org item metadata, a Wikimedia ``dumpstatus.json``),
    fetched once and kept in `cache` so later listings of the same build are offline
    and identical.

    Raises:
        SourceError: the listing cannot be fetched or is not JSON (named with its URL).
    """
    if cache.is_file():
        try:
            return json.loads(cache.read_text(encoding="utf-8"))
        except ValueError:
            log.warning("%s: unreadable cached listing; fetching it again", cache)
    try:
        resp = requests.get(url, timeout=timeout, headers={"User-Agent": USER_AGENT})
        resp.raise_for_status()
        data = resp.json()
    except (requests.RequestException, ValueError) as exc:
        raise SourceError(f"{url}: cannot fetch the upstream listing ({_first_line(exc)})") \
            from None
    cache.parent.mkdir(parents=True, exist_ok=True)
    _write_json(cache, data)
    return data


_SUMS_GNU_RE = re.compile(r"^\\?([0-9a-fA-F]{32,64})\s+\*?(.+?)\s*$")
_SUMS_BSD_RE = re.compile(r"^(MD5|SHA1|SHA256)\s*\((.+)\)\s*=\s*([0-9a-fA-F]{32,64})\s*$", re.I)


def parse_checksum_list(text: str, algo: str) -> dict[str, str]:
    """A published checksum list: file name -> ``"<algo>:<hex>"``.

    Two layouts: GNU ``md5sum``/``sha1sum`` lines, ``<hex>  <name>`` (Wikimedia's
    ``<wiki>-<date>-md5sums.txt``), and BSD/OpenSSL lines, ``MD5(<name>)= <hex>``
    (NCBI's ``pubmed25n0001.xml.gz.md5``). Names are taken as their last path part.

    Raises:
        SourceError: a digest of the wrong length for `algo` (`parse_checksum`).
    """
    out: dict[str, str] = {}
    for line in text.splitlines():
        line = line.strip()
        bsd = _SUMS_BSD_RE.match(line)
        if bsd:
            name, digest = bsd.group(2), bsd.group(3)
        else:
            gnu = _SUMS_GNU_RE.match(line)
            if not gnu:
                continue
            digest, name = gnu.group(1), gnu.group(2)
        tag, hexdigest = parse_checksum(f"{algo}:{digest}")
        out[name.rsplit("/", 1)[-1]] = f"{tag}:{hexdigest}"
    return out


def published_checksums(source: Source, sums: RemoteFile, algo: str) -> dict[str, str] | None:
    """The checksums a published list gives, once the downloader has stored it.

    A kind lists `sums` first (``listing_rounds`` >= 2, its name under `LISTING_DIR`)
    and the files it covers, with their checksums, in the next round.

    Returns:
        file name -> ``"<algo>:<hex>"``; None while the list is not downloaded yet
        (list only `sums` now); ``{}`` when its download failed, so the files are
        fetched unverified rather than not at all (the failure stays recorded).

    Raises:
        SourceError: the list is on disk but unreadable.
    """
    path = source.raw_dir / sums.name
    if path.is_file():
        try:
            return parse_checksum_list(path.read_text("utf-8", "replace"), algo)
        except OSError as exc:
            raise SourceError(f"{path}: cannot read the checksum list ({exc})") from None
    if sums.name in load_failures(source.raw_dir):
        log.warning("%s: the checksum list could not be fetched; its files are downloaded "
                    "without a published checksum", sums.url)
        return {}
    return None


# -- helpers ---------------------------------------------------------------------------


def source_mirrors(source: Source) -> tuple[str, ...]:
    """The configured ``mirrors``; else, for the default listing (no explicit ``urls``),
    the source class's ``default_mirrors`` (if it names any)."""
    if source.cfg.mirrors or source.cfg.urls:
        return tuple(source.cfg.mirrors)
    return tuple(getattr(source, "default_mirrors", ()))


def _safe_join(dest_dir: Path, name: str) -> Path:
    """``dest_dir / name``, refusing names that would leave the folder."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if not parts or ".." in parts or name.startswith("/"):
        raise SourceError(f"{name!r}: a downloaded file's name must be a relative path "
                          "without '..'")
    return Path(dest_dir).joinpath(*parts)


def _part_paths(final: Path) -> tuple[Path, Path]:
    return final.with_name(final.name + ".part"), final.with_name(final.name + ".part.json")


def _resume_point(part: Path, meta_path: Path, url: str) -> tuple[int, str | None]:
    """Bytes already fetched from `url` and the If-Range validator (0 when unusable)."""
    if not part.is_file():
        meta_path.unlink(missing_ok=True)
        return 0, None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        meta = {}
    etag = meta.get("etag")
    strong = etag if etag and not etag.startswith("W/") else None
    validator = strong or meta.get("last_modified")
    if meta.get("url") != url or not validator:
        # Bytes from another server, or with no way to tell whether the upstream
        # changed since: splicing them would be a silent corruption.
        _discard(part, meta_path)
        return 0, None
    return part.stat().st_size, validator


def _discard(part: Path, meta_path: Path) -> None:
    part.unlink(missing_ok=True)
    meta_path.unlink(missing_ok=True)


def _hash_existing(part: Path, resp: requests.Response, remote: RemoteFile) -> _Attempt:
    digests = _Digests(remote)
    digests.update_from(part)
    return digests.attempt(part.stat().st_size, resp.headers.get("ETag"),
                           resp.headers.get("Last-Modified"))


def _other_checksum(remote: RemoteFile, checksum: str | None) -> str | None:
    """The verified digest worth recording besides the sha256: a published md5/sha1."""
    if remote.checksum and not remote.checksum.startswith("sha256:"):
        return checksum
    return None


def _content_range(value: str) -> tuple[int, int | None]:
    """``bytes 100-199/200`` -> (100, 200); a ``*`` total is None."""
    try:
        unit, rest = value.split(" ", 1)
        span, total = rest.split("/", 1)
        start = int(span.split("-", 1)[0])
        return start, (None if total.strip() == "*" else int(total))
    except ValueError:
        return -1, None


def _retry_after(resp: requests.Response) -> float | None:
    value = resp.headers.get("Retry-After")
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _first_line(exc: BaseException) -> str:
    return (str(exc).strip() or type(exc).__name__).splitlines()[0][:300]


def _write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=1, sort_keys=False) + "\n")


__all__ = ["DownloadResult", "Downloader", "HOST_DELAYS", "STATE_FILE", "UpdateStatus",
           "cached_json", "check_updates", "download_records", "download_sources",
           "failure_reason", "load_failures", "load_state", "mirror_url", "parse_checksum_list",
           "parse_rewrites", "published_checksums", "rewrite_url", "source_mirrors"]
