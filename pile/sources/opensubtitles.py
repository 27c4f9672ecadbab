"""OpenSubtitles (the Pile's "OpenSubtitles" component), from OPUS's raw release.

Upstream: OPUS ``https://object.pouta.csc.fi/OPUS-OpenSubtitles/v2018/raw/<lang>.zip``
(the old ``opus.nlpl.eu/download.php`` links are dead). The zip holds one XML file per
subtitle, under ``…/<lang>/<year>/<imdb id>/<file>.xml``: a ``<document>`` of ``<s>``
sentences, each with ``<time>`` marks and the spoken text, then a ``<meta>`` block
(language, duration, the film's year, genre...).

The zip is read as a stream of members through `pile.sources.archive.iter_archive` (its
member-name safety rules apply); nothing is unpacked to disk, and each member is parsed
with the safe streaming XML parser, one ``<s>`` at a time. One document per subtitle
file. The text layout (``layout`` option, named behaviours):

- ``lines_v1`` (default): one subtitle sentence per line, its whitespace collapsed,
  empty sentences left out: the readable layout.
- ``pile_v1``: the Pile's script (sdtblck/Opensubtitles_dataset): the whole text of each
  ``<s>`` (the XML's indentation included) joined by one space, then the empty lines
  removed. Lines holding only the XML's indentation stay, as they did in the Pile.

Meta: ``year`` and ``imdb_id`` from the path (the year falls back to ``<meta>``),
``language`` (the path's language code, else ``<meta>``'s language name),
``opus_path`` (the member's path in the zip) and ``subtitle_id`` (``<document id>``).
Ids are ``<source>/<opus path without .xml>``.

Per member, what cannot be used is dropped with its reason and the other members are
still read: ``malformed_xml`` (or a damaged member: ``corrupt_member``), ``no_text``,
``too_large`` (a text of more than ``run.max_record_bytes`` characters), ``not_subtitle`` (a member that is not ``.xml`` /
``.xml.gz``). A zip that cannot be opened (truncated, no central directory) fails the
file with `SourceError`.
"""

from __future__ import annotations

import gzip
import logging
import re
from pathlib import Path
from typing import IO, Any, ClassVar, Iterator

from pile.config import DEFAULT_MAX_RECORD_BYTES, SourceConfig
from pile.document import Document
from pile.errors import ConfigError, SourceError
from pile.sources.archive import MemberRanges, archive_format, iter_archive
from pile.sources.base import RemoteFile, Source
from pile.sources.xmlsafe import iterparse, local_name
from pile.stage import Dropped

log = logging.getLogger(__name__)

RAW_URL = "https://object.pouta.csc.fi/OPUS-OpenSubtitles/{release}/raw/{language}.zip"
LAYOUTS = ("lines_v1", "pile_v1")

_WS_RE = re.compile(r"\s+")
_HEAD_BYTES = 4096
_DOC_ID_RE = re.compile(rb"<document\b[^>]*?\sid=[\"']([^\"']*)[\"']")


class _HeadThen:
    """A reader giving `head` first, then the rest of `stream` (read back after a peek)."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self.head = head
        self.stream = stream
        self.name = getattr(stream, "name", "<stream>")

    def read(self, size: int = -1) -> bytes:
        if self.head:
            if size is None or size < 0:
                out, self.head = self.head + self.stream.read(), b""
                return out
            out, self.head = self.head[:size], self.head[size:]
            return out
        return self.stream.read(size)
_YEAR_RE = re.compile(r"^\d{4}$")
_LANG_RE = re.compile(r"^[a-z]{2,3}(?:_[A-Za-z]{2,4})?$")


def opus_path_meta(member: str) -> dict[str, Any]:
    """``year``, ``imdb_id`` and ``language`` from an OPUS member path
    (``OpenSubtitles/raw/en/1933/24184/3991985.xml``); what the path lacks is left out."""
    parts = member.split("/")
    meta: dict[str, Any] = {}
    if len(parts) >= 3 and parts[-2].isdigit() and _YEAR_RE.match(parts[-3]):
        meta["year"] = int(parts[-3])
        meta["imdb_id"] = parts[-2]
        if len(parts) >= 4 and _LANG_RE.match(parts[-4]):
            meta["language"] = parts[-4]
    return meta


def subtitle_key(member: str) -> str:
    """The stable key of a member: its path without ``.xml`` / ``.xml.gz``."""
    for suffix in (".xml.gz", ".xml"):
        if member.endswith(suffix):
            return member[: -len(suffix)]
    return member


def parse_subtitle(stream: IO[bytes], layout: str, limit: int = DEFAULT_MAX_RECORD_BYTES
                   ) -> tuple[str, dict[str, Any]]:
    """One OPUS subtitle XML -> (text in `layout`, meta from ``<document>`` / ``<meta>``).

    Raises:
        SourceError: malformed or unsafe XML, or a damaged stream.
        ValueError: the text exceeds `limit` characters (``too_large``).
    """
    pieces: list[str] = []
    size = 0
    meta: dict[str, Any] = {}
    # <document id> from the head: asking iterparse for <document> would keep the whole
    # tree (every <s>) until its end
    head = stream.read(_HEAD_BYTES)
    found_id = _DOC_ID_RE.search(head)
    if found_id:
        meta["subtitle_id"] = found_id.group(1).decode("utf-8", "replace")
    for elem in iterparse(_HeadThen(head, stream), {"s", "meta"}):
        name = local_name(elem)
        if name == "s":
            raw = "".join(elem.itertext())
            piece = raw if layout == "pile_v1" else _WS_RE.sub(" ", raw).strip()
            if piece or layout == "pile_v1":
                pieces.append(piece)
                size += len(piece) + 1
                if size > limit:
                    raise ValueError("too_large")
        elif name == "meta":
            for tag, key in (("subtitle/language", "language_name"), ("source/year", "year"),
                             ("subtitle/duration", "duration")):
                found = elem.find(tag)
                if found is not None and found.text and found.text.strip():
                    meta[key] = found.text.strip()
    if layout == "pile_v1":
        joined = " ".join(pieces)
        text = "\n".join(line for line in joined.split("\n") if line)
    else:
        text = "\n".join(pieces)
    return text, meta


class OpenSubtitlesSource(MemberRanges, Source):
    """OPUS OpenSubtitles raw zips -> one document per subtitle file.

    Options:
        language: the OPUS language code of the zip (``en``).
        release: the OPUS release (``v2018``).
        layout: ``lines_v1`` (default, one subtitle line per line) or ``pile_v1``.
    """

    kind: ClassVar[str] = "opensubtitles"
    pile_set_name: ClassVar[str] = "OpenSubtitles"
    license: ClassVar[str] = ("OPUS redistributes OpenSubtitles.org subtitles for research "
                              "(cite opensubtitles.org and Lison & Tiedemann 2016); the "
                              "subtitles belong to their authors and the films' rights holders")
    upstream: ClassVar[str] = ("object.pouta.csc.fi/OPUS-OpenSubtitles/<release>/raw/<lang>.zip "
                               "(OPUS; one XML file per subtitle)")
    options_schema: ClassVar[dict[str, Any]] = {"language": "en", "release": "v2018",
                                                "layout": "lines_v1"}

    def __init__(self, cfg: SourceConfig, raw_dir: Path) -> None:
        super().__init__(cfg, raw_dir)
        field = f"sources.{self.name}.options"
        self.check_choice("layout", LAYOUTS)
        for key in ("language", "release"):
            value = self.options[key]
            if not isinstance(value, str) or not re.match(r"^[A-Za-z0-9_.-]+$", value):
                raise ConfigError(f"{field}.{key}: expected a name like "
                                  f"{self.options_schema[key]!r}, got {value!r}")

    def list_files(self) -> list[RemoteFile]:
        """The raw zip of ``language`` (OPUS publishes no checksum for it)."""
        if self.cfg.urls:
            return super().list_files()
        url = RAW_URL.format(**self.options)
        return [RemoteFile(url=url, name=url.rsplit("/", 1)[-1])]

    def read_members(self, path: Path, span: tuple[int, int] | None) -> Iterator[Document | Dropped]:
        """One raw zip (or one subtitle ``.xml``) -> one document per subtitle file.

        Raises:
            SourceError: the zip cannot be opened or its member list is damaged.
        """
        try:
            fmt = archive_format(path)
        except OSError as exc:
            raise SourceError(f"{path}: cannot open ({exc.strerror})") from None
        if fmt is None:
            if not path.name.lower().endswith((".xml", ".xml.gz")):
                raise SourceError(f"{path}: not an OPUS zip (nor one subtitle .xml): "
                                  "its bytes are not a zip archive")
            opener = gzip.open if path.name.lower().endswith(".gz") else open
            with opener(path, "rb") as fh:
                yield self._member(self.key_for(path), fh, str(path))
            return
        for member, fileobj in iter_archive(path, span):
            if not member.endswith((".xml", ".xml.gz")):
                yield self.dropped(member, "not_subtitle", opus_path=member)
                continue
            stream: IO[bytes] = gzip.GzipFile(fileobj=fileobj) if member.endswith(".gz") \
                else fileobj
            yield self._member(member, stream, f"{path}:{member}")

    def _member(self, member: str, stream: IO[bytes], label: str) -> Document | Dropped:
        key = subtitle_key(member)
        meta: dict[str, Any] = {**opus_path_meta(member), "opus_path": member}
        try:
            text, found = parse_subtitle(stream, self.options["layout"], self.max_record_bytes)
        except SourceError as exc:
            # A damaged member must not hide the thousands of good ones after it.
            message = str(exc)
            reason = ("malformed_xml" if "malformed XML" in message or "refused" in message
                      else "corrupt_member")
            log.warning("%s: %s", label, exc)
            return self.dropped(key, reason, **meta, error=message)
        except (OSError, EOFError) as exc:  # a damaged gzip member
            log.warning("%s: %s", label, exc)
            return self.dropped(key, "corrupt_member", **meta, error=str(exc))
        except ValueError:
            return self.dropped(key, "too_large", **meta)
        if "year" not in meta and str(found.get("year", "")).isdigit():
            meta["year"] = int(found["year"])
        if "language" not in meta and found.get("language_name"):
            meta["language"] = found["language_name"]
        if found.get("subtitle_id"):
            meta["subtitle_id"] = found["subtitle_id"]
        if not text.strip():
            return self.dropped(key, "no_text", **meta)
        return self.document(key, text, **meta)


__all__ = ["LAYOUTS", "OpenSubtitlesSource", "RAW_URL", "opus_path_meta",
           "parse_subtitle", "subtitle_key"]
