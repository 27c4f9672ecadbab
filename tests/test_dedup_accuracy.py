"""Accuracy of ``dedup_v1`` on planted near-duplicates of real text, against exact Jaccard."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pile.config import DedupConfig
from pile.dedup import Dedup
from pile.dedup.dedup_pass import normalizer_of
from dedup_evalset import (EDITS, build_evalset, jaccard, score, shingle_sets,
                                similar_pairs, true_removals)
from pile.stage import InMemoryPassContext


@pytest.fixture(scope="module")
def evalset(shared_data: Path):
    return build_evalset(shared_data, originals=400, variants=400, seed=0,
                         unrelated_boilerplate=40)


def test_evalset_spans_the_threshold(evalset) -> None:
    cfg = DedupConfig()
    flat = {d.id: d for docs in evalset.docs.values() for d in docs}
    ids = sorted(evalset.planted)
    ours = shingle_sets([flat[i].text for i in ids], normalizer_of(cfg), cfg.ngram)
    orig = shingle_sets([flat[evalset.planted[i][1]].text for i in ids], normalizer_of(cfg), cfg.ngram)
    sims = np.array([jaccard(a, b) for a, b in zip(ours, orig)])
    assert {k for k, _ in evalset.planted.values()} == set(EDITS)
    # Enough planted pairs on both sides of, and close to, the threshold to be a real test.
    assert ((sims >= 0.7) & (sims < 0.8)).sum() >= 30
    assert ((sims >= 0.8) & (sims < 0.9)).sum() >= 50
    assert (sims < 0.7).sum() >= 20


def test_similar_pairs_is_exact(evalset) -> None:
    """The prefix-filtered all-pairs search equals brute force on a subset."""
    docs = [d for v in evalset.docs.values() for d in v][:300]
    sets = shingle_sets([d.text for d in docs], normalizer_of(DedupConfig()), 5)
    brute = {(i, j) for i in range(len(sets)) for j in range(i + 1, len(sets))
             if jaccard(sets[i], sets[j]) >= 0.8}
    assert set(similar_pairs(sets, 0.8)) == brute and brute


@pytest.mark.parametrize("hash_mode", ["fast", "datasketch"])
def test_precision_and_recall_at_0_8(evalset, tmp_path: Path, hash_mode: str) -> None:
    cfg = DedupConfig(threshold=0.8, priority=("curated",), hash_mode=hash_mode)
    truth = true_removals(evalset.docs, cfg.threshold, normalizer_of(cfg), cfg.ngram, cfg.priority)
    result = Dedup(cfg).run(InMemoryPassContext(tmp_path, evalset.docs))
    s = score(set(result.drops), truth)
    assert s["should_remove"] > 150
    assert s["precision"] >= 0.95 and s["recall"] >= 0.95, s
