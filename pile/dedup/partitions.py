"""Grouping keys across the whole corpus with bounded memory: partitioned files on disk.

Records (a 64-bit hash key, maybe a second key word, and a document node) are appended
to ``partitions`` files chosen by ``key % partitions``; afterwards each file is read,
sorted and grouped on its own, so the grouping step holds one partition (about
``records / partitions``) in memory, never the corpus. This is the external hash
partitioning of a GRACE hash join; datatrove's MinHash stage 2 sorts per bucket file
the same way.

Also here: turning a bucket of documents into candidate pairs. A bucket of ``k``
documents holds ``k * (k - 1) / 2`` pairs, which explodes for boilerplate shared by
thousands of pages; we emit every pair within a window of `WINDOW` neighbours in node
order plus a star from the bucket's first member. Small buckets (``k <= WINDOW + 1``,
nearly all of them) get every pair; a large bucket gets ``O(k * WINDOW)`` pairs, still
connecting every member that is similar to its neighbours or to the first.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

WINDOW = 7

BAND_RECORD = np.dtype([("key", "<u8"), ("node", "<u8")])
EXACT_RECORD = np.dtype([("key", "<u8"), ("lo", "<u8"), ("node", "<u8")])


class PartitionedFiles:
    """Append-only record files, one per partition.

    Args:
        folder: where the ``part-NNNNN.bin`` files go (emptied first).
        partitions: how many files.
        dtype: the record type (its first field, ``key``, chooses the partition).
    """

    def __init__(self, folder: Path, partitions: int, dtype: np.dtype) -> None:
        self.folder = Path(folder)
        if self.folder.exists():
            shutil.rmtree(self.folder)
        self.folder.mkdir(parents=True)
        self.partitions = partitions
        self.dtype = dtype
        self.records = 0

    def path(self, part: int) -> Path:
        return self.folder / f"part-{part:05d}.bin"

    def append(self, records: np.ndarray) -> None:
        """Route `records` (of `dtype`) to their partitions; order within a file is kept."""
        if records.size == 0:
            return
        part = (records["key"] % np.uint64(self.partitions)).astype(np.int64)
        order = np.argsort(part, kind="stable")
        part = part[order]
        records = records[order]
        bounds = np.searchsorted(part, np.arange(self.partitions + 1))
        for p in range(self.partitions):
            lo, hi = bounds[p], bounds[p + 1]
            if hi > lo:
                with open(self.path(p), "ab") as fh:
                    fh.write(records[lo:hi].tobytes())
        self.records += int(records.size)

    def read(self, part: int) -> np.ndarray:
        """All records of one partition (empty when none were written)."""
        path = self.path(part)
        if not path.is_file():
            return np.empty(0, self.dtype)
        return np.fromfile(path, dtype=self.dtype)

    def remove(self) -> None:
        shutil.rmtree(self.folder, ignore_errors=True)


def group_bounds(sorted_keys: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """Start and size of each run of equal keys in arrays sorted by those keys.

    Args:
        sorted_keys: one or more equally long arrays; a group is a run where all are equal.

    Returns:
        ``(starts, sizes)`` of every run, in order.
    """
    n = len(sorted_keys[0])
    if n == 0:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    change = np.zeros(n, bool)
    change[0] = True
    for keys in sorted_keys:
        change[1:] |= keys[1:] != keys[:-1]
    starts = np.flatnonzero(change)
    sizes = np.diff(np.append(starts, n))
    return starts, sizes


def bucket_pairs(nodes: np.ndarray, starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Candidate pairs of the buckets ``nodes[starts[i]:starts[i] + sizes[i]]``.

    Args:
        nodes: uint64 nodes, sorted within each bucket.
        starts / sizes: the buckets (`group_bounds`); buckets of one are ignored.

    Returns:
        ``(m, 2)`` uint64 pairs ``(a, b)`` with ``a < b``, unique, sorted.
    """
    multi = sizes > 1
    starts, sizes = starts[multi], sizes[multi]
    if starts.size == 0:
        return np.empty((0, 2), np.uint64)
    member = np.repeat(np.arange(starts.size), sizes)
    pos = np.arange(member.size) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    idx = np.repeat(starts, sizes) + pos
    parts = []
    for d in range(1, WINDOW + 1):
        ok = pos + d < sizes[member]
        parts.append(np.stack([nodes[idx[ok]], nodes[idx[ok] + d]], axis=1))
    star = pos > WINDOW
    parts.append(np.stack([nodes[starts[member[star]]], nodes[idx[star]]], axis=1))
    pairs = np.concatenate(parts)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    pairs.sort(axis=1)
    return unique_pairs(pairs)


def unique_pairs(pairs: np.ndarray) -> np.ndarray:
    """Distinct rows of an ``(m, 2)`` uint64 array, sorted."""
    if pairs.size == 0:
        return np.empty((0, 2), np.uint64)
    view = np.ascontiguousarray(pairs).view(np.dtype([("a", "<u8"), ("b", "<u8")])).ravel()
    return np.unique(view).view("<u8").reshape(-1, 2)
