"""Each phase's fixed cost: a tiny input through every phase, Ray against in-process.

A build's time is its work plus what each phase costs whatever the input: planning,
shipping the task, setting it up on the workers, committing, markers. On a tiny input
(the work is next to nothing) that fixed part is all that is left, so this prints, per
phase, its seconds on the Ray executor (2 workers, one pool for the whole build) and on
the in-process `LocalExecutor` (the baseline: same phases, no Ray), and the difference
(the engine's own cost per phase; the goal is <= 1 s). It also prints what starting Ray
and the pool costs once per build, and a rebuild with nothing to do (goal <= 5 s: it
must not start Ray at all).

    .venv/bin/python benchmarks/bench_phases.py [--workers 2]
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
from pile.config import parse_config
from pile.executor import LocalExecutor
from pile.runner import RayExecutor

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


def tiny_config(inputs: Path, out: Path):
    return parse_config({
        "out": str(out), "sources": [{"name": "plays", "kind": "files", "paths": [str(inputs)]}],
        "clean": {"languages": ["en"], "min_chars": 50},
        "splits": {"val_fraction": 0.1, "test_fraction": 0.1},
        "tokenizers": [{"name": "gpt2", "path": str(SHARED / "tokenizers" / "gpt2" / "tokenizer.json")}],
        "run": {"progress": False}})


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pile-bench-phases-"))
    try:
        inputs = tmp / "in"
        inputs.mkdir()
        scenes = [s for s in (SHARED / "text" / "tinyshakespeare.txt").read_text().split("\n\n") if len(s) > 200]
        (inputs / "plays.jsonl").write_text("".join(json.dumps({"text": s}) + "\n" for s in scenes[:60]))
        ray = RayExecutor(workers=args.workers)
        t0 = time.perf_counter()
        ray.start()
        ray_init = time.perf_counter() - t0
        rows = {}
        walls = {}
        for name, executor in (("local", LocalExecutor()), ("ray", ray)):
            cfg = tiny_config(inputs, tmp / name)
            t0 = time.perf_counter()
            Build(cfg, executor).run()
            walls[name] = time.perf_counter() - t0
            stats = json.loads((tmp / name / "stats.json").read_text())
            for phase, sec in stats["phase_seconds"].items():
                rows.setdefault(phase, {})[name] = sec
        print(f"input: {sum(len(s) for s in scenes[:60]) / 1e3:.1f} kB of text, 60 documents; "
              f"Ray start (once per process): {ray_init:.2f} s")
        print(f"{'phase':10s} {'in-process':>11s} {'ray':>8s} {'ray - local':>12s}")
        for phase, r in rows.items():
            print(f"{phase:10s} {r.get('local', 0):10.2f}s {r.get('ray', 0):7.2f}s "
                  f"{r.get('ray', 0) - r.get('local', 0):+11.2f}s")
        print(f"whole build: in-process {walls['local']:.2f} s, ray {walls['ray']:.2f} s "
              f"(ray's first phase includes starting the pool of {args.workers} actors)")
        ray.close()
        again = RayExecutor(workers=args.workers)
        t0 = time.perf_counter()
        result = Build(tiny_config(inputs, tmp / "ray"), again).run()
        noop = time.perf_counter() - t0
        again.close()
        print(f"rebuild with nothing to do: {noop:.2f} s, {result.get('up_to_date', 0)} phases up to date "
              f"(goal <= 5 s)")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
