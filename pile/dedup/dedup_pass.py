"""The ``dedup_v1`` global pass: exact, then MinHash LSH near-duplicate removal.

Steps (each keeps its intermediates under ``OUT/dedup``; none holds every signature of
the corpus in one process):

1. **Signatures** (parallel, `PassContext.map_to_parts`): for every document, the
   16-byte exact key of its normalised text, its MinHash signature and its LSH band
   keys (`signatures.SignatureFn`), written by the workers as part stores and merged per
   source into ``signatures/<source>/`` (`store.StoreSink`). A source whose store was built with the same settings from the same
   input (``ctx.fingerprints``) is reused, not recomputed.
2. **Exact** duplicates: exact keys partitioned on disk, each partition sorted and
   grouped; every group keeps one survivor. Exact duplicates never enter LSH.
3. **LSH candidates**: the band keys of the remaining documents partitioned on disk
   and grouped the same way; documents sharing a bucket are candidate pairs
   (`partitions.bucket_pairs`), pre-filtered by their MinHash estimate (more than
   four standard deviations below the threshold cannot be a true pair in practice).
4. **Verification** (``verify``): the shingle sets of the candidate documents only are
   recomputed from their text on the workers and spilled to disk; a pair is an edge
   when its exact Jaccard reaches the threshold. Without ``verify`` an edge is a pair
   whose MinHash estimate reaches it.
5. **Clusters**: union-find over the edges (`components`); each cluster keeps the
   document of the most preferred source (``priority``), then the smallest id.

Outputs: ``clusters.jsonl`` (one line per removed document, sorted by id:
``{"id", "duplicate_of", "reason", "jaccard"}``; ``jaccard`` is the MinHash estimate
against the document it duplicates, 1.0 for exact duplicates), the decisions and
per-source counters in the `PassResult`, and the largest clusters in its details.

Incremental rebuilds: the runner sets ``ctx.fingerprints = {source: fingerprint}`` (any
string that changes when the source's cleaned documents change) and may set
``ctx.changed_sources`` (sources to recompute whatever their fingerprint says, e.g. a
forced ``--source`` rebuild). A source not in ``changed_sources`` whose fingerprint and
settings match its stored signatures reuses them; the others are recomputed; clusters
are always re-resolved across all sources, which gives the same decisions as a full
run. Without ``ctx.fingerprints`` every source is recomputed (both attributes are
optional, so `InMemoryPassContext` works as is).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import shutil
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from pile.config import DedupConfig
from pile.dedup.components import connected_components, survivor_order
from pile.dedup.lsh import optimal_params
from pile.dedup.normalize import Normalizer
from pile.dedup.partitions import (BAND_RECORD, EXACT_RECORD, PartitionedFiles, bucket_pairs,
                                   group_bounds, unique_pairs)
from pile.dedup.signatures import ShingleSetFn, SignatureFn, jaccard_estimate
from pile.dedup.store import SourceStore, StoreSink, read_meta
from pile.errors import ConfigError
from pile.stage import GlobalPass, PassContext, PassResult

log = logging.getLogger(__name__)

NODE_SHIFT = 40  # node = source index << 40 | row: 2**40 documents per source
_ROW_MASK = np.uint64((1 << NODE_SHIFT) - 1)
_CHUNK_ROWS = 16384  # store rows per partitioning step: 16384 x 16 bands x 16 B = 4 MiB
TOP_CLUSTERS = 10

EXACT = "exact_duplicate"
NEAR = "near_duplicate"


def normalizer_of(cfg: DedupConfig) -> Normalizer:
    """The `Normalizer` configured by `cfg`."""
    return Normalizer(lowercase=cfg.lowercase, strip_punctuation=cfg.strip_punctuation,
                      normalize_digits=cfg.normalize_digits,
                      normalize_whitespace=cfg.normalize_whitespace)


def lsh_params(cfg: DedupConfig) -> tuple[int, int]:
    """``(bands, rows)``: the configured ones, or the optimum for the threshold."""
    if cfg.bands is not None and cfg.rows is not None:
        return cfg.bands, cfg.rows
    fp_weight, fn_weight = cfg.weights
    return optimal_params(cfg.threshold, cfg.num_perm, fp_weight, fn_weight)


class Dedup(GlobalPass):
    """Exact and MinHash LSH near-duplicate removal across all sources in one pass.

    Args:
        cfg: the ``dedup`` section.

    Raises:
        ConfigError: when the source count exceeds what a node can encode (at `run`).
    """

    name = "dedup_v1"

    def __init__(self, cfg: DedupConfig) -> None:
        self.cfg = cfg
        self.normalizer = normalizer_of(cfg)
        self.bands, self.rows = lsh_params(cfg)

    @property
    def settings_fingerprint(self) -> str:
        """Hash of every setting that changes a stored signature row."""
        c = self.cfg
        settings = {"pass": self.name, "ngram": c.ngram, "num_perm": c.num_perm, "seed": c.seed,
                    "hash_mode": c.hash_mode, "lowercase": c.lowercase,
                    "strip_punctuation": c.strip_punctuation,
                    "normalize_digits": c.normalize_digits,
                    "normalize_whitespace": c.normalize_whitespace,
                    "bands": self.bands, "rows": self.rows}
        return hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()[:16]

    @property
    def prefilter(self) -> float:
        """The MinHash estimate below which a candidate pair is dropped unverified."""
        t = self.cfg.threshold
        if not self.cfg.verify:
            return t
        return max(0.0, t - 4.0 * math.sqrt(t * (1.0 - t) / self.cfg.num_perm) - 1.0 / self.cfg.num_perm)

    # -- the pass -------------------------------------------------------------------------

    def run(self, ctx: PassContext) -> PassResult:
        """Run the pass over every source of `ctx` (see the module docstring)."""
        if not self.cfg.enabled:
            return PassResult()
        sources = list(ctx.sources)
        if len(sources) >= 1 << (64 - NODE_SHIFT):
            raise ConfigError(f"sources: dedup supports fewer than {1 << (64 - NODE_SHIFT)} "
                              f"sources, got {len(sources)}")
        workdir = Path(ctx.workdir)
        workdir.mkdir(parents=True, exist_ok=True)
        seconds: dict[str, float] = {}
        counters: Counter[tuple[str, str]] = Counter()

        t0 = time.perf_counter()
        stores = self._signatures(ctx, workdir / "signatures", counters)
        seconds["signatures"] = time.perf_counter() - t0

        # removed node -> (survivor node, reason, estimated Jaccard)
        removed: dict[int, tuple[int, str, float]] = {}
        t0 = time.perf_counter()
        if self.cfg.exact:
            self._exact(stores, workdir / "work" / "exact", removed)
        seconds["exact"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        pairs, est = self._candidates(stores, workdir / "work" / "bands", removed)
        seconds["lsh"] = time.perf_counter() - t0
        candidates = len(pairs)

        t0 = time.perf_counter()
        if self.cfg.verify and len(pairs):
            exact_j = self._verify(ctx, stores, workdir / "work" / "verify", pairs)
            keep = exact_j >= self.cfg.threshold
        else:
            keep = est >= self.cfg.threshold
        edges = pairs[keep]
        seconds["verify"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        clusters = self._near(stores, edges, removed)
        seconds["components"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        result = self._result(stores, removed, counters, workdir)
        seconds["output"] = time.perf_counter() - t0
        shutil.rmtree(workdir / "work", ignore_errors=True)
        result.details.update({
            "pass": self.name, "threshold": self.cfg.threshold, "bands": self.bands,
            "rows": self.rows, "num_perm": self.cfg.num_perm, "ngram": self.cfg.ngram,
            "hash_mode": self.cfg.hash_mode, "verify": self.cfg.verify,
            "prefilter": round(self.prefilter, 4), "candidate_pairs": candidates,
            "edges": int(len(edges)), "near_clusters": clusters,
            "seconds": {k: round(v, 3) for k, v in seconds.items()},
        })
        log.info("dedup: %d exact and %d near duplicates removed (%d candidate pairs, %d edges)",
                 sum(1 for v in removed.values() if v[1] == EXACT),
                 sum(1 for v in removed.values() if v[1] == NEAR), candidates, len(edges))
        return result

    # -- step 1: signatures ---------------------------------------------------------------

    def _signatures(self, ctx: PassContext, root: Path, counters: Counter[tuple[str, str]]
                    ) -> list[SourceStore]:
        fingerprints: dict[str, str] = dict(getattr(ctx, "fingerprints", None) or {})
        changed = getattr(ctx, "changed_sources", None)
        forced = set(changed) if changed is not None else set()
        settings = self.settings_fingerprint
        todo = []
        for source in ctx.sources:
            meta = read_meta(root, source)
            given = fingerprints.get(source)
            if (meta is not None and given is not None and meta.get("input") == given
                    and meta.get("settings") == settings and source not in forced):
                counters[(source, "signatures_reused")] += int(meta["count"])
            else:
                todo.append(source)
        if todo:
            log.info("dedup: computing signatures of %s", ", ".join(todo))
            fn = SignatureFn(self.normalizer, self.cfg.ngram, self.cfg.num_perm, self.cfg.seed,
                             self.cfg.hash_mode, self.bands, self.rows, self.cfg.batch_size)
            # Written where they are computed: a part store per unit, merged per source
            # on the workers (`StoreSink`); only counts come back.
            sink = StoreSink(self.cfg.num_perm, self.bands,
                             {s: {"settings": settings, "input": fingerprints.get(s)} for s in todo})
            counts = ctx.map_to_parts(fn, sink, todo, lambda source: root / source)
            for source in todo:
                counters[(source, "signatures_computed")] += counts.get(source, 0)
        return [SourceStore(root, source) for source in ctx.sources]

    # -- helpers over nodes ---------------------------------------------------------------

    def _gather(self, stores: list[SourceStore], nodes: np.ndarray) -> np.ndarray:
        """Signatures of `nodes` (any order), read from the stores."""
        out = np.empty((len(nodes), self.cfg.num_perm), dtype=np.uint32)
        src = (nodes >> np.uint64(NODE_SHIFT)).astype(np.int64)
        rows = (nodes & _ROW_MASK).astype(np.int64)
        for si in np.unique(src):
            mask = src == si
            out[mask] = stores[si].signatures[rows[mask]]
        return out

    def _ids(self, stores: list[SourceStore], nodes: np.ndarray) -> dict[int, str]:
        """Document ids of `nodes`."""
        out: dict[int, str] = {}
        nodes = np.unique(np.asarray(nodes, dtype=np.uint64))
        src = (nodes >> np.uint64(NODE_SHIFT)).astype(np.int64)
        for si in np.unique(src):
            sel = nodes[src == si]
            ids = stores[si].ids((sel & _ROW_MASK).astype(np.int64))
            out.update(zip(sel.tolist(), ids))
        return out

    @staticmethod
    def _survivor(members: list[int], ids: dict[int, str], ranks: list[int]) -> int:
        """The member of the most preferred source, then of the smallest id."""
        return min(members, key=lambda n: (ranks[n >> NODE_SHIFT], ids[n]))

    def _ranks(self, stores: list[SourceStore]) -> list[int]:
        order = survivor_order([s.source for s in stores], self.cfg.priority)
        return [order[s.source] for s in stores]

    @staticmethod
    def _node_chunks(stores: list[SourceStore]):
        for si, store in enumerate(stores):
            for lo in range(0, store.count, _CHUNK_ROWS):
                hi = min(lo + _CHUNK_ROWS, store.count)
                nodes = (np.uint64(si) << np.uint64(NODE_SHIFT)) | np.arange(lo, hi, dtype=np.uint64)
                yield si, store, lo, hi, nodes

    # -- step 2: exact --------------------------------------------------------------------

    def _exact(self, stores: list[SourceStore], folder: Path,
               removed: dict[int, tuple[int, str, float]]) -> None:
        files = PartitionedFiles(folder, self.cfg.partitions, EXACT_RECORD)
        for _si, store, lo, hi, nodes in self._node_chunks(stores):
            keys = np.ascontiguousarray(store.exact_keys[lo:hi])
            recs = np.empty(hi - lo, EXACT_RECORD)
            recs["key"] = keys[:, :8].copy().view("<u8").ravel()
            recs["lo"] = keys[:, 8:].copy().view("<u8").ravel()
            recs["node"] = nodes
            files.append(recs)
        ranks = self._ranks(stores)
        for part in range(self.cfg.partitions):
            recs = files.read(part)
            if recs.size < 2:
                continue
            recs = recs[np.lexsort((recs["node"], recs["lo"], recs["key"]))]
            starts, sizes = group_bounds([recs["key"], recs["lo"]])
            multi = sizes > 1
            if not multi.any():
                continue
            groups = [recs["node"][s:s + n].tolist() for s, n in zip(starts[multi], sizes[multi])]
            ids = self._ids(stores, np.concatenate([np.asarray(g, np.uint64) for g in groups]))
            for members in groups:
                keep = self._survivor(members, ids, ranks)
                for node in members:
                    if node != keep:
                        removed[node] = (keep, EXACT, 1.0)
        files.remove()

    # -- step 3: LSH candidates -----------------------------------------------------------

    def _candidates(self, stores: list[SourceStore], folder: Path,
                    removed: dict[int, tuple[int, str, float]]) -> tuple[np.ndarray, np.ndarray]:
        gone = np.array(sorted(removed), dtype=np.uint64)
        files = PartitionedFiles(folder, self.cfg.partitions, BAND_RECORD)
        for _si, store, lo, hi, nodes in self._node_chunks(stores):
            ok = np.asarray(store.nshingles[lo:hi]) > 0
            if gone.size:
                ok &= ~np.isin(nodes, gone)
            if not ok.any():
                continue
            keys = np.asarray(store.band_keys[lo:hi])[ok]
            recs = np.empty(keys.size, BAND_RECORD)
            recs["key"] = keys.ravel()
            recs["node"] = np.repeat(nodes[ok], self.bands)
            files.append(recs)
        cut = self.prefilter
        kept: list[np.ndarray] = []
        for part in range(self.cfg.partitions):
            recs = files.read(part)
            if recs.size < 2:
                continue
            recs = recs[np.lexsort((recs["node"], recs["key"]))]
            starts, sizes = group_bounds([recs["key"]])
            pairs = bucket_pairs(recs["node"], starts, sizes)
            if len(pairs):
                est = self._estimate(stores, pairs)
                kept.append(pairs[est >= cut])
        files.remove()
        if not kept:
            return np.empty((0, 2), np.uint64), np.empty(0)
        pairs = unique_pairs(np.concatenate(kept))
        return pairs, self._estimate(stores, pairs)

    def _estimate(self, stores: list[SourceStore], pairs: np.ndarray) -> np.ndarray:
        out = np.empty(len(pairs))
        for lo in range(0, len(pairs), _CHUNK_ROWS):
            chunk = pairs[lo:lo + _CHUNK_ROWS]
            out[lo:lo + len(chunk)] = jaccard_estimate(self._gather(stores, chunk[:, 0]),
                                                       self._gather(stores, chunk[:, 1]))
        return out

    # -- step 4: verification -------------------------------------------------------------

    def _verify(self, ctx: PassContext, stores: list[SourceStore], folder: Path,
                pairs: np.ndarray) -> np.ndarray:
        """Exact Jaccard of each pair's shingle sets, recomputed from the text."""
        involved = np.unique(pairs.ravel())
        ids = self._ids(stores, involved)
        node_of = {doc_id: node for node, doc_id in ids.items()}
        src_idx = np.unique((involved >> np.uint64(NODE_SHIFT)).astype(np.int64))
        wanted_sources = [stores[i].source for i in src_idx.tolist()]
        fn = ShingleSetFn(self.normalizer, self.cfg.ngram, frozenset(node_of))
        folder.mkdir(parents=True, exist_ok=True)
        index_nodes: list[int] = []
        index_off: list[int] = []
        index_len: list[int] = []
        offset = 0
        with open(folder / "shingles.u64", "wb") as fh:
            for _source, rows in ctx.map_batches(fn, wanted_sources):
                for row in rows:
                    node = node_of.get(row["id"])
                    if node is None:
                        continue
                    blob = row["shingles"]
                    fh.write(blob)
                    index_nodes.append(node)
                    index_off.append(offset)
                    index_len.append(len(blob) // 8)
                    offset += len(blob) // 8
        order = np.argsort(np.asarray(index_nodes, np.uint64), kind="stable")
        nodes_sorted = np.asarray(index_nodes, np.uint64)[order]
        offs = np.asarray(index_off, np.int64)[order]
        lens = np.asarray(index_len, np.int64)[order]
        # A plain ndarray view of the mapping: slicing a memmap object costs ~5 us a call.
        shingles = (np.asarray(np.memmap(folder / "shingles.u64", dtype="<u8", mode="r"))
                    if offset else np.empty(0, np.uint64))
        ia = np.searchsorted(nodes_sorted, pairs[:, 0])
        ib = np.searchsorted(nodes_sorted, pairs[:, 1])
        out = np.zeros(len(pairs))
        t = self.cfg.threshold
        for k in range(len(pairs)):
            a_i, b_i = int(ia[k]), int(ib[k])
            if a_i >= len(nodes_sorted) or b_i >= len(nodes_sorted):
                continue  # a document that vanished between the passes: no edge
            la, lb = int(lens[a_i]), int(lens[b_i])
            if la == 0 or lb == 0 or min(la, lb) < t * max(la, lb):
                continue  # the size ratio bounds the Jaccard from above
            a = shingles[offs[a_i]:offs[a_i] + la]
            b = shingles[offs[b_i]:offs[b_i] + lb]
            pos = np.searchsorted(b, a)
            pos[pos == lb] = lb - 1
            inter = int(np.count_nonzero(b[pos] == a))
            out[k] = inter / (la + lb - inter)
        del shingles
        shutil.rmtree(folder, ignore_errors=True)
        return out

    # -- step 5: clusters -----------------------------------------------------------------

    def _near(self, stores: list[SourceStore], edges: np.ndarray,
              removed: dict[int, tuple[int, str, float]]) -> int:
        nodes, labels = connected_components(edges)
        if nodes.size == 0:
            return 0
        order = np.lexsort((nodes, labels))
        nodes, labels = nodes[order], labels[order]
        starts, sizes = group_bounds([labels])
        ids = self._ids(stores, nodes)
        ranks = self._ranks(stores)
        dropped: list[int] = []
        keepers: list[int] = []
        for s, n in zip(starts.tolist(), sizes.tolist()):
            members = nodes[s:s + n].tolist()
            keep = self._survivor(members, ids, ranks)
            for node in members:
                if node != keep:
                    dropped.append(node)
                    keepers.append(keep)
        est = self._estimate(stores, np.stack([np.asarray(dropped, np.uint64),
                                               np.asarray(keepers, np.uint64)], axis=1))
        for node, keep, j in zip(dropped, keepers, est.tolist()):
            removed[node] = (keep, NEAR, j)
        return len(starts)

    # -- outputs --------------------------------------------------------------------------

    def _result(self, stores: list[SourceStore], removed: dict[int, tuple[int, str, float]],
                counters: Counter[tuple[str, str]], workdir: Path) -> PassResult:
        nodes = np.array(sorted(set(removed) | {v[0] for v in removed.values()}), np.uint64)
        ids = self._ids(stores, nodes)
        sizes_by_source: dict[int, np.ndarray] = {}
        for si, store in enumerate(stores):
            counters[(store.source, "documents")] += store.count
        drops: dict[str, str] = {}
        lines = []
        for node, (keep, reason, j) in removed.items():
            doc_id = ids[node]
            drops[doc_id] = reason
            si = node >> NODE_SHIFT
            if si not in sizes_by_source:
                sizes_by_source[si] = stores[si].nbytes
            source = stores[si].source
            counters[(source, f"{reason}s")] += 1
            counters[(source, f"{reason}_bytes")] += int(sizes_by_source[si][node & ((1 << NODE_SHIFT) - 1)])
            lines.append((doc_id, ids[keep], reason, round(float(j), 4)))
        lines.sort()
        tmp = workdir / "clusters.jsonl.tmp"
        with open(tmp, "w", encoding="utf-8") as fh:
            for doc_id, keep_id, reason, j in lines:
                fh.write(json.dumps({"id": doc_id, "duplicate_of": keep_id, "reason": reason,
                                     "jaccard": j}, ensure_ascii=False) + "\n")
        tmp.replace(workdir / "clusters.jsonl")
        return PassResult(drops=drops, counters=dict(counters),
                          details={"largest_clusters": self._largest(stores, removed, ids)})

    def _largest(self, stores: list[SourceStore], removed: dict[int, tuple[int, str, float]],
                 ids: dict[int, str]) -> list[dict[str, Any]]:
        """The biggest final clusters: each removed document follows its chain to a kept one."""
        def root(node: int) -> int:
            while node in removed:
                node = removed[node][0]
            return node

        members: dict[int, list[int]] = defaultdict(list)
        for node in removed:
            members[root(node)].append(node)
        top = sorted(members, key=lambda r: (-len(members[r]), ids[r]))[:TOP_CLUSTERS]
        out = []
        for r in top:
            by_source = Counter(stores[n >> NODE_SHIFT].source for n in members[r] + [r])
            reasons = Counter(removed[n][1] for n in members[r])
            out.append({"survivor": ids[r], "size": len(members[r]) + 1,
                        "exact": reasons.get(EXACT, 0), "near": reasons.get(NEAR, 0),
                        "sources": dict(sorted(by_source.items())),
                        "examples": sorted(ids[n] for n in members[r])[:5]})
        return out
