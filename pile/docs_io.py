"""Reading and writing document files: the Pile's ``jsonl.zst`` and the stage checkpoints.

Output files are written to a temporary name and renamed into place when complete,
so a killed build never leaves a half-written file that looks finished. Compression
is single-threaded with a fixed level, so the same documents give the same bytes.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import threading
from pathlib import Path
from typing import IO, Any, BinaryIO, Iterator

import pyarrow as pa
import pyarrow.parquet as pq
import zstandard

from pile.document import Document
from pile.errors import SourceError


@contextlib.contextmanager
def atomic_file(path: Path) -> Iterator[BinaryIO]:
    """A binary file that becomes `path` only when the block ends without an exception:
    written under a temporary name, fsync'ed, then renamed (the one atomic writer; a
    failure removes the temporary file and leaves `path` as it was). The temporary name
    is private to the process and thread, so concurrent writers never share it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically (`atomic_file`): markers, stats, vocabularies,
    download records."""
    with atomic_file(path) as fh:
        fh.write(data)


def write_if_changed(path: Path, data: bytes) -> bool:
    """Write atomically unless `path` already holds exactly `data` (keeps inode and mtime,
    so a rebuild visibly leaves untouched artifacts alone). Returns True if written."""
    if path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data:
        return False
    atomic_write_bytes(path, data)
    return True


def atomic_write_text(path: Path, text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: Path, obj: Any) -> None:
    """Pretty, key-sorted JSON (stable bytes for the same content), written atomically."""
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False) + "\n")


def swap_in(staging: Path, folder: Path) -> None:
    """Replace `folder` by the finished `staging` folder (two renames; a crash in between
    leaves ``.<name>.old``, which the next build removes, and never a half-written set)."""
    old = folder.with_name(f".{folder.name}.old")
    if old.exists():
        shutil.rmtree(old)
    if folder.exists():
        os.replace(folder, old)
    os.replace(staging, folder)
    if old.exists():
        shutil.rmtree(old)


class _HashingFile:
    """A binary file that hashes and counts what is written through it."""

    def __init__(self, path: Path) -> None:
        self._fh = open(path, "wb")
        self.sha = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.sha.update(data)
        self.size += len(data)
        return self._fh.write(data)

    def flush(self) -> None:
        self._fh.flush()

    def close(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()


class DocsPartWriter:
    """One unit's documents in the Pile's format: ``<prefix>-NNN.jsonl.zst`` files of at
    most `docs_per_file` documents in `folder`, each written under a temporary name and
    renamed when complete. `close` returns (name, size, sha256, documents) per file, so
    the driver can commit and list them without reading them back."""

    def __init__(self, folder: Path, prefix: str, docs_per_file: int, level: int = 3) -> None:
        self.folder = Path(folder)
        self.prefix = prefix
        self.docs_per_file = docs_per_file
        self.level = level
        self.files: list[tuple[str, int, str, int]] = []
        self._raw: _HashingFile | None = None
        self._fh: Any = None
        self._tmp: Path | None = None
        self._name = ""
        self._count = 0

    def _open(self) -> None:
        self.folder.mkdir(parents=True, exist_ok=True)
        self._name = f"{self.prefix}-{len(self.files):03d}.jsonl.zst"
        self._tmp = self.folder / f".{self._name}.{os.getpid()}.tmp"
        self._raw = _HashingFile(self._tmp)
        cctx = zstandard.ZstdCompressor(level=self.level, threads=0, write_checksum=True)
        self._fh = cctx.stream_writer(self._raw, closefd=False)
        self._count = 0

    def _finish(self) -> None:
        if self._fh is None:
            return
        assert self._raw is not None and self._tmp is not None
        self._fh.flush(zstandard.FLUSH_FRAME)
        self._fh.close()
        self._raw.close()
        os.replace(self._tmp, self.folder / self._name)
        self.files.append((self._name, self._raw.size, self._raw.sha.hexdigest(), self._count))
        self._fh = self._raw = self._tmp = None

    def write(self, doc: Document) -> None:
        if self._fh is None or self._count >= self.docs_per_file:
            self._finish()
            self._open()
        self._fh.write(doc.to_pile_json().encode("utf-8") + b"\n")
        self._count += 1

    def close(self) -> list[tuple[str, int, str, int]]:
        self._finish()
        return list(self.files)

    def abort(self) -> None:
        if self._fh is not None:
            self._fh.close()
            assert self._raw is not None and self._tmp is not None
            self._raw.close()
            self._tmp.unlink(missing_ok=True)
            self._fh = self._raw = self._tmp = None


class ZstdFrames(io.RawIOBase):
    """Decompresses concatenated zstd frames and raises EOFError on a truncated one.

    zstandard's stream_reader reports a cut-off frame as a clean end of file, which
    would silently lose the rest of a damaged file.
    """

    def __init__(self, raw: IO[bytes]) -> None:
        self._raw = raw
        self._dctx = zstandard.ZstdDecompressor()
        self._dobj = self._dctx.decompressobj()
        self._pending = b""
        self._in_frame = False

    def readable(self) -> bool:
        return True

    def readinto(self, buf: Any) -> int:
        while not self._pending:
            chunk = self._raw.read(1 << 20)
            if not chunk:
                if self._in_frame:
                    raise EOFError("zstd frame is truncated")
                return 0
            while chunk:
                self._in_frame = True
                self._pending += self._dobj.decompress(chunk)
                if self._dobj.eof:
                    chunk = self._dobj.unused_data
                    self._dobj = self._dctx.decompressobj()
                    self._in_frame = False
                else:
                    chunk = b""
        n = min(len(buf), len(self._pending))
        buf[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        return n

    def close(self) -> None:
        self._raw.close()
        super().close()


def open_zstd(raw: IO[bytes]) -> IO[bytes]:
    """A buffered, line-iterable reader over zstd frames that fails on truncation."""
    return io.BufferedReader(ZstdFrames(raw), buffer_size=1 << 20)


def iter_jsonl_zst(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield (line number, record) from a ``.jsonl.zst`` file written by `DocsPartWriter`."""
    with open_zstd(open(path, "rb")) as fh:
        for lineno, line in enumerate(fh, 1):
            if line.strip():
                yield lineno, json.loads(line.decode("utf-8"))


def read_pile_documents(path: Path, source: str) -> Iterator[Document]:
    """Documents back from one output file (id and meta from the record's ``meta``)."""
    for _, rec in iter_jsonl_zst(path):
        meta = dict(rec.get("meta") or {})
        doc_id = meta.pop("id")
        yield Document(id=doc_id, source=source, text=rec["text"], meta=meta)


# -- checkpoints (the materialised output of a phase, read back by the next) ------------

CHECKPOINT_SCHEMA = pa.schema([
    pa.field("id", pa.string()),
    pa.field("source", pa.string()),
    pa.field("text", pa.large_string()),
    pa.field("meta", pa.string()),
])


# A checkpoint part holds a row group per this much text: the worker that writes a unit
# and the one that reads it back hold one row group, not the unit (up to run.unit_bytes).
CHECKPOINT_ROW_GROUP_BYTES = 4_000_000


class CheckpointWriter:
    """One unit's documents written as a parquet checkpoint part as they come (lz4: read
    back once, soon), a row group per `CHECKPOINT_ROW_GROUP_BYTES` of text.

    The file appears on the first row group; `close` returns the rows written (0: no
    file). `abort` removes what was written.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.rows = 0
        self._writer: pq.ParquetWriter | None = None
        self._columns: dict[str, list[str]] = {f.name: [] for f in CHECKPOINT_SCHEMA}
        self._chars = 0

    def write(self, doc: Document) -> None:
        # column lists, not row dicts: Arrow builds string columns several times faster
        for key, value in doc.to_row().items():
            self._columns[key].append(value)
        self._chars += len(doc.text)
        if self._chars >= CHECKPOINT_ROW_GROUP_BYTES:
            self._flush()

    def _flush(self) -> None:
        n = len(self._columns["id"])
        if not n:
            return
        table = pa.table({f.name: pa.array(self._columns[f.name], f.type) for f in CHECKPOINT_SCHEMA},
                         schema=CHECKPOINT_SCHEMA)
        if self._writer is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._writer = pq.ParquetWriter(self.path, CHECKPOINT_SCHEMA, compression="lz4")
        self._writer.write_table(table)
        self.rows += n
        self._columns = {f.name: [] for f in CHECKPOINT_SCHEMA}
        self._chars = 0

    def close(self) -> int:
        self._flush()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        return self.rows

    def abort(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        self.path.unlink(missing_ok=True)


def checkpoint_parts(folder: Path) -> list[Path]:
    return sorted(Path(folder).glob("part-*.parquet"))


def read_checkpoint(path: Path) -> Iterator[Document]:
    """Documents of one checkpoint part, in order."""
    try:
        pf = pq.ParquetFile(path)
    except (OSError, pa.ArrowInvalid) as exc:
        raise SourceError(f"{path}: unreadable checkpoint ({exc})") from None
    for batch in pf.iter_batches(batch_size=4096):
        for row in batch.to_pylist():
            yield Document.from_row(row)
