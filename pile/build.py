"""The build: phases in one direction, each finished phase checkpointed on disk.

    read + clean  -> .work/clean/<source>/part-NNNNN.parquet   (per source)
    dedup         -> dedup/ (global, across every built source)
    pii + write   -> docs/<source>/NNNNN.jsonl.zst, pii/audit.jsonl
    tokenize      -> tokens/<tokenizer>/<source>.bin/.idx, tokens/counts.csv
    report        -> stats.json, report.md, manifest.json

A phase of a source is skipped when its marker (``.work/<phase>/<source>.done.json``)
holds the same fingerprint: the hash of its inputs, the config that shapes it and the
stage versions. So a killed build restarts at the last finished phase, and
``--source X`` redoes X while the other sources are reused.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections import Counter
from pathlib import Path
from typing import Any, Iterable, Iterator

import pile
from pile.config import Config, SourceConfig, to_dict
from pile.docs_io import (CheckpointWriter, JsonlZstWriter, checkpoint_parts, read_checkpoint,
                          write_json)
from pile.document import Document
from pile.errors import PileError
from pile.executor import Executor, LocalExecutor
from pile.phases import (ChainProcessor, CheckpointReader, FunctionProcessor, SourceReader,
                         checkpoint_units, plan_units)
from pile.progress import PhaseProgress
from pile.sources import make_source
from pile.sources.base import Source
from pile.stage import BatchFunction, DropIds, PassResult, Stage
from pile.stats import PhaseAccounting

log = logging.getLogger(__name__)

PHASES = ("clean", "dedup", "final", "tokenize")


def fingerprint(*parts: Any) -> str:
    """sha256 of the canonical JSON of `parts`."""
    blob = json.dumps(parts, sort_keys=True, default=str, ensure_ascii=False).encode()
    return hashlib.sha256(blob).hexdigest()


def file_fingerprint(files: Iterable[Path]) -> list[tuple[str, int, int]]:
    out = []
    for f in files:
        st = f.stat()
        out.append((str(f), st.st_size, st.st_mtime_ns))
    return out


def content_fingerprint(files: Iterable[Path]) -> str:
    """sha256 over the bytes of `files` (outputs of an earlier phase)."""
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode())
        with open(f, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def clean_stages(cfg: Config, src: SourceConfig) -> list[Stage]:
    """The per-document cleaning stages for one source (its overrides applied)."""
    clean = cfg.clean_for(src)
    if not clean.enabled:
        return []
    from pile.clean import build_clean_stages

    return build_clean_stages(clean)


class Build:
    """One `pile build`: the configured sources through every enabled phase.

    Args:
        cfg: the validated configuration.
        executor: where the work runs (`pile.runner.make_executor`).
        only: source names given with ``--source`` (rebuilt even when up to date);
            None builds every source.
    """

    def __init__(self, cfg: Config, executor: Executor, only: list[str] | None = None,
                 mirror_map: dict[str, str] | None = None) -> None:
        self.cfg = cfg
        self.executor = executor
        self.out = cfg.out_dir
        self.work = self.out / ".work"
        self.only = list(only) if only else None
        for name in self.only or []:
            cfg.source(name)  # fails with the configured names when unknown
        self.sources: dict[str, Source] = {s.name: make_source(s, cfg.raw_dir) for s in cfg.sources}
        self.stats: dict[str, dict[str, Any]] = {}
        self.rebuilt: list[str] = []
        self.reused: list[str] = []
        self.details: dict[str, Any] = {}
        self.fingerprints: dict[str, dict[str, str]] = {}
        self.nodes: Counter[str] = Counter()  # Ray node id -> units of work it did
        self.mirror_map = dict(mirror_map or {})
        self.download_failures: dict[str, list[dict[str, str]]] = {}

    # -- markers -----------------------------------------------------------------------

    def _marker(self, phase: str, source: str) -> Path:
        return self.work / phase / f"{source}.done.json"

    def _done(self, phase: str, source: str, fp: str) -> dict[str, Any] | None:
        path = self._marker(phase, source)
        if not path.is_file():
            return None
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            return None
        return data if data.get("fingerprint") == fp else None

    def _mark(self, phase: str, source: str, fp: str, **payload: Any) -> None:
        write_json(self._marker(phase, source), {"fingerprint": fp, **payload})

    def _forced(self, source: str) -> bool:
        return self.only is not None and source in self.only

    def _selected(self) -> list[str]:
        """Sources this run processes: all, or the ``--source`` ones."""
        return [s.name for s in self.cfg.sources if self.only is None or s.name in self.only]

    # -- the build ---------------------------------------------------------------------

    def check(self) -> None:
        """Fail before any work on a missing input path or a broken config."""
        for name in self._selected():
            self.sources[name].check_inputs()

    def run(self) -> dict[str, Any]:
        started = time.time()
        self.check()
        self.out.mkdir(parents=True, exist_ok=True)
        with BuildLock(self.work / "lock"):
            return self._run(started)

    def _run(self, started: float) -> dict[str, Any]:
        self.phase_download()
        self.phase_clean()
        decisions = self.phase_dedup()
        index_sha = self.phase_heldout(decisions)
        self.phase_final(decisions, index_sha)
        self.phase_tokenize()
        from pile.report import write_outputs

        return write_outputs(self, seconds=time.time() - started)

    def built_sources(self) -> list[str]:
        """Sources (in configured order) whose cleaned documents exist."""
        return [s.name for s in self.cfg.sources if self._marker("clean", s.name).is_file()]

    def _record(self, source: str, phase: str, stats: dict[str, Any], fp: str, reused: bool) -> None:
        self.stats.setdefault(source, {})[phase] = stats
        self.fingerprints.setdefault(source, {})[phase] = fp
        (self.reused if reused else self.rebuilt).append(f"{phase}:{source}")

    # -- phase 0: downloads ------------------------------------------------------------

    def phase_download(self) -> None:
        """Fetch what the selected sources list upstream (cached files are verified, not
        fetched again); a file that fails is named in the source's stats."""
        remote = [self.sources[n] for n in self._selected() if not self.cfg.source(n).paths]
        remote = [s for s in remote if type(s).list_files is not Source.list_files or s.cfg.urls]
        if not remote:
            return
        for src in remote:
            for result in download_all(src, self.mirror_map, self.cfg.run.progress):
                if not result.ok:
                    self.download_failures.setdefault(src.name, []).append(
                        {"file": result.name, "reason": f"download failed: {result.error}"})

    # -- phase 1: read and clean -------------------------------------------------------

    def phase_clean(self) -> None:
        pending: dict[str, tuple[str, list[Path], list[dict[str, Any]], list[Stage]]] = {}
        for name in self._selected():
            src = self.sources[name]
            scfg = self.cfg.source(name)
            files = src.inputs()
            units, selected = plan_units(name, files, self.cfg.run.unit_bytes,
                                         self.executor.workers, scfg.max_bytes)
            chain = clean_stages(self.cfg, scfg)
            fp = fingerprint("clean", pile.__version__, to_dict(scfg), to_dict(self.cfg.clean_for(scfg)),
                             [s.name for s in chain], file_fingerprint(selected), self.cfg.run.batch_size)
            done = self._done("clean", name, fp)
            if done and not self._forced(name):
                self._record(name, "clean", done["stats"], fp, reused=True)
                continue
            if not files:
                log.warning("source %s has no input files", name)
            pending[name] = (fp, selected, units, chain)
        if not pending:
            return
        units = [u for (_, _, us, _) in pending.values() for u in us]
        chains = {name: chain for name, (_, _, _, chain) in pending.items()}
        acc = {name: PhaseAccounting(["read"] + [s.name for s in chain])
               for name, (_, _, _, chain) in pending.items()}
        writers = {name: CheckpointWriter(self.work / "clean" / name) for name in pending}
        reader = SourceReader({n: self.sources[n] for n in pending}, self.cfg.run.batch_size)
        t0 = time.time()
        with PhaseProgress("read+clean", len(units), self.cfg.run.progress) as bar:
            for rows in self.executor.run(units, reader, ChainProcessor(chains)):
                for row in rows:
                    self._account(row, acc, bar)
                    if row["kind"] == "doc":
                        writers[row["doc"].source].write(row["doc"])
        for name, (fp, selected, _, _) in pending.items():
            for failure in self.download_failures.get(name, []):
                acc[name].file_failed(failure["file"], failure["reason"])
            writers[name].commit()
            stats = acc[name].finish()
            stats.files = len(selected)
            stats.raw_bytes = sum(f.stat().st_size for f in selected if f.exists())
            stats.seconds = time.time() - t0
            if stats.documents_in == 0:
                log.warning("source %s produced no documents", name)
            self._mark("clean", name, fp, stats=stats.to_dict())
            self._record(name, "clean", stats.to_dict(), fp, reused=False)

    def _account(self, row: dict[str, Any], acc: dict[str, PhaseAccounting], bar: PhaseProgress) -> None:
        kind = row["kind"]
        if kind == "doc":
            doc = row["doc"]
            a = acc[doc.source]
            a.read(row["nbytes_in"])
            a.kept(doc.nbytes)
            bar.advance_docs(1, row["nbytes_in"])
        elif kind == "drop":
            a = acc[row["source"]]
            a.read(row["nbytes_in"])
            a.dropped(row["stage"], row["reason"], row["nbytes"])
            bar.advance_docs(1, row["nbytes_in"])
        elif kind == "error":
            acc[row["source"]].file_failed(row["file"], row["reason"])
        elif kind == "stats":
            a = acc.get(row["source"])
            if a is not None:
                for stage, s in row["seconds"].items():
                    a.add_seconds(stage, s)
                a.add_counters({key: n for (_s, key, n) in row["counters"]})
            if "unit_seconds" in row:
                bar.advance_unit()
                if "node" in row:
                    self.nodes[row["node"]] += 1

    # -- phase 2: global dedup ---------------------------------------------------------

    def phase_dedup(self) -> dict[str, dict[str, str]]:
        """Run dedup across every built source; return per-source id -> reason decisions."""
        built = self.built_sources()
        decisions: dict[str, dict[str, str]] = {name: {} for name in built}
        if not self.cfg.dedup.enabled or not built:
            return decisions
        from pile.dedup import Dedup

        upstream = {name: json.loads(self._marker("clean", name).read_text())["fingerprint"] for name in built}
        fp = fingerprint("dedup", pile.__version__, to_dict(self.cfg.dedup), upstream)
        marker = self._done("dedup", "_all", fp)
        if marker is None:
            ctx = RunnerPassContext(self, built, self.out / "dedup")
            ctx.changed_sources = [n for n in built if self._forced(n) or f"clean:{n}" in self.rebuilt]
            t0 = time.time()
            result: PassResult = Dedup(self.cfg.dedup).run(ctx)
            by_source: dict[str, dict[str, str]] = {name: {} for name in built}
            for doc_id, reason in sorted(result.drops.items()):
                by_source.setdefault(doc_id.split("/", 1)[0], {})[doc_id] = reason
            counters = {f"{s}\t{k}": n for (s, k), n in sorted(result.counters.items())}
            self._mark("dedup", "_all", fp, seconds=time.time() - t0, counters=counters,
                       details=result.details)
            for name, drops in by_source.items():
                write_json(self.work / "dedup" / f"{name}.drops.json", drops)
            marker = self._done("dedup", "_all", fp)
            reused = False
        else:
            reused = True
        assert marker is not None
        self.details["dedup"] = marker.get("details", {})
        counters: dict[str, Counter[str]] = {}
        for key, n in marker.get("counters", {}).items():
            source, name = key.split("\t", 1)
            counters.setdefault(source, Counter())[name] = n
        for name in built:
            path = self.work / "dedup" / f"{name}.drops.json"
            decisions[name] = json.loads(path.read_text()) if path.is_file() else {}
            self._record(name, "dedup", {"removed": len(decisions[name]),
                                         "counters": dict(counters.get(name, {}))}, fp, reused)
        return decisions

    # -- phase 2b: held-out splits and the decontamination index -----------------------

    def splits_active(self) -> bool:
        sp = self.cfg.splits
        return sp.val_fraction > 0 or sp.test_fraction > 0

    def phase_heldout(self, decisions: dict[str, dict[str, str]]) -> str | None:
        """Index the 13-grams of every held-out document (and the user's evaluation set),
        so the final phase can cut them out of the training split. Returns the index's
        sha256 (part of every source's final fingerprint), or None when not used."""
        dc = self.cfg.decontam
        if not dc.enabled or not (self.splits_active() or dc.eval_paths):
            return None
        from pile.decontam import build_heldout_index, eval_files
        from pile.manifest import sha256_file

        built = self.built_sources()
        upstream = {n: json.loads(self._marker("clean", n).read_text())["fingerprint"] for n in built}
        drops = sorted(i for d in decisions.values() for i in d)
        fp = fingerprint("heldout", pile.__version__, upstream, fingerprint(drops), to_dict(self.cfg.splits),
                         to_dict(dc), file_fingerprint(eval_files(dc.eval_paths)))
        path = self.work / "decontam" / "index.npy"
        done = self._done("decontam", "_all", fp)
        if done is not None and path.is_file() and sha256_file(path) == done.get("sha256"):
            self.details["decontam"] = {"ngrams": done.get("ngrams", 0), "reused": True}
            return done["sha256"]
        t0 = time.time()
        ctx = RunnerPassContext(self, built, self.work / "decontam")
        ngrams = build_heldout_index(ctx, self.cfg.splits, dc, path, exclude=set(drops))
        sha = sha256_file(path)
        self._mark("decontam", "_all", fp, sha256=sha, ngrams=ngrams, seconds=time.time() - t0)
        self.details["decontam"] = {"ngrams": ngrams, "reused": False}
        return sha

    # -- phase 3: PII scrubbing and the written documents --------------------------------

    def final_stages(self, decisions: dict[str, str], index_sha: str | None = None) -> list[Stage]:
        stages: list[Stage] = []
        drop = DropIds(decisions, "dedup")
        drop.name = "dedup_v1"  # the stats key of what the global pass removed
        stages.append(drop)
        if index_sha is not None:
            # before PII: the audit spans must refer to the final text
            from pile.decontam import Decontaminate

            stages.append(Decontaminate(self.cfg.decontam, self.cfg.splits,
                                        str(self.work / "decontam" / "index.npy")))
        if self.cfg.pii.enabled:
            from pile.pii.scrub import PiiScrubber

            stages.append(PiiScrubber(self.cfg.pii))
        return stages

    def phase_final(self, decisions: dict[str, dict[str, str]], index_sha: str | None = None) -> None:
        pending = {}
        splits = self.splits_active()
        for name in self.built_sources():
            clean_fp = json.loads(self._marker("clean", name).read_text())["fingerprint"]
            chain = self.final_stages(decisions.get(name, {}), index_sha)
            fp = fingerprint("final", pile.__version__, clean_fp, sorted(decisions.get(name, {}).items()),
                             to_dict(self.cfg.pii), to_dict(self.cfg.output), [s.name for s in chain],
                             to_dict(self.cfg.splits) if splits else None,
                             [to_dict(self.cfg.decontam), index_sha] if index_sha else None)
            done = self._done("final", name, fp)
            if done and not self._forced(name) and (self.out / "docs" / name).is_dir():
                self._record(name, "final", done["stats"], fp, reused=True)
                continue
            pending[name] = (fp, chain)
        if not pending:
            return
        units = [u for name in pending for u in checkpoint_units(name, checkpoint_parts(self.work / "clean" / name))]
        acc = {name: PhaseAccounting(["read"] + [s.name for s in chain]) for name, (_, chain) in pending.items()}
        from pile.splits import split_of

        parts = ("train", "val", "test") if splits else ("train",)
        writers = {(name, part): JsonlZstWriter(self.split_root(part) / "docs" / name,
                                                self.cfg.output.docs_per_file, self.cfg.output.zstd_level)
                   for name in pending for part in parts}
        audits: dict[str, list[str]] = {name: [] for name in pending}
        t0 = time.time()
        # With nothing to compute (no duplicates to drop, no PII or decontamination
        # stage), shipping every document to the workers and back only costs time: the
        # driver copies the checkpoint into the Pile's format itself, to the same bytes.
        idle = all(isinstance(st, DropIds) and not st.decisions for _, c in pending.values() for st in c)
        executor = LocalExecutor() if idle else self.executor
        with PhaseProgress("dedup+pii+write", len(units), self.cfg.run.progress) as bar:
            for rows in executor.run(units, CheckpointReader(self.cfg.run.batch_size),
                                     ChainProcessor({n: c for n, (_, c) in pending.items()})):
                for row in rows:
                    self._account(row, acc, bar)
                    if row["kind"] == "doc":
                        doc: Document = row["doc"]
                        for entity, start, end in doc.meta.get("_pii_spans", ()):
                            audits[doc.source].append(json.dumps(
                                {"id": doc.id, "entity": entity, "start": start, "end": end}))
                        part = split_of(doc.id, self.cfg.splits) if splits else "train"
                        if splits:
                            acc[doc.source].add_counters({f"split.{part}": 1})
                        writers[(doc.source, part)].write(doc)
        for name, (fp, _) in pending.items():
            for part in parts:
                writers[(name, part)].commit()
            if not splits:
                for part in ("val", "test"):  # a build that had splits before
                    shutil.rmtree(self.split_root(part) / "docs" / name, ignore_errors=True)
            audit_path = self.work / "pii" / f"{name}.audit.jsonl"
            audit_path.parent.mkdir(parents=True, exist_ok=True)
            audit_path.write_text("".join(line + "\n" for line in audits[name]))
            stats = acc[name].finish()
            stats.seconds = time.time() - t0
            self._mark("final", name, fp, stats=stats.to_dict())
            self._record(name, "final", stats.to_dict(), fp, reused=False)

    # -- phase 4: tokenization ---------------------------------------------------------

    def phase_tokenize(self) -> None:
        if not self.cfg.tokenizers:
            return
        from pile.tokenize.mix import mix_markdown, run_mix
        from pile.tokenize.phase import run_tokenize_phase

        vocabs = run_tokenize_phase(self)
        if self.splits_active():
            self.tokenize_heldout(vocabs)
        # The Pile's mix: epochs applied after dedup, one seeded shuffled training set per
        # tokenizer, and the GPT-NeoX data-path lines for the unmixed per-source shards.
        built = self.built_sources()
        results = run_mix(self.cfg, self.out / "tokens", built,
                          {s: self.fingerprints.get(s, {}).get("tokenize", "") for s in built})
        if results:
            self.details["mix"] = {n: r.to_dict() for n, r in results.items()}
            self.details["mix_markdown"] = mix_markdown(list(results.values()))
            self.details.setdefault("manifest_extra", {})["mix"] = {
                n: {"documents": r.documents, "tokens": r.tokens} for n, r in results.items()}

    def tokenize_heldout(self, vocabs: list[Any]) -> None:
        """Shards for the validation and test splits: OUT/<split>/tokens/<tok>/<source>.bin,
        with the vocabularies the tokenize phase already loaded."""
        from pile.docs_io import read_pile_documents
        from pile.tokenize.write import tokenize_source

        built = self.built_sources()
        record: dict[str, Any] = {}
        for part in ("val", "test"):
            for name in built:
                files = sorted((self.split_root(part) / "docs" / name).glob("*.jsonl.zst"))
                fp = fingerprint("heldout_tokens", content_fingerprint(files), [v.to_dict() for v in vocabs],
                                 self.cfg.output.shard_tokens)
                done = self._done("heldout_tokens", f"{part}.{name}", fp)
                if done is None:
                    def batches(files: list[Path] = files, name: str = name) -> Iterator[list[str]]:
                        batch: list[str] = []
                        for f in files:
                            for doc in read_pile_documents(f, name):
                                batch.append(doc.text)
                                if len(batch) >= self.cfg.run.batch_size:
                                    yield batch
                                    batch = []
                        if batch:
                            yield batch

                    counter = tokenize_source(name, batches(), vocabs, self.split_root(part) / "tokens",
                                              self.cfg.output.shard_tokens, self.cfg.source(name).epochs)
                    counts = {v.name: counter.tokens.get(v.name, 0) + counter.documents for v in vocabs}
                    self._mark("heldout_tokens", f"{part}.{name}", fp, documents=counter.documents,
                               tokens=counts)
                    done = self._done("heldout_tokens", f"{part}.{name}", fp)
                assert done is not None
                for v in vocabs:
                    record.setdefault(part, {}).setdefault(v.name, {})[name] = {
                        "documents": done["documents"], "tokens": done["tokens"][v.name]}
        self.details.setdefault("manifest_extra", {})["heldout_tokens"] = record

    def split_root(self, part: str) -> Path:
        """Where a split's documents and shards go: OUT for train, OUT/val, OUT/test."""
        return self.out if part == "train" else self.out / part

    def docs_files(self, source: str) -> list[Path]:
        return sorted((self.out / "docs" / source).glob("*.jsonl.zst"))


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


def download_all(src: Source, mirror_map: dict[str, str], progress: bool, max_rounds: int = 5) -> list[Any]:
    """Download a source's files, again while its listing grows.

    Some sources list in two steps (Common Crawl's ``warc.paths.gz``, index pages): the
    first round fetches the listing, the next the files it names.
    """
    from pile.sources.download import download_sources

    results: list[Any] = []
    for _ in range(max_rounds):
        results = download_sources([src], mirror_map=mirror_map, progress=progress)
        if len(src.list_files()) <= len(results):
            break
    return results


class RunnerPassContext:
    """The `PassContext` a global pass sees: the cleaned checkpoints of every built source."""

    def __init__(self, build: Build, sources: list[str], workdir: Path) -> None:
        self.build = build
        self.sources = list(sources)
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workers = build.executor.workers
        self.changed_sources: list[str] = list(sources)
        self.fingerprints = {
            s: json.loads(build._marker("clean", s).read_text())["fingerprint"] for s in sources}

    def parts(self, source: str) -> list[Path]:
        return checkpoint_parts(self.build.work / "clean" / source)

    def iter_documents(self, source: str) -> Iterator[Document]:
        for part in self.parts(source):
            yield from read_checkpoint(part)

    def map_batches(self, fn: BatchFunction, sources: Iterable[str] | None = None
                    ) -> Iterator[tuple[str, list[dict[str, Any]]]]:
        names = self.sources if sources is None else list(sources)
        units = [u for s in names for u in checkpoint_units(s, self.parts(s))]
        if not units:
            return
        reader = CheckpointReader(self.build.cfg.run.batch_size)
        label = f"{self.workdir.name}: {type(fn).__name__}"
        with PhaseProgress(label, len(units), self.build.cfg.run.progress) as bar:
            for rows in self.build.executor.run(units, reader, FunctionProcessor(fn)):
                for row in rows:
                    if row["kind"] == "result":
                        bar.advance_docs(len(row["rows"]), 0)
                        yield row["source"], row["rows"]
                    elif row["kind"] == "stats" and "unit_seconds" in row:
                        bar.advance_unit()


def summary_line(result: dict[str, Any]) -> str:
    return (f"built {result['documents']:,} documents ({result['bytes'] / 1e6:,.1f} MB) "
            f"from {result['sources']} sources into {result['out']}")


__all__ = ["Build", "RunnerPassContext", "download_all", "fingerprint", "summary_line"]
