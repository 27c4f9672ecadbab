"""A source's dedup decisions as the workers read them: which documents go, and why.

The decisions of one source can be tens of millions of ids (the Pile's Common Crawl alone
had about 54 million documents). Read as a JSON object, every final and held-out worker
of that source would hold them all as Python strings, about 150 bytes each, on every
worker of a cluster at once. A drop table holds, per removed document, the 128-bit
BLAKE2b digest of its id and a reason code, sorted by digest: one ``.npy`` of shape
``(3, n)`` ``uint64`` (the digest's high half, its low half, the reason). A worker
memory-maps it and binary-searches each id, so it holds the pages its searches touch
(24 bytes a decision on disk), and workers of one machine share them.

An id that is not in the table matches only if its 128-bit digest equals a removed id's:
about ``n x N / 2**128`` for a corpus of N documents, none in practice (the 64-bit digest
would be about 1e-4 at the Pile's size, which is why it is not enough).

`clusters.jsonl` (written beside) stays the human-readable record, with the ids.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from pile.docs_io import atomic_file
from pile.errors import PileError

EXACT = "exact_duplicate"
NEAR = "near_duplicate"
REASONS = (EXACT, NEAR)  # reason code -> reason; the code is the index


def _digest(doc_id: str) -> bytes:
    # surrogateescape: ids built from file names that are not valid UTF-8
    return hashlib.blake2b(doc_id.encode("utf-8", "surrogateescape"), digest_size=16).digest()


def id_digest(doc_id: str) -> tuple[int, int]:
    """The (high, low) 64-bit halves of `doc_id`'s 128-bit BLAKE2b digest (big-endian)."""
    d = _digest(doc_id)
    return int.from_bytes(d[:8], "big"), int.from_bytes(d[8:], "big")


def _halves(ids: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """The digests' (high, low) halves of `ids`, as two uint64 arrays."""
    halves = np.frombuffer(b"".join(map(_digest, ids)), dtype=">u8").reshape(-1, 2)
    return halves[:, 0].astype(np.uint64), halves[:, 1].astype(np.uint64)


class DropTableWriter:
    """Builds one source's drop table from batches of decisions (the ids of a batch are
    digested and let go: what it holds is 17 bytes a decision, not the ids).

    Args:
        path: where `close` saves the table (atomically).
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._hi: list[np.ndarray] = [np.empty(0, np.uint64)]
        self._lo: list[np.ndarray] = [np.empty(0, np.uint64)]
        self._code: list[np.ndarray] = [np.empty(0, np.uint8)]

    def add(self, ids: Sequence[str], codes: Sequence[int] | np.ndarray) -> None:
        """Decide `ids` (their reason codes, indexes into `REASONS`, aligned)."""
        codes = np.asarray(codes, dtype=np.uint8)
        if len(codes) != len(ids):
            raise PileError(f"drop table {self.path}: {len(ids)} ids but {len(codes)} reasons")
        if codes.size and int(codes.max()) >= len(REASONS):
            raise PileError(f"drop table {self.path}: unknown reason code {int(codes.max())}")
        hi, lo = _halves(ids)
        self._hi.append(hi)
        self._lo.append(lo)
        self._code.append(codes)

    def close(self) -> int:
        """Sort and save the table; returns how many decisions it holds.

        Raises:
            PileError: an id was decided twice.
        """
        hi, lo, code = (np.concatenate(c) for c in (self._hi, self._lo, self._code))
        order = np.lexsort((lo, hi))
        table = np.empty((3, hi.size), np.uint64)
        table[0], table[1], table[2] = hi[order], lo[order], code[order]
        if hi.size > 1:
            same = (table[0, 1:] == table[0, :-1]) & (table[1, 1:] == table[1, :-1])
            if same.any():
                raise PileError(f"drop table {self.path}: a document id is decided twice")
        with atomic_file(self.path) as fh:
            np.save(fh, table, allow_pickle=False)
        return int(hi.size)


def write_drop_table(path: str | Path, decisions: Iterable[tuple[str, str]]) -> int:
    """Save `decisions` (document id, reason in `REASONS`) as a drop table at `path`
    (atomically); returns how many were written.

    Raises:
        PileError: a reason that is not in `REASONS`, or an id given twice.
    """
    ids: list[str] = []
    codes: list[int] = []
    for doc_id, reason in decisions:
        if reason not in REASONS:
            raise PileError(f"drop table {path}: unknown reason {reason!r} for {doc_id!r}")
        ids.append(doc_id)
        codes.append(REASONS.index(reason))
    writer = DropTableWriter(path)
    writer.add(ids, codes)
    return writer.close()


class DropTable:
    """A drop table opened for lookups (`get`, ``in``), memory-mapped.

    Args:
        path: a file `write_drop_table` wrote.

    Raises:
        PileError: the file is missing, not a ``.npy``, or not a ``(3, n)`` uint64 table.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            table = np.load(self.path, mmap_mode="r", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise PileError(f"drop table {self.path}: cannot be read ({exc})") from None
        if table.ndim != 2 or table.shape[0] != 3 or table.dtype != np.dtype("<u8"):
            raise PileError(f"drop table {self.path}: expected a (3, n) uint64 array, "
                            f"got {table.dtype} {table.shape}")
        # each row contiguous, so a search reads the pages it touches (Fortran order would
        # make every row a strided view that a search copies whole)
        if not table.flags.c_contiguous:
            raise PileError(f"drop table {self.path}: not in C order")
        self._hi, self._lo, self._code = table[0], table[1], table[2]
        self._n = int(table.shape[1])

    def __len__(self) -> int:
        return self._n

    def get(self, doc_id: str, default: str | None = None) -> str | None:
        """The reason `doc_id` is removed, or `default` when it is kept."""
        code = self.find(*id_digest(doc_id))
        return default if code < 0 else REASONS[code]

    def reasons(self, ids: Sequence[str]) -> list[str | None]:
        """`get` for a batch: one vectorised binary search for all of `ids` (a scalar
        search costs about 12 us an id, most of it numpy's per-call overhead)."""
        if not self._n or not ids:
            return [None] * len(ids)
        hi, lo = _halves(ids)
        pos = np.minimum(np.searchsorted(self._hi, hi), self._n - 1)
        same_hi = np.asarray(self._hi[pos]) == hi
        hit = same_hi & (np.asarray(self._lo[pos]) == lo)
        codes = np.where(hit, np.asarray(self._code[pos]), -1).astype(np.int64)
        # a shared high half whose first entry is another digest: walk it (astronomically rare)
        for i in np.flatnonzero(same_hi & ~hit).tolist():
            codes[i] = self.find(int(hi[i]), int(lo[i]))
        if codes.size and int(codes.max()) >= len(REASONS):
            raise PileError(f"drop table {self.path}: unknown reason code {int(codes.max())}")
        return [None if c < 0 else REASONS[c] for c in codes.tolist()]

    def find(self, hi: int, lo: int) -> int:
        """The reason code of the digest (`hi`, `lo`), or -1 when it is not in the table."""
        i = int(np.searchsorted(self._hi, np.uint64(hi))) if self._n else 0
        # equal high halves are consecutive, in the order of their low halves
        while i < self._n and int(self._hi[i]) == hi:
            if int(self._lo[i]) == lo:
                code = int(self._code[i])
                if code >= len(REASONS):
                    raise PileError(f"drop table {self.path}: unknown reason code {code}")
                return code
            i += 1
        return -1

    def __contains__(self, doc_id: object) -> bool:
        return isinstance(doc_id, str) and self.get(doc_id) is not None


def open_drops(path: str | Path | None) -> DropTable | dict[str, str]:
    """The table at `path`, or no decisions (an empty mapping) when there is none: a
    source dedup never saw (dedup off, or no path given)."""
    if not path or not Path(path).is_file():
        return {}
    return DropTable(path)


__all__ = ["DropTable", "DropTableWriter", "EXACT", "NEAR", "REASONS", "id_digest", "open_drops", "write_drop_table"]
