"""MinHash signatures of batches of documents, vectorised with numpy.

MinHash (Broder, "On the resemblance and containment of documents", 1997): for each of
`num_perm` random permutations of the hash space, a document keeps the smallest
permuted hash of its shingles; two documents agree on a permutation with probability
equal to the Jaccard similarity of their shingle sets.

The permutations are datasketch 2.x's ``affine32`` scheme: ``h -> a * h + b mod 2**32``
with `a` odd (a bijection), the parameters drawn from ``numpy.random.RandomState(seed)``
exactly as ``datasketch.MinHash(num_perm, seed)`` draws them. The two hash modes differ
only in the 32-bit shingle hash fed to the permutations:

- ``fast``: the high 32 bits of the vectorised 64-bit shingle hash (`shingles`);
- ``datasketch``: ``sha1_hash32`` of the shingle's UTF-8 bytes, premixed with the
  32-bit MurmurHash3 finaliser as datasketch does, so the signature is bit-identical
  to ``MinHash(num_perm, seed)`` after ``update(s)`` of every shingle ``s`` (a test
  proves it); load one with ``MinHash(hashvalues=sig, seed=seed, scheme="affine32")``.

The permutation step runs on a ``(num_perm, chunk)`` block of uint32 that stays in
cache, and ``np.minimum.reduceat`` takes the per-document minima, so the work is a few
SIMD passes per shingle and no Python per shingle in the fast mode.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from pile.dedup.normalize import Normalizer
from pile.dedup.shingles import ShingleHasher, shingle_bytes, shingle_sets_of_batch
from pile.wordhash import fmix64
from pile.document import Document

MAX_HASH = np.uint32(0xFFFFFFFF)
# Shingles per permutation block (128 x 8192 x 4 B = 4 MiB): numpy's SIMD loops only
# reach full speed on long rows; 2048 was twice as slow per element here.
_CHUNK = 8192


def permutations(num_perm: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The affine permutation parameters ``(a, b)`` of datasketch's ``affine32`` scheme.

    Args:
        num_perm: number of permutations.
        seed: the seed of ``numpy.random.RandomState``.

    Returns:
        Two uint32 arrays of length `num_perm`; every `a` is odd.
    """
    gen = np.random.RandomState(seed)
    a = gen.randint(0, 1 << 31, num_perm, dtype=np.uint32) * np.uint32(2) + np.uint32(1)
    b = gen.randint(0, 1 << 32, num_perm, dtype=np.uint32)
    return a, b


def fmix32(h: np.ndarray) -> np.ndarray:
    """The MurmurHash3 32-bit finaliser, elementwise on uint32."""
    h = h ^ (h >> np.uint32(16))
    h *= np.uint32(0x85EBCA6B)
    h ^= h >> np.uint32(13)
    h *= np.uint32(0xC2B2AE35)
    h ^= h >> np.uint32(16)
    return h


def minhash(hashes: np.ndarray, offsets: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-document minima of ``a * h + b mod 2**32`` over their shingle hashes.

    Args:
        hashes: uint32 shingle hashes of all documents, concatenated.
        offsets: int64, ``len(docs) + 1``; document ``i`` owns
            ``hashes[offsets[i]:offsets[i + 1]]``.
        a, b: the permutation parameters (`permutations`).

    Returns:
        ``(len(docs), num_perm)`` uint32; a document without shingles keeps
        ``0xFFFFFFFF`` everywhere (datasketch's empty MinHash).
    """
    ndocs = len(offsets) - 1
    num_perm = len(a)
    sig = np.full((ndocs, num_perm), MAX_HASH, dtype=np.uint32)
    total = int(offsets[-1])
    if total == 0:
        return sig
    nonempty = np.flatnonzero(offsets[1:] > offsets[:-1])
    starts = offsets[nonempty]
    a_col = a[:, None]
    b_col = b[:, None]
    block = np.empty((num_perm, _CHUNK), dtype=np.uint32)
    for lo in range(0, total, _CHUNK):
        hi = min(lo + _CHUNK, total)
        m = hi - lo
        view = block[:, :m]
        np.multiply(a_col, hashes[None, lo:hi], out=view)
        np.add(view, b_col, out=view)
        # Documents (among the non-empty ones) overlapping [lo, hi).
        first = np.searchsorted(starts, lo, side="right") - 1
        last = np.searchsorted(starts, hi, side="left")
        seg_docs = nonempty[first:last]
        rel = np.maximum(starts[first:last], lo) - lo
        mins = np.minimum.reduceat(view, rel, axis=1).T
        np.minimum(sig[seg_docs], mins, out=mins)
        sig[seg_docs] = mins
    return sig


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """64-bit LSH bucket keys: one per band, mixing the band index and its `rows` values.

    Args:
        sig: ``(n, num_perm)`` uint32 signatures.
        bands, rows: the LSH banding (``bands * rows <= num_perm``).

    Returns:
        ``(n, bands)`` uint64. Equal band values give equal keys; distinct ones collide
        with probability ~2**-64 (extra candidates, never missed ones).
    """
    n = sig.shape[0]
    keys = np.empty((n, bands), dtype=np.uint64)
    wide = sig.astype(np.uint64)
    for band in range(bands):
        h = np.full(n, ((band + 1) * 0x9E3779B97F4A7C15) & 0xFFFFFFFFFFFFFFFF, dtype=np.uint64)
        for col in range(band * rows, (band + 1) * rows):
            h = fmix64(h ^ wide[:, col]) + np.uint64(col)
        keys[:, band] = h
    return keys


def jaccard_estimate(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray:
    """Fraction of equal positions, row by row (the MinHash Jaccard estimate)."""
    return np.count_nonzero(sig_a == sig_b, axis=-1) / sig_a.shape[-1]


class SignatureComputer:
    """Exact keys, MinHash signatures and band keys of batches of documents.

    Args:
        normalizer: normalisation flags.
        ngram: words per shingle.
        num_perm: permutations.
        seed: permutation seed.
        hash_mode: ``fast`` or ``datasketch``.
        bands, rows: LSH banding for the band keys.
    """

    def __init__(self, normalizer: Normalizer, ngram: int, num_perm: int, seed: int,
                 hash_mode: str, bands: int, rows: int) -> None:
        if hash_mode not in ("fast", "datasketch"):
            raise ValueError(f"hash_mode must be 'fast' or 'datasketch', got {hash_mode!r}")
        self.hasher = ShingleHasher(normalizer, ngram)
        self.ngram = ngram
        self.num_perm = num_perm
        self.hash_mode = hash_mode
        self.bands = bands
        self.rows = rows
        self.a, self.b = permutations(num_perm, seed)

    def signatures(self, words: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
        """Signatures and shingle counts of documents given as `ShingleHasher.word_bytes`."""
        sig, counts, _ = self.signatures_and_keys(words, keys=False)
        return sig, counts

    def signatures_and_keys(self, words: list[bytes], keys: bool = True
                            ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Signatures, shingle counts and (when `keys`) the word-sequence exact keys."""
        if self.hash_mode == "fast":
            hashes, offsets, seq_keys = self.hasher.hash_batch_and_keys(words, keys)
            h32 = (hashes >> np.uint64(32)).astype(np.uint32)
        else:
            seq_keys = self.hasher.hash_batch_and_keys(words, keys)[2] if keys else None
            digests: list[bytes] = []
            counts = np.zeros(len(words) + 1, np.int64)
            for i, w in enumerate(words):
                shingles = shingle_bytes(w, self.ngram)
                counts[i + 1] = len(shingles)
                # datasketch.hashfunc.sha1_hash32: the first 4 digest bytes, little-endian.
                digests.extend(hashlib.sha1(s).digest()[:4] for s in shingles)
            offsets = np.cumsum(counts)
            h32 = fmix32(np.frombuffer(b"".join(digests), dtype="<u4").astype(np.uint32))
        sig = minhash(h32, offsets, self.a, self.b)
        return sig, np.diff(offsets), seq_keys

    def rows_for(self, docs: list[Document]) -> list[dict[str, Any]]:
        """One row per document: id, bytes, exact key, signature and band keys as bytes."""
        words = self.hasher.word_bytes([d.text for d in docs])
        by_words = self.hasher.normalizer.normalize_whitespace
        sig, nshingles, seq_keys = self.signatures_and_keys(words, keys=by_words)
        if seq_keys is not None:
            exact = [k.tobytes() for k in seq_keys]
        else:
            exact = [self.hasher.fast.exact_key(d.text) for d in docs]
        band = band_keys(sig, self.bands, self.rows)
        return [{
            "id": doc.id,
            "nbytes": len(doc.text.encode("utf-8", "surrogatepass")),
            "exact": exact[i],
            "nshingles": int(nshingles[i]),
            "sig": sig[i].tobytes(),
            "bands": band[i].tobytes(),
        } for i, doc in enumerate(docs)]


class SignatureFn:
    """The `BatchFunction` the runner maps over the corpus: `SignatureComputer.rows_for`.

    Picklable and cheap to ship: the computer (tables, permutations) is built in
    `setup()` on each worker. Batches larger than `batch_size` (``dedup.batch_size``)
    are computed in slices of that size, which bounds a worker's working memory
    whatever batch the runner hands over; rows do not depend on the slicing.
    """

    label = "signatures"  # what its progress bar says

    def __init__(self, normalizer: Normalizer, ngram: int, num_perm: int, seed: int,
                 hash_mode: str, bands: int, rows: int, batch_size: int = 1024) -> None:
        self.args = (normalizer, ngram, num_perm, seed, hash_mode, bands, rows)
        self.batch_size = batch_size
        self._computer: SignatureComputer | None = None

    def setup(self) -> None:
        if self._computer is None:
            self._computer = SignatureComputer(*self.args)

    def __call__(self, docs: list[Document]) -> list[dict[str, Any]]:
        self.setup()
        assert self._computer is not None
        out: list[dict[str, Any]] = []
        for lo in range(0, len(docs), self.batch_size):
            out.extend(self._computer.rows_for(docs[lo:lo + self.batch_size]))
        return out

    def __getstate__(self) -> dict[str, Any]:
        return {"args": self.args, "batch_size": self.batch_size, "_computer": None}


class ShingleSetFn:
    """The `BatchFunction` of verification: the shingle sets of the wanted documents only.

    Args:
        normalizer, ngram: as for signatures.
        wanted_path: a JSON list of the ids of the documents in candidate pairs, read on
            the worker (`setup`): the set grows with the corpus, so it is not shipped.
    """

    label = "verification"  # what its progress bar says

    def __init__(self, normalizer: Normalizer, ngram: int, wanted_path: str) -> None:
        self.normalizer = normalizer
        self.ngram = ngram
        self.wanted_path = str(wanted_path)
        self._hasher: ShingleHasher | None = None
        self._wanted: frozenset[str] = frozenset()

    def setup(self) -> None:
        if self._hasher is None:
            self._hasher = ShingleHasher(self.normalizer, self.ngram)
            self._wanted = frozenset(json.loads(Path(self.wanted_path).read_text(encoding="utf-8")))

    def __call__(self, docs: list[Document]) -> list[dict[str, Any]]:
        self.setup()
        assert self._hasher is not None
        picked = [d for d in docs if d.id in self._wanted]
        if not picked:
            return []
        hashes, offsets = self._hasher.hash_batch(self._hasher.word_bytes([d.text for d in picked]))
        uniq, uoffsets = shingle_sets_of_batch(hashes, offsets)
        return [{"id": d.id, "shingles": uniq[uoffsets[i]:uoffsets[i + 1]].tobytes()}
                for i, d in enumerate(picked)]

    def __getstate__(self) -> dict[str, Any]:
        return {"normalizer": self.normalizer, "ngram": self.ngram, "wanted_path": self.wanted_path,
                "_hasher": None, "_wanted": frozenset()}
