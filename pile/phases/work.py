"""What the workers run: one `UnitTask` per phase, each writing its unit's own outputs.

Every task reads its unit's inputs by path, writes its parts into the phase's staging
folder under a name fixed by source and unit index (``<index>.<kind>``, written to a
temporary name and renamed, so a killed worker leaves no part that looks finished), and
returns a small record: `UnitStats` (counts, drops by reason, seconds), the parts'
names, sizes and sha256. Nothing here imports Ray.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from pile.docs_io import CheckpointWriter, DocsPartWriter, read_checkpoint, read_pile_documents
from pile.document import Document
from pile.errors import SourceError
from pile.manifest import sha256_file
from pile.executor import Unit, UnitTask
from pile.samples import SAMPLE_PART, SampleSettings, UnitSampler, replacement_length
from pile.sources.base import Source
from pile.stage import BatchFunction, DropIds, Stage
from pile.stats import UnitStats

log = logging.getLogger(__name__)

# A batch closes at `run.batch_size` documents or at this much text, whichever comes
# first: a stage's working memory grows with its batch (dedup's vectorised shingle hashing
# holds about 15x the batch's bytes), so 256 large files must not make one batch.
BATCH_BYTES = 1_000_000


def part_name(index: int, suffix: str) -> str:
    """A unit's part: ``000042.parquet`` (six digits keep the names in unit order)."""
    return f"{index:06d}{suffix}"


def tmp_name(path: Path) -> Path:
    """A worker's private temporary name next to `path` (hidden, per process)."""
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


# -- reading a unit -------------------------------------------------------------------------


def read_source_unit(src: Source, unit: Unit, stats: UnitStats, batch_size: int,
                     drops: list[tuple[str, str]] | None = None,
                     sampler: UnitSampler | None = None) -> Iterator[list[Document]]:
    """Batches of a unit's upstream documents, in file order.

    Drops at read time are counted as stage ``read`` (and, given `drops`, listed there as
    (id, reason); given `sampler`, offered to it); a file that fails is named in `stats`
    with the reason, and the files after it are still read.
    """
    batch: list[Document] = []
    batch_bytes = 0
    for path in unit.files:
        taken = 0
        try:
            items = src.read_span(Path(path), unit.span) if unit.span else src.read(Path(path))
            for item in items:
                if isinstance(item, Document):
                    nbytes = item.nbytes
                    stats.read(nbytes)
                    batch.append(item)
                    batch_bytes += nbytes
                    taken += nbytes
                else:
                    # a record skipped unread (too_large) carries its size in its meta
                    nbytes = int(item.doc.meta.get("record_bytes", item.doc.nbytes))
                    stats.read(nbytes)
                    stats.dropped("read", item.reason, nbytes)
                    if drops is not None:
                        drops.append((item.doc.id, item.reason))
                    if sampler is not None:
                        sampler.read_dropped(item.doc, item.reason, nbytes)
                if len(batch) >= batch_size or batch_bytes >= BATCH_BYTES:
                    yield batch
                    batch, batch_bytes = [], 0
                if unit.cap is not None and taken >= unit.cap:
                    break  # the size cap of a single large file
        except SourceError as exc:
            stats.file_failed(src.key_for(Path(path)), str(exc))
        except Exception as exc:  # a parser bug fails this file, not the build
            log.warning("%s: %s: %s", path, type(exc).__name__, exc)
            stats.file_failed(src.key_for(Path(path)), f"{type(exc).__name__}: {exc}")
    if batch:
        yield batch


def read_written_unit(unit: Unit, stats: UnitStats | None, batch_size: int) -> Iterator[list[Document]]:
    """Batches of a checkpoint part or a written docs file (the phases after clean)."""
    batch: list[Document] = []
    batch_bytes = 0
    for path in unit.files:
        docs = (read_pile_documents(Path(path), unit.source) if str(path).endswith(".jsonl.zst")
                else read_checkpoint(Path(path)))
        for doc in docs:
            nbytes = doc.nbytes
            if stats is not None:
                stats.read(nbytes)
            batch.append(doc)
            batch_bytes += nbytes
            if len(batch) >= batch_size or batch_bytes >= BATCH_BYTES:
                yield batch
                batch, batch_bytes = [], 0
    if batch:
        yield batch


def timed(batches: Iterator[list[Document]], stats: UnitStats, stage: str = "read"
          ) -> Iterator[list[Document]]:
    """`batches`, with the time spent producing them added to `stage`'s seconds."""
    while True:
        t0 = time.perf_counter()
        try:
            batch = next(batches)
        except StopIteration:
            stats.add_seconds(stage, time.perf_counter() - t0)
            return
        stats.add_seconds(stage, time.perf_counter() - t0)
        yield batch


def run_stages(chain: list[Stage], docs: list[Document], stats: UnitStats,
               sampler: UnitSampler | None = None) -> list[Document]:
    """Run `docs` through `chain`; every drop, second and counter goes into `stats` (and
    every drop is offered to `sampler`, which keeps a few per reason)."""
    for stage in chain:
        if not docs:
            break
        t0 = time.perf_counter()
        docs, drops = stage.process_batch(docs)
        stats.add_seconds(stage.name, time.perf_counter() - t0)
        for d in drops:
            stats.dropped(stage.name, d.reason, d.doc.nbytes)
            if sampler is not None:
                sampler.dropped(stage, d.doc, d.reason)
        for (_source, key), n in stage.drain_counters().items():
            stats.counters[key] += n
    return docs


def _setup_chains(chains: dict[str, list[Stage]]) -> None:
    for chain in chains.values():
        for stage in chain:
            stage.ensure_setup()


# -- read + clean -----------------------------------------------------------------------------


@dataclass
class PartResult:
    """A unit's record: its stats and the parts it wrote (name -> [size, sha256, docs])."""

    stats: UnitStats
    parts: dict[str, list[Any]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


class CleanTask(UnitTask):
    """Read upstream files, run the source's cleaning chain, write a checkpoint part."""

    def __init__(self, sources: dict[str, Source], chains: dict[str, list[Stage]],
                 staging: dict[str, str], batch_size: int, samples: SampleSettings | None = None) -> None:
        self.sources = sources
        self.chains = chains
        self.staging = staging
        self.batch_size = batch_size
        self.samples = samples

    def setup(self) -> None:
        _setup_chains(self.chains)

    def run(self, unit: Unit) -> PartResult:
        stats = UnitStats(unit.source)
        chain = self.chains.get(unit.source, [])
        sampler = UnitSampler(self.samples) if self.samples is not None else None
        path = Path(self.staging[unit.source]) / part_name(unit.index, ".parquet")
        # Written as the documents come: the worker holds a batch and one row group, not
        # the unit's documents.
        writer = CheckpointWriter(tmp_name(path))
        try:
            batches = read_source_unit(self.sources[unit.source], unit, stats, self.batch_size,
                                       sampler=sampler)
            for batch in timed(batches, stats):
                kept = run_stages(chain, batch, stats, sampler)
                t0 = time.perf_counter()
                for doc in kept:
                    stats.kept(doc.nbytes)
                    writer.write(doc)
                stats.add_seconds("write", time.perf_counter() - t0)
            t0 = time.perf_counter()
            rows = writer.close()
            stats.add_seconds("write", time.perf_counter() - t0)
        except BaseException:
            writer.abort()
            raise
        result = PartResult(stats)
        write_samples(sampler, Path(self.staging[unit.source]), unit, result)
        if rows:
            os.replace(writer.path, path)
            result.parts[path.name] = [path.stat().st_size, "", rows]
        return result


# -- final: drop duplicates, decontaminate, scrub PII, write the documents ------------------


class FinalTask(UnitTask):
    """A checkpoint part -> its documents in the Pile's format, per split, and its audit.

    The dedup decisions are read by each worker from ``.work/dedup/<source>.drops.npy``
    (the drop table of the source it is working on, memory-mapped), so they never travel
    with the task and a worker never holds a source's removed ids.
    """

    def __init__(self, chains: dict[str, list[Stage]], drops: dict[str, str], staging: dict[str, str],
                 splits: Any | None, docs_per_file: int, zstd_level: int, batch_size: int,
                 samples: SampleSettings | None = None, wanted: dict[str, list[str]] | None = None) -> None:
        self.chains = chains
        self.drops = drops
        self.staging = staging
        self.splits = splits
        self.docs_per_file = docs_per_file
        self.zstd_level = zstd_level
        self.batch_size = batch_size
        self.samples = samples
        self.wanted = wanted or {}  # source -> ids whose text the duplicate pairs show
        self._dedup: dict[str, DropIds] = {}

    def __getstate__(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "_dedup"}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._dedup = {}

    def setup(self) -> None:
        _setup_chains(self.chains)

    def _dedup_stage(self, source: str) -> DropIds:
        if source not in self._dedup:
            from pile.dedup.droptable import open_drops

            stage = DropIds(open_drops(self.drops.get(source)), "dedup")
            stage.name = "dedup_v1"  # the stats key of what the global pass removed
            self._dedup = {source: stage}  # one source at a time: bounded memory
        return self._dedup[source]

    def run(self, unit: Unit) -> PartResult:
        from pile.splits import split_of

        stats = UnitStats(unit.source)
        chain = [self._dedup_stage(unit.source), *self.chains.get(unit.source, [])]
        folder = Path(self.staging[unit.source])
        writers = {part: DocsPartWriter(folder / part, part_name(unit.index, ""), self.docs_per_file,
                                        self.zstd_level)
                   for part in (("train", "val", "test") if self.splits is not None else ("train",))}
        audit: list[str] = []
        sampler = (UnitSampler(self.samples, self.wanted.get(unit.source, ()), replacement_length(chain))
                   if self.samples is not None else None)
        try:
            for batch in timed(read_written_unit(unit, stats, self.batch_size), stats):
                if sampler is not None:
                    sampler.capture(batch)
                docs = run_stages(chain, batch, stats, sampler)
                t0 = time.perf_counter()
                for doc in docs:
                    stats.kept(doc.nbytes)
                    if sampler is not None:
                        sampler.kept(doc)
                    for entity, start, end in doc.meta.get("_pii_spans", ()):
                        audit.append(json.dumps({"id": doc.id, "entity": entity, "start": start,
                                                 "end": end}))
                    part = split_of(doc.id, self.splits) if self.splits is not None else "train"
                    if self.splits is not None:
                        stats.counters[f"split.{part}"] += 1
                    writers[part].write(doc)
                stats.add_seconds("write", time.perf_counter() - t0)
            result = PartResult(stats)
            for part, w in writers.items():
                for name, size, sha, n in w.close():
                    result.parts[f"{part}/{name}"] = [size, sha, n]
        except BaseException:
            for w in writers.values():
                w.abort()
            raise
        if audit:
            path = folder / part_name(unit.index, ".audit.jsonl")
            tmp = tmp_name(path)
            tmp.write_text("".join(line + "\n" for line in audit))
            os.replace(tmp, path)
            result.extra["audit"] = path.name
        write_samples(sampler, folder, unit, result)
        return result


def write_samples(sampler: UnitSampler | None, folder: Path, unit: Unit, result: PartResult) -> None:
    """The unit's sample part (`pile.samples`) next to its other parts, named in `result`."""
    if sampler is not None and sampler.write(folder / part_name(unit.index, SAMPLE_PART)):
        result.extra["samples"] = part_name(unit.index, SAMPLE_PART)


# -- tokenize --------------------------------------------------------------------------------


@dataclass
class TokenPart:
    """One vocabulary's part of a tokenized unit: its ``.bin`` and sequence-length files."""

    bin: str
    lengths: str
    documents: int
    tokens: int  # ids written, end-of-document ids included


@dataclass
class TokenizedUnit:
    """What a tokenize unit returns: its parts per vocabulary and its counts."""

    split: str
    parts: dict[str, TokenPart]
    documents: int
    bytes: int
    words: int
    tokens: dict[str, int]  # text tokens per vocabulary (end-of-document ids excluded)
    seconds: dict[str, float]  # encoding seconds per vocabulary


@dataclass
class MergedShard:
    """A finished shard under its temporary names, with sizes and sha256."""

    bin: str
    idx: str
    bin_size: int
    bin_sha256: str
    idx_size: int
    idx_sha256: str
    documents: int
    tokens: int


class TokenizeTask(UnitTask):
    """A written docs file -> one ``.bin`` part and its sequence lengths per vocabulary.

    Sequence k of a part is document k of the file; the parts are merged into shards
    by `MergeTask`, so the token ids never pass through the driver.
    """

    def __init__(self, encoders: dict[str, Any], staging: dict[str, str], batch_size: int) -> None:
        self.encoders = encoders
        self.staging = staging
        self.batch_size = batch_size

    def setup(self) -> None:
        for enc in self.encoders.values():
            enc.setup()

    def run(self, unit: Unit) -> TokenizedUnit:
        from pile.tokenize.counts import SourceCounter

        split = unit.get("split", "train")
        counter = SourceCounter(unit.source)
        folder = Path(self.staging[f"{split}/{unit.source}"])
        files: dict[str, TokenPart] = {}
        handles = {}
        sizes: dict[str, list[np.ndarray]] = {name: [] for name in self.encoders}
        seconds: dict[str, float] = {}
        try:
            for name in self.encoders:
                path = folder / name / part_name(unit.index, ".bin")
                path.parent.mkdir(parents=True, exist_ok=True)
                handles[name] = (path, tmp_name(path), open(tmp_name(path), "wb", buffering=1 << 20))
            for batch in read_written_unit(unit, None, self.batch_size):
                texts = [d.text for d in batch]
                counter.add_texts(texts)
                for name, enc in self.encoders.items():
                    t0 = time.perf_counter()
                    arrays = enc.encode_batch(texts)
                    seconds[name] = seconds.get(name, 0.0) + time.perf_counter() - t0
                    counter.add_tokens(name, arrays)
                    fh = handles[name][2]
                    for a in arrays:
                        fh.write(a.tobytes())
                    sizes[name].append(np.fromiter((len(a) for a in arrays), np.int32, len(arrays)))
            for name, (path, tmp, fh) in handles.items():
                fh.close()
                lens = np.concatenate(sizes[name]) if sizes[name] else np.empty(0, np.int32)
                lens_path = path.with_suffix(".len")
                with open(tmp_name(lens_path), "wb") as lens_fh:  # a handle: np.save adds no suffix
                    np.save(lens_fh, lens, allow_pickle=False)
                os.replace(tmp_name(lens_path), lens_path)
                os.replace(tmp, path)
                files[name] = TokenPart(str(path), str(lens_path), int(len(lens)), int(lens.sum()))
        except BaseException:
            for _path, tmp, fh in handles.values():
                fh.close()
                tmp.unlink(missing_ok=True)
            raise
        return TokenizedUnit(split, files, counter.documents, counter.bytes, counter.words,
                             dict(counter.tokens), seconds)


class MergeTask(UnitTask):
    """Consecutive ``.bin`` parts -> one Megatron shard (``.bin`` + ``.idx``), by sequential
    copy: no decoding, and the bytes never reach the driver."""

    def __init__(self, dtypes: dict[str, str]) -> None:
        self.dtypes = dtypes

    def run(self, unit: Unit) -> MergedShard:
        from pile.tokenize.shards import write_index

        dest = Path(unit.get("dest"))
        vocab = unit.get("vocab")
        dtype = np.dtype(self.dtypes[vocab])
        dest.parent.mkdir(parents=True, exist_ok=True)
        bin_path, idx_path = dest.with_suffix(".bin"), dest.with_suffix(".idx")
        tmp_bin, tmp_idx = tmp_name(bin_path), tmp_name(idx_path)
        h = hashlib.sha256()
        lens = []
        try:
            with open(tmp_bin, "wb") as out:
                for part in unit.files:
                    with open(part, "rb") as fh:
                        for block in iter(lambda: fh.read(1 << 22), b""):
                            h.update(block)
                            out.write(block)
                    lens.append(np.load(Path(part).with_suffix(".len"), allow_pickle=False))
                out.flush()
                os.fsync(out.fileno())
            sizes = np.concatenate(lens) if lens else np.empty(0, np.int32)
            write_index(tmp_idx, dtype, sizes)
        except BaseException:
            tmp_bin.unlink(missing_ok=True)
            tmp_idx.unlink(missing_ok=True)
            raise
        return MergedShard(str(tmp_bin), str(tmp_idx), tmp_bin.stat().st_size, h.hexdigest(),
                           tmp_idx.stat().st_size, sha256_file(tmp_idx), int(len(sizes)), int(sizes.sum()))


# -- global passes ---------------------------------------------------------------------------


class CallTask(UnitTask):
    """Steps of a global pass on the workers (`PassContext.call_each`), unit ``i`` running
    ``fns[i]``: their inputs and outputs are files; only their small results come back."""

    def __init__(self, fns: list[Any]) -> None:
        self.fns = fns

    def run(self, unit: Unit) -> Any:
        return self.fns[unit.index]()


class PartSinkTask(UnitTask):
    """A global pass's rows written where they are computed: a part per checkpoint part
    (`PartSink.write`), then, per source, the parts merged (`PartSink.merge`)."""

    def __init__(self, fn: BatchFunction, sink: Any, staging: str, batch_size: int) -> None:
        self.fn = fn
        self.sink = sink
        self.staging = staging
        self.batch_size = batch_size

    def setup(self) -> None:
        self.fn.setup()

    def run(self, unit: Unit) -> int:
        if unit.get("merge"):
            parts = [Path(p) for p in unit.files]
            return int(self.sink.merge(parts, Path(unit.get("dest")), unit.source))
        folder = Path(self.staging) / unit.source / part_name(unit.index, "")
        folder.parent.mkdir(parents=True, exist_ok=True)
        batches = (self.fn(batch) for batch in read_written_unit(unit, None, self.batch_size))
        return int(self.sink.write(folder, batches))


__all__ = ["CallTask", "CleanTask", "FinalTask", "MergeTask", "MergedShard", "PartResult", "PartSinkTask", "TokenPart",
           "TokenizeTask", "TokenizedUnit",
           "part_name", "read_source_unit", "read_written_unit", "run_stages"]
