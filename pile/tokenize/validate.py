"""Shard validation for ``pile validate``: is every ``.bin/.idx`` pair what a trainer expects?

Each problem is one line ``"<file>: <kind>: <detail>"``; the kinds are:

- ``missing_idx`` / ``missing_bin``: one file of a pair is absent;
- ``truncated_index``: the ``.idx`` is shorter than its header says;
- ``bad_magic`` / ``bad_version``: not an ``MMIDIDX`` version-1 index;
- ``dtype_mismatch``: the dtype code is not the one the vocabulary size implies
  (8 = uint16 below 65,500 ids, else 4 = int32);
- ``bad_sizes``: a sequence of length < 1 (every document has at least its EOD);
- ``pointers_not_monotonic``: byte offsets are not the running sum of the lengths;
- ``bin_size_mismatch``: the ``.bin`` size differs from the sum of lengths x itemsize;
- ``doc_index``: the document index does not start at 0, end at N, or is not 0..N;
- ``missing_eod``: a document does not end with the end-of-document id;
- ``id_out_of_range``: a token id outside ``[0, vocab_size)``;
- ``doc_count_mismatch`` / ``token_count_mismatch``: totals differ from the manifest's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from pile.tokenize.shards import DTYPE_CODES, HEADER, VERSION, find_shards, read_header
from pile.tokenize.vocab import dtype_for

_CHUNK = 1 << 24  # tokens scanned per step for the id-range check (bounded memory)


def _shards_of(target: Path) -> tuple[list[Path], list[str]]:
    """Index paths to check, and problems found while listing (orphan ``.bin``)."""
    problems: list[str] = []
    if target.is_dir():
        idx = sorted(target.glob("*.idx"))
        for b in sorted(target.glob("*.bin")):
            if not b.with_suffix(".idx").is_file():
                problems.append(f"{b.name}: missing_idx: no {b.with_suffix('.idx').name}")
        return idx, problems
    found = find_shards(target)
    if not found:
        problems.append(f"{target.name}: missing_idx: no {target.name}.idx or "
                        f"{target.name}_00000.idx")
    return found, problems


def check_shard(idx_path: Path, vocab_size: int, eod_id: int) -> tuple[list[str], int, int]:
    """Check one ``.bin/.idx`` pair.

    Returns:
        (problems, documents, tokens) where the counts come from the index (0, 0 when the
        index cannot be read).
    """
    name = idx_path.name
    bin_path = idx_path.with_suffix(".bin")
    if not bin_path.is_file():
        return [f"{bin_path.name}: missing_bin: no .bin next to {name}"], 0, 0
    data = idx_path.read_bytes()
    try:
        header = read_header(data)
    except ValueError as exc:
        kind = "bad_magic" if "magic" in str(exc) else "truncated_index"
        return [f"{name}: {kind}: {exc}"], 0, 0
    problems: list[str] = []
    if header.version != VERSION:
        problems.append(f"{name}: bad_version: version {header.version}, expected {VERSION}")
    want = dtype_for(vocab_size)
    dtype = DTYPE_CODES.get(header.dtype_code)
    if dtype != want:
        problems.append(f"{name}: dtype_mismatch: dtype code {header.dtype_code} "
                        f"({dtype}), expected {8 if want == np.uint16 else 4} ({want}) for "
                        f"{vocab_size} ids")
    if dtype is None:
        return problems, 0, 0
    n, d = header.sequences, header.doc_index_len
    need = HEADER.size + 4 * n + 8 * n + 8 * d
    if len(data) != need:
        problems.append(f"{name}: truncated_index: {len(data)} bytes, header implies {need}")
        return problems, 0, 0
    off = HEADER.size
    sizes = np.frombuffer(data, "<i4", n, off).astype(np.int64)
    pointers = np.frombuffer(data, "<i8", n, off + 4 * n)
    doc_idx = np.frombuffer(data, "<i8", d, off + 12 * n)
    if n and sizes.min() < 1:
        problems.append(f"{name}: bad_sizes: {int((sizes < 1).sum())} sequences of length < 1")
    expected_ptr = np.concatenate([[0], np.cumsum(sizes[:-1])]) * dtype.itemsize if n else sizes
    if n and not np.array_equal(pointers, expected_ptr):
        first = int(np.argmax(pointers != expected_ptr))
        problems.append(f"{name}: pointers_not_monotonic: offset of sequence {first} is "
                        f"{int(pointers[first])}, expected {int(expected_ptr[first])}")
    total = int(sizes.sum())
    bin_bytes = bin_path.stat().st_size
    if bin_bytes != total * dtype.itemsize:
        problems.append(f"{bin_path.name}: bin_size_mismatch: {bin_bytes} bytes, index implies "
                        f"{total * dtype.itemsize}")
    if d < 1 or doc_idx[0] != 0 or doc_idx[-1] != n or not np.array_equal(doc_idx, np.arange(d)):
        last = int(doc_idx[-1]) if d else None
        problems.append(f"{name}: doc_index: {d} entries ending at {last}, expected 0..{n}")
    if problems or not n:
        return problems, n, total
    tokens = np.memmap(bin_path, dtype=dtype, mode="r")
    ends = pointers // dtype.itemsize + sizes - 1
    bad = np.nonzero(tokens[ends] != eod_id)[0]
    if len(bad):
        problems.append(f"{name}: missing_eod: {len(bad)} documents do not end with id {eod_id} "
                        f"(first: document {int(bad[0])})")
    for start in range(0, len(tokens), _CHUNK):
        chunk = tokens[start:start + _CHUNK]
        lo, hi = int(chunk.min()), int(chunk.max())
        if lo < 0 or hi >= vocab_size:
            where = start + int(np.argmax((chunk < 0) | (chunk >= vocab_size)))
            problems.append(f"{name}: id_out_of_range: token {where} is "
                            f"{int(tokens[where])}, vocabulary has {vocab_size} ids")
            break
    return problems, n, total


def validate_shards(prefix_or_dir: str | Path, vocab_size: int, eod_id: int,
                    expected_docs: int | None = None,
                    expected_tokens: int | None = None) -> list[str]:
    """Check every shard of a source prefix (or every shard in a directory).

    Args:
        prefix_or_dir: ``tokens/<tok>/<source>`` (its ``.idx`` or ``_NNNNN.idx`` shards) or
            ``tokens/<tok>/`` (every ``.idx`` in it).
        vocab_size / eod_id: the vocabulary's, from the manifest.
        expected_docs / expected_tokens: the manifest's totals over the checked shards
            (tokens as stored: end-of-document tokens included); None skips the check.

    Returns:
        Problems, one line each (empty when everything is right).
    """
    target = Path(prefix_or_dir)
    paths, problems = _shards_of(target)
    docs = tokens = 0
    for idx in paths:
        found, n, t = check_shard(idx, vocab_size, eod_id)
        problems += found
        docs += n
        tokens += t
    label = target.name
    if expected_docs is not None and docs != expected_docs:
        problems.append(f"{label}: doc_count_mismatch: {docs} documents, manifest says "
                        f"{expected_docs}")
    if expected_tokens is not None and tokens != expected_tokens:
        problems.append(f"{label}: token_count_mismatch: {tokens} tokens, manifest says "
                        f"{expected_tokens}")
    return problems
