"""Ray overhead: `pile build` with every stage off vs a plain Python loop, same documents.

Baseline: one process reads every input file of the default corpus with the same Source
parsers and writes the same ``jsonl.zst`` files (`DocsPartWriter`), no Ray, no phases.
Measured: `pile build` on the Ray executor with clean, dedup, PII and tokenization
disabled (it still checkpoints, accounts and writes), with 1 and 2 workers; and, with
``--full``, the whole pipeline on the same input, to express the overhead as a share of
a full build's time (the issue's goal: <= 5%).

    .venv/bin/python benchmarks/bench_ray_overhead.py [--mb 100] [--full]
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from pathlib import Path

from pile.build import Build
from pile.config import load_config
from pile.docs_io import DocsPartWriter
from pile.document import Document
from pile.phases.plan import plan_source
from pile.runner import RayExecutor
from pile.sources import make_source


def config(out: Path, mb: int, stages_on: bool):
    # system_docs is gzip'd on disk (~3x as text); python is plain text
    sets = [f"out={out}", f"sources.python_stdlib.max_bytes={int(mb * 0.35e6)}",
            f"sources.system_docs.max_bytes={int(mb * 0.22e6)}", "run.progress=false"]
    if not stages_on:
        sets += ["clean.enabled=false", "dedup.enabled=false", "pii.enabled=false", "tokenizers=[]"]
    else:
        sets += ["tokenizers=[{name: bpe8k, train: {vocab_size: 8192}}]"]
    return load_config(None, sets)


def plain_loop(cfg) -> tuple[float, int, int]:
    t0 = time.perf_counter()
    docs = nbytes = 0
    for scfg in cfg.sources:
        src = make_source(scfg, cfg.raw_dir)
        files = plan_source(src, src.inputs(), 1 << 60, scfg.max_bytes).files
        writer = DocsPartWriter(cfg.out_dir / "docs" / scfg.name, "plain", cfg.output.docs_per_file)
        for f in files:
            try:
                for item in src.read(f):
                    if isinstance(item, Document):
                        writer.write(item)
                        docs += 1
                        nbytes += item.nbytes
            except Exception:  # noqa: BLE001 - the build also skips a failing file
                pass
        writer.close()
    return time.perf_counter() - t0, docs, nbytes


def timed_build(cfg, executor) -> tuple[float, dict]:
    t0 = time.perf_counter()
    result = Build(cfg, executor).run()
    return time.perf_counter() - t0, result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=100, help="approximate MB of text")
    ap.add_argument("--full", action="store_true", help="also time the full pipeline")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pile-bench-"))
    try:
        base_cfg = config(tmp / "plain", args.mb, False)
        plain_s, docs, nbytes = plain_loop(base_cfg)
        mb = nbytes / 1e6
        print(f"input: {docs:,} documents, {mb:,.1f} MB of text")
        print(f"plain Python loop (1 process):       {plain_s:7.2f} s  {mb / plain_s:6.2f} MB/s")
        t0 = time.perf_counter()
        executor = RayExecutor(workers=2)
        executor.start()  # the local instance, with 2 CPUs (Ray starts lazily otherwise)
        startup = time.perf_counter() - t0
        print(f"Ray start (local instance):          {startup:7.2f} s  (once per build)")
        results = {}
        for workers in (1, 2):
            executor.workers = workers
            seconds, result = timed_build(config(tmp / f"ray{workers}", args.mb, False), executor)
            assert result["documents"] == docs, (result["documents"], docs)
            results[workers] = seconds
            print(f"pile build, stages off, {workers} worker(s): {seconds:7.2f} s  {mb / seconds:6.2f} MB/s  "
                  f"ratio vs plain loop: {plain_s / seconds:5.2f}x  (+{seconds - plain_s:.2f} s)")
        if args.full:
            executor.workers = 2
            full_s, _ = timed_build(config(tmp / "full", args.mb, True), executor)
            over = results[2] - plain_s
            print(f"full pipeline, 2 workers:            {full_s:7.2f} s  {mb / full_s:6.2f} MB/s")
            print(f"Ray + phase overhead, stages off (2 workers) minus plain loop, as a share of the "
                  f"full build: {100 * over / full_s:.1f}% (goal <= 5%); with Ray start: "
                  f"{100 * (over + startup) / full_s:.1f}%")
        executor.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
