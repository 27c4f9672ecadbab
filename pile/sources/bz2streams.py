"""Multistream bzip2 files, read in byte ranges: Wikipedia's ``pages-articles-multistream`` dumps.

Wikimedia writes these dumps as many bzip2 streams end to end: the first holds the XML
header (``<mediawiki>`` and ``<siteinfo>``), each later one a batch of 100 ``<page>``
elements, the last the closing tag (the format behind the ``-multistream-index.txt``
offsets; see meta.wikimedia.org/wiki/Data_dumps/Dump_format). A stream starts on a byte
boundary with ``BZh`` + block size + the first block's magic (the BCD digits of pi), so
the streams of a byte range can be found from any offset: a range owns the streams that
start in it. Candidates are confirmed by decompressing their first block, since ten
bytes of compressed data could, very rarely, look like a header.

English Wikipedia is one 20+ GB file: read whole it is a single unit on one core, read
in ranges it keeps every worker busy.
"""

from __future__ import annotations

import bz2
import io
import re
from pathlib import Path
from typing import IO, Any, Iterator

from pile.errors import SourceError

STREAM_START = re.compile(rb"BZh[1-9]\x31\x41\x59\x26\x53\x59")
_MAGIC_BYTES = 10
_CHUNK = 1 << 20  # compressed bytes read at a time, and decompressed bytes handed out
_PROBE_BYTES = 4 << 20  # how far a multistream check reads into a file's first stream


def _first_output(fh: IO[bytes], offset: int, limit: int = _PROBE_BYTES) -> bytes | None:
    """The first decompressed bytes of a stream that starts at `offset`, or None when the
    data there is not a bzip2 stream (a block needs at most ~1 MB of input to give output)."""
    fh.seek(offset)
    d = bz2.BZ2Decompressor()
    fed = 0
    try:
        while fed < limit:
            data = fh.read(1 << 16)
            if not data:
                return None
            fed += len(data)
            out = d.decompress(data, 4096)
            if out or d.eof:
                return out
    except (OSError, EOFError):
        return None
    return None


def next_stream(fh: IO[bytes], offset: int, end: int) -> int | None:
    """The offset of the first stream that starts at or after `offset` and before `end`,
    or None. Each candidate is confirmed by its first block decompressing to XML."""
    pos = offset
    while pos < end:
        fh.seek(pos)
        block = fh.read(_CHUNK + _MAGIC_BYTES - 1)
        if len(block) < _MAGIC_BYTES:
            return None
        for match in STREAM_START.finditer(block):
            at = pos + match.start()
            if at >= end:
                return None
            out = _first_output(fh, at)
            if out is not None and out.lstrip()[:1] == b"<":
                return at
        pos += _CHUNK
    return None


def is_multistream(path: Path) -> bool:
    """True when `path` is bzip2 whose first stream ends and another starts after it
    (a single-stream file, such as the non-multistream dump, is read whole)."""
    try:
        with open(path, "rb") as fh:
            if STREAM_START.match(fh.read(_MAGIC_BYTES)) is None:
                return False
            fh.seek(0)
            d = bz2.BZ2Decompressor()
            fed = 0
            while not d.eof and fed < _PROBE_BYTES:
                data = fh.read(1 << 16)
                if not data:
                    return False
                fed += len(data)
                d.decompress(data, _CHUNK)
                while not d.eof and not d.needs_input:  # output held back by max_length
                    d.decompress(b"", _CHUNK)
            if not d.eof:
                return False
            fh.seek(fed - len(d.unused_data))
            return STREAM_START.match(fh.read(_MAGIC_BYTES)) is not None
    except (OSError, EOFError):
        return False


class SpanStreams:
    """The decompressed bytes of the streams that start in ``[first, end)``, as one
    iterator of chunks (each at most 1 MB). After it is exhausted, `reached_end` says
    whether the last stream read was the file's last.

    Raises (while iterating):
        SourceError: the file ends inside a stream, or its bytes after a stream are not
            the start of another.
    """

    def __init__(self, path: Path, first: int, end: int) -> None:
        self.path = Path(path)
        self.first = first
        self.end = end
        self.reached_end = False

    def __iter__(self) -> Iterator[bytes]:
        size = self.path.stat().st_size
        with open(self.path, "rb") as fh:
            pos = self.first
            while pos < self.end and pos < size:
                fh.seek(pos)
                if STREAM_START.match(fh.read(_MAGIC_BYTES)) is None:
                    raise SourceError(f"{self.path}: no bzip2 stream starts at byte {pos} "
                                      "(damaged, or not a multistream file)")
                fh.seek(pos)
                pos = yield from self._stream(fh, pos)
            self.reached_end = pos >= size

    def _stream(self, fh: IO[bytes], start: int) -> Iterator[bytes]:
        """One stream's output; returns the offset just after it."""
        d = bz2.BZ2Decompressor()
        try:
            while not d.eof:
                if d.needs_input:
                    data = fh.read(_CHUNK)
                    if not data:
                        raise SourceError(f"{self.path}: truncated (the file ends inside the "
                                          f"bzip2 stream that starts at byte {start})")
                    out = d.decompress(data, _CHUNK)
                else:
                    out = d.decompress(b"", _CHUNK)
                if out:
                    yield out
        except (OSError, EOFError) as exc:
            raise SourceError(f"{self.path}: damaged bzip2 stream at byte {start} ({exc})") from None
        return fh.tell() - len(d.unused_data)


class ChunkReader(io.RawIOBase):
    """A readable binary stream over an iterator of byte chunks (for `io.BufferedReader`)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self._chunks = chunks
        self._buf = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        while not self._buf:
            try:
                self._buf = memoryview(next(self._chunks))
            except StopIteration:
                return 0
        n = min(len(b), len(self._buf))
        b[:n] = self._buf[:n]
        self._buf = self._buf[n:]  # a view: no copy of the rest
        return n


__all__ = ["ChunkReader", "STREAM_START", "SpanStreams", "is_multistream", "next_stream"]
