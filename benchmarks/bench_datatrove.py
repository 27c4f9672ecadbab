"""pile vs datatrove on the same input: the closest equivalent pipeline, timed in one run.

datatrove is not a dependency of pile: install it in a side environment and name its
Python with --datatrove-python, e.g.

    python3 -m venv /tmp/dtenv && /tmp/dtenv/bin/pip install 'datatrove[io,processing]'
    .venv/bin/python benchmarks/bench_datatrove.py --datatrove-python /tmp/dtenv/bin/python

The input is --mb MB of the default corpus (the Python standard library and the system
documentation, read by pile's own sources) written once as ``jsonl.gz``. Both sides then run
the stages they have in common offline, with --workers processes:

- datatrove: JsonlReader -> GopherQualityFilter -> PIIFormatter (e-mails, IPs) -> JsonlWriter,
  then DocumentTokenizer with the GPT-2 ``tokenizer.json`` (its language filter needs a model
  download, and its MinHash dedup is four separate jobs, so neither is in the comparison);
- pile: ``pile build`` on the same file with ftfy, normalisation, Gopher quality, PII (cards,
  e-mails, phones, IPs, SSNs, IBANs) and the same GPT-2 vocabulary (language id annotates only,
  dedup off), writing documents, shards, counts, report and manifest.

pile does more work per document here (ftfy, more PII entities, language annotation).
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from pile.build import Build
from pile.config import load_config, parse_config
from pile.document import Document
from pile.phases.plan import plan_source
from pile.runner import RayExecutor
from pile.sources import make_source

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
GPT2 = SHARED / "tokenizers" / "gpt2" / "tokenizer.json"

DATATROVE_SCRIPT = textwrap.dedent("""
    import sys, time
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.filters import GopherQualityFilter
    from datatrove.pipeline.formatters import PIIFormatter
    from datatrove.pipeline.writers import JsonlWriter
    from datatrove.pipeline.tokens import DocumentTokenizer

    inp, out, tok, workers = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    t0 = time.perf_counter()
    LocalPipelineExecutor(pipeline=[
        JsonlReader(inp, glob_pattern="*.jsonl.gz"),
        GopherQualityFilter(),
        PIIFormatter(),
        JsonlWriter(out + "/docs"),
    ], tasks=8, workers=workers, logging_dir=out + "/logs1").run()
    t1 = time.perf_counter()
    LocalPipelineExecutor(pipeline=[
        JsonlReader(out + "/docs", glob_pattern="*.jsonl.gz"),
        DocumentTokenizer(out + "/tokens", tokenizer_name_or_path=tok, eos_token="<|endoftext|>"),
    ], tasks=8, workers=workers, logging_dir=out + "/logs2").run()
    t2 = time.perf_counter()
    print(f"{t1 - t0:.3f} {t2 - t1:.3f}")
""")


def write_input(folder: Path, mb: float, files: int = 8) -> tuple[int, int]:
    """The default corpus as `files` ``jsonl.gz`` files (datatrove parallelises by file)."""
    cfg = load_config(None)
    records = []
    for scfg in cfg.sources:
        src = make_source(scfg, cfg.raw_dir)
        inputs = plan_source(src, src.inputs(), 1 << 60, int(mb * 1e6 / 2)).files
        taken = 0
        for f in inputs:
            try:
                items = list(src.read(f))
            except Exception:  # noqa: BLE001 - a failing file is skipped on both sides alike
                continue
            for item in items:
                if isinstance(item, Document):
                    records.append((item.id, item.text))
                    taken += item.nbytes
            if taken >= mb * 1e6 / 2:
                break
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(files):
        with gzip.open(folder / f"part{i:02d}.jsonl.gz", "wt", encoding="utf-8") as fh:
            for doc_id, text in records[i::files]:
                fh.write(json.dumps({"text": text, "id": doc_id}) + "\n")
    return len(records), sum(len(t.encode()) for _, t in records)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datatrove-python", required=True, help="python of an environment with datatrove")
    ap.add_argument("--mb", type=float, default=40)
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="pile-vs-datatrove-"))
    try:
        docs, nbytes = write_input(tmp / "input", args.mb)
        mb = nbytes / 1e6
        print(f"input: {docs:,} documents, {mb:,.1f} MB of text; {args.workers} workers each side")

        t0 = time.perf_counter()
        proc = subprocess.run([args.datatrove_python, "-c", DATATROVE_SCRIPT, str(tmp / "input"),
                               str(tmp / "dt"), str(GPT2), str(args.workers)],
                              capture_output=True, text=True)
        dt_total = time.perf_counter() - t0
        if proc.returncode != 0:
            print(proc.stderr[-3000:], file=sys.stderr)
            return 1
        dt_docs, dt_tok = (float(x) for x in proc.stdout.split()[-2:])
        print(f"datatrove: filter+PII+write {dt_docs:7.2f} s, tokenize {dt_tok:7.2f} s, "
              f"process total {dt_total:7.2f} s  ({mb / dt_total / args.workers:.3f} MB/s per core)")

        cfg = parse_config({
            "out": str(tmp / "pile"), "sources": [{"name": "corpus", "kind": "files",
                                                   "paths": [str(tmp / "input")]}],
            "clean": {"languages": [], "min_chars": 0,
                      "quality": {"min_words": 50, "max_words": 100_000}},
            "dedup": {"enabled": False},
            "tokenizers": [{"name": "gpt2", "path": str(GPT2)}],
            "run": {"progress": False, "workers": args.workers}})
        t0 = time.perf_counter()
        executor = RayExecutor(args.workers)
        start = time.perf_counter() - t0
        Build(cfg, executor).run()
        pile_total = time.perf_counter() - t0
        executor.close()
        print(f"pile build: {pile_total:7.2f} s including {start:.2f} s Ray start "
              f"({mb / pile_total / args.workers:.3f} MB/s per core)")
        print(f"ratio (datatrove time / pile time): {dt_total / pile_total:.2f}x")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
