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
  ``.tar.gz``), in lm_dataformat's layouts (a length-prefixed ``.dat.zst``, a JSON list,
  one ``.jsonl.zst`` or one document per archive member). They are read here rather than
  with ``lm_dataformat.Reader``, which reads members whole and ignores their names:
  archive members go through `pile.sources.archive`, which refuses absolute, ``..`` and
  escaping-link member names as the native kinds do (failing the file with the reason).

Every record (a file, a line, a member) is subject to the base class's size rule: one
larger than ``run.max_record_bytes`` is skipped while streaming and dropped as
``too_large`` with its size. Text with lone surrogates (JSON ``"\\ud800"``) cannot be
written as UTF-8 and is dropped as ``invalid_utf8``.

Document ids are ``<source>/<file>:<line>`` (or ``<source>/<file>`` for whole-file
formats), where ``<file>`` is the path relative to the configured root.
"""

from __future__ import annotations

import gzip
import json
import zlib
from pathlib import Path
from typing import IO, Any, Iterator

import zstandard

from pile.docs_io import open_zstd
from pile.document import Document
from pile.errors import SourceError
from pile.sources.archive import CountingReader, refuse_empty
from pile.sources.base import Source, even_spans
from pile.stage import Dropped

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


class _Until:
    """A plain file's lines up to the first line that starts at or after `end`."""

    def __init__(self, fh: IO[bytes], end: int) -> None:
        self._fh = fh
        self._end = end
        self._at_line_start = True

    def readline(self, size: int = -1) -> bytes:
        if self._at_line_start and self._fh.tell() >= self._end:
            return b""
        line = self._fh.readline(size)
        self._at_line_start = line.endswith(b"\n")
        return line


def _open_binary(path: Path) -> IO[bytes]:
    name = path.name.lower()
    if name.endswith((".zst", ".gz")):
        refuse_empty(path, name.rsplit(".", 1)[-1])
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
        data = self.read_file(path, key, path=key)
        if isinstance(data, Dropped):
            yield data
            return
        yield self._text_document(key, data, path=key)

    def _text_document(self, key: str, data: bytes, **meta: Any) -> Document | Dropped:
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            return self.dropped(key, "invalid_utf8", error=f"byte {exc.start}")
        return self.document(key, text.removeprefix("\ufeff"), **meta)

    def _read_jsonl(self, path: Path, key: str) -> Iterator[Document | Dropped]:
        try:
            fh = _open_binary(path)
        except OSError as exc:
            raise SourceError(f"{path}: cannot open ({exc.strerror or exc})") from None
        with fh:
            yield from self._jsonl_lines(fh, path, key)

    def _jsonl_lines(self, fh: IO[bytes], label: Path | str, key: str,
                     first: int | None = None) -> Iterator[Document | Dropped]:
        """The records of one JSON-lines stream; ids ``<key>:<line>`` (or, for the
        members of a ``.jsonl.zst.tar``, ``<key>:<first + line index>``, numbered across
        the archive from 0 as lm_dataformat numbers them)."""
        text_key = self.options["text_key"]
        lineno = 0
        try:
            for lineno, raw in self.iter_lines(fh):
                rec_key = f"{key}:{lineno if first is None else first + lineno - 1}"
                if isinstance(raw, int):
                    yield self.dropped(rec_key, "too_large", record_bytes=raw)
                    continue
                if not raw.strip():
                    continue
                yield self._record(raw, rec_key, text_key)
        except SourceError:
            raise
        except _DECOMPRESS_ERRORS as exc:
            raise SourceError(f"{label}: damaged after line {lineno} ({type(exc).__name__}: {exc})") from None

    def spans(self, path: Path, target: int) -> list[tuple[int, int]] | None:
        if file_format(Path(path)) != "jsonl":
            return None
        return even_spans(Path(path).stat().st_size, target)

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
        start, end = span
        name = path.name.lower()
        if not name.endswith((".zst", ".gz")):
            with open(path, "rb") as fh:
                before = 0  # lines that start before this span
                if start > 0:
                    before = _count_newlines(fh, start)
                    fh.seek(start - 1)
                    if fh.read(1) != b"\n":  # mid-line: that line belongs to the span before
                        while True:  # skipped in bounded steps, whatever its length
                            rest = fh.readline(1 << 20)
                            if not rest or rest.endswith(b"\n"):
                                break
                        before += bool(rest)  # its newline lies inside this span
                for doc in self._jsonl_lines(_Until(fh, end), path, key, first=before + 1):
                    yield doc
            return
        counter = CountingReader(open(path, "rb"))
        fh = open_zstd(counter) if name.endswith(".zst") else gzip.GzipFile(fileobj=counter, mode="rb")
        with fh:
            for doc in self._jsonl_lines(fh, path, key):
                at = counter.consumed
                if at >= end:
                    break
                if at >= start:
                    yield doc

    def _record(self, raw: bytes, key: str, text_key: str) -> Document | Dropped:
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            return self.dropped(key, "invalid_utf8")
        try:
            rec = json.loads(line)
        except (json.JSONDecodeError, RecursionError):
            return self.dropped(key, "bad_json")
        if not isinstance(rec, dict):
            return self.dropped(key, "no_text")
        text = rec.get(text_key)
        if isinstance(text, list) and all(isinstance(t, str) for t in text):
            text = "\n\n".join(text)  # lm_dataformat's paragraph lists
        if not isinstance(text, str):
            return self.dropped(key, "no_text")
        # Only a \\uD800-\\uDFFF escape can put a lone surrogate in decoded JSON.
        return self._to_document(key, text, rec.get("meta"), check=b"\\ud" in raw or b"\\uD" in raw)

    def _to_document(self, key: str, text: str, meta: Any, check: bool = True) -> Document | Dropped:
        doc = self.document(key, text)
        if isinstance(meta, dict):
            for k, v in meta.items():
                if k == "pile_set_name" and not self.cfg.pile_set_name:
                    doc.meta["pile_set_name"] = str(v)
                elif k not in ("id", "pile_set_name") and not k.startswith("_"):
                    doc.meta.setdefault(k, v)
        if not check:
            return doc
        try:
            # JSON may spell lone surrogates ("\\udce9"): no writer can encode them.
            json.dumps([doc.text, doc.meta], ensure_ascii=False).encode("utf-8")
        except UnicodeEncodeError as exc:
            return self.dropped(key, "invalid_utf8", error=f"lone surrogate at {exc.start}")
        return doc

    def _read_lmd(self, path: Path, key: str) -> Iterator[Document | Dropped]:
        name = path.name.lower()
        refuse_empty(path, "lm_dataformat")
        try:
            if name.endswith(".dat.zst"):
                yield from self._read_dat(path, key)
            elif name.endswith(".json.zst"):
                yield from self._read_json_list(path, key)
            else:
                yield from self._read_lmd_archive(path, key, jsonl=name.endswith(".jsonl.zst.tar"))
        except SourceError:
            raise
        except (*_DECOMPRESS_ERRORS, ValueError) as exc:
            raise SourceError(f"{path}: unreadable lm_dataformat archive ({type(exc).__name__}: {exc})") from None

    def _read_dat(self, path: Path, key: str) -> Iterator[Document | Dropped]:
        """lm_dataformat's ``.dat.zst``: a 16-byte decimal length before each document."""
        with open(path, "rb") as raw, open_zstd(raw) as fh:
            index = 0
            while True:
                head = fh.read(16)
                if not head:
                    return
                try:
                    length = int(head.decode("ascii"))
                except (UnicodeDecodeError, ValueError):
                    raise SourceError(f"{path}: bad record length {head!r} before record {index}") from None
                item = self.read_record(_Window(fh, length, f"{path}: record {index}"), f"{key}:{index}")
                yield item if isinstance(item, Dropped) else self._text_document(f"{key}:{index}", item)
                index += 1

    def _read_json_list(self, path: Path, key: str) -> Iterator[Document | Dropped]:
        """lm_dataformat's ``.json.zst``: one JSON list of texts (one record, size-capped)."""
        with open(path, "rb") as raw, open_zstd(raw) as fh:
            data = self.read_record(fh, key)
        if isinstance(data, Dropped):
            yield data
            return
        try:
            items = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise SourceError(f"{path}: not a JSON list of texts ({type(exc).__name__})") from None
        for i, text in enumerate(items if isinstance(items, list) else []):
            yield (self._to_document(f"{key}:{i}", text, None) if isinstance(text, str)
                   else self.dropped(f"{key}:{i}", "no_text"))

    def _read_lmd_archive(self, path: Path, key: str, jsonl: bool) -> Iterator[Document | Dropped]:
        """A ``.zip`` / ``.tar.gz`` (one document per member) or a ``.jsonl.zst.tar``
        (one ``.jsonl.zst`` per member), through the safe archive reader."""
        from pile.sources.archive import iter_archive

        index = 0
        for member, fileobj in iter_archive(path):
            if jsonl:
                count = 0
                for item in self._jsonl_lines(open_zstd(fileobj), f"{path}:{member}", key, first=index):
                    count += 1
                    yield item
                index += count
                continue
            item = self.read_record(fileobj, f"{key}:{index}", member=member)
            yield item if isinstance(item, Dropped) else self._text_document(f"{key}:{index}", item)
            index += 1


class _Window:
    """The next `length` bytes of a stream, as a reader (one ``.dat.zst`` record)."""

    def __init__(self, raw: IO[bytes], length: int, label: str) -> None:
        self._raw = raw
        self._left = length
        self._label = label

    def read(self, size: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        n = self._left if size is None or size < 0 else min(size, self._left)
        data = self._raw.read(n)
        self._left -= len(data)
        if len(data) < n:
            raise SourceError(f"{self._label}: truncated (ends before its stated length)")
        return data
