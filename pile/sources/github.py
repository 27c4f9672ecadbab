"""GitHub (the Pile's "Github" component): source files of public repositories.

Input: a repository list, or local clones.

- ``repos`` (``owner/name`` or ``owner/name@ref`` entries) and/or ``repo_list`` (a file of
  such lines, or a CSV with a ``name``/``repo`` column and optionally ``stars``, as
  github-downloader's ``github_repositories.csv``; ``min_stars`` filters it). Each
  repository is fetched by the shared downloader as
  ``https://codeload.github.com/<owner>/<name>/tar.gz/<ref>`` (``ref`` defaults to
  ``HEAD``, the default branch; pin a commit for a reproducible build). The Pile's own
  repository list is lost (github-downloader's CSV of ~192,000 repositories was never
  published with the data), so a list must be given.
- ``paths``: local clones (folders; their ``.git`` folders are skipped) or tarballs
  already on disk (files, or ``.tar.gz`` files in a folder that is not a git clone). A
  clone's ``owner/name`` comes from its ``.git/config`` ``origin`` URL, else its folder
  name; a tarball's from the listing, else its ``<name>-<ref>/`` folder.

Tarballs are streamed through `pile.sources.archive.iter_archive` (absolute names,
``..`` and escaping links are refused; a truncated tarball fails the file). The
codeload ``<name>-<ref>/`` prefix (a top folder every file is under) is removed from
paths. Each tarball is read twice, first for its licence file and its top folder (git
archive orders members by path, so LICENSE need not come first), then for the documents;
nothing is unpacked to disk.

One document per file. Files are dropped, each counted by reason, as github-downloader
and the Pile did (``github_v1``):

- ``dotfile`` (a path part starting with ``.``), ``license_file`` (``LICENSE*`` /
  ``LICENCE*``), ``node_modules``, ``vendored`` (``vendor/``, ``third_party/``,
  ``bower_components/``... and minified ``*.min.*`` files);
- ``blacklisted_extension`` (`BLACKLISTED_EXTENSIONS`: binaries, images, archives,
  fonts, data dumps, lock files);
- ``too_large`` (100,000 characters or more), ``empty``, ``binary`` (a NUL byte),
  ``not_text`` (not UTF-8);
- ``digits`` (more than 80% of the characters are digits), ``long_lines`` (mean line
  length over 200 characters; lines counted with a last line that has no newline, where
  github-downloader divided by the number of newlines, dropping every one-line file);
- ``license_not_allowed``: the repository's licence is not in the ``licenses``
  allow-list (when one is given), as the Common Pile kept only openly licensed code.

The licence is detected from the repository's root licence file (``LICENSE``,
``LICENCE``, ``COPYING``, with any extension) as an SPDX id (`detect_license`):
``NOASSERTION`` when the text is not recognised, ``NONE`` when there is no file.
Meta: ``repo``, ``ref`` (the commit id the tarball carries in its pax header, as
``git archive`` writes it, with the branch or tag asked for in ``ref_requested``; the ref
asked for when the tarball carries none), ``path``, ``language`` (from the extension), ``license``, and
``stars`` when the list gives them. Ids are ``<source>/<owner>/<name>/<path>``.
"""

from __future__ import annotations

import csv
import logging
import re
import tarfile
from pathlib import Path, PurePosixPath
from typing import IO, Any, ClassVar, Iterator
from urllib.parse import urlsplit

from pile.config import SourceConfig
from pile.document import Document
from pile.errors import ConfigError, SourceError
from pile.sources.archive import archive_format, iter_archive
from pile.sources.base import RemoteFile, Source, expand_paths
from pile.stage import Dropped

log = logging.getLogger(__name__)

CODELOAD = "https://codeload.github.com/{repo}/tar.gz/{ref}"
MAX_CHARS = 100_000          # github-downloader: files of this many characters or more go
MAX_DIGIT_FRACTION = 0.8
MAX_MEAN_LINE = 200
# A UTF-8 character is at most 4 bytes: a file this long is too large whatever it holds,
# so no more than this is ever read of one file.
_MAX_READ = 4 * MAX_CHARS

BLACKLISTED_EXTENSIONS = frozenset({
    # compiled code and libraries
    "app", "bin", "class", "dll", "dylib", "egg", "exe", "jar", "lo", "nar", "o", "pyc", "pyd",
    "pyo", "so", "war",
    # images, audio, video, documents
    "bmp", "gif", "ico", "jpeg", "jpg", "png", "svg", "mp3", "mp4", "ogg", "webm", "pdf",
    # fonts
    "eot", "glif", "otf", "ttf", "woff", "woff2",
    # archives and compressed data
    "bz2", "gz", "tar", "xz", "zip", "zst",
    # data, logs, serialised objects, lock files, build scripts
    "csv", "dat", "db", "log", "lock", "p", "pickle", "pkl", "tsv", "gradle", "gitignore",
    "rkt", "ss",
})
VENDORED_DIRS = frozenset({"vendor", "vendors", "third_party", "thirdparty", "third-party",
                           "bower_components", "external", "externals"})

LANGUAGES = {
    "py": "Python", "pyi": "Python", "js": "JavaScript", "mjs": "JavaScript", "jsx": "JavaScript",
    "ts": "TypeScript", "tsx": "TypeScript", "java": "Java", "c": "C", "h": "C", "cc": "C++",
    "cpp": "C++", "cxx": "C++", "hpp": "C++", "hh": "C++", "cs": "C#", "go": "Go", "rs": "Rust",
    "rb": "Ruby", "php": "PHP", "swift": "Swift", "kt": "Kotlin", "scala": "Scala", "m": "Objective-C",
    "sh": "Shell", "bash": "Shell", "zsh": "Shell", "ps1": "PowerShell", "pl": "Perl", "lua": "Lua",
    "r": "R", "jl": "Julia", "hs": "Haskell", "ml": "OCaml", "ex": "Elixir", "exs": "Elixir",
    "erl": "Erlang", "clj": "Clojure", "el": "Emacs Lisp", "vim": "Vim script", "sql": "SQL",
    "html": "HTML", "htm": "HTML", "css": "CSS", "scss": "SCSS", "md": "Markdown",
    "rst": "reStructuredText", "tex": "TeX", "json": "JSON", "yaml": "YAML", "yml": "YAML",
    "toml": "TOML", "xml": "XML", "ini": "INI", "cfg": "INI", "bat": "Batchfile",
    "cmd": "Batchfile", "mk": "Makefile", "cmake": "CMake", "vtt": "WebVTT", "srt": "SubRip Text",
    "txt": "Text", "in": "Text",
}
FILE_LANGUAGES = {"makefile": "Makefile", "dockerfile": "Dockerfile", "cmakelists.txt": "CMake"}

# GNU licences name each other in their text (GPL-3 mentions the Affero GPL, GPL-2 the
# Library GPL): the title at the top decides, with the version that follows it.
_GNU_TITLES = (("gnu affero general public license", "AGPL"),
               ("gnu lesser general public license", "LGPL"),
               ("gnu library general public license", "LGPL"),
               ("gnu general public license", "GPL"))
_GNU_VERSION_RE = re.compile(r"version (\d(?:\.\d)?)")
_GNU_HEAD_CHARS = 300
# (SPDX id, phrases that must all occur in the normalised licence text), most specific first
_LICENSE_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("MPL-2.0", ("mozilla public license", "2.0")),
    ("Apache-2.0", ("apache license", "version 2.0")),
    ("MIT", ("permission is hereby granted, free of charge",
             "the above copyright notice and this permission notice shall be included")),
    ("BSD-3-Clause", ("redistribution and use in source and binary forms",
                      "neither the name")),
    ("BSD-2-Clause", ("redistribution and use in source and binary forms",)),
    ("ISC", ("permission to use, copy, modify, and/or distribute this software for any purpose",)),
    ("ISC", ("permission to use, copy, modify, and distribute this software for any purpose",
             "with or without fee is hereby granted")),
    ("Unlicense", ("this is free and unencumbered software released into the public domain",)),
    ("CC0-1.0", ("cc0 1.0 universal",)),
    ("BSL-1.0", ("boost software license", "version 1.0")),
    ("EPL-2.0", ("eclipse public license", "v 2.0")),
    ("EPL-1.0", ("eclipse public license", "v 1.0")),
)
_LICENSE_NAME_RE = re.compile(r"^(?:license|licence|copying)(?:[.-].*)?$", re.IGNORECASE)
_WS_RE = re.compile(r"\s+")
_REPO_RE = re.compile(r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")
_ORIGIN_RE = re.compile(r'\[remote "origin"\][^\[]*?url\s*=\s*(\S+)', re.S)
_GITHUB_URL_RE = re.compile(r"github\.com[:/]([A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+?)(?:\.git)?/?$")


def detect_license(text: str) -> str:
    """The SPDX id of a licence file's text, or ``NOASSERTION`` when not recognised."""
    norm = _WS_RE.sub(" ", text.replace("\u2019", "'")).lower().strip()
    found = [(norm.find(title), family) for title, family in _GNU_TITLES if title in norm]
    if found:
        at, family = min(found)
        version = _GNU_VERSION_RE.search(norm, at, at + 200)
        if at < _GNU_HEAD_CHARS and version:
            number = version.group(1)
            return f"{family}-{number if '.' in number else number + '.0'}"
    for spdx, phrases in _LICENSE_RULES:
        if all(p in norm for p in phrases):
            return spdx
    return "NOASSERTION"


def is_license_name(name: str) -> bool:
    return _LICENSE_NAME_RE.match(name) is not None


def language_of(path: str) -> str:
    name = PurePosixPath(path).name.lower()
    if name in FILE_LANGUAGES:
        return FILE_LANGUAGES[name]
    ext = name.rsplit(".", 1)[-1] if "." in name else ""
    return LANGUAGES.get(ext, "")


def path_drop_reason(path: str) -> str | None:
    """Why a file is dropped from its path alone (``github_v1``), or None."""
    parts = PurePosixPath(path).parts
    name = parts[-1]
    if any(p.startswith(".") for p in parts):
        return "dotfile"
    if name.upper().startswith(("LICENSE", "LICENCE")):
        return "license_file"
    if "node_modules" in parts:
        return "node_modules"
    if any(p.lower() in VENDORED_DIRS for p in parts[:-1]) or ".min." in name:
        return "vendored"
    if "." in name and name.rsplit(".", 1)[-1].lower() in BLACKLISTED_EXTENSIONS:
        return "blacklisted_extension"
    return None


def content_drop_reason(data: bytes) -> tuple[str | None, str]:
    """(why a file is dropped from its bytes, or None; its text)."""
    if not data:
        return "empty", ""
    if len(data) > _MAX_READ:
        return "too_large", ""
    if b"\x00" in data:
        return "binary", ""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return "not_text", ""
    if len(text) >= MAX_CHARS:
        return "too_large", ""
    digits = sum(ch in "0123456789" for ch in text)
    if digits / len(text) > MAX_DIGIT_FRACTION:
        return "digits", ""
    lines = text.count("\n") + (0 if text.endswith("\n") else 1)
    if len(text) / lines > MAX_MEAN_LINE:
        return "long_lines", ""
    return None, text


def _read_capped(fh: IO[bytes]) -> bytes:
    """At most one byte more than any kept file can have (more means ``too_large``)."""
    return fh.read(_MAX_READ + 1)


def _relative(member: str, top: str | None) -> str:
    """A member's path in the repository: without the tarball's top folder, if it has one."""
    prefix, _, rest = member.partition("/")
    return rest if top is not None and prefix == top and rest else member


def parse_repo_entry(entry: str, field: str) -> tuple[str, str]:
    """``owner/name[@ref]`` -> (``owner/name``, ref)."""
    repo, _, ref = entry.strip().partition("@")
    repo = repo.strip().removeprefix("https://github.com/").removesuffix(".git").strip("/")
    if not _REPO_RE.match(repo):
        raise ConfigError(f"{field}: expected owner/name or owner/name@ref, got {entry!r}")
    return repo, ref.strip() or "HEAD"


_COMMIT_RE = re.compile(r"^[0-9a-f]{40}$")


def tarball_commit(path: Path) -> str | None:
    """The commit id a codeload tarball was made from: ``git archive`` writes it as the
    ``comment`` of the archive's pax global header. None when it has none (a tarball not
    made by git)."""
    try:
        with tarfile.open(path, "r:*") as tar:
            tar.next()  # the global header is read with the first member
            comment = (tar.pax_headers or {}).get("comment", "")
    except (tarfile.TarError, OSError, EOFError):
        return None  # the member pass reports a damaged tarball
    return comment if _COMMIT_RE.match(comment.strip()) else None


class GithubSource(Source):
    """Public repositories (codeload tarballs or local clones) -> one document per file.

    Options:
        repos: ``owner/name[@ref]`` entries.
        repo_list: a file of such lines, or a CSV with ``name`` (or ``repo``) and ``stars``.
        min_stars: keep only listed repositories with at least this many stars.
        licenses: an SPDX allow-list (``[MIT, Apache-2.0, ...]``); [] keeps every licence.
    """

    kind: ClassVar[str] = "github"
    pile_set_name: ClassVar[str] = "Github"
    license: ClassVar[str] = ("each repository's own licence (detected as an SPDX id into "
                              "meta.license; restrict with options.licenses)")
    upstream: ClassVar[str] = ("codeload.github.com/<owner>/<name>/tar.gz/<ref> for a given "
                               "repository list, or local clones (the Pile's own list is lost)")
    options_schema: ClassVar[dict[str, Any]] = {"repos": [], "repo_list": "", "min_stars": 0,
                                                "licenses": []}

    def __init__(self, cfg: SourceConfig, raw_dir: Path) -> None:
        super().__init__(cfg, raw_dir)
        field = f"sources.{self.name}.options"
        opts = self.options
        if not isinstance(opts["repos"], list):
            raise ConfigError(f"{field}.repos: expected a list of owner/name[@ref], got "
                              f"{opts['repos']!r}")
        for i, entry in enumerate(opts["repos"]):
            parse_repo_entry(str(entry), f"{field}.repos[{i}]")
        if not isinstance(opts["repo_list"], str):
            raise ConfigError(f"{field}.repo_list: expected a file path, got {opts['repo_list']!r}")
        if opts["repo_list"] and not Path(opts["repo_list"]).expanduser().is_file():
            raise ConfigError(f"{field}.repo_list: no such file: {opts['repo_list']}")
        if not isinstance(opts["min_stars"], int) or isinstance(opts["min_stars"], bool) \
                or opts["min_stars"] < 0:
            raise ConfigError(f"{field}.min_stars: expected an integer >= 0, got {opts['min_stars']!r}")
        if not isinstance(opts["licenses"], list) or not all(isinstance(x, str) for x in opts["licenses"]):
            raise ConfigError(f"{field}.licenses: expected a list of SPDX ids, got {opts['licenses']!r}")
        if not (opts["repos"] or opts["repo_list"] or cfg.paths or cfg.urls):
            raise ConfigError(f"{field}: give repos, repo_list or local paths (the Pile's own "
                              "repository list was never published)")
        self._licenses: dict[str, str] = {}

    # -- listing -----------------------------------------------------------------------

    def repositories(self) -> list[tuple[str, str, int | None]]:
        """(``owner/name``, ref, stars or None), in list order, duplicates removed."""
        field = f"sources.{self.name}.options"
        out: dict[tuple[str, str], int | None] = {}
        for i, entry in enumerate(self.options["repos"]):
            out.setdefault(parse_repo_entry(str(entry), f"{field}.repos[{i}]"), None)
        if self.options["repo_list"]:
            for n, (entry, stars) in enumerate(self._read_list(Path(self.options["repo_list"]))):
                if stars is not None and stars < self.options["min_stars"]:
                    continue
                if stars is None and self.options["min_stars"]:
                    continue
                out.setdefault(parse_repo_entry(entry, f"{field}.repo_list line {n + 1}"), stars)
        return [(repo, ref, stars) for (repo, ref), stars in out.items()]

    @staticmethod
    def _read_list(path: Path) -> Iterator[tuple[str, int | None]]:
        lines = path.expanduser().read_text("utf-8").splitlines()
        body = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
        if body and "," in body[0]:
            rows = list(csv.reader(body))
            header = [h.strip().lower() for h in rows[0]]
            has_header = "name" in header or "repo" in header or "repo_name" in header
            name_col = next((header.index(h) for h in ("name", "repo", "repo_name") if h in header), 0)
            star_col = header.index("stars") if "stars" in header else 1
            for row in rows[1:] if has_header else rows:
                stars = row[star_col].strip() if len(row) > star_col else ""
                yield row[name_col], (int(stars) if stars.isdigit() else None)
        else:
            for ln in body:
                yield ln.strip(), None

    def list_files(self) -> list[RemoteFile]:
        """One codeload tarball per listed repository (GitHub publishes no checksum)."""
        if self.cfg.urls:
            return super().list_files()
        return [RemoteFile(url=CODELOAD.format(repo=repo, ref=ref), name=f"{repo}/{ref}.tar.gz")
                for repo, ref, _ in self.repositories()]

    def inputs(self) -> list[Path]:
        """Tarballs, and every file of the local clones except their ``.git`` folders."""
        if not self.cfg.paths:
            return super().inputs()
        files = expand_paths(self.cfg.paths, f"sources.{self.name}.paths")
        return [f for f in files if ".git" not in Path(self.key_for(f)).parts]

    # -- extraction --------------------------------------------------------------------

    def _listed(self, path: Path) -> tuple[str, str, int | None] | None:
        """The listed repository a downloaded tarball belongs to (matched by its name
        under ``raw/`` or by its URL path, whichever way raw files are named)."""
        key = self.key_for(path)
        for (repo, ref, stars), remote in zip(self.repositories(), self.list_files()):
            if key in (remote.name, urlsplit(remote.url).path.lstrip("/")):
                return repo, ref, stars
        return None

    def read(self, path: Path) -> Iterator[Document | Dropped]:
        """A repository tarball -> one document per file; a clone's file -> its document.

        A file inside a configured folder is a file of that clone, except a ``.tar.gz`` /
        ``.tgz`` in a folder that is not a git clone (no ``.git``): a folder of tarballs.
        Anything else (a downloaded or given tarball, whatever its name) must be a tar
        archive.

        Raises:
            SourceError: a damaged tarball, a refused member (after the files before it),
                or a file that is neither in a clone nor a tarball.
        """
        path = Path(path)
        root = self._clone_root(path)
        if root is not None and path.name.endswith((".tar.gz", ".tgz")) \
                and not (root / ".git").is_dir() and archive_format(path) == "tar":
            root = None  # a folder of downloaded tarballs, not a working tree
        if root is None:
            if archive_format(path) != "tar":
                raise SourceError(f"{path}: not a repository tarball (.tar.gz) and not in a "
                                  "clone folder")
            yield from self._read_tarball(path)
            return
        repo = self._clone_repo(root)
        rel = path.resolve().relative_to(root.resolve()).as_posix()
        license_id = self._licenses.get(str(root))
        if license_id is None:
            license_id = self._licenses[str(root)] = self._clone_license(root)
        try:
            with open(path, "rb") as fh:
                data = _read_capped(fh)
        except OSError as exc:
            raise SourceError(f"{path}: cannot read ({exc.strerror})") from None
        yield self._file(repo, "", None, rel, license_id, data)

    def _read_tarball(self, path: Path) -> Iterator[Document | Dropped]:
        listed = self._listed(path)
        # Pass 1: the common top folder (codeload's <name>-<ref>/) and the root licence file
        first: str | None = None
        common = False
        licences: dict[str, str] = {}
        for n, (member, fh) in enumerate(iter_archive(path)):
            if n == 0:
                first, common = (member.split("/", 1)[0], True) if "/" in member else (None, False)
            elif common and not member.startswith(f"{first}/"):
                common = False
            parts = member.split("/")
            if len(parts) <= 2 and is_license_name(parts[-1]) and len(licences) < 8:
                licences[member] = detect_license(_read_capped(fh).decode("utf-8", "replace"))
        top = first if common else None
        root = {m: v for m, v in licences.items() if "/" not in _relative(m, top)}
        known = [v for m, v in sorted(root.items()) if v != "NOASSERTION"]
        license_id = known[0] if known else ("NOASSERTION" if root else "NONE")
        if listed:
            repo, ref, stars = listed
        else:
            # a tarball given as a path: codeload names its folder <name>-<ref>
            name, _, ref = (top or path.name.split(".", 1)[0]).rpartition("-")
            repo, stars = name or ref, None
        commit = tarball_commit(path)
        for member, fh in iter_archive(path):
            rel = _relative(member, top)
            reason = path_drop_reason(rel)
            if reason:
                yield self.dropped(f"{repo}/{rel}", reason, repo=repo, path=rel)
                continue
            yield self._file(repo, commit or ref, stars, rel, license_id, _read_capped(fh),
                             asked=ref)

    def _file(self, repo: str, ref: str, stars: int | None, rel: str, license_id: str,
              data: bytes, asked: str = "") -> Document | Dropped:
        key = f"{repo}/{rel}"
        meta: dict[str, Any] = {"repo": repo, "ref": ref, "path": rel,
                                "language": language_of(rel), "license": license_id}
        if asked and asked != ref:
            meta["ref_requested"] = asked  # the branch or tag the commit was fetched as
        if stars is not None:
            meta["stars"] = stars
        reason = path_drop_reason(rel)
        if reason is None and self.options["licenses"] and license_id not in self.options["licenses"]:
            reason = "license_not_allowed"
        text = ""
        if reason is None:
            reason, text = content_drop_reason(data)
        if reason:
            return self.dropped(key, reason, **meta)
        return self.document(key, text, **meta)

    # -- local clones ------------------------------------------------------------------

    def _clone_root(self, path: Path) -> Path | None:
        """The configured clone folder holding `path`, or None."""
        resolved = path.resolve()
        for pattern in self.cfg.paths:
            root = Path(pattern).expanduser()
            if root.is_dir() and resolved.is_relative_to(root.resolve()):
                return root
        return None

    @staticmethod
    def _clone_repo(root: Path) -> str:
        try:
            config = (root / ".git" / "config").read_text("utf-8", "replace")
        except OSError:
            return root.resolve().name
        found = _ORIGIN_RE.search(config)
        match = _GITHUB_URL_RE.search(found.group(1)) if found else None
        return match.group(1) if match else root.resolve().name

    @staticmethod
    def _clone_license(root: Path) -> str:
        found = "NONE"
        for candidate in sorted(p for p in root.iterdir() if p.is_file() and is_license_name(p.name)):
            with open(candidate, "rb") as fh:
                found = detect_license(_read_capped(fh).decode("utf-8", "replace"))
            if found != "NOASSERTION":
                break
        return found


__all__ = ["BLACKLISTED_EXTENSIONS", "CODELOAD", "GithubSource", "MAX_CHARS", "content_drop_reason",
           "detect_license", "language_of", "parse_repo_entry", "path_drop_reason"]
