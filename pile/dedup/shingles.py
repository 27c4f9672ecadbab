"""Word n-gram shingles of a batch of documents, hashed to 64 bits with numpy.

A document's shingles are its runs of `ngram` consecutive normalised words
(`pile.dedup.normalize`); a document with fewer words than `ngram` but at least one has
a single shingle, all its words (so short texts still dedup); a document without words
has none. This is the usual definition of the MinHash dedup recipes (Broder 1997;
"Deduplicating Training Data Makes Language Models Better", Lee et al. 2022; The Pile's
and GPT-3's 5-gram / 13-gram variants).

Two encodings of the same shingles:

- `ShingleHasher.hash_batch`: every shingle as a 64-bit hash, computed for a whole
  batch at once with no Python loop per word or shingle. Words are hashed from
  unaligned 8-byte loads of the joined UTF-8 text (one gather per 8 bytes of word
  length, then the MurmurHash3 64-bit finaliser), and a shingle hash is the finalised
  sum of its word hashes times a distinct odd constant per position. These are the fast
  mode's MinHash input and the set elements of exact Jaccard verification.
- `shingle_bytes`: every shingle as the UTF-8 bytes ``" ".join(words)``, the input
  datasketch users feed to ``MinHash.update`` (the ``datasketch`` hash mode).
"""

from __future__ import annotations

import numpy as np

from pile.dedup.normalize import SPACE, FastNormalizer, Normalizer
from pile.wordhash import K_CHAIN, K_LEN, K_MIX, MASK64, fmix64, word_hashes

_U64 = np.uint64
_K_LEN = _U64(K_LEN)
_K_CHAIN = _U64(K_CHAIN)
_K_SHINGLE_LEN = K_MIX
# One odd multiplier per word position in a shingle, so "a b" and "b a" differ.
_POSITION_MULTIPLIERS = np.random.RandomState(20240501).randint(
    0, 1 << 62, size=64, dtype=np.uint64) * _U64(2) + _U64(1)
# Padding after the joined text so every 8-byte load stays inside the buffer.
_PAD = b" " * 16


class ShingleHasher:
    """Hashes the word n-gram shingles of batches of texts.

    Args:
        normalizer: the normalisation flags.
        ngram: words per shingle (>= 1).
    """

    def __init__(self, normalizer: Normalizer, ngram: int) -> None:
        if ngram < 1 or ngram > len(_POSITION_MULTIPLIERS):
            raise ValueError(f"ngram must be in [1, {len(_POSITION_MULTIPLIERS)}], got {ngram}")
        self.normalizer = normalizer
        self.ngram = ngram
        self.fast = FastNormalizer(normalizer)

    def word_bytes(self, texts: list[str]) -> list[bytes]:
        """The normalised texts, words separated by spaces (see `FastNormalizer`)."""
        return [self.fast.word_bytes(t) for t in texts]

    def hash_batch(self, words: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """64-bit hashes of every shingle of every document.

        Args:
            words: `word_bytes` of the documents.

        Returns:
            ``(hashes, offsets)``: uint64 hashes of all shingles, document after
            document in the document's order (duplicates kept), and int64 offsets of
            length ``len(words) + 1`` (document ``i`` owns
            ``hashes[offsets[i]:offsets[i + 1]]``).
        """
        hashes, offsets, _ = self.hash_batch_and_keys(words, keys=False)
        return hashes, offsets

    def hash_batch_and_keys(self, words: list[bytes], keys: bool = True
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """`hash_batch`, plus each document's 128-bit word-sequence key when `keys`.

        The key hashes the document's whole sequence of normalised words (two
        independent sums of position-mixed word hashes, finalised with the word count),
        so it is equal exactly when the words joined by single spaces are equal, up to
        a 2**-128-scale collision chance; it costs a few vectorised passes over the
        word hashes instead of a Python-level join and a digest per document.

        Returns:
            ``(hashes, offsets, keys)``; `keys` is ``(len(words), 16)`` uint8 or None.
        """
        ndocs = len(words)
        if ndocs == 0:
            return (np.empty(0, np.uint64), np.zeros(1, np.int64),
                    np.empty((0, 16), np.uint8) if keys else None)
        data = b" " + b" ".join(words) + _PAD
        buf = np.frombuffer(data, dtype=np.uint8)
        is_word = buf != SPACE
        starts = np.flatnonzero(is_word[1:] & ~is_word[:-1]) + 1
        ends = np.flatnonzero(is_word[:-1] & ~is_word[1:]) + 1
        lengths = np.fromiter((len(w) for w in words), dtype=np.int64, count=ndocs)
        doc_start = np.empty(ndocs, np.int64)
        doc_start[0] = 1
        np.cumsum(lengths[:-1] + 1, out=doc_start[1:])
        doc_start[1:] += 1
        word_doc = np.searchsorted(doc_start, starts, side="right") - 1
        word_hash = self._word_hashes(data, starts, ends)
        counts = np.bincount(word_doc, minlength=ndocs).astype(np.int64)
        hashes, offsets = self._shingle_hashes(word_hash, word_doc, counts)
        return hashes, offsets, (_sequence_keys(word_hash, counts) if keys else None)

    def _word_hashes(self, data: bytes, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
        return word_hashes(data, starts, ends)

    def _shingle_hashes(self, word_hash: np.ndarray, word_doc: np.ndarray, counts: np.ndarray
                        ) -> tuple[np.ndarray, np.ndarray]:
        n = self.ngram
        ndocs = len(counts)
        word_end = np.cumsum(counts)  # exclusive end of each document's words
        nwords = len(word_hash)
        # Full shingles: start i is valid when its n words stay inside its document.
        idx = np.arange(max(nwords - n + 1, 0), dtype=np.int64)
        valid = idx + n <= word_end[word_doc[: len(idx)]]
        idx = idx[valid]
        acc = word_hash[idx] * _POSITION_MULTIPLIERS[0]
        for j in range(1, n):
            acc += word_hash[idx + j] * _POSITION_MULTIPLIERS[j]
        full = fmix64(acc ^ _U64((n * _K_SHINGLE_LEN) & MASK64))
        per_doc = np.where(counts >= n, counts - n + 1, np.minimum(counts, 1))
        offsets = np.zeros(ndocs + 1, np.int64)
        np.cumsum(per_doc, out=offsets[1:])
        short_docs = np.flatnonzero((counts > 0) & (counts < n))
        if short_docs.size == 0:
            return full, offsets
        # Documents shorter than n words: one shingle of all their words.
        first_word = word_end[short_docs] - counts[short_docs]
        length = counts[short_docs]
        acc = word_hash[first_word] * _POSITION_MULTIPLIERS[0]
        for j in range(1, n - 1):
            has = length > j
            acc[has] += word_hash[first_word[has] + j] * _POSITION_MULTIPLIERS[j]
        short = fmix64(acc ^ (length.astype(np.uint64) * _U64(_K_SHINGLE_LEN)))
        out = np.empty(offsets[-1], np.uint64)
        is_short = np.zeros(ndocs, bool)
        is_short[short_docs] = True
        out[offsets[short_docs]] = short
        long_pos = np.ones(offsets[-1], bool)
        long_pos[offsets[short_docs]] = False
        out[long_pos] = full
        return out, offsets


def _sequence_keys(word_hash: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """128-bit keys of each document's word sequence (see `hash_batch_and_keys`)."""
    ndocs = len(counts)
    first = np.cumsum(counts) - counts
    pos = (np.arange(len(word_hash), dtype=np.int64) - np.repeat(first, counts)).astype(np.uint64)
    lo_terms = fmix64(word_hash ^ (pos * _K_LEN))
    hi_terms = fmix64((word_hash + _K_CHAIN) * _U64(_K_SHINGLE_LEN) ^ (pos * _K_CHAIN))
    lo = np.zeros(ndocs, np.uint64)
    hi = np.zeros(ndocs, np.uint64)
    nonempty = np.flatnonzero(counts > 0)
    if nonempty.size:
        lo[nonempty] = np.add.reduceat(lo_terms, first[nonempty])
        hi[nonempty] = np.add.reduceat(hi_terms, first[nonempty])
    n = counts.astype(np.uint64)
    out = np.empty((ndocs, 2), np.uint64)
    out[:, 0] = fmix64(lo ^ (n * _K_CHAIN))
    out[:, 1] = fmix64(hi + n * _K_LEN)
    return out.astype("<u8").view(np.uint8).reshape(ndocs, 16)


def shingle_bytes(words: bytes, ngram: int) -> list[bytes]:
    """The shingles of one document as UTF-8 byte strings (the datasketch input).

    Args:
        words: the document's `ShingleHasher.word_bytes`.
        ngram: words per shingle.

    Returns:
        ``b" ".join(w[i:i + ngram])`` for every start ``i`` (one shingle of all words
        when there are fewer than `ngram`; none when there are no words).
    """
    w = words.split()
    if not w:
        return []
    if len(w) < ngram:
        return [b" ".join(w)]
    return [b" ".join(w[i:i + ngram]) for i in range(len(w) - ngram + 1)]


def shingle_sets_of_batch(hashes: np.ndarray, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each document's sorted distinct shingle hashes (the sets Jaccard compares), batched.

    Args:
        hashes / offsets: as returned by `ShingleHasher.hash_batch`.

    Returns:
        ``(values, offsets)`` in the same layout, each document's slice sorted and unique.
    """
    # One small sort per document beats one lexsort over the batch by ~2x here.
    parts = [np.unique(hashes[offsets[i]:offsets[i + 1]]) for i in range(len(offsets) - 1)]
    out = np.zeros(len(parts) + 1, np.int64)
    np.cumsum([len(p) for p in parts], out=out[1:])
    return (np.concatenate(parts) if parts else np.empty(0, np.uint64)), out
