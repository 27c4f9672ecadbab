"""Benchmark of the tokenize step: MB/s per core against raw HF ``encode_batch_fast``.

Run: ``.venv/bin/python benchmarks/bench_tokenize.py [--mb 20] [--batch 64]``

Text: every file under ``shared/data/text`` and ``shared/data/samples`` (decompressed, cut
into ~10 kB documents) plus the Python standard library's ``.py`` files (one document
each), up to ``--mb`` megabytes.

Vocabularies: GPT-2 and GPT-NeoX-20B ``tokenizer.json``, cl100k ``.tiktoken`` and Mistral v1
SentencePiece ``.model`` from ``shared/data/tokenizers``, and the byte-level BPE files of
``vocabularies.py`` (cl100k as HF merges, Llama-3 and Qwen2 pipeline shapes, a BPE trained
on the standard library, GPT-2 with flagged added tokens). For each:

- limit: raw HF ``Tokenizer.encode_batch_fast`` on the same batches, one rayon thread
  (= one core). cl100k and Mistral have no HF file on disk, so their HF tokenizers are
  converted (`pile.tokenize.convert`; cl100k's is id-identical to tiktoken, Mistral's is
  the "legacy" conversion HF's LlamaTokenizerFast uses, whose ids differ from
  SentencePiece's on whitespace runs);
- ours: `pile.tokenize.tokenize_source` with that vocabulary alone: encode with the chosen
  engine, append EOD, write ``.bin/.idx`` shards, count documents/bytes/words/tokens;
- same ids: every document's ids in the written shard equal HF's (hashes compared); for
  Mistral they cannot (HF's legacy conversion is not SentencePiece).

Then the four shared vocabularies in one `tokenize_source` run (documents read once),
against the sum of their four single-vocabulary runs. Goals (issue 14): GPT-NeoX >= 3x HF
with identical ids, every byte-level BPE ``tokenizer.json`` >= 2.5x, four-in-one <= 1.1x
the sum of the single runs. Times are CPU seconds of this process (the machine is shared).
"""

from __future__ import annotations

import argparse
import bz2
import gzip
import hashlib
import os

os.environ["RAYON_NUM_THREADS"] = "1"  # before tokenizers starts its pool: one core
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from tiktoken.load import load_tiktoken_bpe  # noqa: E402
from tokenizers import Tokenizer  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from corpus import stdlib_texts  # noqa: E402
from vocabularies import derived_vocabularies  # noqa: E402

from pile.config import TokenizerConfig  # noqa: E402
from pile.tokenize import ShardReader, load_vocabulary, tokenize_source  # noqa: E402
from pile.tokenize.convert import (TIKTOKEN_ENCODINGS, sentencepiece_to_hf,  # noqa: E402
                                   tiktoken_to_hf)

SHARED = Path(os.environ.get("PILE_SHARED_DATA", REPO.parent / "shared" / "data"))
TOK = SHARED / "tokenizers"
FOUR = ("gpt2", "neox", "cl100k", "mistral")


def corpus(limit_mb: float) -> list[str]:
    docs: list[str] = []
    total = 0
    files = sorted((SHARED / "text").rglob("*")) + sorted((SHARED / "samples").rglob("*"))
    for path in files:
        if not path.is_file():
            continue
        raw = path.read_bytes()
        if path.suffix == ".bz2":
            raw = bz2.decompress(raw)
        elif path.suffix == ".gz":
            raw = gzip.decompress(raw)
        text = raw.decode("utf-8", errors="replace")
        for i in range(0, len(text), 10_000):
            docs.append(text[i:i + 10_000])
    total = sum(len(d.encode()) for d in docs)
    for _rel, text in stdlib_texts():
        if total >= limit_mb * 1e6:
            break
        docs.append(text)
        total += len(text.encode())
    return docs


def batches(docs: list[str], size: int) -> list[list[str]]:
    return [docs[i:i + size] for i in range(0, len(docs), size)]


def digest(ids) -> bytes:
    return hashlib.blake2b(np.asarray(ids, dtype=np.int64).tobytes(), digest_size=16).digest()


class Interleaved:
    """Feeds batches to `tokenize_source` and, just before each, runs the HF limit on the
    same batch, so both see the same machine load (the box is shared). Times are CPU
    seconds of this process (``time.process_time``): work per core, robust to other
    processes competing for the two cores. Keeps a hash of each document's HF ids."""

    def __init__(self, batched: list[list[str]], hf: list[Tokenizer]) -> None:
        self.batched = batched
        self.hf = hf
        self.hf_seconds = 0.0
        self.digests: list[bytes] = []

    def __iter__(self):
        for b in self.batched:
            t0 = time.process_time()
            encs = [tok.encode_batch_fast(b, add_special_tokens=False) for tok in self.hf]
            self.hf_seconds += time.process_time() - t0
            if len(self.hf) == 1:
                self.digests += [digest(e.ids) for e in encs[0]]
            yield b


def run(batched, hf, vocabs, out, encoders) -> tuple[float, float, object, list[bytes]]:
    """(our CPU seconds, the HF limit's CPU seconds, counts, HF id hashes) for one run."""
    feed = Interleaved(batched, hf)
    t0 = time.process_time()
    counter = tokenize_source("bench", feed, vocabs, out, 10**9, encoders=encoders)
    total = time.process_time() - t0
    return total - feed.hf_seconds, feed.hf_seconds, counter, feed.digests


def same_ids(prefix: Path, digests: list[bytes]) -> bool:
    reader = ShardReader(prefix)
    return len(reader) == len(digests) and all(digest(reader[k][:-1]) == d
                                               for k, d in enumerate(digests))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=float, default=20.0, help="megabytes of text (default 20)")
    ap.add_argument("--batch", type=int, default=64, help="documents per batch (default 64)")
    args = ap.parse_args()

    docs = corpus(args.mb)
    mb = sum(len(d.encode()) for d in docs) / 1e6
    batched = batches(docs, args.batch)
    print(f"text: {len(docs)} documents, {mb:.1f} MB; batches of {args.batch}; 1 core "
          f"(RAYON_NUM_THREADS=1); CPUs on this machine: {os.cpu_count()}")

    work = Path(tempfile.mkdtemp(prefix="bench_tokenize_"))
    derived = derived_vocabularies(SHARED, work / "derived", (t for _, t in stdlib_texts()))
    cfgs = [TokenizerConfig(name="gpt2", path=str(TOK / "gpt2/tokenizer.json")),
            TokenizerConfig(name="neox", path=str(TOK / "gpt-neox-20b/20B_tokenizer.json")),
            TokenizerConfig(name="cl100k", tiktoken=str(TOK / "tiktoken/cl100k_base.tiktoken")),
            TokenizerConfig(name="mistral", sentencepiece=str(TOK / "mistral/tokenizer.model.v1"))]
    cfgs += [TokenizerConfig(name=name, path=str(path)) for name, path in derived.items()]
    vocabs = [load_vocabulary(c, work / "vocab" / c.name) for c in cfgs]

    hf: dict[str, Tokenizer] = {}
    for v in vocabs:
        if v.file.suffix == ".json":
            hf[v.name] = Tokenizer.from_file(str(v.file))
        elif v.kind == "tiktoken":
            pat, specials = TIKTOKEN_ENCODINGS[v.encoding]
            hf[v.name] = tiktoken_to_hf(load_tiktoken_bpe(str(v.file)), pat, specials)
        else:
            hf[v.name] = sentencepiece_to_hf(v.file)
        hf[v.name].encode_special_tokens = True

    print(f"\n{'vocabulary':<13} {'engine':<14} {'HF limit MB/s':>14} {'ours MB/s':>10} "
          f"{'ratio':>6}  {'goal':<8} same ids as HF   (CPU time, one core)")
    singles = {}
    for v in vocabs:
        enc = v.encoder()
        enc.setup()  # loading the vocabulary is not part of the per-document cost
        t_ours, t_hf, _, digests = run(batched, [hf[v.name]], [v], work / "one", {v.name: enc})
        singles[v.name] = t_ours
        own = v.file.suffix == ".json"
        goal = (">= 3x" if v.name == "neox" or v.kind == "tiktoken" else
                ">= 2.5x" if own else "exact")
        same = same_ids(work / "one" / v.name / "bench", digests)
        shown = "yes" if same else "no (HF's is the legacy conversion)" if \
            v.kind == "sentencepiece" else "NO"
        print(f"{v.name:<13} {v.engine:<14} {mb / t_hf:>14.2f} {mb / t_ours:>10.2f} "
              f"{t_hf / t_ours:>5.2f}x  {goal:<8} {shown}")
        if v.kind == "sentencepiece":
            # the sentencepiece library itself: the engine the tiktoken plan replaces
            lib = v.reference_encoder()
            lib.setup()
            t_sp, _, _, _ = run(batched, [], [v], work / "lib", {v.name: lib})
            same = all((work / "lib" / v.name / f"bench{ext}").read_bytes() ==
                       (work / "one" / v.name / f"bench{ext}").read_bytes() for ext in (".bin", ".idx"))
            print(f"{'':<13} {'sentencepiece':<14} {'':>14} {mb / t_sp:>10.2f}   tiktoken plan "
                  f"{t_sp / t_ours:.2f}x sentencepiece, same ids: {'yes' if same else 'NO'}")
            shutil.rmtree(work / "lib", ignore_errors=True)
        shutil.rmtree(work / "one", ignore_errors=True)

    four = [v for v in vocabs if v.name in FOUR]
    encoders = {v.name: v.encoder() for v in four}
    for enc in encoders.values():
        enc.setup()
    t_all, t_hf_all, counter, _ = run(batched, [hf[v.name] for v in four], four, work / "all",
                                      encoders)
    t_sum = sum(singles[v.name] for v in four)
    print(f"\nfour vocabularies ({', '.join(FOUR)}) in one pass: {t_all:.1f} s CPU "
          f"({mb / t_all:.2f} MB/s); their four single runs {t_sum:.1f} s; ratio "
          f"{t_all / t_sum:.2f} (goal <= 1.1); the four HF limits on the same batches "
          f"{t_hf_all:.1f} s ({t_hf_all / t_all:.2f}x ours)")
    print("tokens: " + ", ".join(f"{k}={n:,}" for k, n in sorted(counter.tokens.items())))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
