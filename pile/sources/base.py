"""The Source contract: where a corpus component comes from and how it becomes Documents.

A source has three jobs, split so tests can hit each alone:

- `list_files()`: the upstream files (`RemoteFile`: url, name under ``raw/<source>/``,
  and the sha256 / size when the upstream publishes them);
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
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Iterator

from pile.config import SourceConfig
from pile.document import Document, make_id
from pile.errors import ConfigError
from pile.stage import Dropped


@dataclass(frozen=True)
class RemoteFile:
    """One upstream file.

    Attributes:
        url: where to fetch it.
        name: relative path under ``raw/<source>/`` where it is stored.
        sha256: the published checksum, when the upstream publishes one (verified).
        size: the published size in bytes, when known (verified).
        robots: a crawled page: fetched only where the host's robots.txt allows it.
    """

    url: str
    name: str
    sha256: str | None = None
    size: int | None = None
    robots: bool = False


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
        `local_only` kind)."""
        if self.local_only:
            return []
        return [RemoteFile(url=u, name=_url_name(u)) for u in self.cfg.urls]

    def inputs(self) -> list[Path]:
        """The local files to extract, sorted so every run reads them in the same order.

        Explicit ``paths`` (files or globs) win; otherwise the downloaded files under
        ``raw/<source>/`` that `list_files` names.
        """
        if self.cfg.paths:
            return expand_paths(self.cfg.paths, f"sources.{self.name}.paths")
        files = [self.raw_dir / f.name for f in self.list_files()]
        return [p for p in files if p.is_file()]

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
        """Fail before any work when a configured local path does not exist."""
        if self.cfg.paths:
            expand_paths(self.cfg.paths, f"sources.{self.name}.paths")

    # -- extraction --------------------------------------------------------------------

    @abc.abstractmethod
    def read(self, path: Path) -> Iterator[Document | Dropped]:
        """Parse one local file into documents (pure: no network, no global state)."""

    def document(self, key: str | int, text: str, **meta: Any) -> Document:
        """Build a Document with a stable id and ``pile_set_name`` first in ``meta``."""
        return Document(id=make_id(self.name, key), source=self.name, text=text,
                        meta={"pile_set_name": self.set_name, **meta})

    def dropped(self, key: str | int, reason: str, **meta: Any) -> Dropped:
        """A record that could not be used (a broken JSON line...), counted with `reason`."""
        return Dropped(Document(id=make_id(self.name, key), source=self.name, text="",
                                meta={"pile_set_name": self.set_name, **meta}), reason)

    def key_for(self, path: Path) -> str:
        """A stable, machine-independent name for a local file (relative when possible)."""
        for root in [self.raw_dir, *(_glob_root(p) for p in self.cfg.paths)]:
            try:
                return Path(path).resolve().relative_to(Path(root).resolve()).as_posix()
            except ValueError:
                continue
        return Path(path).name

    def describe(self) -> dict[str, Any]:
        """What `pile sources` prints for this source."""
        terms = ("" if not self.terms else
                 f"{self.terms} [{'accepted' if self.cfg.accept_terms else 'not accepted'}]")
        return {"name": self.name, "kind": self.kind, "pile_set_name": self.set_name,
                "upstream": self.upstream, "license": self.license, "terms": terms}


def _url_name(url: str) -> str:
    name = url.rstrip("/").rsplit("/", 1)[-1].split("?", 1)[0]
    return name or "index"


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
            raise ConfigError(f"{field}[{i}]: no such file or folder: {pattern}")
        if not matches:
            raise ConfigError(f"{field}[{i}]: the pattern matches no file: {pattern}")
        for p in matches:
            out.setdefault(str(p.resolve()), p)
    return [out[k] for k in sorted(out)]


@functools.lru_cache(maxsize=256)
def _pattern_regex(patterns: tuple[str, ...]) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{fnmatch.translate(p)})" for p in patterns) or r"(?!)")


def matches_any(name: str, patterns: tuple[str, ...] | list[str]) -> bool:
    """True when `name` matches one of the shell patterns (one compiled regex per set:
    listing /usr/share/doc calls this for every path part of 75,000 files)."""
    return _pattern_regex(tuple(patterns)).match(name) is not None
