"""Final: drop duplicates -> decontaminate -> scrub PII -> ``docs/<source>/NNNNN.jsonl.zst``.

One unit per checkpoint part. Each worker writes its part's documents, per split, in the
Pile's format, and its PII audit lines (ids and spans, never values); the driver renames
the files into ``docs/``, ``val/docs/`` and ``test/docs/`` in unit order (one folder swap
per split, so a reader never sees half a source) and records their sizes and sha256.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path
from typing import Any

import pile
from pile.config import to_dict
from pile.docs_io import checkpoint_parts, swap_in
from pile.executor import Done, Unit
from pile.phases.context import SPLITS, BuildContext
from pile.phases.dedup import drops_fingerprint, drops_path
from pile.phases.engine import UnitPhase, fingerprint
from pile.phases.heldout import index_path
from pile.phases.plan import part_units
from pile.phases.work import FinalTask, PartResult
from pile.samples import SampleSettings, commit_sample_parts, wanted_ids
from pile.stage import Stage
from pile.stats import PhaseAccounting

DOCS_FILE = "{:05d}.jsonl.zst"


class FinalPhase(UnitPhase):
    name = "final"
    label = "dedup+pii+write"

    def keys(self, ctx: BuildContext) -> list[str]:
        return ctx.built_sources()

    def stages(self, ctx: BuildContext) -> list[Stage]:
        """The stages after the dedup drop: decontamination (before PII, so the audit
        spans refer to the final text), then PII."""
        stages: list[Stage] = []
        if ctx.record.decontam is not None:
            from pile.decontam import Decontaminate

            stages.append(Decontaminate(ctx.cfg.decontam, ctx.cfg.splits, str(index_path(ctx))))
        if ctx.cfg.pii.enabled:
            from pile.pii.scrub import PiiScrubber

            stages.append(PiiScrubber(ctx.cfg.pii))
        return stages

    def fingerprint(self, ctx: BuildContext, key: str) -> str:
        dc = ctx.record.decontam
        return fingerprint("final", pile.__version__, ctx.clean_fingerprint(key), drops_fingerprint(ctx, key),
                           to_dict(ctx.cfg.pii), to_dict(ctx.cfg.output), [s.name for s in self.stages(ctx)],
                           to_dict(ctx.cfg.splits) if ctx.splits_active() else None,
                           [to_dict(ctx.cfg.decontam), dc.sha256] if dc is not None else None,
                           SampleSettings.of(ctx.cfg.report).fingerprint(), self.wanted(ctx).get(key, []))

    def present(self, ctx: BuildContext, key: str, payload: dict[str, Any]) -> bool:
        return (ctx.out / "docs" / key).is_dir()

    def wanted(self, ctx: BuildContext) -> dict[str, list[str]]:
        """Per source, the ids of the duplicate pairs the report shows (`pile.samples`)."""
        return wanted_ids(ctx.work) if ctx.cfg.dedup.enabled else {}

    def plan(self, ctx: BuildContext, keys: list[str]) -> list[Unit]:
        units = []
        for key in keys:
            staging = ctx.staging(self.name, key)
            shutil.rmtree(staging, ignore_errors=True)
            staging.mkdir(parents=True)
            units.extend(part_units(key, checkpoint_parts(ctx.work / "clean" / key)))
        return units

    def task(self, ctx: BuildContext, keys: list[str]) -> FinalTask:
        stages = self.stages(ctx)
        drops = {k: str(drops_path(ctx, k)) for k in keys} if ctx.cfg.dedup.enabled else {}
        return FinalTask({k: stages for k in keys}, drops, {k: str(ctx.staging(self.name, k)) for k in keys},
                         ctx.cfg.splits if ctx.splits_active() else None, ctx.cfg.output.docs_per_file,
                         ctx.cfg.output.zstd_level, ctx.cfg.run.batch_size, SampleSettings.of(ctx.cfg.report),
                         {k: v for k, v in self.wanted(ctx).items() if k in keys})

    def progress_of(self, done: Done) -> tuple[int, int]:
        return done.result.stats.documents_in, done.result.stats.bytes_in

    def commit(self, ctx: BuildContext, key: str, done: list[Done]) -> dict[str, Any]:
        started = time.perf_counter()
        acc = PhaseAccounting(["read", "dedup_v1"] + [s.name for s in self.stages(ctx)])
        staging = ctx.staging(self.name, key)
        parts = SPLITS if ctx.splits_active() else ("train",)
        ready = {}
        for part in parts:
            folder = ctx.split_root(part) / "docs" / key
            ready[part] = folder.with_name(f".{key}.staging")
            shutil.rmtree(ready[part], ignore_errors=True)
            ready[part].mkdir(parents=True)
        counts = dict.fromkeys(parts, 0)
        artifacts: dict[str, list[Any]] = {}
        audit = []
        seconds = 0.0
        for d in done:  # unit order
            result: PartResult = d.result
            acc.add(result.stats)
            seconds += d.seconds
            for rel, (size, sha, _n) in result.parts.items():
                part, name = rel.split("/", 1)
                final_name = DOCS_FILE.format(counts[part])
                counts[part] += 1
                os.replace(staging / part / name, ready[part] / final_name)
                root = "" if part == "train" else f"{part}/"
                artifacts[f"{root}docs/{key}/{final_name}"] = [size, sha]
            if "audit" in result.extra:
                audit.append(staging / result.extra["audit"])
        # The units' audit parts are renamed, in unit order, never copied here: the audit
        # grows with the PII found; the report's worker assembles ``pii/audit.jsonl``.
        audit_ready = audit_dir(ctx, key).with_name(f".{key}.staging")
        shutil.rmtree(audit_ready, ignore_errors=True)
        audit_ready.mkdir(parents=True)
        for i, path in enumerate(audit):
            os.replace(path, audit_ready / f"{i:06d}.audit.jsonl")
        swap_in(audit_ready, audit_dir(ctx, key))
        for part in parts:
            swap_in(ready[part], ctx.split_root(part) / "docs" / key)
        if not ctx.splits_active():
            for part in ("val", "test"):  # a build that had splits before
                shutil.rmtree(ctx.split_root(part) / "docs" / key, ignore_errors=True)
        commit_sample_parts(staging, done, ctx.work / "samples" / self.name / key)
        shutil.rmtree(staging, ignore_errors=True)
        stats = acc.finish()
        stats.seconds = seconds + time.perf_counter() - started
        return {"stats": stats.to_dict(), "artifacts": artifacts}

    def load(self, ctx: BuildContext, key: str, payload: dict[str, Any]) -> None:
        ctx.record.put_stats(key, self.name, payload["stats"])
        ctx.record.artifacts.update(payload.get("artifacts", {}))


def audit_dir(ctx: BuildContext, source: str) -> Path:
    """``.work/pii/<source>/``: the source's PII audit parts, in unit order."""
    return ctx.work / "pii" / source


__all__ = ["DOCS_FILE", "FinalPhase", "audit_dir"]
