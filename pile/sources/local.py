"""The embedded default corpus: real text already on the machine, read offline.

- `python`: the running Python installation's standard library — its ``.py`` sources
  (docstrings and the ``pydoc_data`` reference topics are the documentation) and text
  files; a code component like the Pile's GitHub (PSF licence).
- `system_docs`: the system documentation under ``/usr/share/doc`` (READMEs, changelogs,
  copyright files, Markdown, plain text, gzip'd or not) and ``/usr/share/man`` (manual
  pages, rendered from troff to plain text); a prose component.

Files are read in a fixed pseudo-random order (sha1 of the relative path), so a size
cap (``max_bytes``) keeps a deterministic sample spread over the whole tree instead
of its alphabetical beginning.
"""

from __future__ import annotations

import abc
import gzip
import hashlib
import os
import re
import sysconfig
import zlib
from pathlib import Path
from typing import Callable, Iterator

from pile.document import Document
from pile.errors import SourceError
from pile.sources.base import FileStat, Source, pattern_matcher
from pile.stage import Dropped

_MAX_FILE_BYTES = 8_000_000  # larger files are generated data, not documentation


def _spread_order(found: list[tuple[str, str, int, int]]) -> list[FileStat]:
    """(path, path relative to its root, size, mtime_ns) in the fixed sha1-spread order of
    the relative path."""
    # the raw digest sorts as its hex form does (fixed width, digits before letters)
    keyed = sorted((hashlib.sha1(rel.encode("utf-8", "surrogateescape")).digest(), path, size, mtime)
                   for path, rel, size, mtime in found)
    return [FileStat(path, size, mtime) for _key, path, size, mtime in keyed]


def _walk(root: Path, prune: Callable[[str], object], keep: Callable[[str], object]
          ) -> Iterator[tuple[str, str, int, int]]:
    """(path, relative path, size, mtime_ns) of every regular file below `root` whose name
    `keep` accepts, of at most `_MAX_FILE_BYTES`; symlinks neither followed nor listed,
    folders whose name `prune` accepts not entered. `os.scandir` keeps each entry's type
    from the directory read, and only kept files are stat'ed, once: the plan takes that
    stat as it is. Listing /usr/share/doc's 75,000 files (25,000 of them kept) this way is
    several times faster than `Path.rglob` with a `stat` per path, and every build lists it."""
    stack = [(str(root), "")]
    while stack:
        folder, rel = stack.pop()
        try:
            entries = os.scandir(folder)
        except OSError:
            continue
        with entries:
            for entry in entries:
                try:
                    if entry.is_symlink():
                        continue
                    if entry.is_dir(follow_symlinks=False):
                        if not prune(entry.name):
                            stack.append((entry.path, f"{rel}{entry.name}/"))
                        continue
                    if not keep(entry.name) or not entry.is_file(follow_symlinks=False):
                        continue
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if st.st_size <= _MAX_FILE_BYTES:
                    yield entry.path, f"{rel}{entry.name}", st.st_size, st.st_mtime_ns


def _decode(data: bytes) -> str | None:
    if b"\x00" in data[:8192]:
        return None
    try:
        return data.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError:
        return None


class _TreeSource(Source):
    """A source that reads files below fixed roots on this machine."""

    roots: tuple[Path, ...] = ()

    def tree_roots(self) -> list[Path]:
        if self.cfg.paths:
            return [Path(p).expanduser() for p in self.cfg.paths]
        return [r for r in self.default_roots() if r.is_dir()]

    @abc.abstractmethod
    def default_roots(self) -> list[Path]:
        """The folders read when the config gives no `paths`."""

    def inputs(self) -> list[Path]:
        return [Path(f.path) for f in self.listing()]

    def listing(self) -> list[FileStat]:
        out: list[FileStat] = []
        for root in self.tree_roots():
            if not root.exists():
                from pile.errors import ConfigError
                raise ConfigError(f"sources.{self.name}.paths: no such folder: {root}")
            # Decided while walking: an excluded folder name excludes everything below it,
            # so it is not entered (the stdlib's site-packages); a file's own name (included,
            # not excluded) decides before its size is asked for.
            included = pattern_matcher(self.options["include"])
            excluded = pattern_matcher(self.options["exclude"])
            found = list(_walk(root, excluded, lambda name: included(name) and not excluded(name)))
            out.extend(_spread_order(found))
        return out

    def key_for(self, path: Path) -> str:
        for root in self.tree_roots():
            try:
                return f"{root.name}/{Path(path).relative_to(root).as_posix()}"
            except ValueError:
                continue
        return Path(path).name

    def check_inputs(self) -> None:
        for root in self.tree_roots():
            if not root.is_dir():
                from pile.errors import ConfigError
                raise ConfigError(f"sources.{self.name}.paths: no such folder: {root}")


class PythonSource(_TreeSource):
    kind = "python"
    pile_set_name = "Python stdlib"
    license = "PSF-2.0"
    upstream = "the running Python installation's standard library"
    options_schema = {
        "include": ["*.py", "*.txt", "*.rst"],
        "exclude": ["site-packages", "dist-packages", "__pycache__", "*.dist-info"],
    }

    def default_roots(self) -> list[Path]:
        return [Path(sysconfig.get_paths()["stdlib"])]

    def read(self, path: Path) -> Iterator[Document | Dropped]:
        key = self.key_for(path)
        data = self.read_file(Path(path), key)
        if isinstance(data, Dropped):
            yield data
            return
        text = _decode(data)
        if text is None:
            yield self.dropped(key, "not_utf8_text")
            return
        # The same meta keys as system_docs (path, format), so the default build's documents
        # load in HF datasets as one table.
        yield self.document(key, text, path=key, format=Path(path).suffix.lstrip("."))


class SystemDocsSource(_TreeSource):
    kind = "system_docs"
    pile_set_name = "System documentation"
    license = "as each package's copyright file says (free software licences)"
    upstream = "/usr/share/doc and /usr/share/man on this machine"
    options_schema = {
        "include": ["*"],
        "exclude": ["*.png", "*.gif", "*.jpg", "*.svg", "*.ico", "*.pdf", "*.ps", "*.html",
                    "*.htm", "*.css", "*.js", "*.xz", "*.bz2", "*.zip", "*.deb", "*.so",
                    "*.pyc", "*.py", "*.pl", "*.c", "*.h", "*.sh"],
    }

    def default_roots(self) -> list[Path]:
        return [Path("/usr/share/doc"), Path("/usr/share/man")]

    def read(self, path: Path) -> Iterator[Document | Dropped]:
        path = Path(path)
        key = self.key_for(path)
        try:
            with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as fh:
                data = self.read_record(fh, key)
            if isinstance(data, Dropped):
                yield data
                return
        except (OSError, EOFError, zlib.error) as exc:
            raise SourceError(f"{path}: unreadable ({type(exc).__name__}: {exc})") from None
        text = _decode(data)
        if text is None:
            yield self.dropped(key, "not_utf8_text")
            return
        is_man = "/man" in key.split("/", 1)[0] or key.startswith("man/") or _looks_like_troff(text)
        if is_man:
            text = troff_to_text(text)
        yield self.document(key, text, path=key, format="man" if is_man else "text")


_TROFF_START = re.compile(r"^\.(TH|SH|Dd|so)\b", re.M)


def _looks_like_troff(text: str) -> bool:
    return bool(_TROFF_START.search(text[:4096]))


# Inline escapes: fonts (\fB, \f(CW, \f[I]), sizes (\s+2), zero-width (\&, \%), specials.
_FONT = re.compile(r"\\f(?:\[[^\]]*\]|\(..|.)")
_SIZE = re.compile(r"\\s[+-]?\d+")
_NAMED = {"\\-": "-", "\\(em": "\u2014", "\\(en": "\u2013", "\\(bu": "\u2022", "\\(lq": "\u201c",
          "\\(rq": "\u201d", "\\(oq": "\u2018", "\\(cq": "\u2019", "\\(aq": "'", "\\(dq": '"',
          "\\(co": "\u00a9", "\\(rg": "\u00ae", "\\(tm": "\u2122", "\\e": "\\", "\\ ": " ",
          "\\~": " ", "\\0": " ", "\\|": "", "\\^": "", "\\&": "", "\\%": "", "\\c": "",
          "\\/": "", "\\,": "", "\\(ga": "`", "\\(ti": "~", "\\(ha": "^", "\\(mu": "\u00d7",
          "\\(de": "\u00b0", "\\(+-": "\u00b1", "\\*(lq": "\u201c", "\\*(rq": "\u201d",
          "\\*R": "\u00ae", "\\(Tm": "\u2122", "\\*(Tm": "\u2122"}
_NAMED_RE = re.compile("|".join(re.escape(k) for k in sorted(_NAMED, key=len, reverse=True)))
_OTHER_ESCAPE = re.compile(r"\\(?:\*\[[^\]]*\]|\*\(..|\*.|\(..|\[[^\]]*\]|[nk]\(..|[nk].|[hvwoxlLHSZ]'[^']*')")
# Requests whose arguments are text to keep (with the macro name removed).
_TEXT_MACROS = {"B", "I", "BI", "IB", "BR", "RB", "IR", "RI", "SM", "SB", "Nm", "Nd", "Ar",
                "Fl", "Op", "Pa", "Xr", "Em", "Sy", "Li", "Dq", "Qq", "Sq", "It", "Cm", "Ic",
                "Va", "Ev", "Fn", "Ft", "Fa", "Dv", "Er", "Ql", "Tn", "Ux", "UR", "MT", "Lk"}
_HEADING_MACROS = {"SH", "SS", "Sh", "Ss"}
_BREAK_MACROS = {"PP", "LP", "P", "TP", "IP", "HP", "br", "sp", "Pp", "Bl", "El", "Bd", "Ed",
                 "RS", "RE", "nf", "fi", "TQ", "EX", "EE", "ne", "in", "ti"}


def troff_to_text(src: str) -> str:
    """Render a manual page's troff/mdoc source to readable plain text.

    Not a typesetter: it keeps the words (headings, paragraphs, option lists) and drops
    the formatting requests, comments and font escapes, which is what a language
    model corpus needs from a manual page.
    """
    out: list[str] = []
    for line in src.splitlines():
        if line.startswith(('.\\"', "'\\\"", '.\\#')) or line.strip() in (".", "'"):
            continue
        if line.startswith((".", "'")) and len(line) > 1:
            parts = line[1:].strip().split(None, 1)
            if not parts:
                continue
            macro, args = parts[0], (parts[1] if len(parts) > 1 else "")
            if macro in _HEADING_MACROS:
                out.extend(["", _inline(args.replace('"', "")).strip().upper(), ""])
            elif macro in ("IP", "TP") and args:
                out.extend(["", _inline(args.split('"')[1] if args.startswith('"') else args.split()[0])])
            elif macro in _BREAK_MACROS:
                if out and out[-1] != "":
                    out.append("")
            elif macro in _TEXT_MACROS:
                out.append(_inline(args.replace('"', "")))
            # every other request (.TH, .de, .ds, .if, .so, ...) carries no prose
            continue
        out.append(_inline(line))
    text = "\n".join(out)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return text.strip() + "\n"


def _inline(s: str) -> str:
    s = _FONT.sub("", s)
    s = _SIZE.sub("", s)
    s = _NAMED_RE.sub(lambda m: _NAMED[m.group(0)], s)
    s = _OTHER_ESCAPE.sub("", s)
    return s.replace("\\\\", "\\")
