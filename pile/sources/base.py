"""The Source contract: where a corpus component comes from and how it becomes Documents.

A source has three jobs, split so tests can hit each alone:

- `list_files()`: the upstream files (`RemoteFile`: url, name under ``raw/<source>/``,
  and the checksum (sha256, sha1 or md5) / size when the upstream publishes them);
- `inputs()`: the local files to extract, in a deterministic order;
- `read(path)`: a pure parser + converter from one local file to `Document`s (and
  `Dropped` decisions for records that cannot be used, each with a reason).

Downloading is the base class's job (resume, retries, checksums, mirrors), so most
sources never override it. A file that cannot be read at all raises `SourceError`;
the runner records it and goes on with the other files.
"""

from __future__ import annotations

import abc
import fnmatch
import functools
import glob
import hashlib
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Callable, ClassVar, Iterable, Iterator, NamedTuple

from pile.config import DEFAULT_MAX_RECORD_BYTES, SourceConfig
from pile.document import Document, make_id, safe_text
from pile.errors import ConfigError, SourceError
from pile.stage import Dropped

# How much of an oversized record is read per step while it is skipped.
_SKIP_CHUNK = 1 << 20


END_OF_FILE = 1 << 62  # where a file's last span ends (`Source.spans`)


def even_spans(size: int, target: int) -> list[tuple[int, int]] | None:
    """A file of `size` bytes cut into equal byte ranges of at most about `target`, or
    None when it fits in one. The last range is open-ended: a compressed stream's
    position reaches the file's size while its last records are still coming out."""
    if size <= target:
        return None
    n = -(-size // target)
    step = -(-size // n)
    return [(i * step, (i + 1) * step if i < n - 1 else END_OF_FILE) for i in range(n)]

class RecordTooLarge(SourceError):
    """A record is larger than the size rule allows (raised where a helper cannot
    return a `Dropped` itself; the source turns it into a ``too_large`` drop)."""

    def __init__(self, label: str, size: int) -> None:
        super().__init__(f"{label}: {size} bytes, over the record size limit")
        self.size = size


# Where a kind stores what it downloads only to list other files (index pages, published
# checksum lists): below ``raw/<source>/_listing/``, never read as an input.
LISTING_DIR = "_listing"

# The digests an upstream may publish, with their hex lengths (Wikimedia: md5 and sha1,
# NCBI: md5, DeepMind: sha256).
CHECKSUM_ALGORITHMS: dict[str, int] = {"sha256": 64, "sha1": 40, "md5": 32}


def parse_checksum(value: str) -> tuple[str, str]:
    """``"md5:<hex>"`` -> ``("md5", "<hex>")`` (lower case).

    Raises:
        SourceError: no known algorithm tag, or a digest of the wrong length or alphabet.
    """
    algo, sep, digest = value.partition(":")
    algo, digest = algo.strip().lower(), digest.strip().lower()
    length = CHECKSUM_ALGORITHMS.get(algo)
    if not sep or length is None:
        raise SourceError(f"checksum {value!r}: expected <algorithm>:<hex digest> with one of "
                          f"{', '.join(CHECKSUM_ALGORITHMS)}")
    if len(digest) != length or not re.fullmatch(r"[0-9a-f]+", digest):
        raise SourceError(f"checksum {value!r}: a {algo} digest is {length} hex digits")
    return algo, digest


@dataclass(frozen=True)
class RemoteFile:
    """One upstream file.

    Attributes:
        url: where to fetch it.
        name: relative path under ``raw/<source>/`` where it is stored.
        checksum: the published digest, tagged with its algorithm (``sha256:<hex>``,
            ``sha1:<hex>`` or ``md5:<hex>``), when the upstream publishes one (verified
            while the bytes stream; the sha256 is computed and recorded either way).
        size: the published size in bytes, when known (verified).
        robots: a crawled page: fetched only where the host's robots.txt allows it.
    """

    url: str
    name: str
    checksum: str | None = None
    size: int | None = None
    robots: bool = False

    def __post_init__(self) -> None:
        if self.checksum is not None:
            algo, digest = parse_checksum(self.checksum)
            object.__setattr__(self, "checksum", f"{algo}:{digest}")


class FileStat(NamedTuple):
    """A listed file: its path, size and mtime in nanoseconds, from the listing's own stat."""

    path: str
    size: int
    mtime_ns: int


class Source(abc.ABC):
    """Base of all sources. Subclasses set the class attributes and implement `read`.

    Attributes:
        kind: the config's ``kind``.
        pile_set_name: the Pile's name for this component (``meta.pile_set_name``).
        license: the upstream's license, as users must honour it.
        upstream: where the data comes from, in words.
        options_schema: kind-specific ``options`` keys and their default values.
        terms: the upstream's terms of use when they restrict it (scraping bans, a
            non-commercial clause...). A kind with terms refuses to download until its
            config says ``accept_terms: true`` (`check_terms`); `pile sources` shows them.
        listing_rounds: how often the downloader may list again while the listing grows
            (an API walked level by level, such as HackerNews comment trees).
        fetch_with_paths: the kind still downloads when its inputs are local ``paths``
            (OpenWebText2 reads the user's Reddit dumps and fetches the pages they link).
        counts_fetch_failures: the kind accounts for its failed downloads itself (each
            crawled page OpenWebText2 could not fetch is a document dropped with the
            downloader's reason), so a build should not also list them as failed files.
        local_only: why the kind downloads nothing (YouTube's terms, books that cannot be
            had legally); such a kind lists no files and refuses ``urls``.
    """

    kind: ClassVar[str] = ""
    pile_set_name: ClassVar[str] = ""
    license: ClassVar[str] = "unknown"
    upstream: ClassVar[str] = ""
    options_schema: ClassVar[dict[str, Any]] = {}
    terms: ClassVar[str] = ""
    listing_rounds: ClassVar[int] = 1
    fetch_with_paths: ClassVar[bool] = False
    counts_fetch_failures: ClassVar[bool] = False
    local_only: ClassVar[str] = ""

    def __init__(self, cfg: SourceConfig, raw_dir: Path) -> None:
        self.cfg = cfg
        self.name = cfg.name
        self.raw_dir = Path(raw_dir) / cfg.name
        unknown = sorted(set(cfg.options) - set(self.options_schema))
        if unknown:
            known = ", ".join(sorted(self.options_schema)) or "none"
            raise ConfigError(f"sources.{cfg.name}.options.{unknown[0]}: unknown option for kind "
                              f"{self.kind!r}; known: {known}")
        self.options = {**self.options_schema, **cfg.options}
        if self.local_only and (cfg.urls or not cfg.paths):
            field = "urls" if cfg.urls else "paths"
            raise ConfigError(f"sources.{cfg.name}.{field}: {self.local_only}; give the files "
                              "as paths")

    @property
    def set_name(self) -> str:
        """The configured ``pile_set_name``, else the kind's Pile name, else the source name."""
        return self.cfg.pile_set_name or self.pile_set_name or self.name

    # -- listing and downloading -------------------------------------------------------

    def list_files(self) -> list[RemoteFile]:
        """The upstream files; the default is the config's explicit ``urls`` (none for a
        `local_only` kind), each stored under its URL path (see `url_name`).

        Raises:
            ConfigError: two URLs map to one local name (named, both).
        """
        if self.local_only:
            return []
        files = [RemoteFile(url=u, name=url_name(u)) for u in self.cfg.urls]
        check_unique_names(files, f"sources.{self.name}.urls")
        return files

    def inputs(self) -> list[Path]:
        """The local files to extract, sorted so every run reads them in the same order.

        Explicit ``paths`` (files or globs) win; otherwise the downloaded files under
        ``raw/<source>/`` that `list_files` names (except listings under `LISTING_DIR`).
        """
        if self.cfg.paths:
            return expand_paths(self.cfg.paths, f"sources.{self.name}.paths")
        files = [self.raw_dir / f.name for f in self.list_files()
                 if f.name.split("/", 1)[0] != LISTING_DIR]
        return [p for p in files if p.is_file()]

    def listing(self) -> list[Path] | list[FileStat]:
        """`inputs` as the plan takes them: paths, which the plan stats, or, from a source
        whose listing has stat'ed every file anyway (a tree walk), `FileStat`s, which it
        takes as they are (no second stat, no `Path` per file)."""
        return self.inputs()

    def check_choice(self, key: str, choices: tuple[str, ...] | list[str]) -> None:
        """Refuse an option whose value is not one of `choices` (named behaviours).

        Raises:
            ConfigError: naming the option, the choices and the value.
        """
        value = self.options[key]
        if value not in choices:
            raise ConfigError(f"sources.{self.name}.options.{key}: expected one of "
                              f"{', '.join(choices)}, got {value!r}")

    def check_terms(self) -> None:
        """Refuse to fetch from an upstream whose terms the config has not accepted.

        Raises:
            ConfigError: the kind has `terms` and ``accept_terms`` is not true.
        """
        if self.terms and not self.cfg.accept_terms:
            raise ConfigError(f"sources.{self.name}: the upstream's terms restrict its use "
                              f"({self.terms}); set accept_terms: true to download it")

    def check_inputs(self) -> None:
        """Fail before any work when a configured local path does not exist, or when two
        configured ``urls`` would be stored under one name."""
        if self.cfg.paths:
            expand_paths(self.cfg.paths, f"sources.{self.name}.paths")
        elif self.cfg.urls:
            check_unique_names(self.list_files(), f"sources.{self.name}.urls")

    # -- extraction --------------------------------------------------------------------

    @abc.abstractmethod
    def read(self, path: Path) -> Iterator[Document | Dropped]:
        """Parse one local file into documents (pure: no network, no global state)."""

    def spans(self, path: Path, target: int) -> list[tuple[int, int]] | None:
        """Byte ranges of `path` that can be read as separate units (`read_span`), or None
        when the file is read whole. Only formats whose records can be found from any
        offset split: JSON Lines (`files`), record-gzipped WARC (`commoncrawl`) and
        multistream bzip2 dumps (`wikipedia`). The ranges depend only on the file and
        `target`."""
        return None

    def read_span(self, path: Path, span: tuple[int, int]) -> Iterator[Document | Dropped]:
        """The records of `path` that start inside `span` (see `spans`)."""
        raise SourceError(f"{path}: {self.kind} files are not read in parts")

    def document(self, key: str | int, text: str, **meta: Any) -> Document:
        """Build a Document with a stable id and ``pile_set_name`` first in ``meta``."""
        return Document(id=make_id(self.name, key), source=self.name, text=text,
                        meta={"pile_set_name": self.set_name, **meta})

    def dropped(self, key: str | int, reason: str, **meta: Any) -> Dropped:
        """A record that could not be used (a broken JSON line...), counted with `reason`."""
        return Dropped(Document(id=make_id(self.name, key), source=self.name, text="",
                                meta={"pile_set_name": self.set_name, **meta}), reason)

    def key_for(self, path: Path) -> str:
        """A stable, machine-independent name for a local file (relative when possible).

        A file name that is not valid UTF-8 (Python hands it over with its bad bytes as
        surrogates) gets those bytes percent-escaped, so the key is valid text that every
        writer can encode, and the same on every run.
        """
        for root in [self.raw_dir, *(_glob_root(p) for p in self.cfg.paths)]:
            try:
                return safe_text(Path(path).resolve().relative_to(Path(root).resolve()).as_posix())
            except ValueError:
                continue
        return safe_text(Path(path).name)

    # -- the record size rule ----------------------------------------------------------

    @property
    def max_record_bytes(self) -> int:
        """The largest record (file, member, line, message) this source holds in memory
        (``run.max_record_bytes``, carried on the source's config)."""
        return self.cfg.max_record_bytes or DEFAULT_MAX_RECORD_BYTES

    def read_record(self, fileobj: IO[bytes], key: str | int, /, **meta: Any) -> bytes | Dropped:
        """All bytes of `fileobj` (a member, a message, a file), or -- when there are more
        than `max_record_bytes` -- a ``too_large`` drop with the record's size, the rest
        having been streamed past without being kept.

        This is the one place where every reader applies the size rule.
        """
        data, size = read_capped(fileobj, self.max_record_bytes)
        if data is None:
            return self.dropped(key, "too_large", record_bytes=size, **meta)
        return data

    def read_file(self, file: Path, key: str | int, /, **meta: Any) -> bytes | Dropped:
        """`read_record` on a local file.

        Raises:
            SourceError: the file cannot be opened or read.
        """
        try:
            with open(file, "rb") as fh:
                return self.read_record(fh, key, **meta)
        except OSError as exc:
            raise SourceError(f"{file}: cannot read ({exc.strerror or exc})") from None

    def iter_lines(self, fileobj: IO[bytes]) -> Iterator[tuple[int, bytes | int]]:
        """The lines of a binary stream, numbered from 1, each at most `max_record_bytes`.

        Yields:
            (line number, the line's bytes), or (line number, its size in bytes) for a
            line over the limit, which was skipped while streaming (never held whole).
        """
        return bounded_lines(fileobj, self.max_record_bytes)

    def describe(self) -> dict[str, Any]:
        """What `pile sources` prints for this source."""
        terms = ("" if not self.terms else
                 f"{self.terms} [{'accepted' if self.cfg.accept_terms else 'not accepted'}]")
        return {"name": self.name, "kind": self.kind, "pile_set_name": self.set_name,
                "upstream": self.upstream, "license": self.license, "terms": terms}


def read_capped(fileobj: IO[bytes], limit: int) -> tuple[bytes | None, int]:
    """Read `fileobj` to its end, keeping at most `limit` bytes.

    Returns:
        (the bytes, their size), or (None, the full size) when the stream holds more
        than `limit` bytes; the excess is read in 1 MiB steps and discarded, so a
        decompression bomb costs time, never memory.
    """
    data = fileobj.read(limit + 1)
    if len(data) <= limit:
        return data, len(data)
    size = len(data)
    del data
    while True:
        chunk = fileobj.read(_SKIP_CHUNK)
        if not chunk:
            return None, size
        size += len(chunk)


def bounded_lines(fileobj: IO[bytes], limit: int) -> Iterator[tuple[int, bytes | int]]:
    """See `Source.iter_lines` (a function too, for module-level parsers)."""
    lineno = 0
    while True:
        line = fileobj.readline(limit + 1)
        if not line:
            return
        lineno += 1
        if len(line) <= limit:
            yield lineno, line
            continue
        size, ended = len(line), line.endswith(b"\n")
        del line
        while not ended:  # skip to the end of the oversized line
            part = fileobj.readline(_SKIP_CHUNK)
            size += len(part)
            ended = not part or part.endswith(b"\n")
        yield lineno, size


def url_name(url: str) -> str:
    """Where a download from `url` is stored below ``raw/<source>/``: its URL path,
    percent-decoded and made safe.

    ``https://irclogs.ubuntu.com/2025/11/26/%23ubuntu.txt`` -> ``2025/11/26/#ubuntu.txt``.
    The host and the query are left out (two URLs that differ only there collide, which
    `check_unique_names` refuses). Made safe: empty, ``.`` and ``..`` segments (also when
    percent-encoded) never climb out of the folder (``..`` is kept as ``%2E%2E``), bytes
    that are not UTF-8 and control characters stay percent-escaped, a segment too long
    for a file system is shortened with a hash of itself, and a URL ending in ``/`` is
    stored as ``.../index.html`` (so it never clashes with a folder of the same name).
    """
    path = urllib.parse.urlsplit(url).path
    segments = path.split("/")
    parts: list[str] = []
    for raw in segments:
        seg = safe_text(urllib.parse.unquote_to_bytes(raw).decode("utf-8", "surrogateescape"))
        seg = _CONTROL_RE.sub(lambda m: f"%{ord(m.group()):02X}", seg.replace("\\", "%5C"))
        if seg in ("", "."):
            continue
        if seg == "..":
            seg = "%2E%2E"
        if "/" in seg:  # a percent-encoded slash is part of the segment, not a folder
            seg = seg.replace("/", "%2F")
        if len(seg.encode("utf-8")) > 200:
            digest = hashlib.sha256(seg.encode("utf-8")).hexdigest()[:16]
            seg = seg.encode("utf-8")[:150].decode("utf-8", "ignore") + f"~{digest}"
        parts.append(seg)
    if not parts:
        return "index.html"
    if path.endswith("/"):
        parts.append("index.html")
    return "/".join(parts)


_CONTROL_RE = re.compile(r"[\x00-\x1f\x7f]")


def check_unique_names(files: Iterable[RemoteFile], field: str) -> None:
    """Refuse two upstream files stored under one local name (or a file stored where
    another needs a folder): one would silently overwrite the other.

    Raises:
        ConfigError: naming `field` and both URLs.
    """
    by_name: dict[str, str] = {}
    for f in files:
        other = by_name.setdefault(f.name, f.url)
        if other != f.url:
            raise ConfigError(f"{field}: {other} and {f.url} would both be stored as "
                              f"{f.name!r}; give one of them another name")
    for name, url in by_name.items():
        parts = name.split("/")
        for i in range(1, len(parts)):
            folder = "/".join(parts[:i])
            if folder in by_name:
                raise ConfigError(f"{field}: {by_name[folder]} is stored as the file {folder!r}, "
                                  f"where {url} needs a folder; give one of them another name")


def _glob_root(pattern: str) -> Path:
    """The folder part of a glob before its first wildcard (``data/**/x.txt`` -> ``data``)."""
    parts = Path(pattern).expanduser().parts
    root: list[str] = []
    for part in parts:
        if any(ch in part for ch in "*?["):
            break
        root.append(part)
    path = Path(*root) if root else Path(".")
    return path if path.is_dir() else path.parent


def expand_paths(patterns: tuple[str, ...] | list[str], field: str) -> list[Path]:
    """Expand files, folders (recursively) and globs into a sorted, de-duplicated list.

    Raises:
        ConfigError: a pattern matches nothing (named with its field).
    """
    out: dict[str, Path] = {}
    for i, pattern in enumerate(patterns):
        expanded = str(Path(pattern).expanduser())
        if any(ch in expanded for ch in "*?["):
            matches = [Path(p) for p in glob.glob(expanded, recursive=True)]
            matches = [p for p in matches if p.is_file()]
        elif Path(expanded).is_dir():
            matches = [p for p in Path(expanded).rglob("*") if p.is_file()]
        elif Path(expanded).is_file():
            matches = [Path(expanded)]
        else:
            raise ConfigError(f"{field}[{i}]: no such file or folder: {Path(expanded).absolute()}")
        if not matches:
            raise ConfigError(f"{field}[{i}]: the pattern matches no file: {Path(expanded).absolute()}")
        for p in matches:
            out.setdefault(str(p.resolve()), p)
    return [out[k] for k in sorted(out)]


@functools.lru_cache(maxsize=256)
def _pattern_regex(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns) or r"(?!)")


def pattern_matcher(patterns: tuple[str, ...] | list[str]) -> Callable[[str], object]:
    """Whether a name matches one of the shell patterns: a truthy match or None. One
    regex for the set, compiled once: a listing of /usr/share/doc asks for each of its
    75,000 names."""
    return _pattern_regex(tuple(patterns)).match
