"""Europarl proceedings (the Pile's "EuroParl" component).

Follows the Pile (Gao et al. 2020, appendix: EuroParl): the source release of Europarl v7
(Koehn 2005, statmt.org), the European Parliament's proceedings 1996-2011 in 21 languages,
one document per session file and language. The release's markup is reduced to text:

- ``<SPEAKER ID=.. NAME="Evans, Robert J" ...>`` becomes a new paragraph that starts with
  the speaker's name (``Evans, Robert J: ...``); a speaker tag without a name is removed;
- ``<CHAPTER ID=..>`` and ``<P>`` become paragraph breaks; every other tag is removed;
- files whose text is shorter than ``min_chars`` are dropped with reason ``too_short``;
  files larger than ``run.max_record_bytes`` with ``too_large`` (streamed past, never
  held in memory).

Inputs are the release tarball ``europarl.tgz`` (members ``txt/<lang>/ep-YY-MM-DD[-NN].txt``,
read through `pile.sources.archive.iter_archive`, which refuses unsafe members) or the
extracted ``.txt`` files (their language is their folder's name). Ids are
``<source>/<lang>/<session file stem>``.
"""

from __future__ import annotations

import html
import re
from pathlib import Path, PurePosixPath
from typing import IO, Any, Iterator

from pile.config import SourceConfig
from pile.document import Document
from pile.errors import ConfigError, SourceError
from pile.sources.archive import MemberRanges, iter_archive
from pile.sources.base import RemoteFile, Source
from pile.stage import Dropped

EUROPARL_V7 = "https://www.statmt.org/europarl/v7/europarl.tgz"
LANGUAGES = ("bg", "cs", "da", "de", "el", "en", "es", "et", "fi", "fr", "hu", "it", "lt",
             "lv", "nl", "pl", "pt", "ro", "sk", "sl", "sv")

_TAG_RE = re.compile(r"<(/?)([A-Za-z]+)((?:[^<>\"]|\"[^\"]*\")*)>")
_NAME_RE = re.compile(r"\bNAME\s*=\s*\"([^\"]*)\"|\bNAME\s*=\s*([^\s>]+)", re.IGNORECASE)
_BLANKS_RE = re.compile(r"\n{3,}")
_SPACES_RE = re.compile(r"[ \t]+")
# A session file is ep-YY-MM-DD.txt, sometimes with a -NN part number.
_SESSION_RE = re.compile(r"^ep-\d\d-\d\d-\d\d(?:-\d+)?\.txt$")


def clean_session(raw: str) -> str:
    """Reduce one Europarl session file's markup to plain text (see the module docstring)."""
    parts: list[str] = []
    pos = 0
    for match in _TAG_RE.finditer(raw):
        parts.append(raw[pos:match.start()])
        pos = match.end()
        closing, tag, attrs = match.group(1), match.group(2).upper(), match.group(3)
        if closing:
            continue
        if tag == "SPEAKER":
            found = _NAME_RE.search(attrs)
            name = (found.group(1) or found.group(2) or "").strip() if found else ""
            # \x00 marks the end of the name; it is joined to the speech below.
            parts.append(f"\n\n{html.unescape(name)}:\x00" if name else "\n\n")
        elif tag in ("CHAPTER", "P"):
            parts.append("\n\n")
        # Other tags carry no text of their own: dropped.
    parts.append(raw[pos:])
    text = "".join(parts)
    # A speaker's name followed by a line break in the source: keep name and speech together.
    text = re.sub(r"\x00\s*", " ", text.replace("\x00\n\n", "\x00"))
    lines = [_SPACES_RE.sub(" ", line).strip() for line in text.split("\n")]
    text = "\n".join(lines)
    return _BLANKS_RE.sub("\n\n", text).strip() + "\n"


class EuroparlSource(MemberRanges, Source):
    """Europarl v7 session files, one document per file and language."""

    archive_suffixes = (".tgz", ".tar.gz", ".tar")  # any other name is one session file

    kind = "europarl"
    pile_set_name = "EuroParl"
    license = "Europarl: no known copyright restrictions (European Parliament proceedings)"
    upstream = EUROPARL_V7
    options_schema: dict[str, Any] = {
        "languages": [],      # empty: all 21 languages (as the Pile); else e.g. [en, de]
        "min_chars": 500,     # session files shorter than this (after cleanup) are dropped
    }

    def __init__(self, cfg: SourceConfig, raw_dir: Path) -> None:
        super().__init__(cfg, raw_dir)
        langs = self.options["languages"]
        if not isinstance(langs, (list, tuple)) or any(lang not in LANGUAGES for lang in langs):
            raise ConfigError(f"sources.{self.name}.options.languages: expected a list of Europarl "
                              f"language codes ({', '.join(LANGUAGES)}), got {langs!r}")
        if not isinstance(self.options["min_chars"], int) or self.options["min_chars"] < 0:
            raise ConfigError(f"sources.{self.name}.options.min_chars: expected an integer >= 0, "
                              f"got {self.options['min_chars']!r}")

    def list_files(self) -> list[RemoteFile]:
        """The v7 source release (one tarball, all languages) unless ``urls`` are given."""
        if self.cfg.urls:
            return super().list_files()
        return [RemoteFile(url=EUROPARL_V7, name="europarl.tgz")]

    def read_members(self, path: Path, span: tuple[int, int] | None) -> Iterator[Document | Dropped]:
        """A release tarball or one session ``.txt`` file -> documents.

        Raises:
            SourceError: unreadable file, damaged tarball, or an unsafe archive member.
        """
        name = path.name.lower()
        if name.endswith(self.archive_suffixes):
            for member, fileobj in iter_archive(path, span):
                posix = PurePosixPath(member)
                if not _SESSION_RE.match(posix.name) or len(posix.parts) < 2:
                    continue
                yield from self._session(posix.parts[-2], posix.name, fileobj)
            return
        try:
            with open(path, "rb") as fileobj:
                yield from self._session(path.parent.name, path.name, fileobj)
        except OSError as exc:
            raise SourceError(f"{path}: cannot read the session file ({exc.strerror or exc})") from None

    def _session(self, lang: str, filename: str, fileobj: IO[bytes]) -> Iterator[Document | Dropped]:
        langs = self.options["languages"]
        if langs and lang not in langs:
            return
        stem = filename[:-4] if filename.endswith(".txt") else filename
        key = f"{lang}/{stem}"
        data = self.read_record(fileobj, key, language=lang)  # a 1 GiB member is never held
        if isinstance(data, Dropped):
            yield data
            return
        try:
            raw = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield self.dropped(key, "invalid_utf8", language=lang, detail=str(exc)[:200])
            return
        text = clean_session(raw)
        if len(text) < self.options["min_chars"]:
            yield self.dropped(key, "too_short", language=lang)
            return
        yield self.document(key, text, language=lang, session=stem)
