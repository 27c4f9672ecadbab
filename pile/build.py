"""The build: the phases in one direction, each finished phase checkpointed on disk.

    download      -> raw/<source>/                                (every build: cache checked)
    read + clean  -> .work/clean/<source>/part-NNNNN.parquet      (per source)
    dedup         -> dedup/, .work/dedup/<source>.drops.npy       (global)
    held-out      -> .work/decontam/index.npy                     (global)
    final         -> docs/<source>/NNNNN.jsonl.zst (+ val/, test/), pii audit parts
    tokenize      -> tokens/<tokenizer>/<source>[_NNNNN].bin/.idx, tokens/counts.csv
    mix           -> tokens/<tokenizer>/mix/, neox_data.yml
    report        -> stats.json, report.md, report.html, README.md, samples/, manifest.json

Each phase is a module of `pile.phases` with one contract (`pile.phases.engine.Phase`);
`PhaseRunner` skips a key whose marker holds the same fingerprint, so a killed build
restarts at the last finished phase and ``--source X`` redoes X while the other sources
are reused. Adding a phase is one module plus one line in `PHASES`.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

from pile.config import Config
from pile.errors import PileError
from pile.executor import Executor
from pile.phases.clean import CleanPhase
from pile.phases.context import BuildContext
from pile.phases.dedup import DedupPhase
from pile.phases.download import DownloadPhase
from pile.phases.engine import Phase, PhaseRunner
from pile.phases.final import FinalPhase
from pile.phases.heldout import HeldOutPhase
from pile.phases.mix import MixPhase
from pile.phases.tokenize import TokenizePhase
from pile.sources import make_source

log = logging.getLogger(__name__)

PHASES: tuple[type[Phase], ...] = (DownloadPhase, CleanPhase, DedupPhase, HeldOutPhase, FinalPhase,
                                   TokenizePhase, MixPhase)


class Build:
    """One `pile build`: the configured sources through every enabled phase.

    Args:
        cfg: the validated configuration.
        executor: where the work runs (`pile.runner.make_executor`).
        only: source names given with ``--source`` (rebuilt even when up to date);
            None builds every source.
        mirror_map: ``--mirror FROM=TO`` rewrites for downloads.
    """

    def __init__(self, cfg: Config, executor: Executor, only: list[str] | None = None,
                 mirror_map: dict[str, str] | None = None) -> None:
        self.cfg = cfg
        only = list(only) if only else None
        for name in only or []:
            cfg.source(name)  # fails with the configured names when unknown
        self._checked = False
        self.ctx = BuildContext(cfg, executor, {s.name: make_source(s, cfg.raw_dir) for s in cfg.sources},
                                only, dict(mirror_map or {}))

    @property
    def executor(self) -> Executor:
        return self.ctx.executor

    @executor.setter
    def executor(self, value: Executor) -> None:
        self.ctx.executor = value

    @property
    def out(self) -> Path:
        return self.ctx.out

    @property
    def rebuilt(self) -> list[str]:
        return self.ctx.record.rebuilt

    @property
    def reused(self) -> list[str]:
        return self.ctx.record.reused

    def check(self) -> None:
        """Fail before any work: a missing input path, a broken config, a vocabulary file
        that does not load (not after cleaning and dedup). Once per build."""
        if self._checked:
            return
        from pile.tokenize.vocab import check_vocabulary

        for name in self.ctx.selected():
            self.ctx.sources[name].check_inputs()
        for tok in self.cfg.tokenizers:
            check_vocabulary(tok)
        self._checked = True

    def run(self) -> dict[str, Any]:
        started = time.time()
        cpu = time.process_time()
        self.check()
        self.ctx.record.driver_cpu["check"] = time.process_time() - cpu
        self.out.mkdir(parents=True, exist_ok=True)
        with BuildLock(self.ctx.work / "lock"):
            runner = PhaseRunner(self.ctx)
            try:
                worked = [runner.run(phase()) for phase in PHASES]
                from pile.report import previous_result, write_outputs

                if not any(worked):
                    done = previous_result(self.ctx)
                    if done is not None:  # nothing changed: the outputs stand as they are
                        done["up_to_date"] = sum(1 for p in PHASES if p.tracked)
                        return done
                # before the pool goes: the report's plots and pages are drawn on a worker
                return write_outputs(self.ctx, seconds=time.time() - started)
            finally:
                self.executor.release()  # one pool per build, started by its first unit


class BuildLock:
    """One build per output folder at a time. A lock left by a killed build (its process is
    gone) is taken over, so a restart after SIGKILL or power loss needs no clean-up."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def __enter__(self) -> BuildLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        while True:
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                try:
                    pid = int(self.path.read_text().strip() or 0)
                except (OSError, ValueError):
                    pid = 0
                if pid and pid != os.getpid() and _alive(pid):
                    raise PileError(f"{self.path.parent.parent}: another pile build (pid {pid}) is "
                                    "writing this folder") from None
                self.path.unlink(missing_ok=True)  # stale: its build is gone
                continue
            with os.fdopen(fd, "w") as fh:
                fh.write(str(os.getpid()))
            return self

    def __exit__(self, *exc: object) -> None:
        self.path.unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def summary_line(result: dict[str, Any]) -> str:
    if result.get("up_to_date"):
        return (f"nothing to do: {result['up_to_date']} phases up to date; {result['documents']:,} "
                f"documents ({result['bytes'] / 1e6:,.1f} MB) from {result['sources']} sources in "
                f"{result['out']}")
    return (f"built {result['documents']:,} documents ({result['bytes'] / 1e6:,.1f} MB) "
            f"from {result['sources']} sources into {result['out']}")


__all__ = ["PHASES", "Build", "BuildLock", "summary_line"]
