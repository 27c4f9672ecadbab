"""Normalisation, shingles, MinHash signatures and LSH parameters of `pile.dedup`."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from datasketch import LeanMinHash, MinHash, MinHashLSH
from datasketch.lsh import _optimal_param

from dedup_evalset import jaccard, shingle_sets
from pile.dedup.lsh import candidate_probability, optimal_params
from pile.dedup.normalize import FastNormalizer, Normalizer
from pile.dedup.shingles import ShingleHasher, shingle_bytes
from pile.dedup.signatures import (SignatureComputer, SignatureFn, ShingleSetFn, band_keys,
                                   jaccard_estimate, minhash, permutations)
from pile.document import Document

TRICKY = [
    "Hello, World! It's 2024-05-01; e.g. end.Start",
    "Caf\u00e9 na\u00efve \u201cquoted\u201d \u2014 dash\u2026 \u00bfQu\u00e9?",
    "non\u00a0breaking\u3000ideographic\u2009thin space",
    "\u0130stanbul K\u212aelvin \u00df STRASSE",  # lower() changes length / maps to ASCII
    "Arabic digits \u0661\u0662\u0663 and fullwidth \uff11\uff12",
    "ctrl\x01chars\x1c\x1dsep\x1e\x1funit\x7fdel under_score",
    "tabs\tand\nnew\r\nlines\x0b\x0cfeeds",
    "\u6771\u4eac\u3002\u65e5\u672c\u8a9e\u306e\u6587\u7ae0\u3001\u53e5\u8aad\u70b9\u3002 emoji \U0001F600!",
    "lone a\ud800b surrogate, zero\u200bwidth, combining e\u0301 mark",
    "\u00bd \u00b2 \u2460 digit-like, \u01c5 title, \u03a3\u03c3\u03c2 sigma",
    "\u2028line\u2029para\x85nel",
    "",
    "   ",
    "one",
]

FLAGS = [
    Normalizer(),
    Normalizer(lowercase=False),
    Normalizer(strip_punctuation=False),
    Normalizer(normalize_digits=True),
    Normalizer(lowercase=False, strip_punctuation=False, normalize_digits=True),
]


@pytest.mark.parametrize("spec", FLAGS, ids=lambda s: str(s))
@pytest.mark.parametrize("text", TRICKY)
def test_fast_normalisation_equals_reference(spec: Normalizer, text: str) -> None:
    fast = FastNormalizer(spec)
    words = fast.word_bytes(text).split()
    assert [w.decode("utf-8", "surrogatepass") for w in words] == spec.reference_words(text)


def _exact(spec: Normalizer, texts: list[str]) -> list[bytes]:
    comp = SignatureComputer(spec, 5, 16, 1, "fast", 2, 8)
    return [r["exact"] for r in comp.rows_for([Document(f"s/{i}", "s", t) for i, t in enumerate(texts)])]


@pytest.mark.parametrize("a, b, same", [
    ("Hello,   World!\n", "hello world", True),       # case, punctuation, whitespace
    ("a  b\tc", "a b c", True),
    ("Call 555-1234", "call 555 1234", True),
    ("Call 555-1234", "call 999 0000", False),         # digits kept by default
    ("first text", "second text", False),
    ("a b", "b a", False),                             # order matters
    ("ab", "a b", False),
    ("a b c", "a b", False),
    ("", "...", True),                                 # both empty once normalised
    ("", "x", False),
    ("w " * 40 + "end", "w " * 39 + "end", False),
])
def test_exact_key_follows_normalisation(a: str, b: str, same: bool) -> None:
    key_a, key_b = _exact(Normalizer(), [a, b])
    assert (key_a == key_b) is same
    # A key does not depend on the batch it was computed in.
    assert _exact(Normalizer(), [b])[0] == key_b and len(key_a) == 16


def test_exact_key_digits_and_whitespace_flags() -> None:
    digits = _exact(Normalizer(normalize_digits=True), ["Call 555-1234", "call 999 0000"])
    assert digits[0] == digits[1]
    keep_ws = _exact(Normalizer(normalize_whitespace=False), ["a  b", "a b", "A b"])
    assert keep_ws[0] != keep_ws[1] and keep_ws[1] == keep_ws[2]
    fast = FastNormalizer(Normalizer(normalize_whitespace=False))
    assert keep_ws[2] == fast.exact_key("A b")


def _ref_shingles(text: str, n: int) -> list[bytes]:
    words = Normalizer().reference_words(text)
    if not words:
        return []
    if len(words) < n:
        return [" ".join(words).encode()]
    return [" ".join(words[i:i + n]).encode() for i in range(len(words) - n + 1)]


@pytest.mark.parametrize("n", [1, 2, 5, 13])
def test_shingle_bytes_and_hash_counts(n: int) -> None:
    hasher = ShingleHasher(Normalizer(), n)
    texts = TRICKY + ["the quick brown fox jumps over the lazy dog " * 3]
    words = hasher.word_bytes(texts)
    hashes, offsets = hasher.hash_batch(words)
    for i, text in enumerate(texts):
        ref = _ref_shingles(text, n)
        assert shingle_bytes(words[i], n) == ref
        assert offsets[i + 1] - offsets[i] == len(ref)
        # Equal shingles hash equally, distinct ones differently (no collisions here).
        own = hashes[offsets[i]:offsets[i + 1]]
        assert len(set(own.tolist())) == len(set(ref))


def test_shingle_hashes_do_not_depend_on_the_batch() -> None:
    hasher = ShingleHasher(Normalizer(), 5)
    texts = [t * 7 for t in TRICKY] + ["x " * 100, "a b c d e f g h"]
    words = hasher.word_bytes(texts)
    together, offsets = hasher.hash_batch(words)
    for i, w in enumerate(words):
        alone, _ = hasher.hash_batch([w])
        assert np.array_equal(alone, together[offsets[i]:offsets[i + 1]])


def test_word_order_and_long_words_change_the_hash() -> None:
    hasher = ShingleHasher(Normalizer(), 2)
    long_a = "a" * 40 + "x"
    long_b = "a" * 40 + "y"
    h, off = hasher.hash_batch(hasher.word_bytes(["alpha beta", "beta alpha", long_a, long_b]))
    assert len(set(h.tolist())) == 4
    # Words of exactly 8 and 16 bytes use full-width loads (the mask must keep every byte).
    one = ShingleHasher(Normalizer(), 1)
    words = ["abcdefgh", "abcdefgz", "zbcdefgh", "abcdefghijklmnop", "abcdefghijklmnoz",
             "abcdefg", "abcdefghi", "\u00e9t\u00e9\u00e9t\u00e9"]  # the last: 8 UTF-8 bytes
    h, _ = one.hash_batch(one.word_bytes(words))
    assert len(set(h.tolist())) == len(words)


def test_permutations_match_datasketch() -> None:
    a, b = permutations(128, 7)
    ref = MinHash(num_perm=128, seed=7)
    assert np.array_equal(a, ref.permutations[0]) and np.array_equal(b, ref.permutations[1])
    assert (a % 2 == 1).all()


@pytest.mark.parametrize("num_perm, seed", [(128, 1), (64, 42), (256, 3)])
def test_datasketch_mode_is_bit_identical(shared_data, num_perm: int, seed: int) -> None:
    text = (shared_data / "text" / "tinyshakespeare.txt").read_text(encoding="utf-8")
    texts = [p for p in text.split("\n\n")][:60] + TRICKY
    comp = SignatureComputer(Normalizer(), 5, num_perm, seed, "datasketch", 8, 8)
    words = comp.hasher.word_bytes(texts)
    sig, counts = comp.signatures(words)
    for i, w in enumerate(words):
        ref = MinHash(num_perm=num_perm, seed=seed)
        for s in shingle_bytes(w, 5):
            ref.update(s)
        assert np.array_equal(sig[i], ref.hashvalues), texts[i][:40]
        assert sig.dtype == ref.hashvalues.dtype
    # ...and datasketch's own tools accept them.
    lsh = MinHashLSH(threshold=0.8, num_perm=num_perm)
    for i in range(5):
        lsh.insert(str(i), LeanMinHash(MinHash(seed=seed, hashvalues=sig[i], scheme="affine32")))
    assert "0" in lsh.query(MinHash(seed=seed, hashvalues=sig[0], scheme="affine32"))


def test_empty_document_signature_is_datasketch_empty() -> None:
    comp = SignatureComputer(Normalizer(), 5, 32, 1, "fast", 4, 8)
    sig, counts = comp.signatures(comp.hasher.word_bytes(["", "...", "word"]))
    assert counts.tolist() == [0, 0, 1]
    assert (sig[:2] == np.uint32(0xFFFFFFFF)).all()
    assert np.array_equal(sig[0], MinHash(num_perm=32).hashvalues)


@pytest.mark.parametrize("mode", ["fast", "datasketch"])
def test_signatures_are_deterministic_and_batch_independent(mode: str) -> None:
    texts = [f"document number {i} " + "shared words here " * (i % 7) + TRICKY[i % len(TRICKY)]
             for i in range(50)]
    comp = SignatureComputer(Normalizer(), 5, 64, 9, mode, 8, 8)
    words = comp.hasher.word_bytes(texts)
    whole, _ = comp.signatures(words)
    parts = np.concatenate([comp.signatures(words[i:i + 7])[0] for i in range(0, 50, 7)])
    again = SignatureComputer(Normalizer(), 5, 64, 9, mode, 8, 8).signatures(words)[0]
    assert np.array_equal(whole, parts) and np.array_equal(whole, again)


def test_minhash_kernel_handles_docs_across_blocks() -> None:
    rng = np.random.RandomState(0)
    a, b = permutations(16, 1)
    sizes = [0, 3, 9000, 0, 1, 20000, 5]
    offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
    h = rng.randint(0, 1 << 32, offsets[-1], dtype=np.uint64).astype(np.uint32)
    sig = minhash(h, offsets, a, b)
    for i in range(len(sizes)):
        part = h[offsets[i]:offsets[i + 1]]
        expect = (np.full(16, 0xFFFFFFFF, np.uint32) if part.size == 0 else
                  (a[:, None] * part[None, :] + b[:, None]).min(axis=1))
        assert np.array_equal(sig[i], expect)


def test_jaccard_estimate_within_tolerance(shared_data) -> None:
    """The fast-mode estimate stays within 4.5 standard deviations of the exact Jaccard."""
    text = (shared_data / "text" / "wikitext-2" / "test.txt").read_text(encoding="utf-8")
    words = text.split()[:60000]
    rng = np.random.RandomState(1)
    texts_a, texts_b = [], []
    for k in range(60):
        base = words[k * 600:(k + 1) * 600]
        keep = rng.rand(len(base)) > rng.uniform(0.0, 0.2)  # delete up to 20% of words
        texts_a.append(" ".join(base))
        texts_b.append(" ".join(w for w, ok in zip(base, keep) if ok))
    num_perm = 128
    comp = SignatureComputer(Normalizer(), 5, num_perm, 1, "fast", 16, 8)
    sa, _ = comp.signatures(comp.hasher.word_bytes(texts_a))
    sb, _ = comp.signatures(comp.hasher.word_bytes(texts_b))
    est = jaccard_estimate(sa, sb)
    sets_a = shingle_sets(texts_a, Normalizer(), 5)
    sets_b = shingle_sets(texts_b, Normalizer(), 5)
    exact = np.array([jaccard(x, y) for x, y in zip(sets_a, sets_b)])
    sd = np.sqrt(exact * (1 - exact) / num_perm)
    assert exact.min() < 0.5 < 0.9 < exact.max()  # the pairs span a useful range
    assert (np.abs(est - exact) <= 4.5 * sd + 1.5 / num_perm).all()
    assert abs(float(np.mean(est - exact))) < 0.01  # unbiased


def test_band_keys_equal_exactly_when_band_values_equal() -> None:
    rng = np.random.RandomState(0)
    sig = rng.randint(0, 1 << 32, (4, 16), dtype=np.uint64).astype(np.uint32)
    sig[1] = sig[0]
    sig[2, :4] = sig[0, :4]  # shares band 0 only
    keys = band_keys(sig, 4, 4)
    assert np.array_equal(keys[0], keys[1])
    assert keys[2, 0] == keys[0, 0] and (keys[2, 1:] != keys[0, 1:]).all()
    assert (keys[3] != keys[0]).all()
    assert len(set(keys[0].tolist())) == 4  # the band index is mixed in


@pytest.mark.parametrize("threshold, num_perm, weights", [
    (0.8, 128, (0.5, 0.5)), (0.8, 128, (0.05, 0.95)), (0.5, 128, (0.5, 0.5)),
    (0.9, 64, (0.3, 0.7)), (0.7, 256, (0.5, 0.5)), (0.3, 32, (0.9, 0.1)), (0.95, 200, (0.05, 0.95)),
])
def test_optimal_params_match_datasketch(threshold: float, num_perm: int, weights) -> None:
    assert optimal_params(threshold, num_perm, *weights) == _optimal_param(threshold, num_perm, *weights)


def test_recall_oriented_default_catches_pairs_at_the_threshold() -> None:
    bands, rows = optimal_params(0.8, 128, 0.05, 0.95)
    assert candidate_probability(0.8, bands, rows) > 0.94
    assert candidate_probability(0.3, bands, rows) < 0.01


def test_batch_functions_pickle_and_compute(tmp_path) -> None:
    docs = [Document(f"s/{i}", "s", f"text {i} with some shared words in it") for i in range(5)]
    fn = SignatureFn(Normalizer(), 5, 32, 1, "fast", 4, 8)
    fn.setup()
    again = pickle.loads(pickle.dumps(fn))
    assert again._computer is None
    assert again(docs) == fn(docs)
    rows = fn(docs)
    assert [r["id"] for r in rows] == [d.id for d in docs]
    assert len(rows[0]["sig"]) == 32 * 4 and len(rows[0]["bands"]) == 4 * 8
    # dedup.batch_size slices a large batch without changing a row.
    sliced = SignatureFn(Normalizer(), 5, 32, 1, "fast", 4, 8, batch_size=2)
    assert sliced(docs) == rows and pickle.loads(pickle.dumps(sliced)).batch_size == 2
    # The wanted ids travel as a file (they grow with the corpus), read on the worker.
    (tmp_path / "wanted.json").write_text(json.dumps(["s/1", "s/3"]))
    sfn = pickle.loads(pickle.dumps(ShingleSetFn(Normalizer(), 5, str(tmp_path / "wanted.json"))))
    out = sfn(docs)
    assert [r["id"] for r in out] == ["s/1", "s/3"]
    got = np.frombuffer(out[0]["shingles"], dtype=np.uint64)
    assert np.array_equal(got, shingle_sets([docs[1].text], Normalizer(), 5)[0])
