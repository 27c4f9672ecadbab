"""`pile validate` against the build it checks: the goal is at most 15% of the build's time.

Runs the default `pile build` (the embedded config, as a new user does) into a temporary
folder, then `pile validate` on it, each as its own `python -m pile` process, and prints
both wall times, the validate throughput (MB of documents and token shards re-read per
second) and the ratio validate / build, the baseline measured in the same run.

    .venv/bin/python benchmarks/bench_validate.py [--out DIR]   # --out: reuse a finished build
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def timed(*args: str) -> float:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "pile", *args], cwd=REPO, env=env,
                          capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"pile {' '.join(args)} failed: {proc.stderr.strip()}")
    return seconds


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, help="a finished build to validate (no build is timed)")
    args = ap.parse_args()
    tmp = None if args.out else Path(tempfile.mkdtemp(prefix="pile-bench-validate-"))
    out = args.out or tmp / "build"  # type: ignore[operator]
    try:
        build = None if args.out else timed("build", "--out", str(out), "--no-progress")
        validate = timed("validate", str(out))
        mb = sum(p.stat().st_size for folder in ("docs", "tokens") for p in (out / folder).rglob("*")
                 if p.is_file()) / 1e6
        print(f"validate: {validate:6.1f} s  {mb / validate:6.1f} MB/s over {mb:.1f} MB of docs + shards")
        if build is not None:
            print(f"build:    {build:6.1f} s  (the baseline)")
            print(f"validate / build = {validate / build:.1%} (goal: <= 15%)")
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
