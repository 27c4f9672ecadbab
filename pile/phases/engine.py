"""The phase contract and the one runner that drives every phase.

A build is a list of phases (`pile.build.PHASES`). Each `Phase` says, per key (a source
name, or ``_all`` for a global pass):

- `keys`: what it works on in this build;
- `fingerprint`: the hash of everything its output depends on (inputs, config, versions);
- `run`: do the work for the keys that are not up to date (a `UnitPhase` does it as
  `plan` units, run its `task` on the executor's workers, `commit` each key's parts in
  unit order; the global passes run their own steps);
- `load`: put a finished key's payload (fresh, or read back from its marker) into the
  typed `BuildRecord` that the next phases and the report read.

`PhaseRunner` does the rest once for all of them: skip a key whose marker holds the
same fingerprint (unless ``--source`` forces it), run the others, write the markers
(``.work/<phase>/<key>.done.json``) only after the commit, and note what was rebuilt
or reused. A killed build therefore restarts at the first key without a marker.
"""

from __future__ import annotations

import abc
import hashlib
import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Iterable

from pile.docs_io import write_json
from pile.executor import Done, Unit, UnitTask
from pile.heap import release_free_memory
from pile.progress import PhaseProgress

if TYPE_CHECKING:
    from pile.phases.context import BuildContext

log = logging.getLogger(__name__)

GLOBAL = "_all"  # the key of a whole-corpus phase


def fingerprint(*parts: Any) -> str:
    """sha256 of the canonical JSON of `parts`.

    Paths of files whose names are not valid UTF-8 arrive as surrogate escapes; they are
    hashed by their original bytes (surrogateescape) rather than failing the build.
    """
    blob = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8", "surrogateescape")).hexdigest()


def file_fingerprint(files: Iterable[Path]) -> list[tuple[str, int, int]]:
    """(path, size, mtime) of input files: cheap, and changes when a file does."""
    out = []
    for f in files:
        st = f.stat()
        out.append((str(f), st.st_size, st.st_mtime_ns))
    return out


class Markers:
    """``.work/<phase>/<key>.done.json``: a finished key's fingerprint and payload."""

    def __init__(self, work: Path) -> None:
        self.work = work

    def path(self, phase: str, key: str) -> Path:
        return self.work / phase / f"{key}.done.json"

    def read(self, phase: str, key: str) -> dict[str, Any] | None:
        path = self.path(phase, key)
        if not path.is_file():
            return None
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None

    def load(self, phase: str, key: str, fp: str) -> dict[str, Any] | None:
        """The marker's payload (what `save` was given) if it holds fingerprint `fp`."""
        data = self.read(phase, key)
        if data is None or data.get("fingerprint") != fp:
            return None
        return {k: v for k, v in data.items() if k != "fingerprint"}

    def save(self, phase: str, key: str, fp: str, payload: dict[str, Any]) -> None:
        write_json(self.path(phase, key), {**payload, "fingerprint": fp})

    def fingerprint_of(self, phase: str, key: str) -> str:
        data = self.read(phase, key)
        return "" if data is None else str(data.get("fingerprint", ""))


class Phase(abc.ABC):
    """One phase of the build (see the module docstring for the contract).

    Attributes:
        name: the marker folder and the ``rebuilt``/``reused`` prefix (``clean``).
        label: the progress bar's label.
    """

    name: ClassVar[str] = "phase"
    label: ClassVar[str] = "phase"
    tracked: ClassVar[bool] = True  # False: no markers, runs every build (downloads)

    @abc.abstractmethod
    def keys(self, ctx: BuildContext) -> list[str]:
        """The keys this build runs the phase for (empty: the phase is off)."""

    @abc.abstractmethod
    def fingerprint(self, ctx: BuildContext, key: str) -> str:
        """The hash of everything `key`'s output depends on."""

    def forced(self, ctx: BuildContext, key: str) -> bool:
        """Rerun even with a matching marker (``--source key``)."""
        return ctx.forced(key)

    def present(self, ctx: BuildContext, key: str, payload: dict[str, Any]) -> bool:
        """Whether a finished key's outputs are still on disk (a marker alone is not enough)."""
        return True

    @abc.abstractmethod
    def run(self, ctx: BuildContext, keys: list[str]) -> dict[str, dict[str, Any]]:
        """Do the work for `keys`; return each key's payload (saved in its marker)."""

    @abc.abstractmethod
    def load(self, ctx: BuildContext, key: str, payload: dict[str, Any]) -> None:
        """Put `key`'s payload into `ctx.record` (for a fresh or a reused key alike)."""

    def finish(self, ctx: BuildContext) -> None:
        """Aggregate work after every key is loaded (tables over all sources)."""


class UnitPhase(Phase):
    """A phase that is one map over units: `plan` them, run `task` on the executor's
    workers, `commit` each key's results in unit order (read+clean, final)."""

    def run(self, ctx: BuildContext, keys: list[str]) -> dict[str, dict[str, Any]]:
        units = self.plan(ctx, keys)
        task = self.task(ctx, keys)
        by_key: dict[str, list[Done]] = {k: [] for k in keys}
        with PhaseProgress(self.label, len(units), ctx.cfg.run.progress) as bar:
            for done in ctx.executor.map(task, units):
                by_key[done.unit.source].append(done)
                ctx.executor.stats.wrote(done.node, len(getattr(done.result, "parts", ())))
                bar.advance_unit(*self.progress_of(done))
        return {key: self.commit(ctx, key, by_key[key]) for key in keys}

    @abc.abstractmethod
    def plan(self, ctx: BuildContext, keys: list[str]) -> list[Unit]:
        """The units of work for `keys` (depends on the inputs and config, never on workers)."""

    @abc.abstractmethod
    def task(self, ctx: BuildContext, keys: list[str]) -> UnitTask:
        """The picklable task the workers run on every unit."""

    @abc.abstractmethod
    def commit(self, ctx: BuildContext, key: str, done: list[Done]) -> dict[str, Any]:
        """Move `key`'s staged parts into place (in unit order); return its payload."""

    def progress_of(self, done: Done) -> tuple[int, int]:
        """(documents, bytes) a finished unit adds to the progress bar."""
        return 0, 0


class PhaseRunner:
    """Skip, force, fingerprint, run, mark and account, the same for every phase."""

    def __init__(self, ctx: BuildContext) -> None:
        self.ctx = ctx
        self.markers = ctx.markers

    def run(self, phase: Phase) -> bool:
        """Run one phase; True if it did any work."""
        cpu = time.process_time()
        try:
            return self._run(phase)
        finally:
            release_free_memory()  # the phase's plan and results (a 77,000-file listing)
            driver = self.ctx.record.driver_cpu
            driver[phase.name] = driver.get(phase.name, 0.0) + time.process_time() - cpu

    def _run(self, phase: Phase) -> bool:
        ctx = self.ctx
        if not phase.tracked:
            keys = phase.keys(ctx)
            for key, payload in (phase.run(ctx, keys) if keys else {}).items():
                phase.load(ctx, key, payload)
            phase.finish(ctx)
            return False
        pending: list[tuple[str, str]] = []
        for key in phase.keys(ctx):
            fp = phase.fingerprint(ctx, key)
            marker = self.markers.load(phase.name, key, fp)
            if marker is not None and not phase.forced(ctx, key) and phase.present(ctx, key, marker):
                phase.load(ctx, key, marker)
                ctx.record.note(phase.name, key, fp, reused=True)
            else:
                pending.append((key, fp))
        if pending:
            started = time.perf_counter()
            payloads = phase.run(ctx, [k for k, _ in pending])
            ctx.record.seconds[phase.name] = ctx.record.seconds.get(phase.name, 0.0) + (
                time.perf_counter() - started)
            for key, fp in pending:
                payload = payloads[key]
                self.markers.save(phase.name, key, fp, payload)
                phase.load(ctx, key, payload)
                ctx.record.note(phase.name, key, fp, reused=False)
        phase.finish(ctx)
        return bool(pending)


__all__ = ["GLOBAL", "Markers", "Phase", "PhaseRunner", "UnitPhase", "file_fingerprint", "fingerprint"]
