"""What every phase sees of the build: config, folders, executor, sources and the record."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from pile.config import Config
from pile.executor import Executor
from pile.phases.engine import Markers
from pile.phases.record import BuildRecord
from pile.sources.base import Source

SPLITS = ("train", "val", "test")


@dataclass
class BuildContext:
    """One build's shared state.

    Attributes:
        cfg: the validated configuration.
        executor: where units run.
        sources: source name -> Source, for every configured source.
        only: ``--source`` names (forced, and the only ones read), or None for all.
        mirror_map: ``--mirror FROM=TO`` rewrites for downloads.
    """

    cfg: Config
    executor: Executor
    sources: dict[str, Source]
    only: list[str] | None = None
    mirror_map: dict[str, str] = field(default_factory=dict)
    record: BuildRecord = field(default_factory=BuildRecord)

    @property
    def out(self) -> Path:
        return self.cfg.out_dir

    @property
    def work(self) -> Path:
        return self.out / ".work"

    @property
    def markers(self) -> Markers:
        return Markers(self.work)

    def staging(self, phase: str, source: str) -> Path:
        """Where a phase's workers write a source's parts before the driver commits them."""
        return self.work / "stage" / phase / source

    def forced(self, source: str) -> bool:
        return self.only is not None and source in self.only

    def selected(self) -> list[str]:
        """Sources this run reads: all, or the ``--source`` ones (configured order)."""
        return [s.name for s in self.cfg.sources if self.only is None or s.name in self.only]

    def built_sources(self) -> list[str]:
        """Sources (configured order) whose cleaned documents exist."""
        return [s.name for s in self.cfg.sources if self.markers.path("clean", s.name).is_file()]

    def splits_active(self) -> bool:
        sp = self.cfg.splits
        return sp.val_fraction > 0 or sp.test_fraction > 0

    def split_root(self, part: str) -> Path:
        """Where a split's documents and shards go: OUT for train, OUT/val, OUT/test."""
        return self.out if part == "train" else self.out / part

    def docs_files(self, source: str, part: str = "train") -> list[Path]:
        return sorted((self.split_root(part) / "docs" / source).glob("*.jsonl.zst"))

    def clean_fingerprint(self, source: str) -> str:
        return self.markers.fingerprint_of("clean", source)


__all__ = ["SPLITS", "BuildContext"]
