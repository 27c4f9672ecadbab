"""Dedup: the global exact + MinHash pass over every built source (`pile.dedup.Dedup`).

Its decisions go to ``.work/dedup/<source>.drops.npy`` (a drop table, `pile.dedup.droptable`), which the final
phase's workers read for the source they are working on.
"""

from __future__ import annotations

import os
import time
from typing import Any

import pile
from pile.config import to_dict
from pile.executor import Unit
from pile.phases.context import BuildContext
from pile.phases.engine import GLOBAL, Phase, fingerprint
from pile.phases.passes import RunnerPassContext
from pile.phases.record import DedupSummary
from pile.samples import PairSampleTask, SampleSettings, pairs_path


def drops_path(ctx: BuildContext, source: str):
    return ctx.work / "dedup" / f"{source}.drops.npy"


class DedupPhase(Phase):
    name = "dedup"
    label = "dedup"

    def keys(self, ctx: BuildContext) -> list[str]:
        return [GLOBAL] if ctx.cfg.dedup.enabled and ctx.built_sources() else []

    def fingerprint(self, ctx: BuildContext, key: str) -> str:
        upstream = {name: ctx.clean_fingerprint(name) for name in ctx.built_sources()}
        return fingerprint("dedup", pile.__version__, to_dict(ctx.cfg.dedup), upstream,
                           SampleSettings.of(ctx.cfg.report).fingerprint())

    def forced(self, ctx: BuildContext, key: str) -> bool:
        return False  # its fingerprint covers every source's cleaned input

    def present(self, ctx: BuildContext, key: str, payload: dict[str, Any]) -> bool:
        return (all(drops_path(ctx, s).is_file() for s in payload.get("drops", {}))
                and pairs_path(ctx.work).is_file())

    def run(self, ctx: BuildContext, keys: list[str]) -> dict[str, dict[str, Any]]:
        from pile.dedup import Dedup

        built = ctx.built_sources()
        pctx = RunnerPassContext(ctx, built, ctx.out / "dedup", "dedup")
        pctx.changed_sources = [n for n in built if ctx.forced(n) or f"clean:{n}" in ctx.record.rebuilt]
        t0 = time.perf_counter()
        result = Dedup(ctx.cfg.dedup).run(pctx)
        drops = {}
        drops_path(ctx, GLOBAL).parent.mkdir(parents=True, exist_ok=True)
        for name in built:  # written by the worker that decided; the driver only renames
            written = result.drop_files[name]
            os.replace(written.path, drops_path(ctx, name))
            drops[name] = {"removed": written.removed, "sha256": written.sha256}
        counters = {f"{s}\t{k}": n for (s, k), n in sorted(result.counters.items())}
        result.details["source_pairs"] = sample_pairs(ctx)
        return {GLOBAL: {"seconds": round(time.perf_counter() - t0, 3), "counters": counters,
                         "details": result.details, "drops": drops}}

    def load(self, ctx: BuildContext, key: str, payload: dict[str, Any]) -> None:
        counters: dict[str, dict[str, int]] = {}
        for k, n in payload.get("counters", {}).items():
            source, name = k.split("\t", 1)
            counters.setdefault(source, {})[name] = n
        drops = payload.get("drops", {})
        ctx.record.dedup = DedupSummary(details=payload.get("details", {}),
                                        removed={s: d["removed"] for s, d in drops.items()})
        for name in ctx.built_sources():
            ctx.record.put_stats(name, self.name, {"removed": drops.get(name, {}).get("removed", 0),
                                                   "counters": counters.get(name, {})})

    def finish(self, ctx: BuildContext) -> None:
        if ctx.record.dedup is None:  # dedup off: nothing is removed
            ctx.record.dedup = DedupSummary()


def sample_pairs(ctx: BuildContext) -> list[list[Any]]:
    """Pick the duplicate pairs the report shows, on a worker (`pile.samples.PairSampleTask`:
    it streams ``clusters.jsonl``); returns the removed documents per source pair."""
    from pile.dedup import Dedup

    task = PairSampleTask(str(ctx.out / "dedup" / "clusters.jsonl"), str(pairs_path(ctx.work)),
                          SampleSettings.of(ctx.cfg.report), Dedup.name)
    return [r for done in ctx.executor.map(task, [Unit(GLOBAL, 0, ())]) for r in done.result["source_pairs"]]


def drops_fingerprint(ctx: BuildContext, source: str) -> str:
    """What the final phase of `source` depends on from dedup ('' when dedup is off)."""
    if not ctx.cfg.dedup.enabled:
        return ""
    data = ctx.markers.read("dedup", GLOBAL) or {}
    return str(data.get("drops", {}).get(source, {}).get("sha256", ""))


__all__ = ["DedupPhase", "drops_fingerprint", "drops_path"]
