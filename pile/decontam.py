"""Decontamination: remove held-out text from the training split by 13-gram overlap.

The recipe is GPT-3's (Brown et al. 2020, appendix C), which the Pile's ablations and
NeMo Curator's task decontamination follow: every word 13-gram of the held-out text
(the validation and test splits, plus a user-given evaluation set) goes into an index;
in every training document, each occurrence of an indexed 13-gram is removed together
with `context_chars` (200) characters on each side, overlapping removals merge, and the
remaining pieces are joined with `PIECE_SEPARATOR`. A document split into more than
`max_pieces` (10) pieces, or left with fewer than `min_chars` (200) characters, is
dropped (``decontam_too_many_pieces`` / ``decontam_too_short``).

Normalisation (the definition; `reference_words` implements it plainly):

1. a *word* is a maximal run of Unicode word characters other than ``_`` (Python
   ``re``'s ``[^\\W_]``: letters and digits of any script); everything else (spaces,
   punctuation, ``_``, symbols, combining marks) separates words. So punctuation is
   stripped, whitespace runs of any kind count once, and ``"end.Start"`` is two words;
2. every character of a word is lowercased with ``str.lower()`` when that gives one
   character, else kept (``"İ"``, whose lowercase is two characters, stays); the
   per-character rule keeps the original character offsets exact, which the span
   removal needs;
3. the n-grams of a text are its runs of `ngram` consecutive words; a text with fewer
   words has none (a held-out text shorter than 13 words contributes nothing).

A text in a script without spaces (Japanese, Chinese) has few, very long words under
this rule, as in the GPT-3 recipe; its 13-grams then span whole sentences.

Hashing (stable across runs, machines and Python processes; never Python's salted
``hash()``): a normalised word's UTF-8 bytes, read as little-endian 8-byte chunks
``b_0..b_m`` (the last zero-padded), hash to ``h = fmix64(b_0 xor len * K_LEN)`` then
``h = fmix64(h * K_CHAIN + b_k)`` for each further chunk (`pile.wordhash`); an n-gram of word hashes
``w_0..w_{n-1}`` hashes to ``fmix64(sum_j w_j * P[j] xor n * K_NGRAM)``; all arithmetic
is modulo 2**64, ``P`` are odd 64-bit constants derived from BLAKE2b of fixed labels and
``fmix64`` is MurmurHash3's finaliser. `reference_ngram_hashes` computes the same in
plain Python; the fast path computes it with numpy over a batch of texts at once, with
no Python loop per word (see `_CharMap` for the three normalisation paths).

The index is a sorted, unique ``uint64`` array saved as ``.npy`` (8 bytes per distinct
n-gram; the same texts in any order give the same bytes), with a small JSON sidecar
(``<index>.npy.json``) naming the n-gram size and hash version. Membership of all of a
batch's n-grams is one gather in a direct-address prefilter and one `numpy.searchsorted`
of the survivors (`NgramIndex`).

Not done, as in the Pile's own run: GPT-3 also ignored 13-grams frequent in the
training data (common phrases), and NeMo Curator matches held-out texts shorter than 13
words as a whole; here every held-out 13-gram counts, and shorter held-out texts none.
"""

from __future__ import annotations

import glob
import hashlib
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Iterator, Sequence

import numpy as np

from pile.config import DecontamConfig, SplitsConfig
from pile.docs_io import atomic_file, atomic_write_bytes, open_zstd
from pile.document import Document
from pile.errors import PileError, SourceError
from pile.manifest import sha256_file
from pile.splits import TRAIN, split_of
from pile.stage import Dropped, PassContext, Stage
from pile.wordhash import K_MIX, MASK64, fmix64, fmix64_int, word_hashes
from pile.wordhash import reference_word_hash as _reference_word_hash

log = logging.getLogger(__name__)

HASH_VERSION = "decontam_ngram_hash_v2"  # v2: the shared word kernel (pile.wordhash)
PIECE_SEPARATOR = "\n\n"
"""What joins the pieces left around removed spans (a paragraph break)."""
TOO_MANY_PIECES = "decontam_too_many_pieces"
TOO_SHORT = "decontam_too_short"
MAX_NGRAM = 64

# Texts are hashed in chunks of about this many characters: the numpy working set is
# ~40 bytes per character, so a chunk costs ~160 MB at most.
CHUNK_CHARS = 4_000_000

_U64 = np.uint64
_MASK64 = MASK64
_K_NGRAM = K_MIX


def _odd_constants(label: str, count: int) -> tuple[int, ...]:
    out = []
    for i in range(count):
        digest = hashlib.blake2b(f"{label}/{i}".encode("ascii"), digest_size=8).digest()
        out.append(int.from_bytes(digest, "little") | 1)
    return tuple(out)


_POS_MULT = _odd_constants("pile.decontam.position", MAX_NGRAM)
_POS_MULT_NP = np.array(_POS_MULT, dtype=np.uint64)

_WORD_RE = re.compile(r"[^\W_]+")
_WORD_CHAR_RE = re.compile(r"[^\W_]")


def _lower_char(ch: str) -> str:
    low = ch.lower()
    return low if len(low) == 1 else ch


_ASCII_WORD = np.array([_WORD_CHAR_RE.match(chr(c)) is not None for c in range(128)], dtype=bool)


# -- the definition, in plain Python (the specification the fast path is tested against) --

def reference_words(text: str) -> list[tuple[int, int, str]]:
    """The words of `text` by the module's definition: (start, end, normalised word).

    Slow; the specification. `start`/`end` are character offsets into `text`.
    """
    return [(m.start(), m.end(), "".join(_lower_char(c) for c in m.group()))
            for m in _WORD_RE.finditer(text)]


def reference_word_hash(word: str) -> int:
    """The 64-bit hash of one normalised word (plain Python; the specification)."""
    return _reference_word_hash(word.encode("utf-8"))


def reference_ngram_hashes(text: str, ngram: int = 13) -> list[int]:
    """Every n-gram hash of `text`, in text order (plain Python; the specification)."""
    words = [reference_word_hash(w) for _, _, w in reference_words(text)]
    out = []
    for i in range(len(words) - ngram + 1):
        acc = 0
        for j in range(ngram):
            acc = (acc + words[i + j] * _POS_MULT[j]) & _MASK64
        out.append(fmix64_int(acc ^ ((ngram * _K_NGRAM) & _MASK64)))
    return out


# -- the fast path ---------------------------------------------------------------------

class _CharCache(dict):
    """code point -> normalised character, filled on first sight (`str.translate` asks
    the mapping with ``[]``, so `__missing__` classifies each new character once)."""

    def __init__(self, rule) -> None:
        super().__init__()
        self.rule = rule

    def __missing__(self, code: int) -> str:
        value = self[code] = self.rule(chr(code))
        return value


class _CharMap:
    """The per-character normalisation as lookup tables: word characters to their
    lowercase, everything else to a space.

    Three paths, one result (the normalised text's UTF-8 bytes, one character for one):

    - ASCII text: one `bytes.translate` with a 256-byte table;
    - mostly-ASCII text: the runs of non-ASCII bytes (found with numpy) are decoded and
      rewritten with a cached per-character mapping, then the bytes are translated with
      the same table (bytes >= 0x80 unchanged: they belong to word characters);
    - other text: a code point table (4.4 MB, allocated on first use) applied with numpy.

    Characters not seen before are classified with the reference rule, once each.
    """

    def __init__(self) -> None:
        table = bytearray(range(256))
        for code in range(128):
            table[code] = ord(_lower_char(chr(code))) if _ASCII_WORD[code] else 0x20
        self.byte_table = bytes(table)
        self.chars = _CharCache(self._map_char)
        self.known: np.ndarray | None = None
        self.mapped: np.ndarray | None = None

    def _map_char(self, ch: str) -> str:
        return _lower_char(ch) if _WORD_CHAR_RE.match(ch) is not None else " "

    def _map_run(self, run: str) -> str:
        return run.translate(self.chars)

    def normalise(self, text: str) -> tuple[bytes, bool]:
        """The normalised UTF-8 bytes of `text`, and whether `text` is ASCII."""
        if text.isascii():
            return text.encode("ascii").translate(self.byte_table), True
        data = text.encode("utf-8", "surrogatepass")
        high = np.flatnonzero(np.frombuffer(data, dtype=np.uint8) >= 0x80)
        breaks = np.flatnonzero(np.diff(high) > 1)
        if len(breaks) * 64 > len(text):
            return self._normalise_table(text).encode("utf-8").translate(self.byte_table), False
        # Few runs of non-ASCII bytes: rewrite each run, keep the ASCII between as is.
        run_starts = np.concatenate([high[:1], high[breaks + 1]]).tolist()
        run_ends = (np.concatenate([high[breaks], high[-1:]]) + 1).tolist()
        parts: list[bytes] = []
        pos = 0
        for lo, hi in zip(run_starts, run_ends):
            parts.append(data[pos:lo])
            parts.append(self._map_run(data[lo:hi].decode("utf-8", "surrogatepass")).encode("utf-8"))
            pos = hi
        parts.append(data[pos:])
        return b"".join(parts).translate(self.byte_table), False

    def _normalise_table(self, text: str) -> str:
        if self.known is None:
            self.known = np.zeros(0x110000, dtype=bool)
            self.mapped = np.full(0x110000, 0x20, dtype=np.uint32)
            self.known[:128] = True
            self.mapped[:128] = np.arange(128, dtype=np.uint32)  # ASCII: the byte table's job
        assert self.mapped is not None
        codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype="<u4")
        unseen = codes[~self.known[codes]]
        if unseen.size:
            for code in np.unique(unseen).tolist():
                self.mapped[code] = ord(self._map_char(chr(code)))
                self.known[code] = True
        return self.mapped[codes].astype("<u4").tobytes().decode("utf-32-le")


_CHARS = _CharMap()


@dataclass
class _Analysis:
    """The words and n-grams of a chunk of texts, as if joined by ``"\\n"``.

    Attributes:
        starts / ends: character offsets of each word in the joined text.
        hashes: hash of every valid n-gram (one that stays inside its text).
        first_word: index of each valid n-gram's first word.
        text_of: which text each valid n-gram belongs to.
        offsets: start of each text in the joined text.
    """

    starts: np.ndarray
    ends: np.ndarray
    hashes: np.ndarray
    first_word: np.ndarray
    text_of: np.ndarray
    offsets: np.ndarray


# A space before the text (so a word at offset 0 has an edge) and after it (so every
# 8-byte load stays inside the buffer).
_PAD = b" " * 8


def _analyse(texts: Sequence[str], ngram: int) -> _Analysis:
    """Words and n-gram hashes of a batch of texts, with no Python loop per word."""
    # Texts are normalised one by one (most are ASCII: one translate each) and joined
    # with a space, the image of the "\n" the offsets count, so no word spans two texts.
    lengths = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    offsets = np.zeros(len(texts), dtype=np.int64)
    if len(texts) > 1:
        np.cumsum(lengths[:-1] + 1, out=offsets[1:])
    normalised = [_CHARS.normalise(t) for t in texts]
    ascii_only = all(flag for _, flag in normalised)
    norm = b" ".join(part for part, _ in normalised)
    data = b" " + norm + _PAD
    buf = np.frombuffer(data, dtype=np.uint8)
    is_word = buf != 0x20
    # The buffer starts and ends with a space, so the changes alternate: start, end, ...
    changes = np.flatnonzero(is_word[1:] != is_word[:-1]) + 1
    starts = changes[0::2]
    ends = changes[1::2]
    nwords = len(starts)
    empty = np.empty(0, dtype=np.int64)
    if nwords < ngram:
        return _Analysis(starts - 1, ends - 1, np.empty(0, np.uint64), empty, empty, offsets)
    word_hash = word_hashes(data, starts, ends)
    # Byte offsets in `data` to character offsets in `joined`: minus the leading space
    # and the UTF-8 continuation bytes before them (few, in mostly-ASCII text).
    starts -= 1
    ends -= 1
    if not ascii_only:
        is_continuation = (buf & 0xC0) == 0x80
        continuation = np.flatnonzero(is_continuation)
        if continuation.size * 8 < len(buf):
            starts -= np.searchsorted(continuation, starts + 1)
            ends -= np.searchsorted(continuation, ends + 1)
        else:  # dense (CJK text): a running count is cheaper than binary searches
            before = np.cumsum(is_continuation, dtype=np.int64)
            starts -= before[starts]
            ends -= before[ends]
    count = nwords - ngram + 1
    acc = word_hash[:count] * _POS_MULT_NP[0]
    term = np.empty_like(acc)
    for j in range(1, ngram):
        np.multiply(word_hash[j:j + count], _POS_MULT_NP[j], out=term)
        acc += term
    acc ^= _U64((ngram * _K_NGRAM) & _MASK64)
    hashes = fmix64(acc)
    # Words are in text order: each text's words are a contiguous run.
    first_of_text = np.searchsorted(starts, offsets)
    word_text = np.repeat(np.arange(len(texts), dtype=np.int64),
                          np.diff(first_of_text, append=nwords))
    valid = word_text[:count] == word_text[ngram - 1:]
    first_word = np.flatnonzero(valid)
    return _Analysis(starts, ends, hashes[first_word], first_word, word_text[first_word], offsets)


def _chunks(texts: Iterable[str], max_chars: int = CHUNK_CHARS) -> Iterator[list[str]]:
    chunk: list[str] = []
    size = 0
    for text in texts:
        if chunk and size + len(text) > max_chars:
            yield chunk
            chunk, size = [], 0
        chunk.append(text)
        size += len(text) + 1
    if chunk:
        yield chunk


def ngram_hashes(texts: Sequence[str], ngram: int = 13) -> np.ndarray:
    """The distinct n-gram hashes of a batch of texts, sorted (``uint64``).

    Workers compute these in parallel (`HeldOutNgrams`) and write them (`NgramSink`);
    `NgramIndexBuilder.add_hashes` merges them.

    Args:
        texts: the held-out texts.
        ngram: words per n-gram.

    Returns:
        A sorted unique ``uint64`` array.
    """
    _check_ngram(ngram)
    parts = [_analyse(chunk, ngram).hashes for chunk in _chunks(texts)]
    return np.unique(np.concatenate(parts)) if parts else np.empty(0, np.uint64)


def _check_ngram(ngram: int) -> None:
    if not 1 <= ngram <= MAX_NGRAM:
        raise ValueError(f"ngram must be in [1, {MAX_NGRAM}], got {ngram}")


# -- the index -------------------------------------------------------------------------

class NgramIndexBuilder:
    """Collects the n-gram hashes of the held-out texts and saves the index.

    Texts arrive incrementally (`add`, `add_many`, or precomputed `add_hashes`); pending
    hashes are compacted to a sorted unique array whenever they exceed `compact_at`, so
    memory stays near 8 bytes per distinct n-gram plus one pending batch.

    Args:
        ngram: words per n-gram (`DecontamConfig.ngram`).
        compact_at: pending hashes that trigger a compaction.
    """

    def __init__(self, ngram: int = 13, compact_at: int = 8_000_000) -> None:
        _check_ngram(ngram)
        self.ngram = ngram
        self.compact_at = compact_at
        self.texts = 0
        self._merged = np.empty(0, np.uint64)
        self._pending: list[np.ndarray] = []
        self._pending_size = 0

    def add(self, text: str) -> None:
        """Add one held-out text."""
        self.add_many([text])

    def add_many(self, texts: Iterable[str]) -> None:
        """Add held-out texts, hashed a chunk at a time."""
        for chunk in _chunks(texts):
            self.texts += len(chunk)
            self.add_hashes(_analyse(chunk, self.ngram).hashes)

    def add_hashes(self, hashes: np.ndarray) -> None:
        """Add precomputed n-gram hashes (from `ngram_hashes` with the same `ngram`)."""
        hashes = np.asarray(hashes)
        if hashes.dtype != np.uint64 or hashes.ndim != 1:
            raise ValueError(f"expected a 1-d uint64 array of n-gram hashes, got {hashes.dtype} "
                             f"with shape {hashes.shape}")
        if hashes.size:
            self._pending.append(hashes)
            self._pending_size += hashes.size
            if self._pending_size >= self.compact_at:
                self._compact()

    def _compact(self) -> None:
        if self._pending:
            self._merged = np.unique(np.concatenate([self._merged, *self._pending]))
            self._pending = []
            self._pending_size = 0

    def finish(self) -> np.ndarray:
        """The index: every distinct n-gram hash, sorted ascending."""
        self._compact()
        return self._merged

    def save(self, path: str | os.PathLike[str]) -> int:
        """Write the index to `path` (``.npy``) and its sidecar; return the n-gram count.

        Both files are written atomically; the same texts in any order give the same bytes.
        """
        path = Path(path)
        index = self.finish()
        buf = _npy_bytes(index)
        atomic_write_bytes(path, buf)
        _save_sidecar(path, self.ngram, int(index.size))
        return int(index.size)


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    out = io.BytesIO()
    np.save(out, np.ascontiguousarray(array, dtype="<u8"), allow_pickle=False)
    return out.getvalue()


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def _save_sidecar(path: Path, ngram: int, count: int) -> None:
    """The index's sidecar (hash version, n-gram size, count), written after the index."""
    meta = {"version": HASH_VERSION, "ngram": ngram, "ngrams": count}
    atomic_write_bytes(_sidecar(path), (json.dumps(meta, sort_keys=True) + "\n").encode("utf-8"))
    log.info("decontam index: %d distinct %d-grams -> %s", count, ngram, path)


def build_index(texts: Iterable[str], path: str | os.PathLike[str], ngram: int = 13) -> int:
    """Hash every n-gram of `texts` and save the index at `path`; return its size."""
    builder = NgramIndexBuilder(ngram)
    builder.add_many(texts)
    return builder.save(path)


class HeldOutNgrams:
    """A `BatchFunction` for `PassContext.map_to_parts`: the n-gram hashes of a batch's
    held-out documents, computed on the workers.

    Returns one row ``{"hashes": bytes}`` (sorted unique little-endian uint64) per batch
    that holds a held-out document; `NgramSink` writes them where they are computed.

    Args:
        splits: which documents are held out.
        ngram: words per n-gram.
        exclude: per source, a drop table of ids to leave out (dedup's decisions: their
            text is in no split; `pile.dedup.droptable`), memory-mapped on the worker one
            source at a time, since the ids grow with the corpus.
    """

    label = "held-out n-grams"  # what its progress bar says

    def __init__(self, splits: SplitsConfig, ngram: int = 13, exclude: dict[str, str] | None = None) -> None:
        _check_ngram(ngram)
        self.splits = splits
        self.ngram = ngram
        self.exclude = dict(exclude or {})
        self._excluded: tuple[str, Any] = ("", {})

    def setup(self) -> None:
        """Nothing to load up front: hashing needs only numpy; exclusions load per source."""

    def _excluded_ids(self, source: str) -> Any:
        """What dedup removed from `source`: a drop table, or no ids (an empty mapping)."""
        if self._excluded[0] != source:
            from pile.dedup.droptable import open_drops

            self._excluded = (source, open_drops(self.exclude.get(source)))
        return self._excluded[1]

    def __call__(self, docs: list[Document]) -> list[dict[str, Any]]:
        texts = [d.text for d in docs if split_of(d.id, self.splits) != TRAIN
                 and d.id not in self._excluded_ids(d.source)]
        if not texts:
            return []
        return [{"hashes": ngram_hashes(texts, self.ngram).astype("<u8").tobytes()}]

    def __getstate__(self) -> dict[str, Any]:
        return dict(self.__dict__, _excluded=("", {}))


MERGE_RANGE_HASHES = 1 << 23  # hashes held at once by a merge (64 MiB of uint64)
NPY_HEADER_BYTES = 128  # a 1-d uint64 array's .npy v1.0 header, whatever its length


def union_hash_files(paths: Sequence[str | os.PathLike[str]], out: BinaryIO,
                     range_hashes: int | None = None) -> int:
    """Write the sorted union of sorted unique little-endian ``uint64`` files to `out`.

    A k-way merge in value ranges: the files are memory-mapped, and each range of the
    hash space (equal slices of the 64-bit space, about `range_hashes` hashes each over
    all files, since the hashes are uniform; `MERGE_RANGE_HASHES` unless given) is cut
    out of every file by a binary search, merged and written. So memory is one range, not
    the union: the Pile's held-out splits (about 2.8 GB of text) hold an estimated
    5 x 10^8 distinct 13-grams, 4 GB as one array.

    Returns:
        The number of distinct hashes written.
    """
    arrays = [np.memmap(p, dtype="<u8", mode="r") for p in paths if os.path.getsize(p)]
    total = sum(a.size for a in arrays)
    if not total:
        return 0
    ranges = max(1, -(-total // (range_hashes or MERGE_RANGE_HASHES)))
    starts = [0] * len(arrays)
    count = 0
    for r in range(1, ranges + 1):
        bound = np.uint64(min((r << 64) // ranges, 2**64 - 1))
        pieces = []
        for i, a in enumerate(arrays):
            end = a.size if r == ranges else int(np.searchsorted(a, bound))
            pieces.append(np.asarray(a[starts[i]:end]))
            starts[i] = end
        merged = np.unique(np.concatenate(pieces))
        out.write(merged.astype("<u8", copy=False).tobytes())
        count += int(merged.size)
    return count


class NgramSink:
    """Writes held-out n-gram hashes where they are computed (`PassContext.map_to_parts`):
    a unit's, then a source's, distinct hashes as one sorted little-endian ``uint64`` file."""

    def write(self, folder: Path, batches: Iterable[list[dict[str, Any]]]) -> int:
        builder = NgramIndexBuilder()  # one unit's hashes: bounded by the unit
        for rows in batches:
            for row in rows:
                builder.add_hashes(np.frombuffer(row["hashes"], dtype="<u8"))
        hashes = builder.finish()
        atomic_write_bytes(Path(folder), hashes.astype("<u8").tobytes())
        return int(hashes.size)

    def merge(self, parts: list[Path], dest: Path, source: str) -> int:
        with atomic_file(Path(dest)) as fh:
            return union_hash_files(parts, fh)


class IndexBuild:
    """The index from the sources' held-out hash files and the eval set, built on a worker
    (`PassContext.call`): returns the n-gram count and the index's sha256, nothing else.

    The sources' files are merged in value ranges (`union_hash_files`) straight into the
    ``.npy``, whose 128-byte header (the same size for any length of a 1-d ``uint64``
    array) is written last. The eval set's hashes are collected in memory first: it is a
    list of benchmark files, not a share of the corpus.
    """

    def __init__(self, ngram: int, parts: list[str], eval_paths: tuple[str, ...], path: str) -> None:
        self.ngram = ngram
        self.parts = parts
        self.eval_paths = eval_paths
        self.path = path

    def __call__(self) -> tuple[int, str]:
        from numpy.lib import format as npy

        path = Path(self.path)
        evals = NgramIndexBuilder(self.ngram)
        evals.add_many(iter_eval_texts(self.eval_paths))
        eval_part = path.with_name(f".{path.name}.eval.u64")
        atomic_write_bytes(eval_part, evals.finish().astype("<u8").tobytes())
        try:
            with atomic_file(path) as fh:
                fh.write(b"\0" * NPY_HEADER_BYTES)
                count = union_hash_files([*self.parts, eval_part], fh)
                fh.seek(0)
                npy.write_array_header_1_0(fh, {"descr": "<u8", "fortran_order": False, "shape": (count,)})
                if fh.tell() != NPY_HEADER_BYTES:  # numpy changed its padding: fail, do not corrupt
                    raise PileError(f"decontam index {path}: unexpected .npy header size {fh.tell()}")
        finally:
            eval_part.unlink(missing_ok=True)
        _save_sidecar(path, self.ngram, count)
        return count, sha256_file(path)


def build_heldout_index(ctx: PassContext, splits: SplitsConfig, cfg: DecontamConfig,
                        path: str | os.PathLike[str], exclude: dict[str, str] | None = None
                        ) -> tuple[int, str]:
    """Build the decontamination index of a build: held-out splits plus the eval set.

    The workers hash the held-out documents and write per-source hash files; one worker
    merges them with the eval set into the index. Nothing that grows with the corpus
    passes through the caller.

    Args:
        ctx: the build's pass context (every built source's documents).
        splits: the split settings (`Config.splits`).
        cfg: the decontamination settings (`Config.decontam`; `ngram`, `eval_paths`).
        path: where to save the index (``.npy``; its sidecar goes next to it).
        exclude: per source, the drop table of the ids the build drops before the final
            phase (dedup's decisions), so only text that reaches a held-out split is indexed.

    Returns:
        The number of distinct n-grams in the index (0: nothing is held out, and
        `Decontaminate` passes every document unchanged), and the index file's sha256.

    Raises:
        SourceError: an evaluation file cannot be read (see `iter_eval_texts`).
    """
    parts: list[str] = []
    if splits.val_fraction > 0 or splits.test_fraction > 0:
        folder = Path(ctx.workdir) / "ngrams"
        counts = ctx.map_to_parts(HeldOutNgrams(splits, cfg.ngram, exclude), NgramSink(),
                                  ctx.sources, lambda source: folder / f"{source}.u64")
        parts = [str(folder / f"{source}.u64") for source in ctx.sources if counts.get(source)]
    return ctx.call(IndexBuild(cfg.ngram, parts, tuple(cfg.eval_paths), str(path)))


def load_index(path: str | os.PathLike[str], ngram: int | None = None) -> np.ndarray:
    """Open a saved index (memory-mapped, so workers on one machine share the pages).

    Args:
        path: the ``.npy`` written by `NgramIndexBuilder.save`.
        ngram: when given, the sidecar must record the same n-gram size and hash version.

    Returns:
        The sorted unique ``uint64`` array.

    Raises:
        PileError: the file is missing, not a sorted 1-d uint64 array, or was built with
            another n-gram size or hash version.
    """
    path = Path(path)
    if not path.is_file():
        raise PileError(f"decontam index {path}: no such file (build it with NgramIndexBuilder.save)")
    try:
        index = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError) as exc:
        raise PileError(f"decontam index {path}: not a .npy array ({exc})") from None
    if index.ndim != 1 or index.dtype != np.dtype("<u8"):
        raise PileError(f"decontam index {path}: expected a 1-d uint64 array, "
                        f"got {index.dtype} with shape {index.shape}")
    if index.size > 1 and not bool(np.all(index[1:] > index[:-1])):
        raise PileError(f"decontam index {path}: not sorted and unique")
    sidecar = _sidecar(path)
    if ngram is not None and sidecar.is_file():
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        if meta.get("ngram") != ngram or meta.get("version") != HASH_VERSION:
            raise PileError(f"decontam index {path}: built with ngram={meta.get('ngram')} "
                            f"({meta.get('version')}), expected ngram={ngram} ({HASH_VERSION})")
    return index if index.size else np.empty(0, np.uint64)


def member(index: np.ndarray, hashes: np.ndarray) -> np.ndarray:
    """Which of `hashes` are in the sorted `index` (one vectorised binary search)."""
    if index.size == 0 or hashes.size == 0:
        return np.zeros(hashes.shape, dtype=bool)
    pos = np.searchsorted(index, hashes)
    np.minimum(pos, index.size - 1, out=pos)
    return np.asarray(index[pos]) == hashes


class NgramIndex:
    """A loaded index with a direct-address prefilter in front of the binary search.

    Most training n-grams are not held out, and a binary search over a large array costs
    a cache miss per level. The prefilter is a byte per slot, addressed by the top bits
    of the hash, with about 8 slots per indexed n-gram (at most 64 MB): one gather
    rejects ~90% of the misses and only the rest are searched. Exact: the search
    decides every candidate.

    Args:
        hashes: the sorted unique index (`load_index`).
    """

    MAX_SLOTS_LOG2 = 26

    def __init__(self, hashes: np.ndarray) -> None:
        self.hashes = hashes
        bits = max(10, min(self.MAX_SLOTS_LOG2, int(np.ceil(np.log2(max(1, hashes.size) * 8)))))
        self.shift = _U64(64 - bits)
        self.slots = np.zeros(1 << bits, dtype=bool)
        self.slots[np.asarray(hashes) >> self.shift] = True

    @property
    def size(self) -> int:
        return int(self.hashes.size)

    def contains(self, hashes: np.ndarray) -> np.ndarray:
        """Which of `hashes` are in the index (a boolean array of the same length)."""
        out = np.zeros(hashes.shape, dtype=bool)
        if self.hashes.size == 0 or hashes.size == 0:
            return out
        candidates = np.flatnonzero(self.slots[hashes >> self.shift])
        if candidates.size:
            out[candidates] = member(self.hashes, hashes[candidates])
        return out


def find_matches(text: str, index: np.ndarray | NgramIndex, ngram: int = 13) -> list[tuple[int, int]]:
    """Character spans ``(start, end)`` of the indexed n-grams in `text`, in text order.

    A span runs from its first word's first character to its last word's last character.

    Args:
        text: any text.
        index: a sorted index array (`load_index`) or an `NgramIndex`.
        ngram: the index's n-gram size.
    """
    a = _analyse([text], ngram)
    found = index.contains(a.hashes) if isinstance(index, NgramIndex) else member(index, a.hashes)
    hit = a.first_word[found]
    return list(zip(a.starts[hit].tolist(), a.ends[hit + ngram - 1].tolist()))


# -- removal ---------------------------------------------------------------------------

def removal_spans(matches: Sequence[tuple[int, int]] | np.ndarray, length: int,
                  context_chars: int) -> list[tuple[int, int]]:
    """Merge matched spans widened by `context_chars` on each side, clipped to the text.

    Args:
        matches: ``(start, end)`` character spans of matched n-grams, any order.
        length: the text's length in characters.
        context_chars: characters removed on each side of a match.

    Returns:
        Disjoint, sorted ``(start, end)`` spans; spans that overlap or touch are merged.
    """
    if len(matches) == 0:
        return []
    spans = np.asarray(matches, dtype=np.int64).reshape(-1, 2)
    spans = spans[np.argsort(spans[:, 0], kind="stable")]
    starts = np.maximum(spans[:, 0] - context_chars, 0)
    ends = np.minimum(spans[:, 1] + context_chars, length)
    reach = np.maximum.accumulate(ends)
    new = np.ones(len(starts), dtype=bool)
    new[1:] = starts[1:] > reach[:-1]
    first = np.flatnonzero(new)
    last = np.append(first[1:], len(starts)) - 1
    return list(zip(starts[first].tolist(), reach[last].tolist()))


def remaining_pieces(text: str, spans: Sequence[tuple[int, int]]) -> list[str]:
    """The text left around removed `spans` (disjoint, sorted), as non-empty pieces.

    Whitespace is trimmed only where a piece meets a removed span, so text away from
    removals keeps its bytes; pieces that are empty or whitespace-only are left out.
    """
    pieces: list[str] = []
    pos = 0
    for i in range(len(spans) + 1):
        end = spans[i][0] if i < len(spans) else len(text)
        piece = text[pos:end]
        if i > 0:
            piece = piece.lstrip()
        if i < len(spans):
            piece = piece.rstrip()
        if piece:
            pieces.append(piece)
        if i < len(spans):
            pos = spans[i][1]
    return pieces


@dataclass(frozen=True)
class Outcome:
    """What decontamination did to one training document.

    Attributes:
        text: the new text (None when the document is dropped).
        reason: the drop reason, or None when kept.
        spans: removed (merged) character spans of the original text.
        pieces: number of pieces left.
        chars_removed: characters of the original not in the kept pieces.
    """

    text: str | None
    reason: str | None
    spans: tuple[tuple[int, int], ...]
    pieces: int
    chars_removed: int


def decontaminate_text(text: str, matches: Sequence[tuple[int, int]] | np.ndarray,
                       cfg: DecontamConfig) -> Outcome:
    """Apply the removal rule to one text given its matched n-gram spans.

    Args:
        text: the training document's text.
        matches: ``(start, end)`` spans of the held-out n-grams found in it (non-empty).
        cfg: context, piece and length limits.

    Returns:
        The `Outcome`: the joined pieces, or a drop reason (too many pieces first,
        as GPT-3 counts pieces before anything else; then too short).
    """
    spans = removal_spans(matches, len(text), cfg.context_chars)
    pieces = remaining_pieces(text, spans)
    kept = sum(len(p) for p in pieces)
    removed = len(text) - kept
    if len(pieces) > cfg.max_pieces:
        return Outcome(None, TOO_MANY_PIECES, tuple(spans), len(pieces), removed)
    if kept < cfg.min_chars:
        return Outcome(None, TOO_SHORT, tuple(spans), len(pieces), removed)
    return Outcome(PIECE_SEPARATOR.join(pieces), None, tuple(spans), len(pieces), removed)


class Decontaminate(Stage):
    """Removes held-out n-grams (with context) from the training split's documents.

    Held-out documents (`split_of` is not ``"train"``) and documents without a match pass
    unchanged (the same object). Counters per source: ``decontam.spans_removed`` (merged
    removed spans, in kept and dropped documents), ``decontam.documents_changed`` (kept
    documents that were rewritten), ``decontam.chars_removed`` (characters removed from
    kept documents; dropped documents are accounted by their drop reason).

    Args:
        cfg: the decontamination settings.
        splits: the split settings (which documents are training documents).
        index_path: the index written by `NgramIndexBuilder.save`; loaded in `setup()`.
    """

    name = "decontam_v1"
    transient = ("_index",)

    def __init__(self, cfg: DecontamConfig, splits: SplitsConfig, index_path: str | os.PathLike[str]) -> None:
        super().__init__()
        self.cfg = cfg
        self.splits = splits
        self.index_path = str(index_path)
        self._index: NgramIndex | None = None

    def setup(self) -> None:
        self._index = NgramIndex(load_index(self.index_path, ngram=self.cfg.ngram))

    def process_batch(self, docs: list[Document]) -> tuple[list[Document], list[Dropped]]:
        self.ensure_setup()
        index = self._index
        if not self.cfg.enabled or index is None or index.size == 0:
            return list(docs), []
        train = [i for i, doc in enumerate(docs) if split_of(doc.id, self.splits) == TRAIN]
        outcome: dict[int, Document | Dropped] = {}
        for chunk in _chunks_of_indices(docs, train):
            a = _analyse([docs[i].text for i in chunk], self.cfg.ngram)
            hit = index.contains(a.hashes)
            if not hit.any():
                continue
            first = a.first_word[hit]
            owner = a.text_of[hit]
            span_start = a.starts[first] - a.offsets[owner]
            span_end = a.ends[first + self.cfg.ngram - 1] - a.offsets[owner]
            bounds = np.flatnonzero(np.diff(owner, prepend=-1, append=-1))
            for b in range(len(bounds) - 1):
                lo, hi = bounds[b], bounds[b + 1]
                doc = docs[chunk[owner[lo]]]
                matches = np.stack([span_start[lo:hi], span_end[lo:hi]], axis=1)
                outcome[chunk[owner[lo]]] = self._apply(doc, matches)
        if not outcome:
            return list(docs), []
        kept: list[Document] = []
        dropped: list[Dropped] = []
        for i, doc in enumerate(docs):
            result = outcome.get(i, doc)
            if isinstance(result, Dropped):
                dropped.append(result)
            else:
                kept.append(result)
        return kept, dropped

    def _apply(self, doc: Document, matches: np.ndarray) -> Document | Dropped:
        result = decontaminate_text(doc.text, matches, self.cfg)
        self.count(doc.source, "decontam.spans_removed", len(result.spans))
        if result.reason is not None:
            return Dropped(doc, result.reason)
        self.count(doc.source, "decontam.documents_changed")
        self.count(doc.source, "decontam.chars_removed", result.chars_removed)
        return Document(id=doc.id, source=doc.source, text=result.text, meta=dict(doc.meta))


def _chunks_of_indices(docs: Sequence[Document], indices: list[int],
                       max_chars: int = CHUNK_CHARS) -> Iterator[list[int]]:
    chunk: list[int] = []
    size = 0
    for i in indices:
        n = len(docs[i].text)
        if chunk and size + n > max_chars:
            yield chunk
            chunk, size = [], 0
        chunk.append(i)
        size += n + 1
    if chunk:
        yield chunk


# -- the user's evaluation set ---------------------------------------------------------

EVAL_SUFFIXES = (".txt", ".jsonl", ".jsonl.zst")


def eval_files(paths: Iterable[str]) -> list[Path]:
    """The files named by `paths` (globs expanded, each sorted), without repeats.

    Raises:
        SourceError: a path matches no file or has an unsupported suffix.
    """
    files: list[Path] = []
    seen: set[Path] = set()
    for pattern in paths:
        matched = sorted(glob.glob(str(Path(pattern).expanduser()), recursive=True))
        matched = [m for m in matched if Path(m).is_file()]
        if not matched:
            raise SourceError(f"decontam.eval_paths: no file matches {pattern!r}")
        for m in matched:
            path = Path(m)
            if not path.name.lower().endswith(EVAL_SUFFIXES):
                raise SourceError(f"{path}: unsupported evaluation file (expected "
                                  f"{', '.join(EVAL_SUFFIXES)})")
            if path not in seen:
                seen.add(path)
                files.append(path)
    return files


def iter_eval_texts(paths: Iterable[str]) -> Iterator[str]:
    """The texts of a user-given evaluation set, file by file in `eval_files` order.

    ``.txt``: the whole file is one text (UTF-8, a leading BOM dropped). ``.jsonl`` and
    ``.jsonl.zst``: one JSON object per non-blank line, its ``"text"`` string.

    Raises:
        SourceError: a file matches nothing, is not UTF-8, or has a line that is not a
            JSON object with a string ``"text"`` (named with its line number). An
            evaluation set read only in part would leave contamination, so nothing
            is skipped silently.
    """
    for path in eval_files(paths):
        name = path.name.lower()
        if name.endswith(".txt"):
            try:
                yield path.read_bytes().decode("utf-8").removeprefix("\ufeff")
            except UnicodeDecodeError as exc:
                raise SourceError(f"{path}: not UTF-8 (byte {exc.start})") from None
            continue
        raw = open(path, "rb")
        fh = open_zstd(raw) if name.endswith(".zst") else raw
        with fh:
            lineno = 0
            try:
                for lineno, line in enumerate(fh, 1):
                    if line.strip():
                        yield _eval_record(path, lineno, line)
            except EOFError as exc:
                raise SourceError(f"{path}: damaged after line {lineno} ({exc})") from None


def _eval_record(path: Path, lineno: int, line: bytes) -> str:
    try:
        rec = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise SourceError(f"{path}:{lineno}: expected a JSON object per line") from None
    if not isinstance(rec, dict) or not isinstance(rec.get("text"), str):
        raise SourceError(f"{path}:{lineno}: expected an object with a string \"text\", "
                          f"got {type(rec).__name__}")
    return rec["text"]
