"""The one word-hash kernel: 64-bit hashes of words in a joined UTF-8 buffer, vectorised.

Dedup's shingles and decontamination's n-grams both start from it. A word's UTF-8 bytes,
read as little-endian 8-byte chunks ``b_0..b_m`` (the last zero-padded), hash to
``h = fmix64(b_0 xor len * K_LEN)``, then ``h = fmix64(h * K_CHAIN + b_k)`` for each
further chunk; arithmetic is modulo 2**64 and ``fmix64`` is MurmurHash3's 64-bit
finaliser (a bijection that avalanches). `K_MIX` is a third odd constant for what the
callers build on top (n-gram and shingle keys), so no caller reuses a word constant.
"""

from __future__ import annotations

import numpy as np

_U64 = np.uint64
MASK64 = (1 << 64) - 1
FMIX_C1 = 0xFF51AFD7ED558CCD
FMIX_C2 = 0xC4CEB9FE1A85EC53
K_LEN = 0x9E3779B97F4A7C15
K_CHAIN = 0xD6E8FEB86659FD93
K_MIX = 0x94D049BB133111EB
# Bytes a buffer needs after its last word, so every 8-byte load stays inside it.
PAD = 8


def fmix64(h: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser, elementwise."""
    h = h ^ (h >> _U64(33))
    h *= _U64(FMIX_C1)
    h ^= h >> _U64(33)
    h *= _U64(FMIX_C2)
    h ^= h >> _U64(33)
    return h


def fmix64_int(h: int) -> int:
    """The same finaliser on one Python int (the reference implementations)."""
    h ^= h >> 33
    h = (h * FMIX_C1) & MASK64
    h ^= h >> 33
    h = (h * FMIX_C2) & MASK64
    return h ^ (h >> 33)


def masked_load(words8: np.ndarray, pos: np.ndarray, nbytes: np.ndarray) -> np.ndarray:
    """Little-endian 8-byte loads at `pos`, keeping only the first `nbytes` (1..8) bytes.

    numpy's ``1 << 64`` is 0, so the mask ``(1 << 8 * nbytes) - 1`` wraps to all ones
    for a full load, branch-free.
    """
    mask = (_U64(1) << (nbytes.astype(np.uint64) * _U64(8))) - _U64(1)
    return words8[pos] & mask


def word_hashes(data: bytes, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """The hash of each word ``data[starts[i]:ends[i]]`` (`data` padded by `PAD` bytes)."""
    # An unaligned view: element i is the 8 bytes data[i:i + 8], little-endian.
    words8 = np.ndarray((len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))
    nbytes = ends - starts
    h = fmix64(masked_load(words8, starts, np.minimum(nbytes, 8)) ^ (nbytes.astype(np.uint64) * _U64(K_LEN)))
    k = 1
    while True:
        longer = np.flatnonzero(nbytes > 8 * k)
        if longer.size == 0:
            return h
        chunk = masked_load(words8, starts[longer] + 8 * k, np.minimum(nbytes[longer] - 8 * k, 8))
        h[longer] = fmix64(h[longer] * _U64(K_CHAIN) + chunk)
        k += 1


def reference_word_hash(data: bytes) -> int:
    """`word_hashes` of one word, in plain Python (the specification it is tested against)."""
    chunks = [int.from_bytes(data[i:i + 8], "little") for i in range(0, len(data), 8)]
    h = fmix64_int(chunks[0] ^ ((len(data) * K_LEN) & MASK64))
    for chunk in chunks[1:]:
        h = fmix64_int((h * K_CHAIN + chunk) & MASK64)
    return h


__all__ = ["K_CHAIN", "K_LEN", "K_MIX", "MASK64", "PAD", "fmix64", "fmix64_int", "masked_load",
           "reference_word_hash", "word_hashes"]
