"""Exact and MinHash LSH near-duplicate removal across all sources (`Dedup`, ``dedup_v1``).

Modules: `normalize` (the text normalisation), `shingles` (word n-gram shingles hashed
with numpy), `signatures` (vectorised MinHash, datasketch-compatible mode), `lsh`
(bands and rows from the threshold), `store` (per-source signature stores),
`partitions` (on-disk grouping of keys), `components` (connected components, survivor
rule), `resolve` (the global steps on the workers), `droptable` (the decisions per source,
as the final phase's workers read them), `dedup_pass` (the pass); the accuracy evaluation
set lives with its benchmark (`benchmarks/dedup_evalset.py`).
"""

from pile.dedup.dedup_pass import Dedup

__all__ = ["Dedup"]
