"""Accounting: every document read is kept or dropped with a reason, per source and stage.

`stats.json` holds, per source: what was read (documents, bytes, files, files that
failed and why), then per stage documents and bytes in and out, drops by reason and
seconds, then extra counters stages report (``pii.CREDIT_CARD``, ``ftfy.fast_path``).
A stage's ``bytes_out`` is its ``bytes_in`` less the bytes it dropped; text rewritten by
mappers shows in the source's final ``kept.bytes``.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class StageStats:
    documents_in: int = 0
    documents_out: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    dropped_bytes: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return {"documents_in": self.documents_in, "documents_out": self.documents_out,
                "bytes_in": self.bytes_in, "bytes_out": self.bytes_out,
                "dropped": dict(sorted(self.dropped.items())),
                "dropped_bytes": dict(sorted(self.dropped_bytes.items())),
                "seconds": round(self.seconds, 3)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> StageStats:
        return cls(d["documents_in"], d["documents_out"], d["bytes_in"], d["bytes_out"],
                   Counter(d["dropped"]), Counter(d["dropped_bytes"]), d["seconds"])


@dataclass
class PhaseStats:
    """What one phase (read+clean, dedup, pii+write, tokenize) did to one source."""

    documents_in: int = 0
    bytes_in: int = 0
    files: int = 0
    files_failed: list[dict[str, str]] = field(default_factory=list)
    stages: dict[str, StageStats] = field(default_factory=dict)
    counters: Counter[str] = field(default_factory=Counter)
    documents_out: int = 0
    bytes_out: int = 0
    seconds: float = 0.0
    raw_bytes: int = 0
    length_hist: dict[str, int] = field(default_factory=dict)

    def stage(self, name: str) -> StageStats:
        if name not in self.stages:
            self.stages[name] = StageStats()
        return self.stages[name]

    def to_dict(self) -> dict[str, Any]:
        return {"documents_in": self.documents_in, "bytes_in": self.bytes_in,
                "files": self.files, "files_failed": self.files_failed,
                "stages": {k: v.to_dict() for k, v in self.stages.items()},
                "counters": dict(sorted(self.counters.items())),
                "documents_out": self.documents_out, "bytes_out": self.bytes_out,
                "seconds": round(self.seconds, 3), "raw_bytes": self.raw_bytes,
                "length_hist": dict(sorted(self.length_hist.items(), key=lambda kv: int(kv[0])))}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> PhaseStats:
        return cls(d["documents_in"], d["bytes_in"], d["files"], list(d["files_failed"]),
                   {k: StageStats.from_dict(v) for k, v in d["stages"].items()},
                   Counter(d["counters"]), d["documents_out"], d["bytes_out"], d["seconds"],
                   d.get("raw_bytes", 0), dict(d.get("length_hist", {})))


@dataclass
class UnitStats:
    """What one unit of work did to its documents: the typed record a worker returns.

    Small whatever the documents' size: counts, bytes, drops by (stage, reason), seconds
    per stage, counters and the files that failed. The driver merges them per source in
    unit order (`PhaseAccounting.add`).
    """

    source: str
    documents_in: int = 0
    bytes_in: int = 0
    documents_out: int = 0
    bytes_out: int = 0
    drops: dict[tuple[str, str], list[int]] = field(default_factory=dict)  # -> [docs, bytes]
    seconds: dict[str, float] = field(default_factory=dict)
    counters: Counter[str] = field(default_factory=Counter)
    length_hist: Counter[str] = field(default_factory=Counter)
    files_failed: list[dict[str, str]] = field(default_factory=list)

    def read(self, nbytes: int) -> None:
        self.documents_in += 1
        self.bytes_in += nbytes

    def kept(self, nbytes: int) -> None:
        self.documents_out += 1
        self.bytes_out += nbytes
        # log2 bins of document size (bin b holds sizes in [2**(b-1), 2**b)) for the report
        self.length_hist[str(nbytes.bit_length())] += 1

    def dropped(self, stage: str, reason: str, nbytes: int) -> None:
        cell = self.drops.setdefault((stage, reason), [0, 0])
        cell[0] += 1
        cell[1] += nbytes

    def add_seconds(self, stage: str, seconds: float) -> None:
        self.seconds[stage] = self.seconds.get(stage, 0.0) + seconds

    def file_failed(self, file: str, reason: str) -> None:
        self.files_failed.append({"file": file, "reason": reason})


class PhaseAccounting:
    """Builds a source's `PhaseStats` from its units' `UnitStats`.

    Args:
        stage_names: the phase's stages in order; a drop by stage k means the
            document passed stages 0..k-1.
    """

    def __init__(self, stage_names: list[str]) -> None:
        self.stats = PhaseStats()
        self.order = list(stage_names)
        self._drops: list[Counter[str]] = [Counter() for _ in self.order]
        self._drop_bytes: list[Counter[str]] = [Counter() for _ in self.order]

    def add(self, unit: UnitStats) -> None:
        """Merge one unit's record (the driver's whole per-unit accounting)."""
        s = self.stats
        s.documents_in += unit.documents_in
        s.bytes_in += unit.bytes_in
        s.documents_out += unit.documents_out
        s.bytes_out += unit.bytes_out
        for key, n in unit.length_hist.items():
            s.length_hist[key] = s.length_hist.get(key, 0) + n
        for (stage, reason), (docs, nbytes) in unit.drops.items():
            i = self._slot(stage)
            self._drops[i][reason] += docs
            self._drop_bytes[i][reason] += nbytes
        for stage, sec in unit.seconds.items():
            s.stage(stage).seconds += sec
        s.counters.update(unit.counters)
        s.files_failed.extend(unit.files_failed)

    def _slot(self, stage: str) -> int:
        if stage not in self.order:
            self.order.append(stage)
            self._drops.append(Counter())
            self._drop_bytes.append(Counter())
        return self.order.index(stage)

    def file_failed(self, file: str, reason: str) -> None:
        self.stats.files_failed.append({"file": file, "reason": reason})

    def finish(self) -> PhaseStats:
        docs, nbytes = self.stats.documents_in, self.stats.bytes_in
        for i, name in enumerate(self.order):
            st = self.stats.stage(name)
            st.documents_in, st.bytes_in = docs, nbytes
            st.dropped = self._drops[i]
            st.dropped_bytes = self._drop_bytes[i]
            docs -= sum(st.dropped.values())
            nbytes -= sum(st.dropped_bytes.values())
            st.documents_out, st.bytes_out = docs, max(nbytes, 0)
        self.stats.files_failed.sort(key=lambda f: f["file"])
        return self.stats
