"""End-to-end speed: the whole build on the default corpus, then a one-source rebuild.

Runs `pile build` (clean, dedup, PII, one vocabulary: GPT-2 through its exact tiktoken
engine, or a trained BPE with --train) on about --mb MB of the default corpus (the Python
standard library and the system documentation) with --workers workers on local Ray, and
prints MB/s per core with the time of every phase and stage. Then it rebuilds one source
(`--source system_docs`) on the same inputs and prints that time against the full build
and the source's share of the corpus (the goal: proportional to the share, plus the
cluster re-resolution of dedup).

Not measured here: datatrove's closest equivalent pipeline (it was not installed in a side
environment in this session), so no ratio against it is printed.

    .venv/bin/python benchmarks/bench_build.py [--mb 200] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from pile.build import Build
from pile.config import load_config
from pile.runner import RayExecutor

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def make_config(out: Path, mb: int, train: bool):
    tok = ("[{name: bpe32k, train: {vocab_size: 32768, max_bytes: 50000000}}]" if train else
           f"[{{name: gpt2, path: {SHARED / 'tokenizers' / 'gpt2' / 'tokenizer.json'}}}]")
    return load_config(None, [f"out={out}", "run.progress=false", f"tokenizers={tok}",
                              # on disk: the stdlib is text, the docs are mostly gzip (~3x)
                              f"sources.python_stdlib.max_bytes={int(min(mb * 0.2, 40) * 1e6)}",
                              f"sources.system_docs.max_bytes={int(mb * 0.8 / 2.6 * 1e6)}"])


def phase_table(stats: dict) -> list[str]:
    lines = []
    for name, src in stats["sources"].items():
        for phase, st in src["phases"].items():
            if "stages" in st:
                stages = ", ".join(f"{k} {v['seconds']:.1f}s" for k, v in st["stages"].items())
                lines.append(f"  {name:14s} {phase:8s} {st['seconds']:7.1f} s wall  [{stages}]")
    return lines


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--train", action="store_true", help="train a 32k BPE instead of GPT-2")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pile-bench-build-"))
    try:
        executor = RayExecutor(workers=args.workers)
        cfg = make_config(tmp / "out", args.mb, args.train)
        t0 = time.perf_counter()
        Build(cfg, executor).run()
        full = time.perf_counter() - t0
        stats = json.loads((tmp / "out" / "stats.json").read_text())
        mb_read = stats["totals"]["bytes_read"] / 1e6
        print(f"full build: {mb_read:,.1f} MB of text read, {stats['totals']['bytes_kept'] / 1e6:,.1f} MB kept, "
              f"{full:,.1f} s wall on {args.workers} workers")
        print(f"  => {mb_read / full / args.workers:.3f} MB/s per core (goal >= 0.7; "
              f"libraries' defaults glued together measured ~0.17 per the issue)")
        print("\n".join(phase_table(stats)))
        ded = stats.get("dedup", {})
        if ded.get("seconds"):
            print(f"  dedup steps: {json.dumps(ded['seconds'])}")
        share = stats["sources"]["system_docs"]["summary"]["bytes_read"] / 1e6 / mb_read
        t0 = time.perf_counter()
        result = Build(cfg, executor, only=["system_docs"]).run()
        one = time.perf_counter() - t0
        print(f"one-source rebuild (system_docs, {100 * share:.0f}% of the text): {one:,.1f} s = "
              f"{100 * one / full:.0f}% of the full build; rebuilt {result['rebuilt']}")
        executor.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
