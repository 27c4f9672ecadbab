"""Tokenize: every written source, train and held-out splits, through every vocabulary, once.

1. Vocabularies: each ``tokenizers:`` entry is loaded and saved in ``tokens/<name>/``;
   ``train:`` entries train on the written documents of every built source (configured
   order) and are reused while those documents and the entry are unchanged.
2. Encode: one unit per written docs file. Its worker encodes the file with every
   vocabulary (the text is decoded once) and writes one ``.bin`` part plus its sequence
   lengths per vocabulary.
3. Merge: the parts of a source are grouped, in order, into shards of at most
   ``output.shard_tokens`` tokens (a shard closes before a part that would pass the limit;
   a part larger than the limit is a shard of its own), and a worker concatenates each
   group's ``.bin`` parts and writes its ``.idx``. The driver renames the finished shards:
   ``<source>.bin/.idx`` for one shard, ``<source>_NNNNN.bin/.idx`` for several.
4. Counts: ``tokens/counts.csv/.json`` and the record's token summary (the report's
   worker task draws ``tokens/counts.png``).
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from functools import partial
from pathlib import Path
from typing import Any

import pile
from pile.config import to_dict
from pile.docs_io import atomic_write_text
from pile.executor import Done, Unit
from pile.phases.context import SPLITS, BuildContext
from pile.phases.engine import GLOBAL, Phase, file_fingerprint, fingerprint
from pile.phases.plan import file_bytes
from pile.phases.work import CallTask, MergedShard, MergeTask, TokenizedUnit, TokenizeTask, TokenPart
from pile.progress import PhaseProgress
from pile.phases.record import TokenSummary
from pile.tokenize.counts import CountsTable, SourceCounter
from pile.tokenize.shards import find_shards, remove_stale_shards, shard_paths
from pile.manifest import sha256_file
from pile.tokenize.vocab import Vocabulary, keep_plan, load_trained, load_vocabulary

log = logging.getLogger(__name__)

TOKENIZE_VERSION = "tokenize_v1"  # shards, EOD rule and counts; a change gets a new name


def vocabulary_entry(cfg: Any, dest: str) -> dict[str, Any]:
    """Load one vocabulary (run on a worker: the engine choice, a tiktoken plan derived and
    proven on the probe, costs about a second) and return its manifest entry; the plan is
    rebuilt from the saved file where it is compiled (`Vocabulary.encoder`)."""
    vocabulary = load_vocabulary(cfg, Path(dest))
    keep_plan(vocabulary)  # each worker then reads the plan instead of deriving it
    return vocabulary.to_dict()


def file_vocabularies(ctx: BuildContext) -> dict[str, Vocabulary]:
    """The vocabularies given as files or hub names, loaded on the workers (`vocabulary_entry`);
    one whose file and entry are unchanged since it was last loaded is taken from its
    marker, so a rebuild with nothing to do starts no worker for it."""
    out: dict[str, Vocabulary] = {}
    todo: list[tuple[Any, Path, str]] = []
    for cfg in ctx.cfg.tokenizers:
        if cfg.train is not None:
            continue
        dest = ctx.out / "tokens" / cfg.name
        given = cfg.path or cfg.tiktoken or cfg.sentencepiece
        source = file_fingerprint([Path(given).expanduser()]) if given else None
        fp = fingerprint(TOKENIZE_VERSION, pile.__version__, to_dict(cfg), source)
        done = ctx.markers.load("vocab", cfg.name, fp)
        if done is not None and given and (dest / done["file"]).is_file() and \
                sha256_file(dest / done["file"]) == done["sha256"]:
            out[cfg.name] = Vocabulary.from_dict(done, dest)
        else:
            todo.append((cfg, dest, fp))
    if todo:
        task = CallTask([partial(vocabulary_entry, cfg, str(dest)) for cfg, dest, _ in todo])
        for done_unit in ctx.executor.map(task, [Unit(GLOBAL, i, ()) for i in range(len(todo))]):
            cfg, dest, fp = todo[done_unit.unit.index]
            out[cfg.name] = Vocabulary.from_dict(done_unit.result, dest)
            ctx.record.vocab_seconds[cfg.name] = done_unit.seconds
            ctx.markers.save("vocab", cfg.name, fp, done_unit.result)
    return out


def load_vocabularies(ctx: BuildContext) -> list[Vocabulary]:
    """Every configured vocabulary, saved in ``tokens/<name>/`` (trained ones reused when
    their corpus and entry are unchanged)."""
    from pile.docs_io import read_pile_documents

    sources = ctx.built_sources()
    tokens_dir = ctx.out / "tokens"
    loaded = file_vocabularies(ctx)
    vocabs = []
    for cfg in ctx.cfg.tokenizers:
        dest = tokens_dir / cfg.name
        if cfg.train is None:
            vocabs.append(loaded[cfg.name])
            continue
        corpus_fp = fingerprint([(s, ctx.markers.fingerprint_of("final", s)) for s in sources])
        fp = fingerprint(TOKENIZE_VERSION, to_dict(cfg), corpus_fp)
        done = ctx.markers.load("tokenize_vocab", cfg.name, fp)
        if done is not None and (dest / "tokenizer.json").is_file():
            vocab = load_trained(cfg, dest)
            if vocab.sha256 == done.get("sha256"):
                log.info("tokenizer %s: reusing the trained vocabulary", cfg.name)
                vocabs.append(vocab)
                continue

        def texts():
            for name in sources:
                for path in ctx.docs_files(name):
                    for doc in read_pile_documents(path, name):
                        yield doc.text

        started = time.time()
        with PhaseProgress(f"train {cfg.name}", 1, ctx.cfg.run.progress) as bar:
            vocab = load_vocabulary(cfg, dest, train_texts=texts)
            bar.advance_unit(0, 0)
        log.info("tokenizer %s: trained %d ids in %.1f s", cfg.name, vocab.vocab_size, time.time() - started)
        ctx.markers.save("tokenize_vocab", cfg.name, fp, {"sha256": vocab.sha256})
        vocabs.append(vocab)
    return vocabs


class TokenizePhase(Phase):
    name = "tokenize"
    label = "tokenize"

    def __init__(self) -> None:
        self.vocabs: list[Vocabulary] = []
        self.counters: dict[str, SourceCounter] = {}
        self.heldout: dict[str, dict[str, dict[str, Any]]] = {}
        self.shards: dict[str, dict[str, list[str]]] = {}  # source -> vocabulary -> shard names

    def _splits(self, ctx: BuildContext) -> tuple[str, ...]:
        return SPLITS if ctx.splits_active() else ("train",)

    def keys(self, ctx: BuildContext) -> list[str]:
        if not ctx.cfg.tokenizers:
            return []
        self.vocabs = load_vocabularies(ctx)
        ctx.record.vocabs = self.vocabs
        return ctx.built_sources()

    def fingerprint(self, ctx: BuildContext, key: str) -> str:
        return fingerprint(TOKENIZE_VERSION, ctx.markers.fingerprint_of("final", key),
                           [v.to_dict() for v in self.vocabs], ctx.cfg.output.shard_tokens,
                           self._splits(ctx))

    def present(self, ctx: BuildContext, key: str, payload: dict[str, Any]) -> bool:
        return all(find_shards(ctx.split_root(part) / "tokens" / v.name / key)
                   for part in self._splits(ctx) for v in self.vocabs)

    def run(self, ctx: BuildContext, keys: list[str]) -> dict[str, dict[str, Any]]:
        units: list[Unit] = []
        staging: dict[str, str] = {}
        for key in keys:
            shutil.rmtree(ctx.staging(self.name, key), ignore_errors=True)
            n = 0
            for part in self._splits(ctx):
                staging[f"{part}/{key}"] = str(ctx.staging(self.name, key) / part)
                for path in ctx.docs_files(key, part):
                    units.append(Unit(key, n, (str(path),), extra=(("split", part),),
                                      weight=file_bytes(path)))
                    n += 1
        task = TokenizeTask({v.name: v.encoder() for v in self.vocabs}, staging, ctx.cfg.run.batch_size)
        by_key: dict[str, list[Done]] = {k: [] for k in keys}
        with PhaseProgress("tokenize", len(units), ctx.cfg.run.progress) as bar:
            for done in ctx.executor.map(task, units):
                by_key[done.unit.source].append(done)
                ctx.executor.stats.wrote(done.node, 2 * len(done.result.parts))  # .bin + .len
                bar.advance_unit(done.result.documents, done.result.bytes)
        merges = [u for key in keys for u in self._merge_units(ctx, key, by_key[key])]
        merged: dict[tuple[str, str, str], list[MergedShard]] = {}
        dtypes = {v.name: str(v.dtype) for v in self.vocabs}
        with PhaseProgress("tokenize: shards", len(merges), ctx.cfg.run.progress) as bar:
            for done in ctx.executor.map(MergeTask(dtypes), merges):
                u = done.unit
                merged.setdefault((u.source, u.get("split"), u.get("vocab")), []).append(done.result)
                ctx.executor.stats.wrote(done.node, 2)  # .bin + .idx
                bar.advance_unit(done.result.documents, 0)
        return {key: self._commit(ctx, key, by_key[key], merged) for key in keys}

    def _merge_units(self, ctx: BuildContext, key: str, done: list[Done]) -> list[Unit]:
        units = []
        limit = ctx.cfg.output.shard_tokens
        for part in self._splits(ctx):
            results: list[TokenizedUnit] = [d.result for d in done if d.result.split == part]
            for v in self.vocabs:
                groups: list[list[TokenPart]] = [[]]
                tokens = 0
                for r in results:
                    f = r.parts[v.name]
                    if groups[-1] and tokens + f.tokens > limit:
                        groups.append([])
                        tokens = 0
                    groups[-1].append(f)
                    tokens += f.tokens
                prefix = ctx.split_root(part) / "tokens" / v.name / key
                for i, group in enumerate(groups):
                    bin_path, _idx = shard_paths(prefix, None if len(groups) == 1 else i)
                    units.append(Unit(key, len(units), tuple(f.bin for f in group),
                                      extra=(("dest", str(bin_path.with_suffix(""))), ("shards", len(groups)),
                                             ("split", part), ("vocab", v.name))))
        return units

    def _commit(self, ctx: BuildContext, key: str, done: list[Done],
                merged: dict[tuple[str, str, str], list[MergedShard]]) -> dict[str, Any]:
        counter = SourceCounter(key, ctx.cfg.source(key).epochs)
        heldout: dict[str, dict[str, Any]] = {}
        artifacts: dict[str, list[Any]] = {}
        shards: dict[str, list[str]] = {}
        seconds: dict[str, float] = {}
        for d in done:
            r: TokenizedUnit = d.result
            for name, s in r.seconds.items():
                seconds[name] = seconds.get(name, 0.0) + s
            if r.split == "train":
                counter.documents += r.documents
                counter.bytes += r.bytes
                counter.words += r.words
                for name, n in r.tokens.items():
                    counter.tokens[name] = counter.tokens.get(name, 0) + n
        for v in self.vocabs:
            counter.tokens.setdefault(v.name, 0)
        for part in self._splits(ctx):
            for v in self.vocabs:
                results = merged.get((key, part, v.name), [])
                prefix = ctx.split_root(part) / "tokens" / v.name / key
                single = len(results) == 1
                remove_stale_shards(prefix, 0 if single else len(results), single)
                for i, r in enumerate(results):
                    bin_path, idx_path = shard_paths(prefix, None if single else i)
                    os.replace(r.bin, bin_path)  # .bin first: an .idx always has its .bin
                    os.replace(r.idx, idx_path)
                    root = "" if part == "train" else f"{part}/"
                    artifacts[f"{root}tokens/{v.name}/{bin_path.name}"] = [r.bin_size, r.bin_sha256]
                    artifacts[f"{root}tokens/{v.name}/{idx_path.name}"] = [r.idx_size, r.idx_sha256]
                    if part == "train":
                        shards.setdefault(v.name, []).append(bin_path.with_suffix("").name)
                if part != "train":
                    heldout.setdefault(part, {})[v.name] = {
                        "documents": sum(r.documents for r in results),
                        "tokens": sum(r.tokens for r in results)}
        shutil.rmtree(ctx.staging(self.name, key), ignore_errors=True)
        counts = {"documents": counter.documents, "bytes": counter.bytes, "words": counter.words,
                  "tokens": dict(counter.tokens)}
        stats = {"documents": counter.documents, "bytes": counter.bytes, "tokens": dict(counter.tokens),
                 "seconds": round(sum(d.seconds for d in done), 3),
                 "encode_seconds": {k: round(s, 3) for k, s in sorted(seconds.items())}}
        return {"counts": counts, "heldout": heldout, "shards": shards, "stats": stats,
                "artifacts": artifacts}

    def load(self, ctx: BuildContext, key: str, payload: dict[str, Any]) -> None:
        c = payload["counts"]
        self.counters[key] = SourceCounter(key, ctx.cfg.source(key).epochs, c["documents"], c["bytes"],
                                           c["words"], dict(c["tokens"]))
        self.heldout[key] = payload.get("heldout", {})
        ctx.record.put_stats(key, self.name, payload.get("stats", {}))
        ctx.record.artifacts.update(payload.get("artifacts", {}))
        self.shards[key] = payload.get("shards", {})

    def finish(self, ctx: BuildContext) -> None:
        if not self.vocabs:
            return
        sources = ctx.built_sources()
        table = CountsTable.from_counters(self.counters[name] for name in sources)
        rebuilt = any(r.startswith(f"{self.name}:") for r in ctx.record.rebuilt)
        # The tables only: their plot (counts.png) is drawn with the report's, on a worker.
        for ext, render in (("csv", table.to_csv), ("json", table.to_json)):
            path = ctx.out / "tokens" / f"counts.{ext}"
            if rebuilt or not path.is_file():
                atomic_write_text(path, render())
        shards = self.shards
        manifest = {v.name: {**v.to_dict(), "sources": {
            name: {"documents": self.counters[name].documents,
                   "tokens": self.counters[name].tokens.get(v.name, 0) + self.counters[name].documents,
                   "shards": shards.get(name, {}).get(v.name, [])}
            for name in sources}} for v in self.vocabs}
        heldout: dict[str, Any] = {}
        for name in sources:
            for part, per_vocab in self.heldout.get(name, {}).items():
                for vname, rec in per_vocab.items():
                    heldout.setdefault(part, {}).setdefault(vname, {})[name] = rec
        ctx.record.tokens = TokenSummary(tokenizers=[v.to_dict() for v in self.vocabs],
                                         counts=[r.to_dict() for r in table.rows],
                                         markdown=table.to_markdown(), manifest=manifest, heldout=heldout)


__all__ = ["TOKENIZE_VERSION", "TokenizePhase", "load_vocabularies"]
