"""The readers and processors each phase hands to an executor (picklable, Ray-free).

Rows are plain dicts with a ``kind``:

- ``doc``: ``{"doc": Document, "nbytes_in": int}`` a document that is still in;
- ``drop``: ``{"id", "source", "stage", "reason", "nbytes", "nbytes_in"}`` a decision;
- ``error``: ``{"source", "file", "reason"}`` an input file that failed;
- ``stats``: ``{"source", "seconds": {stage: s}, "counters": [(source, key, n)]}``;
- ``result``: ``{"source", "rows": [...]}`` what a global pass's function returned.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Iterator

from pile.docs_io import read_checkpoint, read_pile_documents
from pile.document import Document
from pile.errors import SourceError
from pile.executor import Row
from pile.sources.base import Source
from pile.stage import BatchFunction, Dropped, Stage

log = logging.getLogger(__name__)


def _doc_row(doc: Document) -> Row:
    return {"kind": "doc", "doc": doc, "nbytes_in": doc.nbytes}


def _drop_row(d: Dropped, stage: str, nbytes_in: int | None = None) -> Row:
    nbytes = d.doc.nbytes
    return {"kind": "drop", "id": d.doc.id, "source": d.doc.source, "stage": stage,
            "reason": d.reason, "nbytes": nbytes, "nbytes_in": nbytes if nbytes_in is None else nbytes_in}


class SourceReader:
    """Reads a unit of upstream files with its Source; a failing file becomes an error row.

    Args:
        sources: source name -> Source (pickled to the workers).
        batch_size: documents per chunk.
    """

    def __init__(self, sources: dict[str, Source], batch_size: int) -> None:
        self.sources = sources
        self.batch_size = batch_size

    def __call__(self, unit: dict[str, Any]) -> Iterator[list[Row]]:
        src = self.sources[unit["source"]]
        cap = unit.get("cap")
        chunk: list[Row] = []
        for path in unit["files"]:
            taken = 0
            try:
                for item in src.read(Path(path)):
                    if isinstance(item, Dropped):
                        chunk.append(_drop_row(item, "read"))
                    else:
                        chunk.append(_doc_row(item))
                        taken += chunk[-1]["nbytes_in"]
                    if len(chunk) >= self.batch_size:
                        yield chunk
                        chunk = []
                    if cap is not None and taken >= cap:
                        break  # the size cap of a single large file
            except SourceError as exc:
                chunk.append({"kind": "error", "source": src.name, "file": src.key_for(Path(path)),
                              "reason": str(exc)})
            except Exception as exc:  # a parser bug fails this file, not the build
                log.warning("%s: %s: %s", path, type(exc).__name__, exc)
                chunk.append({"kind": "error", "source": src.name, "file": src.key_for(Path(path)),
                              "reason": f"{type(exc).__name__}: {exc}"})
        if chunk:
            yield chunk


class CheckpointReader:
    """Reads checkpoint parts (parquet) or written document files (jsonl.zst) of a source."""

    def __init__(self, batch_size: int) -> None:
        self.batch_size = batch_size

    def __call__(self, unit: dict[str, Any]) -> Iterator[list[Row]]:
        chunk: list[Row] = []
        for path in unit["files"]:
            docs = (read_pile_documents(Path(path), unit["source"]) if str(path).endswith(".jsonl.zst")
                    else read_checkpoint(Path(path)))
            for doc in docs:
                chunk.append(_doc_row(doc))
                if len(chunk) >= self.batch_size:
                    yield chunk
                    chunk = []
        if chunk:
            yield chunk


class ChainProcessor:
    """Runs each source's chain of stages over the document rows of a chunk.

    Drop rows pass through; every stage's time and counters travel in a stats row.
    """

    def __init__(self, chains: dict[str, list[Stage]]) -> None:
        self.chains = chains

    def setup(self) -> None:
        for chain in self.chains.values():
            for stage in chain:
                stage.ensure_setup()

    def __call__(self, rows: list[Row]) -> list[Row]:
        out: list[Row] = [r for r in rows if r["kind"] != "doc"]
        docs = [r for r in rows if r["kind"] == "doc"]
        if not docs:
            return out
        source = docs[0]["doc"].source
        nbytes_in = {r["doc"].id: r["nbytes_in"] for r in docs}
        current = [r["doc"] for r in docs]
        seconds: dict[str, float] = {}
        counters: list[tuple[str, str, int]] = []
        for stage in self.chains.get(source, []):
            if not current:
                break
            t0 = time.perf_counter()
            current, drops = stage.process_batch(current)
            seconds[stage.name] = seconds.get(stage.name, 0.0) + time.perf_counter() - t0
            out.extend(_drop_row(d, stage.name, nbytes_in.get(d.doc.id)) for d in drops)
            counters.extend((s, k, n) for (s, k), n in stage.drain_counters().items())
        out.extend({"kind": "doc", "doc": d, "nbytes_in": nbytes_in.get(d.id, 0)} for d in current)
        out.append({"kind": "stats", "source": source, "seconds": seconds, "counters": counters})
        return out


class FunctionProcessor:
    """Wraps a global pass's `BatchFunction`: documents in, its result rows out."""

    def __init__(self, fn: BatchFunction) -> None:
        self.fn = fn

    def setup(self) -> None:
        self.fn.setup()

    def __call__(self, rows: list[Row]) -> list[Row]:
        docs = [r["doc"] for r in rows if r["kind"] == "doc"]
        if not docs:
            return []
        return [{"kind": "result", "source": docs[0].source, "rows": self.fn(docs)}]


def plan_units(source: str, files: list[Path], unit_bytes: int, workers: int,
               max_bytes: int | None = None) -> tuple[list[dict[str, Any]], list[Path]]:
    """Group a source's files (in order) into units of about `unit_bytes` of input.

    With a size cap, files are taken in order until their on-disk size reaches
    `max_bytes` (deterministic); a single file larger than the cap is read up to the
    cap. Units are small enough that every worker gets several.

    Returns:
        The units, and the files actually selected.
    """
    sizes = []
    for f in files:
        try:
            sizes.append(f.stat().st_size)
        except OSError:
            sizes.append(0)
    selected: list[Path] = []
    total = 0
    for f, size in zip(files, sizes):
        if max_bytes is not None and total >= max_bytes:
            break
        selected.append(f)
        total += size
    target = max(1, min(unit_bytes, total // max(1, workers * 4) or 1))
    units: list[dict[str, Any]] = []
    current: list[str] = []
    current_bytes = 0
    for f, size in zip(selected, sizes):
        current.append(str(f))
        current_bytes += size
        if current_bytes >= target or len(current) >= 2000:
            units.append({"source": source, "files": current})
            current, current_bytes = [], 0
    if current:
        units.append({"source": source, "files": current})
    if max_bytes is not None and len(selected) == 1:
        units[0]["cap"] = max_bytes
    return units, selected


def checkpoint_units(source: str, parts: list[Path]) -> list[dict[str, Any]]:
    """One unit per checkpoint part (or written document file)."""
    return [{"source": source, "files": [str(p)]} for p in parts]
