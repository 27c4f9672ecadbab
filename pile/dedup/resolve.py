"""The global steps of ``dedup_v1`` after the signatures, run on the workers.

`Resolution` holds what the steps need (settings, the store root, the sources) and is
shipped to the workers through `PassContext.call_each`; the steps hand their state to each
other through files under ``OUT/dedup/work/``, so nothing that grows with the corpus (keys,
pairs, decisions, document ids) ever reaches the driver. In order:

- `route` (one unit per `ROUTE_ROWS` store rows, in parallel): exact keys and band keys
  routed to ``partitions`` files per unit (the map side of a GRACE hash partitioning);
- `exact_partition` (per partition; a unit holds a few, in parallel): exact groups, one survivor each;
- `gone`: the exact duplicates merged and sorted (they never enter LSH);
- `band_partition` (per partition, likewise): candidate pairs of the buckets,
  exact duplicates left out, pre-filtered by their MinHash estimate;
- `collect`: the unique candidate pairs and the ids of the documents
  verification needs (``wanted.json``); it returns counts and the sources involved;
- then the runner maps `signatures.ShingleSetFn` over those sources and a `ShingleSink`
  writes the candidates' shingle sets where they are computed;
- `verify_plan`: an index of the candidates' shingle sets (node -> source, offset,
  length), then `verify_pairs` (one unit per `VERIFY_PAIRS` candidate pairs, in
  parallel): each pair's exact Jaccard, from the sets memory-mapped;
- `decide` (one worker): clusters (connected components of the edges) and the outputs:
  ``clusters.jsonl`` and one ``drops/<source>.npy`` per source (a drop table,
  `pile.dedup.droptable`), hashed where written.

A partition holds about ``documents x bands / partitions`` records in memory, never every
signature of the corpus; the same records reach the same partition whatever the routing
units, so the decisions do not depend on how many workers ran the steps.
"""

from __future__ import annotations

import heapq
import json
import os
import shutil
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from pile.config import DedupConfig
from pile.dedup.components import connected_components, survivor_order
from pile.dedup.droptable import EXACT, NEAR, REASONS, DropTableWriter
from pile.dedup.partitions import (BAND_RECORD, EXACT_RECORD, PartitionedFiles, bucket_pairs,
                                   group_bounds, unique_pairs)
from pile.dedup.signatures import jaccard_estimate
from pile.dedup.store import SourceStore
from pile.docs_io import atomic_file
from pile.errors import PileError
from pile.manifest import sha256_file

NODE_SHIFT = 40  # node = source index << 40 | row: 2**40 documents per source
ROW_MASK = np.uint64((1 << NODE_SHIFT) - 1)
CHUNK_ROWS = 16384  # store rows per partitioning step: 16384 x 16 bands x 16 B = 4 MiB
ROUTE_ROWS = 1 << 20  # store rows per routing unit
VERIFY_PAIRS = 1 << 18  # candidate pairs per verification unit (a few seconds of work)
TOP_CLUSTERS = 10
RUN_LINES = 1 << 20  # clusters.jsonl lines sorted in memory at once (a few hundred MB)

# A removed document: its node, the node it duplicates, the reason (0 exact, 1 near), Jaccard.
REMOVED_RECORD = np.dtype([("node", "<u8"), ("keep", "<u8"), ("reason", "u1"), ("j", "<f8")])


@dataclass
class Found:
    """What `Resolution.collect` returns to the driver (counts only)."""

    candidates: int = 0
    wanted_sources: list[str] = field(default_factory=list)


@dataclass
class Decided:
    """What `Resolution.decide` returns to the driver.

    Attributes:
        drop_files: source -> (path of its drop table, documents removed, sha256).
        counters: (source, key) -> number.
        details: facts for the report (edges, clusters, the largest clusters, seconds).
    """

    drop_files: dict[str, tuple[str, int, str]] = field(default_factory=dict)
    counters: dict[tuple[str, str], int] = field(default_factory=dict)
    details: dict[str, Any] = field(default_factory=dict)


class Resolution:
    """The global steps over published signature stores (picklable, cheap to ship).

    Args:
        cfg: the ``dedup`` section.
        bands / rows: the LSH banding.
        prefilter: the MinHash estimate below which a candidate pair is dropped unverified.
        workdir: the pass's folder (``OUT/dedup``): stores under ``signatures/``.
        sources: the sources, in configured order (a node's source index is its position).
    """

    def __init__(self, cfg: DedupConfig, bands: int, rows: int, prefilter: float,
                 workdir: str, sources: list[str]) -> None:
        self.cfg = cfg
        self.bands = bands
        self.rows = rows
        self.prefilter = prefilter
        self.workdir = str(workdir)
        self.sources = list(sources)

    # -- where the steps keep their state -------------------------------------------------

    @property
    def work(self) -> Path:
        return Path(self.workdir) / "work"

    @property
    def wanted_path(self) -> Path:
        """The ids of the documents in candidate pairs (`signatures.ShingleSetFn` reads it)."""
        return self.work / "wanted.json"

    def shingles_dir(self, source: str) -> Path:
        return self.work / "verify" / source

    def _stores(self) -> list[SourceStore]:
        root = Path(self.workdir) / "signatures"
        return [SourceStore(root, source) for source in self.sources]

    # -- step 2 and 3, in parallel steps ------------------------------------------------

    def chunks(self) -> list[tuple[int, int, int]]:
        """(source index, first row, end row) of each routing unit: `ROUTE_ROWS` rows at
        most, so a large corpus routes on every worker. Reads only the stores' meta."""
        out = []
        for si, store in enumerate(self._stores()):
            out.extend((si, lo, min(lo + ROUTE_ROWS, store.count)) for lo in range(0, store.count, ROUTE_ROWS))
        return out

    def start(self) -> None:
        """Empty ``work/`` (a killed run's intermediates are never reused)."""
        shutil.rmtree(self.work, ignore_errors=True)
        self.work.mkdir(parents=True)

    def route(self, unit: int, si: int, lo: int, hi: int) -> int:
        """Write rows ``lo:hi`` of store `si` as exact-key and band-key records into this
        unit's partition files (``work/exact/<unit>/``, ``work/bands/<unit>/``)."""
        stores = self._stores()
        store = stores[si]
        exact = PartitionedFiles(self.work / "exact" / f"{unit:06d}", self.cfg.partitions, EXACT_RECORD)
        bands = PartitionedFiles(self.work / "bands" / f"{unit:06d}", self.cfg.partitions, BAND_RECORD)
        for start in range(lo, hi, CHUNK_ROWS):
            end = min(start + CHUNK_ROWS, hi)
            nodes = (np.uint64(si) << np.uint64(NODE_SHIFT)) | np.arange(start, end, dtype=np.uint64)
            if self.cfg.exact:
                keys = np.ascontiguousarray(store.exact_keys[start:end])
                recs = np.empty(end - start, EXACT_RECORD)
                recs["key"] = keys[:, :8].copy().view("<u8").ravel()
                recs["lo"] = keys[:, 8:].copy().view("<u8").ravel()
                recs["node"] = nodes
                exact.append(recs)
            ok = np.asarray(store.nshingles[start:end]) > 0  # an empty text has no bands
            if ok.any():
                keys = np.asarray(store.band_keys[start:end])[ok]
                recs = np.empty(keys.size, BAND_RECORD)
                recs["key"] = keys.ravel()
                recs["node"] = np.repeat(nodes[ok], self.bands)
                bands.append(recs)
        return hi - lo

    def _partition(self, kind: str, part: int, dtype: np.dtype) -> np.ndarray:
        """Every routing unit's records of one partition."""
        files = sorted((self.work / kind).glob(f"*/part-{part:05d}.bin"))
        if not files:
            return np.empty(0, dtype)
        return np.concatenate([np.fromfile(f, dtype=dtype) for f in files])

    def exact_partition(self, part: int) -> int:
        """Group one partition's exact keys; every group keeps one survivor. Writes the
        removed documents (``work/exact-removed/part-NNNNN.bin``); returns their count."""
        stores = self._stores()
        removed: dict[int, tuple[int, str, float]] = {}
        recs = self._partition("exact", part, EXACT_RECORD)
        if recs.size >= 2:
            recs = recs[np.lexsort((recs["node"], recs["lo"], recs["key"]))]
            starts, sizes = group_bounds([recs["key"], recs["lo"]])
            multi = sizes > 1
            if multi.any():
                groups = [recs["node"][s:s + n].tolist() for s, n in zip(starts[multi], sizes[multi])]
                ids = self._ids(stores, np.concatenate([np.asarray(g, np.uint64) for g in groups]))
                ranks = self._ranks(stores)
                for members in groups:
                    keep = self._survivor(members, ids, ranks)
                    for node in members:
                        if node != keep:
                            removed[node] = (keep, EXACT, 1.0)
        folder = self.work / "exact-removed"
        folder.mkdir(parents=True, exist_ok=True)
        _save_removed(folder / f"part-{part:05d}.bin", removed)
        return len(removed)

    def exact_partitions(self, parts: range) -> int:
        """`exact_partition` for each of `parts` (one unit)."""
        return sum(self.exact_partition(p) for p in parts)

    def band_partitions(self, parts: range) -> int:
        """`band_partition` for each of `parts` (one unit)."""
        return sum(self.band_partition(p) for p in parts)

    def gone(self) -> int:
        """The exact duplicates, merged and sorted (``work/gone.u64``): they never enter LSH."""
        parts = sorted((self.work / "exact-removed").glob("part-*.bin"))
        nodes = np.concatenate([np.fromfile(p, dtype=REMOVED_RECORD)["node"] for p in parts]) if parts \
            else np.empty(0, np.uint64)
        nodes = np.sort(nodes)
        nodes.astype("<u8").tofile(self.work / "gone.u64")
        return int(nodes.size)

    def band_partition(self, part: int) -> int:
        """Candidate pairs of one partition of band keys, exact duplicates left out, kept
        when their MinHash estimate passes the prefilter (``work/pairs/part-NNNNN.npy``)."""
        stores = self._stores()
        recs = self._partition("bands", part, BAND_RECORD)
        gone_path = self.work / "gone.u64"
        if recs.size and gone_path.stat().st_size:
            gone = np.asarray(np.memmap(gone_path, dtype="<u8", mode="r"))
            at = np.minimum(np.searchsorted(gone, recs["node"]), gone.size - 1)
            recs = recs[gone[at] != recs["node"]]
        pairs = np.empty((0, 2), np.uint64)
        if recs.size >= 2:
            recs = recs[np.lexsort((recs["node"], recs["key"]))]
            starts, sizes = group_bounds([recs["key"]])
            pairs = bucket_pairs(recs["node"], starts, sizes)
            if len(pairs):
                pairs = pairs[self._estimate(stores, pairs) >= self.prefilter]
        folder = self.work / "pairs"
        folder.mkdir(parents=True, exist_ok=True)
        np.save(folder / f"part-{part:05d}.npy", pairs)
        return int(len(pairs))

    def collect(self) -> Found:
        """The candidate pairs of every partition (unique, with their MinHash estimates)
        and the ids verification needs (``wanted.json``)."""
        stores = self._stores()
        found = Found()
        kept = [np.load(p) for p in sorted((self.work / "pairs").glob("part-*.npy"))]
        kept = [k for k in kept if len(k)]
        pairs = unique_pairs(np.concatenate(kept)) if kept else np.empty((0, 2), np.uint64)
        est = self._estimate(stores, pairs) if len(pairs) else np.empty(0)
        found.candidates = len(pairs)
        np.save(self.work / "pairs.npy", pairs)
        np.save(self.work / "estimates.npy", est)
        for kind in ("exact", "bands", "pairs"):
            shutil.rmtree(self.work / kind, ignore_errors=True)
        involved = np.unique(pairs.ravel())
        ids = self._ids(stores, involved)
        self.wanted_path.write_text(json.dumps(sorted(ids.values()), ensure_ascii=False), encoding="utf-8")
        src_idx = np.unique((involved >> np.uint64(NODE_SHIFT)).astype(np.int64))
        found.wanted_sources = [stores[i].source for i in src_idx.tolist()]
        return found

    # -- step 4, 5 and the outputs --------------------------------------------------------

    def decide(self) -> Decided:
        """Verify the candidates, resolve clusters, write the decisions; remove ``work/``."""
        stores = self._stores()
        seconds: dict[str, float] = {}
        exact = np.concatenate([np.empty(0, REMOVED_RECORD)]
                               + [np.fromfile(part, dtype=REMOVED_RECORD)
                                  for part in sorted((self.work / "exact-removed").glob("part-*.bin"))])
        pairs = np.load(self.work / "pairs.npy")
        if self.cfg.verify and len(pairs):
            parts = sorted((self.work / "verified").glob("part-*.npy"))
            jaccard = np.concatenate([np.load(p) for p in parts]) if parts else np.empty(0)
            if len(jaccard) != len(pairs):  # a unit's output missing: never decide without it
                raise PileError(f"dedup: {len(jaccard)} verified pairs of {len(pairs)} candidates "
                                f"in {self.work / 'verified'}; build again (the pass starts over)")
        else:
            jaccard = np.load(self.work / "estimates.npy")
        edges = pairs[jaccard >= self.cfg.threshold]
        t0 = time.perf_counter()
        near, clusters = self._near(stores, edges)
        # Exact duplicates never enter LSH, so no document is in both; were one there, the
        # near decision would stand (as a later decision replaces an earlier one).
        if near.size:
            exact = exact[~np.isin(exact["node"], near["node"])]
        removed = np.concatenate([exact, near])
        removed = removed[np.argsort(removed["node"], kind="stable")]
        seconds["components"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        decided = self._outputs(stores, removed)
        seconds["output"] = time.perf_counter() - t0
        shutil.rmtree(self.work, ignore_errors=True)
        decided.details.update({"candidate_pairs": int(len(pairs)), "edges": int(len(edges)),
                                "near_clusters": clusters, "seconds": seconds})
        return decided

    # -- helpers over nodes ---------------------------------------------------------------

    def _gather(self, stores: list[SourceStore], nodes: np.ndarray) -> np.ndarray:
        """Signatures of `nodes` (any order), read from the stores."""
        out = np.empty((len(nodes), self.cfg.num_perm), dtype=np.uint32)
        src = (nodes >> np.uint64(NODE_SHIFT)).astype(np.int64)
        rows = (nodes & ROW_MASK).astype(np.int64)
        for si in np.unique(src):
            mask = src == si
            out[mask] = stores[si].signatures[rows[mask]]
        return out

    @staticmethod
    def _ids(stores: list[SourceStore], nodes: np.ndarray) -> dict[int, str]:
        """Document ids of `nodes`."""
        out: dict[int, str] = {}
        nodes = np.unique(np.asarray(nodes, dtype=np.uint64))
        src = (nodes >> np.uint64(NODE_SHIFT)).astype(np.int64)
        for si in np.unique(src):
            sel = nodes[src == si]
            ids = stores[si].ids((sel & ROW_MASK).astype(np.int64))
            out.update(zip(sel.tolist(), ids))
        return out

    @staticmethod
    def _survivor(members: list[int], ids: dict[int, str], ranks: list[int]) -> int:
        """The member of the most preferred source, then of the smallest id."""
        return min(members, key=lambda n: (ranks[n >> NODE_SHIFT], ids[n]))

    def _ranks(self, stores: list[SourceStore]) -> list[int]:
        order = survivor_order([s.source for s in stores], self.cfg.priority)
        return [order[s.source] for s in stores]

    def _estimate(self, stores: list[SourceStore], pairs: np.ndarray) -> np.ndarray:
        out = np.empty(len(pairs))
        for lo in range(0, len(pairs), CHUNK_ROWS):
            chunk = pairs[lo:lo + CHUNK_ROWS]
            out[lo:lo + len(chunk)] = jaccard_estimate(self._gather(stores, chunk[:, 0]),
                                                       self._gather(stores, chunk[:, 1]))
        return out

    # -- step 4: verification -------------------------------------------------------------

    def verify_plan(self) -> int:
        """Index the candidates' shingle sets (``work/verified/``: per candidate node, in
        node order, its source, offset and length in the source's set file) and return the
        number of verification units: `VERIFY_PAIRS` pairs each, so verification runs on
        every worker and each reads only the sets its pairs need, memory-mapped."""
        stores = self._stores()
        pairs = np.load(self.work / "pairs.npy", mmap_mode="r")
        involved = np.unique(np.asarray(pairs).ravel())
        nodes, src, offs, lens = [], [], [], []
        for si, store in enumerate(stores):
            folder = self.shingles_dir(store.source)
            if not (folder / "ids.json").is_file():
                continue
            ids = json.loads((folder / "ids.json").read_text(encoding="utf-8"))
            lengths = np.fromfile(folder / "lengths.i64", dtype="<i8")
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
            mine = involved[(involved >> np.uint64(NODE_SHIFT)) == np.uint64(si)]
            mine_ids = store.ids((mine & ROW_MASK).astype(np.int64))
            if mine_ids == ids:  # the usual case: both in corpus order, one set per node
                picked = np.arange(len(ids))
                found = mine
            else:  # a document that vanished between the passes has no set: no edge
                node_of = dict(zip(mine_ids, mine.tolist()))
                picked = np.array([k for k, i in enumerate(ids) if i in node_of], np.int64)
                found = np.array([node_of[ids[k]] for k in picked.tolist()], np.uint64)
            nodes.append(found)
            src.append(np.full(len(found), si, np.int32))
            offs.append(starts[picked])
            lens.append(lengths[picked])
        folder = self.work / "verified"
        folder.mkdir(parents=True, exist_ok=True)
        cat = {"nodes": (nodes, np.uint64), "src": (src, np.int32), "offs": (offs, np.int64),
               "lens": (lens, np.int64)}
        arrays = {k: np.concatenate(v) if v else np.empty(0, t) for k, (v, t) in cat.items()}
        order = np.argsort(arrays["nodes"], kind="stable")
        for name, array in arrays.items():
            np.save(folder / f"{name}.npy", array[order])
        return -(-len(pairs) // VERIFY_PAIRS)

    def verify_pairs(self, unit: int) -> int:
        """Exact Jaccard of candidate pairs ``unit * VERIFY_PAIRS`` onwards, from the sets
        `ShingleSink` wrote, into ``work/verified/part-<unit>.npy``; returns the count."""
        folder = self.work / "verified"
        pairs = np.asarray(np.load(self.work / "pairs.npy", mmap_mode="r")[
            unit * VERIFY_PAIRS:(unit + 1) * VERIFY_PAIRS])
        # Plain views of the memory maps: a memmap's own indexing is a Python call per item.
        index = {name: np.asarray(np.load(folder / f"{name}.npy", mmap_mode="r"))
                 for name in ("nodes", "src", "offs", "lens")}
        nodes = index["nodes"]
        sets: dict[int, np.ndarray] = {}

        def shingles(si: int) -> np.ndarray:
            if si not in sets:
                path = self.shingles_dir(self.sources[si]) / "shingles.u64"
                size = path.stat().st_size
                sets[si] = (np.asarray(np.memmap(path, dtype="<u8", mode="r")) if size
                            else np.empty(0, np.uint64))
            return sets[si]

        ia = np.searchsorted(nodes, pairs[:, 0])  # n (past the end) when the index is empty
        ib = np.searchsorted(nodes, pairs[:, 1])
        out = np.zeros(len(pairs))
        t = self.cfg.threshold
        n = len(nodes)
        for k in range(len(pairs)):
            a_i, b_i = int(ia[k]), int(ib[k])
            if a_i >= n or b_i >= n or nodes[a_i] != pairs[k, 0] or nodes[b_i] != pairs[k, 1]:
                continue  # a document that vanished between the passes: no edge
            la, lb = int(index["lens"][a_i]), int(index["lens"][b_i])
            if la == 0 or lb == 0 or min(la, lb) < t * max(la, lb):
                continue  # the size ratio bounds the Jaccard from above
            oa, ob = int(index["offs"][a_i]), int(index["offs"][b_i])
            a = shingles(int(index["src"][a_i]))[oa:oa + la]
            b = shingles(int(index["src"][b_i]))[ob:ob + lb]
            pos = np.searchsorted(b, a)
            pos[pos == lb] = lb - 1
            inter = int(np.count_nonzero(b[pos] == a))
            out[k] = inter / (la + lb - inter)
        np.save(folder / f"part-{unit:05d}.npy", out)
        return int(len(out))

    # -- step 5: clusters -----------------------------------------------------------------

    def _near(self, stores: list[SourceStore], edges: np.ndarray) -> tuple[np.ndarray, int]:
        """The near duplicates (`REMOVED_RECORD`s, each against its cluster's survivor) and
        the number of clusters. The clusters are numpy arrays; survivors are chosen a chunk
        of whole clusters (about `CHUNK_ROWS` documents) at a time, so the ids held are a
        chunk's, not every clustered document's."""
        nodes, labels = connected_components(edges)
        if nodes.size == 0:
            return np.empty(0, REMOVED_RECORD), 0
        order = np.lexsort((nodes, labels))
        nodes, labels = nodes[order], labels[order]
        starts, sizes = group_bounds([labels])
        ranks = self._ranks(stores)
        chunks = []
        first = 0
        while first < len(starts):
            # whole clusters from `first` on, up to about CHUNK_ROWS documents (at least one)
            last = max(first + 1, int(np.searchsorted(starts, starts[first] + CHUNK_ROWS, "right")) - 1)
            lo, hi = int(starts[first]), int(starts[last - 1] + sizes[last - 1])
            ids = self._ids(stores, nodes[lo:hi])
            dropped: list[int] = []
            keepers: list[int] = []
            for s, n in zip(starts[first:last].tolist(), sizes[first:last].tolist()):
                members = nodes[s:s + n].tolist()
                keep = self._survivor(members, ids, ranks)
                for node in members:
                    if node != keep:
                        dropped.append(node)
                        keepers.append(keep)
            recs = np.empty(len(dropped), REMOVED_RECORD)
            recs["node"] = np.asarray(dropped, np.uint64)
            recs["keep"] = np.asarray(keepers, np.uint64)
            chunks.append(recs)
            first = last
        near = np.concatenate(chunks)
        near["reason"] = REASONS.index(NEAR)
        near["j"] = self._estimate(stores, np.stack([near["node"], near["keep"]], axis=1))
        return near, len(starts)

    # -- outputs --------------------------------------------------------------------------

    def _outputs(self, stores: list[SourceStore], removed: np.ndarray) -> Decided:
        """The counters, one drop table per source and ``clusters.jsonl``, from `removed`
        (`REMOVED_RECORD`s sorted by node), in chunks of `CHUNK_ROWS` documents: what is
        held is the records (25 bytes a removed document), a chunk's ids and, for the
        sorted ``clusters.jsonl``, one run of `RUN_LINES` lines."""
        counters: Counter[tuple[str, str]] = Counter()
        for store in stores:
            counters[(store.source, "documents")] += store.count
        src = (removed["node"] >> np.uint64(NODE_SHIFT)).astype(np.int64)
        rows = (removed["node"] & ROW_MASK).astype(np.int64)
        workdir = Path(self.workdir)
        lines = _SortedLines(workdir / "clusters.jsonl")
        drop_files = {}
        try:
            for si, store in enumerate(stores):
                lo, hi = (int(x) for x in np.searchsorted(src, [si, si + 1]))
                sizes = np.asarray(store.nbytes)[rows[lo:hi]]
                codes = removed["reason"][lo:hi]
                for code, reason in enumerate(REASONS):
                    picked = codes == code
                    if picked.any():
                        counters[(store.source, f"{reason}s")] += int(picked.sum())
                        counters[(store.source, f"{reason}_bytes")] += int(sizes[picked].sum())
                path = workdir / "drops" / f"{store.source}.npy"
                table = DropTableWriter(path)
                for start in range(lo, hi, CHUNK_ROWS):
                    chunk = removed[start:min(start + CHUNK_ROWS, hi)]
                    doc_ids = store.ids(rows[start:start + len(chunk)])
                    table.add(doc_ids, chunk["reason"])
                    keep_ids = self._ids(stores, chunk["keep"])
                    for doc_id, keep, code, j in zip(doc_ids, chunk["keep"].tolist(),
                                                     chunk["reason"].tolist(), chunk["j"].tolist()):
                        lines.add(doc_id, json.dumps({"id": doc_id, "duplicate_of": keep_ids[keep],
                                                      "reason": REASONS[code], "jaccard": round(j, 4)},
                                                     ensure_ascii=False))
                drop_files[store.source] = (str(path), table.close(), sha256_file(path))
            lines.close()
        finally:
            lines.cleanup()
        return Decided(drop_files=drop_files, counters=dict(counters),
                       details={"largest_clusters": self._largest(stores, removed)})

    def _largest(self, stores: list[SourceStore], removed: np.ndarray) -> list[dict[str, Any]]:
        """The biggest final clusters: each removed document follows its chain to a kept one
        (an exact duplicate of a document that is itself a near duplicate: two steps)."""
        if removed.size == 0:
            return []
        nodes, keeps = removed["node"], removed["keep"]
        root = keeps.copy()
        for _ in range(64):
            at = np.minimum(np.searchsorted(nodes, root), nodes.size - 1)
            chained = nodes[at] == root
            if not chained.any():
                break
            root[chained] = keeps[at[chained]]
        else:
            raise PileError("dedup: a chain of duplicates does not end at a kept document")
        roots, size = np.unique(root, return_counts=True)
        # the largest first, then the smallest survivor id: ids are fetched only for the
        # roots tied at the cut, a chunk at a time
        cut = np.sort(size)[-min(TOP_CLUSTERS, size.size)]
        bigger = roots[size > cut]
        tied = roots[size == cut]
        need = TOP_CLUSTERS - bigger.size
        smallest: list[tuple[str, int]] = []
        for start in range(0, tied.size, CHUNK_ROWS):
            chunk = self._ids(stores, tied[start:start + CHUNK_ROWS])
            smallest = heapq.nsmallest(need, smallest + [(i, n) for n, i in chunk.items()])
        top_nodes = np.concatenate([bigger, np.asarray([n for _i, n in smallest], np.uint64)])
        ids = self._ids(stores, top_nodes)
        count = dict(zip(roots.tolist(), size.tolist()))
        out = []
        for r in sorted(top_nodes.tolist(), key=lambda r: (-count[r], ids[r])):
            mine = root == np.uint64(r)
            members = nodes[mine]
            reasons = Counter(REASONS[c] for c in removed["reason"][mine].tolist())
            by_source = Counter(stores[n >> NODE_SHIFT].source for n in members.tolist() + [r])
            examples: list[str] = []
            for start in range(0, members.size, CHUNK_ROWS):
                chunk = self._ids(stores, members[start:start + CHUNK_ROWS])
                examples = heapq.nsmallest(5, examples + list(chunk.values()))
            out.append({"survivor": ids[r], "size": int(members.size) + 1,
                        "exact": reasons.get(EXACT, 0), "near": reasons.get(NEAR, 0),
                        "sources": dict(sorted(by_source.items())), "examples": examples})
        return out


class _SortedLines:
    """``clusters.jsonl`` sorted by document id, written from lines that come in node
    order: runs of `RUN_LINES` lines are sorted in memory and spilled, then merged (an
    external sort), so the file never needs every removed id in memory at once."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._run: list[tuple[str, str]] = []
        self._spilled: list[Path] = []

    def add(self, doc_id: str, line: str) -> None:
        self._run.append((doc_id, line))
        if len(self._run) >= RUN_LINES:
            self._spill()

    def _spill(self) -> None:
        self._run.sort()
        run = self.path.with_name(f".{self.path.name}.run{len(self._spilled):05d}")
        with open(run, "w", encoding="utf-8", newline="\n") as fh:
            for _doc_id, line in self._run:
                fh.write(line + "\n")
        self._spilled.append(run)
        self._run = []

    def close(self) -> None:
        if self._spilled and self._run:
            self._spill()
        self._run.sort()
        with atomic_file(self.path) as out:
            if not self._spilled:
                for _doc_id, line in self._run:
                    out.write((line + "\n").encode("utf-8"))
                return
            runs = [open(r, encoding="utf-8") for r in self._spilled]
            try:
                for line in heapq.merge(*runs, key=lambda ln: json.loads(ln)["id"]):
                    out.write(line.encode("utf-8"))
            finally:
                for fh in runs:
                    fh.close()
        self._run = []

    def cleanup(self) -> None:
        for run in self._spilled:
            run.unlink(missing_ok=True)


class ShingleSink:
    """Writes the candidates' shingle sets where they are computed (`PassContext.map_to_parts`).

    A part (and, merged in unit order, a source's set) is a folder of ``ids.json`` (the
    document ids, in corpus order), ``lengths.i64`` (shingles per document) and
    ``shingles.u64`` (each document's sorted unique shingle hashes, concatenated)."""

    def write(self, folder: Path, batches: Iterable[list[dict[str, Any]]]) -> int:
        folder.mkdir(parents=True, exist_ok=True)
        ids: list[str] = []
        with open(folder / "shingles.u64", "wb") as data, open(folder / "lengths.i64", "wb") as lengths:
            for rows in batches:
                for row in rows:
                    blob = row["shingles"]
                    data.write(blob)
                    lengths.write(np.int64(len(blob) // 8).astype("<i8").tobytes())
                    ids.append(row["id"])
        (folder / "ids.json").write_text(json.dumps(ids, ensure_ascii=False), encoding="utf-8")
        return len(ids)

    def merge(self, parts: list[Path], dest: Path, source: str) -> int:
        tmp = dest.with_name(f".{dest.name}.merge")
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
        ids: list[str] = []
        with open(tmp / "shingles.u64", "wb") as data, open(tmp / "lengths.i64", "wb") as lengths:
            for part in parts:
                ids.extend(json.loads((part / "ids.json").read_text(encoding="utf-8")))
                for name, out in (("shingles.u64", data), ("lengths.i64", lengths)):
                    with open(part / name, "rb") as fh:
                        shutil.copyfileobj(fh, out, 1 << 22)
        (tmp / "ids.json").write_text(json.dumps(ids, ensure_ascii=False), encoding="utf-8")
        shutil.rmtree(dest, ignore_errors=True)
        os.replace(tmp, dest)
        return len(ids)


def _save_removed(path: Path, removed: dict[int, tuple[int, str, float]]) -> None:
    recs = np.empty(len(removed), REMOVED_RECORD)
    for i, (node, (keep, reason, j)) in enumerate(sorted(removed.items())):
        recs[i] = (node, keep, REASONS.index(reason), j)
    recs.tofile(path)


__all__ = ["Decided", "Found", "NODE_SHIFT", "Resolution", "ShingleSink"]
