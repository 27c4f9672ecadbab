"""Units of work sized by bytes, planned from the inputs and the config alone.

The plan never looks at the number of workers: the same inputs and config give the same
units on 1 worker or 1,000, so the parts the workers write (and the files they become)
are the same too. The target unit size is ``run.unit_bytes``, lowered for a small source
so it still splits into about ``run.min_units`` units (never below `MIN_UNIT_BYTES`): a 6 MB
source keeps two workers busy, a 10 GB one sixty-four.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple, Sequence

from pile.executor import Unit
from pile.sources.base import FileStat, Source

MIN_UNIT_BYTES = 256_000  # below this, per-unit costs (a task, a part file) dominate
MAX_FILES_PER_UNIT = 2000


def unit_target(total: int, unit_bytes: int, min_units: int = 32) -> int:
    """The unit size for a source of `total` input bytes."""
    return max(1, min(unit_bytes, max(MIN_UNIT_BYTES, total // min_units)))


class SourcePlan(NamedTuple):
    """A source's units and each file they read as (path, size, mtime_ns), as
    `file_fingerprint` gives it: from the one `stat` the plan makes of a file.

    The driver keeps a plan until the source is committed; a file's path is one string,
    shared by its unit and its stat (a 77,000-file tree: about 25 MB less than a `Path`
    and two copies of the string per file)."""

    units: list[Unit]
    stats: list[tuple[str, int, int]]

    @property
    def files(self) -> list[Path]:
        """The files the plan selected, in order."""
        return [Path(path) for path, _size, _mtime in self.stats]

    @property
    def raw_bytes(self) -> int:
        return sum(size for _path, size, _mtime in self.stats)


def plan_source(src: Source, files: Sequence[Path | FileStat], unit_bytes: int,
                max_bytes: int | None = None, min_units: int = 32) -> SourcePlan:
    """Group a source's files (in order: `Source.listing`) into units of about the target size.

    A file larger than the target whose format allows it (`Source.spans`: JSON Lines,
    record-gzipped WARC, multistream bzip2, tar and zip member ranges) is split into byte
    ranges, one unit each; other files are grouped whole. With a size cap, files are taken
    in order until their on-disk size reaches `max_bytes`; a single file larger than the
    cap is read up to the cap (one unit).

    Returns:
        The units, and the files actually selected with their sizes and mtimes.
    """
    # Only the files a size cap takes are looked at: a capped source of 75,000 small
    # files stats the few thousand it reads, not all of them.
    stats: list[tuple[str, int, int]] = []
    total = 0
    for f in files:
        if max_bytes is not None and total >= max_bytes:
            break
        if isinstance(f, FileStat):  # stat'ed by the listing itself
            path, size, mtime = f
        else:
            path = str(f)
            try:
                st = os.stat(path)
                size, mtime = st.st_size, st.st_mtime_ns
            except OSError:
                size, mtime = 0, 0  # vanished or unreadable: its unit fails it, named
        stats.append((path, size, mtime))
        total += size
    if max_bytes is not None and len(stats) == 1:
        unit = Unit(src.name, 0, (stats[0][0],), cap=max_bytes, weight=min(stats[0][1], max_bytes))
        return SourcePlan([unit], stats)
    target = unit_target(total, unit_bytes, min_units)
    units: list[Unit] = []
    current: list[str] = []
    current_bytes = 0

    def flush() -> None:
        nonlocal current, current_bytes
        if current:
            units.append(Unit(src.name, len(units), tuple(current), weight=current_bytes))
        current, current_bytes = [], 0

    for path, size, _mtime in stats:
        spans = src.spans(Path(path), target) if size > target else None
        if spans:
            flush()
            base = len(units)
            units.extend([Unit(src.name, base + i, (path,), span=span,
                               weight=max(0, min(span[1], size) - span[0]))
                          for i, span in enumerate(spans)])
            continue
        current.append(path)
        current_bytes += size
        if current_bytes >= target or len(current) >= MAX_FILES_PER_UNIT:
            flush()
    flush()
    return SourcePlan(units, stats)


def part_units(source: str, parts: list[Path], **extra: object) -> list[Unit]:
    """One unit per part a previous phase wrote (checkpoint parts, docs files)."""
    return [Unit(source, i, (str(p),), extra=tuple(sorted(extra.items())), weight=file_bytes(p))
            for i, p in enumerate(parts)]


def file_bytes(path: Path) -> int:
    """A unit's weight from its file's size (0 when it cannot be read: its unit says why)."""
    try:
        return Path(path).stat().st_size
    except OSError:
        return 0


__all__ = ["MIN_UNIT_BYTES", "SourcePlan", "file_bytes", "part_units", "plan_source", "unit_target"]
