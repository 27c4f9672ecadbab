"""Benchmark of ``dedup_v1``: signature speed, accuracy, and the whole pass at scale.

Run: ``.venv/bin/python benchmarks/bench_dedup.py [--docs 100000] [--eval-originals 2000]``

1. Signatures, 128 permutations, one process (= per core), on real text from
   ``shared/data``: our fast and datasketch-compatible modes (timed from raw text, so
   normalisation and shingling are included) against ``datasketch.MinHash.update`` per
   shingle and ``MinHash.bulk`` on the same shingles (timed *without* building the
   shingles, which favours the baselines).
2. Accuracy: precision and recall of the removed set against exact Jaccard at 0.8 on
   the larger evaluation set (`pile.dedup.evalset`).
3. The whole pass (exact + MinHash + LSH + verification + components + removal) on
   >= 100,000 documents in an in-process context: documents per second, the pass's
   peak traced memory (tracemalloc) and peak RSS, memory per document against
   datasketch's ``MinHashLSH`` holding the same signatures.
"""

from __future__ import annotations

import argparse
import os
import re
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pile.config import DedupConfig  # noqa: E402
from pile.dedup import Dedup  # noqa: E402
from pile.dedup.dedup_pass import normalizer_of  # noqa: E402
from dedup_evalset import (EDITS, base_documents, build_evalset, plant, score,  # noqa: E402
                                true_removals)
from pile.dedup.shingles import shingle_bytes  # noqa: E402
from pile.dedup.signatures import SignatureComputer  # noqa: E402
from pile.document import Document  # noqa: E402
from pile.stage import InMemoryPassContext  # noqa: E402

SHARED = Path(os.environ.get("PILE_SHARED_DATA", REPO.parent / "shared" / "data"))


def best_of(fn, repeat: int = 3) -> float:
    """Best CPU time of this process over `repeat` runs: per-core figures that other
    processes on a shared machine do not inflate (numpy runs these ops on one thread)."""
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return min(times)


def bench_signatures(texts: list[str], batch: int = 1024) -> None:
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    print(f"\n== signatures: {len(texts)} documents, {mb:.2f} MB, 128 permutations, 1 core ==")
    results = {}
    for mode in ("fast", "datasketch"):
        comp = SignatureComputer(normalizer_of(DedupConfig()), 5, 128, 1, mode, 16, 8)

        def run() -> None:
            for lo in range(0, len(texts), batch):
                comp.signatures(comp.hasher.word_bytes(texts[lo:lo + batch]))
        results[mode] = mb / best_of(run, 3 if mode == "fast" else 1)
    comp = SignatureComputer(normalizer_of(DedupConfig()), 5, 128, 1, "fast", 16, 8)
    shingles = [shingle_bytes(w, 5) for w in comp.hasher.word_bytes(texts)]
    nshingles = sum(len(s) for s in shingles)

    # MinHash.update per shingle is slow: time a prefix and scale by bytes.
    sub = max(1, len(texts) // 10)
    sub_mb = sum(len(t.encode("utf-8")) for t in texts[:sub]) / 1e6

    def update() -> None:
        for doc in shingles[:sub]:
            m = MinHash(num_perm=128, seed=1)
            for s in doc:
                m.update(s)
    results["datasketch update"] = sub_mb / best_of(update, 1)

    def bulk() -> None:
        MinHash.bulk(shingles, num_perm=128, seed=1)
    results["datasketch bulk"] = mb / best_of(bulk, 2)
    print(f"shingles: {nshingles}")
    for name, rate in results.items():
        print(f"  {name:<20} {rate:7.2f} MB/s per core")
    print(f"  fast / bulk   = {results['fast'] / results['datasketch bulk']:.2f}x   "
          f"fast / update = {results['fast'] / results['datasketch update']:.1f}x")
    print(f"  datasketch-mode / bulk = {results['datasketch'] / results['datasketch bulk']:.2f}x")


def bench_accuracy(originals: int, variants: int) -> None:
    print(f"\n== accuracy at threshold 0.8: {originals} originals + {variants} planted ==")
    ev = build_evalset(SHARED, originals=originals, variants=variants, seed=1,
                       unrelated_boilerplate=200)
    cfg = DedupConfig(threshold=0.8, priority=("curated",))
    t0 = time.perf_counter()
    truth = true_removals(ev.docs, cfg.threshold, normalizer_of(cfg), cfg.ngram, cfg.priority)
    t_truth = time.perf_counter() - t0
    for verify in (True, False):
        c = DedupConfig(threshold=0.8, priority=("curated",), verify=verify)
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            result = Dedup(c).run(InMemoryPassContext(Path(tmp), ev.docs))
            dt = time.perf_counter() - t0
            drops = result.drops  # the decisions are files under tmp
        s = score(set(drops), truth)
        print(f"  verify={verify!s:<5} documents={ev.size} should_remove={s['should_remove']} "
              f"removed={s['removed']} precision={s['precision']:.4f} recall={s['recall']:.4f} "
              f"(fp={s['false_positives']}, fn={s['false_negatives']}; pass {dt:.1f}s, "
              f"exact truth {t_truth:.1f}s; bands={result.details['bands']} rows={result.details['rows']})")


def sentence_pool() -> list[str]:
    sentences: list[str] = []
    for text in base_documents(SHARED, min_words=20, max_words=400):
        for s in re.split(r"(?<=[.!?])\s+", text.replace("\n\n", " ")):
            if len(s.split()) >= 6:
                sentences.append(s)
    return sentences


def big_corpus(n_docs: int, dup_fraction: float = 0.2, seed: int = 7) -> dict[str, list[Document]]:
    """`n_docs` documents of real sentences (random combinations), a fraction planted copies."""
    rng = np.random.RandomState(seed)
    pool = sentence_pool()
    n_orig = int(n_docs * (1 - dup_fraction))
    originals = []
    for _ in range(n_orig):
        k = rng.randint(8, 20)
        originals.append(" ".join(pool[i] for i in rng.randint(0, len(pool), k)))
    vocab = sorted({w for s in pool[:5000] for w in s.split()})
    sources = ("curated", "books", "web")
    docs: dict[str, list[Document]] = {s: [] for s in sources}
    for i, text in enumerate(originals):
        src = sources[i % 3]
        docs[src].append(Document(f"{src}/o{i:07d}", src, text))
    for i in range(n_docs - n_orig):
        k = rng.randint(n_orig)
        donor = originals[rng.randint(n_orig)]
        kind = EDITS[rng.randint(len(EDITS))]
        src = sources[rng.randint(3)]
        docs[src].append(Document(f"{src}/d{i:07d}", src, plant(originals[k], donor, kind, rng, vocab)))
    return docs


def run_pass(docs: dict[str, list[Document]], cfg: DedupConfig, trace: bool) -> tuple:
    with tempfile.TemporaryDirectory() as tmp:
        ctx = InMemoryPassContext(Path(tmp), docs, batch_size=cfg.batch_size)
        if trace:
            tracemalloc.start()
        t0, c0 = time.perf_counter(), time.process_time()
        result = Dedup(cfg).run(ctx)
        wall, cpu = time.perf_counter() - t0, time.process_time() - c0
        peak = tracemalloc.get_traced_memory()[1] if trace else 0
        if trace:
            tracemalloc.stop()
        store_bytes = sum(f.stat().st_size for f in (Path(tmp) / "signatures").rglob("*") if f.is_file())
        drops = result.drops  # the decisions are files under tmp
    return result, drops, wall, cpu, peak, store_bytes


def bench_pass(n_docs: int, scaling: list[int]) -> None:
    print(f"\n== whole pass: {n_docs} documents, threshold 0.8, 128 permutations, 1 worker ==")
    t0 = time.perf_counter()
    docs = big_corpus(n_docs)
    total = sum(len(v) for v in docs.values())
    mb = sum(d.nbytes for v in docs.values() for d in v) / 1e6
    print(f"  corpus built in {time.perf_counter() - t0:.1f}s: {total} documents, {mb:.1f} MB, "
          f"3 sources, 20% planted duplicates")
    cfg = DedupConfig(priority=("curated", "books"), partitions=64)
    result, drops, wall, cpu, _, store_bytes = run_pass(docs, cfg, trace=False)
    reasons = {r: sum(1 for v in drops.values() if v == r) for r in ("exact_duplicate", "near_duplicate")}
    print(f"  wall {wall:.1f}s = {total / wall:,.0f} documents/s; CPU {cpu:.1f}s = "
          f"{total / cpu:,.0f} documents/s per core, {mb / cpu:.1f} MB/s per core")
    print(f"  removed {reasons}; candidate pairs {result.details['candidate_pairs']}, "
          f"edges {result.details['edges']}, bands={result.details['bands']} rows={result.details['rows']}")
    print(f"  steps (wall s): {result.details['seconds']}")
    print(f"  on disk: signature stores {store_bytes / 1e6:.1f} MB = {store_bytes / total:,.0f} B/document")
    peaks = {}
    for n in sorted(set(scaling + [n_docs])):
        sub = docs if n == n_docs else big_corpus(n)
        _, _, _, _, peak, _ = run_pass(sub, cfg, trace=True)
        peaks[n] = peak
        print(f"  peak traced memory of the pass at {n:>7} documents: {peak / 1e6:6.1f} MB "
              f"= {peak / n:,.0f} B/document")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  process peak RSS {rss:.0f} MB (includes the in-memory corpus and the benchmark itself)")

    # datasketch's in-memory LSH holding the same signatures (a sample, per document).
    sample = min(total, 20000)
    comp = SignatureComputer(normalizer_of(cfg), cfg.ngram, cfg.num_perm, cfg.seed, "fast", 16, 8)
    flat = [d for v in docs.values() for d in v][:sample]
    sigs = np.concatenate([comp.signatures(comp.hasher.word_bytes([d.text for d in flat[i:i + 1024]]))[0]
                           for i in range(0, sample, 1024)])
    tracemalloc.start()
    lsh = MinHashLSH(threshold=0.8, num_perm=128, weights=cfg.weights)
    lean = []
    for d, s in zip(flat, sigs):
        m = LeanMinHash(MinHash(seed=1, hashvalues=s, scheme="affine32"))
        lean.append(m)
        lsh.insert(d.id, m, check_duplication=False)
    held, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    per_doc = held / sample
    ours = peaks[n_docs] / n_docs
    print(f"  datasketch MinHashLSH (b={lsh.b}, r={lsh.r}) + the LeanMinHash it indexes, {sample} documents: "
          f"{per_doc:,.0f} B/document in memory")
    print(f"  memory per document: ours {ours:,.0f} B (peak of the whole pass) vs datasketch "
          f"{per_doc:,.0f} B (index + sketches) -> {per_doc / ours:.1f}x less")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--eval-originals", type=int, default=2000)
    parser.add_argument("--eval-variants", type=int, default=3000)
    parser.add_argument("--scaling", type=int, nargs="*", default=[25_000, 50_000],
                        help="also measure the pass's peak memory at these corpus sizes")
    parser.add_argument("--skip", nargs="*", default=[], choices=["signatures", "accuracy", "pass"])
    args = parser.parse_args()
    if "signatures" not in args.skip:
        bench_signatures(base_documents(SHARED))
    if "accuracy" not in args.skip:
        bench_accuracy(args.eval_originals, args.eval_variants)
    if "pass" not in args.skip:
        bench_pass(args.docs, args.scaling)


if __name__ == "__main__":
    main()
