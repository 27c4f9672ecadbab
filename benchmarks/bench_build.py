"""End-to-end speed: the whole build on the default corpus, then a one-source rebuild.

Runs `pile build` (clean, dedup, PII, one vocabulary: GPT-2 through its exact tiktoken
engine, or a trained BPE with --train) on about --mb MB of the default corpus (the Python
standard library and the system documentation) with --workers workers on local Ray, and
prints MB/s per core with the time of every phase and stage. Then it rebuilds one source
(`--source system_docs`) on the same inputs and prints that time against the full build
and the source's share of the corpus (the goal: proportional to the share, plus the
cluster re-resolution of dedup).

It also prints what the phase engine promises (issue 10): the driver's share of the build's
CPU seconds (driver against every process below it: Ray and its workers), and the peak
resident memory of the whole process tree; with ``--mb2`` a second build of another size,
so the two show whether memory grows with the corpus (it must not). ``--vocabs 2`` adds
GPT-NeoX-20B (HF engine) to GPT-2 (tiktoken). datatrove's closest pipeline is measured by
bench_datatrove.py.

The default corpus stops at about 350 MB of text on a small machine. ``--extra PATH``
(repeatable) adds a tree of real code as one more ``python``-kind source (``.py``, ``.rst``,
``.txt``; ``__pycache__`` and ``*.dist-info`` left out), read whole whatever ``--mb``:
for example a virtualenv's ``site-packages``, or ``~/.pyenv/versions`` (whose standard
libraries repeat the default corpus's, so dedup has real duplicates to find). That is
how the issue's 1 GB build is measured on such a machine.

    .venv/bin/python benchmarks/bench_build.py [--mb 200] [--mb2 100] [--workers 2] [--vocabs 2]
        [--extra PATH ...]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

from proctree import TreeMonitor

from pile.build import Build
from pile.config import apply_overrides, parse_config
from pile.defaults import default_config_data
from pile.runner import RayExecutor

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def extra_source(i: int, path: str) -> dict:
    """A tree of real code, read whole, cleaned as the default corpus's code is."""
    return {"name": f"code_{i}", "kind": "python", "paths": [str(Path(path).expanduser().resolve())],
            "options": {"exclude": ["__pycache__", "*.dist-info"]},
            "clean": {"languages": [], "quality": {"enabled": False}, "min_chars": 100}}


def make_config(out: Path, mb: int, train: bool, vocabs: int = 1, extra: tuple[str, ...] = ()):
    neox = f", {{name: neox, path: {SHARED / 'tokenizers' / 'gpt-neox-20b' / '20B_tokenizer.json'}}}"
    tok = ("[{name: bpe32k, train: {vocab_size: 32768, max_bytes: 50000000}}]" if train else
           f"[{{name: gpt2, path: {SHARED / 'tokenizers' / 'gpt2' / 'tokenizer.json'}}}"
           f"{neox if vocabs > 1 else ''}]")
    data = default_config_data()
    data["sources"] += [extra_source(i, p) for i, p in enumerate(extra)]
    return parse_config(apply_overrides(data, [
        f"out={out}", "run.progress=false", f"tokenizers={tok}",
        # on disk: the stdlib is text, the docs are mostly gzip (~3x)
        f"sources.python_stdlib.max_bytes={int(min(mb * 0.2, 40) * 1e6)}",
        f"sources.system_docs.max_bytes={int(mb * 0.8 / 2.6 * 1e6)}"]))


def phase_table(stats: dict) -> list[str]:
    lines = []
    for name, src in stats["sources"].items():
        for phase, st in src["phases"].items():
            if "stages" in st:
                stages = ", ".join(f"{k} {v['seconds']:.1f}s" for k, v in st["stages"].items())
                lines.append(f"  {name:14s} {phase:8s} {st['seconds']:7.1f} s wall  [{stages}]")
    return lines


def one_build(tmp: Path, mb: int, args: argparse.Namespace, extra: tuple[str, ...]
              ) -> tuple[float, dict, TreeMonitor]:
    executor = RayExecutor(workers=args.workers)
    cfg = make_config(tmp / f"out{mb}", mb, args.train, args.vocabs, extra)
    t0 = time.perf_counter()
    with TreeMonitor() as mon:
        Build(cfg, executor).run()
    seconds = time.perf_counter() - t0
    executor.close()
    return seconds, json.loads((tmp / f"out{mb}" / "stats.json").read_text()), mon


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=200)
    ap.add_argument("--mb2", type=int, default=0, help="a second build of this size (memory growth)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--vocabs", type=int, default=1, choices=[1, 2])
    ap.add_argument("--train", action="store_true", help="train a 32k BPE instead of GPT-2")
    ap.add_argument("--no-rebuild", action="store_true", help="skip the one-source rebuild")
    ap.add_argument("--extra", action="append", default=[], metavar="PATH",
                    help="a tree of real code read whole as one more source, in the --mb build (repeatable)")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pile-bench-build-"))
    try:
        # the extra trees go to the first build only: the second is the smaller size
        for mb, extra in [(args.mb, tuple(args.extra))] + ([(args.mb2, ())] if args.mb2 else []):
            full, stats, mon = one_build(tmp, mb, args, extra)
            mb_read = stats["totals"]["bytes_read"] / 1e6
            print(f"full build (--mb {mb}): {mb_read:,.1f} MB of text read, "
                  f"{stats['totals']['bytes_kept'] / 1e6:,.1f} MB kept, {full:,.1f} s wall on "
                  f"{args.workers} workers")
            print(f"  => {mb_read / full / args.workers:.3f} MB/s per core")
            print(f"  driver CPU {mon.driver_cpu:,.1f} s of {mon.driver_cpu + mon.tree_cpu:,.1f} s in the "
                  f"process tree: driver share {100 * mon.driver_share:.2f}% (goal <= 2%)")
            print(f"  peak memory of the whole process tree: {mon.peak_rss / 2**30:.2f} GiB resident "
                  f"(goal <= 8), {mon.peak_anon / 2**30:.2f} GiB of it not file-backed "
                  "(memory-mapped shards excluded)")
            print(f"  phase seconds: {json.dumps(stats.get('phase_seconds', {}))}")
            phases = stats.get("driver_cpu_seconds", {})
            print(f"  driver CPU seconds by phase (stats.json): {json.dumps(phases)}")
            print("\n".join(phase_table(stats)))
        if not args.no_rebuild:
            cfg = make_config(tmp / f"out{args.mb}", args.mb, args.train, args.vocabs, tuple(args.extra))
            stats = json.loads((tmp / f"out{args.mb}" / "stats.json").read_text())
            full = stats["seconds"]
            mb_read = stats["totals"]["bytes_read"] / 1e6
            share = stats["sources"]["system_docs"]["summary"]["bytes_read"] / 1e6 / mb_read
            executor = RayExecutor(workers=args.workers)
            t0 = time.perf_counter()
            result = Build(cfg, executor, only=["system_docs"]).run()
            one = time.perf_counter() - t0
            print(f"one-source rebuild (system_docs, {100 * share:.0f}% of the text): {one:,.1f} s = "
                  f"{100 * one / full:.0f}% of the full build; rebuilt {result['rebuilt']}")
            t0 = time.perf_counter()
            result = Build(cfg, executor).run()
            print(f"rebuild with nothing to do: {time.perf_counter() - t0:.2f} s "
                  f"({result.get('up_to_date', 0)} phases up to date; goal <= 5 s)")
            executor.close()
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
