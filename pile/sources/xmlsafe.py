"""Streaming, attack-proof XML parsing and transparent decompression for upstream dumps.

Wikipedia, Stack Exchange, PubMed and USPTO ship XML files far larger than memory, and
XML itself carries attacks: entity expansion bombs ("billion laughs"), external
entities that read local files or URLs, and DTD retrieval. `iterparse` streams the
elements a parser asks for, clears each one (and drops it from its parent) once it has
been handed out, and parses with defusedxml's expat parser, which refuses entity
declarations and external references. Every failure is a `pile.errors.SourceError`
naming the file, so the runner fails that file and goes on.

`open_compressed` opens ``.gz``, ``.bz2`` (multistream, as Wikimedia publishes),
``.xz``, ``.zst`` or plain files as one binary stream; a truncated file raises
`SourceError` when the reader reaches the cut.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
from pathlib import Path
from typing import IO, Iterator
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException, DTDForbidden, EntitiesForbidden
from defusedxml import ExternalReferenceForbidden
from defusedxml.ElementTree import iterparse as _defused_iterparse

from pile.config import DEFAULT_MAX_RECORD_BYTES
from pile.errors import SourceError
from pile.sources.archive import DECODE_ERRORS, GuardedReader, describe_error, refuse_empty

MAX_ZSTD_WINDOW = 1 << 31
_SUFFIXES = {".gz": "gz", ".tgz": "gz", ".bz2": "bz2", ".xz": "xz", ".lzma": "xz", ".zst": "zst",
             ".zstd": "zst"}


def open_compressed(path: Path | str) -> IO[bytes]:
    """Open a file for binary reading, decompressing by its extension.

    ``.gz``/``.tgz`` (gzip, multi-member), ``.bz2`` (multistream), ``.xz``/``.lzma``,
    ``.zst``/``.zstd`` (across frames); anything else is read as is.

    Returns:
        A readable binary stream; decoding errors raise `SourceError` from ``read``.

    Raises:
        SourceError: the file cannot be opened.
    """
    path = Path(path)
    kind = _SUFFIXES.get(path.suffix.lower(), "plain")
    if kind != "plain":
        refuse_empty(path, kind)
    try:
        if kind == "gz":
            raw: IO[bytes] = gzip.open(path, "rb")
        elif kind == "bz2":
            raw = bz2.open(path, "rb")
        elif kind == "xz":
            raw = lzma.open(path, "rb")
        elif kind == "zst":
            import zstandard

            fh = open(path, "rb")
            # Pushshift's monthly dumps use a long window (up to 2 GiB); the default
            # limit (128 MiB) refuses them. Memory is used only when a frame asks for it.
            raw = zstandard.ZstdDecompressor(max_window_size=MAX_ZSTD_WINDOW).stream_reader(
                fh, read_across_frames=True, closefd=True)
        else:
            raw = open(path, "rb")
    except OSError as exc:
        raise SourceError(f"{path}: cannot open ({exc.strerror or exc})") from None
    return GuardedReader(raw, str(path))


def _zstd_error() -> tuple[type[BaseException], ...]:
    try:
        import zstandard
    except ImportError:  # pragma: no cover - zstandard is a declared dependency
        return ()
    return (zstandard.ZstdError,)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1] if tag.startswith("{") else tag


def local_name(elem: Element) -> str:
    """The element's tag without its ``{namespace}``."""
    return _local(elem.tag) if isinstance(elem.tag, str) else ""


class _GapGuard:
    """Counts the bytes the parser reads since its last event and refuses to go on past
    `limit`: one text node or tag that large (a 1 GiB ``<text>``) would otherwise be
    accumulated whole by the parser before any record boundary is seen."""

    def __init__(self, raw: IO[bytes], limit: int, label: str) -> None:
        self._raw = raw
        self._limit = limit
        self._label = label
        self.since = 0

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.since += len(data)
        if self.since > self._limit:
            raise SourceError(f"{self._label}: too_large: one XML text or tag runs over "
                              f"{self._limit} bytes (run.max_record_bytes); the file stops here")
        return data


def iterparse(source: IO[bytes] | Path | str, tags: set[str] | frozenset[str],
              max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES, label: str | None = None
              ) -> Iterator[Element]:
    """Stream the elements named in `tags`, safely and in bounded memory.

    Each yielded element is complete (children included) and is cleared and detached
    after the consumer asks for the next one, so keep what you need (text, attributes)
    rather than the element. Elements that are not in `tags` and not inside a wanted
    element are discarded as soon as they end, so memory stays bounded by the largest
    wanted element.

    Args:
        source: a binary stream, or a path (decompressed by extension via
            `open_compressed`).
        max_record_bytes: the most bytes the parser may read without an element
            starting or ending (the base class's record size rule, for XML).
        label: how errors name the input (default: the path, or the stream's name).
        tags: tag names to yield, matched with or without their ``{namespace}``
            (``"page"`` matches ``{http://www.mediawiki.org/xml/export-0.10/}page``).

    Yields:
        The matching elements, in document order (a nested match comes before its
        enclosing match, which still holds it).

    Raises:
        SourceError: malformed XML (with its line), an entity declaration (entity
            expansion bombs), an external entity or reference, or a decoding error of
            the underlying file.
    """
    own = not hasattr(source, "read")
    stream: IO[bytes] = open_compressed(source) if own else source  # type: ignore[arg-type]
    label = label or (str(source) if own else str(getattr(source, "name", "<stream>")))
    wanted = frozenset(tags)
    guard = _GapGuard(stream, max_record_bytes, label)
    try:
        events = _defused_iterparse(guard, events=("start", "end"), forbid_dtd=False,
                                    forbid_entities=True, forbid_external=True)
        stack: list[Element] = []
        inside = 0  # how many wanted elements are open around the current position
        while True:
            try:
                event, elem = next(events)
            except StopIteration:
                break
            except EntitiesForbidden as exc:
                if exc.sysid or exc.pubid:
                    raise SourceError(f"{label}: external XML entity {exc.name!r} "
                                      f"({exc.sysid or exc.pubid!r}) refused") from None
                raise SourceError(f"{label}: XML entity declaration {exc.name!r} refused "
                                  "(entity expansion is not allowed)") from None
            except ExternalReferenceForbidden as exc:
                raise SourceError(f"{label}: external XML reference {exc.sysid!r} refused") \
                    from None
            except DTDForbidden:  # pragma: no cover - DTDs are allowed, never fetched
                raise SourceError(f"{label}: XML DTD refused") from None
            except DefusedXmlException as exc:  # pragma: no cover - other defusedxml refusals
                raise SourceError(f"{label}: unsafe XML refused ({exc})") from None
            except ParseError as exc:
                line, col = getattr(exc, "position", (0, 0))
                raise SourceError(f"{label}: malformed XML at line {line}, column {col} "
                                  f"({describe_error(exc)})") from None
            except SourceError:
                raise
            except DECODE_ERRORS + _zstd_error() as exc:
                raise SourceError(f"{label}: {describe_error(exc)}") from None
            guard.since = 0
            tag = elem.tag
            hit = tag in wanted or _local(tag) in wanted
            if event == "start":
                stack.append(elem)
                if hit:
                    inside += 1
                continue
            stack.pop()
            if hit:
                inside -= 1
                yield elem
            if inside == 0:
                # Done with it: free its content and detach it from its parent, so the
                # tree never grows with the number of records.
                elem.clear()
                if stack:
                    parent = stack[-1]
                    if len(parent) and parent[-1] is elem:
                        del parent[-1]
                    else:  # pragma: no cover - ElementTree appends children in order
                        parent.remove(elem)
    finally:
        if own:
            stream.close()


__all__ = ["iterparse", "local_name", "open_compressed"]
