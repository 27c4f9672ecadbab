"""The ``dedup_v1`` pass end to end on an in-process context: clusters, survivors, reuse."""

from __future__ import annotations

import json
import pickle
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pytest

from pile.config import DedupConfig
from pile.dedup import Dedup
from pile.dedup.components import UnionFind, connected_components, survivor_order
from pile.dedup.dedup_pass import normalizer_of
from dedup_evalset import delete_sentences, jaccard, shingle_sets
from pile.dedup.partitions import WINDOW, bucket_pairs, group_bounds
from pile.document import Document
from pile.errors import PileError
from pile.stage import InMemoryPassContext, PassResult


@pytest.fixture(scope="module")
def paragraphs(shared_data: Path) -> list[str]:
    """Real text: Shakespeare speeches grouped into ~120-word documents."""
    text = (shared_data / "text" / "tinyshakespeare.txt").read_text(encoding="utf-8")
    out, cur = [], []
    for para in text.split("\n\n"):
        cur.append(para)
        if sum(len(p.split()) for p in cur) >= 120:
            out.append("\n\n".join(cur))
            cur = []
    return out


def _edit_words(text: str, positions: Iterable[int], word: str = "zyzzyva") -> str:
    words = text.split()
    for p in positions:
        words[p] = word
    return " ".join(words)


def _run(docs: dict[str, list[Document]], workdir: Path, cfg: DedupConfig | None = None,
         batch_size: int = 256, fingerprints: dict[str, str] | None = None,
         ctx_cls: type = InMemoryPassContext) -> tuple[PassResult, list[dict[str, Any]]]:
    ctx = ctx_cls(workdir, docs, batch_size=batch_size)
    if fingerprints is not None:
        ctx.fingerprints = fingerprints
    result = Dedup(cfg or DedupConfig()).run(ctx)
    lines = [json.loads(ln) for ln in (workdir / "clusters.jsonl").read_text().splitlines()]
    return result, lines


@pytest.fixture(scope="module")
def golden(paragraphs: list[str]) -> dict[str, Any]:
    """Planted duplicates with known exact Jaccard, over two sources."""
    a, b, c, d, e = paragraphs[10:15]
    near_a = _edit_words(a, [60])                       # one word: J ~ 0.92
    near_b = delete_sentences(b, np.random.RandomState(3), 0.0)  # unchanged text...
    near_b = near_b + " And one more short line here."  # ...plus one sentence
    exact_c = "  " + c.upper().replace(" ", "\n", 5)    # case and whitespace only
    far_d = _edit_words(d, range(0, 120, 4))            # every 4th word: J well below 0.5
    docs = {
        "web": [Document("web/a", "web", a), Document("web/b2", "web", near_b),
                Document("web/c", "web", c), Document("web/d", "web", d),
                Document("web/e", "web", e)],
        "curated": [Document("curated/a2", "curated", near_a), Document("curated/b", "curated", b),
                    Document("curated/c2", "curated", exact_c),
                    Document("curated/d2", "curated", far_d)],
    }
    sets = {doc.id: s for src in docs.values() for doc, s in
            zip(src, shingle_sets([x.text for x in src], normalizer_of(DedupConfig()), 5))}
    return {"docs": docs, "sets": sets}


def test_golden_planted_pairs_have_the_intended_jaccard(golden) -> None:
    s = golden["sets"]
    assert 0.8 <= jaccard(s["web/a"], s["curated/a2"]) < 1.0
    assert 0.8 <= jaccard(s["web/b2"], s["curated/b"]) < 1.0
    assert jaccard(s["web/c"], s["curated/c2"]) == 1.0
    assert jaccard(s["web/d"], s["curated/d2"]) < 0.5


def test_golden_clusters_without_priority(golden, tmp_path: Path) -> None:
    result, lines = _run(golden["docs"], tmp_path)
    # No priority: the smallest id survives ("curated/..." < "web/...").
    assert result.drops == {"web/a": "near_duplicate", "web/b2": "near_duplicate",
                            "web/c": "exact_duplicate"}
    assert [(x["id"], x["duplicate_of"], x["reason"]) for x in lines] == [
        ("web/a", "curated/a2", "near_duplicate"),
        ("web/b2", "curated/b", "near_duplicate"),
        ("web/c", "curated/c2", "exact_duplicate"),
    ]
    assert lines[2]["jaccard"] == 1.0
    s = golden["sets"]
    assert abs(lines[0]["jaccard"] - jaccard(s["web/a"], s["curated/a2"])) < 0.15
    assert result.counters[("web", "near_duplicates")] == 2
    assert result.counters[("web", "exact_duplicates")] == 1
    web = {d.id: d for d in golden["docs"]["web"]}
    assert result.counters[("web", "exact_duplicate_bytes")] == web["web/c"].nbytes
    assert result.counters[("web", "near_duplicate_bytes")] == web["web/a"].nbytes + web["web/b2"].nbytes
    assert result.counters[("curated", "documents")] == 4
    assert ("curated", "near_duplicates") not in result.counters


def test_priority_decides_the_survivor_across_sources(golden, tmp_path: Path) -> None:
    result, lines = _run(golden["docs"], tmp_path, DedupConfig(priority=("web",)))
    assert result.drops == {"curated/a2": "near_duplicate", "curated/b": "near_duplicate",
                            "curated/c2": "exact_duplicate"}
    assert {x["id"]: x["duplicate_of"] for x in lines} == {
        "curated/a2": "web/a", "curated/b": "web/b2", "curated/c2": "web/c"}


def test_one_survivor_per_cluster_and_rule(paragraphs: list[str], tmp_path: Path) -> None:
    """A cluster of many copies across three sources keeps exactly one, by the rule."""
    base = paragraphs[30]
    docs: dict[str, list[Document]] = {"crawl": [], "books": [], "wiki": []}
    for i in range(12):
        src = ("crawl", "books", "wiki")[i % 3]
        docs[src].append(Document(f"{src}/copy-{i:02d}", src, _edit_words(base, [i * 7 % 100])))
    docs["crawl"].append(Document("crawl/other", "crawl", paragraphs[31]))
    result, lines = _run(docs, tmp_path, DedupConfig(priority=("wiki", "books")))
    kept = {d.id for src in docs.values() for d in src} - set(result.drops)
    assert kept == {"wiki/copy-02", "crawl/other"}  # wiki first, then the smallest id
    assert {x["duplicate_of"] for x in lines} == {"wiki/copy-02"}
    assert result.details["largest_clusters"][0]["size"] == 12
    assert result.details["largest_clusters"][0]["survivor"] == "wiki/copy-02"
    # Unlisted sources come after listed ones.
    result, _ = _run(docs, tmp_path / "b", DedupConfig(priority=("books",)))
    assert {d.id for src in docs.values() for d in src} - set(result.drops) == {
        "books/copy-01", "crawl/other"}


def test_results_do_not_depend_on_batches_or_partitions(golden, paragraphs, tmp_path: Path) -> None:
    docs = {k: list(v) for k, v in golden["docs"].items()}
    docs["web"] += [Document(f"web/p{i}", "web", p) for i, p in enumerate(paragraphs[40:80])]
    docs["web"] += [Document(f"web/q{i}", "web", _edit_words(p, [3]))
                    for i, p in enumerate(paragraphs[40:60])]
    runs = []
    for i, (batch, parts) in enumerate([(1, 64), (7, 3), (1000, 1)]):
        result, lines = _run(docs, tmp_path / str(i), DedupConfig(partitions=parts), batch)
        runs.append((result.drops, lines,
                     (tmp_path / str(i) / "clusters.jsonl").read_bytes()))
    assert runs[0] == runs[1] == runs[2]
    assert len(runs[0][0]) == 23


def test_decisions_written_in_chunks_and_sorted_runs_are_the_same_bytes(golden, paragraphs,
                                                                      tmp_path: Path, monkeypatch) -> None:
    """`decide` holds the removed documents as records and writes from them a chunk at a
    time, with ``clusters.jsonl`` sorted by an external sort: tiny chunks and runs give the
    bytes of one chunk and one run, chains of duplicates (an exact copy of a near copy)
    included."""
    from pile.dedup import resolve

    docs = {k: list(v) for k, v in golden["docs"].items()}
    for i, p in enumerate(paragraphs[40:70]):
        docs["web"].append(Document(f"web/p{i}", "web", p))
        docs["curated"].append(Document(f"curated/q{i}", "curated", _edit_words(p, [3])))
        if i % 3 == 0:  # an exact copy of the near copy: removed against a removed document
            docs["web"].append(Document(f"web/r{i}", "web", _edit_words(p, [3]).upper()))
        if i % 5 == 0:
            docs["curated"].append(Document(f"curated/s{i}", "curated", p))
    whole = _run(docs, tmp_path / "whole")
    monkeypatch.setattr(resolve, "CHUNK_ROWS", 3)
    monkeypatch.setattr(resolve, "RUN_LINES", 4)
    small = _run(docs, tmp_path / "small")
    assert small[1] == whole[1] and small[0].drops == whole[0].drops
    assert small[0].details["largest_clusters"] == whole[0].details["largest_clusters"]
    assert small[0].counters == whole[0].counters
    for name in ("clusters.jsonl", "drops/web.npy", "drops/curated.npy"):
        assert (tmp_path / "small" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes()
    assert not list((tmp_path / "small").glob(".clusters.jsonl.run*"))  # the runs are removed
    lines = whole[1]
    assert len(lines) > 2 * 4 and [ln["id"] for ln in lines] == sorted(ln["id"] for ln in lines)
    # the chains end at kept documents: every cluster's survivor is kept
    removed = {ln["id"] for ln in lines}
    top = whole[0].details["largest_clusters"]
    assert top and all(c["survivor"] not in removed for c in top)
    assert any(c["exact"] and c["near"] for c in top)  # a cluster with both kinds


class TwoWorkerContext(InMemoryPassContext):
    """An in-memory context whose work runs on two spawned worker processes.

    The batch functions, the sinks and the global steps are pickled to the workers as a
    real runner ships them (spawn, not fork: the test session may already hold Ray's
    threads), and each source is written as two parts, then merged, as several units are.
    """

    def map_to_parts(self, fn, sink, sources, dest) -> dict[str, int]:
        out = {}
        with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
            for source in sources:
                docs = self._docs[source]
                batches = [docs[i:i + self._batch_size] for i in range(0, len(docs), self._batch_size)]
                parts = []
                for k, half in enumerate([batches[:len(batches) // 2], batches[len(batches) // 2:]]):
                    part = self.workdir / ".parts" / source / f"{k:06d}"
                    part.parent.mkdir(parents=True, exist_ok=True)
                    pool.submit(sink.write, part, list(pool.map(fn, half))).result()
                    parts.append(part)
                out[source] = pool.submit(sink.merge, parts, dest(source), source).result()
        return out

    def call(self, fn):
        return self.call_each([fn])[0]

    def call_each(self, fns):
        with ProcessPoolExecutor(2, mp_context=get_context("spawn")) as pool:
            return [f.result() for f in [pool.submit(fn) for fn in fns]]


def test_two_workers_give_the_same_result(golden, tmp_path: Path) -> None:
    one = _run(golden["docs"], tmp_path / "one", batch_size=2)
    two = _run(golden["docs"], tmp_path / "two", batch_size=2, ctx_cls=TwoWorkerContext)
    assert one[0].drops == two[0].drops and one[1] == two[1]
    assert one[0].drops  # the golden set has duplicates of both kinds
    assert {"exact_duplicate", "near_duplicate"} <= set(one[0].drops.values())


class SixteenWorkers(InMemoryPassContext):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.workers = 16


def test_routing_units_do_not_change_the_decisions(golden, tmp_path: Path, monkeypatch) -> None:
    """Rows routed and pairs verified in many small units (as a large corpus is), and
    partitions grouped into units for more workers, give the decisions of one unit each."""
    from pile.dedup import resolve

    whole = _run(golden["docs"], tmp_path / "whole")
    monkeypatch.setattr(resolve, "ROUTE_ROWS", 3)
    monkeypatch.setattr(resolve, "VERIFY_PAIRS", 1)  # a verification unit per candidate pair
    small = _run(golden["docs"], tmp_path / "small")
    assert small[0].drops == whole[0].drops and small[1] == whole[1]
    assert small[0].details["candidate_pairs"] >= 2  # so as many verification units
    wide = _run(golden["docs"], tmp_path / "wide", ctx_cls=SixteenWorkers)  # one partition a unit
    assert wide[0].drops == whole[0].drops and wide[1] == whole[1]
    steps = resolve.Resolution(DedupConfig(), 1, 1, 0.0, str(tmp_path / "small"), list(golden["docs"]))
    documents = sum(len(v) for v in golden["docs"].values())
    assert len(steps.chunks()) >= documents // 3 > len(golden["docs"])  # really many units


class LosesVerification(InMemoryPassContext):
    """A context whose verification units never ran (a lost worker's output)."""

    def call_each(self, fns):
        return [fn() for fn in fns if getattr(fn, "func", fn).__name__ != "verify_pairs"]


def test_decisions_are_never_made_without_every_verified_pair(golden, tmp_path: Path) -> None:
    with pytest.raises(PileError, match=r"0 verified pairs of \d+ candidates"):
        _run(golden["docs"], tmp_path / "lost", ctx_cls=LosesVerification)


def test_rebuilding_one_source_reuses_the_others(golden, paragraphs, tmp_path: Path) -> None:
    docs = {k: list(v) for k, v in golden["docs"].items()}
    work = tmp_path / "incremental"
    first, _ = _run(docs, work, fingerprints={"web": "w1", "curated": "c1"})
    assert first.counters[("web", "signatures_computed")] == 5
    # The curated source changes: a new near-copy of web/d and one document less.
    changed = {"web": docs["web"], "curated": docs["curated"][1:] + [
        Document("curated/d3", "curated", _edit_words(paragraphs[13], [50]))]}
    again, lines = _run(changed, work, fingerprints={"web": "w1", "curated": "c2"})
    assert again.counters[("web", "signatures_reused")] == 5
    assert ("web", "signatures_computed") not in again.counters
    assert again.counters[("curated", "signatures_computed")] == 4
    full, full_lines = _run(changed, tmp_path / "full")
    assert again.drops == full.drops and lines == full_lines
    assert again.drops["web/d"] == "near_duplicate" and "web/a" not in again.drops
    # Unchanged fingerprints: nothing recomputed, same decisions.
    third, _ = _run(changed, work, fingerprints={"web": "w1", "curated": "c2"})
    assert ("curated", "signatures_computed") not in third.counters
    assert third.drops == full.drops
    # Other settings invalidate stored signatures even with equal fingerprints.
    fourth, _ = _run(changed, work, DedupConfig(num_perm=64), fingerprints={"web": "w1", "curated": "c2"})
    assert fourth.counters[("web", "signatures_computed")] == 5
    # Without fingerprints every source is recomputed.
    fifth, _ = _run(changed, work)
    assert fifth.counters[("web", "signatures_computed")] == 5
    # A source named in ctx.changed_sources is recomputed even with its old fingerprint.
    ctx = InMemoryPassContext(work, changed)
    ctx.fingerprints = {"web": "w1", "curated": "c2"}
    _run(changed, work, fingerprints={"web": "w1", "curated": "c2"})  # stores now match
    ctx.changed_sources = ["curated"]
    sixth = Dedup(DedupConfig()).run(ctx)
    assert sixth.counters[("curated", "signatures_computed")] == 4
    assert sixth.counters[("web", "signatures_reused")] == 5
    assert sixth.drops == full.drops


@pytest.mark.parametrize("cfg, drops", [
    (DedupConfig(exact=False), {"web/a": "near_duplicate", "web/b2": "near_duplicate",
                                "web/c": "near_duplicate"}),
    (DedupConfig(verify=False), {"web/a": "near_duplicate", "web/b2": "near_duplicate",
                                 "web/c": "exact_duplicate"}),
    (DedupConfig(hash_mode="datasketch"), {"web/a": "near_duplicate", "web/b2": "near_duplicate",
                                           "web/c": "exact_duplicate"}),
    (DedupConfig(threshold=0.99), {"web/c": "exact_duplicate"}),
    (DedupConfig(enabled=False), {}),
], ids=["no-exact", "no-verify", "datasketch", "high-threshold", "disabled"])
def test_switches(golden, tmp_path: Path, cfg: DedupConfig, drops: dict[str, str]) -> None:
    ctx = InMemoryPassContext(tmp_path, golden["docs"])
    assert Dedup(cfg).run(ctx).drops == drops


def test_empty_and_tiny_documents(tmp_path: Path) -> None:
    docs = {"s": [Document("s/1", "s", ""), Document("s/2", "s", "..."), Document("s/3", "s", "Hi"),
                  Document("s/4", "s", "hi!"), Document("s/5", "s", "bye")]}
    result, lines = _run(docs, tmp_path)
    assert result.drops == {"s/2": "exact_duplicate", "s/4": "exact_duplicate"}
    # Without exact dedup, empty documents have no shingles and are never near-duplicates.
    result, _ = _run(docs, tmp_path / "x", DedupConfig(exact=False))
    assert result.drops == {"s/4": "near_duplicate"}


def test_empty_corpus_and_source(tmp_path: Path) -> None:
    result, lines = _run({"a": [], "b": []}, tmp_path)
    assert result.drops == {} and lines == []
    assert result.counters[("a", "documents")] == 0


def test_pass_pickles() -> None:
    stage = Dedup(DedupConfig(priority=("a",), threshold=0.7))
    again = pickle.loads(pickle.dumps(stage))
    assert again.cfg == stage.cfg and (again.bands, again.rows) == (stage.bands, stage.rows)
    assert again.name == "dedup_v1"


def test_configured_bands_rows_are_used() -> None:
    stage = Dedup(DedupConfig(bands=20, rows=5))
    assert (stage.bands, stage.rows) == (20, 5)
    assert Dedup(DedupConfig()).settings_fingerprint != stage.settings_fingerprint


# -- building blocks ---------------------------------------------------------------------------


def test_bucket_pairs_small_buckets_get_every_pair() -> None:
    nodes = np.array([1, 2, 3, 10, 20, 7], np.uint64)
    starts, sizes = group_bounds([np.array([0, 0, 0, 1, 1, 2])])
    pairs = bucket_pairs(nodes, starts, sizes)
    assert pairs.tolist() == [[1, 2], [1, 3], [2, 3], [10, 20]]


def test_bucket_pairs_large_bucket_is_linear_and_connected() -> None:
    k = 200
    nodes = np.arange(k, dtype=np.uint64)
    pairs = bucket_pairs(nodes, np.array([0]), np.array([k]))
    assert len(pairs) <= k * (WINDOW + 1)
    got_nodes, labels = connected_components(pairs)
    assert len(got_nodes) == k and len(set(labels.tolist())) == 1


def test_union_find_and_components() -> None:
    uf = UnionFind(5)
    uf.union(0, 1)
    uf.union(3, 4)
    uf.union(1, 4)
    assert len({uf.find(i) for i in range(5)}) == 2
    pairs = np.array([[5, 9], [9, 12], [30, 31], [12, 5]], np.uint64)
    nodes, labels = connected_components(pairs)
    assert nodes.tolist() == [5, 9, 12, 30, 31]
    assert labels.tolist() == [5, 5, 5, 30, 30]
    shuffled = connected_components(pairs[::-1][:, ::-1].copy())
    assert shuffled[1].tolist() == labels.tolist()


@pytest.mark.parametrize("shape", ["random", "paths", "stars", "descending_path"])
def test_components_equal_union_find(shape: str) -> None:
    """The numpy components against `UnionFind` on graphs of every shape dedup meets: many
    small clusters, long chains (the case that needs the most rounds), hubs, and a chain
    whose nodes come in descending order, with node ids as large as dedup's."""
    rng = np.random.default_rng({"random": 1, "paths": 2, "stars": 3, "descending_path": 4}[shape])
    n = 3000
    if shape == "random":
        pairs = rng.integers(0, n, size=(2500, 2))
    elif shape == "paths":
        perm = rng.permutation(n)
        pairs = np.stack([perm[:-1], perm[1:]], axis=1)[rng.random(n - 1) < 0.97]
    elif shape == "stars":
        hubs = rng.integers(0, 40, size=n)
        pairs = np.stack([hubs, np.arange(n)], axis=1)
    else:
        pairs = np.stack([np.arange(n - 1, 0, -1), np.arange(n - 2, -1, -1)], axis=1)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    big = (np.uint64(3) << np.uint64(40)) | pairs.astype(np.uint64)  # source 3's rows
    nodes, labels = connected_components(big)
    distinct = np.unique(big.ravel())
    index = {v: i for i, v in enumerate(distinct.tolist())}
    uf = UnionFind(len(distinct))
    for x, y in big.tolist():
        uf.union(index[x], index[y])
    smallest: dict[int, int] = {}
    for v in distinct.tolist():
        r = uf.find(index[v])
        smallest[r] = min(smallest.get(r, v), v)
    assert nodes.tolist() == distinct.tolist()
    assert labels.tolist() == [smallest[uf.find(index[v])] for v in distinct.tolist()]
    order = rng.permutation(len(big))  # and whatever the order of the edges
    assert connected_components(big[order][:, ::-1].copy())[1].tolist() == labels.tolist()


def test_survivor_order() -> None:
    assert survivor_order(["a", "b", "c", "d"], ["c", "a"]) == {"c": 0, "a": 1, "b": 2, "d": 2}

