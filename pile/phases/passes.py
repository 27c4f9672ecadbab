"""The `PassContext` a global pass sees in a build: every built source's checkpoints,
mapped on the executor's workers one checkpoint part per unit."""

from __future__ import annotations

from pathlib import Path
import shutil
from typing import Any, Callable, Iterable, Iterator

from pile.docs_io import checkpoint_parts, read_checkpoint
from pile.document import Document
from pile.phases.context import BuildContext
from pile.phases.plan import part_units
from pile.phases.engine import GLOBAL
from pile.phases.work import CallTask, PartSinkTask, part_name
from pile.progress import PhaseProgress
from pile.executor import Unit
from pile.stage import BatchFunction, PartSink


class RunnerPassContext:
    """Implements `pile.stage.PassContext` over a build's cleaned checkpoints.

    Args:
        ctx: the build.
        sources: the sources the pass sees (configured order).
        workdir: the pass's own folder.
        label: what its progress bars say (``dedup: signatures``).
    """

    def __init__(self, ctx: BuildContext, sources: list[str], workdir: Path, label: str) -> None:
        self.ctx = ctx
        self.sources = list(sources)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workers = ctx.executor.workers
        self.label = label
        self.changed_sources: list[str] = list(sources)
        self.fingerprints = {s: ctx.clean_fingerprint(s) for s in sources}

    def parts(self, source: str) -> list[Path]:
        return checkpoint_parts(self.ctx.work / "clean" / source)

    def iter_documents(self, source: str) -> Iterator[Document]:
        for part in self.parts(source):
            yield from read_checkpoint(part)

    def call(self, fn: Callable[[], Any]) -> Any:
        return self.call_each([fn])[0]

    def call_each(self, fns: list[Callable[[], Any]]) -> list[Any]:
        units = [Unit(GLOBAL, i, ()) for i in range(len(fns))]
        return [done.result for done in self.ctx.executor.map(CallTask(fns), units)]

    def map_to_parts(self, fn: BatchFunction, sink: PartSink, sources: Iterable[str],
                     dest: Callable[[str], Path]) -> dict[str, int]:
        names = list(sources)
        staging = self.ctx.work / "stage" / self.workdir.name
        shutil.rmtree(staging, ignore_errors=True)
        units = [u for s in names for u in part_units(s, self.parts(s))]
        task = PartSinkTask(fn, sink, str(staging), self.ctx.cfg.run.batch_size)
        step = getattr(fn, "label", type(fn).__name__)
        with PhaseProgress(f"{self.label}: {step}", len(units), self.ctx.cfg.run.progress) as bar:
            for done in self.ctx.executor.map(task, units):
                self.ctx.executor.stats.wrote(done.node, 1)
                bar.advance_unit(done.result, 0)
        # One merge per source, on the workers too: the driver names the parts, in order.
        merges = [Unit(s, i, tuple(str(staging / s / part_name(u.index, "")) for u in units if u.source == s),
                       extra=(("dest", str(dest(s))), ("merge", True)))
                  for i, s in enumerate(names)]
        counts = {}
        for done in self.ctx.executor.map(task, merges):
            counts[done.unit.source] = done.result
        shutil.rmtree(staging, ignore_errors=True)
        return counts


__all__ = ["RunnerPassContext"]

