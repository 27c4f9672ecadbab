"""Read + clean: upstream files -> the cleaning chain -> ``.work/clean/<source>/part-*.parquet``.

Each unit's worker reads its files (or its byte range of one large file), runs the
source's cleaning stages and writes its checkpoint part itself; the driver renames the
parts into place in unit order and merges the units' counts.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from typing import Any

import pile
from pile.config import Config, SourceConfig, to_dict
from pile.docs_io import swap_in
from pile.executor import Done, Unit
from pile.phases.context import BuildContext
from pile.phases.engine import UnitPhase, fingerprint
from pile.phases.plan import SourcePlan, plan_source
from pile.phases.work import CleanTask, PartResult
from pile.samples import SampleSettings, commit_sample_parts
from pile.stage import Stage
from pile.stats import PhaseAccounting

log = logging.getLogger(__name__)

CHECKPOINT_PART = "part-{:05d}.parquet"


def clean_stages(cfg: Config, src: SourceConfig) -> list[Stage]:
    """The per-document cleaning stages for one source (its overrides applied)."""
    clean = cfg.clean_for(src)
    if not clean.enabled:
        return []
    from pile.clean import build_clean_stages

    return build_clean_stages(clean)


class CleanPhase(UnitPhase):
    name = "clean"
    label = "read+clean"

    def __init__(self) -> None:
        self._plans: dict[str, SourcePlan] = {}
        self._chains: dict[str, list[Stage]] = {}

    def keys(self, ctx: BuildContext) -> list[str]:
        return ctx.selected()

    def _plan(self, ctx: BuildContext, key: str) -> SourcePlan:
        if key not in self._plans:
            scfg = ctx.cfg.source(key)
            self._plans[key] = plan_source(ctx.sources[key], ctx.sources[key].listing(),
                                           ctx.cfg.run.unit_bytes, scfg.max_bytes, ctx.cfg.run.min_units)
            self._chains[key] = clean_stages(ctx.cfg, scfg)
        return self._plans[key]

    def fingerprint(self, ctx: BuildContext, key: str) -> str:
        scfg = ctx.cfg.source(key)
        plan = self._plan(ctx, key)
        # the files' (path, size, mtime) from the plan's own stat: one per file, not two
        return fingerprint("clean", pile.__version__, to_dict(scfg), to_dict(ctx.cfg.clean_for(scfg)),
                           [s.name for s in self._chains[key]], plan.stats,
                           ctx.cfg.run.batch_size, ctx.cfg.run.unit_bytes, ctx.cfg.run.min_units,
                           SampleSettings.of(ctx.cfg.report).fingerprint())

    def present(self, ctx: BuildContext, key: str, payload: dict[str, Any]) -> bool:
        return (ctx.work / "clean" / key).is_dir()

    def plan(self, ctx: BuildContext, keys: list[str]) -> list[Unit]:
        units = []
        for key in keys:
            staging = ctx.staging(self.name, key)
            shutil.rmtree(staging, ignore_errors=True)  # parts of a killed run: never committed
            staging.mkdir(parents=True)
            units.extend(self._plan(ctx, key).units)
        return units

    def task(self, ctx: BuildContext, keys: list[str]) -> CleanTask:
        return CleanTask({k: ctx.sources[k] for k in keys}, {k: self._chains[k] for k in keys},
                         {k: str(ctx.staging(self.name, k)) for k in keys}, ctx.cfg.run.batch_size,
                         SampleSettings.of(ctx.cfg.report))

    def progress_of(self, done: Done) -> tuple[int, int]:
        return done.result.stats.documents_in, done.result.stats.bytes_in

    def commit(self, ctx: BuildContext, key: str, done: list[Done]) -> dict[str, Any]:
        started = time.perf_counter()
        acc = PhaseAccounting(["read"] + [s.name for s in self._chains[key]])
        staging = ctx.staging(self.name, key)
        final = ctx.work / "clean" / key
        ready = final.with_name(f".{key}.staging")
        shutil.rmtree(ready, ignore_errors=True)
        ready.mkdir(parents=True)
        n = 0
        seconds = 0.0
        for d in done:  # unit order
            result: PartResult = d.result
            acc.add(result.stats)
            seconds += d.seconds
            for name in result.parts:
                os.replace(staging / name, ready / CHECKPOINT_PART.format(n))
                n += 1
        for failure in ctx.record.download_failures.get(key, []):
            acc.file_failed(failure["file"], failure["reason"])
        swap_in(ready, final)
        commit_sample_parts(staging, done, ctx.work / "samples" / self.name / key)
        shutil.rmtree(staging, ignore_errors=True)
        stats = acc.finish()
        plan = self._plan(ctx, key)
        stats.files = len(plan.stats)
        stats.raw_bytes = plan.raw_bytes
        # the units' seconds summed over workers, plus the commit on the driver
        stats.seconds = seconds + time.perf_counter() - started
        if stats.documents_in == 0:
            log.warning("source %s produced no documents", key)
        return {"stats": stats.to_dict(), "parts": n, "units": len(done)}

    def load(self, ctx: BuildContext, key: str, payload: dict[str, Any]) -> None:
        ctx.record.put_stats(key, self.name, payload["stats"])


__all__ = ["CHECKPOINT_PART", "CleanPhase", "clean_stages"]
