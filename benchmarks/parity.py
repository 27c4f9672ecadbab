"""Identical ids, fast engine against HF ``tokenizers``, on 100+ MB of real, varied text.

The text, in a fixed order: every file of ``shared/data/text`` (Shakespeare, WikiText, a
Gutenberg novel, the Japanese novel) and every text sample of ``shared/data/samples``
(decompressed: Wikipedia, Stack Exchange, PubMed, USPTO, arXiv LaTeX, e-mail, IRC, HTML...),
then the default corpus of ``pile build`` as its own sources read it -- the Python standard
library (code, reST, text) and the system documentation (READMEs, changelogs, copyright
files and manual pages rendered from troff) -- until the wanted size. Files are cut into
documents of at most 20,000 characters at line ends.

Used by ``tests/test_tokenize_parity.py``; also a script:

    .venv/bin/python benchmarks/parity.py [--mb 100] [--workers 2]

prints, per vocabulary, the megabytes compared and the documents that differ.
"""

from __future__ import annotations

import bz2
import gzip
import lzma
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

DOC_CHARS = 20_000
BATCH = 64


def corpus_items(shared: Path) -> list[tuple[str, str]]:
    """(kind, path) of every input, in the fixed order: ``file`` (plain or compressed text
    files of the shared data) then the default corpus's ``python`` and ``system_docs``."""
    from pile.config import SourceConfig
    from pile.sources import make_source

    items = [("file", str(p)) for p in sorted((shared / "text").rglob("*")) if p.is_file()]
    items += [("file", str(p)) for p in sorted((shared / "samples").rglob("*")) if p.is_file()]
    raw = Path(tempfile.gettempdir())
    for kind in ("python", "system_docs"):
        src = make_source(SourceConfig(name=kind, kind=kind), raw)
        items += [(kind, str(p)) for p in src.inputs()]
    return items


def read_item(kind: str, path: str) -> Iterator[str]:
    """The documents of one input (nothing for a binary or unreadable file)."""
    if kind == "file":
        raw = Path(path).read_bytes()
        opener = {".bz2": bz2.decompress, ".gz": gzip.decompress, ".xz": lzma.decompress}
        try:
            raw = opener.get(Path(path).suffix, bytes)(raw)
            texts = [raw.decode("utf-8")]
        except (OSError, EOFError, ValueError, lzma.LZMAError):
            return
    else:
        from pile.config import SourceConfig
        from pile.document import Document
        from pile.errors import SourceError
        from pile.sources import make_source

        src = make_source(SourceConfig(name=kind, kind=kind), Path(tempfile.gettempdir()))
        try:
            texts = [d.text for d in src.read(Path(path)) if isinstance(d, Document)]
        except SourceError:
            return
    for text in texts:
        yield from cut(text)


def cut(text: str, size: int = DOC_CHARS) -> Iterator[str]:
    """`text` in pieces of at most `size` characters, each ending at a line end if any."""
    start = 0
    while start < len(text):
        end = min(start + size, len(text))
        if end < len(text):
            nl = text.rfind("\n", start, end)
            end = nl + 1 if nl > start else end
        yield text[start:end]
        start = end


@dataclass
class Parity:
    """One vocabulary's comparison: documents and bytes compared, what differed."""

    name: str
    documents: int = 0
    bytes: int = 0
    differ: list[str] = field(default_factory=list)  # "<input>: <context>" of the first few
    seconds: float = 0.0  # CPU seconds of the fast engine
    reference_seconds: float = 0.0  # and of the reference engine

    def merge(self, other: Parity) -> None:
        self.documents += other.documents
        self.bytes += other.bytes
        self.differ += other.differ
        self.seconds += other.seconds
        self.reference_seconds += other.reference_seconds


def _compare(args: tuple[list[Any], list[tuple[str, str]], dict[str, int]]) -> dict[str, Parity]:
    """One worker: read `items` in order; encode each batch with every vocabulary that has
    not reached its byte quota yet, fast engine and HF, and compare."""
    vocabs, items, quota = args
    os.environ["RAYON_NUM_THREADS"] = "1"
    fast = {v.name: v.encoder() for v in vocabs}
    hf = {v.name: v.reference_encoder() for v in vocabs}
    out = {v.name: Parity(v.name) for v in vocabs}

    def run(batch: list[tuple[str, str]]) -> None:
        texts = [t for _label, t in batch]
        size = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts)
        for name, result in out.items():
            if result.bytes >= quota[name]:
                continue
            t0 = time.process_time()
            got = fast[name].encode_batch(texts)
            t1 = time.process_time()
            want = hf[name].encode_batch(texts)
            result.seconds += t1 - t0
            result.reference_seconds += time.process_time() - t1
            for (label, text), a, b in zip(batch, got, want):
                if len(a) != len(b) or (a != b).any():
                    result.differ.append(f"{label}: {text[:60]!r}")
            result.documents += len(texts)
            result.bytes += size

    batch: list[tuple[str, str]] = []
    for kind, path in items:
        if all(r.bytes >= quota[n] for n, r in out.items()):
            break
        for text in read_item(kind, path):
            batch.append((Path(path).name, text))
            if len(batch) == BATCH:
                run(batch)
                batch = []
    if batch:
        run(batch)
    return out


def compare(vocabs: list[Any], shared: Path, megabytes: dict[str, float], workers: int = 2
            ) -> dict[str, Parity]:
    """Compare every vocabulary's engine with HF on its first `megabytes` of the corpus.

    Args:
        vocabs: loaded `pile.tokenize.vocab.Vocabulary` objects (``tokenizer.json`` files).
        shared: the shared data folder.
        megabytes: vocabulary name -> megabytes of text to compare.
        workers: processes; each takes every `workers`-th input and its share of the bytes.
    """
    items = corpus_items(shared)
    quota = {v.name: int(megabytes[v.name] * 1e6 / workers) + 1 for v in vocabs}
    jobs = [(vocabs, items[w::workers], quota) for w in range(workers)]
    import multiprocessing

    total = {v.name: Parity(v.name) for v in vocabs}
    # spawn: the parent may run Ray or HF's thread pool, which a fork would copy mid-flight
    with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn")) as pool:
        for part in pool.map(_compare, jobs):
            for name, p in part.items():
                total[name].merge(p)
    return total


SHARED_VOCABS = ("gpt2", "neox", "mistral_v1")
MODELS = {"mistral_v1": "tokenizer.model.v1",
          "mistral_v3": "mistral_instruct_tokenizer_240323.model.v3"}


def load_all(shared: Path, work: Path) -> list[Any]:
    """Every vocabulary the comparison covers: the shared GPT-2 and GPT-NeoX files, the
    Mistral models, and the derived byte-level files of `vocabularies`."""
    from corpus import stdlib_texts
    from vocabularies import derived_vocabularies

    from pile.config import TokenizerConfig
    from pile.tokenize import load_vocabulary

    files = {"gpt2": shared / "tokenizers/gpt2/tokenizer.json",
             "neox": shared / "tokenizers/gpt-neox-20b/20B_tokenizer.json",
             **derived_vocabularies(shared, work / "derived", (t for _, t in stdlib_texts()))}
    cfgs = [TokenizerConfig(name=name, path=str(path)) for name, path in files.items()]
    cfgs += [TokenizerConfig(name=name, sentencepiece=str(shared / "tokenizers/mistral" / f))
             for name, f in MODELS.items()]
    return [load_vocabulary(cfg, work / cfg.name) for cfg in cfgs]


def main() -> None:
    import argparse
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=100.0, help="for GPT-2, GPT-NeoX, Mistral v1")
    ap.add_argument("--other-mb", type=float, default=1.5, help="for the other vocabularies")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    shared = Path(os.environ.get("PILE_SHARED_DATA", Path(__file__).resolve().parents[2] / "shared" / "data"))
    work = Path(tempfile.mkdtemp(prefix="parity_"))
    vocabs = load_all(shared, work)
    for v in vocabs:
        print(f"{v.name}: engine {v.engine}")
    t0 = time.perf_counter()
    results = compare([v for v in vocabs if v.engine == "tiktoken"], shared,
                      {v.name: args.mb if v.name in SHARED_VOCABS else args.other_mb
                       for v in vocabs}, args.workers)
    print(f"compared in {time.perf_counter() - t0:.1f} s wall on {args.workers} workers")
    for r in results.values():
        print(f"{r.name:14s} {r.bytes / 1e6:8.1f} MB {r.documents:7d} documents, "
              f"{len(r.differ)} differ {r.differ[:3]}; CPU s: engine {r.seconds:.1f}, "
              f"reference {r.reference_seconds:.1f}")


if __name__ == "__main__":
    main()
