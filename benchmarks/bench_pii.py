"""Benchmark: the pii_v1 stage against presidio's AnalyzerEngine on every document.

Both sides use the same presidio recognizers (`pile.pii.recognizers.build_recognizers`);
the baseline is presidio's own `AnalyzerEngine` (offline, `NoOpNlpEngine`) run on every
whole document, which is how presidio is meant to be used; the stage puts the prefilter
in front and calls the recognizers on candidate windows only. The text is the evaluation
set (`pile.pii.evalset`: real Enron mail, WikiText, Gutenberg, Europarl, Shakespeare)
with planted PII in a few percent of the documents (``--plant-fraction``). Both run in
this one process; times are CPU seconds of this process (`time.process_time`), so the
figures are MB/s per core even on a shared machine. The script prints both, the ratio,
and the recall per entity of both (the speed-up counts only at equal recall).

Run: ``.venv/bin/python benchmarks/bench_pii.py [--plant-fraction 0.03] [--seed 0]
[--eval-scale 25]`` (the last also prints the full evaluation: recall and precision per
entity on every document, and the decoys flagged per kind).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from pile.config import PII_ENTITIES, PiiConfig  # noqa: E402
from pile.document import Document  # noqa: E402
from pii_evalset import build_evalset, evaluate  # noqa: E402
from pile.pii.recognizers import build_analyzer_engine, build_recognizers  # noqa: E402
from pile.pii.scrub import PiiScrubber, Span, merge_spans  # noqa: E402


def _shared_data() -> Path:
    env = os.environ.get("PILE_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--plant-fraction", type=float, default=0.03)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--scale", type=int, default=2, help="plants per card network and format")
    parser.add_argument("--repeat", type=int, default=3, help="timing runs of each side (best is kept)")
    parser.add_argument("--eval-scale", type=int, default=0,
                        help="also print the full evaluation (all documents, this many cards "
                             "per network and formatting, e.g. 25)")
    args = parser.parse_args()

    if args.eval_scale:
        full = build_evalset(_shared_data(), seed=args.seed, scale=args.eval_scale)
        scorer = PiiScrubber(PiiConfig(entities=PII_ENTITIES))
        report = evaluate(scorer.find_spans, full)
        print(f"evaluation set: {len(full)} documents, seed {args.seed}, scale {args.eval_scale}")
        print(report.table())
        for doc_id, entity, context in report.false_positive_examples:
            print(f"  false positive {entity} in {doc_id}: {context!r}")

    docs = build_evalset(_shared_data(), seed=args.seed, scale=args.scale,
                         plant_fraction=args.plant_fraction)
    texts = [d.text for d in docs]
    mb = sum(len(t.encode("utf-8")) for t in texts) / 1e6
    with_plants = sum(1 for d in docs if any(p.entity and p.kind != "enron_email" for p in d.labels))
    print(f"documents: {len(docs)}, {mb:.2f} MB; with planted PII: {with_plants} "
          f"({100 * with_plants / len(docs):.1f}%)")

    cfg = PiiConfig(entities=PII_ENTITIES)
    stage = PiiScrubber(cfg)
    stage.ensure_setup()
    batch = [Document(id=d.id, source=d.corpus, text=d.text) for d in docs]
    engine = build_analyzer_engine(build_recognizers(PII_ENTITIES, reference=True).values())
    entities = list(PII_ENTITIES)

    def engine_spans(text: str) -> list[Span]:
        results = engine.analyze(text, language="en", entities=entities)
        return merge_spans([Span(r.entity_type, r.start, r.end) for r in results])

    def run_stage() -> None:
        stage.docs_scanned = stage.recognizer_calls = 0
        stage.process_batch(batch)

    def run_engine() -> None:
        for text in texts:
            spans = engine_spans(text)
            # the same replacement work as the stage
            pieces, pos = [], 0
            for s in spans:
                pieces += [text[pos:s.start], stage.replacement(s.entity, text[s.start:s.end])]
                pos = s.end
            "".join(pieces) + text[pos:]

    # Interleaved runs, best of each: both sides see the same machine load.
    stage_seconds = engine_seconds = float("inf")
    for _ in range(args.repeat):
        for fn, name in ((run_stage, "stage"), (run_engine, "engine")):
            start = time.process_time()
            fn()
            took = time.process_time() - start
            if name == "stage":
                stage_seconds = min(stage_seconds, took)
            else:
                engine_seconds = min(engine_seconds, took)
    print(f"pii_v1 stage:            {mb / stage_seconds:6.2f} MB/s per core "
          f"({stage_seconds:.2f} s; {stage.docs_scanned} documents reached presidio, "
          f"{stage.recognizer_calls} recognizer calls)")
    print(f"presidio AnalyzerEngine: {mb / engine_seconds:6.2f} MB/s per core ({engine_seconds:.2f} s)")
    print(f"ratio (stage / engine): {engine_seconds / stage_seconds:.1f}x")

    ours = evaluate(stage.find_spans, docs)
    theirs = evaluate(engine_spans, docs)
    print("recall per entity (stage | engine):")
    for entity in PII_ENTITIES:
        a, b = ours.entities[entity], theirs.entities[entity]
        print(f"  {entity:<14} {a.found:>4}/{a.positives:<4} {a.recall:.4f} | "
              f"{b.found:>4}/{b.positives:<4} {b.recall:.4f}  precision {a.precision:.4f} | {b.precision:.4f}")
    same = all(ours.entities[e].found == theirs.entities[e].found for e in PII_ENTITIES)
    print(f"equal recall: {same}")


if __name__ == "__main__":
    main()
