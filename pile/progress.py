"""Progress bars for long work: documents, bytes, rate and ETA on the driver.

Bars are drawn only on a terminal (stderr), so logs and CI output stay clean.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType

from rich.console import Console
from rich.progress import (BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn,
                           TimeRemainingColumn)


class PhaseProgress:
    """One bar per phase: units of work done (drives the ETA), documents, MB and MB/s."""

    def __init__(self, label: str, units: int, enabled: bool = True, console: Console | None = None) -> None:
        self.label = label
        self.units = units
        self.docs = 0
        self.bytes = 0
        self.started = time.perf_counter()
        console = console or Console(stderr=True)
        self.enabled = enabled and console.is_terminal
        # Fits 80 columns: a 16-character label, a short bar, units, documents, rate and
        # the two times (rich drops columns it cannot fit, the times first).
        self._progress = Progress(
            TextColumn("[bold]{task.description:<16.16}"), BarColumn(bar_width=8), MofNCompleteColumn(),
            TextColumn("{task.fields[docs]:>9,} docs {task.fields[rate]:>5.1f} MB/s"),
            TimeElapsedColumn(), TimeRemainingColumn(compact=True), console=console,
            disable=not self.enabled, transient=False)
        self._task = self._progress.add_task(label, total=max(units, 1), docs=0, mb=0.0, rate=0.0)

    def __enter__(self) -> PhaseProgress:
        self._progress.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._progress.stop()

    def advance_docs(self, docs: int, nbytes: int) -> None:
        self.docs += docs
        self.bytes += nbytes
        if self.enabled and self.docs % 256 == 0:
            self._refresh()

    def advance_unit(self, docs: int = 0, nbytes: int = 0) -> None:
        """One unit finished, with the documents and bytes it did."""
        self.docs += docs
        self.bytes += nbytes
        self._progress.advance(self._task)
        self._refresh()

    def _refresh(self) -> None:
        elapsed = max(time.perf_counter() - self.started, 1e-9)
        self._progress.update(self._task, docs=self.docs, mb=self.bytes / 1e6,
                              rate=self.bytes / 1e6 / elapsed)


def byte_progress(label: str, total: int | None, enabled: bool = True) -> Progress:
    """A bytes bar (downloads): size, rate and ETA."""
    from rich.progress import DownloadColumn, TransferSpeedColumn

    console = Console(stderr=True)
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), DownloadColumn(),
                    TransferSpeedColumn(), TimeRemainingColumn(), console=console,
                    disable=not (enabled and console.is_terminal and sys.stderr.isatty()))
