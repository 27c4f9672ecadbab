"""The typed build record: what one phase hands the next, and what the report reads.

Every field is filled by a phase's `load` (from a fresh run or a reused marker alike), so
a rebuild that reuses a phase sees exactly what a fresh one would.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class DedupSummary:
    """What the global dedup pass decided (details: the largest clusters, counts)."""

    details: dict[str, Any] = field(default_factory=dict)
    removed: dict[str, int] = field(default_factory=dict)  # source -> documents removed


@dataclass
class DecontamSummary:
    """The held-out 13-gram index the final phase cuts from the training split."""

    ngrams: int = 0
    sha256: str = ""
    documents: int = 0  # held-out documents indexed (splits + evaluation files)


@dataclass
class TokenSummary:
    """Token counts per source and vocabulary (``tokens/counts.*``, the manifest)."""

    tokenizers: list[dict[str, Any]] = field(default_factory=list)
    counts: list[dict[str, Any]] = field(default_factory=list)
    markdown: str = ""
    manifest: dict[str, Any] = field(default_factory=dict)
    heldout: dict[str, Any] = field(default_factory=dict)


@dataclass
class MixSummary:
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    markdown: str = ""
    manifest: dict[str, Any] = field(default_factory=dict)


@dataclass
class BuildRecord:
    """Everything a build learned, phase by phase.

    Attributes:
        stats: source -> phase -> that phase's stats (``PhaseStats.to_dict`` and others).
        fingerprints: source (or ``_all``) -> phase -> fingerprint (the manifest's).
        rebuilt / reused: ``phase:key`` in the order the runner met them.
        seconds: phase -> wall seconds of the work it did in this run.
        vocab_seconds: vocabulary -> seconds its load took on a worker in this run (the
            engine choice, a tiktoken plan derived and proven; once per vocabulary and
            output folder, absent when reused from its marker).
        artifacts: relative path -> [size, sha256] of files workers wrote and hashed,
            so the manifest never re-reads them on the driver.
    """

    stats: dict[str, dict[str, Any]] = field(default_factory=dict)
    fingerprints: dict[str, dict[str, str]] = field(default_factory=dict)
    rebuilt: list[str] = field(default_factory=list)
    reused: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    # The driver's own CPU seconds per phase (fingerprints, planning, submission, commit)
    # and for the closing outputs: what bounds a cluster's speed-up (issue 10).
    driver_cpu: dict[str, float] = field(default_factory=dict)
    download_failures: dict[str, list[dict[str, str]]] = field(default_factory=dict)
    dedup: DedupSummary | None = None
    decontam: DecontamSummary | None = None
    vocabs: list[Any] = field(default_factory=list)  # pile.tokenize.vocab.Vocabulary
    vocab_seconds: dict[str, float] = field(default_factory=dict)
    tokens: TokenSummary | None = None
    mix: MixSummary | None = None
    artifacts: dict[str, list[Any]] = field(default_factory=dict)
    plots: list[str] = field(default_factory=list)

    def note(self, phase: str, key: str, fp: str, reused: bool) -> None:
        self.fingerprints.setdefault(key, {})[phase] = fp
        (self.reused if reused else self.rebuilt).append(f"{phase}:{key}")

    def put_stats(self, source: str, phase: str, stats: dict[str, Any]) -> None:
        self.stats.setdefault(source, {})[phase] = stats


__all__ = ["BuildRecord", "DecontamSummary", "DedupSummary", "MixSummary", "TokenSummary"]
