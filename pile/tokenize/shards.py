"""Megatron-LM / GPT-NeoX ``MMapIndexedDataset`` shards: the writer and the index format.

A shard is two files (DESIGN.md, "Output layout"; all little-endian):

- ``.bin``: the token ids of every sequence back to back, no header;
- ``.idx``: magic ``MMIDIDX\\x00\\x00``, uint64 version 1, uint8 dtype code (8 = uint16,
  4 = int32), uint64 sequence count N, uint64 document-index length D = N + 1, then
  int32 sequence lengths[N], int64 byte offsets[N] into ``.bin``, int64 document
  indices[D] (0, 1, ..., N: one sequence per document).

Those bytes are what Megatron-LM's and GPT-NeoX's ``MMapIndexedDataset`` read, so trainers
use the shards without conversion.

Shard naming rule (`ShardWriter`): documents are never split. A shard is closed before a
document that would take it past ``shard_tokens`` (a document longer than that gets a shard
of its own). If the source fits in one shard its files are ``<prefix>.bin/.idx``; otherwise
they are ``<prefix>_00000.bin/.idx``, ``<prefix>_00001...`` in document order. Files are
written under ``.tmp`` names and renamed on `ShardWriter.close`, ``.bin`` before ``.idx``, so
an ``.idx`` on disk always describes a complete ``.bin``.
"""

from __future__ import annotations

import os
import struct
from array import array
from dataclasses import dataclass
from pathlib import Path

import numpy as np

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
# Megatron's dtype codes (megatron/core/datasets/indexed_dataset.py, DType enum).
DTYPE_CODES: dict[int, np.dtype] = {
    1: np.dtype(np.uint8), 2: np.dtype(np.int8), 3: np.dtype(np.int16), 4: np.dtype(np.int32),
    5: np.dtype(np.int64), 6: np.dtype(np.float64), 7: np.dtype(np.float32),
    8: np.dtype(np.uint16),
}
CODE_OF = {dt: code for code, dt in DTYPE_CODES.items()}
HEADER = struct.Struct("<9sQBQQ")  # magic, version, dtype code, N, D


def dtype_code(dtype: np.dtype | str) -> int:
    """Megatron's code for `dtype` (8 for uint16, 4 for int32...)."""
    dt = np.dtype(dtype)
    if dt not in CODE_OF:
        raise ValueError(f"dtype {dt} has no MMapIndexedDataset code")
    return CODE_OF[dt]


def shard_paths(prefix: Path, index: int | None) -> tuple[Path, Path]:
    """(``.bin``, ``.idx``) of shard `index` (None: the single unnumbered shard)."""
    stem = prefix.name if index is None else f"{prefix.name}_{index:05d}"
    return prefix.with_name(stem + ".bin"), prefix.with_name(stem + ".idx")


def find_shards(prefix: str | Path) -> list[Path]:
    """The ``.idx`` files of a source prefix, in shard order.

    ``<prefix>.idx`` if it exists, else ``<prefix>_NNNNN.idx`` sorted by number. A path
    ending in ``.idx`` or ``.bin`` names that one shard.
    """
    prefix = Path(prefix)
    if prefix.suffix in (".idx", ".bin"):
        return [prefix.with_suffix(".idx")]
    single = prefix.with_name(prefix.name + ".idx")
    if single.is_file():
        return [single]
    numbered = []
    for path in prefix.parent.glob(f"{prefix.name}_*.idx"):
        tail = path.stem[len(prefix.name) + 1:]
        if tail.isdigit() and len(tail) == 5:
            numbered.append((int(tail), path))
    return [p for _i, p in sorted(numbered)]


def write_index(path: Path, dtype: np.dtype, sizes: np.ndarray) -> None:
    """Write an ``.idx`` for sequences of `sizes` tokens of `dtype` (one per document)."""
    dtype = np.dtype(dtype)
    sizes = np.asarray(sizes, dtype=np.int32)
    n = len(sizes)
    pointers = np.zeros(n, dtype=np.int64)
    if n > 1:
        np.cumsum(sizes[:-1], dtype=np.int64, out=pointers[1:])
    pointers *= dtype.itemsize
    doc_idx = np.arange(n + 1, dtype=np.int64)
    with open(path, "wb") as f:
        f.write(HEADER.pack(MAGIC, VERSION, dtype_code(dtype), n, n + 1))
        f.write(sizes.astype("<i4", copy=False).tobytes())
        f.write(pointers.astype("<i8", copy=False).tobytes())
        f.write(doc_idx.astype("<i8", copy=False).tobytes())


@dataclass(frozen=True)
class IndexHeader:
    version: int
    dtype_code: int
    sequences: int
    doc_index_len: int


def read_header(data: bytes | memoryview) -> IndexHeader:
    """Parse the fixed header of an ``.idx`` (raises ValueError on a bad magic/short file)."""
    if len(data) < HEADER.size:
        raise ValueError(f"index is {len(data)} bytes, shorter than its {HEADER.size}-byte header")
    magic, version, code, n, d = HEADER.unpack_from(data, 0)
    if magic != MAGIC:
        raise ValueError(f"bad magic {magic!r}, expected {MAGIC!r}")
    return IndexHeader(version, code, n, d)


def remove_stale_shards(prefix: Path, keep: int, single: bool) -> None:
    """Delete shards of an earlier build of this prefix that a new set does not replace
    (a rebuild that now needs fewer, or differently named, shards): numbered shards from
    `keep` on, and the unnumbered pair unless the new set is `single`."""
    prefix = Path(prefix)
    if not prefix.parent.is_dir():
        return
    for idx in prefix.parent.glob(f"{prefix.name}_*.idx"):
        tail = idx.stem[len(prefix.name) + 1:]
        if tail.isdigit() and len(tail) == 5 and int(tail) >= keep:
            idx.unlink(missing_ok=True)
            idx.with_suffix(".bin").unlink(missing_ok=True)
    if not single:
        for path in shard_paths(prefix, None):
            path.unlink(missing_ok=True)


class ShardWriter:
    """Writes one source's documents into ``MMapIndexedDataset`` shards.

    Args:
        prefix: ``tokens/<tokenizer>/<source>``; files get ``.bin/.idx`` or
            ``_NNNNN.bin/.idx`` (see the module docstring for the rule).
        dtype: uint16 or int32 (`pile.tokenize.vocab.dtype_for`).
        shard_tokens: the most tokens in a shard (a longer single document is alone).

    Use as a context manager, or call `close()` (commit) / `abort()` (discard).
    """

    def __init__(self, prefix: str | Path, dtype: np.dtype | str, shard_tokens: int) -> None:
        if shard_tokens < 1:
            raise ValueError(f"shard_tokens must be >= 1, got {shard_tokens}")
        self.prefix = Path(prefix)
        self.dtype = np.dtype(dtype)
        dtype_code(self.dtype)
        self.shard_tokens = int(shard_tokens)
        self.prefix.parent.mkdir(parents=True, exist_ok=True)
        self._done: list[tuple[Path, array]] = []  # finished shards: tmp .bin, sizes
        self._file = None
        self._tmp: Path | None = None
        self._sizes = array("i")
        self._tokens = 0
        self.documents = 0
        self.tokens = 0
        self._closed = False

    def _open(self) -> None:
        self._tmp = self.prefix.with_name(f"{self.prefix.name}.{len(self._done):05d}.bin.tmp")
        self._file = open(self._tmp, "wb", buffering=1 << 20)
        self._sizes = array("i")
        self._tokens = 0

    def _finish_shard(self) -> None:
        assert self._file is not None and self._tmp is not None
        self._file.close()
        self._done.append((self._tmp, self._sizes))
        self._file = None

    @property
    def closed(self) -> bool:
        """True once committed (`close`) or discarded (`abort`)."""
        return self._closed

    def add(self, ids: np.ndarray) -> None:
        """Append one document's ids (EOD included) as the next sequence."""
        if self._closed:
            raise ValueError("ShardWriter is closed")
        ids = np.asarray(ids)
        n = len(ids)
        if n == 0:
            raise ValueError("empty sequence: every document carries at least its EOD token")
        if ids.dtype != self.dtype:
            ids = ids.astype(self.dtype)
        if self._file is None:
            self._open()
        elif self._tokens and self._tokens + n > self.shard_tokens:
            self._finish_shard()
            self._open()
        self._file.write(ids.tobytes())
        self._sizes.append(n)
        self._tokens += n
        self.documents += 1
        self.tokens += n

    def add_many(self, batch: list[np.ndarray]) -> None:
        for ids in batch:
            self.add(ids)

    def close(self) -> list[Path]:
        """Write the indexes, rename into place; returns the ``.bin`` paths in order.

        A source with no documents gets one empty shard (N = 0), so every configured
        source has files and readers see zero documents rather than a missing file.
        """
        if self._closed:
            raise ValueError("ShardWriter is already closed")
        if self._file is not None:
            self._finish_shard()
        elif not self._done:
            self._open()
            self._finish_shard()
        self._closed = True
        single = len(self._done) == 1
        remove_stale_shards(self.prefix, 0 if single else len(self._done), single)
        out = []
        for i, (tmp_bin, sizes) in enumerate(self._done):
            bin_path, idx_path = shard_paths(self.prefix, None if single else i)
            tmp_idx = idx_path.with_name(idx_path.name + ".tmp")
            write_index(tmp_idx, self.dtype, np.frombuffer(sizes, dtype=np.int32))
            os.replace(tmp_bin, bin_path)
            os.replace(tmp_idx, idx_path)
            out.append(bin_path)
        return out

    def abort(self) -> None:
        """Discard everything written (temporary files only; nothing was renamed yet)."""
        if self._file is not None:
            self._file.close()
            self._done.append((self._tmp, self._sizes))
            self._file = None
        for tmp, _sizes in self._done:
            tmp.unlink(missing_ok=True)
        self._done.clear()
        self._closed = True

    def __enter__(self) -> ShardWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if self._closed:
            return
        if exc_type is None:
            self.close()
        else:
            self.abort()
