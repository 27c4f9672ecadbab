"""The `files` source: the user's own files pushed through the same pipeline.

Formats, by file name:

- ``.txt``, ``.md``, ``.rst``: one document per file (UTF-8; invalid UTF-8 drops the
  file's document with reason ``invalid_utf8``);
- ``.jsonl``, ``.jsonl.zst``, ``.jsonl.gz``, ``.json.gz``: one JSON object per line
  with a ``text`` field (and optional ``meta``), as the Pile ships; a broken line is
  dropped with reason ``bad_json`` / ``no_text`` / ``invalid_utf8``, the rest of the
  file goes on; a truncated compressed file keeps the lines before the damage and
  fails the file with the reason;
- lm_dataformat archives (``.dat.zst``, ``.json.zst``, ``.jsonl.zst.tar``, ``.zip``,
  ``.tar.gz``): read with ``lm_dataformat.Reader``.

Document ids are ``<source>/<file>:<line>`` (or ``<source>/<file>`` for whole-file
formats), where ``<file>`` is the path relative to the configured root.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from pathlib import Path
from typing import IO, Any, Iterator

import zstandard

from pile.docs_io import open_zstd
from pile.document import Document
from pile.errors import SourceError
from pile.sources.base import Source
from pile.stage import Dropped

END_OF_FILE = 1 << 62  # the end of a file's last span

WHOLE_FILE_SUFFIXES = (".txt", ".md", ".rst", ".text", ".markdown")
JSONL_SUFFIXES = (".jsonl", ".jsonl.zst", ".jsonl.gz", ".json.gz")
LMD_SUFFIXES = (".dat.zst", ".json.zst", ".jsonl.zst.tar", ".zip", ".tar.gz")


def file_format(path: Path) -> str | None:
    """``"text"``, ``"jsonl"``, ``"lmd"`` or None (not a supported file)."""
    name = path.name.lower()
    if name.endswith(LMD_SUFFIXES):
        return "lmd"
    if name.endswith(JSONL_SUFFIXES):
        return "jsonl"
    if name.endswith(WHOLE_FILE_SUFFIXES):
        return "text"
    return None


def _count_newlines(fh: IO[bytes], limit: int) -> int:
    """Newlines in the first `limit` bytes of `fh` (a few GB/s: bytes.count)."""
    fh.seek(0)
    n = 0
    left = limit
    while left > 0:
        block = fh.read(min(left, 1 << 22))
        if not block:
            break
        n += block.count(b"\n")
        left -= len(block)
    return n


class _CountingReader(io.RawIOBase):
    """A raw file that counts the bytes consumed and hands them out in small reads, so a
    decompressor's position in the compressed file is known to within 64 KiB."""

    STEP = 1 << 16

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        n = min(len(buf), self.STEP)
        data = self._raw.read(n)
        buf[:len(data)] = data
        self.consumed += len(data)
        return len(data)

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(self.STEP if size is None or size < 0 else min(size, self.STEP))
        self.consumed += len(data)
        return data

    def close(self) -> None:
        self._raw.close()
        super().close()


def _open_binary(path: Path) -> IO[bytes]:
    name = path.name.lower()
    raw = open(path, "rb")
    if name.endswith(".zst"):
        return open_zstd(raw)
    if name.endswith(".gz"):
        return gzip.GzipFile(fileobj=raw, mode="rb")
    return raw


# What a damaged compressed stream raises while being read.
_DECOMPRESS_ERRORS = (EOFError, OSError, zlib.error, zstandard.ZstdError)


class FilesSource(Source):
    kind = "files"
    pile_set_name = ""
    license = "as the user's files"
    upstream = "local files (paths / globs)"
    options_schema = {"text_key": "text"}

    def inputs(self) -> list[Path]:
        paths = super().inputs()
        supported = [p for p in paths if file_format(p) is not None]
        return supported

    def read(self, path: Path) -> Iterator[Document | Dropped]:
        path = Path(path)
        fmt = file_format(path)
        key = self.key_for(path)
        if fmt == "text":
            yield from self._read_text(path, key)
        elif fmt == "jsonl":
            yield from self._read_jsonl(path, key)
        elif fmt == "lmd":
            yield from self._read_lmd(path, key)
        else:
            raise SourceError(f"{path}: unsupported file type (expected one of "
                              f"{', '.join(WHOLE_FILE_SUFFIXES + JSONL_SUFFIXES + LMD_SUFFIXES)})")

    def _read_text(self, path: Path, key: str) -> Iterator[Document | Dropped]:
        data = path.read_bytes()
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            yield self.dropped(key, "invalid_utf8", error=f"byte {exc.start}")
            return
        yield self.document(key, text.removeprefix("\ufeff"), path=key)

    def _read_jsonl(self, path: Path, key: str) -> Iterator[Document | Dropped]:
        text_key = self.options["text_key"]
        fh = _open_binary(path)
        lineno = 0
        try:
            for lineno, raw in enumerate(fh, 1):
                if not raw.strip():
                    continue
                yield self._record(raw, f"{key}:{lineno}", text_key)
        except _DECOMPRESS_ERRORS as exc:
            raise SourceError(f"{path}: damaged after line {lineno} ({type(exc).__name__}: {exc})") from None
        finally:
            fh.close()

    def spans(self, path: Path, target: int) -> list[tuple[int, int]] | None:
        if file_format(Path(path)) != "jsonl":
            return None
        size = Path(path).stat().st_size
        if size <= target:
            return None
        n = -(-size // target)
        step = -(-size // n)
        # The last span is open-ended: a compressed stream's position reaches the file's
        # size while its last lines are still coming out.
        return [(i * step, (i + 1) * step if i < n - 1 else END_OF_FILE) for i in range(n)]

    def read_span(self, path: Path, span: tuple[int, int]) -> Iterator[Document | Dropped]:
        """Lines whose start lies in `span`: byte offsets of the file itself when it is
        plain, else offsets of the compressed stream consumed when the line came out (so
        each line belongs to exactly one span, and the spans of a file give its lines in
        order). Line numbers, and so document ids, equal those of a whole-file read."""
        path = Path(path)
        if file_format(path) != "jsonl":
            yield from super().read_span(path, span)
            return
        key = self.key_for(path)
        text_key = self.options["text_key"]
        start, end = span
        name = path.name.lower()
        lineno = 0
        if not name.endswith((".zst", ".gz")):
            with open(path, "rb") as fh:
                pos = 0
                if start > 0:
                    lineno = _count_newlines(fh, start)
                    fh.seek(start - 1)
                    if fh.read(1) != b"\n":  # mid-line: that line belongs to the span before
                        rest = fh.readline()
                        pos = start + len(rest)
                        lineno += rest.endswith(b"\n")  # its newline lies inside this span
                    else:
                        pos = start
                while pos < end:
                    raw = fh.readline()
                    if not raw:
                        break
                    pos += len(raw)
                    lineno += 1
                    if raw.strip():
                        yield self._record(raw, f"{key}:{lineno}", text_key)
            return
        counter = _CountingReader(open(path, "rb"))
        fh = open_zstd(counter) if name.endswith(".zst") else gzip.GzipFile(fileobj=counter, mode="rb")
        try:
            for lineno, raw in enumerate(fh, 1):
                at = counter.consumed
                if at >= end:
                    break
                if at >= start and raw.strip():
                    yield self._record(raw, f"{key}:{lineno}", text_key)
        except _DECOMPRESS_ERRORS as exc:
            raise SourceError(f"{path}: damaged after line {lineno} ({type(exc).__name__}: {exc})") from None
        finally:
            fh.close()

    def _record(self, raw: bytes, key: str, text_key: str) -> Document | Dropped:
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            return self.dropped(key, "invalid_utf8")
        try:
            rec = json.loads(line)
        except json.JSONDecodeError:
            return self.dropped(key, "bad_json")
        if not isinstance(rec, dict) or not isinstance(rec.get(text_key), str):
            return self.dropped(key, "no_text")
        return self._to_document(key, rec[text_key], rec.get("meta"))

    def _to_document(self, key: str, text: str, meta: Any) -> Document:
        doc = self.document(key, text)
        if isinstance(meta, dict):
            for k, v in meta.items():
                if k == "pile_set_name" and not self.cfg.pile_set_name:
                    doc.meta["pile_set_name"] = str(v)
                elif k not in ("id", "pile_set_name") and not k.startswith("_"):
                    doc.meta.setdefault(k, v)
        return doc

    def _read_lmd(self, path: Path, key: str) -> Iterator[Document | Dropped]:
        import lm_dataformat

        try:
            # Only lm_dataformat's JSON formats carry meta; the others assert get_meta=False.
            with_meta = path.name.lower().endswith((".json.zst", ".jsonl.zst.tar"))
            stream = lm_dataformat.Reader(str(path)).stream_data(get_meta=with_meta)
            for i, item in enumerate(stream):
                text, meta = item if isinstance(item, tuple) else (item, {})
                yield self._to_document(f"{key}:{i}", text, meta)
        except (*_DECOMPRESS_ERRORS, ValueError, KeyError, AssertionError, io.UnsupportedOperation) as exc:
            raise SourceError(f"{path}: unreadable lm_dataformat archive ({type(exc).__name__}: {exc})") from None
