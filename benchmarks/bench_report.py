"""What looking at the corpus costs: the workers' sampling, and the report on the driver.

Builds about --mb MB of the default corpus (bench_build's config: GPT-2 through tiktoken)
on local Ray twice (after a warm-up build that is not counted): with the report's samples (the default `report:` section) and with
sampling off (``report.samples=0``, ``report.duplicate_pairs=0``), and prints

- the workers' seconds in the two phases that sample (read+clean and final, summed over
  units) with sampling against without it, and, steadier on a busy machine, the clean
  chain over one source's documents in this process with the unit sampler and without
  (best of three, alternated): the sampling's cost, as ratios;
- the driver's CPU seconds in `write_outputs` (stats, report.md, the manifest, and
  handing the plots, samples/, report.html and README.md to one worker task) against the
  named baseline measured in the same run: drawing the same four plots in the driver's
  process, as the build did before they moved to a worker;
- the driver's share of the whole build's CPU (goal <= 2%) and the page's size.

    .venv/bin/python benchmarks/bench_report.py [--mb 40] [--workers 2]
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from bench_build import make_config
from proctree import TreeMonitor

import pile.report
from pile.build import Build
from pile.runner import RayExecutor


def build(out: Path, mb: int, workers: int, sampling: bool) -> dict:
    cfg = make_config(out, mb, train=False)
    if not sampling:
        cfg = replace(cfg, report=replace(cfg.report, samples=0, duplicate_pairs=0))
    driver: dict[str, float] = {}
    original = pile.report.write_outputs

    def timed(ctx, seconds):  # Build.run looks write_outputs up on pile.report at call time
        t0 = time.process_time()
        result = original(ctx, seconds)
        driver["write_outputs"] = time.process_time() - t0
        return result

    pile.report.write_outputs = timed
    executor = RayExecutor(workers=workers)
    try:
        t0 = time.perf_counter()
        with TreeMonitor() as mon:
            Build(cfg, executor).run()
        wall = time.perf_counter() - t0
    finally:
        executor.close()
        pile.report.write_outputs = original
    stats = json.loads((out / "stats.json").read_text())
    unit_seconds = sum(src["phases"][p]["seconds"] for src in stats["sources"].values() for p in ("clean", "final"))
    return {"wall": wall, "units": unit_seconds, "driver_report": driver["write_outputs"], "mon": mon,
            "stats": stats, "html": (out / "report.html").stat().st_size}


def sampling_in_process(out: Path, cfg_source: str, repeats: int = 3) -> tuple[float, float, int]:
    """The clean chain over a built source's documents in this process, with the unit
    sampler and without (best of `repeats` each, alternated): (plain s, sampled s, docs)."""
    from pile.config import load_config as load
    from pile.docs_io import read_pile_documents
    from pile.phases.clean import clean_stages
    from pile.phases.work import run_stages
    from pile.samples import SampleSettings, UnitSampler
    from pile.stats import UnitStats

    cfg = load(None, [f"out={out}"])
    docs = [d for f in sorted((out / "docs" / cfg_source).glob("*.jsonl.zst"))
            for d in read_pile_documents(f, cfg_source)]
    chain = clean_stages(cfg, cfg.source(cfg_source))
    for stage in chain:
        stage.ensure_setup()
    settings = SampleSettings.of(cfg.report)
    best = {False: float("inf"), True: float("inf")}
    for _ in range(repeats):
        for sampled in (False, True):
            stats = UnitStats(cfg_source)
            sampler = UnitSampler(settings) if sampled else None
            t0 = time.perf_counter()
            for i in range(0, len(docs), 256):
                for doc in run_stages(chain, docs[i:i + 256], stats, sampler):
                    if sampler is not None:
                        sampler.kept(doc)
            best[sampled] = min(best[sampled], time.perf_counter() - t0)
    return best[False], best[True], len(docs)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mb", type=int, default=40)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pile-bench-report-"))
    try:
        build(tmp / "warm", args.mb, args.workers, sampling=False)  # imports and caches: nobody's cost
        on = build(tmp / "on", args.mb, args.workers, sampling=True)
        off = build(tmp / "off", args.mb, args.workers, sampling=False)
        mb_read = on["stats"]["totals"]["bytes_read"] / 1e6
        print(f"default corpus, {mb_read:,.1f} MB of text read, {args.workers} workers on local Ray "
              "(a shared, busy machine: compare the ratios, not the seconds)")
        print(f"workers' seconds in read+clean and final: {on['units']:,.1f} s with samples, {off['units']:,.1f} s "
              f"without: ratio {on['units'] / off['units']:.3f}")
        plain, sampled, n = sampling_in_process(tmp / "on", "system_docs")
        print(f"the clean chain over {n:,} system_docs documents in one process: {plain:.2f} s, with the unit "
              f"sampler offered every drop and every kept document: {sampled:.2f} s: ratio {sampled / plain:.3f}")
        from pile.report.plots import draw_plots

        stats = on["stats"]
        t0 = time.process_time()
        draw_plots(tmp / "on", {n: s for n, s in stats["sources"].items()}, stats["dedup"].get("source_pairs", []))
        baseline = time.process_time() - t0
        print(f"driver CPU in write_outputs (report task on a worker): {on['driver_report']:.3f} s; "
              f"baseline, the four plots drawn in the driver's process: {baseline:.3f} s: "
              f"ratio {on['driver_report'] / baseline:.3f}")
        mon = on["mon"]
        print(f"driver share of the build's CPU: {100 * mon.driver_share:.2f}% ({mon.driver_cpu:,.1f} s of "
              f"{mon.driver_cpu + mon.tree_cpu:,.1f} s; goal <= 2%); without sampling "
              f"{100 * off['mon'].driver_share:.2f}%")
        print(f"report.html: {on['html'] / 1e3:,.0f} kB (limit {2_000_000 / 1e3:,.0f} kB); "
              f"full build {on['wall']:,.1f} s wall with samples, {off['wall']:,.1f} s without")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
