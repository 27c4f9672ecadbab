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
- `decide` (one worker): verification, clusters (union-find over every edge) and the
  outputs: ``clusters.jsonl`` and one ``drops/<source>.json`` per source (id -> reason),
  hashed where written.

A partition holds about ``documents x bands / partitions`` records in memory, never every
signature of the corpus; the same records reach the same partition whatever the routing
units, so the decisions do not depend on how many workers ran the steps.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from pile.config import DedupConfig
from pile.dedup.components import connected_components, survivor_order
from pile.dedup.partitions import (BAND_RECORD, EXACT_RECORD, PartitionedFiles, bucket_pairs,
                                   group_bounds, unique_pairs)
from pile.dedup.signatures import jaccard_estimate
from pile.dedup.store import SourceStore
from pile.docs_io import atomic_file, write_json
from pile.manifest import sha256_file

NODE_SHIFT = 40  # node = source index << 40 | row: 2**40 documents per source
ROW_MASK = np.uint64((1 << NODE_SHIFT) - 1)
CHUNK_ROWS = 16384  # store rows per partitioning step: 16384 x 16 bands x 16 B = 4 MiB
ROUTE_ROWS = 1 << 20  # store rows per routing unit
TOP_CLUSTERS = 10

EXACT = "exact_duplicate"
NEAR = "near_duplicate"
# A removed document: its node, the node it duplicates, the reason (0 exact, 1 near), Jaccard.
REMOVED_RECORD = np.dtype([("node", "<u8"), ("keep", "<u8"), ("reason", "u1"), ("j", "<f8")])
REASONS = (EXACT, NEAR)


@dataclass
class Found:
    """What `Resolution.collect` returns to the driver (counts only)."""

    candidates: int = 0
    wanted_sources: list[str] = field(default_factory=list)


@dataclass
class Decided:
    """What `Resolution.decide` returns to the driver.

    Attributes:
        drop_files: source -> (path of its ``id -> reason`` JSON, documents removed, sha256).
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
        removed: dict[int, tuple[int, str, float]] = {}
        for part in sorted((self.work / "exact-removed").glob("part-*.bin")):
            removed.update(_load_removed(part))
        pairs = np.load(self.work / "pairs.npy")
        est = np.load(self.work / "estimates.npy")
        t0 = time.perf_counter()
        if self.cfg.verify and len(pairs):
            keep = self._verify(stores, pairs) >= self.cfg.threshold
        else:
            keep = est >= self.cfg.threshold
        edges = pairs[keep]
        seconds["verify"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        clusters = self._near(stores, edges, removed)
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

    def _verify(self, stores: list[SourceStore], pairs: np.ndarray) -> np.ndarray:
        """Exact Jaccard of each pair's shingle sets, from the sets `ShingleSink` wrote."""
        node_of = {doc_id: node for node, doc_id in self._ids(stores, np.unique(pairs.ravel())).items()}
        index_nodes: list[int] = []
        index_off: list[int] = []
        index_len: list[int] = []
        blobs: list[np.ndarray] = []
        offset = 0
        for store in stores:
            folder = self.shingles_dir(store.source)
            if not (folder / "ids.json").is_file():
                continue
            lengths = np.fromfile(folder / "lengths.i64", dtype="<i8")
            ids = json.loads((folder / "ids.json").read_text(encoding="utf-8"))
            data = np.fromfile(folder / "shingles.u64", dtype="<u8")
            starts = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
            for doc_id, start, n in zip(ids, starts.tolist(), lengths.tolist()):
                node = node_of.get(doc_id)
                if node is None:
                    continue
                index_nodes.append(node)
                index_off.append(offset + start)
                index_len.append(n)
            blobs.append(data)
            offset += int(data.size)
        order = np.argsort(np.asarray(index_nodes, np.uint64), kind="stable")
        nodes_sorted = np.asarray(index_nodes, np.uint64)[order]
        offs = np.asarray(index_off, np.int64)[order]
        lens = np.asarray(index_len, np.int64)[order]
        shingles = np.concatenate(blobs) if blobs else np.empty(0, np.uint64)
        ia = np.searchsorted(nodes_sorted, pairs[:, 0])
        ib = np.searchsorted(nodes_sorted, pairs[:, 1])
        out = np.zeros(len(pairs))
        t = self.cfg.threshold
        for k in range(len(pairs)):
            a_i, b_i = int(ia[k]), int(ib[k])
            if (a_i >= len(nodes_sorted) or b_i >= len(nodes_sorted)
                    or nodes_sorted[a_i] != pairs[k, 0] or nodes_sorted[b_i] != pairs[k, 1]):
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

    def _outputs(self, stores: list[SourceStore], removed: dict[int, tuple[int, str, float]]) -> Decided:
        nodes = np.array(sorted(set(removed) | {v[0] for v in removed.values()}), np.uint64)
        ids = self._ids(stores, nodes)
        counters: Counter[tuple[str, str]] = Counter()
        for store in stores:
            counters[(store.source, "documents")] += store.count
        by_source: dict[str, dict[str, str]] = {s.source: {} for s in stores}
        sizes_by_source: dict[int, np.ndarray] = {}
        lines = []
        for node, (keep, reason, j) in removed.items():
            si = node >> NODE_SHIFT
            if si not in sizes_by_source:
                sizes_by_source[si] = stores[si].nbytes
            source = stores[si].source
            by_source[source][ids[node]] = reason
            counters[(source, f"{reason}s")] += 1
            counters[(source, f"{reason}_bytes")] += int(sizes_by_source[si][node & ((1 << NODE_SHIFT) - 1)])
            lines.append((ids[node], ids[keep], reason, round(float(j), 4)))
        lines.sort()
        workdir = Path(self.workdir)
        # Streamed (one line per removed document), so not through `write_json`.
        with atomic_file(workdir / "clusters.jsonl") as fh:
            for doc_id, keep_id, reason, j in lines:
                fh.write((json.dumps({"id": doc_id, "duplicate_of": keep_id, "reason": reason,
                                      "jaccard": j}, ensure_ascii=False) + "\n").encode("utf-8"))
        drop_files = {}
        for source, decided in by_source.items():
            path = workdir / "drops" / f"{source}.json"
            write_json(path, decided)
            drop_files[source] = (str(path), len(decided), sha256_file(path))
        return Decided(drop_files=drop_files, counters=dict(counters),
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


def _load_removed(path: Path) -> dict[int, tuple[int, str, float]]:
    recs = np.fromfile(path, dtype=REMOVED_RECORD)
    return {int(r["node"]): (int(r["keep"]), REASONS[int(r["reason"])], float(r["j"])) for r in recs}


__all__ = ["Decided", "Found", "NODE_SHIFT", "Resolution", "ShingleSink"]
