"""Executors: run (read a unit of work -> process its documents) and stream results back in order.

The build is a sequence of phases; each phase is a list of *units* (a group of input
files, or one checkpoint part), a picklable *reader* that turns a unit into chunks of
rows, and a picklable *processor* (set up once per worker) that maps a chunk of rows
to a chunk of rows. Executors return the processed chunks to the driver **in unit
order**, whatever the number of workers, which is what makes outputs byte-identical
across worker counts.

`LocalExecutor` runs everything in this process (tests, debugging, the plain-loop
baseline of the Ray-overhead benchmark). The Ray executor lives in `pile.runner`, the
only module that imports Ray.
"""

from __future__ import annotations

import abc
import time
from typing import Any, Iterator, Protocol

Row = dict[str, Any]


class Reader(Protocol):
    def __call__(self, unit: dict[str, Any]) -> Iterator[list[Row]]: ...


class Processor(Protocol):
    def setup(self) -> None: ...

    def __call__(self, rows: list[Row]) -> list[Row]: ...


class Executor(abc.ABC):
    """Runs phases; subclasses decide where the work happens."""

    workers: int = 1

    @abc.abstractmethod
    def run(self, units: list[dict[str, Any]], reader: Reader, processor: Processor
            ) -> Iterator[list[Row]]:
        """Yield the processed chunks of every unit, in unit order."""

    def close(self) -> None:
        """Release the executor's resources (a local Ray instance it started)."""


class LocalExecutor(Executor):
    """Everything in the calling process, one unit after another."""

    def __init__(self) -> None:
        self.workers = 1

    def run(self, units: list[dict[str, Any]], reader: Reader, processor: Processor
            ) -> Iterator[list[Row]]:
        processor.setup()
        for unit in units:
            yield from process_unit(unit, reader, processor)


def process_unit(unit: dict[str, Any], reader: Reader, processor: Processor) -> Iterator[list[Row]]:
    """Read one unit and process its chunks; adds a ``stats`` row with the read time."""
    started = time.perf_counter()
    read_seconds = 0.0
    it = reader(unit)
    while True:
        t0 = time.perf_counter()
        try:
            rows = next(it)
        except StopIteration:
            break
        read_seconds += time.perf_counter() - t0
        yield processor(rows)
    yield [{"kind": "stats", "source": unit.get("source", ""),
            "seconds": {"read": read_seconds}, "counters": [],
            "unit_seconds": time.perf_counter() - started}]
