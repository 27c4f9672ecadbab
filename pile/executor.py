"""Executors: run one task over a phase's units of work, on workers, results in unit order.

A phase hands an executor a list of `Unit`s and one picklable `UnitTask`. The task is set
up once per worker (heavy state: models, recognizers, vocabularies), then called on units;
a unit's call reads that unit's inputs, **writes that unit's outputs itself** (into the
build's staging area, under a name fixed by phase, source and unit index) and returns only
small metadata (counts, drops by reason, sizes, the paths it wrote). The driver then
commits the parts in unit order. So the bytes never travel through the driver, and the
output does not depend on which worker ran which unit.

`LocalExecutor` runs everything in this process (tests, debugging, the baseline of the
overhead benchmarks). The Ray executor lives in `pile.runner`, the only module that
imports Ray.
"""

from __future__ import annotations

import abc
import time
from dataclasses import dataclass, field
from typing import Any, Iterator


@dataclass(frozen=True)
class Unit:
    """One unit of work of a phase.

    Attributes:
        source: the source (or ``_all`` for a global pass) the unit belongs to.
        index: its position in the source's plan for this phase; names its output parts.
        files: input paths, read in order.
        span: for a unit that is part of one large file, the byte range
            ``[start, end)`` of the file it owns (records that *start* inside it).
        cap: read at most this many bytes of documents (a size-capped single file).
        extra: phase-specific plain data (the split a docs file belongs to, ...).
        weight: the bytes it reads, when the plan knows them. An executor starts the
            heavier units first, so a phase does not end waiting on one large unit
            started last; it never changes a byte of the outputs (their names and the
            commit follow `index`).
    """

    source: str
    index: int
    files: tuple[str, ...]
    span: tuple[int, int] | None = None
    cap: int | None = None
    extra: tuple[tuple[str, Any], ...] = ()
    weight: int = 0

    def get(self, key: str, default: Any = None) -> Any:
        return dict(self.extra).get(key, default)


class UnitTask(abc.ABC):
    """What a phase runs on every unit (picklable; `setup` builds the heavy state)."""

    def setup(self) -> None:
        """Build heavy state; called once per worker before its first unit."""

    @abc.abstractmethod
    def run(self, unit: Unit) -> Any:
        """Do the unit's work, write its outputs, return small picklable metadata."""


@dataclass
class Done:
    """A finished unit as the driver sees it."""

    unit: Unit
    result: Any
    node: str = ""
    seconds: float = 0.0


@dataclass
class ExecutorStats:
    """What the executor did over a build (stats.json: nodes, tasks shipped)."""

    nodes: dict[str, int] = field(default_factory=dict)  # node id -> units it ran
    parts: dict[str, int] = field(default_factory=dict)  # node id -> output files its workers wrote

    def count(self, node: str) -> None:
        if node:
            self.nodes[node] = self.nodes.get(node, 0) + 1

    def wrote(self, node: str, files: int) -> None:
        if node and files:
            self.parts[node] = self.parts.get(node, 0) + files


class Executor(abc.ABC):
    """Runs phases; subclasses decide where the work happens."""

    workers: int = 1

    def __init__(self) -> None:
        self.stats = ExecutorStats()

    @abc.abstractmethod
    def map(self, task: UnitTask, units: list[Unit]) -> Iterator[Done]:
        """Run `task` on every unit; yield the results in unit order."""

    def release(self) -> None:
        """Give back the workers held for a build (the executor can start them again)."""

    def close(self) -> None:
        """Release the executor's resources (a local Ray instance it started)."""


class LocalExecutor(Executor):
    """Everything in the calling process, one unit after another."""

    def __init__(self) -> None:
        super().__init__()
        self.workers = 1

    def map(self, task: UnitTask, units: list[Unit]) -> Iterator[Done]:
        if not units:
            return
        task.setup()
        for unit in units:
            t0 = time.perf_counter()
            result = task.run(unit)
            yield Done(unit, result, "local", time.perf_counter() - t0)


__all__ = ["Done", "Executor", "ExecutorStats", "LocalExecutor", "Unit", "UnitTask"]
