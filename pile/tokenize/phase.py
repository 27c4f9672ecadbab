"""The build's tokenize phase: every written source through every vocabulary, once.

Called by `pile.build.Build.phase_tokenize` after ``docs/<source>/`` is written:

1. vocabularies: each ``tokenizers:`` entry is loaded (`load_vocabulary`) and saved in
   ``tokens/<name>/``; ``train:`` entries train on the written documents of every built
   source in configured order, and are reused while those documents and the entry are
   unchanged (training is the expensive part);
2. shards: the documents of each source that changed (or whose vocabularies changed) are
   read once, in file order, by the executor's workers; each worker encodes a chunk with
   every vocabulary (`TokenizeProcessor`) and the driver appends the results to one
   `ShardWriter` per source x vocabulary, in document order, so the shards are
   byte-identical whatever the number of workers;
3. counts: ``tokens/counts.csv``, ``counts.json`` and ``counts.png``, the markdown section
   of ``report.md`` (``build.details["tokens_markdown"]``), ``stats.json``'s ``tokens`` and the
   manifest's ``tokenizers`` entry (vocabulary, sha256, and per source the documents and
   tokens `pile validate` checks the shards against).
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

from pile.config import to_dict
from pile.tokenize.counts import CountsTable, SourceCounter
from pile.tokenize.engines import Encoder
from pile.tokenize.shards import ShardWriter, find_shards
from pile.tokenize.vocab import Vocabulary, load_trained, load_vocabulary

if TYPE_CHECKING:
    from pile.build import Build

log = logging.getLogger(__name__)

TOKENIZE_VERSION = "tokenize_v1"  # shards, EOD rule and counts; a change gets a new name


class TokenizeProcessor:
    """A chunk of document rows -> one ``tokens`` row with every vocabulary's ids.

    Picklable (the encoders load their vocabularies in `setup`, once per worker).
    """

    def __init__(self, encoders: dict[str, Encoder]) -> None:
        self.encoders = encoders

    def setup(self) -> None:
        # One core per worker: without this, HF's rayon pool in every worker would use
        # every core of the machine.
        os.environ.setdefault("RAYON_NUM_THREADS", "1")
        for enc in self.encoders.values():
            enc.setup()

    def __call__(self, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        docs = [r["doc"] for r in rows if r["kind"] == "doc"]
        if not docs:
            return []
        texts = [d.text for d in docs]
        counter = SourceCounter(docs[0].source)
        counter.add_texts(texts)
        ids = {}
        for name, enc in self.encoders.items():
            ids[name] = enc.encode_batch(texts)
            counter.add_tokens(name, ids[name])
        return [{"kind": "tokens", "source": counter.source, "ids": ids,
                 "documents": counter.documents, "bytes": counter.bytes, "words": counter.words}]


def _texts(build: Build, sources: list[str]) -> Iterator[str]:
    from pile.docs_io import read_pile_documents

    for name in sources:
        for path in build.docs_files(name):
            for doc in read_pile_documents(path, name):
                yield doc.text


def load_vocabularies(build: Build, sources: list[str]) -> list[Vocabulary]:
    """Every configured vocabulary, saved in ``tokens/<name>/`` (trained ones reused when
    their corpus and entry are unchanged)."""
    from pile.build import content_fingerprint, fingerprint

    tokens_dir = build.out / "tokens"
    vocabs = []
    corpus_fp = None
    for cfg in build.cfg.tokenizers:
        dest = tokens_dir / cfg.name
        if cfg.train is None:
            vocabs.append(load_vocabulary(cfg, dest))
            continue
        if corpus_fp is None:
            corpus_fp = fingerprint([(s, content_fingerprint(build.docs_files(s))) for s in sources])
        fp = fingerprint(TOKENIZE_VERSION, to_dict(cfg), corpus_fp)
        done = build._done("tokenize_vocab", cfg.name, fp)
        saved = dest / "tokenizer.json"
        if done is not None and saved.is_file():
            vocab = load_trained(cfg, dest)
            if vocab.sha256 == done.get("sha256"):
                log.info("tokenizer %s: reusing the trained vocabulary", cfg.name)
                vocabs.append(vocab)
                continue
        started = time.time()
        vocab = load_vocabulary(cfg, dest, train_texts=lambda: _texts(build, sources))
        log.info("tokenizer %s: trained %d ids in %.1f s", cfg.name, vocab.vocab_size,
                 time.time() - started)
        build._mark("tokenize_vocab", cfg.name, fp, sha256=vocab.sha256)
        vocabs.append(vocab)
    return vocabs


def run_tokenize_phase(build: Build) -> list[Vocabulary]:
    """Tokenize every built source with every configured vocabulary (see module doc).

    Returns:
        The vocabularies used, for the held-out splits' shards (loaded once per build).
    """
    from pile.build import content_fingerprint, fingerprint
    from pile.phases import CheckpointReader
    from pile.progress import PhaseProgress

    cfg = build.cfg
    tokens_dir = build.out / "tokens"
    sources = build.built_sources()
    vocabs = load_vocabularies(build, sources)
    vocab_fp = [v.to_dict() for v in vocabs]

    counters: dict[str, SourceCounter] = {}
    fps: dict[str, str] = {}
    pending: list[str] = []
    for name in sources:
        fp = fingerprint(TOKENIZE_VERSION, content_fingerprint(build.docs_files(name)), vocab_fp,
                         cfg.output.shard_tokens)
        fps[name] = fp
        done = None if build._forced(name) else build._done("tokenize", name, fp)
        present = all(find_shards(tokens_dir / v.name / name) for v in vocabs)
        if done is not None and present:
            counters[name] = _counter_from(name, done["counts"], cfg.source(name).epochs)
            build._record(name, "tokenize", done.get("stats", {}), fp, reused=True)
        else:
            pending.append(name)

    if pending:
        _tokenize(build, pending, vocabs, tokens_dir, counters, fps, CheckpointReader,
                  PhaseProgress)

    table = CountsTable.from_counters(counters[name] for name in sources)
    table.write(tokens_dir)
    build.details["tokens"] = {"tokenizers": [v.to_dict() for v in vocabs],
                               "counts": [r.to_dict() for r in table.rows]}
    build.details["tokens_markdown"] = table.to_markdown()
    manifest = {v.name: {**v.to_dict(), "sources": {
        name: {"documents": counters[name].documents,
               "tokens": counters[name].tokens.get(v.name, 0) + counters[name].documents,
               "shards": [p.with_suffix("").name for p in find_shards(tokens_dir / v.name / name)]}
        for name in sources}} for v in vocabs}
    build.details.setdefault("manifest_extra", {})["tokenizers"] = manifest
    return vocabs


def _tokenize(build: Build, pending: list[str], vocabs: list[Vocabulary], tokens_dir: Path,
              counters: dict[str, SourceCounter], fps: dict[str, str], reader_cls,
              progress_cls) -> None:
    cfg = build.cfg
    units = [{"source": name, "files": [str(path)]}
             for name in pending for path in build.docs_files(name)]
    processor = TokenizeProcessor({v.name: v.encoder() for v in vocabs})
    writers = {(name, v.name): ShardWriter(tokens_dir / v.name / name, v.dtype,
                                           cfg.output.shard_tokens)
               for name in pending for v in vocabs}
    fresh = {name: SourceCounter(name, cfg.source(name).epochs) for name in pending}
    started = time.time()
    try:
        with progress_cls("tokenize", len(units), cfg.run.progress) as bar:
            for rows in build.executor.run(units, reader_cls(cfg.run.batch_size), processor):
                for row in rows:
                    if row["kind"] == "tokens":
                        name = row["source"]
                        c = fresh[name]
                        c.documents += row["documents"]
                        c.bytes += row["bytes"]
                        c.words += row["words"]
                        for vname, arrays in row["ids"].items():
                            c.add_tokens(vname, arrays)
                            writers[(name, vname)].add_many(arrays)
                        bar.advance_docs(row["documents"], row["bytes"])
                    elif "unit_seconds" in row:
                        bar.advance_unit()
                        if "node" in row:
                            build.nodes[row["node"]] += 1
        for writer in writers.values():
            writer.close()
    except BaseException:
        for writer in writers.values():
            if not writer._closed:
                writer.abort()
        raise
    seconds = time.time() - started
    for name in pending:
        c = fresh[name]
        for v in vocabs:
            c.tokens.setdefault(v.name, 0)
        counters[name] = c
        stats = {"documents": c.documents, "bytes": c.bytes, "tokens": dict(c.tokens),
                 "seconds": round(seconds, 3)}
        build._mark("tokenize", name, fps[name], counts=_counter_dict(c), stats=stats)
        build._record(name, "tokenize", stats, fps[name], reused=False)


def _counter_dict(c: SourceCounter) -> dict[str, Any]:
    return {"documents": c.documents, "bytes": c.bytes, "words": c.words, "tokens": dict(c.tokens)}


def _counter_from(name: str, data: dict[str, Any], epochs: float) -> SourceCounter:
    return SourceCounter(source=name, epochs=epochs, documents=data["documents"],
                         bytes=data["bytes"], words=data["words"], tokens=dict(data["tokens"]))
