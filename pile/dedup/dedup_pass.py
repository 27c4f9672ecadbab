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
5. **Clusters**: connected components of the edges (`components`); each cluster keeps the
   document of the most preferred source (``priority``), then the smallest id.

Steps 2 to 5 run on the workers (`resolve.Resolution`, through `PassContext.call` and
`call_each`: routing, partitions and verification in parallel units, the final components
on one), with the verification's shingle sets written by the workers that compute them:
the driver only sequences the steps and receives counts, so its work does not grow with
the corpus.

Outputs: ``clusters.jsonl`` (one line per removed document, sorted by id:
``{"id", "duplicate_of", "reason", "jaccard"}``; ``jaccard`` is the MinHash estimate
against the document it duplicates, 1.0 for exact duplicates), ``drops/<source>.npy``
(the drop tables of `PassResult.drop_files`, `pile.dedup.droptable`), per-source counters in the
`PassResult`, and the largest clusters in its details.

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
import time
from collections import Counter
from functools import partial
from pathlib import Path

from pile.config import DedupConfig
from pile.dedup.lsh import optimal_params
from pile.dedup.normalize import Normalizer
from pile.dedup.droptable import EXACT, NEAR
from pile.dedup.resolve import NODE_SHIFT, Resolution, ShingleSink
from pile.dedup.signatures import ShingleSetFn, SignatureFn
from pile.dedup.store import StoreSink, read_meta
from pile.errors import ConfigError
from pile.stage import DropFile, GlobalPass, PassContext, PassResult

log = logging.getLogger(__name__)

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


def partition_groups(partitions: int, units: int) -> list[range]:
    """``range(partitions)`` cut into at most `units` consecutive groups."""
    units = max(1, min(units, partitions))
    bounds = [partitions * i // units for i in range(units + 1)]
    return [range(lo, hi) for lo, hi in zip(bounds, bounds[1:])]


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
        self._signatures(ctx, workdir / "signatures", counters)
        seconds["signatures"] = time.perf_counter() - t0

        steps = Resolution(self.cfg, self.bands, self.rows, self.prefilter, str(workdir), sources)
        t0 = time.perf_counter()
        ctx.call(steps.start)
        ctx.call_each([partial(steps.route, i, *chunk) for i, chunk in enumerate(steps.chunks())])
        seconds["route"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        # Partitions are grouped into a few units per worker: each partition's output is
        # its own file, so the grouping never changes a byte, and a small build does not
        # pay a unit's submission for each of 64 tiny partitions.
        groups = partition_groups(self.cfg.partitions, 4 * max(1, ctx.workers))
        if self.cfg.exact:
            ctx.call_each([partial(steps.exact_partitions, parts) for parts in groups])
        ctx.call(steps.gone)
        seconds["exact"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        ctx.call_each([partial(steps.band_partitions, parts) for parts in groups])
        found = ctx.call(steps.collect)
        seconds["lsh"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        if self.cfg.verify and found.candidates:
            fn = ShingleSetFn(self.normalizer, self.cfg.ngram, str(steps.wanted_path))
            ctx.map_to_parts(fn, ShingleSink(), found.wanted_sources, steps.shingles_dir)
        seconds["shingles"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        if self.cfg.verify and found.candidates:
            units = ctx.call(steps.verify_plan)
            ctx.call_each([partial(steps.verify_pairs, unit) for unit in range(units)])
        seconds["verify"] = time.perf_counter() - t0
        decided = ctx.call(steps.decide)
        seconds.update(decided.details.pop("seconds"))
        counters.update(decided.counters)
        removed_exact = sum(n for (_s, k), n in counters.items() if k == f"{EXACT}s")
        removed_near = sum(n for (_s, k), n in counters.items() if k == f"{NEAR}s")
        details = dict(decided.details)
        details.update({
            "pass": self.name, "threshold": self.cfg.threshold, "bands": self.bands,
            "rows": self.rows, "num_perm": self.cfg.num_perm, "ngram": self.cfg.ngram,
            "hash_mode": self.cfg.hash_mode, "verify": self.cfg.verify,
            "prefilter": round(self.prefilter, 4),
            "seconds": {k: round(v, 3) for k, v in seconds.items()},
        })
        log.info("dedup: %d exact and %d near duplicates removed (%d candidate pairs, %d edges)",
                 removed_exact, removed_near, found.candidates, details["edges"])
        return PassResult(drop_files={s: DropFile(*f) for s, f in decided.drop_files.items()},
                          counters=dict(counters), details=details,
                          decisions=str(Path(ctx.workdir) / "clusters.jsonl"))

    # -- step 1: signatures ---------------------------------------------------------------

    def _signatures(self, ctx: PassContext, root: Path, counters: Counter[tuple[str, str]]) -> None:
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


__all__ = ["Dedup", "lsh_params", "normalizer_of"]
